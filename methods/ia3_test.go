package methods

import (
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestIA3Count(t *testing.T) {
	// d_model for each of k and v, d_ff for ff, per layer.
	checkCount(t, "ia3", nil, func(c model.Config) int {
		return c.Layers * (2*c.DModel + c.DFF)
	})
	checkCount(t, "ia3", map[string]any{"targets": "ff"}, func(c model.Config) int {
		return c.Layers * c.DFF
	})
	checkCount(t, "ia3", map[string]any{"targets": []any{"v", "v"}}, func(c model.Config) int {
		return c.Layers * c.DModel
	})
}

func TestIA3Rejects(t *testing.T) {
	checkRejects(t, "ia3", map[string]map[string]any{
		"targets": {"targets": "q"},
		"rank":    {"rank": 4},
	})
	checkRejects(t, "ia3", map[string]map[string]any{"targets": {"targets": "attn.k"}})
	checkRejects(t, "ia3", map[string]map[string]any{"targets": {"targets": ""}})
}

// Every scale starts at exactly one, sized to what it scales: the outputs
// of k and v (d_model) and the input of mlp.proj (d_ff).
func TestIA3ScalesStartAtOne(t *testing.T) {
	base := newBase(t, shapeB, tensor.Float32)
	a := attach(t, base, "ia3", nil)
	if len(a.Own) != 3*shapeB.Layers {
		t.Fatalf("%d scale vectors, want %d", len(a.Own), 3*shapeB.Layers)
	}
	sizes := map[string]int{"attn.k": shapeB.DModel, "attn.v": shapeB.DModel, "mlp.proj": shapeB.DFF}
	for _, p := range a.Own {
		n, ok := 0, false
		for suffix, size := range sizes {
			if containsStr(p.Name, "."+suffix+".") {
				n, ok = size, true
			}
		}
		if !ok || p.Size() != n {
			t.Fatalf("%s has %d scales (want one of k, v, mlp.proj, sized %d)", p.Name, p.Size(), n)
		}
		for i, v := range p.F32() {
			if v != 1 {
				t.Fatalf("%s[%d] starts at %v", p.Name, i, v)
			}
		}
	}
	for _, p := range base.Model.Params {
		if p.Trainable {
			t.Fatalf("model weight %s left trainable", p.Name)
		}
	}
}

// Scaling k and v is the same as scaling W's columns and b, and scaling
// ff the same as scaling mlp.proj's rows (its bias untouched): set one
// scale per target and compare with the weights changed by hand, an
// account of the merge independent of the merger.
func TestIA3Placement(t *testing.T) {
	for _, tc := range []struct {
		target, layer string
		rows          bool
	}{{"k", "h.1.attn.k", false}, {"v", "h.0.attn.v", false}, {"ff", "h.1.mlp.proj", true}} {
		t.Run(tc.target, func(t *testing.T) {
			base := newBase(t, shapeA, tensor.Float64)
			a := attach(t, base, "ia3", map[string]any{"targets": tc.target})
			var l *nn.Param
			for _, p := range a.Own {
				if p.Name == tc.layer+".ia3_l" {
					l = p
				}
			}
			if l == nil {
				t.Fatalf("no scales for %s", tc.layer)
			}
			w, b := base.Model.Param(tc.layer+".weight"), base.Model.Param(tc.layer+".bias")
			bv := nn.Float64s(b.Value)
			for j := range bv {
				bv[j] = 0.05 * float64(j+1) // biases start at zero: give them a value
			}
			SetValues(b, bv)
			const c = 2.5
			vals := nn.Float64s(l.Value)
			vals[1] = c
			SetValues(l, vals)
			adapted := logits(t, base.Model, a.Hooks...)

			SetValues(l, ones(len(vals)))
			in, out := linearDims(base.Model, tc.layer)
			wv := nn.Float64s(w.Value)
			for i := range in {
				for j := range out {
					if (tc.rows && i == 1) || (!tc.rows && j == 1) {
						wv[i*out+j] *= c
					}
				}
			}
			SetValues(w, wv)
			if !tc.rows {
				bv[1] *= c
				SetValues(b, bv)
			}
			if d := maxDiff(adapted, logits(t, base.Model)); d > 1e-12 {
				t.Fatalf("scaling %s differs from scaling the weights by %.3g", tc.target, d)
			}
			if d := maxDiff(adapted, logits(t, base.Model, a.Hooks...)); d > 1e-12 {
				t.Fatalf("with scales at one the hooks are not inert: %.3g", d)
			}
		})
	}
}

// IA3's output on hand-computed cases (Liu et al., 2022, section 3.3):
// keys and values are rescaled after their projection, bias included,
// k' = l_k ⊙ (x·W_k + b_k) and v' = l_v ⊙ (x·W_v + b_v), and the MLP's
// activation before its second layer, (l_ff ⊙ x)·W_proj + b_proj. Weights
// here are in this package's layout, [in, out] with y = x·W + b. Each
// layer gets scales of its own, so scales read from the wrong layer, k's
// scales on v, or a scale on the input where the output is meant (or the
// reverse) give other numbers. The layers IA3 leaves alone (q, o and fc,
// whose output is the activation before GELU) must come out as x·W + b.
// After merging, the plain layers must give the same outputs.
func TestIA3OutputByHand(t *testing.T) {
	x2 := [][]float64{{1, 1}, {0, 1}}
	cases := []struct {
		layer string
		x     [][]float64
		w     [][]float64 // [in, out]; nil: the model's own
		bias  []float64
		scale []float64 // l; nil for a layer IA3 leaves alone
		input bool      // l scales the input (ff), not the output
		want  [][]float64
	}{
		// x·W + b = (2, 3), (1, 1).
		{layer: "h.0.attn.k", x: x2, w: [][]float64{{1, 2}, {0, 1}}, bias: []float64{1, 0}, scale: []float64{2, -1},
			want: [][]float64{{4, -3}, {2, -1}}},
		// x·W + b = (1, 1.5), (1, 0.5).
		{layer: "h.0.attn.v", x: x2, w: [][]float64{{0, 1}, {1, 0}}, bias: []float64{0, 0.5}, scale: []float64{3, 0.5},
			want: [][]float64{{3, 0.75}, {3, 0.25}}},
		// x·W + b = (1, 1), (0, 1).
		{layer: "h.1.attn.k", x: x2, w: [][]float64{{1, 0}, {0, 1}}, bias: []float64{0, 0}, scale: []float64{-2, 4},
			want: [][]float64{{-2, 4}, {0, 4}}},
		// l ⊙ x = (1, 1, −2), (2, 0, 2).
		{layer: "h.0.mlp.proj", x: [][]float64{{1, 2, -1}, {2, 0, 1}}, w: [][]float64{{1, 0}, {0, 1}, {1, 1}},
			bias: []float64{0.5, 0.5}, scale: []float64{1, 0.5, 2}, input: true,
			want: [][]float64{{-0.5, -0.5}, {4.5, 2.5}}},
		// l ⊙ x = (0.5, 0, 3), (1, 0, −3).
		{layer: "h.1.mlp.proj", x: [][]float64{{1, 2, -1}, {2, 0, 1}}, w: [][]float64{{1, 0}, {0, 1}, {1, 1}},
			bias: []float64{0, 0}, scale: []float64{0.5, 0, -3}, input: true,
			want: [][]float64{{3.5, 3}, {-2, -3}}},
		{layer: "h.0.attn.q", x: x2},
		{layer: "h.1.attn.o", x: x2},
		{layer: "h.0.mlp.fc", x: x2},
	}
	base := newBase(t, tiny, tensor.Float64)
	m := base.Model
	a := attach(t, base, "ia3", nil)
	for _, tc := range cases {
		if tc.w != nil {
			setRows(t, weight(t, m, a, tc.layer+".weight"), tc.w...)
			setRows(t, weight(t, m, a, tc.layer+".bias"), tc.bias)
		}
		if tc.scale != nil {
			setRows(t, weight(t, m, a, tc.layer+".ia3_l"), tc.scale)
		}
	}
	// The formula, from the weights as set.
	for i, tc := range cases {
		w, b := m.Param(tc.layer+".weight"), nn.Float64s(m.Param(tc.layer+".bias").Value)
		x := tc.x
		if tc.input {
			x = make([][]float64, len(tc.x))
			for r, row := range tc.x {
				x[r] = make([]float64, len(row))
				for c := range row {
					x[r][c] = tc.scale[c] * row[c]
				}
			}
		}
		y := matMul(x, rowsOf(w, w.Value.Shape()[1]))
		for r := range y {
			for c := range y[r] {
				y[r][c] += b[c]
				if tc.scale != nil && !tc.input {
					y[r][c] *= tc.scale[c]
				}
			}
		}
		if tc.want == nil {
			cases[i].want = y
		} else {
			checkRows(t, tc.layer+": the formula on the hand-computed case", y, tc.want)
		}
	}
	for _, tc := range cases {
		checkRows(t, tc.layer+": IA3's output", throughLinear(t, m, tc.layer, tc.x, a.Hooks...), tc.want)
	}
	if err := a.Merger.Merge(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		checkRows(t, tc.layer+": the merged layer's output", throughLinear(t, m, tc.layer, tc.x), tc.want)
	}
	if err := a.Merger.Unmerge(); err != nil {
		t.Fatal(err)
	}
}
