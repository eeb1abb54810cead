package check

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/trial"
)

// Tolerances say how far a run may move from its baseline.
type Tolerances struct {
	// AccFloor is the accuracy drop always tolerated, even when the paired
	// test calls it significant: machines that round differently move a
	// few examples.
	AccFloor float64
	// LossRatio: a run's mean final training loss above LossRatio ×
	// the baseline's + LossSlack is a regression.
	LossRatio float64
	// ThroughputRatio: run throughput below ThroughputRatio × baseline is
	// a regression.
	ThroughputRatio float64
	// MemoryRatio: run peak memory above MemoryRatio × baseline is a
	// regression.
	MemoryRatio float64
	// FailMissing makes a baseline configuration absent from the run fail
	// the check; by default it is a warning.
	FailMissing bool
}

// LossSlack is the absolute rise in final training loss always tolerated,
// so that a loss near zero may double without failing.
const LossSlack = 0.05

// DefaultTolerances are the check's defaults: an accuracy drop must be
// significant in the paired test and exceed 0.01; the final loss may grow
// to 1.25× (+0.05), throughput fall to 0.7×, memory grow to 1.3×.
func DefaultTolerances() Tolerances {
	return Tolerances{AccFloor: 0.01, LossRatio: 1.25, ThroughputRatio: 0.7, MemoryRatio: 1.3}
}

// Validate rejects tolerances that cannot be meant.
func (t Tolerances) Validate() error {
	switch {
	case t.AccFloor < 0 || t.AccFloor > 1 || math.IsNaN(t.AccFloor):
		return fmt.Errorf("accuracy floor %g: want a drop in [0, 1]", t.AccFloor)
	case !(t.LossRatio >= 1) || math.IsInf(t.LossRatio, 1):
		return fmt.Errorf("loss ratio %g: want a finite factor ≥ 1", t.LossRatio)
	case !(t.ThroughputRatio > 0 && t.ThroughputRatio <= 1):
		return fmt.Errorf("throughput ratio %g: want a fraction in (0, 1]", t.ThroughputRatio)
	case !(t.MemoryRatio >= 1) || math.IsInf(t.MemoryRatio, 1):
		return fmt.Errorf("memory ratio %g: want a finite factor ≥ 1", t.MemoryRatio)
	}
	return nil
}

// Status is a configuration's verdict class.
type Status string

// The statuses of a row.
const (
	OK         Status = "ok"
	Regression Status = "regression"
	Missing    Status = "missing" // in the baseline, not in the run
	New        Status = "new"     // in the run, not in the baseline
)

// Reasons for a regression.
const (
	ReasonChanged    = "changed" // run with another setup under the same name
	ReasonAccuracy   = "accuracy"
	ReasonLoss       = "loss"
	ReasonThroughput = "throughput"
	ReasonMemory     = "memory"
	ReasonFailed     = "failed" // a trial of the run failed
)

// Row is one configuration's comparison.
type Row struct {
	Key Key
	// Label names the configuration: task, name and data size (and the
	// model when the rows have several).
	Label   string
	Status  Status
	Reasons []string // why it is a regression, in the order of the Reason constants
	// Old is the baseline's summary, nil for a new configuration; New is
	// the run's, nil for a missing one.
	Old, New *Config
	// Changes are the setup's differences, "field: old → new".
	Changes []string

	// Accuracy: Compared says whether both sides had successful seeds;
	// Drop is the baseline's mean minus the run's. Paired is the run
	// against the baseline over the test examples both scored, seeds
	// combined, nil when either side lacks per-example outcomes; AccP is
	// its p-value Holm-adjusted over every paired row of the check.
	AccCompared bool
	AccDrop     float64
	Paired      *stats.Comparison
	AccP        float64

	// LossRatio is run ÷ baseline mean final training loss, 0 when not
	// compared.
	LossRatio float64
	// Throughput: Basis is Normalized when both sides carry a calibration,
	// else Raw; Ratio is run ÷ baseline, 0 when not compared.
	ThroughputBasis string
	ThroughputRatio float64
	// MemoryRatio is run ÷ baseline peak memory, 0 when not compared.
	MemoryRatio float64

	// Moved says a value changed beyond noise (either way), or the row is
	// a regression, missing or new.
	Moved bool
	Notes []string
}

