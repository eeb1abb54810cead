package methods

import (
	"slices"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestVeRACount(t *testing.T) {
	// r per Hugging Face module (GPT-2's q and v are both c_attn's) and
	// out per adapted layer.
	checkCount(t, "vera", map[string]any{"rank": 4}, func(c model.Config) int {
		return c.Layers * (4 + 2*c.DModel)
	})
	checkCount(t, "vera", map[string]any{"rank": 3, "targets": "fc,proj"}, func(c model.Config) int {
		return c.Layers * (2*3 + c.DFF + c.DModel)
	})
	llama := architectures[1].cfg // q, k, v are their own modules, k and v 8 wide
	base := newBase(t, llama, tensor.Float32)
	a := attach(t, base, "vera", map[string]any{"rank": 5, "targets": "q,v"})
	if got, want := a.NumTrainable(base.Model), llama.Layers*(2*5+llama.DModel+llama.DModel/llama.Heads*llama.KVHeads); got != want {
		t.Errorf("Llama: %d trainable, formula gives %d", got, want)
	}
}

func TestVeRARejects(t *testing.T) {
	checkRejects(t, "vera", map[string]map[string]any{
		"rank":      {"rank": 0},
		"targets":   {"targets": "attn.z"},
		"d_initial": {"d_initial": -1},
	})
}

// Every layer takes the top-left corner of the shared matrices (PEFT's
// slicing), GPT-2's v the rows of B at its offset in c_attn, and q and v
// of one block share d.
func TestVeRASharesItsMatrices(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	a := attach(t, base, "vera", map[string]any{"rank": 3, "targets": "q,v,fc"})
	h := a.Hooks[0].(*veraHook)
	d, r := shapeA.DModel, 3
	sa, sb := nn.Float64s(h.sharedA.Value), nn.Float64s(h.sharedB.Value)
	if got := h.sharedB.Value.Shape()[1]; got != 3*d {
		t.Fatalf("shared B is %d wide, want c_attn's %d", got, 3*d)
	}
	for name, col := range map[string]int{"h.1.attn.q": 0, "h.1.attn.v": 2 * d, "h.0.mlp.fc": 0} {
		l := h.layers[name]
		in, out := linearDims(base.Model, name)
		if !slices.Equal(nn.Float64s(l.a.Value), sa[:in*r]) {
			t.Errorf("%s: A is not the shared A's first %d rows", name, in)
		}
		b := nn.Float64s(l.b.Value)
		for k := range r {
			if !slices.Equal(b[k*out:(k+1)*out], sb[k*3*d+col:k*3*d+col+out]) {
				t.Errorf("%s: B's row %d is not the shared B's columns %d…", name, k, col)
			}
		}
	}
	if h.layers["h.0.attn.q"].d != h.layers["h.0.attn.v"].d || h.layers["h.0.attn.q"].d == h.layers["h.1.attn.q"].d {
		t.Error("d is not one per block's c_attn")
	}
}

// VeRA's output by hand on mlp.fc (2→3), rank 1, in the paper's layout:
// h = W₀x + b + Λ_b·B·Λ_d·A·x. A = (1, −1), d = 2, B = (2, 0, 1)ᵀ,
// b = (1, 5, −0.5). For x = (1, 2): A·x = −1, times d −2, B· gives
// (−4, 0, −2), times b (−4, 0, 1); the base gives (1.5, 1.5, 3). For
// x = (0, −1): A·x = 1 → (4, 0, −1); the base (0.5, −1.5, −1).
func TestVeRAOutputByHand(t *testing.T) {
	base := newBase(t, tiny, tensor.Float64)
	m := base.Model
	name := "h.0.mlp.fc"
	a := attach(t, base, "vera", map[string]any{"targets": name, "rank": 1, "dropout": 0.5})
	setRows(t, weight(t, m, a, name+".weight"), transpose([][]float64{{1, 0}, {0, 1}, {1, 1}})...)
	setRows(t, weight(t, m, a, name+".bias"), []float64{0.5, -0.5, 0})
	l := a.Hooks[0].(*veraHook).layers[name] // the layer's frozen corners of the shared matrices
	setRows(t, l.a, transpose([][]float64{{1, -1}})...)
	setRows(t, l.b, transpose([][]float64{{2}, {0}, {1}})...)
	setRows(t, weight(t, m, a, name+".vera_lambda_d"), []float64{2})
	setRows(t, weight(t, m, a, name+".vera_lambda_b"), []float64{1, 5, -0.5})
	x := [][]float64{{1, 2}, {0, -1}}
	want := [][]float64{{-2.5, 1.5, 4}, {4.5, -1.5, -2}}
	checkRows(t, "VeRA's output", throughLinear(t, m, name, x, a.Hooks...), want)
	if err := a.Merger.Merge(); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "the merged layer's output", throughLinear(t, m, name, x), want)
}
