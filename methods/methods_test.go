package methods

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/train"
	"gorgonia.org/tensor"
)

// Two model shapes every method is checked on.
var (
	shapeA = model.Config{Vocab: 11, Context: 12, DModel: 8, Layers: 2, Heads: 2, DFF: 12}
	shapeB = model.Config{Vocab: 13, Context: 16, DModel: 12, Layers: 3, Heads: 3, DFF: 20}
)

// architectures are the model families every method is checked on:
// GPT-2's blocks, Llama's (grouped-query attention, an untied head),
// Qwen2's (Llama's with biases on q, k and v, a tied head), Qwen3's and
// Mistral's.
var architectures = []struct {
	name string
	cfg  model.Config
}{
	{"gpt2", shapeA},
	{"llama", model.Config{Family: model.Llama, Vocab: 11, Context: 12, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, DFF: 12, RopeTheta: 1e4, NormEps: 1e-5, UntiedHead: true}},
	{"qwen2", model.Config{Family: model.Llama, Vocab: 11, Context: 12, DModel: 16, Layers: 2, Heads: 2, KVHeads: 1, DFF: 12, RopeTheta: 1e6, NormEps: 1e-6, QKVBias: true}},
	// Qwen3: heads of 6 columns (q 24 wide against d_model 16), each of q
	// and k normalised; Mistral: a window of 3 keys, shorter than the
	// sequences the checks run.
	{"qwen3", model.Config{Family: model.Llama, Vocab: 11, Context: 12, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 6, QKNorm: true, DFF: 12, RopeTheta: 1e6, NormEps: 1e-6}},
	{"mistral", model.Config{Family: model.Llama, Vocab: 11, Context: 12, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, SlidingWindow: 3, DFF: 12, RopeTheta: 1e4, NormEps: 1e-5, UntiedHead: true}},
}

// eachArchitecture runs f for every method on every architecture, as
// subtests; a method that cannot attach to an architecture must say so
// with why (BitFit on a model without biases).
func eachArchitecture(t *testing.T, methods []string, f func(t *testing.T, cfg model.Config, name string)) {
	for _, arch := range architectures {
		for _, name := range methods {
			t.Run(arch.name+"/"+name, func(t *testing.T) {
				if name == "bitfit" && (arch.name == "llama" || arch.name == "qwen3" || arch.name == "mistral") {
					_, err := Attach(newBase(t, arch.cfg, tensor.Float32), name, nil, 1)
					if err == nil || !strings.Contains(err.Error(), "no biases") {
						t.Fatalf("bitfit on a model without biases: error %v, want one saying it has none", err)
					}
					return
				}
				f(t, arch.cfg, name)
			})
		}
	}
}

// identityAtStart lists the methods whose initial update is exactly zero.
var identityAtStart = map[string]bool{"lora": true, "dora": true, "ia3": true, "adapter": true, "pac": true, "lntuning": true, "vera": true, "loha": true, "lokr": true, "oft": true, "adalora": true}

func newBase(t *testing.T, cfg model.Config, dt tensor.Dtype) *model.Base {
	t.Helper()
	m, err := model.New(cfg, dt, 5)
	if err != nil {
		t.Fatal(err)
	}
	return &model.Base{Name: "test", Model: m}
}

