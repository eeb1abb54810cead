package reports

import (
	"math"

	"github.com/peftbench/peftbench/tasks"
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

// SummaryRow is one method at its best configuration.
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
	Rows     []SummaryRow // in MethodOrder
	Baseline *tasks.Baseline
}

// Summaries builds a summary table per task: every method at its best
// configuration, chosen by mean validation accuracy over seeds among the
// configurations (hyper-parameters and learning rate) at the task's
// largest data size.
func Summaries(groups []*Group, in Inputs) []TaskSummary {
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
			_, on := best.Score()
			pct := math.NaN()
			if best.TotalParams > 0 {
				pct = 100 * float64(best.TrainableParams) / float64(best.TotalParams)
			}
			s.Rows = append(s.Rows, SummaryRow{Method: m, Best: best, SelectedOn: on, Configs: len(cands), TrainablePct: pct})
		}
		out = append(out, s)
	}
	return out
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
