package tasks

import "math"

// minimiseLBFGS minimises a smooth function by limited-memory BFGS (Nocedal
// & Wright, "Numerical Optimization", 2nd ed., algorithm 7.4) with a
// backtracking Armijo line search. f writes the gradient into grad when
// grad is non-nil and returns the value. It is meant for the convex
// baseline objective: it stops when the largest gradient component falls
// below gtol, when the value stops changing, or after maxIter steps.
// Everything is sequential, so the result is the same on every run.
func minimiseLBFGS(f func(grad, x []float64) float64, x []float64, maxIter int, gtol float64) []float64 {
	const memory = 10
	n := len(x)
	g := make([]float64, n)
	fx := f(g, x)
	var ss, ys [][]float64
	var rhos []float64
	d := make([]float64, n)
	xNew := make([]float64, n)
	gNew := make([]float64, n)
	alpha := make([]float64, memory)
	flat := 0
	for iter := 0; iter < maxIter; iter++ {
		if infNorm(g) < gtol {
			break
		}
		// Two-loop recursion: d = -H g.
		copy(d, g)
		for i := len(ss) - 1; i >= 0; i-- {
			alpha[i] = rhos[i] * dot(ss[i], d)
			axpy(-alpha[i], ys[i], d)
		}
		if k := len(ss) - 1; k >= 0 {
			scale(dot(ss[k], ys[k])/dot(ys[k], ys[k]), d)
		} else {
			scale(1/math.Max(1, infNorm(g)), d)
		}
		for i := range ss {
			beta := rhos[i] * dot(ys[i], d)
			axpy(alpha[i]-beta, ss[i], d)
		}
		scale(-1, d)
		slope := dot(g, d)
		if slope >= 0 { // not a descent direction: restart from steepest descent
			ss, ys, rhos = nil, nil, nil
			copy(d, g)
			scale(-1, d)
			slope = dot(g, d)
		}
		step, fNew := 1.0, 0.0
		ok := false
		for try := 0; try < 60; try++ {
			for i := range x {
				xNew[i] = x[i] + step*d[i]
			}
			fNew = f(gNew, xNew)
			if fNew <= fx+1e-4*step*slope {
				ok = true
				break
			}
			step /= 2
		}
		if !ok {
			break // no decrease possible: at the optimum to machine precision
		}
		s := make([]float64, n)
		y := make([]float64, n)
		for i := range x {
			s[i] = xNew[i] - x[i]
			y[i] = gNew[i] - g[i]
		}
		if sy := dot(s, y); sy > 1e-12 {
			if len(ss) == memory {
				ss, ys, rhos = ss[1:], ys[1:], rhos[1:]
			}
			ss, ys, rhos = append(ss, s), append(ys, y), append(rhos, 1/sy)
		}
		copy(x, xNew)
		copy(g, gNew)
		if math.Abs(fx-fNew) <= 1e-12*math.Max(1, math.Abs(fx)) {
			flat++
			if flat >= 5 {
				fx = fNew
				break
			}
		} else {
			flat = 0
		}
		fx = fNew
	}
	return x
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func axpy(a float64, x, y []float64) {
	for i := range x {
		y[i] += a * x[i]
	}
}

func scale(a float64, x []float64) {
	for i := range x {
		x[i] *= a
	}
}

func infNorm(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
