package reports

import (
	"math"

	"github.com/peftbench/peftbench/trial"
)

// Configuration is one configuration of a report (every setting but the
// seed) with the aggregates the report computes for it: what `harness
// export` writes as its per-configuration table and the viewer shows.
// Field names follow the trial export's columns where the meaning is the
// same; numbers are NaN where there is no value.
type Configuration struct {
	Model, Task, Method string
	// Name is the sweep spec's name for the configuration (of its first
	// seed), "" for results written before names.
	Name string
	// Params is the canonical JSON of the hyper-parameters; MethodParams
	// the hyper-parameters themselves.
	Params       string
	MethodParams map[string]any
	DataSize     int // 0: all of the training split
	// Examples is the number of training examples DataSize stands for
	// (the split's size for all), 0 when unknown.
	Examples int
	Train    trial.Settings
	Augment  string // "" for none
	Seeds    []int
	IDs      []string

	TestMean, TestStd, TestLo, TestHi float64
	ValidMean, ValidStd               float64
	TrainLossMean                     float64
	NumTrainableParams                int
	NumTotalParams                    int
	PeakMemoryBytes                   float64 // mean over seeds
	PeakHeapBytes                     float64 // mean over the seeds that report one, NaN for none
	AccountedBytes                    float64 // the memory account's total, NaN for none
	TokensPerSec                      float64 // mean over seeds
	TrainTime                         float64 // mean over seeds, seconds
	MFU, NormTokensPerSec             float64
	FileSize                          int64

	// Chosen tells whether the report chose this configuration for its
	// method at its task and data size (on validation, among those run on
	// the most seeds): the one its summary, curves and tests show.
	Chosen bool
	// VsMajority is the chosen configuration's paired test against the
	// majority class: the difference in accuracy, its 95% interval, the
	// Holm-adjusted p-value and whether it is significant. NaN (and
	// false) where the report ran no such test.
	VsMajorityDiff, VsMajorityLo, VsMajorityHi, VsMajorityP float64
	AboveMajority                                           bool
}

// Configurations aggregates results as a report does and returns every
// configuration, controls and augmented configurations included, in the
// report's order. Task facts (training split sizes, the majority class)
// are read from the task registry where the tasks are found.
func Configurations(results []*trial.Result) []Configuration {
	in, _ := taskInputs(results)
	return configurations(results, in, tabulate(results, in))
}

// configurations lists the configurations of results, with the choices and
// tests of their tables t.
func configurations(results []*trial.Result, in inputs, t *tables) []Configuration {
	all := groupResults(results)
	chosen := map[config]*pairTest{} // tabulate groups anew: match by configuration
	for _, st := range t.Tests {
		for _, c := range st.Contenders {
			chosen[c.Group.config] = nil
			if vs, ok := st.Vs(c.Name, majority); ok {
				chosen[c.Group.config] = &vs
			}
		}
	}
	var out []Configuration
	for _, g := range all {
		c := Configuration{Model: g.Model, Task: g.Task, Method: g.Method, Params: g.Params, MethodParams: g.MethodParams,
			DataSize: g.DataSize, Examples: in.Examples(g.Task, g.DataSize), Train: g.Train, Augment: g.Augment,
			Seeds: g.Seeds, IDs: g.IDs, TestMean: g.Test.Mean, TestStd: g.Test.Std, TestLo: g.Test.Lo, TestHi: g.Test.Hi,
			ValidMean: math.NaN(), ValidStd: math.NaN(), NumTrainableParams: g.TrainableParams, NumTotalParams: g.TotalParams,
			PeakMemoryBytes: g.PeakMemoryBytes, PeakHeapBytes: math.NaN(), AccountedBytes: math.NaN(),
			TokensPerSec: g.TokensPerSec.Mean, MFU: g.MFU.Mean, NormTokensPerSec: g.NormTokensPerSec.Mean, FileSize: g.FileSize,
			VsMajorityDiff: math.NaN(), VsMajorityLo: math.NaN(), VsMajorityHi: math.NaN(), VsMajorityP: math.NaN()}
		if g.Valid != nil {
			c.ValidMean, c.ValidStd = g.Valid.Mean, g.Valid.Std
		}
		if g.PeakHeapBytes > 0 {
			c.PeakHeapBytes = g.PeakHeapBytes
		}
		if g.Accounted != nil {
			c.AccountedBytes = g.Accounted.Total
		}
		var loss, train float64
		rs := resultsOf(results, g.IDs)
		for _, r := range rs {
			loss += r.Metrics.TrainLoss
			train += r.TrainTime
			if c.Name == "" {
				c.Name = r.Spec.Name
			}
		}
		c.TrainLossMean, c.TrainTime = loss/float64(len(rs)), train/float64(len(rs))
		if vs, ok := chosen[g.config]; ok {
			c.Chosen = true
			if vs != nil {
				c.VsMajorityDiff, c.VsMajorityLo, c.VsMajorityHi, c.VsMajorityP = vs.Diff, vs.Lo, vs.Hi, vs.Holm
				c.AboveMajority = vs.Significant && vs.Diff > 0
			}
		}
		out = append(out, c)
	}
	return out
}

// resultsOf returns the results with the given ids, in that order.
func resultsOf(results []*trial.Result, ids []string) []*trial.Result {
	byID := map[string]*trial.Result{}
	for _, r := range results {
		byID[r.ID] = r
	}
	out := make([]*trial.Result, 0, len(ids))
	for _, id := range ids {
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	return out
}
