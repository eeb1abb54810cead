package methods

import (
	"testing"

	"github.com/peftbench/peftbench/model"
)

func TestLoRACount(t *testing.T) {
	// r·(d_in + d_out) per targeted layer.
	checkCount(t, "lora", map[string]any{"rank": 2}, func(c model.Config) int {
		return c.Layers * 2 * 2 * (c.DModel + c.DModel) // q and v
	})
	checkCount(t, "lora", map[string]any{"rank": 3, "targets": []any{"attn.*", "fc"}}, func(c model.Config) int {
		return c.Layers * 3 * (4*(2*c.DModel) + (c.DModel + c.DFF))
	})
	checkCount(t, "lora", map[string]any{"rank": 1, "targets": "h.0.mlp.proj"}, func(c model.Config) int {
		return 1 * (c.DFF + c.DModel)
	})
}

func TestLoRARejects(t *testing.T) {
	checkRejects(t, "lora", map[string]map[string]any{
		"rank":    {"rank": 0},
		"targets": {"targets": "attn.z"},
		"alpha":   {"alpha": "big"},
		"dropout": {"dropout": 1.5},
		"colour":  {"colour": 3},
	})
	// A rank beyond the layer's smaller side.
	checkRejects(t, "lora", map[string]map[string]any{"rank": {"rank": 9}})
}

func TestFullCount(t *testing.T) {
	checkCount(t, "full", nil, func(c model.Config) int {
		d, f := c.DModel, c.DFF
		return c.Vocab*d + c.Context*d + c.Layers*(4*(d*d+d)+(d*f+f)+(f*d+d)+4*d) + 2*d
	})
}
