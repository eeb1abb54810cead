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
// of the stored (untransposed) matrices. Large products are cut into
// blocks of rows of C, or of columns when C is wider than tall
// (gemmBlocks), that the workers share, each block one call of a
// single-threaded BLAS.
//
// The blocks depend on (m, n, k) alone, and one worker, or a product that
// finds the pool busy (a second trainer's in the same process), runs the
// same blocks in order: a BLAS rounds an element of C differently by the
// rows and columns it is handed with it (OpenBLAS and gonum choose their
// kernels, edge handling and inner blocking by the shape of the call), so
// one call over all of C would not give the bits that blocks give. Fixed
// blocks keep results bit-identical whatever the number of workers. (The
// attention ops split by heads instead and make each head's products one
// call: attention.go.)
func gemmStrided[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	byCols, size, blocks := gemmBlocks(m, n, k)
	if blocks == 1 {
		gemmBLAS(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if workers.n == 1 || !workers.mu.TryLock() {
		for i := range blocks {
			gemmBlock(transA, transB, byCols, i*size, min((i+1)*size, max(m, n)), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}
		return
	}
	g := &sharedGemm
	g.transA, g.transB, g.byCols, g.size = transA, transB, byCols, size
	g.m, g.n, g.k, g.lda, g.ldb, g.ldc = m, n, k, lda, ldb, ldc
	g.alpha, g.beta = float64(alpha), float64(beta)
	if unsafe.Sizeof(alpha) == 4 {
		g.a32, g.b32, g.c32 = *(*[]float32)(unsafe.Pointer(&a)), *(*[]float32)(unsafe.Pointer(&b)), *(*[]float32)(unsafe.Pointer(&c))
	} else {
		g.a64, g.b64, g.c64 = *(*[]float64)(unsafe.Pointer(&a)), *(*[]float64)(unsafe.Pointer(&b)), *(*[]float64)(unsafe.Pointer(&c))
	}
	workers.run(blocks, blocks, g)
	*g = gemmSplit{}
	workers.mu.Unlock()
}

// How a product is cut. Each BLAS call packs its whole share of op(A) and
// op(B) again, so a worker running many thin blocks in turn loses time
// over one call: blocks of 256 rows cost it a few percent at most, of 128
// rows 3–15%, of 64 rows 8–14%, of 32 rows of a 128×512×1024 product 17%
// (OpenBLAS's Haswell kernels on Zen 5). Cutting along the longer side of
// C keeps blocks thick: a block of r rows and c columns packs k·(r+c)
// values for its r·c·k multiply-adds. Two workers want at least two blocks
// each, so that one can take over most of the work when the other's core
// is busy elsewhere.
const (
	gemmMaxBlocks = 8   // the most blocks a product is cut into
	gemmMinBlocks = 4   // the fewest, when blocks of gemmMinSize would be fewer
	gemmMinSize   = 256 // the rows (columns) a block holds at least, but for gemmMinBlocks
	gemmAlign     = 32  // every block but the last holds a multiple of this many
)

// gemmBlocks returns how an m×n×k product is cut: along the rows of C, or
// along its columns (byCols) when it has more columns than rows, in blocks
// of size rows (columns), the last of which may hold fewer. Products under
// 2^19 multiply-adds, or with fewer than 64 rows and columns, are one
// block; others are cut into blocks of ⌈l/8⌉ (l = max(m, n)) but at least
// 256 unless that leaves fewer than 4 blocks, rounded up to a multiple of
// 32 (of the register tiles of the BLAS kernels, so that only the last
// block runs their edge code). It depends on the shape alone.
func gemmBlocks(m, n, k int) (byCols bool, size, blocks int) {
	l := max(m, n)
	if m*n*k < 1<<19 || l < 2*gemmAlign {
		return false, m, 1
	}
	size = max(ceilDiv(l, gemmMaxBlocks), min(gemmMinSize, ceilDiv(l, gemmMinBlocks)))
	size = ceilDiv(size, gemmAlign) * gemmAlign
	return n > m, size, ceilDiv(l, size)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// gemmSplit is a product split into blocks; the pool's lock guards the one
// instance.
type gemmSplit struct {
	transA, transB, byCols bool
	size, m, n, k          int
	lda, ldb, ldc          int
	alpha, beta            float64
	a32, b32, c32          []float32
	a64, b64, c64          []float64
}

var sharedGemm gemmSplit

// span runs blocks [lo, hi).
func (g *gemmSplit) span(_, lo, hi int) {
	lo, hi = lo*g.size, min(hi*g.size, max(g.m, g.n))
	if g.a32 != nil {
		gemmBlock(g.transA, g.transB, g.byCols, lo, hi, g.m, g.n, g.k, float32(g.alpha), g.a32, g.lda, g.b32, g.ldb, float32(g.beta), g.c32, g.ldc)
	} else {
		gemmBlock(g.transA, g.transB, g.byCols, lo, hi, g.m, g.n, g.k, g.alpha, g.a64, g.lda, g.b64, g.ldb, g.beta, g.c64, g.ldc)
	}
}

// gemmBlock computes rows [lo, hi) of C, or its columns [lo, hi) when
// byCols.
func gemmBlock[T Float](transA, transB, byCols bool, lo, hi, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if byCols {
		bOff := lo
		if transB {
			bOff = lo * ldb
		}
		gemmBLAS(transA, transB, m, hi-lo, k, alpha, a, lda, b[bOff:], ldb, beta, c[lo:], ldc)
		return
	}
	aOff := lo * lda
	if transA {
		aOff = lo
	}
	gemmBLAS(transA, transB, hi-lo, n, k, alpha, a[aOff:], lda, b, ldb, beta, c[lo*ldc:], ldc)
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
