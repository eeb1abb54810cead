package methods

import (
	"fmt"
	"image/color"
	"strings"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// bitfit is BitFit (Ben Zaken, Ravfogel & Goldberg, 2022, arXiv
// 2106.10199): every weight matrix stays frozen and only bias terms train.
// It adds no weights and no hooks; the biases it trains are the model's
// own, so they are its Own parameters and its adapter file holds them.
type bitfit struct{}

func init() { Register(bitfit{}) }

func (bitfit) Name() string { return "bitfit" }
func (bitfit) Doc() string {
	return "BitFit: only bias terms train (all, linear, attention, mlp or layernorm biases)"
}

// DefaultLR is tuned on the shipped tiny model by a short probe (64 examples,
// 40 steps of 8, spam and sentiment): a bias-only update is tiny, so BitFit
// needs rates well above full fine-tuning (as the paper also trains it).
func (bitfit) DefaultLR() float64 { return 1e-2 }

// bitfitGroups are the choices of the "biases" hyper-parameter.
var bitfitGroups = []string{"all", "linear", "attention", "mlp", "layernorm"}

func (bitfit) Params() []Spec {
	return []Spec{
		{Name: "biases", Kind: String, Default: "all", Choices: bitfitGroups,
			Doc: "which biases train: all (LayerNorm included, as in the paper), linear (every linear layer), attention (q, k, v, o), mlp (fc, proj; Llama has none) or layernorm (ln_1, ln_2, ln_f; not RMSNorm, which has no bias)"},
	}
}

func (bitfit) Attach(base *model.Base, v Values, _ uint64) (*Attached, error) {
	m := base.Model
	own := bitfitBiases(m, v.String("biases"))
	if len(bitfitBiases(m, "all")) == 0 {
		return nil, fmt.Errorf("bitfit: the model has no biases to train (%s family: no biases in its linear layers or norms)", m.Config.Family)
	}
	if len(own) == 0 {
		return nil, fmt.Errorf("field \"biases\": %q selects no bias of the model", v.String("biases"))
	}
	return trainOnly(m, own), nil
}

// trainOnly freezes every model weight but own, which then trains: the
// methods that tune a subset of the base (BitFit, LN tuning).
func trainOnly(m *model.Model, own []*nn.Param) *Attached {
	m.SetTrainable(false)
	for _, p := range own {
		p.Trainable = true
	}
	return &Attached{Own: own}
}

// bitfitBiases returns the model's bias parameters in the group, in model
// order.
func bitfitBiases(m *model.Model, group string) []*nn.Param {
	var out []*nn.Param
	for _, p := range m.Params {
		if !strings.HasSuffix(p.Name, ".bias") {
			continue
		}
		kind := bitfitKind(p.Name)
		ok := false
		switch group {
		case "all":
			ok = true
		case "linear":
			ok = kind == "attention" || kind == "mlp"
		default:
			ok = kind == group
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// bitfitKind classifies a bias by the layer it belongs to: "attention"
// (h.i.attn.*), "mlp" (h.i.mlp.*) or "layernorm" (h.i.ln_1, h.i.ln_2,
// ln_f).
func bitfitKind(name string) string {
	switch {
	case strings.Contains(name, ".attn."):
		return "attention"
	case strings.Contains(name, ".mlp."):
		return "mlp"
	case strings.HasPrefix(name, "ln_") || strings.Contains(name, ".ln_"):
		return "layernorm"
	}
	return ""
}

// Footprint: the bias terms of the group that the architecture has (Llama
// has none); the backward pass runs through every block that holds one.
func (bitfit) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	group := v.String("biases")
	first, n := projectedBiases(a, group)
	fp := &Footprint{TrainBase: n, First: first, Modules: []string{group + " biases"}}
	if n == 0 {
		fp.Modules = nil
		fp.Notes = append(fp.Notes, fmt.Sprintf("bitfit: %s has no %s bias terms (linear layers without biases, %s without a bias), so BitFit trains nothing here", a.Name, group, a.Norm))
	} else if !a.Bias || a.Norm != "layernorm" {
		fp.Notes = append(fp.Notes, fmt.Sprintf("bitfit: %s lacks some bias terms; BitFit trains only those that exist", a.Name))
	}
	return fp, nil
}

// projectedBiases counts the bias terms of a group on a projected
// architecture and the earliest block holding one (Layers when only the
// final norm's).
func projectedBiases(a ProjectionArch, group string) (first int, n int64) {
	d, f, dkv := int64(a.DModel), int64(a.DFF), int64(a.DKV)
	var attn, mlp, norm int64
	if a.Bias {
		attn = 2*d + 2*dkv
		mlp = f + d
		if a.SwiGLU {
			mlp = 2*f + d
		}
	}
	if a.Norm == "layernorm" {
		norm = 2 * d
	}
	var perLayer, final int64
	switch group {
	case "all":
		perLayer, final = attn+mlp+norm, norm/2
	case "linear":
		perLayer = attn + mlp
	case "attention":
		perLayer = attn
	case "mlp":
		perLayer = mlp
	case "layernorm":
		perLayer, final = norm, norm/2
	}
	n = int64(a.Layers)*perLayer + final
	switch {
	case perLayer > 0:
		first = 0
	default:
		first = a.Layers
	}
	return first, n
}

// Display: reddish purple, a hexagon.
func (bitfit) Display() display.Style {
	return display.Style{Order: 60, Color: color.RGBA{0xcc, 0x79, 0xa7, 0xff}, Marker: display.Hexagon}
}
