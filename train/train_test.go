package train

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

var small = model.Config{Vocab: 13, Context: 16, DModel: 16, Layers: 2, Heads: 2, DFF: 32}

// periodic is a stream a model can learn quickly: a repeating pattern.
func periodic(n int) *Stream {
	s := &Stream{}
	for i := range n {
		s.Tokens = append(s.Tokens, (i*i+3*i)%7+1)
		s.Scored = append(s.Scored, true)
	}
	s.Bytes = n
	return s
}

func newTrainer(t *testing.T, seed uint64, lr float64) *Trainer {
	t.Helper()
	m, err := model.New(small, tensor.Float32, seed)
	if err != nil {
		t.Fatal(err)
	}
	return NewTrainer(m, nn.Schedule{Peak: lr, Warmup: 2, Total: 30, MinFactor: 0.1}, 0.01)
}

func losses(t *testing.T, tr *Trainer, steps int) []float64 {
	t.Helper()
	w, err := NewWindows(periodic(400), 4, 12, 42)
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for range steps {
		l, err := tr.Step(w.Next())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func TestTrainingLearnsAndIsDeterministic(t *testing.T) {
	a := losses(t, newTrainer(t, 1, 3e-3), 30)
	b := losses(t, newTrainer(t, 1, 3e-3), 30)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different losses:\n%s", diff)
	}
	if !(a[len(a)-1] < 0.7*a[0]) {
		t.Fatalf("loss went from %.3f to %.3f: not learning", a[0], a[len(a)-1])
	}
}

func TestFrozenWeightsBitIdentical(t *testing.T) {
	tr := newTrainer(t, 2, 1e-2)
	frozen := map[string][]float32{}
	for _, p := range tr.Model.Params {
		if strings.HasPrefix(p.Name, "wte") || strings.HasPrefix(p.Name, "wpe") || strings.HasPrefix(p.Name, "h.0.") {
			p.Trainable = false
			frozen[p.Name] = append([]float32(nil), p.F32()...)
		}
	}
	before := append([]float32(nil), tr.Model.Param("h.1.mlp.fc.weight").F32()...)
	losses(t, tr, 5)
	for name, want := range frozen {
		if diff := cmp.Diff(want, tr.Model.Param(name).F32()); diff != "" {
			t.Fatalf("frozen %s changed", name)
		}
	}
	if cmp.Equal(before, tr.Model.Param("h.1.mlp.fc.weight").F32()) {
		t.Fatal("a trainable weight did not change")
	}
}

// Weight gradients are the products xᵀ·g (MatMul{true,false}); with every
// matrix frozen, none may be compiled.
func TestNoGradientWorkForFrozenWeights(t *testing.T) {
	count := func(trainable func(*nn.Param) bool) int {
		m, _ := model.New(small, tensor.Float32, 3)
		for _, p := range m.Params {
			p.Trainable = trainable(p)
		}
		g := nn.NewGraph(tensor.Float32)
		lm, err := m.BuildLM(g, 2, 8)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := nn.Compile(g, lm.Loss)
		if err != nil {
			t.Fatal(err)
		}
		return prog.OpCounts()["MatMul{true,false}"]
	}
	full := count(func(*nn.Param) bool { return true })
	// Six linear layers per block, and the tied head's gᵀ·x.
	if want := 6*small.Layers + 1; full != want {
		t.Errorf("full fine-tuning compiles %d weight-gradient products, want %d", full, want)
	}
	if n := count(func(p *nn.Param) bool { return p.Value.Dims() == 1 }); n != 0 {
		t.Errorf("with every matrix frozen, %d weight-gradient products are compiled", n)
	}
}

func TestNaNStopsWithClearError(t *testing.T) {
	tr := newTrainer(t, 4, 1e-3)
	tr.Model.Param("h.0.mlp.fc.weight").F32()[0] = float32(math.NaN())
	w, _ := NewWindows(periodic(100), 2, 8, 1)
	_, err := tr.Step(w.Next())
	if err == nil || !strings.Contains(err.Error(), "step 0") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("got %v, want an error naming step 0 and NaN", err)
	}
}

// With a zero token embedding every logit is zero, so each scored token
// costs exactly log2(vocab) bits, whatever the windowing.
func TestBitsPerByteUniform(t *testing.T) {
	tr := newTrainer(t, 5, 1e-3)
	clear(tr.Model.Param("wte.weight").F32())
	s := NewStream([]string{"abcdefghij", "klmnopqrstuvw"}, func(d string) []int {
		ids := make([]int, len(d))
		for i := range d {
			ids[i] = int(d[i]-'a')%12 + 1
		}
		return ids
	}, 0)
	for _, T := range []int{4, 7, 16} {
		got, err := BitsPerByte(tr, s, 3, T)
		if err != nil {
			t.Fatal(err)
		}
		want := 23 * math.Log2(13) / 23
		if math.Abs(got-want) > 1e-5 {
			t.Errorf("T=%d: %.6f bits per byte, want %.6f", T, got, want)
		}
	}
}

// With the stream inside one window, the result is the plain sum of the
// scored tokens' log-likelihoods.
func TestBitsPerByteMatchesDirectSum(t *testing.T) {
	tr := newTrainer(t, 6, 3e-3)
	losses(t, tr, 10)
	s := periodic(15)
	s.Scored[3] = false // a separator: not scored
	got, err := BitsPerByte(tr, s, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	b := Batch{B: 1, T: 16, IDs: make([]int, 16), Targets: make([]int, 16), Mask: make([]float64, 16)}
	for i := range 14 {
		b.IDs[i], b.Targets[i] = s.Tokens[i], s.Tokens[i+1]
	}
	b.Targets[14], b.Targets[15] = -1, -1
	lp, err := tr.LogProbs(b)
	if err != nil {
		t.Fatal(err)
	}
	var nats float64
	for i := range 14 {
		if s.Scored[i+1] {
			nats -= lp[i]
		}
	}
	if want := nats / math.Ln2 / 15; math.Abs(got-want) > 1e-6*want { // float32 sums of two batch shapes
		t.Fatalf("%.9f bits per byte, want %.9f", got, want)
	}
}
