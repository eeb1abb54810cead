package methods

import (
	"math"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestLNTuningCount(t *testing.T) {
	// A LayerNorm has a gain and a bias of d: two per block and ln_f.
	counts := map[string]func(c model.Config) int{
		"all":    func(c model.Config) int { return c.Layers*2*2*c.DModel + 2*c.DModel },
		"blocks": func(c model.Config) int { return c.Layers * 2 * 2 * c.DModel },
		"final":  func(c model.Config) int { return 2 * c.DModel },
	}
	for choice, f := range counts {
		checkCount(t, "lntuning", map[string]any{"norms": choice}, f)
	}
	checkCount(t, "lntuning", nil, counts["all"])
	// RMSNorm has a gain only.
	llama := architectures[1].cfg
	base := newBase(t, llama, tensor.Float32)
	if got, want := attach(t, base, "lntuning", nil).NumTrainable(base.Model), llama.Layers*2*llama.DModel+llama.DModel; got != want {
		t.Errorf("Llama: %d trainable, formula gives %d", got, want)
	}
}

func TestLNTuningRejects(t *testing.T) {
	checkRejects(t, "lntuning", map[string]map[string]any{
		"norms": {"norms": "attention"},
		"rank":  {"rank": 4},
	})
}

// By hand: LN tuning only unfreezes, so one AdamW step from the base moves
// each norm parameter by lr·|g|/(|g| + ε) (Adam's first bias-corrected
// step; vectors take no weight decay), which is within 1% of lr unless
// the gradient is tiny (for most of them here) and never more, and no other weight at all.
func TestLNTuningStepByHand(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	a := attach(t, base, "lntuning", map[string]any{"norms": "blocks"})
	before := map[*nn.Param][]float64{}
	for _, p := range base.Model.Params {
		before[p] = nn.Float64s(p.Value)
	}
	trainSteps(t, base, a, 1, 3) // one step at peak 1e-2
	tuned := map[*nn.Param]bool{}
	for _, p := range a.Own {
		tuned[p] = true
	}
	moved := 0
	for p, was := range before {
		now := nn.Float64s(p.Value)
		for i := range now {
			d := math.Abs(now[i] - was[i])
			switch {
			case !tuned[p] && d != 0:
				t.Fatalf("%s moved", p.Name)
			case tuned[p] && d > 1e-2*(1+1e-12):
				t.Fatalf("%s[%d] moved by %.9g, more than lr 0.01", p.Name, i, d)
			case tuned[p] && d > 0.99e-2:
				moved++
			}
		}
	}
	if want := 2 * 2 * 2 * shapeA.DModel; moved < want/2 {
		t.Errorf("%d norm values moved of %d", moved, want)
	}
}
