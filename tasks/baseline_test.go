package tasks

import (
	"math"
	"testing"
)

// TestBaselinesReproduce recomputes each built-in task's baselines and
// compares them with data/baselines.json, which reports show. Majority
// numbers must match exactly; the logistic regression may differ by one
// test example (floating-point differences across platforms could flip a
// borderline prediction), never more.
func TestBaselinesReproduce(t *testing.T) {
	recorded, err := RecordedBaselines()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Builtin() {
		t.Run(name, func(t *testing.T) {
			rec, ok := recorded[name]
			if !ok {
				t.Fatalf("no recorded baseline for %s", name)
			}
			got, err := Baselines(mustLoad(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if got.Majority != rec.Majority || got.MajorityLabel != rec.MajorityLabel || got.TestSize != rec.TestSize {
				t.Errorf("majority %v (%s, n=%d), recorded %v (%s, n=%d)", got.Majority, got.MajorityLabel, got.TestSize, rec.Majority, rec.MajorityLabel, rec.TestSize)
			}
			if (got.BoWLR == nil) != (rec.BoWLR == nil) {
				t.Fatalf("BoWLR %v, recorded %v", got.BoWLR, rec.BoWLR)
			}
			if got.BoWLR == nil {
				if got.Note == "" {
					t.Error("no note saying why the bag-of-words baseline is missing")
				}
				return
			}
			oneExample := 1/float64(got.TestSize) + 1e-12
			if d := math.Abs(got.BoWLR.Accuracy - rec.BoWLR.Accuracy); d > oneExample {
				t.Errorf("BoW-LR accuracy %v, recorded %v", got.BoWLR.Accuracy, rec.BoWLR.Accuracy)
			}
			if got.BoWLR.L2 != rec.BoWLR.L2 || got.BoWLR.Vocab != rec.BoWLR.Vocab {
				t.Errorf("BoW-LR l2 %v vocab %d, recorded %v %d", got.BoWLR.L2, got.BoWLR.Vocab, rec.BoWLR.L2, rec.BoWLR.Vocab)
			}
			if got.BoWLR.Accuracy <= got.Majority {
				t.Errorf("BoW-LR %v does not beat majority %v", got.BoWLR.Accuracy, got.Majority)
			}
		})
	}
}

func TestLogisticRegressionSeparable(t *testing.T) {
	// Word "a" means class 0, "b" class 1, "c" class 2; "x" is noise.
	docs := []struct {
		text  string
		label int
	}{
		{"a x", 0}, {"a", 0}, {"a a x", 0},
		{"b x", 1}, {"b", 1}, {"b b", 1},
		{"c", 2}, {"c x", 2}, {"x c", 2},
	}
	var es []Example
	for _, d := range docs {
		es = append(es, Example{Prompt: d.text, Label: d.label})
	}
	vocab := buildVocab(es)
	m, err := fitLR(featurize(es, vocab), labelsOf(es), len(vocab), 3, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	if acc := Accuracy(m.predict(featurize(es, vocab)), labelsOf(es)); acc != 1 {
		t.Errorf("training accuracy %v on separable data", acc)
	}
}

// The per-example majority control scores what the recorded baseline says.
func TestMajorityRightMatchesBaseline(t *testing.T) {
	recorded, err := RecordedBaselines()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sentiment", "spam", "topic", "arith"} {
		task, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		right, err := MajorityRight(task)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range right {
			if r {
				n++
			}
		}
		b := recorded[name]
		if len(right) != b.TestSize || float64(n)/float64(len(right)) != b.Majority {
			t.Errorf("%s: %d of %d right, the baseline says %v of %d", name, n, len(right), b.Majority, b.TestSize)
		}
	}
}
