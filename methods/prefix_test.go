package methods

import (
	"math/rand/v2"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestPrefixCount(t *testing.T) {
	// Stored prefix: a key and a value [L, d] per layer.
	checkCount(t, "prefix", nil, func(c model.Config) int { return 2 * c.Layers * 8 * c.DModel })
	checkCount(t, "prefix", map[string]any{"length": 3}, func(c model.Config) int { return 2 * c.Layers * 3 * c.DModel })
	// The hidden width is unused without projection.
	checkCount(t, "prefix", map[string]any{"length": 3, "hidden": 7}, func(c model.Config) int { return 2 * c.Layers * 3 * c.DModel })
	// With projection: E [L, d], Linear(d, h), then 2·layers Linear(h, d)
	// heads (one Linear(h, 2·layers·d) in column blocks).
	mlp := func(L, h int) func(c model.Config) int {
		return func(c model.Config) int {
			d := c.DModel
			return L*d + (d*h + h) + 2*c.Layers*(h*d+d)
		}
	}
	checkCount(t, "prefix", map[string]any{"length": 3, "projection": true, "hidden": 5}, mlp(3, 5))
	checkCount(t, "prefix", map[string]any{"projection": true}, mlp(8, 64))
}

func TestPrefixRejects(t *testing.T) {
	checkRejects(t, "prefix", map[string]map[string]any{
		"length":     {"length": 0},
		"hidden":     {"hidden": 0, "projection": true},
		"projection": {"projection": "yes"},
		"colour":     {"colour": 3},
	})
	// shapeA's context is 12.
	checkRejects(t, "prefix", map[string]map[string]any{"length": {"length": 12}})
	checkRejects(t, "prefix", map[string]map[string]any{"length": {"length": 13, "projection": true}})
	attach(t, newBase(t, shapeA, tensor.Float32), "prefix", map[string]any{"length": 11})
}

// The shared gradient check runs the default (stored prefix); this one
// runs the reparameterisation MLP.
func TestPrefixProjectionGradient(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	checkGradient(t, base, attach(t, base, "prefix", map[string]any{"length": 3, "projection": true, "hidden": 5}), 7)
}

// The MLP's shared first layer is in each program once, though the model
// asks for the prefix once per layer, and each graph caches its own.
// (gorgonia merges identical nodes, so the op counts alone would hold
// without the cache too; the cache spares rebuilding the layer, and
// len(h.hidden) shows it is filled once per graph.)
func TestPrefixMLPOncePerGraph(t *testing.T) {
	c := shapeB
	base := newBase(t, c, tensor.Float32)
	a := attach(t, base, "prefix", map[string]any{"length": 2, "projection": true, "hidden": 6})
	h := a.Hooks[0].(*prefixHook)
	for n := 1; n <= 2; n++ {
		g := nn.NewGraph(tensor.Float32)
		g.Training = n == 2
		lm, err := base.Model.BuildLM(g, 2, 5, a.Hooks...)
		if err != nil {
			t.Fatal(err)
		}
		loss := lm.Loss
		if n == 1 {
			loss = nil // inference: forward ops only
		}
		p, err := nn.Compile(g, loss, lm.Logits)
		if err != nil {
			t.Fatal(err)
		}
		counts := p.OpCounts()
		// 6 per block in the model, the MLP's first layer, 2 heads a layer.
		if got, want := counts["Linear"], 6*c.Layers+1+2*c.Layers; got != want {
			t.Errorf("graph %d: %d Linear ops, want %d", n, got, want)
		}
		if counts["Tanh"] != 1 {
			t.Errorf("graph %d: %d Tanh ops, want 1", n, counts["Tanh"])
		}
		if n == 2 && counts["TanhGrad"] != 1 {
			t.Errorf("graph %d: %d TanhGrad ops, want 1", n, counts["TanhGrad"])
		}
		if len(h.hidden) != n {
			t.Errorf("after %d graphs the hook caches %d hidden layers", n, len(h.hidden))
		}
		if hid := h.hidden[g]; hid == nil || hid.Shape()[0] != 2 || hid.Shape()[1] != 6 {
			t.Errorf("graph %d: cached hidden layer %v, want [2, 6]", n, hid)
		}
		p.Close()
	}
}

// tokenLogits runs one sequence of ids and returns its logits.
func tokenLogits(t *testing.T, m *model.Model, ids []int, hooks ...model.Hook) []float64 {
	t.Helper()
	g := nn.NewGraph(m.Params[0].Value.Dtype())
	f, err := m.Build(g, 1, len(ids), hooks...)
	if err != nil {
		t.Fatal(err)
	}
	f.IDs.SetInts(ids)
	p, err := nn.Compile(g, nil, f.Logits)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	return nn.Float64s(p.Value(f.Logits))
}

// Every query attends to the prefix. A prefix whose keys dominate every
// score takes all the attention: each position then reads only the
// prefix's values, so no position sees the tokens before it, and the
// logits after a changed token stay put.
func TestPrefixDominates(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	m, v := base.Model, shapeA.Vocab
	ids1, ids2 := []int{1, 2, 3, 4, 5}, []int{7, 2, 3, 4, 5}
	sameAfterFirst := func(hooks ...model.Hook) float64 {
		a, b := tokenLogits(t, m, ids1, hooks...), tokenLogits(t, m, ids2, hooks...)
		return maxDiff(a[v:], b[v:])
	}
	if d := sameAfterFirst(); d < 1e-6 {
		t.Fatalf("without a prefix, changing the first token moves later logits by only %.3g", d)
	}
	plain := tokenLogits(t, m, ids1)

	a := attach(t, base, "prefix", map[string]any{"length": 2})
	if d := maxDiff(plain, tokenLogits(t, m, ids1, a.Hooks...)); d < 1e-6 {
		t.Fatalf("the prefix moves the logits by only %.3g", d)
	}
	// Keys c·u and −c·u: in every head one of them scores |q·u|·c, far
	// above any real key. Both rows carry the same value, so whichever
	// wins, the attention output is that value.
	h := a.Hooks[0].(*prefixHook)
	rng := rand.New(rand.NewPCG(8, 8))
	d := shapeA.DModel
	for i := range shapeA.Layers {
		keys, vals := make([]float64, 2*d), make([]float64, 2*d)
		for j := range d {
			u := rng.NormFloat64()
			keys[j], keys[d+j] = 1e6*u, -1e6*u
			vals[j] = rng.NormFloat64()
			vals[d+j] = vals[j]
		}
		setAll(h.keys[i], keys)
		setAll(h.values[i], vals)
	}
	if d := sameAfterFirst(a.Hooks...); d > 1e-9 {
		t.Fatalf("with a dominant prefix, changing the first token still moves later logits by %.3g", d)
	}
	if d := maxDiff(plain, tokenLogits(t, m, ids1, a.Hooks...)); d < 1e-6 {
		t.Fatalf("the dominant prefix moves the logits by only %.3g", d)
	}
}
