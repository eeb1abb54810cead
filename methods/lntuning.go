package methods

import (
	"fmt"
	"image/color"
	"strings"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// lnTuning is LayerNorm tuning (Zhao et al., 2023, arXiv 2312.11420; HF
// PEFT's LN_TUNING): every weight stays frozen but the normalisation
// layers' gains (and, for LayerNorm, biases). It adds no weights and no
// hooks, and the model at start is the base model; the norms it trains
// are the model's own, so they are its Own parameters and its adapter
// file holds them.
type lnTuning struct{}

func init() { Register(lnTuning{}) }

func (lnTuning) Name() string { return "lntuning" }
func (lnTuning) Doc() string {
	return "LN tuning: only the LayerNorm/RMSNorm gains and biases train"
}

// DefaultLR: a gain-and-bias-only update is as small as BitFit's, and
// takes BitFit's rate.
func (lnTuning) DefaultLR() float64 { return 1e-2 }

// lnGroups are the choices of the "norms" hyper-parameter.
var lnGroups = []string{"all", "blocks", "final"}

func (lnTuning) Params() []Spec {
	return []Spec{
		{Name: "norms", Kind: String, Default: "all", Choices: lnGroups,
			Doc: "which norms train: all (every block's two and the final one), blocks (ln_1 and ln_2 of every block) or final (ln_f)"},
	}
}

func (lnTuning) Attach(base *model.Base, v Values, _ uint64) (*Attached, error) {
	m := base.Model
	own := lnParams(m, v.String("norms"))
	if len(own) == 0 {
		return nil, fmt.Errorf("field \"norms\": %q selects no norm of the model", v.String("norms"))
	}
	return trainOnly(m, own), nil
}

// lnParams returns the norms' weights and biases in the group, in model
// order.
func lnParams(m *model.Model, group string) []*nn.Param {
	var out []*nn.Param
	for _, p := range m.Params {
		final := strings.HasPrefix(p.Name, "ln_f.")
		block := strings.Contains(p.Name, ".ln_1.") || strings.Contains(p.Name, ".ln_2.")
		if (final && group != "blocks") || (block && group != "final") {
			out = append(out, p)
		}
	}
	return out
}

// Footprint: the norms' parameters; the backward pass runs through every
// block when a block's norm trains, and from the head alone otherwise.
func (lnTuning) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	per := int64(a.DModel)
	if a.Norm == "layernorm" {
		per *= 2 // gain and bias
	}
	fp := &Footprint{First: 0, Modules: []string{"norms"}}
	switch v.String("norms") {
	case "all":
		fp.TrainBase = int64(a.Layers)*2*per + per
	case "blocks":
		fp.TrainBase = int64(a.Layers) * 2 * per
	case "final":
		fp.TrainBase, fp.First = per, a.Layers
	}
	return fp, nil
}

// PEFT writes LN tuning as PEFT keys it: each tuned norm's copy under
// <module>.ln_tuning_layers (weight, and bias for LayerNorm).
func (lnTuning) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	tensors := map[string]PEFTTensor{}
	seen := map[string]bool{}
	var modules []string
	for _, p := range a.Own {
		dot := strings.LastIndex(p.Name, ".")
		mod, err := hfNorm(m, p.Name[:dot])
		if err != nil {
			return nil, nil, err
		}
		if !seen[mod] {
			seen[mod] = true
			modules = append(modules, mod)
		}
		tensors[mod+".ln_tuning_layers"+p.Name[dot:]] = PEFTTensor{Shape: []int{p.Size()}, Values: nn.Float64s(p.Value)}
	}
	cfg := map[string]any{"peft_type": "LN_TUNING", "target_modules": modules, "modules_to_save": nil}
	return cfg, tensors, nil
}

// hfNorm is a norm's Hugging Face module path: GPT-2's keep their names
// (transformer.h.0.ln_1, transformer.ln_f), Llama's are
// model.layers.0.input_layernorm, post_attention_layernorm and model.norm.
func hfNorm(m *model.Model, name string) (string, error) {
	if m.Config.Family == model.GPT2 {
		return "transformer." + name, nil
	}
	if name == "ln_f" {
		return "model.norm", nil
	}
	var i int
	var which string
	if _, err := fmt.Sscanf(name, "h.%d.%s", &i, &which); err != nil {
		return "", fmt.Errorf("no norm %q", name)
	}
	switch which {
	case "ln_1":
		return fmt.Sprintf("model.layers.%d.input_layernorm", i), nil
	case "ln_2":
		return fmt.Sprintf("model.layers.%d.post_attention_layernorm", i), nil
	}
	return "", fmt.Errorf("no norm %q", name)
}

// Display: dark red, a triangle pointing left.
func (lnTuning) Display() display.Style {
	return display.Style{Order: 65, Color: color.RGBA{0x99, 0x22, 0x22, 0xff}, Marker: display.TriangleLeft}
}
