package reports

import (
	"math"
	"slices"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// inputs are what the aggregation needs beyond the results: facts about
// tasks that results do not carry.
type inputs struct {
	// Baselines are the tasks' reference accuracies by task name
	// (tasks.RecordedBaselines); a task without one has no reference rows.
	Baselines map[string]tasks.Baseline
	// TrainSizes are the tasks' full training split sizes by task name, so
	// that data size "all" can be placed on a data-size axis; a task
	// without one has "all" drawn right of its largest size.
	TrainSizes map[string]int
	// Majority are the per-example test outcomes of always answering the
	// most frequent training label, by task name (majorityOutcomes); a
	// task without them has no majority-class control in paired tests.
	Majority map[string]trial.Outcomes
	// Primary are the comparisons the sweep spec declares as its own
	// family, by method name (Options.Primary).
	Primary [][2]string
	// Margin is the equivalence margin in accuracy (Options.ParityMargin);
	// 0 for the default.
	Margin float64
}

// DefaultParityMargin is the equivalence margin a parity verdict needs
// when the spec sets none: two accuracy points.
const DefaultParityMargin = 0.02

func (in inputs) margin() float64 {
	if in.Margin > 0 {
		return in.Margin
	}
	return DefaultParityMargin
}

// Examples is the number of training examples a trial of data size n on
// task used, 0 when unknown (n = 0 and no training split size).
func (in inputs) Examples(task string, n int) int {
	total := in.TrainSizes[task]
	switch {
	case n == 0:
		return total
	case total > 0 && n > total:
		return total
	}
	return n
}

// summaryRow is one method at its best configuration, or a control.
type summaryRow struct {
	Method string
	Best   *group
	// SelectedOn is chosenOnValidation, or chosenOnTest when the best configuration had
	// no validation score to be chosen by.
	SelectedOn string
	// Configs is the number of configurations the best was chosen from.
	Configs int
	// TrainablePct is the trainable share of the model's parameters in
	// percent; NaN when the total is unknown.
	TrainablePct float64
	// VsMajority is the paired test of this row against the majority
	// class; nil when there is none.
	VsMajority *pairTest
	// Untuned says one learning rate ran for the method on this task: its
	// rate was not chosen on this task's validation split (it may come
	// from another task's tuning or be the method's default).
	Untuned bool
}

// Control tells whether the row is a control rather than a method.
func (r summaryRow) Control() bool { return display.IsControl(r.Method) }

// AboveMajority tells whether the row is significantly above the majority
// class.
func (r summaryRow) AboveMajority() bool {
	return r.VsMajority != nil && r.VsMajority.Significant && r.VsMajority.Diff > 0
}

// Trained lists the rows that trained (every row but zero-shot's), for the
// tables of cost: memory and throughput.
func (s taskSummary) Trained() []summaryRow {
	var out []summaryRow
	for _, r := range s.Rows {
		if !untrained(r.Method) {
			out = append(out, r)
		}
	}
	return out
}

// taskSummary is the summary table of one task.
type taskSummary struct {
	taskKey
	// DataSize is the task's largest data size (0: all), at which every
	// method is compared; a method without trials at that size is shown at
	// its own largest size (its Best.DataSize).
	DataSize int
	// Examples is the number of training examples at DataSize, 0 when
	// unknown.
	Examples int
	// Rows are the methods in methodRank order, then the controls.
	Rows     []summaryRow
	Baseline *tasks.Baseline
}

// summaries builds a summary table per task: every method at its best
// configuration, chosen by mean validation accuracy over seeds among the
// configurations (hyper-parameters and learning rate) at the task's
// largest data size, then the scratch and zero-shot controls; each row
// with its paired test against the majority class.
func summaries(groups []*group, zeroShot map[taskKey]*group, tests []sizeTests, in inputs) []taskSummary {
	var out []taskSummary
	for _, k := range taskKeys(groups) {
		gs := filter(groups, func(g *group) bool { return g.Key() == k })
		size, _ := largestSize(gs)
		s := taskSummary{taskKey: k, DataSize: size, Examples: in.Examples(k.Task, size)}
		if b, ok := in.Baselines[k.Task]; ok {
			s.Baseline = &b
		}
		for _, m := range methodList(gs) {
			mg := filter(gs, func(g *group) bool { return g.Method == m })
			cands := atSize(mg, size)
			if len(cands) == 0 {
				own, _ := largestSize(mg)
				cands = atSize(mg, own)
			}
			row := newRow(m, best(cands), len(cands), tests)
			row.Untuned = len(learningRates(mg)) < 2
			s.Rows = append(s.Rows, row)
		}
		if z := zeroShot[k]; z != nil {
			s.Rows = append(s.Rows, newRow(z.Method, z, 1, tests))
		}
		out = append(out, s)
	}
	return out
}

func newRow(method string, best *group, configs int, tests []sizeTests) summaryRow {
	_, on := best.Score()
	pct := math.NaN()
	if best.TotalParams > 0 {
		pct = 100 * float64(best.TrainableParams) / float64(best.TotalParams)
	}
	row := summaryRow{Method: method, Best: best, SelectedOn: on, Configs: configs, TrainablePct: pct}
	size := best.DataSize
	if untrained(method) {
		// Zero-shot is tested at every size; its test against the majority
		// is the same at each.
		for _, st := range tests {
			if st.taskKey == best.Key() {
				size = st.DataSize
				break
			}
		}
	}
	if st := testsAt(tests, best.Key(), size); st != nil {
		if t, ok := st.Vs(method, majority); ok {
			row.VsMajority = &t
		}
	}
	return row
}

// learningRates lists the distinct learning rates among groups.
func learningRates(groups []*group) []float64 {
	var out []float64
	for _, g := range groups {
		if !slices.Contains(out, g.Train.LR) {
			out = append(out, g.Train.LR)
		}
	}
	return out
}

func atSize(groups []*group, size int) []*group {
	return filter(groups, func(g *group) bool { return g.DataSize == size })
}

// summaryFor returns the summary of task k.
func summaryFor(sums []taskSummary, k taskKey) *taskSummary {
	for i := range sums {
		if sums[i].taskKey == k {
			return &sums[i]
		}
	}
	return nil
}
