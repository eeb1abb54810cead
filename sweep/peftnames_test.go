package sweep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PEFT's names and a PEFT adapter_config.json give the very trials (ids
// and names) that this package's own names give: they are normalised
// before anything is hashed.
func TestPEFTNamesGiveTheSameTrials(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "adapter_config.json")
	if err := os.WriteFile(cfg, []byte(`{"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8,
		"lora_dropout": 0.0, "target_modules": ["q", "v"], "bias": "none", "use_rslora": false, "modules_to_save": null}`), 0o644); err != nil {
		t.Fatal(err)
	}
	prompt := filepath.Join(dir, "prompt.json")
	if err := os.WriteFile(prompt, []byte(`{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 8, "prompt_tuning_init": "RANDOM", "token_dim": 128}`), 0o644); err != nil {
		t.Fatal(err)
	}
	head := "tasks: [spam]\ndata_sizes: [32]\ncontrols: []\nmethods:\n"
	ours := head + "  lora: {rank: [4, 8], alpha: 8, dropout: 0.0, targets: [q, v], lr: 1e-3}\n  prompt: {length: 8, init: random}\n"
	for name, spec := range map[string]string{
		"aliases": head + "  lora: {r: [4, 8], lora_alpha: 8, lora_dropout: 0.0, target_modules: [q, v], use_rslora: false, lr: 1e-3}\n" +
			"  prompt: {num_virtual_tokens: 8, prompt_tuning_init: RANDOM}\n",
		"from": head + "  lora: {from: " + cfg + ", r: [4, 8], lr: 1e-3}\n  prompt: {from: " + prompt + "}\n",
	} {
		want, err := Parse("ours.yaml", []byte(ours))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(name+".yaml", []byte(spec))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w, g := want.Trials(), got.Trials()
		if len(w) != len(g) || len(w) != 3 {
			t.Fatalf("%s: %d trials, ours %d", name, len(g), len(w))
		}
		for i := range w {
			if w[i].ID() != g[i].ID() || w[i].Name != g[i].Name {
				t.Errorf("%s: trial %d is %s %q, ours %s %q", name, i, g[i].ID(), g[i].Name, w[i].ID(), w[i].Name)
			}
		}
	}
	for yaml, want := range map[string]string{
		head + "  lora: {r: 4, rank: 8}\n":                                 `field "methods.lora.rank": sets "rank", as "r" does`,
		head + "  dora: {use_rslora: true}\n":                              `bad.yaml:5: field "methods.dora.use_rslora"`,
		head + "  lora: {from: " + filepath.Join(dir, "none.json") + "}\n": `bad.yaml:5: field "methods.lora.from"`,
		head + "  ia3: {from: " + cfg + "}\n":                              `field "methods.ia3.from": methods: ` + cfg + `: field "peft_type": LORA is method lora here, not ia3`,
	} {
		_, err := Parse("bad.yaml", []byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", yaml, err, want)
		}
	}
}
