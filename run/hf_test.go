package run

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/trial"
	"gorgonia.org/tensor"
)

// A Hugging Face model folder (a Llama-family checkpoint with Llama 3's
// tokenizer.json, which puts <|begin_of_text|> before every sequence) runs
// as a trial's base model like a shipped one, for every kind of method.
func TestTrialOnHFFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "llama")
	tok, err := os.ReadFile("../model/tokenizer/testdata/hf/llama3/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Config{Family: model.Llama, Vocab: 280, Context: 128, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, DFF: 32,
		RopeTheta: 5e5, NormEps: 1e-5}, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := model.LoadBase(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bos, ok := base.Tokenizer.BOS(); !ok || bos != 274 {
		t.Fatalf("BOS %d, %v: want Llama 3's <|begin_of_text|> (274 in this tokenizer)", bos, ok)
	}
	adapters := t.TempDir()
	t.Setenv(AdaptersEnv, adapters)
	for _, c := range []struct {
		method string
		params map[string]any
	}{
		{"lora", map[string]any{"rank": 2, "targets": "q_proj,v_proj"}}, {"ia3", nil}, {"prefix", map[string]any{"length": 2}}, {"pac", map[string]any{"bottleneck": 4}},
	} {
		t.Run(c.method, func(t *testing.T) {
			r := Trial(teaSpec(dir, c.method, c.params), quiet)
			if r.Status != trial.Success {
				t.Fatalf("%s: %s", r.Status, r.Error)
			}
			if len(r.Metrics.EpochLoss) != 3 || r.NumTrainableParams <= 0 {
				t.Errorf("losses %v, %d trainable", r.Metrics.EpochLoss, r.NumTrainableParams)
			}
			// LoRA, IA3 and (on Llama) prefix tuning have PEFT's format; pac is not written.
			_, err := os.Stat(filepath.Join(adapters, r.ID, "adapter_model.safetensors"))
			if want := c.method != "pac"; (err == nil) != want {
				t.Errorf("adapter written: %v, want %v", err == nil, want)
			}
		})
	}
}