// Verdict is "ok", "regression: accuracy, memory", "missing" or "new".
func (r Row) Verdict() string {
	if r.Status == Regression {
		return "regression: " + strings.Join(r.Reasons, ", ")
	}
	return string(r.Status)
}

// Report is the outcome of a check.
type Report struct {
	Tolerances Tolerances
	Baseline   Meta // of the baseline
	Run        Meta // of the run
	// BaselineFile and RunDir name the inputs in the output; the caller
	// sets them.
	BaselineFile, RunDir string
	Rows                 []Row // every configuration, by key
	Notes                []string
}

// Compare checks a run's results against a baseline.
//
// Configurations are matched by Key. For one present in both:
//   - a setup that differs (a hyper-parameter, training setting, method or
//     data) is a change, and a regression: the run no longer measures what
//     the baseline measured;
//   - accuracy regresses when the run is below the baseline in a paired
//     test over the test examples both scored, seeds combined
//     (stats.Compare), significant after Holm's correction over every
//     configuration of the check, and the drop exceeds AccFloor; without
//     per-example outcomes on both sides, when the drop of the means
//     exceeds AccFloor;
//   - the final training loss regresses above LossRatio × baseline +
//     LossSlack;
//   - throughput, normalised by the calibration GFLOP/s where both sides
//     carry it and raw tokens/s otherwise, regresses below ThroughputRatio
//     × baseline; peak memory above MemoryRatio × baseline;
//   - a failed trial in the run is a regression of its configuration.
//
// Baseline configurations the run lacks are Missing, run configurations
// the baseline lacks New.
func Compare(b *Baseline, results []Trial, tol Tolerances) Report {
	runCfgs, runMeta := byConfig(results)
	rep := Report{Tolerances: tol, Baseline: b.Meta, Run: runMeta}
	old := map[string]*Config{}
	var keys []Key
	for i := range b.Configs {
		c := &b.Configs[i]
		ks := c.Key.String()
		if _, dup := old[ks]; !dup {
			keys = append(keys, c.Key)
		}
		old[ks] = c
	}
	cur := map[string]*Config{}
	for _, c := range runCfgs {
		ks := c.Key.String()
		if _, inBase := old[ks]; !inBase {
			keys = append(keys, c.Key)
		}
		cur[ks] = c
	}
	sort.SliceStable(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })

	raw, uncalibrated := 0, map[string]bool{}
	for _, k := range keys {
		ks := k.String()
		row := compareOne(k, old[ks], cur[ks], tol)
		if row.ThroughputRatio > 0 && row.ThroughputBasis == Raw {
			raw++
			if row.Old.NormalizedThroughput == 0 {
				uncalibrated["baseline"] = true
			}
			if row.New.NormalizedThroughput == 0 {
				uncalibrated["run"] = true
			}
		}
		rep.Rows = append(rep.Rows, row)
	}
	judgeAccuracy(rep.Rows, tol)
	labelRows(rep.Rows)

	if raw > 0 {
		var sides []string
		for _, s := range []string{"baseline", "run"} {
			if uncalibrated[s] {
				sides = append(sides, s)
			}
		}
		note := fmt.Sprintf("throughput compared as raw tokens/s for %d configuration(s): the %s results carry no calibration_gflops",
			raw, strings.Join(sides, " and "))
		if rep.Baseline.Machine != rep.Run.Machine {
			note += fmt.Sprintf("; raw throughput depends on the machine, and the baseline (%s) and run (%s) differ",
				rep.Baseline.Machine, rep.Run.Machine)
		}
		rep.Notes = append(rep.Notes, note)
	}
	if n := len(rep.rows(Missing)); n > 0 {
		how := "a warning (--fail-missing makes it fail the check)"
		if tol.FailMissing {
			how = "a failure"
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d baseline configuration(s) missing from the run: %s", n, how))
	}
	if n := len(rep.rows(New)); n > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d configuration(s) not in the baseline: not checked; regenerate the baseline to cover them", n))
	}
	return rep
}

