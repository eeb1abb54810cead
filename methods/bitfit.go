package methods

import (
	"fmt"
	"strings"

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
			Doc: "which biases train: all (LayerNorm included, as in the paper), linear (the six linear layers), attention (q, k, v, o), mlp (fc, proj) or layernorm (ln_1, ln_2, ln_f)"},
	}
}

func (bitfit) Attach(base *model.Base, v Values, _ uint64) (*Attached, error) {
	m := base.Model
	own := bitfitBiases(m, v.String("biases"))
	if len(own) == 0 {
		return nil, fmt.Errorf("field \"biases\": %q selects no bias of the model", v.String("biases"))
	}
	m.SetTrainable(false)
	for _, p := range own {
		p.Trainable = true
	}
	return &Attached{Own: own}, nil
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
