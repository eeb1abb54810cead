package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// referencePredictions are what the independent PyTorch reference
// (model/hfref) predicts on a fixture: for each prompt, the best of four
// single-token labels with their log-probabilities, and greedy decoding's
// new tokens.
type referencePredictions struct {
	Prompts       [][]int     `json:"prompts"`
	Labels        []int       `json:"labels"`
	LabelLogProbs [][]float64 `json:"label_log_probs"`
	LabelChoice   []int       `json:"label_choice"`
	Greedy        [][]int     `json:"greedy"`
}

// Label scoring and greedy decoding, the evaluation programs that read
// logits at one position per row, predict what the reference predicts on
// tied checkpoints (GPT-2, Llama 3, Qwen2, Qwen3) and on untied Llama and
// Mistral ones, whose head is lm_head and not the embedding.
func TestPredictionsMatchReference(t *testing.T) {
	for _, name := range []string{"gpt2", "llama", "llama-sharded", "llama3", "qwen2", "qwen3", "mistral"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "model", "hfref", "testdata", name)
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				P referencePredictions `json:"predictions"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			want := e.P
			if len(want.Prompts) == 0 {
				t.Fatal("expected.json has no predictions")
			}
			tr := NewTrainer(m, nn.Schedule{}, 0)
			defer tr.Close()
			B := len(want.Prompts) // one batch: shorter prompts are padded

			labels := make([][]int, len(want.Labels))
			for i, l := range want.Labels {
				labels[i] = []int{l}
			}
			choice, scores, err := Classify(tr, want.Prompts, labels, B, m.Config.Context)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.LabelChoice, choice); diff != "" {
				t.Errorf("label choices differ from the reference (-want +got):\n%s", diff)
			}
			worst := 0.0
			for i, row := range want.LabelLogProbs {
				for l, lp := range row {
					worst = max(worst, math.Abs(scores[i][l]-lp))
				}
			}
			if worst > 1e-4 {
				t.Errorf("label log-probabilities differ from the reference by up to %.2e (limit 1e-4)", worst)
			}

			greedy, err := Generate(tr, want.Prompts, len(want.Greedy[0]), B, m.Config.Context, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.Greedy, greedy); diff != "" {
				t.Errorf("greedy tokens differ from the reference (-want +got):\n%s", diff)
			}
			t.Logf("%s: label choices %v, log-probabilities within %.1e, greedy %v", name, choice, worst, greedy)
		})
	}
}
