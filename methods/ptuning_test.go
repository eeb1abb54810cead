package methods

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestPTuningCount(t *testing.T) {
	// E [L, d], then Linear(d, h), Linear(h, h), Linear(h, d), each with
	// its bias.
	encoder := func(L, h int) func(c model.Config) int {
		return func(c model.Config) int {
			d, h := c.DModel, h
			if h == 0 {
				h = d // PEFT's default width: token_dim
			}
			return L*d + (d*h + h) + (h*h + h) + (h*d + d)
		}
	}
	checkCount(t, "ptuning", nil, encoder(4, 0))
	checkCount(t, "ptuning", map[string]any{"length": 3, "encoder_hidden_size": 5}, encoder(3, 5))
	checkCount(t, "ptuning", map[string]any{"num_virtual_tokens": 1, "encoder_hidden_size": 1}, encoder(1, 1))
}

func TestPTuningRejects(t *testing.T) {
	checkRejects(t, "ptuning", map[string]map[string]any{
		"length":                          {"length": 0},
		"encoder_hidden_size":             {"encoder_hidden_size": -1},
		"encoder_reparameterization_type": {"encoder_reparameterization_type": "LSTM"},
		"encoder_num_layers":              {"encoder_num_layers": 3},
		"encoder_dropout":                 {"encoder_dropout": 0.1},
		"colour":                          {"colour": 3},
	})
	// shapeA's context is 12: 12 virtual tokens leave no room.
	checkRejects(t, "ptuning", map[string]map[string]any{"length": {"length": 12}})
	// PEFT's defaults, given under its names, are accepted.
	a := attach(t, newBase(t, shapeA, tensor.Float32), "ptuning", map[string]any{"num_virtual_tokens": 11,
		"encoder_reparameterization_type": "MLP", "encoder_num_layers": 2, "encoder_dropout": 0.0, "encoder_hidden_size": nil})
	if a.Positions != 11 {
		t.Fatalf("11 virtual tokens take %d positions", a.Positions)
	}
	_, err := Attach(newBase(t, shapeA, tensor.Float32), "ptuning", map[string]any{"encoder_reparameterization_type": "LSTM"}, 1)
	if err == nil || !strings.Contains(err.Error(), "no LSTM op") {
		t.Fatalf("LSTM: error %v does not say why", err)
	}
}

// The shared gradient check runs the defaults (h = d_model); this one a
// narrower encoder on GPT-2's and Llama's blocks.
func TestPTuningGradient(t *testing.T) {
	for _, arch := range architectures[:2] {
		t.Run(arch.name, func(t *testing.T) {
			base := newBase(t, arch.cfg, tensor.Float64)
			checkGradient(t, base, attach(t, base, "ptuning", map[string]any{"length": 3, "encoder_hidden_size": 5}), 11)
		})
	}
}

// On the tiny model, one virtual token from a 2-wide encoder with chosen
// weights (stored [in, out], applied as x·W + b):
//
//	E = [1, −2]
//	E·W₀ + b₀ = [0, 4] + [0.5, −1] = [0.5, 3]      ReLU: [0.5, 3]
//	  ·W₂ + b₂ = [4, 1] + [−5, 0.25] = [−1, 1.25]   ReLU: [0, 1.25]
//	  ·W₄ + b₄ = [−2.5, 5] + [0.5, −1] = [−2, 4]
//
// so the model must see the virtual token [−2, 4]: the logits are prompt
// tuning's with that embedding.
func TestPTuningByHand(t *testing.T) {
	base := newBase(t, tiny, tensor.Float64)
	m := base.Model
	a := attach(t, base, "ptuning", map[string]any{"length": 1, "encoder_hidden_size": 2})
	setRows(t, weight(t, m, a, "prompt_encoder.embedding.weight"), []float64{1, -2})
	setRows(t, weight(t, m, a, "prompt_encoder.mlp_head.0.weight"), []float64{1, 2}, []float64{0.5, -1})
	setRows(t, weight(t, m, a, "prompt_encoder.mlp_head.0.bias"), []float64{0.5, -1})
	setRows(t, weight(t, m, a, "prompt_encoder.mlp_head.2.weight"), []float64{2, -1}, []float64{1, 0.5})
	setRows(t, weight(t, m, a, "prompt_encoder.mlp_head.2.bias"), []float64{-5, 0.25})
	setRows(t, weight(t, m, a, "prompt_encoder.mlp_head.4.weight"), []float64{3, 1}, []float64{-2, 4})
	setRows(t, weight(t, m, a, "prompt_encoder.mlp_head.4.bias"), []float64{0.5, -1})
	want := []float64{-2, 4}
	checkRows(t, "encoder output", [][]float64{a.Hooks[0].(*ptuningHook).prompt()}, [][]float64{want})

	emb := nn.NewParam("prompt_embeddings", tensor.Float64, 1, 2)
	SetValues(emb, want)
	ids := []int{2, 0, 1} // 1 + 3 positions fill the context of 4
	got, ref := tokenLogits(t, m, ids, a.Hooks...), tokenLogits(t, m, ids, &promptHook{emb: emb})
	if d := maxDiff(got, ref); d > 1e-12 {
		t.Fatalf("logits differ from prompt tuning with [−2, 4] by %.3g", d)
	}
	if d := maxDiff(got, tokenLogits(t, m, ids)); d < 1e-6 {
		t.Fatalf("the virtual token moves the logits by only %.3g", d)
	}
}