// Every registered method trains and evaluates end to end on an untied
// Llama folder (its own lm_head); the low-rank ones (LoRA, DoRA, VeRA,
// LoHa, LoKr) and OFT on the MLP's gate_proj, up_proj and down_proj. The memory
// projection maps those onto GPT-2 XL's layers, and the adapters PEFT's
// format holds (every methods.PEFTExporter) are written with the modules
// they adapt in every layer, then read back by methods.LoadPEFT and
// scored with the trial's outcomes. A method registered without a case
// here fails the test: a new method joins it, or says why it cannot.
func TestEveryMethodOnUntiedLlama(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "llama")
	tok, err := os.ReadFile("../model/tokenizer/testdata/hf/llama3/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{Family: model.Llama, Vocab: 280, Context: 128, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, DFF: 32,
		RopeTheta: 5e5, NormEps: 1e-5, UntiedHead: true}
	m, err := model.New(cfg, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	adapters := t.TempDir()
	t.Setenv(AdaptersEnv, adapters)
	mlp := "gate_proj,up_proj,down_proj"
	mlpModules := layerModules("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
	type methodCase struct {
		params map[string]any
		peft   []string // tensor-name prefixes the PEFT adapter must hold (%d: every layer), for a PEFTExporter
		fails  string   // part of the error of a method this model cannot train
	}
	cases := map[string]methodCase{
		"full": {}, "scratch": {}, trial.ZeroShot: {},
		"lora":    {params: map[string]any{"rank": 2, "targets": mlp}, peft: mlpModules},
		"dora":    {params: map[string]any{"rank": 2, "targets": mlp}, peft: mlpModules},
		"vera":    {params: map[string]any{"rank": 4, "targets": mlp}, peft: append([]string{"base_model.vera_A", "base_model.vera_B"}, mlpModules...)},
		"loha":    {params: map[string]any{"rank": 2, "targets": mlp}, peft: mlpModules},
		"adalora": {params: map[string]any{"init_r": 4, "rank": 2, "targets": mlp}, peft: mlpModules},
		"lokr":    {params: map[string]any{"rank": 2, "targets": mlp}, peft: mlpModules},
		"oft":     {params: map[string]any{"oft_block_size": 8, "targets": mlp}, peft: mlpModules},
		"ia3":     {peft: layerModules("self_attn.k_proj", "self_attn.v_proj", "mlp.down_proj")},
		"lntuning": {peft: append(layerModules("input_layernorm.ln_tuning_layers", "post_attention_layernorm.ln_tuning_layers"),
			"base_model.model.model.norm.ln_tuning_layers.")},
		"adapter": {params: map[string]any{"bottleneck": 4}},
		"bitfit":  {fails: "no biases to train"},
		"prefix":  {params: map[string]any{"length": 2}, peft: []string{"prompt_embeddings"}},
		"prompt":  {params: map[string]any{"length": 2}, peft: []string{"prompt_embeddings"}},
		"ptuning": {params: map[string]any{"length": 2, "encoder_hidden_size": 8}, peft: []string{"prompt_embeddings"}},
		"pac":     {params: map[string]any{"bottleneck": 4}},
	}
	// Methods left out, and why (none now).
	skip := map[string]string{}
	for _, name := range methods.Names() {
		if why, ok := skip[name]; ok {
			t.Run(name, func(t *testing.T) { t.Skip(why) })
			continue
		}
		c, ok := cases[name]
		if !ok {
			t.Errorf("method %s is registered but has no case here (nor a reason in skip)", name)
			continue
		}
		meth, err := methods.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := meth.(methods.PEFTExporter); ok != (c.peft != nil) && c.fails == "" {
			t.Errorf("%s: PEFT exporter %v, but the case expects an adapter %v", name, ok, c.peft != nil)
			continue
		}
		cm := struct {
			method string
			methodCase
		}{name, c}
		t.Run(name, func(t *testing.T) {
			c := cm
			spec := teaSpec(dir, c.method, c.params)
			r := Trial(spec, quiet)
			if c.fails != "" {
				if r.Status != trial.Failed || !strings.Contains(r.Error, c.fails) {
					t.Fatalf("%s %q: want a failure saying %q", r.Status, r.Error, c.fails)
				}
				return
			}
			if r.Status != trial.Success {
				t.Fatalf("%s: %s", r.Status, r.Error)
			}
			if r.Metrics.TestAccuracy < 0 || r.Metrics.TestAccuracy > 1 || len(r.Outcomes) == 0 || len(r.Outcomes[0].Predicted) == 0 {
				t.Fatalf("test accuracy %v, outcomes %d", r.Metrics.TestAccuracy, len(r.Outcomes))
			}
			if c.method == trial.ZeroShot {
				return
			}
			if r.ProjectionError != "" || len(r.Projected) != 3 {
				t.Fatalf("projection: %q, %d projected models", r.ProjectionError, len(r.Projected))
			}
			if c.method == "lora" { // gate and up are GPT-2 XL's c_fc, down its c_proj: 48·2·((1600+6400)+(6400+1600))
				if got := r.Projected[0].TrainableParams; got != 48*2*16000 {
					t.Errorf("LoRA projected onto %s: %d trainable, want %d", r.Projected[0].Arch, got, 48*2*16000)
				}
			}
			folder := filepath.Join(adapters, r.ID)
			_, err := os.Stat(folder)
			if (err == nil) != (c.peft != nil) {
				t.Fatalf("PEFT adapter written: %v, want %v", err == nil, c.peft != nil)
			}
			if c.peft == nil {
				return
			}
			keys := readPEFTKeys(t, folder)
			for _, want := range c.peft {
				for i := range cfg.Layers {
					prefix := want
					if strings.Contains(want, "%d") {
						prefix = fmt.Sprintf(want, i)
					}
					found := false
					for k := range keys {
						found = found || strings.HasPrefix(k, prefix)
					}
					if !found {
						t.Errorf("adapter holds no tensor %s… (keys %v)", prefix, slices.Sorted(maps.Keys(keys)))
					}
				}
			}
			// Read back into the method and scored, the adapter gives the
			// trial's test outcomes.
			e := Evaluate(trial.Spec{Model: dir, Task: spec.Task, Train: trial.Settings{Batch: spec.Train.Batch}}, folder, quiet)
			if e.Status != trial.Success {
				t.Fatalf("evaluating the written adapter: %s", e.Error)
			}
			if diff := cmp.Diff(r.Outcomes[0], e.Outcomes[0]); diff != "" {
				t.Errorf("the re-read adapter's test outcomes differ from the trial's (-trial +re-read):\n%s", diff)
			}
		})
	}
}

// layerModules are the PEFT tensor-name prefixes of Llama modules in every
// layer.
func layerModules(mods ...string) []string {
	out := make([]string, len(mods))
	for i, m := range mods {
		out[i] = "base_model.model.model.layers.%d." + m + "."
	}
	return out
}

// readPEFTKeys reads a PEFT adapter folder back: its config must name the
// base model and a known peft_type, and its weights file must parse; it
// returns the tensor names with their shapes.
func readPEFTKeys(t *testing.T, dir string) map[string][]uint64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, methods.PEFTConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Type string `json:"peft_type"`
		Base string `json:"base_model_name_or_path"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Type == "" || cfg.Base == "" {
		t.Fatalf("adapter config: peft_type %q, base_model_name_or_path %q", cfg.Type, cfg.Base)
	}
	data, err := os.ReadFile(filepath.Join(dir, methods.PEFTWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]uint64{}
	for _, name := range st.Names() {
		v, _ := st.Tensor(name)
		out[name] = v.Shape()
	}
	return out
}

// A base model named by its hub name is found in the local Hugging Face
// cache, and its result records the snapshot's commit; its model hash is
// the folder's, wherever the folder lies.
func TestTrialOnHubName(t *testing.T) {
	dir := tinyBase(t)
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	const commit = "00112233445566778899aabbccddeeff00112233"
	root := filepath.Join(cache, "models--someone--tea-lm")
	snap := filepath.Join(root, "snapshots", commit)
	if err := os.MkdirAll(filepath.Join(root, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(snap), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, snap); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := model.ContentHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	spec := teaSpec("someone/tea-lm", "bitfit", nil)
	if spec.ModelHash, err = model.ContentHash(spec.Model); err != nil || spec.ModelHash != want {
		t.Fatalf("hash %q, %v; the folder's is %q", spec.ModelHash, err, want)
	}
	spec.Train.Epochs = 1
	r := Trial(spec, quiet)
	if r.Status != trial.Success || r.ModelCommit != commit {
		t.Fatalf("%s %s: model_commit %q, want %q", r.Status, r.Error, r.ModelCommit, commit)
	}
}
