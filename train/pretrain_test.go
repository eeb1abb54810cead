package train

import (
	"strings"
	"testing"

	"github.com/peftbench/peftbench/tasks"
)

// In-domain pre-training text is each training example's prompt up to the
// end of its text: the answer cue and label never enter, nor does any
// validation example (held out) or test example.
func TestTaskTextsAreUnlabeledTrainingPrompts(t *testing.T) {
	train, held, err := taskTexts([]string{"spam"})
	if err != nil {
		t.Fatal(err)
	}
	task, err := tasks.Load("spam")
	if err != nil {
		t.Fatal(err)
	}
	task.MaxChars = 0
	for split, got := range map[string][]string{"train": train["spam"], "validation": held["spam"]} {
		exs, _ := task.Split(split)
		if len(got) != len(exs) || len(got) == 0 {
			t.Fatalf("%s: %d documents for %d examples", split, len(got), len(exs))
		}
		for i, d := range got {
			if strings.Contains(d, "\nLabel:") || !strings.HasPrefix(d, "Subject: ") || !strings.HasSuffix(exs[i].Prompt, "\nLabel:") {
				t.Fatalf("%s %d: %q (prompt %q)", split, i, d, exs[i].Prompt)
			}
			if want := strings.TrimSuffix(exs[i].Prompt, "\nLabel:"); d != want {
				t.Fatalf("%s %d: %q, want the prompt without its cue %q", split, i, d, want)
			}
		}
	}
	test, _ := task.Split("test")
	inTrain := map[string]bool{}
	for _, d := range train["spam"] {
		inTrain[d] = true
	}
	leaked := 0
	for _, e := range test {
		if inTrain[uncued(e)] {
			leaked++
		}
	}
	// The corpus has a few exact duplicates across splits (forwarded
	// mail); the training text is the training split's, not the test's.
	if leaked > len(test)/50 {
		t.Fatalf("%d of %d test prompts appear in the pre-training text", leaked, len(test))
	}
	if _, _, err := taskTexts([]string{"no-such-task"}); err == nil {
		t.Fatal("an unknown task is an error")
	}
}
