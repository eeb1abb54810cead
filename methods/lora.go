package methods

import (
	"fmt"
	"image/color"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// lora is LoRA (Hu et al., 2021, arXiv 2106.09685): each targeted linear
// layer W gains a low-rank update, y = x·W + b + (alpha/r)·dropout(x)·A·B,
// with A [in, r] random and B [r, out] zero so training starts from the
// base model exactly. Only A and B train. Its options: rsLoRA's scale
// alpha/√r, LoRA+'s faster learning rate for B, and the PiSSA and OLoRA
// initialisations from the base weight (lora_init.go).
type lora struct{}

func init() { Register(lora{}) }

func (lora) Name() string { return "lora" }
func (lora) Doc() string {
	return "LoRA: low-rank update B·A on targeted linear layers, scaled by alpha/r"
}

// DefaultLR is tuned on the shipped tiny model by a short probe (64 examples,
// 40 steps of 8, spam and sentiment): with B starting at zero and alpha/r =
// 2, LoRA needs rates an order above full fine-tuning to move the label
// tokens within a short run (1e-3 left every trial at the majority class).
func (lora) DefaultLR() float64 { return 1e-2 }
func (lora) Params() []Spec     { return append(loraSpecs(), loraOptions()...) }

func loraSpecs() []Spec {
	return []Spec{
		{Name: "rank", Kind: Int, Default: 8, Min: 1, Max: 4096, Doc: "rank r of the update"},
		{Name: "alpha", Kind: Float, Default: 16.0, Min: 0, Max: math.Inf(1), Doc: "scale numerator: the update is multiplied by alpha/r"},
		{Name: "dropout", Kind: Float, Default: 0.0, Min: 0, Max: 0.99, Doc: "dropout on the update's input while training"},
		linearTargets("q,v"),
	}
}

// loraOptions are LoRA's variants. They are Late (trials recorded before
// them keep their ids) and LoRA's alone: DoRA declares loraSpecs only.
func loraOptions() []Spec {
	return []Spec{
		{Name: "rslora", Kind: Bool, Default: false, Late: true,
			Doc: "rank-stabilised LoRA (Kalajdzievski, 2023, arXiv 2312.03732): scale alpha/√r instead of alpha/r"},
		{Name: "lr_ratio", Kind: Float, Default: 1.0, Min: 1, Max: 1e4, Late: true,
			Doc: "LoRA+ (Hayou et al., 2024, arXiv 2402.12354): B trains at this multiple of the learning rate (the paper suggests 16)"},
		{Name: "init", Kind: String, Default: "kaiming", Choices: loraInits, Late: true,
			Doc: "kaiming (A uniform, B zero), pissa (principal singular vectors of W) or olora (W's QR); pissa and olora move that part out of W"},
	}
}

// loraScale is the update's scale: alpha/r, or alpha/√r with rslora (a
// hyper-parameter DoRA's values do not hold).
func loraScale(v Values, r int) float64 {
	if rs, ok := v["rslora"].(bool); ok && rs {
		return v.Float("alpha") / math.Sqrt(float64(r))
	}
	return v.Float("alpha") / float64(r)
}

// loraLayer is the update of one linear layer. DoRA builds on it by
// design: its layers embed a loraLayer, made by newLoRA with LoRA's
// hyper-parameters and initialisation, and merge through addUpdate.
type loraLayer struct {
	a, b  *nn.Param
	scale float64
	// a0, b0 are the initial A and B when they came from the base weight
	// (PiSSA, OLoRA), which then lacks s·A₀·B₀; nil otherwise.
	a0, b0 []float64
}

// addUpdate adds (alpha/r)·A·B to dst, a [in, out] weight in row-major
// order, reading B from b (a saved copy, or B's values).
func (l *loraLayer) addUpdate(dst, b []float64) {
	s := l.a.Value.Shape()
	in, r := s[0], s[1]
	out := len(dst) / in
	a := nn.Float64s(l.a.Value)
	for i := range in {
		for k := range r {
			aik := a[i*r+k] * l.scale
			for j := range out {
				dst[i*out+j] += aik * b[k*out+j]
			}
		}
	}
}

// loraHook adds the updates to the outputs of their layers.
type loraHook struct {
	layers  map[string]*loraLayer
	dropout float64
	seed    uint64
}

func (lora) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	h, own, err := newLoRA(m, v, seed)
	if err != nil {
		return nil, err
	}
	names, _ := linearLayers(m, v.List("targets"))
	for _, name := range names {
		l := h.layers[name]
		if ratio := v.Float("lr_ratio"); ratio != 1 {
			l.b.LRScale = ratio
		}
		if init := v.String("init"); init != "kaiming" {
			if err := initFromWeight(m, name, l, init); err != nil {
				return nil, err
			}
		}
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: &loraMerger{m: m, h: h}}, nil
}

