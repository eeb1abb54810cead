package tasks

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"

	"gonum.org/v1/gonum/optimize"
)

// Baseline holds a task's reference points on its test split: what a
// fine-tuned model has to beat to have learnt anything beyond the label
// distribution (Majority) or beyond word counts (BoWLR).
type Baseline struct {
	Task     string `json:"task"`
	TestSize int    `json:"test_size"`
	// MajorityLabel is the most frequent training label value (or, for
	// generation, the most frequent training answer); Majority is the test
	// accuracy of always predicting it.
	MajorityLabel   string  `json:"majority_label"`
	Majority        float64 `json:"majority_accuracy"`
	MajorityMacroF1 float64 `json:"majority_macro_f1,omitempty"`
	// BoWLR is nil where a bag-of-words classifier does not apply
	// (generation tasks); Note then says so.
	BoWLR *BoWResult `json:"bow_lr"`
	Note  string     `json:"note,omitempty"`
}

// BoWResult is the test score of the bag-of-words logistic regression.
type BoWResult struct {
	Accuracy float64 `json:"accuracy"`
	MacroF1  float64 `json:"macro_f1"`
	// L2 is the ridge penalty picked on the validation split; Vocab the
	// number of word features.
	L2    float64 `json:"l2"`
	Vocab int     `json:"vocab"`
}

// majority is the most frequent training label (classification) or
// answer (generation); ties go to the first label, or the smallest answer.
func majority(t *Task, train []Example) (label int, answer string) {
	if t.Kind == KindGeneration {
		count := map[string]int{}
		for _, e := range train {
			count[e.Answer]++
		}
		for a, n := range count {
			if n > count[answer] || (n == count[answer] && a < answer) {
				answer = a
			}
		}
		return -1, answer
	}
	counts := make([]int, len(t.Labels))
	for _, e := range train {
		counts[e.Label]++
	}
	for c := range counts {
		if counts[c] > counts[label] {
			label = c
		}
	}
	return label, ""
}

// MajorityRight says for each test example whether always giving the
// majority answer gets it right: the majority class as a per-example
// control for paired tests.
func MajorityRight(t *Task) ([]bool, error) {
	train, err := t.Split("train")
	if err != nil {
		return nil, err
	}
	test, err := t.Split("test")
	if err != nil {
		return nil, err
	}
	label, answer := majority(t, train)
	right := make([]bool, len(test))
	for i, e := range test {
		if t.Kind == KindGeneration {
			right[i] = e.Answer == answer
		} else {
			right[i] = e.Label == label
		}
	}
	return right, nil
}

// Baselines computes the task's reference points. For classification the
// bag-of-words model is a multinomial logistic regression on binary word
// presence (lower-cased runs of letters and digits seen in at least two
// training prompts, each row scaled to unit length), with an L2 penalty
// chosen from a small grid by validation accuracy (the middle of the grid
// when there is no validation split), trained to convergence on the train
// split by L-BFGS and scored on test. Features come from the prompt as the
// model sees it, so the baseline sees the same truncated text.
func Baselines(t *Task) (Baseline, error) {
	b := Baseline{Task: t.Name}
	test, err := t.Split("test")
	if err != nil {
		return b, err
	}
	train, err := t.Split("train")
	if err != nil {
		return b, err
	}
	b.TestSize = len(test)
	if t.Kind == KindGeneration {
		_, best := majority(t, train)
		hit := 0
		for _, e := range test {
			if e.Answer == best {
				hit++
			}
		}
		b.MajorityLabel = best
		b.Majority = float64(hit) / float64(len(test))
		b.Note = "generation task: majority is the test share of the most frequent training answer; bag-of-words logistic regression does not apply"
		return b, nil
	}
	k := len(t.Labels)
	maj, _ := majority(t, train)
	gold := labelsOf(test)
	pred := make([]int, len(test))
	for i := range pred {
		pred[i] = maj
	}
	b.MajorityLabel = t.Classes[maj]
	b.Majority = Accuracy(pred, gold)
	b.MajorityMacroF1 = MacroF1(pred, gold, k)

	vocab := buildVocab(train)
	xTrain := featurize(train, vocab)
	yTrain := labelsOf(train)
	grid := []float64{1e-2, 1e-3, 1e-4, 1e-5}
	l2 := 1e-3
	if val, err := t.Split("validation"); err == nil {
		xVal, yVal := featurize(val, vocab), labelsOf(val)
		bestAcc := -1.0
		for _, lam := range grid {
			m, err := fitLR(xTrain, yTrain, len(vocab), k, lam)
			if err != nil {
				return b, err
			}
			// Strictly better only: ties keep the stronger penalty.
			if acc := Accuracy(m.predict(xVal), yVal); acc > bestAcc {
				bestAcc, l2 = acc, lam
			}
		}
	}
	m, err := fitLR(xTrain, yTrain, len(vocab), k, l2)
	if err != nil {
		return b, err
	}
	p := m.predict(featurize(test, vocab))
	b.BoWLR = &BoWResult{Accuracy: Accuracy(p, gold), MacroF1: MacroF1(p, gold, k), L2: l2, Vocab: len(vocab)}
	return b, nil
}

func labelsOf(es []Example) []int {
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = e.Label
	}
	return out
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

