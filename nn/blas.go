package nn

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// blasName is set by the build: "gonum" (pure Go) by default, "openblas"
// with the openblas build tag.
var blasName = "gonum"

// BLAS names the BLAS implementation the binary was built with.
func BLAS() string { return blasName }

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
// activation can be used in place.
func gemmStrided[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
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
