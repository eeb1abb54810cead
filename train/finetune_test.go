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
