package methods

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// PEFT's names resolve to the same values as this package's own.
func TestPEFTNamesAreAliases(t *testing.T) {
	for _, c := range []struct {
		method     string
		peft, ours map[string]any
	}{
		{"lora", map[string]any{"r": 4, "lora_alpha": 32, "lora_dropout": 0.1, "target_modules": []any{"q_proj", "v_proj"}, "use_rslora": false, "bias": "none", "task_type": "CAUSAL_LM"},
			map[string]any{"rank": 4, "alpha": 32.0, "dropout": 0.1, "targets": []any{"q_proj", "v_proj"}, "rslora": false}},
		{"lora", map[string]any{"use_rslora": true, "init_lora_weights": "pissa"}, map[string]any{"rslora": true, "init": "pissa"}},
		{"lora", map[string]any{"init_lora_weights": true}, map[string]any{"init": "kaiming"}},
		{"lora", map[string]any{"target_modules": "all-linear"}, map[string]any{"targets": "*"}},
		{"dora", map[string]any{"r": 2, "use_dora": true}, map[string]any{"rank": 2}},
		{"ia3", map[string]any{"target_modules": []any{"k_proj", "v_proj", "down_proj"}, "feedforward_modules": []any{"down_proj"}}, map[string]any{"targets": "k,v,ff"}},
		{"ia3", map[string]any{"target_modules": []any{"v_proj"}}, map[string]any{"targets": "v"}},
		{"prompt", map[string]any{"num_virtual_tokens": 16, "prompt_tuning_init": "TEXT", "prompt_tuning_init_text": "Is it spam?"},
			map[string]any{"length": 16, "init": "text", "init_text": "Is it spam?"}},
		{"prompt", map[string]any{"num_virtual_tokens": 3, "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": nil}, map[string]any{"length": 3, "init": "random"}},
		{"prefix", map[string]any{"num_virtual_tokens": 5, "prefix_projection": true, "encoder_hidden_size": 32}, map[string]any{"length": 5, "projection": true, "hidden": 32}},
		{"vera", map[string]any{"r": 8, "vera_dropout": 0.1, "d_initial": 0.5, "target_modules": []any{"q_proj", "v_proj"}, "save_projection": true, "projection_prng_key": 0},
			map[string]any{"rank": 8, "dropout": 0.1, "d_initial": 0.5, "targets": []any{"q_proj", "v_proj"}}},
		{"lntuning", map[string]any{"target_modules": []any{"input_layernorm", "post_attention_layernorm", "norm"}}, map[string]any{"norms": "all"}},
		{"lntuning", map[string]any{"target_modules": []any{"transformer.h.0.ln_1", "transformer.h.0.ln_2", "transformer.h.1.ln_1", "transformer.h.1.ln_2"}}, map[string]any{"norms": "blocks"}},
		{"lntuning", map[string]any{"target_modules": []any{"ln_f"}}, map[string]any{"norms": "final"}},
		{"loha", map[string]any{"r": 4, "alpha": 16, "target_modules": []any{"q_proj", "v_proj"}, "rank_dropout": 0.0, "init_weights": true, "use_khatri_rao": "auto"},
			map[string]any{"rank": 4, "alpha": 16.0, "targets": []any{"q_proj", "v_proj"}}},
		{"lokr", map[string]any{"r": 2, "decompose_both": true, "decompose_factor": 4, "rank_dropout_scale": false}, map[string]any{"rank": 2, "decompose_both": true, "decompose_factor": 4}},
		{"oft", map[string]any{"r": 0, "oft_block_size": 4, "target_modules": []any{"q_proj", "v_proj"}, "module_dropout": 0.0, "coft": false, "block_share": false,
			"use_cayley_neumann": true, "num_cayley_neumann_terms": 5, "bias": "none", "init_weights": true, "fan_in_fan_out": false},
			map[string]any{"oft_block_size": 4, "targets": []any{"q_proj", "v_proj"}}},
	} {
		m, err := Get(c.method)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Resolve(m, c.peft)
		if err != nil {
			t.Fatalf("%s %v: %v", c.method, c.peft, err)
		}
		want, err := Resolve(m, c.ours)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: PEFT's names give %v, ours %v", c.method, got, want)
		}
	}
}

