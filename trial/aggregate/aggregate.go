// Package aggregate groups trial results into configurations over seeds
// and summarises each: the mean, the deviation and the confidence interval
// of a metric over seeds, the means of throughput and memory, and each
// seed's outcomes. Reports and the regression check both build on it;
// each groups by its own key (reports by every setting but the seed, the
// check by the spec's name for a configuration) and orders the groups its
// own way.
package aggregate

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/peftbench/peftbench/trial"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Group is the results of one configuration, in the order they were given.
type Group[K comparable] struct {
	Key     K
	Results []*trial.Result
}

// By groups results by key, groups in the order their first result comes.
func By[K comparable](results []*trial.Result, key func(trial.Spec) K) []*Group[K] {
	byKey := map[K]*Group[K]{}
	var out []*Group[K]
	for _, r := range results {
		k := key(r.Spec)
		g, ok := byKey[k]
		if !ok {
			g = &Group[K]{Key: k}
			byKey[k] = g
			out = append(out, g)
		}
		g.Results = append(g.Results, r)
	}
	return out
}

// Params is the canonical JSON of a method's hyper-parameters, keys
// sorted, so that equal hyper-parameters give equal keys whether numbers
// were decoded as int or float64: `{"alpha":16,"rank":8}`; "{}" for none.
func Params(p map[string]any) string {
	if len(p) == 0 {
		return "{}"
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprint(p)
	}
	return string(b)
}

// Summary is a configuration's successful trials summarised over seeds.
// Each Stat is over the seeds that report its metric (N says how many).
type Summary struct {
	// Results are the successful trials by seed (then id); Seeds and IDs
	// are theirs.
	Results []*trial.Result
	Seeds   []int
	IDs     []string

	Test      Stat // test accuracy
	Valid     Stat // validation accuracy
	TrainLoss Stat // final training loss, every seed

	TokensPerSec    Stat // training throughput, every seed
	PeakMemoryBytes Stat // peak resident set, every seed
	PeakHeapBytes   Stat // peak Go heap
	// Accounted is the analytic memory account, each part the mean over
	// the seeds that report one; nil when none does.
	Accounted *Memory
	// HeapToAccounted is the peak heap divided by the accounted total, over
	// the seeds that report both.
	HeapToAccounted Stat
	// MFU is model-FLOPs utilisation against the cores' peak (a fraction;
	// only from results that record the peak),
	// NormTokensPerSec training tokens/s per calibrated GFLOP/s and
	// CalibrationGFLOPS the calibration itself.
	MFU, NormTokensPerSec, CalibrationGFLOPS Stat
	// FileSize is the largest adapter file over seeds.
	FileSize int64
	// TestOutcomes are the per-example test outcomes of the seeds that
	// recorded them, in seed order: what paired tests compare.
	TestOutcomes []trial.Outcomes
}

// Memory is trial.Memory averaged over seeds, in bytes.
type Memory struct {
	Weights, Trainable, Gradients, Optimizer, Step, Eval, Snapshot, Total float64
}

