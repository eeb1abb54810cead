package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// rmsNormRef is LlamaRMSNorm written out in float64:
// x / sqrt(mean(x²) + eps) · gamma, row by row.
func rmsNormRef(x, gamma []float64, d int, eps float64) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < len(x)/d; r++ {
		var ss float64
		for j := 0; j < d; j++ {
			ss += x[r*d+j] * x[r*d+j]
		}
		rms := math.Sqrt(ss/float64(d) + eps)
		for j := 0; j < d; j++ {
			y[r*d+j] = x[r*d+j] / rms * gamma[j]
		}
	}
	return y
}

func TestRMSNormMatchesLoop(t *testing.T) {
	const n, d, eps = 37, 48, 1e-6
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			x, gamma := randParamOf(rng, dt, "x", false, 2, n, d), randParamOf(rng, dt, "gamma", false, 1.5, d)
			setAt(x, 5, 0) // a zero element and a row of zeros: eps keeps them finite
			for j := range d {
				setAt(x, 3*d+j, 0)
			}
			g := NewGraph(dt)
			y, err := RMSNorm(g.Param(x), g.Param(gamma), eps)
			must(t, err)
			p := compileRun(t, g, y)
			want := rmsNormRef(Float64s(x.Value), Float64s(gamma.Value), d, eps)
			tol := 1e-14
			if dt == tensor.Float32 {
				tol = 1e-6 // float32 rounding of x·rstd·gamma, from float32 inputs
			}
			nearAll(t, "RMSNorm", Float64s(p.Value(y)), want, tol)
		})
	}
}

func rmsNormGraph(n, d int) buildFn {
	return func(t testing.TB, g *Graph, rng *rand.Rand) *G.Node {
		x := g.Param(randParamOf(rng, g.Dtype, "x", true, 2, n, d))
		gamma := g.Param(randParamOf(rng, g.Dtype, "gamma", true, 1, d))
		y, err := RMSNorm(x, gamma, 1e-5)
		must(t, err)
		return y
	}
}

// The finite-difference check at a shape whose rows (dx) and columns
// (dgamma) are split into several ranges.
func TestRMSNormGradientSplit(t *testing.T) {
	const n, d = 64, 512
	chunked(t, "rows", n, rowGrain(d))
	chunked(t, "columns", d, 1)
	rng := rand.New(rand.NewPCG(3, 4))
	g := NewGraph(tensor.Float64)
	y := rmsNormGraph(n, d)(t, g, rng)
	gradCheckProbes(t, g, lossOf(t, g, rng, y), rng, 60)
}

func TestRMSNormRunAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := NewGraph(tensor.Float32)
	chunked(t, "rows", 256, rowGrain(128))
	checkNoAllocs(t, g, rmsNormGraph(256, 128)(t, g, rng))
}

func TestRMSNormDoesNotDependOnWorkers(t *testing.T) {
	chunked(t, "rows", 1024, rowGrain(128))
	checkWorkersBits(t, rmsNormGraph(1024, 128))
}

func TestRMSNormRejectsBadInputs(t *testing.T) {
	g := NewGraph(tensor.Float64)
	rng := rand.New(rand.NewPCG(7, 8))
	x := g.Param(randParam(rng, "x", false, 1, 3, 4))
	if _, err := RMSNorm(x, g.Param(randParam(rng, "gamma", false, 1, 5)), 1e-5); err == nil {
		t.Error("gamma of 5 for rows of 4: no error")
	}
	if _, err := RMSNorm(x, g.Param(randParam(rng, "gamma4", false, 1, 4)), math.NaN()); err == nil {
		t.Error("NaN epsilon: no error")
	}
}

// RMSNormHeads is RMSNorm on each head of a [N, H·dh] matrix: the loop
// on the rows read as [N·H, dh], and its finite-difference gradient.
func TestRMSNormHeads(t *testing.T) {
	const n, heads, dh, eps = 9, 4, 6, 1e-6
	rng := rand.New(rand.NewPCG(9, 10))
	x, gamma := randParam(rng, "x", true, 2, n, heads*dh), randParam(rng, "gamma", true, 1.5, dh)
	g := NewGraph(tensor.Float64)
	y, err := RMSNormHeads(g.Param(x), g.Param(gamma), eps)
	must(t, err)
	p := compileRun(t, g, y)
	if s := p.Value(y).Shape(); s[0] != n || s[1] != heads*dh {
		t.Fatalf("shape %v", s)
	}
	nearAll(t, "RMSNormHeads", Float64s(p.Value(y)), rmsNormRef(Float64s(x.Value), Float64s(gamma.Value), dh, eps), 1e-14)
	gg := NewGraph(tensor.Float64)
	yy, err := RMSNormHeads(gg.Param(randParam(rng, "x", true, 2, 5, 3*4)), gg.Param(randParam(rng, "gamma", true, 1, 4)), 1e-5)
	must(t, err)
	gradCheckProbes(t, gg, lossOf(t, gg, rng, yy), rng, 0)
	if _, err := RMSNormHeads(g.Param(x), g.Param(randParam(rng, "gamma5", false, 1, 5)), eps); err == nil {
		t.Error("gamma of 5 for heads of 24 columns: no error")
	}
}
