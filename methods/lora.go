package methods

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// lora is LoRA (Hu et al., 2021, arXiv 2106.09685): each targeted linear
// layer W gains a low-rank update, y = x·W + b + (alpha/r)·dropout(x)·A·B,
// with A [in, r] random and B [r, out] zero so training starts from the
// base model exactly. Only A and B train.
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
func (lora) Params() []Spec     { return loraSpecs() }

func loraSpecs() []Spec {
	return []Spec{
		{Name: "rank", Kind: Int, Default: 8, Min: 1, Max: 4096, Doc: "rank r of the update"},
		{Name: "alpha", Kind: Float, Default: 16.0, Min: 0, Max: math.Inf(1), Doc: "scale numerator: the update is multiplied by alpha/r"},
		{Name: "dropout", Kind: Float, Default: 0.0, Min: 0, Max: 0.99, Doc: "dropout on the update's input while training"},
		linearTargets("q,v"),
	}
}

// loraLayer is the update of one linear layer.
type loraLayer struct {
	a, b  *nn.Param
	scale float64
}

// loraHook adds the updates to the outputs of their layers.
type loraHook struct {
	layers  map[string]*loraLayer
	dropout float64
	seed    uint64
}

func (lora) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	h, own, err := newLoRA(base.Model, v, seed)
	if err != nil {
		return nil, err
	}
	base.Model.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: &loraMerger{m: base.Model, h: h}}, nil
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
		bound := 1 / math.Sqrt(float64(in))
		for i := range a.Size() {
			a.Value.Set(i, cast(a, (2*rng.Float64()-1)*bound))
		}
		h.layers[name] = &loraLayer{a: a, b: b, scale: v.Float("alpha") / float64(r)}
		own = append(own, a, b)
	}
	return h, own, nil
}

// cast converts x to the parameter's element type for tensor.Set.
func cast(p *nn.Param, x float64) any {
	if p.Value.Dtype() == tensor.Float64 {
		return x
	}
	return float32(x)
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
	var err error
	if h.dropout > 0 && c.Graph.Training {
		if x, err = nn.Dropout(x, h.dropout, h.seed^hashName(name)); err != nil {
			return nil, err
		}
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

// hashName gives each layer its own dropout stream.
func hashName(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
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
		r := l.a.Value.Shape()[1]
		a, b := nn.Float64s(l.a.Value), lm.saved[l.b]
		delta := make([]float64, in*out)
		for i := range in {
			for k := range r {
				aik := a[i*r+k] * l.scale
				for j := range out {
					delta[i*out+j] += aik * b[k*out+j]
				}
			}
		}
		addTo(w, delta)
		setAll(l.b, make([]float64, r*out))
	}
	return nil
}

func (lm *loraMerger) Unmerge() error { return restore(&lm.saved, "lora") }

// restore puts saved parameter values back, as every merger's Unmerge does.
func restore(saved *map[*nn.Param][]float64, method string) error {
	if *saved == nil {
		return fmt.Errorf("methods: %s: not merged", method)
	}
	for p, vals := range *saved {
		setAll(p, vals)
	}
	*saved = nil
	return nil
}

// addTo adds delta to a parameter's values.
func addTo(p *nn.Param, delta []float64) {
	switch d := p.Value.Data().(type) {
	case []float32:
		for i := range d {
			d[i] += float32(delta[i])
		}
	case []float64:
		for i := range d {
			d[i] += delta[i]
		}
	}
}

// setAll overwrites a parameter's values.
func setAll(p *nn.Param, vals []float64) {
	switch d := p.Value.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(vals[i])
		}
	case []float64:
		copy(d, vals)
	}
}
