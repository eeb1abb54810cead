package methods

import (
	"image/color"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
)

// full is full fine-tuning: every weight trains. It is the reference the
// parameter-efficient methods are measured against.
type full struct{}

func init() { Register(full{}) }

func (full) Name() string   { return "full" }
func (full) Doc() string    { return "full fine-tuning: every weight of the model trains" }
func (full) Params() []Spec { return nil }

// DefaultLR is tuned on the shipped tiny model by a short probe (64 examples,
// 40 steps of 8, spam and sentiment): full fine-tuning of the ~1 M-parameter
// base model moves fast; 1e-3 overfits 64 examples within two epochs, 1e-4
// leaves the label tokens unlikely after 40 steps.
func (full) DefaultLR() float64 { return 5e-4 }

func (full) Attach(base *model.Base, _ Values, _ uint64) (*Attached, error) {
	base.Model.SetTrainable(true)
	return &Attached{Own: base.Model.Params}, nil
}

// Footprint: every model weight trains, so the backward pass runs through
// every block.
func (full) Footprint(a ProjectionArch, _ Values) (*Footprint, error) {
	return &Footprint{TrainBase: a.NumParams, Modules: []string{"all"}}, nil
}

// Display: black, a square.
func (full) Display() display.Style {
	return display.Style{Order: 10, Color: color.RGBA{0x00, 0x00, 0x00, 0xff}, Marker: display.Square}
}
