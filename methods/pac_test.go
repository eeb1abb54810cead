package methods

import (
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestPACCount(t *testing.T) {
	// One adapter of 2·d·m + m + d per block.
	per := func(c model.Config, m int) int { return 2*c.DModel*m + m + c.DModel }
	checkCount(t, "pac", nil, func(c model.Config) int { return c.Layers * per(c, 16) })
	checkCount(t, "pac", map[string]any{"bottleneck": 3}, func(c model.Config) int { return c.Layers * per(c, 3) })
}

// The training program of pac holds no gradient op of the backbone's
// blocks: no attention backward, and the only LayerNorm backward is the
// final LayerNorm's, between the adapters and the head. LoRA's holds them.
func TestPACNoBackwardThroughTheBackbone(t *testing.T) {
	ops := func(name string) map[string]int {
		base := newBase(t, shapeA, tensor.Float64)
		a := attach(t, base, name, nil)
		g := nn.NewGraph(tensor.Float64)
		g.Training = true
		lm, err := base.Model.BuildLM(g, 2, 4, a.Hooks...)
		if err != nil {
			t.Fatal(err)
		}
		p, err := nn.Compile(g, lm.Loss)
		if err != nil {
			t.Fatal(err)
		}
		return p.OpCounts()
	}
	attnGrads := func(counts map[string]int) int {
		n := 0
		for op, c := range counts {
			if strings.HasPrefix(op, "Attn") && strings.Contains(op, "Grad") {
				n += c
			}
		}
		return n
	}
	pac, lora := ops("pac"), ops("lora")
	if attnGrads(pac) != 0 || pac["LayerNormGradX"] != 1 {
		t.Errorf("pac's program runs backward through the backbone: %v", pac)
	}
	if attnGrads(lora) == 0 || lora["LayerNormGradX"] <= 1 {
		t.Errorf("lora's program has no backward through the backbone, so this test sees nothing: %v", lora)
	}
}
