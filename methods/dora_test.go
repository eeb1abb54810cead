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
		SetValues(l.mag, m)
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
		SetValues(l.b, b)
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

// DoRA's output on hand-computed cases, in the notation of Liu et al.
// (2024) and HF PEFT: with W₀ [out, in], A [r, in], B [out, r] and
// V = W₀ + (alpha/r)·B·A, the adapted weight is m ⊙ V/‖V‖_c, where ‖V‖_c
// holds one L2 norm per output: of each row of V in this layout (HF's
// weight.norm(p=2, dim=1)), a column of this package's [in, out]. For rows of
// inputs, y = (m/‖V‖_c) ∘ (x·Vᵀ) + b: the bias is not rescaled. As in
// TestLoRAOutputByHand, the test writes the paper's matrices and stores
// their transposes. The first case is square with row norms (5, 3) and
// column norms (3, 5), so a norm over the wrong axis, or of W₀ instead of
// V, gives other numbers. Dropout is set but off in an inference pass.
// After merging, the plain layer must give the same outputs.
func TestDoRAOutputByHand(t *testing.T) {
	for _, tc := range []struct {
		layer    string
		rank     int
		alpha    float64
		x        [][]float64 // [n, in]
		w0, a, b [][]float64 // the paper's layout: [out, in], [r, in], [out, r]
		mag      []float64   // m [out]
		bias     []float64
		want     [][]float64
	}{{
		// alpha/r = 2: V = [[3, 0], [0, 1]] + 2·[[0, 2], [0, 1]] = [[3, 4],
		// [0, 3]], row norms (5, 3), m/‖V‖ = (1, 2). x·Vᵀ = (7, 3), (2, −3).
		layer: "h.0.attn.q", rank: 1, alpha: 2,
		x:    [][]float64{{1, 1}, {2, -1}},
		w0:   [][]float64{{3, 0}, {0, 1}},
		a:    [][]float64{{0, 1}},
		b:    [][]float64{{2}, {1}},
		mag:  []float64{5, 6},
		bias: []float64{1, -1},
		want: [][]float64{{8, 5}, {3, -7}},
	}, {
		// alpha/r = 1: V = W₀ + [[1, 1], [−1, −1], [2, 2]] = [[0, 2],
		// [3, 4], [6, −8]], row norms (2, 5, 10), m/‖V‖ = (2, 1, 2).
		// x·Vᵀ = (0, 3, 6), (−2, −1, 14).
		layer: "h.1.mlp.fc", rank: 1, alpha: 1,
		x:    [][]float64{{1, 0}, {1, -1}},
		w0:   [][]float64{{-1, 1}, {4, 5}, {4, -10}},
		a:    [][]float64{{1, 1}},
		b:    [][]float64{{1}, {-1}, {2}},
		mag:  []float64{4, 5, 20},
		bias: []float64{0, 1, 0},
		want: [][]float64{{0, 4, 12}, {-4, 0, 28}},
	}} {
		t.Run(tc.layer, func(t *testing.T) {
			scale := tc.alpha / float64(tc.rank)
			v := matMul(tc.b, tc.a)
			for i := range v {
				for j := range v[i] {
					v[i][j] = tc.w0[i][j] + scale*v[i][j]
				}
			}
			ref := matMul(tc.x, transpose(v))
			for j, row := range v { // output j
				norm := 0.0
				for _, vji := range row {
					norm += vji * vji
				}
				norm = math.Sqrt(norm)
				for i := range ref {
					ref[i][j] = tc.mag[j]/norm*ref[i][j] + tc.bias[j]
				}
			}
			checkRows(t, "the formula on the hand-computed case", ref, tc.want)

			base := newBase(t, tiny, tensor.Float64)
			m := base.Model
			a := attach(t, base, "dora", map[string]any{"targets": tc.layer, "rank": tc.rank, "alpha": tc.alpha, "dropout": 0.5})
			setLowRank(t, m, a, tc.layer, tc.w0, tc.bias, tc.a, tc.b)
			setRows(t, weight(t, m, a, tc.layer+".lora_magnitude_vector"), tc.mag)
			checkRows(t, "DoRA's output", throughLinear(t, m, tc.layer, tc.x, a.Hooks...), tc.want)

			if err := a.Merger.Merge(); err != nil {
				t.Fatal(err)
			}
			checkRows(t, "the merged layer's output", throughLinear(t, m, tc.layer, tc.x), tc.want)
			if err := a.Merger.Unmerge(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
