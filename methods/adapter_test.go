package methods

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestAdapterCount(t *testing.T) {
	// 2·d·m + m + d per adapter, one or two adapters per block.
	per := func(c model.Config, m int) int { return 2*c.DModel*m + m + c.DModel }
	checkCount(t, "adapter", nil, func(c model.Config) int { return c.Layers * 2 * per(c, 16) })
	checkCount(t, "adapter", map[string]any{"bottleneck": 3}, func(c model.Config) int { return c.Layers * 2 * per(c, 3) })
	checkCount(t, "adapter", map[string]any{"bottleneck": 2, "placement": "attn"}, func(c model.Config) int { return c.Layers * per(c, 2) })
	checkCount(t, "adapter", map[string]any{"bottleneck": 5, "placement": "mlp"}, func(c model.Config) int { return c.Layers * per(c, 5) })
}

func TestAdapterRejects(t *testing.T) {
	checkRejects(t, "adapter", map[string]map[string]any{
		"bottleneck": {"bottleneck": 0},
		"placement":  {"placement": "ffn"},
		"colour":     {"colour": 3},
	})
	checkRejects(t, "adapter", map[string]map[string]any{"bottleneck": {"bottleneck": 2.5}})
	checkRejects(t, "adapter", map[string]map[string]any{"placement": {"placement": []any{"attn"}}})
}

// Each placement puts adapters after exactly its branches: the own
// weights are four per adapted branch of every block, and the compiled
// forward pass holds one extra GELU and two extra Linear ops per adapter.
func TestAdapterPlacement(t *testing.T) {
	plainBase := newBase(t, shapeB, tensor.Float64)
	plain := adapterOpCounts(t, plainBase.Model)
	for placement, branches := range map[string][]string{"both": {"attn", "mlp"}, "attn": {"attn"}, "mlp": {"mlp"}} {
		t.Run(placement, func(t *testing.T) {
			base := newBase(t, shapeB, tensor.Float64)
			a := attach(t, base, "adapter", map[string]any{"placement": placement, "bottleneck": 4})
			per := map[string]int{}
			for _, p := range a.Own {
				parts := strings.SplitN(p.Name, ".", 4) // h, i, branch, rest
				per[parts[0]+"."+parts[1]+"."+parts[2]]++
			}
			want := map[string]int{}
			for i := range shapeB.Layers {
				for _, br := range branches {
					want[fmt.Sprintf("h.%d.%s", i, br)] = 4
				}
			}
			if fmt.Sprint(per) != fmt.Sprint(want) {
				t.Errorf("own weights per branch %v, want %v", per, want)
			}
			n := shapeB.Layers * len(branches)
			got := adapterOpCounts(t, base.Model, a.Hooks...)
			if d := got["GELU"] - plain["GELU"]; d != n {
				t.Errorf("%d extra GELU ops, want %d", d, n)
			}
			if d := got["Linear"] - plain["Linear"]; d != 2*n {
				t.Errorf("%d extra Linear ops, want %d", d, 2*n)
			}
			for _, p := range base.Model.Params {
				if p.Trainable {
					t.Fatalf("model weight %s left trainable", p.Name)
				}
			}
		})
	}
}

// adapterOpCounts compiles an inference pass and counts its ops.
func adapterOpCounts(t *testing.T, m *model.Model, hooks ...model.Hook) map[string]int {
	t.Helper()
	g := nn.NewGraph(tensor.Float64)
	f, err := m.Build(g, 2, 3, hooks...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := nn.Compile(g, nil, f.Logits)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return p.OpCounts()
}

// The adapter starts as the identity because W_up is zero; once W_up
// moves, the random W_down carries the branch through it and the logits
// move. Moving only the attention adapters also moves them.
func TestAdapterUpMovesLogits(t *testing.T) {
	for _, only := range []string{"", ".attn.", ".mlp."} {
		base := newBase(t, shapeA, tensor.Float64)
		plain := logits(t, base.Model)
		a := attach(t, base, "adapter", nil)
		if d := maxDiff(plain, logits(t, base.Model, a.Hooks...)); d != 0 {
			t.Fatalf("fresh adapters move the logits by %.3g", d)
		}
		rng := rand.New(rand.NewPCG(7, 7))
		for _, p := range a.Own {
			if !strings.HasSuffix(p.Name, "adapter_up.weight") || !strings.Contains(p.Name, only) {
				continue
			}
			vals := make([]float64, p.Size())
			for i := range vals {
				vals[i] = rng.NormFloat64() * 0.5
			}
			SetValues(p, vals)
		}
		if d := maxDiff(plain, logits(t, base.Model, a.Hooks...)); d < 1e-6 {
			t.Errorf("W_up%s perturbed: logits move by only %.3g", only, d)
		}
	}
}

// One adapter computes h + GELU(h·W_down + b_down)·W_up + b_up, checked
// against the formula by hand.
func TestAdapterFormula(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	a := attach(t, base, "adapter", map[string]any{"bottleneck": 3})
	rng := rand.New(rand.NewPCG(8, 8))
	perturb(a, base.Model, rng)
	hook := a.Hooks[0].(model.BlockHook)
	const n, d, m = 5, 8, 3
	in := nn.NewParam("h", tensor.Float64, n, d)
	x := in.F64()
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	g := nn.NewGraph(tensor.Float64)
	c := &model.Ctx{Graph: g, Config: shapeA, B: 1, T: n, N: n}
	hn := g.Param(in)
	out, err := hook.HookBlock(c, 1, "mlp", hn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := nn.Compile(g, nil, out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	got := nn.Float64s(p.Value(out))
	own := map[string][]float64{}
	for _, q := range a.Own {
		own[q.Name] = q.F64()
	}
	wd, bd := own["h.1.mlp.adapter_down.weight"], own["h.1.mlp.adapter_down.bias"]
	wu, bu := own["h.1.mlp.adapter_up.weight"], own["h.1.mlp.adapter_up.bias"]
	if wd == nil || bd == nil || wu == nil || bu == nil {
		t.Fatal("h.1.mlp adapter weights not found")
	}
	gelu := func(u float64) float64 {
		return 0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u)))
	}
	for r := range n {
		z := make([]float64, m)
		for k := range m {
			z[k] = bd[k]
			for i := range d {
				z[k] += x[r*d+i] * wd[i*m+k]
			}
			z[k] = gelu(z[k])
		}
		for j := range d {
			want := x[r*d+j] + bu[j]
			for k := range m {
				want += z[k] * wu[k*d+j]
			}
			if e := math.Abs(got[r*d+j] - want); e > 1e-12 {
				t.Fatalf("row %d col %d: %g, want %g", r, j, got[r*d+j], want)
			}
		}
	}
	// A branch with no adapter passes through as the same node.
	b := &adapterHook{layers: []map[string]*adapterLayer{{}}}
	if same, err := b.HookBlock(c, 0, "attn", hn); err != nil || same != hn {
		t.Fatalf("unadapted branch rewritten (err %v)", err)
	}
}