// newLoRA creates the A and B matrices of every targeted layer. A follows
// HF PEFT's Kaiming-uniform initialisation, U(−1/√in, 1/√in).
func newLoRA(m *model.Model, v Values, seed uint64) (*loraHook, []*nn.Param, error) {
	names, err := linearLayers(m, v.List("targets"))
	if err != nil {
		return nil, nil, err
	}
	r := v.Int("rank")
	rng := rand.New(rand.NewPCG(seed, 0x10a))
	h := &loraHook{layers: map[string]*loraLayer{}, dropout: v.Float("dropout"), seed: seed}
	var own []*nn.Param
	for _, name := range names {
		in, out := linearDims(m, name)
		if r > min(in, out) {
			return nil, nil, fmt.Errorf("field \"rank\": %d exceeds the smaller side of %s (%d×%d)", r, name, in, out)
		}
		a, b := newOwn(m, name+".lora_A", in, r), newOwn(m, name+".lora_B", r, out)
		uniformInit(a, rng, in)
		h.layers[name] = &loraLayer{a: a, b: b, scale: loraScale(v, r)}
		own = append(own, a, b)
	}
	return h, own, nil
}

func (h *loraHook) HookLinear(c *model.Ctx, name string, x, y *model.Node) (*model.Node, error) {
	l, ok := h.layers[name]
	if !ok {
		return y, nil
	}
	u, err := h.update(c, name, l, x)
	if err != nil {
		return nil, err
	}
	return nn.Add(y, u)
}

// update is (alpha/r)·dropout(x)·A·B.
func (h *loraHook) update(c *model.Ctx, name string, l *loraLayer, x *model.Node) (*model.Node, error) {
	x, err := layerDropout(c, name, x, h.dropout, h.seed)
	if err != nil {
		return nil, err
	}
	xa, err := nn.MatMul(x, c.Graph.Param(l.a), false, false)
	if err != nil {
		return nil, err
	}
	u, err := nn.MatMul(xa, c.Graph.Param(l.b), false, false)
	if err != nil {
		return nil, err
	}
	return nn.Scale(u, l.scale)
}

// loraMerger folds W += (alpha/r)·A·B into the base weights and zeroes B,
// so every forward pass already built computes the merged model. It keeps
// copies of W and B, so Unmerge restores both exactly.
type loraMerger struct {
	m     *model.Model
	h     *loraHook
	saved map[*nn.Param][]float64
}

func (lm *loraMerger) Merge() error {
	if lm.saved != nil {
		return fmt.Errorf("methods: lora: already merged")
	}
	lm.saved = map[*nn.Param][]float64{}
	for name, l := range lm.h.layers {
		w := lm.m.Param(name + ".weight")
		lm.saved[w], lm.saved[l.b] = nn.Float64s(w.Value), nn.Float64s(l.b.Value)
		in, out := linearDims(lm.m, name)
		delta := make([]float64, in*out)
		l.addUpdate(delta, lm.saved[l.b])
		addTo(w, delta)
		SetValues(l.b, make([]float64, l.b.Size()))
	}
	return nil
}

