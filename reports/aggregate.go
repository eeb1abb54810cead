package reports

import (
	"encoding/json"
	"math"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
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
	// Augment is the data augmentation around training (augmentLabel),
	// "" for none: an augmented method is a configuration of its own.
	Augment string
	// Device is the device asked for (trial.Spec.Device): trials on
	// another device are another configuration, so throughput measured on
	// one is never averaged with another's.
	Device string
}

// group is one configuration's successful trials, summarised over seeds.
type group struct {
	config
	MethodParams map[string]any
	Seeds        []int          // sorted
	IDs          []string       // in seed order
	Test         aggregate.Stat // test accuracy
	// Valid is the validation accuracy, nil when no trial of the group
	// reports one.
	Valid           *aggregate.Stat
	TrainableParams int // of the first seed; the same for every seed
	TotalParams     int
	PeakMemoryBytes float64        // mean over seeds
	TokensPerSec    aggregate.Stat // training throughput
	FileSize        int64          // largest over seeds

	// PeakHeapBytes is the mean peak Go heap over the seeds that report
	// one; 0 when none does.
	PeakHeapBytes float64
	// Accounted is the analytic memory account, each part the mean over
	// the seeds that report one; nil when none does.
	Accounted *aggregate.Memory
	// CacheBytes is the account's activation cache, the mean over the same
	// seeds (aggregate.Memory has no part for it).
	CacheBytes float64
	// Epochs is the time and peak heap of each epoch over the seeds that
	// recorded two epochs or more; nil when none did.
	Epochs *epochCost
	// HeapToAccounted is the mean over seeds of the peak heap divided by
	// the accounted total, over the seeds that report both; NaN when none
	// does.
	HeapToAccounted float64
	// MFU is the model-FLOPs utilisation against the cores' peak (a
	// fraction), NormTokensPerSec the training tokens per second per
	// calibrated GFLOP/s and CalibrationGFLOPS the calibration itself, each
	// over the seeds that report it (N = 0 when none does).
	MFU, NormTokensPerSec, CalibrationGFLOPS aggregate.Stat
	// Projected is the configuration projected onto large models, from the
	// first seed that carries a projection (it depends on the method, its
	// hyper-parameters and the batch only); nil when none does.
	Projected []trial.Projection
	// TestOutcomes are the per-example test outcomes of the seeds that
	// recorded them, in seed order: what paired tests compare.
	TestOutcomes []trial.Outcomes
	// Augmentation is the spec's augmentation (nil for none) and Rounds
	// each seed's iterations of it, in seed order.
	Augmentation *trial.Augment
	Rounds       [][]trial.Round
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
	var ok []*trial.Result
	for _, r := range results {
		if r.Status == trial.Success {
			ok = append(ok, r)
		}
	}
	var groups []*group
	for _, g := range aggregate.By(ok, configOf) {
		groups = append(groups, newGroup(g.Key, aggregate.Summarize(g.Results)))
	}
	sort.SliceStable(groups, func(i, j int) bool { return configLess(groups[i].config, groups[j].config) })
	return groups
}

func configOf(s trial.Spec) config {
	return config{Model: s.Model, Task: s.Task, Method: s.Method, Params: aggregate.Params(s.MethodParams), DataSize: s.DataSize, Train: s.Train,
		Augment: augmentLabel(s.Augment), Device: s.Device}
}

func newGroup(c config, s aggregate.Summary) *group {
	first := s.Results[0]
	g := &group{config: c, MethodParams: first.Spec.MethodParams, Seeds: s.Seeds, IDs: s.IDs,
		TrainableParams: first.NumTrainableParams, TotalParams: first.NumTotalParams,
		Test: s.Test, PeakMemoryBytes: s.PeakMemoryBytes.Mean, TokensPerSec: s.TokensPerSec, FileSize: s.FileSize,
		PeakHeapBytes: s.PeakHeapBytes.MeanOr(0), Accounted: s.Accounted, HeapToAccounted: s.HeapToAccounted.Mean,
		MFU: s.MFU, NormTokensPerSec: s.NormTokensPerSec, CalibrationGFLOPS: s.CalibrationGFLOPS, TestOutcomes: s.TestOutcomes,
		Augmentation: first.Spec.Augment}
	if s.Valid.N > 0 {
		v := s.Valid
		g.Valid = &v
	}
	var cache []float64
	for _, r := range s.Results {
		if r.MemoryAccounted.TotalBytes > 0 { // the seeds Accounted averages
			cache = append(cache, float64(r.MemoryAccounted.CacheBytes))
		}
		if len(r.Projected) > 0 && g.Projected == nil {
			g.Projected = r.Projected
		}
		if g.Augmentation != nil {
			g.Rounds = append(g.Rounds, r.Augment)
		}
	}
	g.CacheBytes = aggregate.StatOf(cache).MeanOr(0)
	g.Epochs = epochCosts(s.Results)
	return g
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
	case a.Augment != b.Augment: // the plain method first
		return a.Augment < b.Augment
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
	sort.Slice(out, func(i, j int) bool { return taskLess(out[i], out[j]) })
	return out
}

// taskLess orders tasks by model, then name.
func taskLess(a, b taskKey) bool {
	if a.Model != b.Model {
		return a.Model < b.Model
	}
	return a.Task < b.Task
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

// best returns the configuration with the highest Score among those run on
// the most seeds: ties go to the higher mean test accuracy, then to fewer
// trainable parameters, then to the configuration listed first. Nil for no
// groups. A configuration run on fewer seeds than another (a learning
// rate a sweep's tuning stage tried and passed over) is not chosen over
// it: one lucky seed would win against a mean over three.
func best(groups []*group) *group {
	most := 0
	for _, g := range groups {
		most = max(most, len(g.Seeds))
	}
	var best *group
	for _, g := range groups {
		if len(g.Seeds) < most {
			continue
		}
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
