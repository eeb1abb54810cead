package trial

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Outcomes are a trial's per-example results on one split: which examples
// it got right and what it answered, with each example's position in the
// split, so that two results scored on the same examples can be paired
// (package stats).
type Outcomes struct {
	Split string `json:"split"`
	// Index lists the examples' positions in the split as ascending
	// ranges, "0-999" or "0-9,20-29".
	Index string `json:"index"`
	// Correct has one character per example, in Index order: '1' right,
	// '0' wrong.
	Correct string `json:"correct"`
	// Predicted is the label index chosen for each example (Labels names
	// them), for classification.
	Labels    []string `json:"labels,omitempty"`
	Predicted []int    `json:"predicted,omitempty"`
	// Answers are the normalised answers generated, for generation.
	Answers []string `json:"answers,omitempty"`
}

// NewOutcomes records right/wrong per example; the caller adds the
// predictions.
func NewOutcomes(split string, index []int, right []bool) Outcomes {
	c := make([]byte, len(right))
	for i, ok := range right {
		c[i] = '0'
		if ok {
			c[i] = '1'
		}
	}
	return Outcomes{Split: split, Index: FormatIndex(index), Correct: string(c)}
}

// Right decodes Correct.
func (o Outcomes) Right() []bool {
	out := make([]bool, len(o.Correct))
	for i := range o.Correct {
		out[i] = o.Correct[i] == '1'
	}
	return out
}

// Positions decodes Index and checks it against Correct.
func (o Outcomes) Positions() ([]int, error) {
	idx, err := ParseIndex(o.Index)
	if err != nil {
		return nil, err
	}
	if len(idx) != len(o.Correct) {
		return nil, fmt.Errorf("trial: outcomes on %s: %d indices for %d outcomes", o.Split, len(idx), len(o.Correct))
	}
	if strings.Trim(o.Correct, "01") != "" {
		return nil, fmt.Errorf("trial: outcomes on %s: correct holds a character other than 0 and 1", o.Split)
	}
	return idx, nil
}

// Accuracy is the share of examples right; NaN for none.
func (o Outcomes) Accuracy() float64 {
	return float64(strings.Count(o.Correct, "1")) / float64(len(o.Correct))
}

// OutcomesOn returns the result's outcomes on split, if recorded.
func (r *Result) OutcomesOn(split string) (Outcomes, bool) {
	for _, o := range r.Outcomes {
		if o.Split == split {
			return o, true
		}
	}
	return Outcomes{}, false
}

// FormatIndex writes ascending positions as ranges: [0 1 2 5] → "0-2,5".
func FormatIndex(idx []int) string {
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}

// ParseIndex reads FormatIndex's ranges; they must ascend.
func ParseIndex(s string) ([]int, error) {
	var out []int
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || (len(out) > 0 && a <= out[len(out)-1]) {
			return nil, fmt.Errorf("trial: index %q: bad or unordered range %q", s, part)
		}
		for k := a; k <= b; k++ {
			out = append(out, k)
		}
	}
	return out, nil
}

// Align pairs the outcomes of several sides (each a list of seeds) on the
// examples every one of them scored, in split order: out[side][seed][i]
// says whether that seed got the i-th shared example right.
func Align(sides [][]Outcomes) ([][][]bool, error) {
	type seed struct {
		pos   []int
		right []bool
	}
	decoded := make([][]seed, len(sides))
	count := map[int]int{}
	total := 0
	for s, side := range sides {
		if len(side) == 0 {
			return nil, fmt.Errorf("trial: no per-example outcomes recorded")
		}
		for _, o := range side {
			pos, err := o.Positions()
			if err != nil {
				return nil, err
			}
			decoded[s] = append(decoded[s], seed{pos, o.Right()})
			for _, p := range pos {
				count[p]++
			}
			total++
		}
	}
	var common []int
	for p, n := range count {
		if n == total {
			common = append(common, p)
		}
	}
	if len(common) == 0 {
		return nil, fmt.Errorf("trial: no example scored by every side")
	}
	sort.Ints(common)
	at := make(map[int]int, len(common))
	for i, p := range common {
		at[p] = i
	}
	out := make([][][]bool, len(sides))
	for s, side := range decoded {
		for _, sd := range side {
			row := make([]bool, len(common))
			for i, p := range sd.pos {
				if j, ok := at[p]; ok {
					row[j] = sd.right[i]
				}
			}
			out[s] = append(out[s], row)
		}
	}
	return out, nil
}
