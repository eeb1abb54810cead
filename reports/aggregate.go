package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/trial"
)

// config identifies one configuration: everything in a trial's spec but its
// seed. Trials of one configuration differ only in seed, and are averaged.
type config struct {
	Model, Task, Method string
	// Params is the canonical JSON of the method's hyper-parameters (keys
	// sorted), so that equal hyper-parameters compare equal.
	Params   string
	DataSize int // training examples; 0 means all
	// Train holds the learning rate (Train.LR) and the other training
	// settings, which a sweep normally keeps fixed.
	Train trial.Settings
}

// group is one configuration's successful trials, summarised over seeds.
type group struct {
	config
	MethodParams map[string]any
	Seeds        []int    // sorted
	IDs          []string // in seed order
	Test         seedStat // test accuracy
	// Valid is the validation accuracy, nil when no trial of the group
	// reports one.
	Valid           *seedStat
	TrainableParams int // of the first seed; the same for every seed
	TotalParams     int
	PeakMemoryBytes float64  // mean over seeds
	TokensPerSec    seedStat // training throughput
	FileSize        int64    // largest over seeds

	// PeakHeapBytes is the mean peak Go heap over the seeds that report
	// one; 0 when none does.
	PeakHeapBytes float64
	// Accounted is the analytic memory account, each part the mean over
	// the seeds that report one; nil when none does.
	Accounted *memoryAccount
	// HeapToAccounted is the mean over seeds of the peak heap divided by
	// the accounted total, over the seeds that report both; NaN when none
	// does.
	HeapToAccounted float64
	// MFU is the model-FLOPs utilisation against the calibration (a
	// fraction), NormTokensPerSec the training tokens per second per
	// calibrated GFLOP/s and CalibrationGFLOPS the calibration itself, each
	// over the seeds that report it (N = 0 when none does).
	MFU, NormTokensPerSec, CalibrationGFLOPS seedStat
	// Projected is the configuration projected onto large models, from the
	// first seed that carries a projection (it depends on the method, its
	// hyper-parameters and the batch only); nil when none does.
	Projected []trial.Projection
	// TestOutcomes are the per-example test outcomes of the seeds that
	// recorded them, in seed order: what paired tests compare.
	TestOutcomes []trial.Outcomes
}

// memoryAccount is trial.Memory averaged over seeds, in bytes.
type memoryAccount struct {
	Weights, Trainable, Gradients, Optimizer, Step, Total float64
}

// Selection names the score a configuration is chosen by.
const (
	chosenOnValidation = "validation"
	chosenOnTest       = "test"
)

// Score is the number configurations are ranked by: mean validation
// accuracy, or mean test accuracy when the group has no validation score;
// on says which.
func (g *group) Score() (score float64, on string) {
	if g.Valid != nil {
		return g.Valid.Mean, chosenOnValidation
	}
	return g.Test.Mean, chosenOnTest
}

// taskKey is a task of one base model: the unit every table and figure is
// drawn per.
type taskKey struct{ Model, Task string }

// Key returns the group's task.
func (c config) Key() taskKey { return taskKey{c.Model, c.Task} }

// groupResults collects the successful results by configuration and summarises
// each over its seeds. Failed results are ignored (see repro). Groups come
// sorted by model, task, method (methodRank), data size (all last),
// hyper-parameters and learning rate.
func groupResults(results []*trial.Result) []*group {
	byCfg := map[config][]*trial.Result{}
	var order []config
	for _, r := range results {
		if r.Status != trial.Success {
			continue
		}
		c := configOf(r.Spec)
		if _, ok := byCfg[c]; !ok {
			order = append(order, c)
		}
		byCfg[c] = append(byCfg[c], r)
	}
	groups := make([]*group, 0, len(order))
	for _, c := range order {
		groups = append(groups, newGroup(c, byCfg[c]))
	}
	sort.SliceStable(groups, func(i, j int) bool { return configLess(groups[i].config, groups[j].config) })
	return groups
}

func configOf(s trial.Spec) config {
	return config{Model: s.Model, Task: s.Task, Method: s.Method, Params: canonicalParams(s.MethodParams), DataSize: s.DataSize, Train: s.Train}
}

// canonicalParams encodes hyper-parameters with sorted keys; numbers
// encode the same whether they were decoded as int or float64.
func canonicalParams(p map[string]any) string {
	if len(p) == 0 {
		return "{}"
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprint(p)
	}
	return string(b)
}

