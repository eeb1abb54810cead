package methods

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestAdaLoRACount(t *testing.T) {
	// init_r·(d_in + d_out + 1) per targeted layer: P, λ and Q; masking
	// zeroes λ entries and removes no weight.
	checkCount(t, "adalora", map[string]any{"init_r": 3, "rank": 2}, func(c model.Config) int {
		return c.Layers * 2 * 3 * (c.DModel + c.DModel + 1) // q and v
	})
	checkCount(t, "adalora", map[string]any{"init_r": 2, "rank": 1, "targets": []any{"attn.*", "fc"}}, func(c model.Config) int {
		return c.Layers * 2 * (4*(2*c.DModel+1) + (c.DModel + c.DFF + 1))
	})
	checkRejects(t, "adalora", map[string]map[string]any{
		"rank":            {"rank": 13, "init_r": 12},
		"orth_reg_weight": {"orth_reg_weight": 0.0},
		"beta1":           {"beta1": 1.0},
	})
}

// TestAdaLoRAUpdateByHand: one layer's output is x·W + b + s·x·P·diag(λ)·Q
// with s = alpha/(init_r + 1e-5), PEFT's scaling over its ranknum.
func TestAdaLoRAUpdateByHand(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	m := base.Model
	a := attach(t, base, "adalora", map[string]any{"init_r": 2, "rank": 1, "alpha": 3.0, "targets": "h.0.attn.q"})
	const name = "h.0.attn.q"
	d := m.Config.DModel
	rng := rand.New(rand.NewPCG(5, 5))
	row := func(n int) []float64 {
		r := make([]float64, n)
		for i := range r {
			r[i] = rng.Float64()*2 - 1
		}
		return r
	}
	P, Q := make([][]float64, d), [][]float64{row(d), row(d)}
	for i := range P {
		P[i] = row(2)
	}
	lam := []float64{0.7, -1.3}
	setRows(t, weight(t, m, a, name+".lora_A"), P...)
	setRows(t, weight(t, m, a, name+".lora_E"), lam)
	setRows(t, weight(t, m, a, name+".lora_B"), Q...)
	x := [][]float64{row(d), row(d), row(d)}
	plain := throughLinear(t, m, name, x)
	got := throughLinear(t, m, name, x, a.Hooks...)
	s := 3.0 / (2 + 1e-5)
	xp := matMul(x, P)
	for i := range xp {
		for k := range xp[i] {
			xp[i][k] *= lam[k] * s
		}
	}
	u := matMul(xp, Q)
	want := make([][]float64, len(x))
	for i := range want {
		want[i] = make([]float64, d)
		for j := range want[i] {
			want[i][j] = plain[i][j] + u[i][j]
		}
	}
	checkRows(t, "x·W + b + s·x·P·diag(λ)·Q", got, want)
}

// orthByHand is ‖MᵀM − I‖_F for M [rows, r] (transposed: ‖MMᵀ − I‖_F
// for M [r, cols]).
func orthByHand(m []float64, rows, cols int, transposed bool) float64 {
	r, n := cols, rows
	at := func(i, k int) float64 { return m[i*cols+k] } // element i of column k
	if transposed {
		r, n = rows, cols
		at = func(i, k int) float64 { return m[k*cols+i] }
	}
	var s float64
	for k := range r {
		for l := range r {
			var c float64
			for i := range n {
				c += at(i, k) * at(i, l)
			}
			if k == l {
				c--
			}
			s += c * c
		}
	}
	return math.Sqrt(s)
}

