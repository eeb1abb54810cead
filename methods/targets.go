package methods

import (
	"fmt"
	"path"
	"strings"

	"github.com/peftbench/peftbench/model"
)

// linearLayers resolves target patterns against the model's linear layers.
func linearLayers(m *model.Model, targets []string) ([]string, error) {
	return MatchLinear(m.Config, targets)
}

// hfTargets maps Hugging Face module names, as PEFT's target_modules
// gives them, to this package's layer names. GPT-2's fused c_attn is q, k
// and v; c_proj, as PEFT matches it, both attention's and the MLP's
// output. The MLP's short names carry over between families as the memory
// projection maps them: fc is Llama's gate and up, proj its down.
var hfTargets = map[model.Family]map[string][]string{
	model.GPT2: {
		"c_attn": {"attn.q", "attn.k", "attn.v"}, "attn.c_attn": {"attn.q", "attn.k", "attn.v"},
		"c_proj": {"attn.o", "mlp.proj"}, "attn.c_proj": {"attn.o"}, "mlp.c_proj": {"mlp.proj"},
		"c_fc": {"mlp.fc"}, "mlp.c_fc": {"mlp.fc"},
		"q_proj": {"attn.q"}, "k_proj": {"attn.k"}, "v_proj": {"attn.v"}, "o_proj": {"attn.o"},
	},
	model.Llama: {
		"q_proj": {"attn.q"}, "k_proj": {"attn.k"}, "v_proj": {"attn.v"}, "o_proj": {"attn.o"},
		"self_attn.q_proj": {"attn.q"}, "self_attn.k_proj": {"attn.k"}, "self_attn.v_proj": {"attn.v"}, "self_attn.o_proj": {"attn.o"},
		"gate_proj": {"mlp.gate"}, "up_proj": {"mlp.up"}, "down_proj": {"mlp.down"},
		"mlp.gate_proj": {"mlp.gate"}, "mlp.up_proj": {"mlp.up"}, "mlp.down_proj": {"mlp.down"},
		"fc": {"mlp.gate", "mlp.up"}, "mlp.fc": {"mlp.gate", "mlp.up"}, "proj": {"mlp.down"}, "mlp.proj": {"mlp.down"},
	},
}

// MatchLinear resolves target patterns against the linear layers of a
// model with config c, as HF PEFT's target_modules does: a pattern
// matches every layer whose name ends in it ("q", "attn.q", "mlp.fc"),
// may hold '*' globs ("attn.*", "h.0.*"), or is a Hugging Face module name
// (hfTargets: "q_proj", "c_attn"). Every pattern must match something.
// Names come back in model order.
func MatchLinear(c model.Config, targets []string) ([]string, error) {
	var all []string
	for i := 0; i < c.Layers; i++ {
		all = append(all, c.LinearNames(i)...)
	}
	chosen := map[string]bool{}
	for _, t := range targets {
		n := 0
		patterns := hfTargets[c.Family][t]
		if patterns == nil {
			patterns = []string{t}
		}
		for _, name := range all {
			for _, t := range patterns {
				ok := strings.HasSuffix(name, "."+t) || name == t
				if strings.Contains(t, "*") {
					full, _ := path.Match(t, name)
					suffix, _ := path.Match("*."+t, name)
					ok = full || suffix
				}
				if ok {
					chosen[name] = true
					n++
				}
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("field \"targets\": %q matches no linear layer (layers are named like %s, or by their Hugging Face modules)", t, strings.Join(c.LinearNames(0), ", "))
		}
	}
	var out []string
	for _, name := range all {
		if chosen[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// linearDims returns a linear layer's input and output widths.
func linearDims(m *model.Model, name string) (in, out int) {
	s := m.Param(name + ".weight").Value.Shape()
	return s[0], s[1]
}

// linearTargets is the "targets" hyper-parameter LoRA-like methods share.
func linearTargets(def string) Spec {
	return Spec{Name: "targets", Kind: List, Default: def,
		Doc: "linear layers to adapt: suffixes (q, k, v, o, fc, proj, attn.q), globs on full names (h.0.attn.*) or Hugging Face module names (q_proj, c_attn, gate_proj)"}
}
