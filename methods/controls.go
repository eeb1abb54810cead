package methods

import (
	"fmt"
	"image/color"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// The controls a sweep adds beside the methods (display.ZeroShot,
// display.Scratch): they answer whether a method learnt anything from the
// base model at all. What each is (its role, and scratch's method) is
// declared in package display, where readers of results find it.

// zeroShot trains nothing: the base model ranks the labels as shipped.
type zeroShot struct{}

// scratch is full fine-tuning of the same architecture after replacing
// every weight with a fresh random initialisation (the model's own, seeded
// by the trial), at full fine-tuning's learning rate: the same budget
// without pre-training.
type scratch struct{}

func init() {
	Register(zeroShot{})
	Register(scratch{})
}

func (zeroShot) Name() string       { return display.ZeroShot }
func (zeroShot) Doc() string        { return "control: the base model with no training" }
func (zeroShot) Params() []Spec     { return nil }
func (zeroShot) DefaultLR() float64 { return 0 }

func (zeroShot) Attach(base *model.Base, _ Values, _ uint64) (*Attached, error) {
	base.Model.SetTrainable(false)
	return &Attached{}, nil
}

func (scratch) Name() string { return display.Scratch }
func (scratch) Doc() string {
	return "control: full fine-tuning from a random initialisation (no pre-training)"
}
func (scratch) Params() []Spec     { return nil }
func (scratch) DefaultLR() float64 { return full{}.DefaultLR() }

func (scratch) Attach(base *model.Base, _ Values, seed uint64) (*Attached, error) {
	m := base.Model
	fresh, err := model.New(m.Config, m.Params[0].Value.Dtype(), seed)
	if err != nil {
		return nil, err
	}
	for _, p := range m.Params {
		q := fresh.Param(p.Name)
		if q == nil || q.Size() != p.Size() {
			return nil, fmt.Errorf("the fresh model has no weight %s of %d values", p.Name, p.Size())
		}
		SetValues(p, nn.Float64s(q.Value))
	}
	m.SetTrainable(true)
	return &Attached{Own: m.Params}, nil
}

// Footprint is full fine-tuning's: scratch trains what it trains. Zero-shot
// trains nothing and has no footprint to project.
func (scratch) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	return full{}.Footprint(a, v)
}

// Display: the controls follow the methods; scratch is grey, a control and
// not a method, with a plus. Zero-shot declares its place and an open
// square, and takes the fallback colour.
func (scratch) Display() display.Style {
	return display.Style{Order: 1000, Color: color.RGBA{0x88, 0x88, 0x88, 0xff}, Marker: display.Plus}
}

func (zeroShot) Display() display.Style {
	return display.Style{Order: 1001, Marker: display.OpenSquare}
}
