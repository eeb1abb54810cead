package methods

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestDoRACount(t *testing.T) {
	// LoRA's r·(d_in + d_out) plus the magnitude's d_out, per layer.
	checkCount(t, "dora", map[string]any{"rank": 2}, func(c model.Config) int {
		return c.Layers * 2 * (2*(c.DModel+c.DModel) + c.DModel) // q and v
	})
	checkCount(t, "dora", map[string]any{"rank": 3, "targets": []any{"attn.*", "fc"}}, func(c model.Config) int {
		return c.Layers * (4*(3*(2*c.DModel)+c.DModel) + 3*(c.DModel+c.DFF) + c.DFF)
	})
	checkCount(t, "dora", map[string]any{"rank": 1, "targets": "h.0.mlp.proj"}, func(c model.Config) int {
		return 1*(c.DFF+c.DModel) + c.DModel
	})
}

func TestDoRARejects(t *testing.T) {
	checkRejects(t, "dora", map[string]map[string]any{
		"rank":    {"rank": 0},
		"targets": {"targets": "attn.z"},
		"dropout": {"dropout": 1.5},
		"colour":  {"colour": 3},
	})
	// A rank beyond the layer's smaller side.
	checkRejects(t, "dora", map[string]map[string]any{"rank": {"rank": 9}})
}

// The magnitude starts at the column norms of W; after training it has
// moved, the direction update A·B is non-zero, and the merged weight's
// column norms are the trained magnitude (its absolute value): DoRA's
// decomposition.
func TestDoRAMagnitude(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float32)
	a := attach(t, base, "dora", map[string]any{"targets": "attn.*,mlp.*"})
	h := a.Hooks[0].(*doraHook)
	if len(h.order) != 6*shapeA.Layers {
		t.Fatalf("%d layers adapted, want %d", len(h.order), 6*shapeA.Layers)
	}
	start := map[string][]float64{}
	for _, name := range h.order {
		l := h.layers[name]
		w := nn.Float64s(l.w.Value)
		in, out := linearDims(base.Model, name)
		m := nn.Float64s(l.mag.Value)
		for j := range out {
			s := 0.0
			for i := range in {
				s += w[i*out+j] * w[i*out+j]
			}
			if n := math.Sqrt(s); math.Abs(m[j]-n) > 1e-6*n {
				t.Fatalf("%s: m[%d] = %v, ‖W[:,%d]‖ = %v", name, j, m[j], j, n)
			}
		}
		start[name] = m
	}

	trainSteps(t, base, a, 3, 7)
	trained := map[string][]float64{}
	for _, name := range h.order {
		l := h.layers[name]
		m := nn.Float64s(l.mag.Value)
		if maxDiff(m, start[name]) == 0 {
			t.Errorf("%s: magnitude did not move", name)
		}
		if maxAbs(nn.Float64s(l.b.Value)) == 0 {
			t.Errorf("%s: B is still zero: no direction update", name)
		}
		trained[name] = m
	}

	if err := a.Merger.Merge(); err != nil {
		t.Fatal(err)
	}
	for _, name := range h.order {
		got := colNorms(h.layers[name].w)
		for j, m := range trained[name] {
			if m = math.Abs(m); math.Abs(got[j]-m) > 1e-5*m { // m may turn negative: the column flips

				t.Fatalf("%s: merged column %d has norm %v, magnitude %v", name, j, got[j], m)
			}
		}
	}
	if err := a.Merger.Unmerge(); err != nil {
		t.Fatal(err)
	}
}

// Dropout reaches only the low-rank path: with B zero and the magnitudes
// moved off ‖W‖, a training pass with dropout computes the same logits as
// an inference pass (HF PEFT's variant would drop part of x·W here).
// With B non-zero the two differ, so the dropout is live.
func TestDoRADropoutOnLowRankPathOnly(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	a := attach(t, base, "dora", map[string]any{"dropout": 0.5, "targets": "q,k,v,o,fc,proj"})
	h := a.Hooks[0].(*doraHook)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, l := range h.layers {
		m := nn.Float64s(l.mag.Value)
		for j := range m {
			m[j] *= 1 + 0.5*rng.NormFloat64()
		}
		setAll(l.mag, m)
	}
	eval := logits(t, base.Model, a.Hooks...)
	if d := maxDiff(eval, forward(t, base.Model, true, a.Hooks...)); d > 1e-12 {
		t.Fatalf("with B zero, dropout moves the logits by %.3g", d)
	}
	if d := maxDiff(eval, logits(t, base.Model)); d < 1e-6 {
		t.Fatalf("moving the magnitudes changes the logits by only %.3g", d)
	}
	for _, l := range h.layers {
		b := nn.Float64s(l.b.Value)
		for i := range b {
			b[i] = 0.3 * rng.NormFloat64()
		}
		setAll(l.b, b)
	}
	eval = logits(t, base.Model, a.Hooks...)
	if d := maxDiff(eval, forward(t, base.Model, true, a.Hooks...)); d < 1e-6 {
		t.Fatalf("with B non-zero, dropout changes the logits by only %.3g", d)
	}
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
