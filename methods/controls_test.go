package methods

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// Zero-shot trains nothing and leaves the base model's outputs as they are.
func TestZeroShotTrainsNothing(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	want := logits(t, base.Model)
	a := attach(t, base, display.ZeroShot, nil)
	if n := a.NumTrainable(base.Model); n != 0 || len(a.Hooks) != 0 {
		t.Fatalf("zero-shot has %d trainable parameters and %d hooks", n, len(a.Hooks))
	}
	if d := maxDiff(want, logits(t, base.Model, a.Hooks...)); d != 0 {
		t.Fatalf("zero-shot changed the logits by %g", d)
	}
}

// Scratch replaces every weight with the model's own initialisation for
// the trial's seed, trains them all, and counts as full fine-tuning.
func TestScratchReinitialises(t *testing.T) {
	base := newBase(t, shapeB, tensor.Float64) // initialised with seed 5
	a := attach(t, base, display.Scratch, nil) // seed 9
	fresh, err := model.New(shapeB, tensor.Float64, 9)
	if err != nil {
		t.Fatal(err)
	}
	pretrained, _ := model.New(shapeB, tensor.Float64, 5)
	for _, p := range base.Model.Params {
		if !p.Trainable {
			t.Fatalf("%s is frozen", p.Name)
		}
		if !cmp.Equal(nn.Float64s(p.Value), nn.Float64s(fresh.Param(p.Name).Value)) {
			t.Fatalf("%s is not the seed-9 initialisation", p.Name)
		}
	}
	if cmp.Equal(nn.Float64s(base.Model.Params[0].Value), nn.Float64s(pretrained.Params[0].Value)) {
		t.Fatal("the base model's weights survived")
	}
	if got, want := a.NumTrainable(base.Model), base.Model.NumParams(); got != want {
		t.Fatalf("%d trainable, want every one of %d", got, want)
	}
}
