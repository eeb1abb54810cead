package methods

import (
	"fmt"
	"image/color"
	"math/rand/v2"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// vera is VeRA, vector-based random matrix adaptation (Kopiczko, Blankevoort
// & Asano, 2024, arXiv 2310.11454): one pair of frozen random matrices
// A [r, in_max] and B [out_max, r] is shared by every adapted layer, each
// layer taking their top-left corner, and only two scaling vectors per
// layer train:
//
//	h = W₀x + Λ_b·B·Λ_d·A·x,  Λ_d = diag(d) [r], Λ_b = diag(b) [out]
//
// with d = d_initial and b = 0, so training starts from the base model
// exactly. As in HF PEFT, d belongs to a Hugging Face module: GPT-2's
// fused c_attn (q | k | v) has one d, and its parts take B's rows at their
// offsets in c_attn's output, so the adapter is PEFT's exactly. This
// package stores transposes (A [in_max, r], B [r, out_max]).
type vera struct{}

func init() { Register(vera{}) }

func (vera) Name() string { return "vera" }
func (vera) Doc() string {
	return "VeRA: shared frozen random low-rank matrices, trained scaling vectors per layer"
}

// DefaultLR: only scaling vectors train, which here, as IA3's and
// BitFit's, want rates above LoRA's; the CI sweep (spam, 256 examples)
// holds what this one learns.
func (vera) DefaultLR() float64 { return 3e-2 }

func (vera) Params() []Spec {
	return []Spec{
		{Name: "rank", Kind: Int, Default: 256, Min: 1, Max: 1 << 16, Doc: "rank r of the shared random matrices (PEFT's default 256; it may exceed the layers' widths)"},
		{Name: "d_initial", Kind: Float, Default: 0.1, Min: 0, Max: 10, Doc: "initial value of every entry of d (PEFT's d_initial)"},
		{Name: "dropout", Kind: Float, Default: 0.0, Min: 0, Max: 0.99, Doc: "dropout on the update's input while training"},
		linearTargets("q,v"),
	}
}

// veraLayer is one adapted linear layer: its corners of the shared
// matrices (frozen copies), its module's d and its own b.
type veraLayer struct {
	a, b *nn.Param // A[:in, :] [in, r], B[:, col:col+out] [r, out]
	d    *nn.Param // [r], shared by the module's layers
	lb   *nn.Param // [out]
}

type veraHook struct {
	layers  map[string]*veraLayer
	dropout float64
	seed    uint64
	// sharedA, sharedB are the shared matrices, [in_max, r] and
	// [r, out_max]; modules maps each module to its d.
	sharedA, sharedB *nn.Param
	modules          map[string]*nn.Param
	order            []string
}

func (vera) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	names, err := linearLayers(m, v.List("targets"))
	if err != nil {
		return nil, err
	}
	r := v.Int("rank")
	type place struct {
		mod      string
		col, out int
		in       int
	}
	places := map[string]place{}
	inMax, outMax := 0, 0
	for _, name := range names {
		mod, col, width, err := model.HFModule(m, name)
		if err != nil {
			return nil, err
		}
		in, out := linearDims(m, name)
		full := out
		if width > 0 {
			full = 3 * width // c_attn
		}
		places[name] = place{mod, col, out, in}
		inMax, outMax = max(inMax, in), max(outMax, full)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5e7a))
	h := &veraHook{layers: map[string]*veraLayer{}, dropout: v.Float("dropout"), seed: seed, modules: map[string]*nn.Param{}, order: names}
	// PEFT's Kaiming-uniform bounds: fan-in in_max for A [r, in_max], r for
	// B [out_max, r].
	h.sharedA, h.sharedB = newOwn(m, "vera_A", inMax, r), newOwn(m, "vera_B", r, outMax)
	uniformInit(h.sharedA, rng, inMax)
	uniformInit(h.sharedB, rng, r)
	h.sharedA.Trainable, h.sharedB.Trainable = false, false
	sa, sb := nn.Float64s(h.sharedA.Value), nn.Float64s(h.sharedB.Value)
	own := []*nn.Param{h.sharedA, h.sharedB}
	for _, name := range names {
		p := places[name]
		d := h.modules[p.mod]
		if d == nil {
			d = newOwn(m, name+".vera_lambda_d", r)
			SetValues(d, constant(r, v.Float("d_initial")))
			h.modules[p.mod] = d
			own = append(own, d)
		}
		l := &veraLayer{a: newOwn(m, name+".vera_A", p.in, r), b: newOwn(m, name+".vera_B", r, p.out), d: d,
			lb: newOwn(m, name+".vera_lambda_b", p.out)}
		l.a.Trainable, l.b.Trainable = false, false
		SetValues(l.a, sa[:p.in*r])
		corner := make([]float64, r*p.out)
		for k := range r {
			copy(corner[k*p.out:(k+1)*p.out], sb[k*outMax+p.col:k*outMax+p.col+p.out])
		}
		SetValues(l.b, corner)
		h.layers[name] = l
		own = append(own, l.lb)
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: &veraMerger{m: m, h: h}}, nil
}

