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
	// The engine splits products across its own workers (parallel.go), so
	// each OpenBLAS call runs on one thread. Measured with harness bench on
	// two cores (the fieldnotes case's full / LoRA tokens/s): 2 workers × 1 OpenBLAS
	// thread 44k / 63k; 1 worker × 2 threads 33k / 44k; 2 × 2 8.6k / 11k
	// (OpenBLAS threads spin while Go kernels run).
	C.openblas_set_num_threads(1)
}
