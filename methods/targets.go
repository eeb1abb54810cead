package methods

import (
	"fmt"
	"path"
	"strings"

	"github.com/peftbench/peftbench/model"
)

// linearLayers resolves target patterns against the model's linear layers.
func linearLayers(m *model.Model, targets []string) ([]string, error) {
	return MatchLinear(m.Config.Layers, targets)
}

// MatchLinear resolves target patterns against the linear layers of a
// model with the given number of blocks, as HF PEFT's target_modules does:
// a pattern matches every layer whose name ends in it ("q", "attn.q",
// "mlp.fc"), and may hold '*' globs ("attn.*", "h.0.*"). Every pattern
// must match something. Names come back in model order.
func MatchLinear(layers int, targets []string) ([]string, error) {
	var all []string
	for i := 0; i < layers; i++ {
		all = append(all, model.LinearNames(i)...)
	}
	chosen := map[string]bool{}
	for _, t := range targets {
		n := 0
		for _, name := range all {
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
		if n == 0 {
			return nil, fmt.Errorf("field \"targets\": %q matches no linear layer (layers are named like %s)", t, strings.Join(model.LinearNames(0), ", "))
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
		Doc: "linear layers to adapt: suffixes (q, k, v, o, fc, proj, attn.q) or globs on full names (h.0.attn.*)"}
}