func constant(n int, x float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = x
	}
	return out
}

// HookLinear adds ((dropout(x)·A ∘ d)·B) ∘ b to a targeted layer's output.
func (h *veraHook) HookLinear(c *model.Ctx, name string, x, y *model.Node) (*model.Node, error) {
	l, ok := h.layers[name]
	if !ok {
		return y, nil
	}
	g := c.Graph
	x, err := layerDropout(c, name, x, h.dropout, h.seed)
	if err != nil {
		return nil, err
	}
	xa, err := nn.MatMul(x, g.Param(l.a), false, false)
	if err != nil {
		return nil, err
	}
	if xa, err = nn.ScaleColumns(xa, g.Param(l.d)); err != nil {
		return nil, err
	}
	u, err := nn.MatMul(xa, g.Param(l.b), false, false)
	if err != nil {
		return nil, err
	}
	if u, err = nn.ScaleColumns(u, g.Param(l.lb)); err != nil {
		return nil, err
	}
	return nn.Add(y, u)
}

// veraMerger folds W += A·diag(d)·B·diag(b) into each layer and zeroes b,
// keeping copies of both so Unmerge restores them exactly.
type veraMerger struct {
	m     *model.Model
	h     *veraHook
	saved map[*nn.Param][]float64
}

func (vm *veraMerger) Merge() error {
	if vm.saved != nil {
		return fmt.Errorf("methods: vera: already merged")
	}
	vm.saved = map[*nn.Param][]float64{}
	for _, name := range vm.h.order {
		l := vm.h.layers[name]
		w := vm.m.Param(name + ".weight")
		vm.saved[w], vm.saved[l.lb] = nn.Float64s(w.Value), nn.Float64s(l.lb.Value)
		in, out := linearDims(vm.m, name)
		a, b, d, lb := nn.Float64s(l.a.Value), nn.Float64s(l.b.Value), nn.Float64s(l.d.Value), vm.saved[l.lb]
		r := len(d)
		delta := make([]float64, in*out)
		for i := range in {
			for k := range r {
				aik := a[i*r+k] * d[k]
				for j := range out {
					delta[i*out+j] += aik * b[k*out+j] * lb[j]
				}
			}
		}
		addTo(w, delta)
		SetValues(l.lb, make([]float64, out))
	}
	return nil
}

func (vm *veraMerger) Unmerge() error { return restore(&vm.saved, "vera") }

