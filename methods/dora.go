package methods

import (
	"fmt"
	"image/color"
	"math"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// dora is DoRA, weight-decomposed low-rank adaptation (Liu et al., 2024,
// arXiv 2402.09353). Each targeted linear layer's weight is split into a
// magnitude and a direction: the direction is the LoRA-updated weight
// V = W + (alpha/r)·A·B, normalised column by column, and a learned
// magnitude m rescales it:
//
//	y = x·V·diag(m/‖V‖) + b
//
// ‖V‖ is the L2 norm of each output column of V (weights are stored
// [in, out], so the norm runs over the input dimension). m starts at ‖W‖
// and B at zero, so training starts from the base model exactly. A, B and
// m train; the hyper-parameters and the initialisation of A and B are
// LoRA's.
//
// The norm is not detached: HF PEFT treats ‖V‖ as a constant in the
// backward pass to save memory (section 4.3 of the paper), which makes its
// gradient an approximation. Here the gradient is exact, which is what the
// finite-difference check of every method verifies.
type dora struct{}

func init() { Register(dora{}) }

func (dora) Name() string { return "dora" }
func (dora) Doc() string {
	return "DoRA: LoRA's low-rank update on the direction of targeted linear layers, plus a learned magnitude per output"
}
func (dora) DefaultLR() float64 { return lora{}.DefaultLR() }
func (dora) Params() []Spec     { return loraSpecs() }

// doraLayer is the adapted state of one linear layer. It embeds LoRA's
// layer by design: DoRA's direction is LoRA's update, with LoRA's
// hyper-parameters, initialisation (newLoRA, the same random draws for the
// same seed) and merge arithmetic (addUpdate).
type doraLayer struct {
	*loraLayer
	w, bias *nn.Param // the frozen base weight and bias
	mag     *nn.Param // m [out]
}

// doraHook computes the adapted layers from their inputs; the base output
// it is handed goes unused, so compiled programs drop it.
type doraHook struct {
	layers  map[string]*doraLayer
	order   []string // targeted layers in model order
	dropout float64
	seed    uint64
}

func (dora) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	lh, _, err := newLoRA(m, v, seed)
	if err != nil {
		return nil, err
	}
	names, err := linearLayers(m, v.List("targets"))
	if err != nil {
		return nil, err
	}
	h := &doraHook{layers: map[string]*doraLayer{}, order: names, dropout: lh.dropout, seed: lh.seed}
	var own []*nn.Param
	for _, name := range names {
		l := &doraLayer{loraLayer: lh.layers[name], w: m.Param(name + ".weight"), bias: m.Param(name + ".bias")}
		_, out := linearDims(m, name)
		// HF PEFT's name for the magnitude, so adapter files read alike.
		l.mag = newOwn(m, name+".lora_magnitude_vector", out)
		SetValues(l.mag, colNorms(l.w))
		h.layers[name] = l
		own = append(own, l.a, l.b, l.mag)
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: &doraMerger{h: h}}, nil
}

// colNorms returns the L2 norm of every column of a [in, out] parameter,
// summing squares in float64 row by row in the order nn.ColNorm does, so
// that a magnitude set from it equals the norm the graph computes bit for
// bit once both are rounded to the parameter's dtype.
func colNorms(p *nn.Param) []float64 {
	s := p.Value.Shape()
	return colNormsOf(nn.Float64s(p.Value), s[0], s[1])
}

func colNormsOf(w []float64, in, out int) []float64 {
	acc := make([]float64, out)
	for r := range in {
		for j, v := range w[r*out : (r+1)*out] {
			acc[j] += v * v
		}
	}
	for j, s := range acc {
		acc[j] = math.Sqrt(s)
	}
	return acc
}

// HookLinear returns, for a targeted layer,
//
//	y = s∘(x·W) + dropout(x)·A·((alpha/r)·B·diag(s)) + b,  s = m/‖W + (alpha/r)·A·B‖
//
// which without dropout is x·V·diag(m/‖V‖) + b. Dropout, when training,
// reaches only the input of the low-rank path, as LoRA's does; the x·W
// path stays undropped. (HF PEFT, with dropout on, adds (s−1)∘(dropout(x)·W)
// to the undropped base output instead, a mix of dropped and undropped
// inputs; the two agree whenever dropout is off.) Folding diag(s) into the
// small B keeps the low-rank path at r·out extra multiplies for the scale,
// and lets the bias ride on that path's Linear.
func (h *doraHook) HookLinear(c *model.Ctx, name string, x, y *model.Node) (*model.Node, error) {
	l, ok := h.layers[name]
	if !ok {
		return y, nil
	}
	g := c.Graph
	w, a, b := g.Param(l.w), g.Param(l.a), g.Param(l.b)
	ab, err := nn.MatMul(a, b, false, false)
	if err != nil {
		return nil, err
	}
	if ab, err = nn.Scale(ab, l.scale); err != nil {
		return nil, err
	}
	v, err := nn.Add(w, ab)
	if err != nil {
		return nil, err
	}
	norm, err := nn.ColNorm(v)
	if err != nil {
		return nil, err
	}
	s, err := nn.Div(g.Param(l.mag), norm)
	if err != nil {
		return nil, err
	}
	xw, err := nn.MatMul(x, w, false, false)
	if err != nil {
		return nil, err
	}
	if xw, err = nn.ScaleColumns(xw, s); err != nil {
		return nil, err
	}
	xd, err := layerDropout(c, name, x, h.dropout, h.seed)
	if err != nil {
		return nil, err
	}
	xa, err := nn.MatMul(xd, a, false, false)
	if err != nil {
		return nil, err
	}
	bs, err := nn.Scale(b, l.scale)
	if err != nil {
		return nil, err
	}
	if bs, err = nn.ScaleColumns(bs, s); err != nil {
		return nil, err
	}
	var u *model.Node
	if l.bias != nil {
		u, err = nn.Linear(xa, bs, g.Param(l.bias))
	} else { // Llama's layers have no bias
		u, err = nn.MatMul(xa, bs, false, false)
	}
	if err != nil {
		return nil, err
	}
	return nn.Add(xw, u)
}