// eps absorbs rounding, so that a drop or ratio exactly at its tolerance
// is not a regression.
const eps = 1e-9

func compareOne(k Key, old, cur *Config, tol Tolerances) Row {
	row := Row{Key: k, Old: old, New: cur}
	switch {
	case cur == nil:
		row.Status, row.Moved = Missing, true
		return row
	case old == nil:
		row.Status, row.Moved = New, true
		if len(cur.Failed) > 0 {
			row.Status = Regression
			row.Reasons = []string{ReasonFailed}
			row.Notes = append(row.Notes, "not in the baseline")
			row.Notes = append(row.Notes, failureNotes(cur.Failed)...)
		}
		return row
	}
	row.Status = OK
	var reasons []string

	if row.Changes = cur.Setup.Changes(old.Setup); len(row.Changes) > 0 {
		reasons = append(reasons, ReasonChanged)
		row.Notes = append(row.Notes, "run with another setup under the same name: "+strings.Join(row.Changes, "; "))
	}
	for _, m := range cur.Mixed {
		row.Notes = append(row.Notes, "the run mixes setups: "+m)
	}

	if old.Accuracy.N > 0 && cur.Accuracy.N > 0 {
		row.AccCompared = true
		row.AccDrop = old.Accuracy.Mean - cur.Accuracy.Mean
		if c, err := pairSeeds(cur, old); err == nil {
			row.Paired = &c
		} else {
			row.Notes = append(row.Notes, "accuracy compared by means only: "+err.Error())
		}
	}

	switch {
	case old.TrainLoss > 0 && cur.TrainLoss == 0 && cur.Accuracy.N > 0:
		reasons = append(reasons, ReasonLoss)
		row.Notes = append(row.Notes, "the baseline trained and the run records no training loss")
	case old.TrainLoss > 0:
		row.LossRatio = cur.TrainLoss / old.TrainLoss
		if cur.TrainLoss > tol.LossRatio*old.TrainLoss+LossSlack+eps {
			reasons = append(reasons, ReasonLoss)
			row.Moved = true
		}
	}

	row.ThroughputBasis = Raw
	ot, nt := old.TokensPerSec, cur.TokensPerSec
	if old.NormalizedThroughput > 0 && cur.NormalizedThroughput > 0 {
		row.ThroughputBasis = Normalized
		ot, nt = old.NormalizedThroughput, cur.NormalizedThroughput
	}
	if ot > 0 && nt > 0 {
		row.ThroughputRatio = nt / ot
		if row.ThroughputRatio < tol.ThroughputRatio-eps {
			reasons = append(reasons, ReasonThroughput)
		}
		if row.ThroughputRatio < tol.ThroughputRatio-eps || row.ThroughputRatio*tol.ThroughputRatio > 1+eps {
			row.Moved = true
		}
	}

	if old.PeakMemoryBytes > 0 && cur.PeakMemoryBytes > 0 {
		row.MemoryRatio = float64(cur.PeakMemoryBytes) / float64(old.PeakMemoryBytes)
		if row.MemoryRatio > tol.MemoryRatio+eps {
			reasons = append(reasons, ReasonMemory)
		}
		if row.MemoryRatio > tol.MemoryRatio+eps || row.MemoryRatio*tol.MemoryRatio < 1-eps {
			row.Moved = true
		}
	}

	if len(cur.Failed) > 0 {
		reasons = append(reasons, ReasonFailed)
		row.Notes = append(row.Notes, failureNotes(cur.Failed)...)
	}
	if bs, rs := seedList(old), seedList(cur); bs != rs {
		row.Notes = append(row.Notes, fmt.Sprintf("seeds differ: baseline %s, run %s", bs, rs))
	}
	row.Reasons = reasons
	return row
}

// pairSeeds tests the run's seeds against the baseline's, paired on the
// test examples both scored.
func pairSeeds(cur, old *Config) (stats.Comparison, error) {
	var sides [2][]trial.Outcomes
	for s, c := range []*Config{cur, old} {
		for _, r := range c.Seeds {
			if r.Outcomes == nil {
				return stats.Comparison{}, fmt.Errorf("seed %d of the %s has no per-example outcomes", r.Seed, map[int]string{0: "run", 1: "baseline"}[s])
			}
			sides[s] = append(sides[s], *r.Outcomes)
		}
	}
	paired, err := trial.Align(sides[:])
	if err != nil {
		return stats.Comparison{}, err
	}
	return stats.Compare(paired[0], paired[1])
}