func (lm *loraMerger) Unmerge() error { return restore(&lm.saved, "lora") }

// Footprint: r·(in + out) weights per adapted linear layer, and the
// backward pass runs from the earliest adapted block. Per token each
// adapted layer keeps x·A (r wide) for B's gradient, its input cast to the
// adapter's dtype where that differs from the activations' (PEFT casts the
// input to lora_A's dtype) for A's gradient, and with dropout the dropped
// input and its mask.
func (lora) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	return loraFootprint(a, v, false)
}

// loraFootprint is LoRA's footprint, and with dora DoRA's: out more
// weights per layer (the magnitude), the base and low-rank outputs the
// magnitude's gradient needs per token, and one dense update W + s·A·B at
// a time for its column norms.
func loraFootprint(a ProjectionArch, v Values, dora bool) (*Footprint, error) {
	L, e, A := a.Layers, a.ActivationBytes, a.AddedBytes
	r := int64(v.Int("rank"))
	dropout := v.Float("dropout") > 0
	chosen, skipped, err := projectedTargets(a, v.List("targets"))
	if err != nil {
		return nil, err
	}
	fp := &Footprint{First: L, PerToken: make([]int64, L), Skipped: skipped}
	seen := map[string]bool{}
	var dense int64
	for _, t := range chosen {
		fp.First = min(fp.First, t.layer)
		for _, l := range a.Linears {
			if l.Ours != t.suffix {
				continue
			}
			in, out := int64(l.In), int64(l.Out)
			if r > min(in, out) {
				return nil, fmt.Errorf("field \"rank\": %d exceeds the smaller side of %s (%d×%d)", r, l.Module, in, out)
			}
			fp.Added += r * (in + out)
			tok := r * A // x·A, kept for B's gradient
			if A != e {
				tok += in * A // the input cast to the adapter's dtype, kept for A's gradient
			}
			if dropout {
				tok += in * (A + 1) // dropped input and its mask
			}
			if dora {
				fp.Added += out              // the magnitude
				tok += out * (e + A)         // base and low-rank outputs, for the magnitude's gradient
				dense = max(dense, in*out*A) // ‖W + s·B·A‖ materialises one dense update at a time
			}
			fp.PerToken[t.layer] += tok
			if !seen[l.Module] {
				seen[l.Module] = true
				fp.Modules = append(fp.Modules, l.Module)
			}
		}
	}
	fp.Global = dense
	return fp, nil
}

// projectedTarget is one adapted layer of a projected architecture: block
// and peftbench suffix (attn.q …).
type projectedTarget struct {
	layer  int
	suffix string
}

// projectedTargets resolves target patterns as the methods do on a model
// of the family the settings were written for (a.Source) and the
// projected depth, then maps each layer onto a's family (sameLayer). A
// pattern that names no layer at that depth (h.40.* on 32 blocks) is
// skipped and said so; none left is an error.
func projectedTargets(a ProjectionArch, patterns []string) ([]projectedTarget, []string, error) {
	to := model.GPT2
	if a.SwiGLU {
		to = model.Llama
	}
	order := model.Config{Layers: a.Layers, Family: to}
	rank := map[string]int{}
	for i := range a.Layers {
		for _, n := range order.LinearNames(i) {
			rank[n] = len(rank)
		}
	}
	chosen := map[string]bool{}
	var skipped []string
	for _, p := range patterns {
		names, err := MatchLinear(model.Config{Layers: a.Layers, Family: a.Source}, []string{p})
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		for _, name := range names {
			var i int
			fmt.Sscanf(name, "h.%d.", &i)
			for _, s := range sameLayer(strings.TrimPrefix(name, fmt.Sprintf("h.%d.", i)), a.Source, to) {
				chosen[fmt.Sprintf("h.%d.%s", i, s)] = true
			}
		}
	}
	if len(chosen) == 0 {
		return nil, nil, fmt.Errorf("field \"targets\": no target names a linear layer of %s (%s)", a.Name, strings.Join(skipped, "; "))
	}
	names := slices.SortedFunc(maps.Keys(chosen), func(x, y string) int { return rank[x] - rank[y] })
	out := make([]projectedTarget, len(names))
	for k, name := range names {
		var i int
		fmt.Sscanf(name, "h.%d.", &i)
		out[k] = projectedTarget{i, strings.TrimPrefix(name, fmt.Sprintf("h.%d.", i))}
	}
	return out, skipped, nil
}

