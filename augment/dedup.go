package augment

import (
	"strings"
	"unicode"
)

// Duplicate is the ROUGE-L F-measure at or above which a new example is a
// near-duplicate of one already in the data: Self-Instruct's threshold
// (Wang et al., 2023, arXiv 2212.10560), which LLM2LLM's de-duplication
// follows in spirit.
const Duplicate = 0.7

// words splits a text into lower-case words (runs of letters and digits).
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// rougeL is the ROUGE-L F-measure of two word sequences: their longest
// common subsequence against both lengths (Lin, 2004).
func rougeL(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(cur[j], prev[j+1])
			}
		}
		prev, cur = cur, prev
	}
	lcs := float64(prev[len(b)])
	p, r := lcs/float64(len(b)), lcs/float64(len(a))
	if lcs == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// dedup holds the texts of the data so far and admits a new text only if
// it is no near-duplicate of any of them.
type dedup struct {
	seen [][]string
}

func (d *dedup) add(text string) { d.seen = append(d.seen, words(text)) }

// admit adds text and reports true unless it is a near-duplicate.
func (d *dedup) admit(text string) bool {
	w := words(text)
	for _, s := range d.seen {
		// ROUGE-L's F-measure is at most 2·min/(len(a)+len(b)): skip pairs
		// whose lengths alone keep them apart.
		if 2*float64(min(len(w), len(s)))/float64(len(w)+len(s)) < Duplicate {
			continue
		}
		if rougeL(w, s) >= Duplicate {
			return false
		}
	}
	d.seen = append(d.seen, w)
	return true
}
