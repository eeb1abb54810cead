//go:build !openblas

package nn

// Pure-Go builds run the float32 kernels with the generic Go code; the
// openblas build (cgo) has vectorised versions in vecmath_openblas.go.

func geluF32(x, g, y []float32) { gelu(x, g, y, tanh32) }

func maxF32(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

func expF32(x, y []float32, shift, scale float32) float64 {
	var s float64
	for i, v := range x {
		e := exp32(v - shift)
		s += float64(e)
		if y != nil {
			y[i] = scale * e
		}
	}
	return s
}

func layerNormF32(x, gamma, beta, y, stats []float32, d int) {
	layerNormRange(x, gamma, beta, y, stats, d)
}

func layerNormGradXF32(x, gamma, g, stats, dx []float32, d int) {
	layerNormGradXRange(x, gamma, g, stats, dx, d)
}

func layerNormGradGammaF32(x, g, stats, dg []float32, d, lo, hi int) {
	layerNormGradGammaRange(x, g, stats, dg, d, lo, hi)
}

func colSumF32(x, y []float32, d, lo, hi int) { colSumRange(x, y, d, lo, hi) }

func softmaxGradF32(p, g, ds []float32, scale float32) { softmaxGrad(p, g, ds, scale) }

func adamF32(w, g []float32, m, v []float64, h *adamStep) { adamRange(w, g, m, v, h) }