// TestAdaLoRAOrthogonalityPenalty: with λ zero the update is nothing, so
// the loss with the method attached exceeds the base model's by exactly
// orth_reg_weight·mean(‖PᵀP − I‖_F, ‖QQᵀ − I‖_F), computed here by hand;
// and with a weight ten times the default's, so that the penalty dominates the loss, its
// gradient matches finite differences.
func TestAdaLoRAOrthogonalityPenalty(t *testing.T) {
	lossOf := func(m *model.Model, seed uint64, hooks ...model.Hook) float64 {
		g := nn.NewGraph(tensor.Float64)
		lm, err := m.BuildLM(g, 2, 4, hooks...)
		if err != nil {
			t.Fatal(err)
		}
		lmBatch(lm, rand.New(rand.NewPCG(seed, seed)), m.Config.Vocab)
		p, err := nn.Compile(g, lm.Loss)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		return p.LossValue()
	}
	for _, arch := range architectures[:2] {
		base := newBase(t, arch.cfg, tensor.Float64)
		a := attach(t, base, "adalora", map[string]any{"init_r": 3, "rank": 2, "orth_reg_weight": 0.7})
		h := a.Hooks[0].(*adaloraHook)
		var sum float64
		for _, name := range h.order {
			l := h.layers[name]
			ps, qs := l.p.Value.Shape(), l.q.Value.Shape()
			sum += orthByHand(nn.Float64s(l.p.Value), ps[0], ps[1], false) + orthByHand(nn.Float64s(l.q.Value), qs[0], qs[1], true)
		}
		want := 0.7 * sum / float64(2*len(h.order))
		got := lossOf(base.Model, 9, a.Hooks...) - lossOf(base.Model, 9)
		if math.Abs(got-want) > 1e-12*max(1, want) {
			t.Errorf("%s: penalty %v in the loss, %v by hand", arch.name, got, want)
		}
		t.Logf("%s: penalty %.12f in the loss, %.12f by hand (%d layers)", arch.name, got, want, len(h.order))

		heavy := newBase(t, arch.cfg, tensor.Float64)
		checkGradient(t, heavy, attach(t, heavy, "adalora", map[string]any{"init_r": 3, "rank": 2, "orth_reg_weight": 5.0}), 4)
	}
}

func TestAdaLoRABudgetSchedule(t *testing.T) {
	// Four layers (q and v of two blocks) at init_r 3, target 1: budgets
	// 12 and 4. Between them (12 − 4)·(1 − s/10)³ + 4, truncated.
	base := newBase(t, shapeA, tensor.Float32)
	a := attach(t, base, "adalora", map[string]any{"init_r": 3, "rank": 1})
	ra := a.Hooks[0].(*adaloraHook).alloc
	want := map[int]int{0: 12, 1: 9, 2: 8, 3: 6, 4: 5, 5: 5, 6: 4, 9: 4}
	for s, b := range want {
		got, mask := ra.budget(s, 10)
		if got != b || mask != (s > 0) {
			t.Errorf("step %d of 10: budget %d (mask %v), want %d (%v)", s, got, mask, b, s > 0)
		}
	}
	// tinit 2, tfinal 3, deltaT 2: the full budget to step 2, the cubic
	// over 5 steps from there, masking on even steps, the target after 7.
	a = attach(t, base, "adalora", map[string]any{"init_r": 3, "rank": 1, "tinit": 2, "tfinal": 3, "deltaT": 2})
	ra = a.Hooks[0].(*adaloraHook).alloc
	for _, c := range []struct {
		step, budget int
		mask         bool
	}{{0, 12, false}, {2, 12, false}, {3, 8, false}, {4, 5, true}, {6, 4, true}, {7, 4, false}, {8, 4, true}, {9, 4, true}} {
		// 3: 8·0.8³ + 4 = 8.096; 4: 8·0.6³ + 4 = 5.728; 6: 8·0.2³ + 4 = 4.064; 7: the cubic at 0.
		got, mask := ra.budget(c.step, 10)
		if got != c.budget || mask != c.mask {
			t.Errorf("tinit 2, tfinal 3, deltaT 2: step %d: budget %d (mask %v), want %d (%v)", c.step, got, mask, c.budget, c.mask)
		}
	}
}