// sameLayer maps a block's linear layer from one family's names to
// another's: attention's are shared; GPT-2's mlp.fc is Llama's gate and up
// (both read the block input), its mlp.proj Llama's down.
func sameLayer(suffix string, from, to model.Family) []string {
	if from == to || strings.HasPrefix(suffix, "attn.") {
		return []string{suffix}
	}
	if to == model.Llama {
		return map[string][]string{"mlp.fc": {"mlp.gate", "mlp.up"}, "mlp.proj": {"mlp.down"}}[suffix]
	}
	return map[string][]string{"mlp.gate": {"mlp.fc"}, "mlp.up": {"mlp.fc"}, "mlp.down": {"mlp.proj"}}[suffix]
}

// Display: blue, a circle.
func (lora) Display() display.Style {
	return display.Style{Order: 20, Color: color.RGBA{0x00, 0x72, 0xb2, 0xff}, Marker: display.Circle}
}

// PEFT writes LoRA as HF PEFT keys it: lora_A [R, in] and lora_B [out, R]
// per module. GPT-2's q, k and v are one module there (the fused c_attn):
// their updates go side by side in one lora_B, under one lora_A when
// theirs are equal (as in an adapter PEFT trained), else with their A
// stacked, ranks adding up. A module whose rank is not r is given its own
// in PEFT's rank_pattern, and its lora_alpha in alpha_pattern so that its
// scale stays the layers' (lora_alpha/R, or lora_alpha/√R with
// use_rslora). PiSSA and OLoRA adapters are written as PEFT converts them
// for the unchanged base model (save_pretrained's
// path_initial_model_for_weight_conversion): ΔW = s·(B·A − B₀·A₀) is a
// LoRA of rank 2r with A stacked over A₀ and B beside −B₀, and
// init_lora_weights true.
func (lora) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	return loraPEFT(m, a.Hooks[0].(*loraHook).layers, a.Values)
}

