package methods

import (
	"fmt"
	"image/color"
	"slices"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// ia3 is IA3, "infused adapter by inhibiting and amplifying inner
// activations" (Liu et al., 2022, arXiv 2205.05638): learned vectors
// rescale the attention keys and values and the MLP's hidden activation,
//
//	k = l_k ∘ (x·W_k + b_k),  v = l_v ∘ (x·W_v + b_v),  mlp = (l_ff ∘ gelu(x·W_fc + b_fc))·W_proj + b_proj
//
// with every scale starting at one, so training starts from the base model
// exactly. Only the scales train: d_model each for k and v and d_ff for ff,
// per layer.
type ia3 struct{}

func init() { Register(ia3{}) }

func (ia3) Name() string { return "ia3" }
func (ia3) Doc() string {
	return "IA3: learned scales on attention keys and values and on the MLP activation"
}

// DefaultLR is tuned on the shipped tiny model by a short probe (64 examples,
// 40 steps of 8, spam and sentiment): IA3 trains scales around one whose
// effect is multiplicative and small; 3e-2 moved the loss slowly in 40 steps.
func (ia3) DefaultLR() float64 { return 1e-1 }

func (ia3) Params() []Spec {
	return []Spec{{Name: "targets", Kind: List, Default: "k,v,ff", Choices: []string{"k", "v", "ff"},
		Doc: "what to rescale: k and v, the attention keys and values (the output of attn.k, attn.v); ff, the MLP activation (the input of mlp.proj)"}}
}

// ia3Scale is one learned vector and the base layer it folds into.
type ia3Scale struct {
	l       *nn.Param // the scales
	w, bias *nn.Param
	input   bool // scales the layer's input (ff) rather than its output (k, v)
}

// ia3Hook rescales the outputs of k and v and the input of mlp.proj.
type ia3Hook struct {
	scales map[string]*ia3Scale // by linear layer name
	order  []string
}

func (ia3) Attach(base *model.Base, v Values, _ uint64) (*Attached, error) {
	m := base.Model
	want := map[string]bool{}
	for _, t := range v.List("targets") {
		want[t] = true
	}
	h := &ia3Hook{scales: map[string]*ia3Scale{}}
	var own []*nn.Param
	for i := 0; i < m.Config.Layers; i++ {
		for _, t := range []struct{ key, name string }{{"k", fmt.Sprintf("h.%d.attn.k", i)}, {"v", fmt.Sprintf("h.%d.attn.v", i)}, {"ff", m.Config.MLPOut(i)}} {
			if !want[t.key] {
				continue
			}
			name := t.name
			in, out := linearDims(m, name)
			s := &ia3Scale{w: m.Param(name + ".weight"), bias: m.Param(name + ".bias"), input: t.key == "ff"}
			n := out
			if s.input {
				n = in
			}
			// HF PEFT's name for the vector.
			s.l = newOwn(m, name+".ia3_l", n)
			SetValues(s.l, ones(n))
			h.scales[name] = s
			h.order = append(h.order, name)
			own = append(own, s.l)
		}
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: &ia3Merger{h: h}}, nil
}

// HookLinear rescales the output of k and v, bias included, as HF PEFT
// does.
func (h *ia3Hook) HookLinear(c *model.Ctx, name string, _, y *model.Node) (*model.Node, error) {
	s, ok := h.scales[name]
	if !ok || s.input {
		return y, nil
	}
	return nn.ScaleColumns(y, c.Graph.Param(s.l))
}

// HookLinearInput rescales the input of mlp.proj, the MLP's activation.
func (h *ia3Hook) HookLinearInput(c *model.Ctx, name string, x *model.Node) (*model.Node, error) {
	s, ok := h.scales[name]
	if !ok || !s.input {
		return x, nil
	}
	return nn.ScaleColumns(x, c.Graph.Param(s.l))
}

// ia3Merger folds the scales into the base weights, l ∘ (x·W + b) =
// x·(W·diag(l)) + l∘b for k and v, and (l ∘ x)·W = x·(diag(l)·W) for ff,
// then sets the scales to one so the hooks, and programs already
// compiled, compute the merged layers. It keeps copies of the weights,
// biases and scales it changes, so Unmerge restores them exactly.
type ia3Merger struct {
	h     *ia3Hook
	saved map[*nn.Param][]float64
}

func (im *ia3Merger) Merge() error {
	if im.saved != nil {
		return fmt.Errorf("methods: ia3: already merged")
	}
	im.saved = map[*nn.Param][]float64{}
	for _, name := range im.h.order {
		s := im.h.scales[name]
		l := nn.Float64s(s.l.Value)
		shape := s.w.Value.Shape()
		in, out := shape[0], shape[1]
		w := nn.Float64s(s.w.Value)
		im.saved[s.w], im.saved[s.l] = append([]float64(nil), w...), l
		for i := range in {
			for j := range out {
				if s.input {
					w[i*out+j] *= l[i] // row i of W meets input feature i
				} else {
					w[i*out+j] *= l[j]
				}
			}
		}
		SetValues(s.w, w)
		if !s.input && s.bias != nil {
			b := nn.Float64s(s.bias.Value)
			im.saved[s.bias] = append([]float64(nil), b...)
			for j := range b {
				b[j] *= l[j]
			}
			SetValues(s.bias, b)
		}
		SetValues(s.l, ones(len(l)))
	}
	return nil
}

func (im *ia3Merger) Unmerge() error { return restore(&im.saved, "ia3") }

// Footprint: layers·(2·d_kv + d_ff) weights for k, v and ff (ff scales
// the input of mlp.proj, Llama's down_proj); every block keeps the tensor
// each scale multiplies.
func (ia3) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	fp := &Footprint{PerToken: make([]int64, a.Layers)}
	var per int64
	for _, t := range v.List("targets") {
		switch t {
		case "k", "v":
			per += int64(a.DKV)
			fp.Modules = append(fp.Modules, map[bool]string{true: t + "_proj output", false: "attn." + t + " output"}[a.SwiGLU])
		case "ff":
			per += int64(a.DFF)
			fp.Modules = append(fp.Modules, map[bool]string{true: "down_proj input", false: "mlp.proj input"}[a.SwiGLU])
		}
	}
	fp.Added = int64(a.Layers) * per
	for i := range fp.PerToken {
		fp.PerToken[i] = per * a.ActivationBytes // the tensor each scale multiplies
	}
	return fp, nil
}

