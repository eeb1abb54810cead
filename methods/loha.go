package methods

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// loha is LoHa, the low-rank Hadamard product of LyCORIS (Yeh et al.,
// 2024, arXiv 2309.14859; from FedPara, Hyeon-Woo et al., 2022, arXiv
// 2108.06098) as HF PEFT's LoHaConfig defines it for linear layers: each
// targeted layer gains a dense update
//
//	ΔW = ((W1a·W1b) ∘ (W2a·W2b))·alpha/r,  W1a, W2a [out, r], W1b, W2b [r, in]
//
// in PEFT's [out, in] layout, so y = x·W + b + x·ΔWᵀ. Two rank-r factors
// multiplied element-wise reach rank r², for the parameters of a rank-2r
// LoRA. As in PEFT's reset_adapter_parameters, W1a, W1b and W2a are
// Kaiming-uniform (PyTorch's a = √5: U(±1/√fan_in), fan_in the second
// dimension) and W2b is zero, so training starts from the base model
// exactly. The factors are stored in PEFT's layout, as its file holds
// them. PEFT's rank_dropout and module_dropout are not offered (both 0,
// its default).
type loha struct{}

func init() { Register(loha{}) }

func (loha) Name() string { return "loha" }
func (loha) Doc() string {
	return "LoHa: Hadamard product of two low-rank products added to targeted linear layers, scaled by alpha/r"
}

// DefaultLR is chosen by a probe on the shipped model with the CI sweep's
// settings (spam, 256 examples, 5 epochs of 8, one seed) on validation
// accuracy: 0.875, 0.935, 0.935 and 0.745 at 3e-3, 1e-2, 3e-2 and 1e-1;
// of the tied pair the one further from where training breaks down.
func (loha) DefaultLR() float64 { return 1e-2 }

func (loha) Params() []Spec {
	return []Spec{
		{Name: "rank", Kind: Int, Default: 8, Min: 1, Max: 4096, Doc: "rank r of each of the two factors (PEFT's r)"},
		{Name: "alpha", Kind: Float, Default: 8.0, Min: 0, Max: math.Inf(1), Doc: "scale numerator: the update is multiplied by alpha/r (PEFT's default 8)"},
		linearTargets("q,v"),
	}
}

// lohaLayer is one adapted layer's factors, in PEFT's layout.
type lohaLayer struct {
	w1a, w1b, w2a, w2b *nn.Param
	scale              float64
}

// delta is ΔW [out, in], row-major, from the factors' current values.
func (l *lohaLayer) delta() []float64 {
	p1, p2 := factorValues(nil, l.w1a, l.w1b), factorValues(nil, l.w2a, l.w2b)
	for i := range p1 {
		p1[i] *= p2[i] * l.scale
	}
	return p1
}

type lohaHook struct {
	layers map[string]*lohaLayer
	order  []string
}

func (loha) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	names, err := linearLayers(m, v.List("targets"))
	if err != nil {
		return nil, err
	}
	r := v.Int("rank")
	rng := rand.New(rand.NewPCG(seed, 0x10ad))
	h := &lohaHook{layers: map[string]*lohaLayer{}, order: names}
	var own []*nn.Param
	for _, name := range names {
		in, out := linearDims(m, name)
		l := &lohaLayer{
			w1a: newOwn(m, name+".hada_w1_a", out, r), w1b: newOwn(m, name+".hada_w1_b", r, in),
			w2a: newOwn(m, name+".hada_w2_a", out, r), w2b: newOwn(m, name+".hada_w2_b", r, in),
			scale: v.Float("alpha") / float64(r),
		}
		// PEFT's order; W2b stays zero.
		uniformInit(l.w1a, rng, r)
		uniformInit(l.w1b, rng, in)
		uniformInit(l.w2a, rng, r)
		h.layers[name] = l
		own = append(own, l.w1a, l.w1b, l.w2a, l.w2b)
	}
	m.SetTrainable(false)
	mg := &deltaMerger{m: m, method: "loha", order: names,
		delta: func(name string) []float64 { return h.layers[name].delta() },
		zero:  func(name string) *nn.Param { return h.layers[name].w2b }}
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: mg}, nil
}

// HookLinear adds x·ΔWᵀ, ΔW built densely once per graph: the two
// products are [out, in] each, and their gradients need both.
func (h *lohaHook) HookLinear(c *model.Ctx, name string, x, y *model.Node) (*model.Node, error) {
	l, ok := h.layers[name]
	if !ok {
		return y, nil
	}
	g := c.Graph
	p1, err := nn.MatMul(g.Param(l.w1a), g.Param(l.w1b), false, false)
	if err != nil {
		return nil, err
	}
	p2, err := nn.MatMul(g.Param(l.w2a), g.Param(l.w2b), false, false)
	if err != nil {
		return nil, err
	}
	return addProductUpdate(x, y, p1, p2, l.scale)
}

