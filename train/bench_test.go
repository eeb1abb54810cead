package train

import (
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// Tiny is the shipped base model's architecture.
var tiny = model.Config{Vocab: 2048, Context: 256, DModel: 128, Layers: 4, Heads: 4, DFF: 512}

// BenchmarkStep reports training tokens/s of the tiny model for full
// fine-tuning and with the embeddings frozen, at batch 8 × 256 tokens.
func BenchmarkStep(b *testing.B) {
	for _, c := range []struct {
		name   string
		frozen func(string) bool
	}{
		{"full", func(string) bool { return false }},
		{"frozen-embeddings", func(n string) bool { return strings.HasPrefix(n, "wte") || strings.HasPrefix(n, "wpe") }},
	} {
		b.Run(c.name+"/blas="+nn.BLAS(), func(b *testing.B) {
			m, err := model.New(tiny, tensor.Float32, 1)
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range m.Params {
				p.Trainable = !c.frozen(p.Name)
			}
			s := &Stream{}
			for i := range 5000 {
				s.Tokens = append(s.Tokens, (i*31+7)%tiny.Vocab)
				s.Scored = append(s.Scored, true)
			}
			w, err := NewWindows(s, 8, 256, 1)
			if err != nil {
				b.Fatal(err)
			}
			tr := NewTrainer(m, nn.Schedule{Peak: 1e-3, Warmup: 1, Total: 1000}, 0.01)
			if _, err := tr.Step(w.Next()); err != nil { // compile outside the timing
				b.Fatal(err)
			}
			tr.TokensSeen, tr.TrainTime = 0, 0
			b.ResetTimer()
			for range b.N {
				if _, err := tr.Step(w.Next()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(tr.TokensPerSec(), "tokens/s")
		})
	}
}
