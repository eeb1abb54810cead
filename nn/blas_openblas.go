//go:build openblas

package nn

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
// char *openblas_get_corename(void);
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// With the openblas tag every matrix product goes through OpenBLAS
// (Debian's libopenblas-dev) by way of gonum's netlib binding.
func init() {
	blas32.Use(netlib.Implementation{})
	blas64.Use(netlib.Implementation{})
	blasName = "openblas"
	blasCore = C.GoString(C.openblas_get_corename())
	// The engine splits products across its own workers (parallel.go);
	// OpenBLAS threads on top of them would only compete for the cores
	// (and spin while Go code runs), so each call runs on one thread.
	C.openblas_set_num_threads(1)
}
