package methods

import (
	"math"
	"slices"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// PEFT's factorization, on the examples of its docstring and on the
// cases its search decides: a divisible factor keeps its order, -1 stops
// at the square root's neighbours, a prime has only (1, p), and a factor
// that does not divide caps the search.
func TestLoKrFactorization(t *testing.T) {
	for _, c := range []struct{ dim, f, m, n int }{
		{256, -1, 16, 16}, {128, -1, 8, 16}, {127, -1, 1, 127}, {128, 4, 4, 32},
		{128, 32, 32, 4}, {12, -1, 3, 4}, {20, -1, 4, 5}, {16, -1, 4, 4}, {1, -1, 1, 1},
		{128, 3, 2, 64}, {12, 5, 3, 4}, {4096, -1, 64, 64}, {11008, -1, 86, 128}, {14336, -1, 112, 128},
	} {
		if m, n := factorization(c.dim, c.f); m != c.m || n != c.n {
			t.Errorf("factorization(%d, %d) = (%d, %d), want (%d, %d)", c.dim, c.f, m, n, c.m, c.n)
		}
	}
}

// Which factors PEFT keeps whole: W2 when r ≥ max(b, d)/2, W1 unless
// decompose_both and r < max(a, c)/2; the count follows.
func TestLoKrCount(t *testing.T) {
	// shapeA: d_model 8 = 2·4, d_ff 12 = 3·4. At r = 8, W1 [2, 2] and W2
	// [4, 4] whole on q and v.
	checkCount(t, "lokr", nil, func(c model.Config) int {
		a, b := factorization(c.DModel, -1)
		return c.Layers * 2 * (a*a + b*b)
	})
	// r = 1 < 4/2: W2 as W2a [b, 1]·W2b [1, d].
	checkCount(t, "lokr", map[string]any{"rank": 1, "targets": "q"}, func(c model.Config) int {
		a, b := factorization(c.DModel, -1)
		return c.Layers * (a*a + 2*b)
	})
	base := newBase(t, shapeB, tensor.Float64) // d_model 12 = 3·4, d_ff 20 = 4·5
	a := attach(t, base, "lokr", map[string]any{"rank": 1, "decompose_both": true, "targets": "q,fc"})
	h := a.Hooks[0].(*lokrHook)
	for name, want := range map[string][][]int{
		"h.0.attn.q": {nil, {3, 1}, {1, 3}, nil, {4, 1}, {1, 4}},
		"h.0.mlp.fc": {nil, {4, 1}, {1, 3}, nil, {5, 1}, {1, 4}},
	} {
		l := h.layers[name]
		for i, p := range []*nn.Param{l.w1, l.w1a, l.w1b, l.w2, l.w2a, l.w2b} {
			if (p == nil) != (want[i] == nil) || (p != nil && !slices.Equal(p.Value.Shape(), want[i])) {
				t.Errorf("%s: factor %d is %v, want %v", name, i, p, want[i])
			}
		}
	}
	if got, want := a.NumTrainable(base.Model), shapeB.Layers*((3+3+4+4)+(4+3+5+4)); got != want {
		t.Errorf("%d trainable, want %d", got, want)
	}
	// A factor that divides comes first, unsorted: 12 = 6·2 both ways, so
	// W1 [6, 6] and, r = 1 ≥ 2/2, W2 [2, 2] whole.
	l := attach(t, newBase(t, shapeB, tensor.Float64), "lokr", map[string]any{"rank": 1, "decompose_factor": 6, "targets": "h.0.attn.q"}).Hooks[0].(*lokrHook).layers["h.0.attn.q"]
	if !slices.Equal(l.w1.Value.Shape(), []int{6, 6}) || !slices.Equal(l.w2.Value.Shape(), []int{2, 2}) {
		t.Errorf("decompose_factor 6: W1 %v, W2 %v, want [6 6] and [2 2]", l.w1.Value.Shape(), l.w2.Value.Shape())
	}
}

func TestLoKrRejects(t *testing.T) {
	checkRejects(t, "lokr", map[string]map[string]any{
		"rank":             {"rank": 0},
		"alpha":            {"alpha": -1},
		"targets":          {"targets": "attn.z"},
		"decompose_factor": {"decompose_factor": -2},
		"decompose_both":   {"decompose_both": "yes"},
	})
}

// PEFT's reset_adapter_parameters: W1 (or W1a) zero, the rest uniform
// within ±1/√fan_in.
func TestLoKrInit(t *testing.T) {
	base := newBase(t, shapeB, tensor.Float64)
	h := attach(t, base, "lokr", map[string]any{"rank": 1, "decompose_both": true, "targets": "fc"}).Hooks[0].(*lokrHook)
	l := h.layers["h.1.mlp.fc"] // 12 = 3·4 in, 20 = 4·5 out
	for _, c := range []struct {
		p     *nn.Param
		bound float64
	}{{l.w1a, 0}, {l.w1b, 1 / math.Sqrt(3)}, {l.w2a, 1}, {l.w2b, 0.5}} {
		hi := maxAbs(nn.Float64s(c.p.Value))
		if hi > c.bound || (c.bound > 0 && hi < 0.3*c.bound) {
			t.Errorf("%s: largest |value| %.3f, want up to %.3f and near it", c.p.Name, hi, c.bound)
		}
	}
	if l.zeroed != l.w1a {
		t.Error("the factor merging zeroes is not W1a")
	}
}

// LoKr's output by hand on a 4→4 layer: 4 = 2·2 on both sides, and at
// r = 1 ≥ 2/2 both factors are whole, W1 = ((1, 2), (3, 4)) and W2 =
// ((0, 1), (1, −1)), so that W1 ⊗ W2 has the rows (0, 1, 0, 2),
// (1, −1, 2, −2), (0, 3, 0, 4), (3, −3, 4, −4); alpha 0.5 scales it by
// a half. The base is the identity: for x = (1, 0, 0, 0) the layer gives
// x + ½·(0, 1, 0, 3), for x = (0, 1, 2, −1) x + ½·(−1, 5, −1, 9). W2 ⊗ W1,
// or either factor transposed, gives other numbers.
func TestLoKrOutputByHand(t *testing.T) {
	cfg := model.Config{Vocab: 3, Context: 4, DModel: 4, Layers: 1, Heads: 1, DFF: 6}
	base := newBase(t, cfg, tensor.Float64)
	m := base.Model
	name := "h.0.attn.q"
	a := attach(t, base, "lokr", map[string]any{"targets": name, "rank": 1, "alpha": 0.5})
	setRows(t, weight(t, m, a, name+".weight"), []float64{1, 0, 0, 0}, []float64{0, 1, 0, 0}, []float64{0, 0, 1, 0}, []float64{0, 0, 0, 1})
	setRows(t, weight(t, m, a, name+".bias"), []float64{0, 0, 0, 0})
	setRows(t, weight(t, m, a, name+".lokr_w1"), []float64{1, 2}, []float64{3, 4})
	setRows(t, weight(t, m, a, name+".lokr_w2"), []float64{0, 1}, []float64{1, -1})
	x := [][]float64{{1, 0, 0, 0}, {0, 1, 2, -1}}
	want := [][]float64{{1, 0.5, 0, 1.5}, {-0.5, 3.5, 1.5, 3.5}}
	checkRows(t, "LoKr's output", throughLinear(t, m, name, x, a.Hooks...), want)
	if err := a.Merger.Merge(); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "the merged layer's output", throughLinear(t, m, name, x), want)
	checkRows(t, "the merged layer's output with the hooks left on", throughLinear(t, m, name, x, a.Hooks...), want)
}

// LoKr's gradient through each form of its factors: both decomposed
// (rank 1, decompose_both), W2 whole beside a decomposed W1, and an
// unsorted split (decompose_factor), on GPT-2 and Llama.
func TestLoKrGradient(t *testing.T) {
	for _, raw := range []map[string]any{
		{"rank": 1, "alpha": 3.0, "decompose_both": true, "targets": "q,fc,proj"},
		{"rank": 2, "alpha": 3.0, "decompose_both": true, "targets": "*"},
		{"rank": 2, "decompose_factor": 2, "targets": "*"},
	} {
		for _, cfg := range []model.Config{shapeB, architectures[1].cfg} {
			base := newBase(t, cfg, tensor.Float64)
			checkGradient(t, base, attach(t, base, "lokr", raw), 3)
		}
	}
}
