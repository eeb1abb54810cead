package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestSiLUMatchesLoop(t *testing.T) {
	const n, d = 9, 13
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		rng := rand.New(rand.NewPCG(1, 2))
		x := randParamOf(rng, dt, "x", false, 8, n, d)
		// Saturated inputs: exp(−x) overflows or vanishes.
		for i, v := range []float64{-200, -90, 90, 200, 0} {
			setAt(x, i, v)
		}
		g := NewGraph(dt)
		y, err := SiLU(g.Param(x))
		must(t, err)
		p := compileRun(t, g, y)
		xs := Float64s(x.Value)
		want := make([]float64, len(xs))
		for i, v := range xs {
			want[i] = v / (1 + math.Exp(-v)) // x·sigmoid(x)
		}
		tol := 1e-15
		if dt == tensor.Float32 {
			tol = 1e-6 // exp32 is within 2 ulp of exp
		}
		nearAll(t, dt.String()+" SiLU", Float64s(p.Value(y)), want, tol)
	}
}

// The backward kernel against the derivative written out, including the
// saturated inputs where a careless form gives NaN.
func TestSiLUBackwardMatchesLoop(t *testing.T) {
	x := []float64{-1000, -200, -30, -2.5, -1, -1e-3, 0, 1e-3, 0.7, 3, 30, 200, 1000}
	g := make([]float64, len(x))
	for i := range g {
		g[i] = 0.5 + float64(i)/4
	}
	got := make([]float64, len(x))
	silu(x, g, got)
	for i, v := range x {
		s := 1 / (1 + math.Exp(-v))
		want := g[i] * (s + v*s*(1-s)) // d(x·σ(x))/dx = σ + x·σ·(1−σ)
		if math.IsNaN(got[i]) || math.Abs(got[i]-want) > 1e-15*math.Max(1, math.Abs(want)) {
			t.Errorf("SiLU'(%v)·%v = %v, want %v", v, g[i], got[i], want)
		}
	}
	x32, g32, got32 := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	for i := range x {
		x32[i], g32[i] = float32(x[i]), float32(g[i])
	}
	silu(x32, g32, got32)
	for i, v := range got32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Errorf("float32 SiLU'(%v) = %v", x[i], v)
		}
	}
}

func siluGraph(n, d int) buildFn {
	return func(t testing.TB, g *Graph, rng *rand.Rand) *G.Node {
		y, err := SiLU(g.Param(randParamOf(rng, g.Dtype, "x", true, 4, n, d)))
		must(t, err)
		return y
	}
}

// The finite-difference check at a size split into several ranges.
func TestSiLUGradientSplit(t *testing.T) {
	const n, d = 64, 512
	chunked(t, "elements", n*d, 1<<14)
	rng := rand.New(rand.NewPCG(3, 4))
	g := NewGraph(tensor.Float64)
	y := siluGraph(n, d)(t, g, rng)
	gradCheckProbes(t, g, lossOf(t, g, rng, y), rng, 60)
}

func TestSiLURunAllocatesNothing(t *testing.T) {
	chunked(t, "elements", 256*128, 1<<14)
	rng := rand.New(rand.NewPCG(5, 6))
	g := NewGraph(tensor.Float32)
	checkNoAllocs(t, g, siluGraph(256, 128)(t, g, rng))
}

func TestSiLUDoesNotDependOnWorkers(t *testing.T) {
	chunked(t, "elements", 1024*128, 1<<14)
	checkWorkersBits(t, siluGraph(1024, 128))
}

// The SwiGLU MLP of Llama-family models, down(SiLU(x·gate) ∘ (x·up)),
// differentiates through SiLU and Mul together.
func TestSwiGLUGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	g := NewGraph(tensor.Float64)
	x := g.Param(randParam(rng, "x", true, 1, 6, 5))
	gate, err := MatMul(x, g.Param(randParam(rng, "gate", true, 1, 5, 8)), false, false)
	must(t, err)
	up, err := MatMul(x, g.Param(randParam(rng, "up", true, 1, 5, 8)), false, false)
	must(t, err)
	a, err := SiLU(gate)
	must(t, err)
	h, err := Mul(a, up)
	must(t, err)
	y, err := MatMul(h, g.Param(randParam(rng, "down", true, 1, 8, 5)), false, false)
	must(t, err)
	gradCheckProbes(t, g, lossOf(t, g, rng, y), rng, 0)
}