// judgeAccuracy adjusts the paired p-values over every row (Holm) and
// decides each row's accuracy verdict, then its status.
func judgeAccuracy(rows []Row, tol Tolerances) {
	var ps []float64
	var at []int
	for i, r := range rows {
		if r.Paired != nil {
			ps, at = append(ps, r.Paired.P), append(at, i)
		}
	}
	for j, p := range stats.Holm(ps) {
		rows[at[j]].AccP = p
	}
	for i := range rows {
		r := &rows[i]
		if r.AccCompared {
			significant := r.Paired == nil || r.AccP < stats.Alpha // means only: the floor alone decides
			if significant && r.AccDrop > tol.AccFloor+eps {
				r.Reasons = append([]string{ReasonAccuracy}, r.Reasons...)
			}
			if significant && math.Abs(r.AccDrop) > tol.AccFloor+eps {
				r.Moved = true
			}
		}
		sort.SliceStable(r.Reasons, func(a, b int) bool { return reasonRank(r.Reasons[a]) < reasonRank(r.Reasons[b]) })
		if len(r.Reasons) > 0 {
			r.Status, r.Moved = Regression, true
		}
	}
}

func reasonRank(reason string) int {
	for i, x := range []string{ReasonChanged, ReasonAccuracy, ReasonLoss, ReasonThroughput, ReasonMemory, ReasonFailed} {
		if x == reason {
			return i
		}
	}
	return 99
}

func failureNotes(fs []Failure) []string {
	var out []string
	for _, f := range fs {
		msg, _, _ := strings.Cut(strings.TrimSpace(f.Error), "\n")
		if len(msg) > 160 {
			msg = msg[:157] + "..."
		}
		if msg == "" {
			msg = "no error recorded"
		}
		out = append(out, fmt.Sprintf("trial %s (seed %d) failed: %s", f.ID, f.Seed, msg))
	}
	return out
}

func seedList(c *Config) string {
	var s []string
	for _, r := range c.Seeds {
		s = append(s, strconv.Itoa(r.Seed))
	}
	for _, f := range c.Failed {
		s = append(s, strconv.Itoa(f.Seed)+"(failed)")
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

func (r Report) rows(s Status) []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Status == s {
			out = append(out, row)
		}
	}
	return out
}

// Regressions are the rows that regressed.
func (r Report) Regressions() []Row { return r.rows(Regression) }

// Missing are the baseline configurations absent from the run.
func (r Report) Missing() []Row { return r.rows(Missing) }

// New are the run configurations absent from the baseline.
func (r Report) New() []Row { return r.rows(New) }

// Moved are the rows whose values changed beyond noise, with every
// regression, missing and new configuration.
func (r Report) Moved() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Moved {
			out = append(out, row)
		}
	}
	return out
}

// Failed says the check fails: a regression, or a missing configuration
// under FailMissing.
func (r Report) Failed() bool {
	return len(r.Regressions()) > 0 || (r.Tolerances.FailMissing && len(r.Missing()) > 0)
}

// Err is nil when the check passes, else an error naming what failed.
func (r Report) Err() error {
	if !r.Failed() {
		return nil
	}
	var parts []string
	if reg := r.Regressions(); len(reg) > 0 {
		var names []string
		for _, row := range reg {
			names = append(names, row.Label+" ("+strings.Join(row.Reasons, ", ")+")")
		}
		parts = append(parts, fmt.Sprintf("%d regression(s): %s", len(reg), strings.Join(names, "; ")))
	}
	if miss := r.Missing(); r.Tolerances.FailMissing && len(miss) > 0 {
		var names []string
		for _, row := range miss {
			names = append(names, row.Label)
		}
		parts = append(parts, fmt.Sprintf("%d missing configuration(s): %s", len(miss), strings.Join(names, "; ")))
	}
	return errors.New("check failed: " + strings.Join(parts, "; "))
}
