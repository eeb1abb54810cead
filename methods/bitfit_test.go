package methods

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestBitFitCount(t *testing.T) {
	// Per block: four d-wide attention biases, fc's f and proj's d, and
	// two LayerNorm biases of d; plus ln_f's d.
	counts := map[string]func(c model.Config) int{
		"all":       func(c model.Config) int { return c.Layers*(4*c.DModel+c.DFF+c.DModel+2*c.DModel) + c.DModel },
		"linear":    func(c model.Config) int { return c.Layers * (4*c.DModel + c.DFF + c.DModel) },
		"attention": func(c model.Config) int { return c.Layers * 4 * c.DModel },
		"mlp":       func(c model.Config) int { return c.Layers * (c.DFF + c.DModel) },
		"layernorm": func(c model.Config) int { return c.Layers*2*c.DModel + c.DModel },
	}
	for choice, f := range counts {
		checkCount(t, "bitfit", map[string]any{"biases": choice}, f)
	}
	checkCount(t, "bitfit", nil, counts["all"])
}

func TestBitFitRejects(t *testing.T) {
	checkRejects(t, "bitfit", map[string]map[string]any{
		"biases": {"biases": "weights"},
		"rank":   {"rank": 4},
	})
	checkRejects(t, "bitfit", map[string]map[string]any{"biases": {"biases": 3}})
}

// bitfitExpected spells out each choice's bias names from the
// architecture, independently of the method's own classification.
func bitfitExpected(c model.Config, choice string) []string {
	var names []string
	for i := range c.Layers {
		h := fmt.Sprintf("h.%d.", i)
		attn := []string{h + "attn.q.bias", h + "attn.k.bias", h + "attn.v.bias", h + "attn.o.bias"}
		mlp := []string{h + "mlp.fc.bias", h + "mlp.proj.bias"}
		ln := []string{h + "ln_1.bias", h + "ln_2.bias"}
		switch choice {
		case "all":
			names = append(append(append(names, attn...), mlp...), ln...)
		case "linear":
			names = append(append(names, attn...), mlp...)
		case "attention":
			names = append(names, attn...)
		case "mlp":
			names = append(names, mlp...)
		case "layernorm":
			names = append(names, ln...)
		}
	}
	if choice == "all" || choice == "layernorm" {
		names = append(names, "ln_f.bias")
	}
	sort.Strings(names)
	return names
}

func bitfitParamNames(ps []*nn.Param) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

// Exactly the selected biases are trainable, are the method's own weights,
// and are the only tensors a compiled training program differentiates.
func TestBitFitTrainsExactlySelected(t *testing.T) {
	for _, choice := range bitfitGroups {
		t.Run(choice, func(t *testing.T) {
			base := newBase(t, shapeB, tensor.Float64)
			a := attach(t, base, "bitfit", map[string]any{"biases": choice})
			want := bitfitExpected(shapeB, choice)
			var trainable []*nn.Param
			for _, p := range base.Model.Params {
				if p.Trainable {
					trainable = append(trainable, p)
				}
			}
			if d := cmp.Diff(want, bitfitParamNames(trainable)); d != "" {
				t.Errorf("trainable model weights (-want +got):\n%s", d)
			}
			if d := cmp.Diff(want, bitfitParamNames(a.Own)); d != "" {
				t.Errorf("own weights (-want +got):\n%s", d)
			}
			for _, p := range a.Own {
				if base.Model.Param(p.Name) != p {
					t.Errorf("own %s is not the model's own tensor", p.Name)
				}
			}
			if len(a.Hooks) != 0 {
				t.Errorf("%d hooks, want none", len(a.Hooks))
			}
			g := nn.NewGraph(tensor.Float64)
			g.Training = true
			lm, err := base.Model.BuildLM(g, 2, 4, a.Hooks...)
			if err != nil {
				t.Fatal(err)
			}
			lmBatch(lm, rand.New(rand.NewPCG(6, 6)), shapeB.Vocab)
			p, err := nn.Compile(g, lm.Loss)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, bitfitParamNames(p.Params)); d != "" {
				t.Errorf("differentiated tensors (-want +got):\n%s", d)
			}
		})
	}
}

// Attaching BitFit leaves the forward pass untouched: it only changes
// which weights train.
func TestBitFitLeavesLogits(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	plain := logits(t, base.Model)
	a := attach(t, base, "bitfit", nil)
	if d := maxDiff(plain, logits(t, base.Model, a.Hooks...)); d != 0 {
		t.Fatalf("attaching bitfit moves the logits by %.3g", d)
	}
}