// doraMerger folds each adapted layer into its base weight,
// W := V·diag(m/‖V‖), and makes the hook inert without removing it: B is
// zeroed, so the hook's V is the merged W, and m is set to the column
// norms of the merged W as the graph computes them, so m/‖V‖ is exactly
// one and the hook computes x·W + b. Programs already compiled therefore
// stay correct. It keeps copies of W, B and m, so Unmerge restores all
// three exactly.
type doraMerger struct {
	h     *doraHook
	saved map[*nn.Param][]float64
}

func (dm *doraMerger) Merge() error {
	if dm.saved != nil {
		return fmt.Errorf("methods: dora: already merged")
	}
	// Compute every merged weight before touching any, so that a failure
	// leaves the model as it was.
	merged := map[string][]float64{}
	for _, name := range dm.h.order {
		l := dm.h.layers[name]
		wv, err := doraMergedWeight(l)
		if err != nil {
			return fmt.Errorf("methods: dora: %s: %w", name, err)
		}
		merged[name] = wv
	}
	dm.saved = map[*nn.Param][]float64{}
	for _, name := range dm.h.order {
		l := dm.h.layers[name]
		for _, p := range []*nn.Param{l.w, l.b, l.mag} {
			dm.saved[p] = nn.Float64s(p.Value)
		}
		SetValues(l.w, merged[name])
		SetValues(l.b, make([]float64, l.b.Size()))
		// Norms of W as stored (after rounding to its dtype).
		SetValues(l.mag, colNorms(l.w))
	}
	return nil
}

func (dm *doraMerger) Unmerge() error { return restore(&dm.saved, "dora") }

// doraMergedWeight is V·diag(m/‖V‖) with V = W + (alpha/r)·A·B, in
// float64.
func doraMergedWeight(l *doraLayer) ([]float64, error) {
	s := l.w.Value.Shape()
	in, out := s[0], s[1]
	v := nn.Float64s(l.w.Value)
	l.addUpdate(v, nn.Float64s(l.b.Value))
	norms := colNormsOf(v, in, out)
	m := nn.Float64s(l.mag.Value)
	for j, n := range norms {
		if n == 0 {
			return nil, fmt.Errorf("column %d of the adapted weight has zero norm", j)
		}
		norms[j] = m[j] / n
	}
	for i := range in {
		for j := range out {
			v[i*out+j] *= norms[j]
		}
	}
	return v, nil
}

// PEFT writes DoRA as PEFT keys it: LoRA's tensors and config with
// use_dora, and per module lora_magnitude_vector [out]. GPT-2's c_attn has
// one magnitude over q | k | v; a part not adapted gets its base weight's
// column norms, which leave it as it is (its B is zero).
func (dora) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	h := a.Hooks[0].(*doraHook)
	low := map[string]*loraLayer{}
	for name, l := range h.layers {
		low[name] = l.loraLayer
	}
	cfg, tensors, err := loraPEFT(m, low, a.Values)
	if err != nil {
		return nil, nil, err
	}
	cfg["use_dora"] = true
	for i := range m.Config.Layers {
		for _, name := range m.Config.LinearNames(i) {
			mod, col, _, err := model.HFModule(m, name)
			if err != nil {
				return nil, nil, err
			}
			if _, adapted := tensors[mod+".lora_A.weight"]; !adapted {
				continue
			}
			key := mod + ".lora_magnitude_vector"
			t, ok := tensors[key]
			if !ok {
				n := tensors[mod+".lora_B.weight"].Shape[0]
				t = PEFTTensor{Shape: []int{n}, Values: make([]float64, n)}
			}
			mag := colNorms(m.Param(name + ".weight"))
			if l, ok := h.layers[name]; ok {
				mag = nn.Float64s(l.mag.Value)
			}
			copy(t.Values[col:], mag)
			tensors[key] = t
		}
	}
	return cfg, tensors, nil
}

// Footprint is LoRA's, plus the magnitude and what its gradient keeps
// (loraFootprint).
func (dora) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	return loraFootprint(a, v, true)
}

// Display: sky blue, a diamond.
func (dora) Display() display.Style {
	return display.Style{Order: 30, Color: color.RGBA{0x56, 0xb4, 0xe9, 0xff}, Marker: display.Diamond}
}
