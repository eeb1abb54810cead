package nn

import (
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// blasName is set by the build: "gonum" (pure Go) by default, "openblas"
// with the openblas build tag.
var blasName = "gonum"

// blasCore is the kernel set OpenBLAS chose for this CPU ("" for gonum).
var blasCore string

// BLAS names the BLAS implementation the binary was built with.
func BLAS() string { return blasName }

// BLASCore names the kernels OpenBLAS runs (its OPENBLAS_CORETYPE names,
// e.g. Haswell for AVX2, SkylakeX for AVX-512), or "" for gonum.
func BLASCore() string { return blasCore }

// gemm computes C = alpha·op(A)·op(B) + beta·C for contiguous row-major A
// (m×k after op), B (k×n after op) and C (m×n).
func gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, b []T, beta T, c []T) {
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	gemmStrided(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, n)
}

// gemmStrided is gemm on sub-matrices: lda, ldb and ldc are the row strides
// of the stored (untransposed) matrices, so one head's columns of a B·T×d
// activation can be used in place. Large products are split by rows of C
// across the workers, each calling a single-threaded BLAS.
func gemmStrided[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	chunks := min(workers.n*chunksPerWorker, m/32) // pieces of at least 32 rows
	if m*n*k < 1<<19 || chunks <= 1 || workers.n == 1 || !workers.mu.TryLock() {
		gemmBLAS(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	g := &sharedGemm
	g.transA, g.transB, g.n, g.k, g.lda, g.ldb, g.ldc = transA, transB, n, k, lda, ldb, ldc
	g.alpha, g.beta = float64(alpha), float64(beta)
	if unsafe.Sizeof(alpha) == 4 {
		g.a32, g.b32, g.c32 = *(*[]float32)(unsafe.Pointer(&a)), *(*[]float32)(unsafe.Pointer(&b)), *(*[]float32)(unsafe.Pointer(&c))
	} else {
		g.a64, g.b64, g.c64 = *(*[]float64)(unsafe.Pointer(&a)), *(*[]float64)(unsafe.Pointer(&b)), *(*[]float64)(unsafe.Pointer(&c))
	}
	workers.run(m, chunks, g)
	*g = gemmSplit{}
	workers.mu.Unlock()
}

// gemmSplit is a product split by rows of C; the pool's lock guards the
// one instance.
type gemmSplit struct {
	transA, transB      bool
	n, k, lda, ldb, ldc int
	alpha, beta         float64
	a32, b32, c32       []float32
	a64, b64, c64       []float64
}

var sharedGemm gemmSplit

func (g *gemmSplit) span(_, lo, hi int) {
	if g.a32 != nil {
		gemmRows(g, lo, hi, g.a32, g.b32, g.c32)
	} else {
		gemmRows(g, lo, hi, g.a64, g.b64, g.c64)
	}
}

func gemmRows[T Float](g *gemmSplit, lo, hi int, a, b, c []T) {
	aOff := lo * g.lda
	if g.transA {
		aOff = lo
	}
	gemmBLAS(g.transA, g.transB, hi-lo, g.n, g.k, T(g.alpha), a[aOff:], g.lda, b, g.ldb, T(g.beta), c[lo*g.ldc:], g.ldc)
}

func gemmBLAS[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		blas32.Implementation().Sgemm(ta, tb, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		blas64.Implementation().Dgemm(ta, tb, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}
