package train

import (
	"hash/fnv"
	"strings"
	"unicode"

	"github.com/peftbench/peftbench/tasks"
)

// Contamination: pre-training text must hold no evaluation text. Texts are
// compared as sequences of lower-cased words (letters and digits; other
// characters separate words). An evaluation text of at least n words
// contaminates a training text that shares any n consecutive words with
// it (GPT-3's 13-gram overlap test, Brown et al., 2020, appendix C); a
// shorter one, a training text made of exactly its words.

// words splits s into lower-cased words of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// shingles hashes every run of n consecutive words of w; a text of fewer
// than n words hashes whole, marked apart from the runs.
func shingles(w []string, n int) []uint64 {
	hash := func(ws []string, whole bool) uint64 {
		h := fnv.New64a()
		if whole {
			h.Write([]byte{0})
		}
		for _, x := range ws {
			h.Write([]byte(x))
			h.Write([]byte{' '})
		}
		return h.Sum64()
	}
	if len(w) < n {
		return []uint64{hash(w, true)}
	}
	out := make([]uint64, 0, len(w)-n+1)
	for i := 0; i+n <= len(w); i++ {
		out = append(out, hash(w[i:i+n], false))
	}
	return out
}

// Evaluation is the set of n-word runs (and short whole texts) of the
// texts a model is evaluated on.
type Evaluation struct {
	n    int
	runs map[uint64]bool
}

// NewEvaluation collects the evaluation texts' runs of n words.
func NewEvaluation(n int, texts []string) *Evaluation {
	e := &Evaluation{n: n, runs: map[uint64]bool{}}
	for _, t := range texts {
		for _, h := range shingles(words(t), n) {
			e.runs[h] = true
		}
	}
	return e
}

// Contaminated says whether text holds a run of n words of an evaluation
// text, or is a short evaluation text.
func (e *Evaluation) Contaminated(text string) bool {
	for _, h := range shingles(words(text), e.n) {
		if e.runs[h] {
			return true
		}
	}
	return false
}

// EvaluationTexts are the validation and test texts of every built-in
// task, as their prompts show them (no max_chars cut): what no pre-training
// text may hold.
func EvaluationTexts() ([]string, error) {
	var out []string
	for _, name := range tasks.Builtin() {
		t, err := tasks.Load(name)
		if err != nil {
			return nil, err
		}
		t.MaxChars = 0
		for _, split := range t.Splits() {
			if split == "train" {
				continue
			}
			exs, err := t.Split(split)
			if err != nil {
				return nil, err
			}
			for _, e := range exs {
				out = append(out, uncued(e))
			}
		}
	}
	return out, nil
}

// Clean returns the texts that are not contaminated, in order, and how
// many were dropped.
func (e *Evaluation) Clean(texts []string) ([]string, int) {
	var out []string
	for _, t := range texts {
		if !e.Contaminated(t) {
			out = append(out, t)
		}
	}
	return out, len(texts) - len(out)
}