// loraPEFT writes the low-rank layers of LoRA, or of DoRA, which adds its
// magnitudes (v holds LoRA's options only for LoRA).
func loraPEFT(m *model.Model, layers map[string]*loraLayer, v Values) (map[string]any, map[string]PEFTTensor, error) {
	rslora, _ := v["rslora"].(bool)
	type part struct {
		a, b       []float64 // [in, re], [re, w]: the factors written
		col, width int
	}
	parts := map[string][]part{}
	var modules []string
	re := 0 // every layer's written rank
	for i := 0; i < m.Config.Layers; i++ {
		for _, name := range m.Config.LinearNames(i) {
			l, ok := layers[name]
			if !ok {
				continue
			}
			mod, col, width, err := model.HFModule(m, name)
			if err != nil {
				return nil, nil, err
			}
			if parts[mod] == nil {
				modules = append(modules, mod)
			}
			fa, fb, rank := l.peftFactors()
			re = rank
			parts[mod] = append(parts[mod], part{fa, fb, col, width})
		}
	}
	r, alpha := v.Int("rank"), v.Float("alpha")
	alphaFor := func(rank int) float64 { // lora_alpha giving the layers' scale, alpha/r or alpha/√r, at this rank
		if rslora {
			return alpha * math.Sqrt(float64(rank)/float64(r))
		}
		return alpha * float64(rank) / float64(r)
	}
	tensors := map[string]PEFTTensor{}
	ranks := map[string]int{}
	for _, mod := range modules {
		ps := parts[mod]
		in := len(ps[0].a) / re
		out := len(ps[0].b) / re
		if ps[0].width > 0 {
			out = 3 * ps[0].width // c_attn: q | k | v
		}
		shared := true
		for _, p := range ps[1:] {
			shared = shared && slices.Equal(p.a, ps[0].a)
		}
		R := re
		if !shared {
			R = re * len(ps)
		}
		la, lb := make([]float64, R*in), make([]float64, out*R)
		for k, p := range ps {
			off := 0
			if !shared {
				off = k * re
			}
			w := len(p.b) / re
			for j := range re {
				for x := range in {
					la[(off+j)*in+x] = p.a[x*re+j]
				}
				for o := range w {
					lb[(p.col+o)*R+off+j] = p.b[j*w+o]
				}
			}
		}
		tensors[mod+".lora_A.weight"] = PEFTTensor{Shape: []int{R, in}, Values: la}
		tensors[mod+".lora_B.weight"] = PEFTTensor{Shape: []int{out, R}, Values: lb}
		ranks[mod] = R
	}
	rankPattern, alphaPattern := map[string]any{}, map[string]any{}
	for key, R := range peftPatterns(modules, ranks, re) {
		rankPattern[key], alphaPattern[key] = R, alphaFor(R)
	}
	targets, err := peftTargets(m, modules)
	if err != nil {
		return nil, nil, err
	}
	cfg := map[string]any{
		"peft_type": "LORA", "r": re, "lora_alpha": alphaFor(re), "lora_dropout": v.Float("dropout"),
		"target_modules": targets, "fan_in_fan_out": m.Config.Family == model.GPT2, "bias": "none",
		"init_lora_weights": true, "use_rslora": rslora, "use_dora": false, "modules_to_save": nil,
		"layers_to_transform": nil, "layers_pattern": nil, "rank_pattern": rankPattern, "alpha_pattern": alphaPattern,
	}
	return cfg, tensors, nil
}

// peftFactors are the layer's factors as the adapter file holds them, in
// this package's layout ([in, rank], [rank, out]): A and B, or for an
// initialisation from the base weight [A | A₀] and [B ; −B₀].
func (l *loraLayer) peftFactors() (a, b []float64, rank int) {
	a, b = nn.Float64s(l.a.Value), nn.Float64s(l.b.Value)
	if l.a0 == nil {
		return a, b, l.a.Value.Shape()[1]
	}
	s := l.a.Value.Shape()
	in, r := s[0], s[1]
	out := len(b) / r
	a2, b2 := make([]float64, in*2*r), make([]float64, 2*r*out)
	for i := range in {
		copy(a2[i*2*r:], a[i*r:(i+1)*r])
		copy(a2[i*2*r+r:], l.a0[i*r:(i+1)*r])
	}
	copy(b2, b)
	for k, v := range l.b0 {
		b2[r*out+k] = -v
	}
	return a2, b2, 2 * r
}

// peftPatterns keys the modules whose rank is not r for PEFT's
// rank_pattern, which matches a key against the end of a module's path
// after a dot: by the short name peftTargets uses when every module of
// that name has the same rank, else by the module's path.
func peftPatterns(modules []string, ranks map[string]int, r int) map[string]int {
	byShort := map[string][]string{}
	for _, mod := range modules {
		byShort[peftShort(mod)] = append(byShort[peftShort(mod)], mod)
	}
	out := map[string]int{}
	for short, mods := range byShort {
		same := true
		for _, mod := range mods[1:] {
			same = same && ranks[mod] == ranks[mods[0]]
		}
		for _, mod := range mods {
			switch {
			case ranks[mod] == r:
			case same:
				out[short] = ranks[mod]
			default:
				out[mod] = ranks[mod]
			}
		}
	}
	return out
}
