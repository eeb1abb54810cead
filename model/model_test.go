package model

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

var small = Config{Vocab: 11, Context: 9, DModel: 8, Layers: 2, Heads: 2, DFF: 12}

// fill sets random ids, targets and a mask with some zero weights.
func fill(lm *LM, rng *rand.Rand, vocab int) {
	n := lm.B * lm.T
	ids, tg, w := make([]int, n), make([]int, n), make([]float64, n)
	for i := range ids {
		ids[i], tg[i], w[i] = rng.IntN(vocab), rng.IntN(vocab), float64(rng.IntN(2))
	}
	w[0] = 1
	lm.IDs.SetInts(ids)
	lm.Targets.SetInts(tg)
	lm.Mask.SetFloats(w)
}

func gradCheck(t *testing.T, m *Model, hooks ...Hook) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	// GPT-2's initial weights are small enough that many gradients sit
	// near the finite-difference noise; larger weights test more.
	for _, p := range m.Params {
		for i := range p.F64() {
			p.F64()[i] += rng.NormFloat64() * 0.3
		}
	}
	g := nn.NewGraph(tensor.Float64)
	lm, err := m.BuildLM(g, 2, 4, hooks...)
	if err != nil {
		t.Fatal(err)
	}
	fill(lm, rng, m.Config.Vocab)
	p, err := nn.Compile(g, lm.Loss)
	if err != nil {
		t.Fatal(err)
	}
	worst, where, err := nn.GradCheck(p, 0, rng)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d trainable tensors, max relative error %.3g", len(p.Params), worst)
	if worst > 1e-4 {
		t.Errorf("max relative error %.3g at %s", worst, where)
	}
}

func TestWholeModelGradient(t *testing.T) {
	m, err := New(small, tensor.Float64, 3)
	if err != nil {
		t.Fatal(err)
	}
	gradCheck(t, m)
}

// testHooks exercises every hook point with trainable parameters of its own:
// two virtual input tokens, a key/value prefix in every layer, a scaled
// copy added to the value projection, and a bias on each branch output.
type testHooks struct{ params map[string]*nn.Param }

func (h *testHooks) param(c *Ctx, name string, shape ...int) *Node {
	p, ok := h.params[name]
	if !ok {
		p = nn.NewParam(name, c.Graph.Dtype, shape...)
		rng := rand.New(rand.NewPCG(uint64(len(h.params)), 5))
		for i := range p.Size() {
			v := rng.NormFloat64() * 0.5
			if c.Graph.Dtype == tensor.Float32 {
				p.F32()[i] = float32(v)
			} else {
				p.F64()[i] = v
			}
		}
		p.Trainable = true
		h.params[name] = p
	}
	return c.Graph.Param(p)
}

func (h *testHooks) HookInput(c *Ctx, x *Node) (*Node, int, error) {
	y, err := nn.PrependRows(h.param(c, "virtual", 2, c.Config.DModel), x, c.B)
	return y, 2, err
}
func (h *testHooks) HookPrefix(c *Ctx, layer int) (*Node, *Node, error) {
	return h.param(c, "pk", 3, c.Config.DModel), h.param(c, "pv", 3, c.Config.DModel), nil
}
func (h *testHooks) HookLinear(c *Ctx, name string, x, y *Node) (*Node, error) {
	if name != "h.1.attn.v" {
		return y, nil
	}
	d := c.Config.DModel
	z, err := nn.Linear(x, h.param(c, "vw", d, d), h.param(c, "vb", d))
	if err != nil {
		return nil, err
	}
	return nn.Add(y, z)
}
func (h *testHooks) HookBlock(c *Ctx, layer int, branch string, x *Node) (*Node, error) {
	d := c.Config.DModel
	return nn.Linear(x, h.param(c, branch+"w", d, d), h.param(c, branch+"b", d))
}

func TestHookedModelGradient(t *testing.T) {
	m, err := New(small, tensor.Float64, 4)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrainable(false)
	m.Param("h.0.attn.q.weight").Trainable = true // one base weight through every hook
	gradCheck(t, m, &testHooks{params: map[string]*nn.Param{}})
}