// Display: bluish green, an upward triangle.
func (ia3) Display() display.Style {
	return display.Style{Order: 50, Color: color.RGBA{0x00, 0x9e, 0x73, 0xff}, Marker: display.TriangleUp}
}

// PEFT writes IA3 as HF PEFT keys it: one ia3_l per adapted module,
// [out, 1] where it scales the module's output (k, v) and [1, in] where it
// scales its input (ff, listed in feedforward_modules). GPT-2's k and v
// live in the fused c_attn, whose vector covers q | k | v: ones where a
// part is not scaled, which leaves that part's outputs, bias included,
// exactly as they were.
func (ia3) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	h := a.Hooks[0].(*ia3Hook)
	type vector struct {
		vals  []float64
		input bool
	}
	vecs := map[string]*vector{}
	var modules, ffModules []string
	for _, name := range h.order {
		s := h.scales[name]
		l := nn.Float64s(s.l.Value)
		mod, col, width, err := model.HFModule(m, name)
		if err != nil {
			return nil, nil, err
		}
		v := vecs[mod]
		if v == nil {
			n := len(l)
			if width > 0 {
				n = 3 * width // c_attn: q | k | v
			}
			v = &vector{vals: ones(n), input: s.input}
			vecs[mod] = v
			modules = append(modules, mod)
			if s.input {
				ffModules = append(ffModules, mod)
			}
		}
		copy(v.vals[col:col+len(l)], l)
	}
	tensors := map[string]PEFTTensor{}
	for mod, v := range vecs {
		shape := []int{len(v.vals), 1}
		if v.input {
			shape = []int{1, len(v.vals)}
		}
		tensors[mod+".ia3_l.weight"] = PEFTTensor{Shape: shape, Values: v.vals}
	}
	targets, err := peftTargets(m, modules)
	if err != nil {
		return nil, nil, err
	}
	// feedforward_modules must be a subset of target_modules, name for
	// name, and never null: PEFT fills a null one with its defaults for
	// the architecture (GPT-2's mlp.c_proj, Llama's down_proj) and would
	// scale the MLP's input even where only k and v were adapted.
	ff := []string{}
	if len(ffModules) > 0 {
		if ff, err = peftTargets(m, ffModules); err != nil {
			return nil, nil, err
		}
		if !subset(ff, targets) {
			ff = slices.Sorted(slices.Values(ffModules))
		}
	}
	cfg := map[string]any{
		"peft_type": "IA3", "target_modules": targets, "feedforward_modules": ff,
		"fan_in_fan_out": m.Config.Family == model.GPT2, "init_ia3_weights": true, "modules_to_save": nil,
	}
	return cfg, tensors, nil
}

// subset says whether every name of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
