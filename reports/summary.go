package reports

import (
	"math"

	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// Inputs are what the aggregation needs beyond the results: facts about
// tasks that results do not carry.
type Inputs struct {
	// Baselines are the tasks' reference accuracies by task name
	// (tasks.RecordedBaselines); a task without one has no reference rows.
	Baselines map[string]tasks.Baseline
	// TrainSizes are the tasks' full training split sizes by task name, so
	// that data size "all" can be placed on a data-size axis; a task
	// without one has "all" drawn right of its largest size.
	TrainSizes map[string]int
	// Majority are the per-example test outcomes of always answering the
	// most frequent training label, by task name (MajorityOutcomes); a
	// task without them has no majority-class control in paired tests.
	Majority map[string]trial.Outcomes
}

// Examples is the number of training examples a trial of data size n on
// task used, 0 when unknown (n = 0 and no training split size).
func (in Inputs) Examples(task string, n int) int {
	total := in.TrainSizes[task]
	switch {
	case n == 0:
		return total
	case total > 0 && n > total:
		return total
	}
	return n
}

// SummaryRow is one method at its best configuration, or a control.
type SummaryRow struct {
	Method string
	Best   *Group
	// SelectedOn is OnValidation, or OnTest when the best configuration had
	// no validation score to be chosen by.
	SelectedOn string
	// Configs is the number of configurations the best was chosen from.
	Configs int
	// TrainablePct is the trainable share of the model's parameters in
	// percent; NaN when the total is unknown.
	TrainablePct float64
	// VsMajority is the paired test of this row against the majority
	// class; nil when there is none.
	VsMajority *PairTest
}

// Control tells whether the row is a control rather than a method.
func (r SummaryRow) Control() bool { return trial.IsControl(r.Method) }

// AboveMajority tells whether the row is significantly above the majority
// class.
func (r SummaryRow) AboveMajority() bool {
	return r.VsMajority != nil && r.VsMajority.Significant && r.VsMajority.Diff > 0
}

// Trained lists the rows that trained (every row but zero-shot's), for the
// tables of cost: memory and throughput.
func (s TaskSummary) Trained() []SummaryRow {
	var out []SummaryRow
	for _, r := range s.Rows {
		if r.Method != trial.ZeroShot {
			out = append(out, r)
		}
	}
	return out
}

// TaskSummary is the summary table of one task.
type TaskSummary struct {
	TaskKey
	// DataSize is the task's largest data size (0: all), at which every
	// method is compared; a method without trials at that size is shown at
	// its own largest size (its Best.DataSize).
	DataSize int
	// Examples is the number of training examples at DataSize, 0 when
	// unknown.
	Examples int
	// Rows are the methods in MethodOrder, then the controls.
	Rows     []SummaryRow
	Baseline *tasks.Baseline
}

// Summaries builds a summary table per task: every method at its best
// configuration, chosen by mean validation accuracy over seeds among the
// configurations (hyper-parameters and learning rate) at the task's
// largest data size, then the scratch and zero-shot controls; each row
// with its paired test against the majority class.
func Summaries(groups []*Group, zeroShot map[TaskKey]*Group, tests []SizeTests, in Inputs) []TaskSummary {
	var out []TaskSummary
	for _, k := range TaskKeys(groups) {
		gs := filter(groups, func(g *Group) bool { return g.Key() == k })
		size, _ := largestSize(gs)
		s := TaskSummary{TaskKey: k, DataSize: size, Examples: in.Examples(k.Task, size)}
		if b, ok := in.Baselines[k.Task]; ok {
			s.Baseline = &b
		}
		for _, m := range Methods(gs) {
			mg := filter(gs, func(g *Group) bool { return g.Method == m })
			cands := atSize(mg, size)
			if len(cands) == 0 {
				own, _ := largestSize(mg)
				cands = atSize(mg, own)
			}
			best := Best(cands)
			s.Rows = append(s.Rows, newRow(m, best, len(cands), tests))
		}
		if z := zeroShot[k]; z != nil {
			s.Rows = append(s.Rows, newRow(trial.ZeroShot, z, 1, tests))
		}
		out = append(out, s)
	}
	return out
}

func newRow(method string, best *Group, configs int, tests []SizeTests) SummaryRow {
	_, on := best.Score()
	pct := math.NaN()
	if best.TotalParams > 0 {
		pct = 100 * float64(best.TrainableParams) / float64(best.TotalParams)
	}
	row := SummaryRow{Method: method, Best: best, SelectedOn: on, Configs: configs, TrainablePct: pct}
	size := best.DataSize
	if method == trial.ZeroShot {
		// Zero-shot is tested at every size; its test against the majority
		// is the same at each.
		for _, st := range tests {
			if st.TaskKey == best.Key() {
				size = st.DataSize
				break
			}
		}
	}
	if st := testsAt(tests, best.Key(), size); st != nil {
		if t, ok := st.Vs(method, Majority); ok {
			row.VsMajority = &t
		}
	}
	return row
}

func atSize(groups []*Group, size int) []*Group {
	return filter(groups, func(g *Group) bool { return g.DataSize == size })
}

// summaryFor returns the summary of task k.
func summaryFor(sums []TaskSummary, k TaskKey) *TaskSummary {
	for i := range sums {
		if sums[i].TaskKey == k {
			return &sums[i]
		}
	}
	return nil
}