func TestContextLimit(t *testing.T) {
	m, _ := New(small, tensor.Float32, 1)
	if _, err := m.Build(nn.NewGraph(tensor.Float32), 1, 8, &testHooks{params: map[string]*nn.Param{}}); err == nil {
		t.Fatal("2 virtual + 8 tokens fit a context of 9")
	}
}

// The parameter count is GPT-2's closed form with a tied head.
func TestNumParams(t *testing.T) {
	for _, c := range []Config{small, {Vocab: 2048, Context: 256, DModel: 128, Layers: 4, Heads: 4, DFF: 512}} {
		m, err := New(c, tensor.Float32, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, f := c.DModel, c.DFF
		block := 4*(d*d+d) + (d*f + f) + (f*d + d) + 4*d
		want := c.Vocab*d + c.Context*d + c.Layers*block + 2*d
		if got := m.NumParams(); got != want {
			t.Errorf("%+v: %d parameters, want %d", c, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	bad := small
	bad.Heads = 3
	if err := bad.Validate(); err == nil {
		t.Error("8 columns split into 3 heads")
	}
	bad = small
	bad.Layers = 0
	if err := bad.Validate(); err == nil {
		t.Error("zero layers accepted")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m, err := New(small, tensor.Float32, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Config, got.Config); diff != "" {
		t.Fatalf("config differs (-want +got):\n%s", diff)
	}
	for _, p := range m.Params {
		if diff := cmp.Diff(p.F32(), got.Param(p.Name).F32()); diff != "" {
			t.Fatalf("%s differs:\n%s", p.Name, diff)
		}
	}
	if _, err := Load(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("loading a missing directory succeeded")
	}
}

// The float32 kernels (fast exp and tanh, float32 BLAS) compute what the
// gradient-checked float64 kernels compute, to float32 precision: loss and
// every gradient, through every hook.
func TestFloat32MatchesFloat64(t *testing.T) {
	run := func(dt tensor.Dtype) (float64, [][]float64) {
		m, err := New(small, dt, 8)
		if err != nil {
			t.Fatal(err)
		}
		g := nn.NewGraph(dt)
		lm, err := m.BuildLM(g, 2, 4, &testHooks{params: map[string]*nn.Param{}})
		if err != nil {
			t.Fatal(err)
		}
		fill(lm, rand.New(rand.NewPCG(1, 2)), m.Config.Vocab)
		p, err := nn.Compile(g, lm.Loss)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		var grads [][]float64
		for i := range p.Params {
			grads = append(grads, p.Grad(i))
		}
		return p.LossValue(), grads
	}
	l32, g32 := run(tensor.Float32)
	l64, g64 := run(tensor.Float64)
	if math.Abs(l32-l64) > 1e-5*math.Abs(l64) {
		t.Fatalf("loss %v in float32, %v in float64", l32, l64)
	}
	for i := range g64 {
		var scale, diff float64
		for j := range g64[i] {
			scale = math.Max(scale, math.Abs(g64[i][j]))
			diff = math.Max(diff, math.Abs(g32[i][j]-g64[i][j]))
		}
		if diff > 1e-4*scale+1e-7 {
			t.Errorf("gradient %d differs by %.3g (scale %.3g)", i, diff, scale)
		}
	}
}

// With every weight trainable the count is PaLM's 6N + 12·L·d·T.
func TestTrainFLOPsFullTraining(t *testing.T) {
	c := Config{Vocab: 2048, Context: 256, DModel: 128, Layers: 4, Heads: 4, DFF: 512}
	n := 4*(4*128*128+2*128*512) + 2048*128
	want := 6*float64(n) + 12*4*128*256
	if got := c.TrainFLOPsPerToken(256, n); got != want {
		t.Fatalf("%g FLOPs per token, want %g", got, want)
	}
	if frozen := c.TrainFLOPsPerToken(256, 0); frozen != want-2*float64(n) {
		t.Fatalf("frozen model: %g", frozen)
	}
}
