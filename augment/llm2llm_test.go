package augment

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// fakeStudent gets wrong the examples whose text is in wrong, however
// much data it has seen, unless learnt: a text it was fitted on with a
// "fix:" example for it.
type fakeStudent struct {
	wrong map[string]bool
	fits  [][]string // the texts of each Fit's data
	fixed map[string]bool
}

func (s *fakeStudent) Fit(data []tasks.Example) error {
	var texts []string
	s.fixed = map[string]bool{}
	for _, e := range data {
		texts = append(texts, e.Text)
		if f, ok := strings.CutPrefix(e.Text, "fix:"); ok {
			s.fixed[strings.Split(f, "#")[0]] = true
		}
	}
	s.fits = append(s.fits, texts)
	return nil
}

func (s *fakeStudent) Right(exs []tasks.Example) ([]bool, error) {
	out := make([]bool, len(exs))
	for i, e := range exs {
		out[i] = !s.wrong[e.Text] || s.fixed[e.Text]
	}
	return out, nil
}

func (s *fakeStudent) Test() (float64, error) { return float64(len(s.fixed)) / 10, nil }

// fakeTeacher writes "fix:TEXT#n" for each failed text, plus whatever
// extra says, and records what it was asked about.
type fakeTeacher struct {
	asked [][]string
	extra []string
}

// fix is the fake teacher's n-th example for a failed text at its call-th
// call: words enough that no two are near-duplicates.
func fix(text string, call, n int) string {
	return fmt.Sprintf("fix:%s#%d %s", text, n, strings.Repeat(fmt.Sprintf("c%dn%d%s ", call, n, strings.ReplaceAll(text, " ", "")), 8))
}

func (t *fakeTeacher) Write(failed []tasks.Example, k int) ([]tasks.Example, trial.Cost, error) {
	var texts []string
	var out []tasks.Example
	for _, f := range failed {
		texts = append(texts, f.Text)
		for n := range k {
			out = append(out, tasks.Example{Text: fix(f.Text, len(t.asked), n)})
		}
	}
	for _, x := range t.extra {
		out = append(out, tasks.Example{Text: x})
	}
	t.asked = append(t.asked, texts)
	return out, trial.Cost{Asked: len(failed) * k, Written: len(out)}, nil
}

func examples(texts ...string) []tasks.Example {
	out := make([]tasks.Example, len(texts))
	for i, t := range texts {
		out[i] = tasks.Example{Text: t, ID: fmt.Sprint(i)}
	}
	return out
}

// Only the seed examples the student gets wrong go to the teacher, each
// iteration fits on the seed data plus everything kept so far, and the
// loop runs its iterations.
func TestLLM2LLMAugmentsOnlySeedErrors(t *testing.T) {
	seed := examples("alpha beta", "gamma delta", "epsilon zeta", "eta theta")
	st := &fakeStudent{wrong: map[string]bool{"gamma delta": true, "eta theta": true}}
	te := &fakeTeacher{}
	rounds, err := LLM2LLM(seed, 3, 2, te, st, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	// Iteration 0 fails two seed examples; each gets 2 new examples, which
	// fix both, so iteration 1 has no error left and the loop stops.
	if len(te.asked) != 1 || !slices.Equal(te.asked[0], []string{"gamma delta", "eta theta"}) {
		t.Errorf("teacher asked about %q, want the two seed errors once", te.asked)
	}
	if len(rounds) != 2 || rounds[0].SeedErrors != 2 || rounds[0].SeedAccuracy != 0.5 || rounds[0].DataSize != 4 ||
		rounds[0].Teacher.Kept != 4 || rounds[1].DataSize != 8 || rounds[1].SeedErrors != 0 || rounds[1].TestAccuracy != 0.2 {
		t.Errorf("rounds %+v", rounds)
	}
	if len(st.fits) != 2 || !slices.Equal(st.fits[0], []string{"alpha beta", "gamma delta", "epsilon zeta", "eta theta"}) || len(st.fits[1]) != 8 {
		t.Errorf("fits %q", st.fits)
	}
	for _, r := range rounds {
		if r.Seconds < 0 || r.Iteration != slices.Index(rounds, r) {
			t.Errorf("round %+v", r)
		}
	}
}

// An error that persists is augmented again at every iteration (from the
// seed example, never from the examples written for it), for exactly the
// iterations asked.
func TestLLM2LLMIterations(t *testing.T) {
	seed := examples("one two", "three four")
	te := &fakeTeacher{}
	st := &neverLearns{&fakeStudent{wrong: map[string]bool{"three four": true}}}
	rounds, err := LLM2LLM(seed, 3, 1, te, st, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 4 || len(te.asked) != 3 || len(st.fits) != 4 {
		t.Fatalf("%d rounds, %d fits, teacher asked %d times; want 4, 4 and 3", len(rounds), len(st.fits), len(te.asked))
	}
	for _, a := range te.asked {
		if !slices.Equal(a, []string{"three four"}) {
			t.Errorf("teacher asked about %q", a)
		}
	}
	for i, r := range rounds {
		if r.DataSize != 2+i || r.SeedErrors != 1 || (i < 3) != (r.Teacher.Kept == 1) {
			t.Errorf("round %+v", r)
		}
	}
}

type neverLearns struct{ *fakeStudent }

func (n *neverLearns) Right(exs []tasks.Example) ([]bool, error) {
	out := make([]bool, len(exs))
	for i, e := range exs {
		out[i] = !n.wrong[e.Text]
	}
	return out, nil
}

// A student that gets every seed example right adds nothing: one fit, no
// teacher.
func TestLLM2LLMNothingToFix(t *testing.T) {
	st := &fakeStudent{wrong: map[string]bool{}}
	te := &fakeTeacher{}
	rounds, err := LLM2LLM(examples("a b", "c d"), 5, 3, te, st, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 1 || len(st.fits) != 1 || len(te.asked) != 0 || rounds[0].SeedAccuracy != 1 || rounds[0].Teacher != (trial.Cost{}) {
		t.Errorf("rounds %+v, %d fits, teacher asked %d times", rounds, len(st.fits), len(te.asked))
	}
	if _, err := LLM2LLM(examples("a"), 0, 1, te, st, t.Logf); err == nil {
		t.Error("zero iterations accepted")
	}
}

// Near-duplicates of the data, or of each other, are dropped and counted.
func TestLLM2LLMDropsNearDuplicates(t *testing.T) {
	seed := examples("the film was long and the plot was thin", "great soup")
	st := &fakeStudent{wrong: map[string]bool{"great soup": true}}
	te := &fakeTeacher{extra: []string{
		"The film was long, and the plot was thin!", // the seed's, up to case and punctuation
		"the film was long and the plot was very thin",
		"a brand new review about tea",
		"a brand new review about tea leaves", // near the one before
	}}
	rounds, err := LLM2LLM(seed, 1, 1, te, st, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	c := rounds[0].Teacher
	if c.Written != 5 || c.Duplicates != 3 || c.Kept != 2 || rounds[1].DataSize != 4 {
		t.Errorf("cost %+v, data %d; want 5 written, 3 duplicates, 2 kept, 4 examples", c, rounds[1].DataSize)
	}
	if got := rougeL(words("a b c d"), words("a x c d")); got != 0.75 {
		t.Errorf("ROUGE-L = %v, want 0.75", got)
	}
}