// TestAdaLoRAMasksTheLeastImportant drives the allocator with constructed
// gradients: every λ is 1, P's and Q's gradients are zero, and λ's
// gradient for triplet k of layer ℓ is 3ℓ + k + 1, so the triplets rank
// 1 … 12 in layer order. Each masking keeps exactly the budget, the
// lowest-ranked first; from total − tfinal on the pattern is fixed.
func TestAdaLoRAMasksTheLeastImportant(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float32)
	a := attach(t, base, "adalora", map[string]any{"init_r": 3, "rank": 1, "tfinal": 3})
	h := a.Hooks[0].(*adaloraHook)
	if want := []string{"h.0.attn.q", "h.0.attn.v", "h.1.attn.q", "h.1.attn.v"}; !slices.Equal(h.order, want) {
		t.Fatalf("layers %v, want %v", h.order, want)
	}
	rank := map[*nn.Param]int{}
	for li, name := range h.order {
		l := h.layers[name]
		SetValues(l.e, []float64{1, 1, 1})
		rank[l.e] = 3 * li
	}
	grad := func(p *nn.Param) ([]float64, error) {
		g := make([]float64, p.Size())
		if base, ok := rank[p]; ok {
			for k := range g {
				g[k] = float64(base + k + 1)
			}
		}
		return g, nil
	}
	kept := func() (n int, lam [][]float64) {
		for _, name := range h.order {
			e := nn.Float64s(h.layers[name].e.Value)
			lam = append(lam, e)
			for _, v := range e {
				if v != 0 {
					n++
				}
			}
		}
		return n, lam
	}
	// total 10, tfinal 3: the cubic runs over 7 steps; budgets
	// 12, int(8·(6/7)³ + 4) = 9, int(8·(5/7)³ + 4) = 6, 5, 4, 4, 4, then 4.
	budgets := []int{12, 9, 6, 5, 4, 4, 4, 4}
	for s, b := range budgets {
		if _, err := h.HookStep(s, 10, grad); err != nil {
			t.Fatal(err)
		}
		n, lam := kept()
		if n != b {
			t.Errorf("step %d: %d triplets kept, budget %d (λ %v)", s, n, b, lam)
		}
		// The kept ones are the b most important: ranks 13 − b … 12.
		for li, e := range lam {
			for k, v := range e {
				if want := 3*li+k+1 > 12-b; (v != 0) != want {
					t.Errorf("step %d: layer %d triplet %d (rank %d) kept %v, want %v", s, li, k, 3*li+k+1, v != 0, want)
				}
			}
		}
		t.Logf("step %d: budget %d, λ %v", s, b, lam)
	}
	// After total − tfinal the fixed pattern re-masks λ every step.
	for _, name := range h.order {
		SetValues(h.layers[name].e, []float64{1, 1, 1})
	}
	if _, err := h.HookStep(8, 10, grad); err != nil {
		t.Fatal(err)
	}
	if n, lam := kept(); n != 4 || lam[3][0] == 0 || lam[2][1] != 0 || lam[2][2] == 0 {
		t.Errorf("step 8: %d kept (λ %v), want the 4 of the final pattern", n, lam)
	}
	want := map[string][]bool{"h.0.attn.q": {false, false, false}, "h.0.attn.v": {false, false, false},
		"h.1.attn.q": {false, false, true}, "h.1.attn.v": {true, true, true}}
	for name, keep := range h.RankPattern() {
		if !slices.Equal(keep, want[name]) {
			t.Errorf("final rank pattern %s: %v, want %v", name, keep, want[name])
		}
	}
	// A fresh fit (step 0 again) starts the scores afresh.
	if _, err := h.HookStep(0, 10, grad); err != nil || h.RankPattern() != nil {
		t.Errorf("step 0 again: pattern %v (err %v), want none", h.RankPattern(), err)
	}
	if _, err := h.HookStep(1, 0, grad); err == nil {
		t.Error("a trainer with no planned total: no error")
	}
}