// Summarize summarises the successful results among rs; failed ones
// enter no statistic.
func Summarize(rs []*trial.Result) Summary {
	var s Summary
	for _, r := range rs {
		if r.Status == trial.Success {
			s.Results = append(s.Results, r)
		}
	}
	sort.SliceStable(s.Results, func(i, j int) bool {
		a, b := s.Results[i], s.Results[j]
		if a.Spec.Seed != b.Spec.Seed {
			return a.Spec.Seed < b.Spec.Seed
		}
		return a.ID < b.ID
	})
	var test, valid, loss, tps, mem, heap, ratio, mfu, norm, calib []float64
	var acc []trial.Memory
	for _, r := range s.Results {
		s.Seeds = append(s.Seeds, r.Spec.Seed)
		s.IDs = append(s.IDs, r.ID)
		test = append(test, r.Metrics.TestAccuracy)
		if r.Metrics.ValidAccuracy != nil {
			valid = append(valid, *r.Metrics.ValidAccuracy)
		}
		loss = append(loss, r.Metrics.TrainLoss)
		tps = append(tps, r.TokensPerSec)
		mem = append(mem, float64(r.PeakMemoryBytes))
		s.FileSize = max(s.FileSize, r.FileSize)
		if r.PeakHeapBytes > 0 {
			heap = append(heap, float64(r.PeakHeapBytes))
		}
		if a := r.MemoryAccounted; a.TotalBytes > 0 {
			acc = append(acc, a)
			if r.PeakHeapBytes > 0 {
				ratio = append(ratio, float64(r.PeakHeapBytes)/float64(a.TotalBytes))
			}
		}
		if r.MFU > 0 && r.PeakGFLOPS > 0 { // older results measured it against the calibration
			mfu = append(mfu, r.MFU)
		}
		if n, ok := NormalizedThroughput(r); ok {
			norm = append(norm, n)
		}
		if r.CalibrationGFLOPS > 0 {
			calib = append(calib, r.CalibrationGFLOPS)
		}
		if o, ok := r.OutcomesOn("test"); ok {
			s.TestOutcomes = append(s.TestOutcomes, o)
		}
	}
	s.Test, s.Valid, s.TrainLoss = StatOf(test), StatOf(valid), StatOf(loss)
	s.TokensPerSec, s.PeakMemoryBytes, s.PeakHeapBytes = StatOf(tps), StatOf(mem), StatOf(heap)
	s.Accounted = meanAccount(acc)
	s.HeapToAccounted = StatOf(ratio)
	s.MFU, s.NormTokensPerSec, s.CalibrationGFLOPS = StatOf(mfu), StatOf(norm), StatOf(calib)
	return s
}

// NormalizedThroughput is a result's training tokens/s per GFLOP/s of the
// calibration it measured in its own process, and false when it has none.
func NormalizedThroughput(r *trial.Result) (float64, bool) {
	if r.CalibrationGFLOPS <= 0 || r.TokensPerSec <= 0 {
		return 0, false
	}
	return r.TokensPerSec / r.CalibrationGFLOPS, true
}

// meanAccount averages memory accounts part by part; nil for none.
func meanAccount(ms []trial.Memory) *Memory {
	if len(ms) == 0 {
		return nil
	}
	var a Memory
	for _, m := range ms {
		a.Weights += float64(m.WeightBytes)
		a.Trainable += float64(m.TrainableBytes)
		a.Gradients += float64(m.GradientBytes)
		a.Optimizer += float64(m.OptimizerBytes)
		a.Step += float64(m.StepBytes)
		a.Eval += float64(m.EvalBytes)
		a.Snapshot += float64(m.SnapshotBytes)
		a.Total += float64(m.TotalBytes)
	}
	n := float64(len(ms))
	return &Memory{Weights: a.Weights / n, Trainable: a.Trainable / n, Gradients: a.Gradients / n,
		Optimizer: a.Optimizer / n, Step: a.Step / n, Eval: a.Eval / n, Snapshot: a.Snapshot / n, Total: a.Total / n}
}

// Confidence is the coverage of the intervals in Stat.
const Confidence = 0.95

// Stat summarises a metric over the seeds of one configuration.
type Stat struct {
	N    int
	Mean float64 // NaN when N = 0
	// Std is the sample standard deviation (n − 1 in the denominator); NaN
	// when N < 2: one seed says nothing of the spread.
	Std float64
	// Lo and Hi bound the 95% confidence interval of the mean from
	// Student's t with N − 1 degrees of freedom: Mean ∓ t·Std/√N. NaN when
	// N < 2.
	Lo, Hi float64
}

// StatOf computes the Stat of xs. An empty xs gives N = 0 and NaNs.
func StatOf(xs []float64) Stat {
	s := Stat{N: len(xs), Mean: math.NaN(), Std: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if s.N == 0 {
		return s
	}
	s.Mean = stat.Mean(xs, nil)
	if s.N < 2 {
		return s
	}
	s.Std = stat.StdDev(xs, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(s.N - 1)}.Quantile(1 - (1-Confidence)/2)
	half := t * s.Std / math.Sqrt(float64(s.N))
	s.Lo, s.Hi = s.Mean-half, s.Mean+half
	return s
}

// ErrorBar is the half-height of the error bar drawn for s: its standard
// deviation, or 0 where there is none.
func (s Stat) ErrorBar() float64 {
	if math.IsNaN(s.Std) {
		return 0
	}
	return s.Std
}

// MeanOr is the mean, or def when there is no value.
func (s Stat) MeanOr(def float64) float64 {
	if s.N == 0 {
		return def
	}
	return s.Mean
}
