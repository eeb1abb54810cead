package projection

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/peftbench/peftbench/internal/detrand"
)

// Every method's projection on every architecture, under each precision
// and attention and with checkpointing, pinned by a hash of its whole JSON
// (counts, bytes, modules and notes). The values were computed before each
// method's formulas moved into its own file (methods.Projector).
func TestProjectionsPinned(t *testing.T) {
	cases := []struct {
		method string
		params map[string]any
	}{
		{"full", nil},
		{"scratch", nil},
		{"lora", nil},
		{"lora", map[string]any{"rank": 16, "targets": "q,k,v,o,fc,proj", "dropout": 0.1}},
		{"lora", map[string]any{"rank": 4, "targets": "h.3.attn.*"}},
		{"dora", nil},
		{"dora", map[string]any{"rank": 8, "targets": "k,fc", "dropout": 0.05}},
		{"prompt", nil},
		{"prompt", map[string]any{"length": 20}},
		{"prefix", nil},
		{"prefix", map[string]any{"length": 10, "projection": true, "hidden": 256}},
		{"ia3", nil},
		{"ia3", map[string]any{"targets": "ff"}},
		{"bitfit", nil},
		{"bitfit", map[string]any{"biases": "attention"}},
		{"bitfit", map[string]any{"biases": "layernorm"}},
		{"adapter", nil},
		{"adapter", map[string]any{"bottleneck": 64, "placement": "mlp"}},
	}
	opts := []Options{
		{Batch: 4, Seq: 512, Precision: BF16FP32Adam},
		{Batch: 2, Seq: 256, Precision: MixedMaster, Attention: Eager},
		{Batch: 1, Seq: 128, Checkpointing: true},
	}
	got := map[string]string{}
	for _, a := range []Arch{GPT2XL, Llama2_7B, Llama3_8B, Llama32_3B} {
		for _, c := range cases {
			for i, o := range opts {
				key := fmt.Sprintf("%s %s %v %d", a.Name, c.method, c.params, i)
				p, err := ProjectWith(a, c.method, c.params, o)
				if err != nil {
					got[key] = "error: " + err.Error()
					continue
				}
				b, err := json.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				got[key] = fmt.Sprintf("%#x", detrand.Hash(string(b)))
			}
		}
	}
	for k, v := range got {
		if w, ok := projectionsPinned[k]; !ok || w != v {
			t.Errorf("%s: %s, pinned %s", k, v, w)
		}
	}
	if len(got) != len(projectionsPinned) {
		t.Errorf("%d projections, %d pinned", len(got), len(projectionsPinned))
	}
}
