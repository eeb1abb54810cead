package train

import (
	"testing"
)

func TestContaminationRule(t *testing.T) {
	e := NewEvaluation(5, []string{"The quick brown fox jumps over the lazy dog.", "Buy now!"})
	for _, c := range []struct {
		text string
		want bool
	}{
		{"A QUICK brown fox, jumps - the end", false}, // 4 words in a row ("quick brown fox jumps")
		{"see: quick brown FOX jumps over!", true},    // 5 in a row, case and punctuation aside
		{"buy now", true},           // a short evaluation text, whole
		{"buy now and save", false}, // short texts match only whole
		{"", false},
	} {
		if got := e.Contaminated(c.text); got != c.want {
			t.Errorf("%q: contaminated %v, want %v", c.text, got, c.want)
		}
	}
}

// The pre-training text of the next base model (the shipped corpus and
// the built-in tasks' training prompts, decontaminated at 13 words) holds
// no validation or test text of any built-in task, nor a run of 13 of its
// words; the Brown corpus with them. Without decontamination the tasks' training prompts do (spam's
// mailing-list threads quote each other across splits), so the check can
// fail; the addresses and Moby Dick share nothing with the tasks, so the
// rule is not too broad.
func TestDecontaminatedCorpusHoldsNoEvaluationText(t *testing.T) {
	if testing.Short() {
		t.Skip("scans the whole corpus")
	}
	eval, err := EvaluationTexts()
	if err != nil {
		t.Fatal(err)
	}
	e := NewEvaluation(13, eval)
	docs, err := trainDocuments([]string{"brown"})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"sentiment", "spam", "topic"}
	taskTrain, _, err := taskTexts(names)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string][]string{"corpus": docTexts(docs)}
	for _, name := range names {
		sources[name] = taskTrain[name]
	}
	total := 0
	for name, texts := range sources {
		clean, dropped := e.Clean(texts)
		total += dropped
		t.Logf("%s: %d of %d texts dropped", name, dropped, len(texts))
		for _, text := range clean {
			if e.Contaminated(text) {
				t.Fatalf("%s: a cleaned training text is contaminated: %.80q", name, text)
			}
		}
		if name == "corpus" && dropped > 0 || dropped > len(texts)/5 {
			t.Errorf("%s: %d of %d texts dropped: the rule is too broad", name, dropped, len(texts))
		}
	}
	if total == 0 {
		t.Fatal("no training text shares 13 words with an evaluation text: the check cannot fail on this data")
	}
}