func TestPEFTNamesUnsupportedValues(t *testing.T) {
	for _, c := range []struct {
		method string
		raw    map[string]any
		want   []string
	}{
		{"dora", map[string]any{"use_rslora": true}, []string{`"use_rslora"`, "method lora"}},
		{"lora", map[string]any{"init_lora_weights": "pissa_niter_16"}, []string{`"init_lora_weights"`, "exact SVD"}},
		{"lora", map[string]any{"use_dora": true}, []string{`"use_dora"`, "method dora"}},
		{"lora", map[string]any{"r": 4, "rank": 8}, []string{`"r"`, `"rank"`}},
		{"lora", map[string]any{"target_modules": ".*attn.*"}, []string{"regular expression"}},
		{"lora", map[string]any{"layers_to_transform": []any{0}}, []string{`"layers_to_transform"`}},
		{"lora", map[string]any{"task_type": "SEQ_CLS"}, []string{`"task_type"`, "SEQ_CLS"}},
		{"ia3", map[string]any{"target_modules": []any{"c_attn"}}, []string{`"c_attn"`, "q too"}},
		{"prompt", map[string]any{"prompt_tuning_init": "GLORIOUS"}, []string{`"prompt_tuning_init"`}},
		{"lora", map[string]any{"r": 0}, []string{`"rank"`, "outside"}},
		{"vera", map[string]any{"save_projection": false}, []string{`"save_projection"`, "projection_prng_key"}},
		{"lntuning", map[string]any{"target_modules": []any{"input_layernorm"}}, []string{`"target_modules"`, "both norms"}},
		{"lntuning", map[string]any{"target_modules": []any{"transformer.h.1.ln_1", "transformer.h.1.ln_2"}}, []string{`"target_modules"`, "both norms"}},
		{"lntuning", map[string]any{"target_modules": []any{"q_norm"}}, []string{`"q_norm"`}},
		{"loha", map[string]any{"rank_dropout": 0.1}, []string{`"rank_dropout"`, "rank dropout"}},
		{"loha", map[string]any{"use_khatri_rao": true}, []string{`"use_khatri_rao"`}},
		{"lokr", map[string]any{"init_weights": "lycoris"}, []string{`"init_weights"`}},
		{"oft", map[string]any{"coft": true}, []string{`"coft"`, "constrained"}},
		{"oft", map[string]any{"block_share": true}, []string{`"block_share"`}},
		{"oft", map[string]any{"module_dropout": 0.1}, []string{`"module_dropout"`, "dropout"}},
		{"oft", map[string]any{"use_cayley_neumann": false}, []string{`"use_cayley_neumann"`, "solve"}},
		{"oft", map[string]any{"init_weights": false}, []string{`"init_weights"`}},
	} {
		m, _ := Get(c.method)
		_, err := Resolve(m, c.raw)
		if err == nil {
			t.Fatalf("%s %v resolved", c.method, c.raw)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: error %q does not say %s", c.method, c.raw, err, w)
			}
		}
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), PEFTConfigFile)
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFromPEFTConfig(t *testing.T) {
	// The reference adapter PEFT's own layout describes (model/hfref).
	got, err := FromPEFTConfig("lora", filepath.Join(fixtureDir("llama"), "adapter", PEFTConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"rank": 4, "alpha": 8, "dropout": 0, "targets": []any{"q_proj", "v_proj"}, "rslora": false, "init": "kaiming"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("settings %v, want %v", got, want)
	}
	ia3 := writeConfig(t, `{"peft_type": "IA3", "task_type": "CAUSAL_LM", "target_modules": ["k_proj", "v_proj", "down_proj"],
		"feedforward_modules": ["down_proj"], "fan_in_fan_out": false, "init_ia3_weights": true, "modules_to_save": null, "inference_mode": true}`)
	if got, err := FromPEFTConfig("ia3", ia3); err != nil || !reflect.DeepEqual(got, map[string]any{"targets": []any{"k", "v", "ff"}}) {
		t.Fatalf("ia3: %v, %v", got, err)
	}
	prompt := writeConfig(t, `{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 20, "token_dim": 128, "num_transformer_submodules": 1,
		"num_attention_heads": 4, "num_layers": 4, "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": null, "tokenizer_name_or_path": null}`)
	if got, err := FromPEFTConfig("prompt", prompt); err != nil || !reflect.DeepEqual(got, map[string]any{"length": 20, "init": "random"}) {
		t.Fatalf("prompt: %v, %v", got, err)
	}
	for _, c := range []struct {
		method, body string
		want         []string
	}{
		{"lora", `{"peft_type": "LORA", "r": 8, "init_lora_weights": "gaussian"}`, []string{`"init_lora_weights"`, "not supported"}},
		{"lora", `{"peft_type": "LORA", "r": 8, "lora_magic": 1}`, []string{`"lora_magic"`, "not supported by method lora"}},
		{"lora", `{"peft_type": "IA3", "target_modules": ["k_proj"]}`, []string{`"peft_type"`, "method ia3"}},
		{"lora", `{"peft_type": "LORA", "use_dora": true}`, []string{`"peft_type"`, "method dora"}},
		{"lora", `{"peft_type": "VERA"}`, []string{`"peft_type"`, "VERA"}},
		{"lora", `{"peft_type": "LORA", "r": 8, "rank": 4}`, []string{`"rank"`}},
		{"lora", `{"peft_type": "LORA", "r": 0}`, []string{`"rank"`, "outside"}},
		{"ia3", `{"peft_type": "IA3", "target_modules": ["down_proj"], "feedforward_modules": []}`, []string{`"feedforward_modules"`, "down_proj"}},
		{"lora", `{"peft_type": "LORA", "r": 8,}`, []string{"invalid character"}},
	} {
		f := writeConfig(t, c.body)
		_, err := FromPEFTConfig(c.method, f)
		if err == nil {
			t.Fatalf("%s accepted", c.body)
		}
		for _, w := range append(c.want, f) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %s", c.body, err, w)
			}
		}
	}
}

// The configs LoHa, LoKr and OFT adapters are written with read back as
// the settings that wrote them.
func TestFromPEFTConfigReadsLyCORIS(t *testing.T) {
	for k, c := range peftCases() {
		if c.method != "loha" && c.method != "lokr" && c.method != "oft" {
			continue
		}
		m, a := peftAttach(t, c, uint64(k)+1)
		dir := t.TempDir()
		savePEFT(t, c, m, a, dir)
		got, err := FromPEFTConfig(c.method, filepath.Join(dir, PEFTConfigFile))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		meth, _ := Get(c.method)
		v, err := Resolve(meth, got)
		if err != nil {
			t.Fatal(err)
		}
		wrote, _ := MatchLinear(m.Config, a.Values.List("targets"))
		read, err := MatchLinear(m.Config, v.List("targets"))
		if err != nil || !reflect.DeepEqual(read, wrote) {
			t.Errorf("%s: targets read %v (%v), wrote %v", c.name, read, err, wrote)
		}
		delete(v, "targets")
		want := maps.Clone(a.Values)
		delete(want, "targets")
		if !reflect.DeepEqual(v, want) {
			t.Errorf("%s: read %v, wrote %v", c.name, v, want)
		}
	}
}