func attach(t *testing.T, base *model.Base, name string, raw map[string]any) *Attached {
	t.Helper()
	a, err := Attach(base, name, raw, 9)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// perturb moves every trainable weight off its initial value, so that
// checks do not pass just because an update starts at zero.
func perturb(a *Attached, m *model.Model, rng *rand.Rand) {
	for _, p := range append(append([]*nn.Param{}, a.Own...), m.Params...) {
		if !p.Trainable {
			continue
		}
		vals := nn.Float64s(p.Value)
		for i := range vals {
			vals[i] += rng.NormFloat64() * 0.3
		}
		SetValues(p, vals)
	}
}

// lmBatch fills an LM forward pass with random tokens and a partial mask.
func lmBatch(lm *model.LM, rng *rand.Rand, vocab int) {
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

// logits runs one inference forward pass with the given hooks on fixed
// tokens.
func logits(t *testing.T, m *model.Model, hooks ...model.Hook) []float64 {
	t.Helper()
	return forward(t, m, false, hooks...)
}

// forward runs one forward pass on fixed tokens; training marks the graph
// as a training graph, so methods apply their dropout.
func forward(t *testing.T, m *model.Model, training bool, hooks ...model.Hook) []float64 {
	t.Helper()
	g := nn.NewGraph(m.Params[0].Value.Dtype())
	g.Training = training
	f, err := m.Build(g, 2, 5, hooks...)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, 10)
	for i := range ids {
		ids[i] = (i*7 + 3) % m.Config.Vocab
	}
	f.IDs.SetInts(ids)
	p, err := nn.Compile(g, nil, f.Logits)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	return nn.Float64s(p.Value(f.Logits))
}

func maxDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// trainingMethods are the registered methods that train something: every
// one but the zero-shot control.
func trainingMethods() []string {
	var out []string
	for _, n := range Names() {
		if n != display.ZeroShot {
			out = append(out, n)
		}
	}
	return out
}

func TestEveryMethodGradient(t *testing.T) {
	eachArchitecture(t, trainingMethods(), func(t *testing.T, cfg model.Config, name string) {
		base := newBase(t, cfg, tensor.Float64)
		checkGradient(t, base, attach(t, base, name, nil), 1)
	})
}

// checkGradient perturbs every trainable weight, then compares the
// gradients of the whole model's loss with finite differences and checks
// that exactly the trainable tensors get gradients.
func checkGradient(t *testing.T, base *model.Base, a *Attached, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	perturb(a, base.Model, rng)
	g := nn.NewGraph(tensor.Float64)
	g.Training = true
	lm, err := base.Model.BuildLM(g, 2, 4, a.Hooks...)
	if err != nil {
		t.Fatal(err)
	}
	lmBatch(lm, rng, base.Model.Config.Vocab)
	p, err := nn.Compile(g, lm.Loss)
	if err != nil {
		t.Fatal(err)
	}
	worst, where, err := nn.GradCheck(p, 6, rng)
	if err != nil {
		t.Fatal(err)
	}
	if worst > 1e-4 {
		t.Fatalf("max relative error %.3g at %s", worst, where)
	}
	t.Logf("max relative error %.3g", worst)
	if got, want := len(p.Params), len(a.Trainable(base.Model)); got != want {
		t.Fatalf("%d tensors get gradients, %d are trainable", got, want)
	}
}

// trainSteps takes real optimiser steps on random tokens with the method
// attached.
func trainSteps(t *testing.T, base *model.Base, a *Attached, steps int, seed uint64) {
	t.Helper()
	tr := train.NewTrainer(base.Model, nn.Schedule{Peak: 1e-2, Warmup: 1, Total: steps}, 0.01, a.Hooks...)
	defer tr.Close()
	rng := rand.New(rand.NewPCG(seed, seed))
	vocab := base.Model.Config.Vocab
	for range steps {
		b := train.Batch{B: 2, T: 6, IDs: make([]int, 12), Targets: make([]int, 12), Mask: make([]float64, 12)}
		for i := range b.IDs {
			b.IDs[i], b.Targets[i], b.Mask[i] = rng.IntN(vocab), rng.IntN(vocab), 1
		}
		if _, err := tr.Step(b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIdentityAtStart(t *testing.T) {
	var names []string
	for name := range identityAtStart {
		if _, err := Get(name); err == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	eachArchitecture(t, names, func(t *testing.T, cfg model.Config, name string) {
		base := newBase(t, cfg, tensor.Float64)
		plain := logits(t, base.Model)
		a := attach(t, base, name, nil)
		if d := maxDiff(plain, logits(t, base.Model, a.Hooks...)); d > 1e-12 {
			t.Fatalf("attaching %s moves the logits by %.3g", name, d)
		}
	})
}

// After real training steps, every frozen model weight is bit-identical
// and the method's own weights have moved.
func TestFrozenWeightsUntouched(t *testing.T) {
	eachArchitecture(t, trainingMethods(), func(t *testing.T, cfg model.Config, name string) {
		{
			base := newBase(t, cfg, tensor.Float32)
			a := attach(t, base, name, nil)
			before := map[*nn.Param][]float32{}
			for _, p := range append(append([]*nn.Param{}, a.Own...), base.Model.Params...) {
				before[p] = append([]float32(nil), p.F32()...)
			}
			trainSteps(t, base, a, 3, 2)
			moved := false
			for p, was := range before {
				same := cmp.Equal(was, p.F32())
				if !p.Trainable && !same {
					t.Fatalf("frozen %s changed", p.Name)
				}
				moved = moved || (p.Trainable && !same)
			}
			if !moved {
				t.Fatal("no trainable weight moved")
			}
		}
	})
}

// Methods that merge give the same logits merged (with their hooks inert,
// and with no hooks at all) and restore the base weights exactly.
func TestMergeUnmerge(t *testing.T) {
	eachArchitecture(t, Names(), func(t *testing.T, cfg model.Config, name string) {
		{
			base := newBase(t, cfg, tensor.Float32)
			a := attach(t, base, name, nil)
			if a.Merger == nil {
				t.Skip("does not merge")
			}
			perturb(a, base.Model, rand.New(rand.NewPCG(3, 3)))
			orig := map[string][]float32{}
			for _, p := range base.Model.Params {
				orig[p.Name] = append([]float32(nil), p.F32()...)
			}
			adapted := logits(t, base.Model, a.Hooks...)
			if err := a.Merger.Merge(); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(adapted, logits(t, base.Model)); d > 1e-4 {
				t.Errorf("merged model differs from the adapted one by %.3g", d)
			}
			if d := maxDiff(adapted, logits(t, base.Model, a.Hooks...)); d > 1e-4 {
				t.Errorf("merged model with its hooks still attached differs by %.3g", d)
			}
			if err := a.Merger.Merge(); err == nil {
				t.Error("merging twice succeeded")
			}
			if err := a.Merger.Unmerge(); err != nil {
				t.Fatal(err)
			}
			for _, p := range base.Model.Params {
				if !cmp.Equal(orig[p.Name], p.F32()) {
					t.Fatalf("%s not restored bit for bit", p.Name)
				}
			}
			if d := maxDiff(adapted, logits(t, base.Model, a.Hooks...)); d != 0 {
				t.Errorf("unmerged adapted logits differ by %.3g", d)
			}
		}
	})
}

func TestSaveLoadOwnWeights(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			base := newBase(t, shapeA, tensor.Float32)
			a := attach(t, base, name, nil)
			perturb(a, base.Model, rand.New(rand.NewPCG(4, 4)))
			path := filepath.Join(t.TempDir(), "adapter.safetensors")
			size, err := a.Save(path)
			if err != nil {
				t.Fatal(err)
			}
			if n := 4 * a.NumTrainable(base.Model); size < int64(n) {
				t.Fatalf("file of %d bytes for %d trainable float32 weights", size, n/4)
			}
			fresh := attach(t, newBase(t, shapeA, tensor.Float32), name, nil)
			if err := fresh.Load(path); err != nil {
				t.Fatal(err)
			}
			for i, p := range a.Own {
				if !cmp.Equal(p.F32(), fresh.Own[i].F32()) {
					t.Fatalf("%s differs after load", p.Name)
				}
			}
		})
	}
}

// The hyper-parameter declarations are well-formed: defaults resolve.
func TestDefaultsResolve(t *testing.T) {
	for _, name := range Names() {
		m, _ := Get(name)
		if _, err := Resolve(m, nil); err != nil {
			t.Errorf("%s: defaults do not resolve: %v", name, err)
		}
		if (m.DefaultLR() <= 0 && name != display.ZeroShot) || m.Doc() == "" {
			t.Errorf("%s: missing default learning rate or doc", name)
		}
	}
}

// checkCount asserts a method's trainable-parameter count on both shapes.
func checkCount(t *testing.T, name string, raw map[string]any, formula func(c model.Config) int) {
	t.Helper()
	for _, c := range []model.Config{shapeA, shapeB} {
		base := newBase(t, c, tensor.Float32)
		a := attach(t, base, name, raw)
		if got, want := a.NumTrainable(base.Model), formula(c); got != want {
			t.Errorf("%s %v on %+v: %d trainable parameters, formula gives %d", name, raw, c, got, want)
		}
	}
}

// checkRejects asserts that each raw setting fails to attach, naming the
// field.
func checkRejects(t *testing.T, name string, cases map[string]map[string]any) {
	t.Helper()
	for field, raw := range cases {
		_, err := Attach(newBase(t, shapeA, tensor.Float32), name, raw, 1)
		if err == nil {
			t.Errorf("%s %v: accepted", name, raw)
			continue
		}
		if want := `"` + field + `"`; !containsStr(err.Error(), want) {
			t.Errorf("%s %v: error %q does not name %s", name, raw, err, want)
		}
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// tiny is a model small enough to check a method's output by hand: d_model
// 2 with one head, d_ff 3 (so mlp.fc is 2→3 and mlp.proj 3→2), two blocks.
var tiny = model.Config{Vocab: 3, Context: 4, DModel: 2, Layers: 2, Heads: 1, DFF: 3}

// weight returns the attached method's weight with the given name, or
// else the model's.
func weight(t *testing.T, m *model.Model, a *Attached, name string) *nn.Param {
	t.Helper()
	for _, p := range a.Own {
		if p.Name == name {
			return p
		}
	}
	if p := m.Param(name); p != nil {
		return p
	}
	t.Fatalf("no weight %q", name)
	return nil
}

// setRows overwrites a parameter with the given rows (one row for a
// vector), checking that they fill its shape.
func setRows(t *testing.T, p *nn.Param, rows ...[]float64) {
	t.Helper()
	var flat []float64
	for _, r := range rows {
		flat = append(flat, r...)
	}
	s := p.Value.Shape()
	if len(flat) != p.Size() || (len(s) == 2 && len(rows) != s[0]) {
		t.Fatalf("%s is %v: cannot hold %v", p.Name, s, rows)
	}
	SetValues(p, flat)
}

// setLowRank loads a linear layer and its low-rank factors A [r, in] and
// B [out, r], given in the papers' [out, in] layout, into this package's
// [in, out] storage (LoRA and DoRA).
func setLowRank(t *testing.T, m *model.Model, a *Attached, layer string, w0 [][]float64, bias []float64, lowA, lowB [][]float64) {
	t.Helper()
	setRows(t, weight(t, m, a, layer+".weight"), transpose(w0)...)
	setRows(t, weight(t, m, a, layer+".bias"), bias)
	setRows(t, weight(t, m, a, layer+".lora_A"), transpose(lowA)...)
	setRows(t, weight(t, m, a, layer+".lora_B"), transpose(lowB)...)
}

// transpose returns the transpose of a matrix given by its rows.
func transpose(m [][]float64) [][]float64 {
	out := make([][]float64, len(m[0]))
	for j := range out {
		out[j] = make([]float64, len(m))
		for i := range m {
			out[j][i] = m[i][j]
		}
	}
	return out
}

// matMul is the plain product of two matrices given by their rows.
func matMul(a, b [][]float64) [][]float64 {
	out := make([][]float64, len(a))
	for i := range a {
		out[i] = make([]float64, len(b[0]))
		for k := range b {
			for j := range b[0] {
				out[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return out
}

// throughLinear passes the rows of x through the named linear layer of m in
// an inference graph, with the hooks applied where the model applies them:
// input hooks, then x·W + b (weights are stored [in, out]), then output
// hooks.
func throughLinear(t *testing.T, m *model.Model, name string, x [][]float64, hooks ...model.Hook) [][]float64 {
	t.Helper()
	dt := m.Params[0].Value.Dtype()
	g := nn.NewGraph(dt)
	xp := nn.NewParam("x", dt, len(x), len(x[0]))
	setRows(t, xp, x...)
	c := &model.Ctx{Graph: g, Config: m.Config, B: 1, T: len(x), N: len(x)}
	xn := g.Param(xp)
	var err error
	for _, h := range hooks {
		if lh, ok := h.(model.LinearInputHook); ok {
			if xn, err = lh.HookLinearInput(c, name, xn); err != nil {
				t.Fatal(err)
			}
		}
	}
	y, err := nn.Linear(xn, g.Param(m.Param(name+".weight")), g.Param(m.Param(name+".bias")))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		if lh, ok := h.(model.LinearHook); ok {
			if y, err = lh.HookLinear(c, name, xn, y); err != nil {
				t.Fatal(err)
			}
		}
	}
	p, err := nn.Compile(g, nil, y)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	v, cols := nn.Float64s(p.Value(y)), y.Shape()[1]
	out := make([][]float64, len(x))
	for i := range out {
		out[i] = v[i*cols : (i+1)*cols]
	}
	return out
}

// checkRows fails unless got and want agree to rounding.
func checkRows(t *testing.T, what string, got, want [][]float64) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = len(got[i]) == len(want[i]) && maxDiff(got[i], want[i]) <= 1e-12*(1+maxAbs(want[i]))
	}
	if !ok {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}
