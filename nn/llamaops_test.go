package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Helpers shared by the tests of the Llama-family ops (RMSNorm, RoPE,
// SiLU, grouped-query attention): each op is checked by finite
// differences at a shape its kernels split into several ranges, against a
// plain float64 loop, for allocations after warm-up, and for bit-identical
// float32 results whatever the number of workers.

// randParamOf is randParam in either float type.
func randParamOf(rng *rand.Rand, dt tensor.Dtype, name string, trainable bool, scale float64, shape ...int) *Param {
	p := NewParam(name, dt, shape...)
	for i := range p.Size() {
		v := (2*rng.Float64() - 1) * scale
		if dt == tensor.Float64 {
			p.F64()[i] = v
		} else {
			p.F32()[i] = float32(v)
		}
	}
	p.Trainable = trainable
	return p
}

// lossOf is headLoss for graphs of either float type: y [N, d] through a
// dense layer to 7 classes and the masked cross-entropy. The layer's
// weights shrink as 1/√d, so that logits stay near 1 at any width: large
// logits round the loss more coarsely, and at widths of hundreds the
// finite differences of GradCheck then carry noise near its tolerance.
func lossOf(t testing.TB, g *Graph, rng *rand.Rand, y *G.Node) *G.Node {
	t.Helper()
	n, d := y.Shape()[0], y.Shape()[1]
	const classes = 7
	w := g.Param(randParamOf(rng, g.Dtype, "head.w", true, 2/math.Sqrt(float64(d)), d, classes))
	b := g.Param(randParamOf(rng, g.Dtype, "head.b", true, 0.5, classes))
	logits, err := Linear(y, w, b)
	must(t, err)
	tg, mask := g.IntInput("targets", n), g.FloatInput("mask", n)
	ids, ws := make([]int, n), make([]float64, n)
	for i := range ids {
		ids[i] = rng.IntN(classes)
		ws[i] = float64(rng.IntN(3))
	}
	ws[0] = 1
	tg.SetInts(ids)
	mask.SetFloats(ws)
	loss, err := CrossEntropy(logits, tg.Node, mask.Node)
	must(t, err)
	return loss
}

// gradCheckProbes checks the gradients of a float64 program at probes
// coordinates of each trainable parameter (all when probes ≤ 0) and
// returns the largest relative error.
func gradCheckProbes(t *testing.T, g *Graph, loss *G.Node, rng *rand.Rand, probes int) float64 {
	t.Helper()
	p, err := Compile(g, loss)
	must(t, err)
	defer p.Close()
	worst, where, err := GradCheck(p, probes, rng)
	must(t, err)
	if worst > 1e-4 {
		t.Errorf("max relative error %.3g at %s", worst, where)
	}
	t.Logf("max relative error %.3g at %s", worst, where)
	return worst
}

// chunked fails the test unless a split over n with grain cuts the work
// into several ranges: a check at that shape covers the range boundaries.
func chunked(t *testing.T, what string, n, grain int) {
	t.Helper()
	if c := chunks(n, grain); c < 2 {
		t.Fatalf("%s: %d elements with grain %d make %d range", what, n, grain, c)
	}
}

// checkNoAllocs fails the test if a run of a program computing y and the
// gradients of a loss on it allocates after a first run. The loss is the
// cross-entropy of y itself, taken as logits: a product as large as those
// that split the op's kernels is one that gonum's pure-Go BLAS runs on
// goroutines of its own, which allocate.
func checkNoAllocs(t *testing.T, g *Graph, y *G.Node) {
	t.Helper()
	n, d := y.Shape()[0], y.Shape()[1]
	tg, mask := g.IntInput("targets", n), g.FloatInput("mask", n)
	ids, ws := make([]int, n), make([]float64, n)
	for i := range ids {
		ids[i], ws[i] = (i*7)%d, float64(1+i%2)
	}
	tg.SetInts(ids)
	mask.SetFloats(ws)
	loss, err := CrossEntropy(y, tg.Node, mask.Node)
	must(t, err)
	p, err := Compile(g, loss)
	must(t, err)
	defer p.Close()
	must(t, p.Run())
	if a := testing.AllocsPerRun(5, func() { must(t, p.Run()) }); a != 0 {
		t.Fatalf("a run allocates %v times", a)
	}
}

// buildFn builds a float32 graph from a seeded generator, returning the
// node whose value is compared (its gradients are compared too, through
// lossOf).
type buildFn func(t testing.TB, g *Graph, rng *rand.Rand) *G.Node

// runBits builds, compiles and runs the program of build on loss lossOf,
// returning the bits of the output, the loss and every gradient.
func runBits(t testing.TB, build buildFn) (out []float32, loss uint64, grads [][]float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	g := NewGraph(tensor.Float32)
	y := build(t, g, rng)
	p, err := Compile(g, lossOf(t, g, rng, y), y)
	must(t, err)
	defer p.Close()
	must(t, p.Run())
	out = append(out, dense[float32](p.Value(y))...)
	for i := range p.Params {
		grads = append(grads, append([]float32(nil), dense[float32](p.Value(p.Grads[i]))...))
	}
	return out, math.Float64bits(p.LossValue()), grads
}

// checkWorkersBits runs build under every pool setting of workers_test.go
// and fails unless the output, loss and gradients are bit-identical.
func checkWorkersBits(t *testing.T, build buildFn) {
	t.Helper()
	var wantOut []float32
	var wantLoss uint64
	var wantGrads [][]float32
	for _, s := range poolSettings {
		var out []float32
		var loss uint64
		var grads [][]float32
		withPool(s, func() { out, loss, grads = runBits(t, build) })
		if wantOut == nil {
			wantOut, wantLoss, wantGrads = out, loss, grads
			continue
		}
		var diffs []string
		if i, ok := sameBits(out, wantOut); !ok {
			diffs = append(diffs, fmt.Sprintf("output[%d]", i))
		}
		if loss != wantLoss {
			diffs = append(diffs, "loss")
		}
		for j := range wantGrads {
			if i, ok := sameBits(grads[j], wantGrads[j]); !ok {
				diffs = append(diffs, fmt.Sprintf("gradient %d[%d]", j, i))
			}
		}
		if len(diffs) > 0 {
			t.Errorf("with %s, these differ from %s: %v", s.name, poolSettings[0].name, diffs)
		}
	}
}

// nearAll fails the test unless got is within tol of want, relative to
// max(1, |want|).
func nearAll(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !(math.Abs(got[i]-want[i]) <= tol*math.Max(1, math.Abs(want[i]))) {
			t.Fatalf("%s[%d] = %.17g, want %.17g", what, i, got[i], want[i])
		}
	}
}

// compileRun compiles a graph without a loss for outputs and runs it once.
func compileRun(t *testing.T, g *Graph, outputs ...*G.Node) *Program {
	t.Helper()
	p, err := Compile(g, nil, outputs...)
	must(t, err)
	must(t, p.Run())
	return p
}

// setAt sets element i of a parameter of either float type.
func setAt(p *Param, i int, v float64) {
	if p.F64() != nil {
		p.F64()[i] = v
		return
	}
	p.F32()[i] = float32(v)
}
