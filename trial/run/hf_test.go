package run

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/trial"
	"gorgonia.org/tensor"
)

// A Hugging Face model folder (a Llama-family checkpoint with Llama 3's
// tokenizer.json, which puts <|begin_of_text|> before every sequence) runs
// as a trial's base model like a shipped one, for every kind of method.
func TestTrialOnHFFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "llama")
	tok, err := os.ReadFile("../../model/tokenizer/testdata/hf/llama3/tokenizer.json")
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
			// LoRA and IA3 have PEFT's format; prefix tuning and pac are not written.
			_, err := os.Stat(filepath.Join(adapters, r.ID, "adapter_model.safetensors"))
			if want := c.method == "lora" || c.method == "ia3"; (err == nil) != want {
				t.Errorf("adapter written: %v, want %v", err == nil, want)
			}
		})
	}
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