func buildVocab(train []Example) map[string]int {
	df := map[string]int{}
	for _, e := range train {
		seen := map[string]bool{}
		for _, w := range words(e.Prompt) {
			if !seen[w] {
				seen[w] = true
				df[w]++
			}
		}
	}
	var keep []string
	for w, n := range df {
		if n >= 2 {
			keep = append(keep, w)
		}
	}
	sort.Strings(keep) // fixed feature order: the optimiser sees the same problem every run
	vocab := make(map[string]int, len(keep))
	for i, w := range keep {
		vocab[w] = i
	}
	return vocab
}

// sparseRow is a document: feature indices with equal weights 1/sqrt(n).
type sparseRow struct {
	idx []int
	val float64
}

func featurize(es []Example, vocab map[string]int) []sparseRow {
	rows := make([]sparseRow, len(es))
	for i, e := range es {
		seen := map[int]bool{}
		var idx []int
		for _, w := range words(e.Prompt) {
			if j, ok := vocab[w]; ok && !seen[j] {
				seen[j] = true
				idx = append(idx, j)
			}
		}
		sort.Ints(idx)
		r := sparseRow{idx: idx}
		if len(idx) > 0 {
			r.val = 1 / math.Sqrt(float64(len(idx)))
		}
		rows[i] = r
	}
	return rows
}

// lrModel is W (features x classes, row-major) followed by k biases.
type lrModel struct {
	w    []float64
	v, k int
}

func (m *lrModel) scores(r sparseRow, out []float64) {
	copy(out, m.w[m.v*m.k:])
	for _, j := range r.idx {
		row := m.w[j*m.k : (j+1)*m.k]
		for c := range out {
			out[c] += r.val * row[c]
		}
	}
}

func (m *lrModel) predict(rows []sparseRow) []int {
	s := make([]float64, m.k)
	out := make([]int, len(rows))
	for i, r := range rows {
		m.scores(r, s)
		best := 0
		for c := range s {
			if s[c] > s[best] {
				best = c
			}
		}
		out[i] = best
	}
	return out
}

// fitLR minimises mean cross-entropy + l2/2 * |W|^2 (biases unpenalised)
// by L-BFGS, stopping when the largest gradient component falls below
// lrGradTol or after lrMaxIter iterations. The objective is strictly
// convex, so the optimum, and with it the recorded baseline, does not
// depend on the optimiser's path; evaluations are sequential, so the result
// is the same on every run.
func fitLR(x []sparseRow, y []int, v, k int, l2 float64) (*lrModel, error) {
	obj := &lrObjective{x: x, y: y, l2: l2, m: lrModel{v: v, k: k}, s: make([]float64, k)}
	p := optimize.Problem{
		Func: func(w []float64) float64 { return obj.eval(nil, w) },
		Grad: func(grad, w []float64) { obj.eval(grad, w) },
	}
	settings := &optimize.Settings{
		GradientThreshold: lrGradTol,
		MajorIterations:   lrMaxIter,
	}
	res, err := optimize.Minimize(p, make([]float64, (v+1)*k), settings, &optimize.LBFGS{})
	if err != nil {
		return nil, fmt.Errorf("tasks: bag-of-words logistic regression (l2 %g): %w", l2, err)
	}
	return &lrModel{w: res.X, v: v, k: k}, nil
}

const (
	lrGradTol = 1e-7
	lrMaxIter = 2000
)

// lrObjective is fitLR's objective on a fixed training set.
type lrObjective struct {
	x  []sparseRow
	y  []int
	l2 float64
	m  lrModel
	s  []float64
}

// eval returns the objective at w and, when grad is non-nil, writes the
// gradient into it.
func (o *lrObjective) eval(grad, w []float64) float64 {
	v, k := o.m.v, o.m.k
	n := float64(len(o.x))
	o.m.w = w
	s := o.s
	for i := range grad {
		grad[i] = 0
	}
	loss := 0.0
	for i, r := range o.x {
		o.m.scores(r, s)
		mx := s[0]
		for _, z := range s {
			mx = math.Max(mx, z)
		}
		sum := 0.0
		for c := range s {
			s[c] = math.Exp(s[c] - mx)
			sum += s[c]
		}
		loss -= math.Log(s[o.y[i]]/sum) / n
		if grad == nil {
			continue
		}
		for c := range s {
			d := s[c] / sum
			if c == o.y[i] {
				d--
			}
			d /= n
			grad[v*k+c] += d
			for _, j := range r.idx {
				grad[j*k+c] += d * r.val
			}
		}
	}
	for i := 0; i < v*k; i++ {
		loss += 0.5 * o.l2 * w[i] * w[i]
		if grad != nil {
			grad[i] += o.l2 * w[i]
		}
	}
	return loss
}

// RecordedBaselines returns the baselines computed when the built-in data
// was built (data/baselines.json), keyed by task name, so reports can show
// them without recomputing.
func RecordedBaselines() (map[string]Baseline, error) {
	b, err := dataFS.ReadFile("data/baselines.json")
	if err != nil {
		return nil, fmt.Errorf("tasks: recorded baselines: %w", err)
	}
	var list []Baseline
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("tasks: data/baselines.json: %w", err)
	}
	out := map[string]Baseline{}
	for _, x := range list {
		out[x.Task] = x
	}
	return out, nil
}
