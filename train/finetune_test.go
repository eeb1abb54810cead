package train

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPairBatchLayout(t *testing.T) {
	b, err := PairBatch([]Pair{{Prompt: []int{1, 2, 3}, Target: []int{4, 5}}, {Prompt: []int{6}, Target: []int{7}}}, 3, 64)
	if err != nil {
		t.Fatal(err)
	}
	if b.B != 3 || b.T != lengthBucket {
		t.Fatalf("shape %dx%d, want 3x%d", b.B, b.T, lengthBucket)
	}
	T := b.T
	if diff := cmp.Diff([]int{1, 2, 3, 4, 0}, b.IDs[:5]); diff != "" {
		t.Errorf("row 0 ids:\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 3, 4, 5, -1}, b.Targets[:5]); diff != "" {
		t.Errorf("row 0 targets:\n%s", diff)
	}
	// Only the target tokens (4 and 5, predicted at positions 2 and 3) count.
	if diff := cmp.Diff([]float64{0, 0, 1, 1, 0}, b.Mask[:5]); diff != "" {
		t.Errorf("row 0 mask:\n%s", diff)
	}
	if b.IDs[T] != 6 || b.Targets[T] != 7 || b.Mask[T] != 1 || b.Mask[T+1] != 0 {
		t.Errorf("row 1: ids %v targets %v mask %v", b.IDs[T:T+2], b.Targets[T:T+2], b.Mask[T:T+2])
	}
	if b.Tokens() != 3 {
		t.Errorf("%d scored tokens, want 3", b.Tokens())
	}
}

// A prompt longer than the context loses its beginning, never the target.
func TestPairBatchTruncatesPromptFromTheLeft(t *testing.T) {
	prompt := make([]int, 40)
	for i := range prompt {
		prompt[i] = i + 1
	}
	b, err := PairBatch([]Pair{{Prompt: prompt, Target: []int{99}}}, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	if b.T != 16 || b.Targets[15] != 99 || b.IDs[15] != 40 || b.Mask[15] != 1 || b.Tokens() != 1 {
		t.Fatalf("T=%d last id %d target %d mask %v", b.T, b.IDs[15], b.Targets[15], b.Mask[15])
	}
	if _, err := PairBatch([]Pair{{Prompt: prompt, Target: make([]int, 16)}}, 1, 16); err == nil {
		t.Fatal("a target filling the whole context was accepted")
	}
}

// Fine-tuning on a toy task where the label is the prompt's first token
// learns it: accuracy goes from chance to perfect, and Classify agrees with
// the scores it returns.
func TestFineTuneLearnsAToyTask(t *testing.T) {
	tr := newTrainer(t, 11, 1e-2)
	labels := [][]int{{11}, {12}}
	var pairs []Pair
	var prompts [][]int
	var gold []int
	for i := range 32 {
		l := i % 2
		p := []int{3 + l*4, 1 + i%5, 2 + i%3, 5}
		pairs = append(pairs, Pair{p, labels[l]})
		prompts = append(prompts, p)
		gold = append(gold, l)
	}
	tr.Sched.Total, tr.Sched.Warmup = 40, 2
	curve, err := FineTune(tr, pairs, 8, 16, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !(curve[len(curve)-1] < curve[0]/4) {
		t.Fatalf("epoch losses %v: not learning", curve)
	}
	preds, scores, err := Classify(tr, prompts, labels, 8, 16)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range preds {
		if p != gold[i] {
			t.Fatalf("example %d: predicted %d, gold %d (scores %v)", i, p, gold[i], scores[i])
		}
		if scores[i][p] < scores[i][1-p] {
			t.Fatalf("example %d: prediction disagrees with scores %v", i, scores[i])
		}
	}
}

// After learning that token 5 is always followed by 9 then 10, greedy
// decoding continues any prompt ending in 5 with 9, 10, stopping early when
// told to.
func TestGenerateGreedy(t *testing.T) {
	tr := newTrainer(t, 12, 1e-2)
	var pairs []Pair
	for i := range 24 {
		pairs = append(pairs, Pair{Prompt: []int{1 + i%4, 2 + i%3, 5}, Target: []int{9, 10}})
	}
	tr.Sched.Total, tr.Sched.Warmup = 60, 2
	if _, err := FineTune(tr, pairs, 8, 16, 20, 1); err != nil {
		t.Fatal(err)
	}
	prompts := [][]int{{1, 2, 5}, {3, 4, 5}, {2, 2, 5}}
	out, err := Generate(tr, prompts, 2, 2, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if !cmp.Equal(o, []int{9, 10}) {
			t.Fatalf("prompt %v continued with %v, want [9 10]", prompts[i], o)
		}
	}
	stopped, err := Generate(tr, prompts[:1], 2, 2, 16, func(toks []int) bool { return toks[len(toks)-1] == 9 })
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(stopped[0], []int{9}) {
		t.Fatalf("stop at 9 gave %v", stopped[0])
	}
}

// The one-pass scoring of single-token labels gives the same scores as
// scoring each (prompt, label) sequence.
func TestClassifySingleTokenFastPathAgrees(t *testing.T) {
	tr := newTrainer(t, 13, 1e-3)
	prompts := [][]int{{1, 2, 3}, {6, 7, 8, 9, 10}, {4, 5}}
	labels := [][]int{{11}, {12}, {3}}
	fast, err := scoreNextToken(tr, prompts, labels, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := scoreContinuations(tr, prompts, labels, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	// Classify scores in order of length; its answer is in the caller's.
	_, classified, err := Classify(tr, prompts, labels, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fast {
		for l := range fast[i] {
			if d := fast[i][l] - slow[i][l]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("prompt %d label %d: %.7f one-pass, %.7f per sequence", i, l, fast[i][l], slow[i][l])
			}
			if d := classified[i][l] - slow[i][l]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("prompt %d label %d: Classify %.7f, per sequence %.7f", i, l, classified[i][l], slow[i][l])
			}
		}
	}
}
