package tasks

import (
	"strconv"
	"strings"
	"unicode"
)

// Accuracy is the share of positions where pred equals gold; 0 for empty
// input. It panics when the lengths differ: that is a caller bug, and a
// silently truncated score would be worse than a crash.
func Accuracy(pred, gold []int) float64 {
	mustSameLen(len(pred), len(gold))
	if len(gold) == 0 {
		return 0
	}
	ok := 0
	for i := range gold {
		if pred[i] == gold[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(gold))
}

// MacroF1 is the unweighted mean over classes 0..numLabels-1 of each
// class's F1 = 2TP / (2TP + FP + FN). A class with no gold and no predicted
// example scores 0, as in scikit-learn's f1_score(average="macro",
// labels=range(numLabels), zero_division=0), so numbers can be compared
// with that. A prediction outside 0..numLabels-1 (say -1 for "no answer")
// counts as a miss for its gold class.
func MacroF1(pred, gold []int, numLabels int) float64 {
	mustSameLen(len(pred), len(gold))
	if numLabels <= 0 {
		return 0
	}
	tp := make([]int, numLabels)
	fp := make([]int, numLabels)
	fn := make([]int, numLabels)
	for i := range gold {
		p, g := pred[i], gold[i]
		if p == g {
			if g >= 0 && g < numLabels {
				tp[g]++
			}
			continue
		}
		if p >= 0 && p < numLabels {
			fp[p]++
		}
		if g >= 0 && g < numLabels {
			fn[g]++
		}
	}
	sum := 0.0
	for c := 0; c < numLabels; c++ {
		if d := 2*tp[c] + fp[c] + fn[c]; d > 0 {
			sum += float64(2*tp[c]) / float64(d)
		}
	}
	return sum / float64(numLabels)
}

// ExactMatch is the share of positions where NormaliseAnswer(pred) equals
// NormaliseAnswer(gold); 0 for empty input. It panics on a length mismatch.
func ExactMatch(pred, gold []string) float64 {
	mustSameLen(len(pred), len(gold))
	if len(gold) == 0 {
		return 0
	}
	ok := 0
	for i := range gold {
		if NormaliseAnswer(pred[i]) == NormaliseAnswer(gold[i]) {
			ok++
		}
	}
	return float64(ok) / float64(len(gold))
}

func mustSameLen(a, b int) {
	if a != b {
		panic("tasks: metric over " + strconv.Itoa(a) + " predictions and " + strconv.Itoa(b) + " gold labels")
	}
}

// NormaliseAnswer maps an answer to the form compared by exact match. It is
// applied to raw model output, so it:
//   - keeps only the first line (greedy decoding runs on past the answer);
//   - lower-cases, collapses white space, and trims white space and the
//     punctuation a sentence puts around an answer (quotes, final period);
//   - writes numbers canonically: "$1,200.00" -> "1200", "+7" -> "7",
//     "-0" -> "0", "3.50" -> "3.5".
//
// It does not search for an answer inside a sentence ("the answer is 12"
// stays as it is): the tasks teach the model to answer with the bare
// answer, and a lenient extractor would hide a model that has not learnt
// the format. It is idempotent.
func NormaliseAnswer(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	quote := func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune("\"'`", r) }
	s = strings.TrimLeftFunc(s, quote)
	s = strings.TrimRightFunc(s, func(r rune) bool { return quote(r) || strings.ContainsRune(".,;:!?", r) })
	if n, ok := canonicalNumber(s); ok {
		return n
	}
	return s
}

// canonicalNumber recognises a plain number, optionally with a sign, a
// currency sign, thousands separators and a decimal part, and writes it
// without any of the decorations.
func canonicalNumber(s string) (string, bool) {
	neg := false
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		neg = s[0] == '-'
		s = s[1:]
	}
	s = strings.TrimPrefix(s, "$")
	if s == "" {
		return "", false
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if (intPart == "" && !hasFrac) || (hasFrac && frac == "") {
		return "", false
	}
	if intPart == "" {
		intPart = "0" // ".5"
	}
	// Thousands separators must sit between groups of three digits, so
	// "1,2" (a list) is not read as 12.
	groups := strings.Split(intPart, ",")
	for i, g := range groups {
		if !allDigits(g) || (len(groups) > 1 && ((i == 0 && (len(g) == 0 || len(g) > 3)) || (i > 0 && len(g) != 3))) {
			return "", false
		}
	}
	if hasFrac && !allDigits(frac) {
		return "", false
	}
	digits := strings.TrimLeft(strings.Join(groups, ""), "0")
	if digits == "" {
		digits = "0"
	}
	frac = strings.TrimRight(frac, "0")
	out := digits
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Metrics names the task's metrics, as result files should label them:
// "accuracy" and "macro_f1" for classification, "exact_match" for
// generation. The first is the headline number.
func (t *Task) Metrics() []string {
	if t.Kind == KindGeneration {
		return []string{"exact_match"}
	}
	return []string{"accuracy", "macro_f1"}
}