// Footprint: r per adapted module and out per adapted layer train; the
// shared matrices are frozen but held (Global). Per token each layer keeps
// x·A and x·A∘d (r wide each) and the product before b (out wide).
func (vera) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	L := a.Layers
	r := int64(v.Int("rank"))
	chosen, skipped, err := projectedTargets(a, v.List("targets"))
	if err != nil {
		return nil, err
	}
	fp := &Footprint{First: L, PerToken: make([]int64, L), Skipped: skipped}
	seen, modules := map[string]bool{}, map[string]bool{}
	var inMax, outMax int64
	for _, t := range chosen {
		fp.First = min(fp.First, t.layer)
		for _, l := range a.Linears {
			if l.Ours != t.suffix {
				continue
			}
			in, out := int64(l.In), int64(l.Out)
			fp.Added += out
			// GPT-2's q, k and v are one module, c_attn, with one d and
			// all three widths in B's rows.
			mod, full := l.Module, out
			if !a.SwiGLU && (l.Ours == "attn.q" || l.Ours == "attn.k" || l.Ours == "attn.v") {
				mod, full = "c_attn", int64(a.DModel+2*a.DKV)
			}
			if key := fmt.Sprint(t.layer, mod); !modules[key] {
				modules[key] = true
				fp.Added += r
			}
			inMax, outMax = max(inMax, in), max(outMax, full)
			fp.PerToken[t.layer] += (2*r + out) * a.AddedBytes
			if !seen[l.Module] {
				seen[l.Module] = true
				fp.Modules = append(fp.Modules, l.Module)
			}
		}
	}
	fp.Global = r * (inMax + outMax) * a.AddedBytes
	return fp, nil
}

// PEFT writes VeRA as PEFT keys it with save_projection: the shared
// base_model.vera_A [r, in_max] and base_model.vera_B [out_max, r], and
// per module vera_lambda_d [r] and vera_lambda_b [out] (c_attn's b is
// q | k | v, zero on a part not adapted).
func (vera) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	h := a.Hooks[0].(*veraHook)
	r := a.Values.Int("rank")
	tensors := map[string]PEFTTensor{}
	sa, sb := nn.Float64s(h.sharedA.Value), nn.Float64s(h.sharedB.Value)
	inMax, outMax := len(sa)/r, len(sb)/r
	tensors["base_model.vera_A"] = PEFTTensor{Shape: []int{r, inMax}, Values: transposed(sa, inMax, r)}
	tensors["base_model.vera_B"] = PEFTTensor{Shape: []int{outMax, r}, Values: transposed(sb, r, outMax)}
	var modules []string
	for _, name := range h.order {
		l := h.layers[name]
		mod, col, width, err := model.HFModule(m, name)
		if err != nil {
			return nil, nil, err
		}
		key := mod + ".vera_lambda_b"
		t, ok := tensors[key]
		if !ok {
			modules = append(modules, mod)
			full := l.lb.Size()
			if width > 0 {
				full = 3 * width
			}
			t = PEFTTensor{Shape: []int{full}, Values: make([]float64, full)}
			tensors[mod+".vera_lambda_d"] = PEFTTensor{Shape: []int{r}, Values: nn.Float64s(l.d.Value)}
		}
		copy(t.Values[col:], nn.Float64s(l.lb.Value))
		tensors[key] = t
	}
	targets, err := peftTargets(m, modules)
	if err != nil {
		return nil, nil, err
	}
	cfg := map[string]any{
		"peft_type": "VERA", "r": r, "target_modules": targets, "projection_prng_key": 0, "save_projection": true,
		"vera_dropout": a.Values.Float("dropout"), "d_initial": a.Values.Float("d_initial"),
		"fan_in_fan_out": m.Config.Family == model.GPT2, "bias": "none", "modules_to_save": nil,
		"layers_to_transform": nil, "layers_pattern": nil,
	}
	return cfg, tensors, nil
}

// transposed returns the transpose of a rows×cols row-major matrix.
func transposed(v []float64, rows, cols int) []float64 {
	out := make([]float64, len(v))
	for i := range rows {
		for j := range cols {
			out[j*rows+i] = v[i*cols+j]
		}
	}
	return out
}

// Display: bluish green's darker kin, a triangle pointing right.
func (vera) Display() display.Style {
	return display.Style{Order: 25, Color: color.RGBA{0x00, 0x4d, 0x40, 0xff}, Marker: display.TriangleRight}
}