// Footprint: 2r·(in + out) weights per adapted layer. Per token only the
// input cast to the adapter's dtype where that differs from the
// activations' (ΔW's gradient reads the input, as LoRA's A's does). What
// the batch does not change dominates: PEFT builds ΔW densely, and the
// input's gradient keeps each adapted layer's ΔW until the backward pass
// reaches it (in·out per layer, all held at the peak), and building one
// takes its two rank-r products beside it.
func (loha) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	r := int64(v.Int("rank"))
	return denseFootprint(a, v, func(in, out int64) (int64, int64) { return 2 * r * (in + out), 2 })
}

// denseFootprint is the footprint of a method whose update is a dense ΔW
// per adapted layer (LoHa, LoKr): per gives a layer's weights and how many
// [out, in] temporaries building its ΔW takes.
func denseFootprint(a ProjectionArch, v Values, per func(in, out int64) (weights, temps int64)) (*Footprint, error) {
	L, e, A := a.Layers, a.ActivationBytes, a.AddedBytes
	chosen, skipped, err := projectedTargets(a, v.List("targets"))
	if err != nil {
		return nil, err
	}
	fp := &Footprint{First: L, PerToken: make([]int64, L), Skipped: skipped}
	seen := map[string]bool{}
	var kept, temp int64
	for _, t := range chosen {
		fp.First = min(fp.First, t.layer)
		for _, l := range a.Linears {
			if l.Ours != t.suffix {
				continue
			}
			in, out := int64(l.In), int64(l.Out)
			w, temps := per(in, out)
			fp.Added += w
			if A != e {
				fp.PerToken[t.layer] += in * A // the input cast to the adapter's dtype
			}
			kept += in * out * A
			temp = max(temp, temps*in*out*A)
			if !seen[l.Module] {
				seen[l.Module] = true
				fp.Modules = append(fp.Modules, l.Module)
			}
		}
	}
	fp.Global = kept + temp
	fp.Notes = append(fp.Notes, "every adapted layer's dense update is kept for the backward pass, as PEFT's F.linear keeps it")
	return fp, nil
}

// Display: reddish purple's darker kin, an open circle (LoRA's circle, hollow).
func (loha) Display() display.Style {
	return display.Style{Order: 26, Color: color.RGBA{0x88, 0x2e, 0x72, 0xff}, Marker: display.OpenCircle}
}

// errLycorisGPT2 says why GPT-2's layers have no PEFT LoHa or LoKr file:
// PEFT's LyCORIS tuners wrap torch's Linear and Conv layers, not
// transformers' Conv1D.
var errLycorisGPT2 = fmt.Errorf("%w for GPT-2: PEFT's LoHa and LoKr wrap torch.nn.Linear, not the Conv1D modules of GPT-2", ErrNoPEFT)

// PEFT writes LoHa as HF PEFT keys it: hada_w1_a, hada_w1_b, hada_w2_a
// and hada_w2_b per module, as stored. Llama's family only (errLycorisGPT2).
func (loha) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	if m.Config.Family != model.Llama {
		return nil, nil, errLycorisGPT2
	}
	h := a.Hooks[0].(*lohaHook)
	tensors := map[string]PEFTTensor{}
	var modules []string
	for _, name := range h.order {
		mod, _, _, err := model.HFModule(m, name)
		if err != nil {
			return nil, nil, err
		}
		modules = append(modules, mod)
		l := h.layers[name]
		for key, p := range map[string]*nn.Param{"hada_w1_a": l.w1a, "hada_w1_b": l.w1b, "hada_w2_a": l.w2a, "hada_w2_b": l.w2b} {
			tensors[mod+"."+key] = PEFTTensor{Shape: p.Value.Shape().Clone(), Values: nn.Float64s(p.Value)}
		}
	}
	targets, err := peftTargets(m, modules)
	if err != nil {
		return nil, nil, err
	}
	cfg := lycorisConfig("LOHA", a.Values, targets)
	return cfg, tensors, nil
}

// lycorisConfig holds the fields LoHaConfig and LoKrConfig share, at the
// values this package trains with.
func lycorisConfig(typ string, v Values, targets []string) map[string]any {
	return map[string]any{
		"peft_type": typ, "r": v.Int("rank"), "alpha": v.Float("alpha"), "rank_dropout": 0.0, "module_dropout": 0.0,
		"use_effective_conv2d": false, "target_modules": targets, "exclude_modules": nil, "init_weights": true,
		"layers_to_transform": nil, "layers_pattern": nil, "rank_pattern": map[string]any{}, "alpha_pattern": map[string]any{},
		"modules_to_save": nil,
	}
}
