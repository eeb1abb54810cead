//go:build !openblas

package nn

// Pure-Go builds run the float32 transcendental loops in Go; the openblas
// build (cgo) has vectorised versions in vecmath_openblas.go.

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