func newGroup(c config, rs []*trial.Result) *group {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Spec.Seed != rs[j].Spec.Seed {
			return rs[i].Spec.Seed < rs[j].Spec.Seed
		}
		return rs[i].ID < rs[j].ID
	})
	g := &group{config: c, MethodParams: rs[0].Spec.MethodParams,
		TrainableParams: rs[0].NumTrainableParams, TotalParams: rs[0].NumTotalParams}
	var test, valid, tps, mem, heap, ratio, mfu, norm, calib []float64
	var acc []trial.Memory
	for _, r := range rs {
		g.Seeds = append(g.Seeds, r.Spec.Seed)
		g.IDs = append(g.IDs, r.ID)
		test = append(test, r.Metrics.TestAccuracy)
		if r.Metrics.ValidAccuracy != nil {
			valid = append(valid, *r.Metrics.ValidAccuracy)
		}
		tps = append(tps, r.TokensPerSec)
		mem = append(mem, float64(r.PeakMemoryBytes))
		g.FileSize = max(g.FileSize, r.FileSize)
		if r.PeakHeapBytes > 0 {
			heap = append(heap, float64(r.PeakHeapBytes))
		}
		if a := r.MemoryAccounted; a.TotalBytes > 0 {
			acc = append(acc, a)
			if r.PeakHeapBytes > 0 {
				ratio = append(ratio, float64(r.PeakHeapBytes)/float64(a.TotalBytes))
			}
		}
		if r.MFU > 0 {
			mfu = append(mfu, r.MFU)
		}
		if r.NormTokensPerSec > 0 {
			norm = append(norm, r.NormTokensPerSec)
		}
		if r.CalibrationGFLOPS > 0 {
			calib = append(calib, r.CalibrationGFLOPS)
		}
		if g.Projected == nil && len(r.Projected) > 0 {
			g.Projected = r.Projected
		}
		if o, ok := r.OutcomesOn("test"); ok {
			g.TestOutcomes = append(g.TestOutcomes, o)
		}
	}
	g.Test = summarize(test)
	if len(valid) > 0 {
		v := summarize(valid)
		g.Valid = &v
	}
	g.TokensPerSec = summarize(tps)
	g.PeakMemoryBytes = summarize(mem).Mean
	if len(heap) > 0 {
		g.PeakHeapBytes = summarize(heap).Mean
	}
	g.Accounted = meanAccount(acc)
	g.HeapToAccounted = summarize(ratio).Mean
	g.MFU, g.NormTokensPerSec, g.CalibrationGFLOPS = summarize(mfu), summarize(norm), summarize(calib)
	return g
}

// meanAccount averages memory accounts part by part; nil for none.
func meanAccount(ms []trial.Memory) *memoryAccount {
	if len(ms) == 0 {
		return nil
	}
	var a memoryAccount
	for _, m := range ms {
		a.Weights += float64(m.WeightBytes)
		a.Trainable += float64(m.TrainableBytes)
		a.Gradients += float64(m.GradientBytes)
		a.Optimizer += float64(m.OptimizerBytes)
		a.Step += float64(m.StepBytes)
		a.Total += float64(m.TotalBytes)
	}
	n := float64(len(ms))
	return &memoryAccount{Weights: a.Weights / n, Trainable: a.Trainable / n, Gradients: a.Gradients / n,
		Optimizer: a.Optimizer / n, Step: a.Step / n, Total: a.Total / n}
}

// methodRank places a method in tables and legends by the order its
// style declares (package display, from the method's own file); methods
// without a style come last, alphabetically.
func methodRank(m string) int {
	if s, ok := display.Lookup(m); ok {
		return s.Order
	}
	return math.MaxInt
}

func methodLess(a, b string) bool {
	if ra, rb := methodRank(a), methodRank(b); ra != rb {
		return ra < rb
	}
	return a < b
}

// sizeLess orders data sizes with 0 (all) last.
func sizeLess(a, b int) bool { return trial.SizeOrder(a) < trial.SizeOrder(b) }

func configLess(a, b config) bool {
	switch {
	case a.Model != b.Model:
		return a.Model < b.Model
	case a.Task != b.Task:
		return a.Task < b.Task
	case a.Method != b.Method:
		return methodLess(a.Method, b.Method)
	case a.DataSize != b.DataSize:
		return sizeLess(a.DataSize, b.DataSize)
	case a.Params != b.Params:
		return a.Params < b.Params
	case a.Train.LR != b.Train.LR:
		return a.Train.LR < b.Train.LR
	}
	ab, _ := json.Marshal(a.Train)
	bb, _ := json.Marshal(b.Train)
	return string(ab) < string(bb)
}

// taskKeys lists the tasks of the groups, sorted.
func taskKeys(groups []*group) []taskKey {
	seen := map[taskKey]bool{}
	var out []taskKey
	for _, g := range groups {
		if k := g.Key(); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		return out[i].Task < out[j].Task
	})
	return out
}

// methodList lists the methods of the groups in methodRank order.
func methodList(groups []*group) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range groups {
		if !seen[g.Method] {
			seen[g.Method] = true
			out = append(out, g.Method)
		}
	}
	sort.Slice(out, func(i, j int) bool { return methodLess(out[i], out[j]) })
	return out
}

// best returns the configuration with the highest Score: ties go to the
// higher mean test accuracy, then to fewer trainable parameters, then to
// the configuration listed first. Nil for no groups.
func best(groups []*group) *group {
	var best *group
	for _, g := range groups {
		if best == nil || better(g, best) {
			best = g
		}
	}
	return best
}

func better(a, b *group) bool {
	sa, _ := a.Score()
	sb, _ := b.Score()
	switch {
	case sa != sb:
		return sa > sb
	case a.Test.Mean != b.Test.Mean:
		return a.Test.Mean > b.Test.Mean
	case a.TrainableParams != b.TrainableParams:
		return a.TrainableParams < b.TrainableParams
	}
	return configLess(a.config, b.config)
}

// filter returns the groups for which keep is true.
func filter(groups []*group, keep func(*group) bool) []*group {
	var out []*group
	for _, g := range groups {
		if keep(g) {
			out = append(out, g)
		}
	}
	return out
}

// largestSize is the largest data size among groups (0, all, above any
// number); ok is false for no groups.
func largestSize(groups []*group) (size int, ok bool) {
	for _, g := range groups {
		if !ok || sizeLess(size, g.DataSize) {
			size, ok = g.DataSize, true
		}
	}
	return size, ok
}

// number reads a numeric hyper-parameter as JSON or YAML decoding leaves
// it.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// paramsLabel writes hyper-parameters compactly, keys sorted:
// "alpha=16 rank=8 targets=q,v".
func paramsLabel(p map[string]any) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+trial.FormatParam(p[k]))
	}
	return strings.Join(parts, " ")
}