// The virtual tokens take positions, as prompt tuning's.
func TestPTuningUsesContext(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float32)
	a := attach(t, base, "ptuning", map[string]any{"length": 5})
	if a.Positions != 5 {
		t.Fatalf("5 virtual tokens take %d positions", a.Positions)
	}
	if _, err := base.Model.Build(nn.NewGraph(tensor.Float32), 1, shapeA.Context-5, a.Hooks...); err != nil {
		t.Fatalf("context − L tokens: %v", err)
	}
	if _, err := base.Model.Build(nn.NewGraph(tensor.Float32), 1, shapeA.Context-4, a.Hooks...); err == nil {
		t.Fatal("context − L + 1 tokens built")
	}
}

// FromPEFTConfig reads a PromptEncoderConfig, refusing what PEFT's MLP
// encoder does not do.
func TestPTuningPEFTConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		f := filepath.Join(dir, "adapter_config.json")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	got, err := FromPEFTConfig("ptuning", write(`{"peft_type": "P_TUNING", "task_type": "CAUSAL_LM", "num_virtual_tokens": 20,
		"token_dim": 768, "num_transformer_submodules": 1, "num_attention_heads": 12, "num_layers": 12,
		"encoder_reparameterization_type": "MLP", "encoder_hidden_size": 128, "encoder_num_layers": 2, "encoder_dropout": 0.0}`))
	if err != nil || len(got) != 2 || got["length"] != 20 || got["encoder_hidden_size"] != 128 {
		t.Fatalf("FromPEFTConfig: %v, %v", got, err)
	}
	if _, err := FromPEFTConfig("ptuning", write(`{"peft_type": "P_TUNING", "num_virtual_tokens": 20, "encoder_reparameterization_type": "LSTM"}`)); err == nil ||
		!strings.Contains(err.Error(), `"encoder_reparameterization_type"`) {
		t.Fatalf("an LSTM encoder: %v", err)
	}
	if _, err := FromPEFTConfig("prompt", write(`{"peft_type": "P_TUNING", "num_virtual_tokens": 20}`)); err == nil || !strings.Contains(err.Error(), "ptuning") {
		t.Fatalf("P_TUNING read as prompt: %v", err)
	}
}

// LoadPEFT reads a P_TUNING file whatever encoder made it, as PEFT in
// inference mode uses prompt_embeddings without building one: an LSTM's
// adapter, with encoder fields this package refuses for training, loads as
// prompt tuning too.
func TestPTuningLoadsAnyEncoder(t *testing.T) {
	var c peftCase
	for _, k := range peftCases() {
		if k.name == "ptuning-llama" {
			c = k
		}
	}
	m, a := peftAttach(t, c, 3)
	dir := t.TempDir()
	ad := savePEFT(t, c, m, a, dir)
	ad.cfg["encoder_reparameterization_type"], ad.cfg["encoder_num_layers"], ad.cfg["encoder_dropout"] = "LSTM", 3.0, 0.1
	raw, err := json.Marshal(ad.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, PEFTConfigFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := float64Copy(t, fixtureDir(c.fixture))
	b, err := LoadPEFT(&model.Base{Name: c.fixture, Model: fresh}, dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := fixtureIDs(t, c.fixture)
	d := worstDiff(sequenceLogits(t, fresh, ids, b.Hooks...), sequenceLogits(t, m, ids, a.Hooks...))
	t.Logf("loaded as %s; logits within %.1e of the encoder's", b.Method, d)
	if b.Method != "prompt" || d > 1e-5 {
		t.Fatalf("loaded as %s, logits within %.2e", b.Method, d)
	}
}