// TestAdaLoRAPEFTNames: AdaLoraConfig's names set this package's; its r
// and total_step set nothing (init_r and the trainer's planned steps do).
func TestAdaLoRAPEFTNames(t *testing.T) {
	got, err := Normalize("adalora", map[string]any{"target_r": 4.0, "init_r": 6.0, "lora_alpha": 16.0, "r": 8.0,
		"total_step": 100.0, "tinit": 2.0, "tfinal": 3.0, "deltaT": 2.0, "beta1": 0.8, "beta2": 0.9, "orth_reg_weight": 0.1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"rank": 4.0, "init_r": 6.0, "alpha": 16.0, "tinit": 2.0, "tfinal": 3.0, "deltaT": 2.0,
		"beta1": 0.8, "beta2": 0.9, "orth_reg_weight": 0.1}
	if len(got) != len(want) {
		t.Fatalf("normalised %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
	if _, err := Normalize("adalora", map[string]any{"use_dora": true}); err == nil {
		t.Error("use_dora true accepted")
	}
}

// TestAdaLoRAPEFTRoundTrip trains AdaLoRA on Llama (and GPT-2's MLP, whose
// modules are not fused) until the allocator has masked, writes the
// adapter in PEFT's format and reads it back: the file holds lora_A
// [k, in], lora_E [k, 1] and lora_B [out, k] cut to each module's kept
// triplets, with peft_type ADALORA and the rank pattern; the model read
// back gives the same logits. GPT-2's fused c_attn with q and v is
// ErrNoPEFT.
func TestAdaLoRAPEFTRoundTrip(t *testing.T) {
	for _, c := range []struct {
		cfg     model.Config
		targets string
	}{{architectures[1].cfg, "q,v,fc"}, {shapeA, "fc,proj"}} {
		base := newBase(t, c.cfg, tensor.Float32)
		a := attach(t, base, "adalora", map[string]any{"init_r": 4, "rank": 2, "targets": c.targets})
		trainSteps(t, base, a, 6, 3)
		h := a.Hooks[0].(*adaloraHook)
		if h.RankPattern() == nil {
			t.Fatal("no rank pattern after 6 steps")
		}
		want := logits(t, base.Model, a.Hooks...)
		dir := filepath.Join(t.TempDir(), "adapter")
		if err := a.SavePEFT(base.Model, "test", dir); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, PEFTConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		pattern, _ := cfg["rank_pattern"].(map[string]any)
		if cfg["peft_type"] != "ADALORA" || cfg["init_r"] != 4.0 || cfg["target_r"] != 2.0 || cfg["total_step"] != 6.0 || len(pattern) != len(h.order) {
			t.Fatalf("config %v", cfg)
		}
		tensors, err := readPEFTTensors(filepath.Join(dir, PEFTWeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for _, name := range h.order {
			mod, _, _, _ := model.HFModule(base.Model, name)
			n := 0
			for _, k := range h.RankPattern()[name] {
				if k {
					n++
				}
			}
			kept += n
			in, out := linearDims(base.Model, name)
			key := "base_model.model." + mod
			for s, shape := range map[string][]int{"lora_A": {n, in}, "lora_E": {n, 1}, "lora_B": {out, n}} {
				if got := tensors[key+"."+s].Shape; !slices.Equal(got, shape) {
					t.Errorf("%s.%s: shape %v, want %v", key, s, got, shape)
				}
			}
		}
		// The last step's budget, 2 per layer: the cubic at step 5 of 6.
		if b, _ := h.alloc.budget(5, 6); kept != b {
			t.Errorf("%d triplets written, the final budget is %d", kept, b)
		}
		t.Logf("%s: %d layers, %d triplets kept of %d, rank pattern %v", c.targets, len(h.order), kept, 4*len(h.order), pattern)
		// The base model is the same seed's: the logits of the adapter read
		// back, on a fresh copy of it, are the trained ones.
		fresh := newBase(t, c.cfg, tensor.Float32)
		back, err := LoadPEFT(fresh, dir)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(want, logits(t, fresh.Model, back.Hooks...)); d > 1e-6 {
			t.Errorf("%s: logits of the adapter read back differ by %.3g", c.targets, d)
		}
		if got := back.Hooks[0].(*adaloraHook).RankPattern(); len(got) != len(h.order) {
			t.Errorf("rank pattern read back: %v", got)
		}
	}
	base := newBase(t, shapeA, tensor.Float32)
	a := attach(t, base, "adalora", nil)
	if err := a.SavePEFT(base.Model, "test", filepath.Join(t.TempDir(), "a")); !errors.Is(err, ErrNoPEFT) {
		t.Errorf("q and v on GPT-2's c_attn: %v, want ErrNoPEFT", err)
	}
}

// A module whose every triplet is masked is written with one triplet of
// λ zero (the safetensors writer holds no empty tensor), and a masked
// triplet whose λ grew again is written and marked kept: the same update,
// read back.
func TestAdaLoRAPEFTEveryTripletMasked(t *testing.T) {
	cfg := architectures[1].cfg
	base := newBase(t, cfg, tensor.Float32)
	a := attach(t, base, "adalora", map[string]any{"init_r": 4, "rank": 2, "targets": "fc"})
	perturb(a, base.Model, rand.New(rand.NewPCG(2, 2)))
	h := a.Hooks[0].(*adaloraHook)
	h.alloc.pattern = map[string][]bool{}
	for _, n := range h.order {
		h.alloc.pattern[n] = []bool{false, true, false, true}
	}
	h.alloc.pattern[h.order[0]] = []bool{false, false, false, false}
	h.alloc.maskByPattern()
	// λ regrown after the last masking on the second layer's first
	// triplet: written too, and said so in rank_pattern.
	e1 := nn.Float64s(h.layers[h.order[1]].e.Value)
	e1[0] = 0.3
	SetValues(h.layers[h.order[1]].e, e1)
	want := logits(t, base.Model, a.Hooks...)
	dir := filepath.Join(t.TempDir(), "a")
	if err := a.SavePEFT(base.Model, "test", dir); err != nil {
		t.Fatal(err)
	}
	tensors, err := readPEFTTensors(filepath.Join(dir, PEFTWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	mod, _, _, _ := model.HFModule(base.Model, h.order[0])
	if e := tensors["base_model.model."+mod+".lora_E"]; !slices.Equal(e.Shape, []int{1, 1}) || e.Values[0] != 0 {
		t.Errorf("%s.lora_E: %v %v, want one zero", mod, e.Shape, e.Values)
	}
	mod1, _, _, _ := model.HFModule(base.Model, h.order[1])
	if e := tensors["base_model.model."+mod1+".lora_E"]; !slices.Equal(e.Shape, []int{3, 1}) {
		t.Errorf("%s.lora_E: %v, want the 2 kept and the regrown one", mod1, e.Shape)
	}
	raw, err := os.ReadFile(filepath.Join(dir, PEFTConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var cfgFile struct {
		RankPattern map[string][]bool `json:"rank_pattern"`
	}
	if err := json.Unmarshal(raw, &cfgFile); err != nil {
		t.Fatal(err)
	}
	if got := cfgFile.RankPattern[mod1+".lora_E"]; !slices.Equal(got, []bool{true, true, false, true}) {
		t.Errorf("rank_pattern of %s: %v, want [true true false true]", mod1, got)
	}
	fresh := newBase(t, cfg, tensor.Float32)
	back, err := LoadPEFT(fresh, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(want, logits(t, fresh.Model, back.Hooks...)); d > 1e-6 {
		t.Errorf("logits read back differ by %.3g", d)
	}
	t.Logf("rank pattern written %v", cfgFile.RankPattern)
}
