package aggregate

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/trial"
)

// approx compares floats to 1e-9 and NaN equal to NaN.
var approx = cmp.Options{cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateNaNs()}

// tQuantile975 is Student's t 0.975 quantile in closed form for one and two
// degrees of freedom, independent of gonum's distribution code: for ν = 1
// the quantile of p is tan(π(p − ½)); for ν = 2 it is a·√(2/(1 − a²)) with
// a = 2p − 1.
func tQuantile975(df int) float64 {
	const p = 0.975
	switch df {
	case 1:
		return math.Tan(math.Pi * (p - 0.5))
	case 2:
		a := 2*p - 1
		return a * math.Sqrt(2/(1-a*a))
	}
	panic("no closed form")
}

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	// Two seeds: mean 0.82; deviations ±0.02, so the sample variance is
	// (0.02² + 0.02²)/1 and the standard deviation 0.02·√2; the interval's
	// half-width is t·sd/√2 = t·0.02 with t = 12.706.
	sd2 := 0.02 * math.Sqrt2
	half2 := tQuantile975(1) * 0.02
	// Three values 1, 2, 6: mean 3, variance (4 + 1 + 9)/2 = 7.
	half3 := tQuantile975(2) * math.Sqrt(7) / math.Sqrt(3)
	for _, c := range []struct {
		xs   []float64
		want Stat
	}{
		{[]float64{0.80, 0.84}, Stat{N: 2, Mean: 0.82, Std: sd2, Lo: 0.82 - half2, Hi: 0.82 + half2}},
		{[]float64{1, 2, 6}, Stat{N: 3, Mean: 3, Std: math.Sqrt(7), Lo: 3 - half3, Hi: 3 + half3}},
		{[]float64{0.5}, Stat{N: 1, Mean: 0.5, Std: nan, Lo: nan, Hi: nan}},
		{nil, Stat{N: 0, Mean: nan, Std: nan, Lo: nan, Hi: nan}},
	} {
		if d := cmp.Diff(c.want, StatOf(c.xs), approx); d != "" {
			t.Errorf("StatOf(%v) (-want +got):\n%s", c.xs, d)
		}
	}
	if got := tQuantile975(1); math.Abs(got-12.7062047) > 1e-6 {
		t.Fatalf("t(0.975, 1) = %v, want 12.7062047", got)
	}
	if got := tQuantile975(2); math.Abs(got-4.3026527) > 1e-6 {
		t.Fatalf("t(0.975, 2) = %v, want 4.3026527", got)
	}
}

func result(id string, seed int, lr float64, status string, acc float64) *trial.Result {
	return &trial.Result{ID: id, Status: status, Spec: trial.Spec{Task: "t", Method: "lora", Seed: seed, Train: trial.Settings{LR: lr}},
		Metrics: trial.Metrics{TestAccuracy: acc, TrainLoss: 2 * acc}, TokensPerSec: 100 * acc, CalibrationGFLOPS: 10, PeakMemoryBytes: 1 << 20}
}

func TestByAndSummarize(t *testing.T) {
	rs := []*trial.Result{
		result("a", 2, 1e-3, trial.Success, 0.6),
		result("b", 1, 1e-4, trial.Success, 0.9),
		result("c", 1, 1e-3, trial.Success, 0.8),
		result("d", 3, 1e-3, trial.Failed, 0),
	}
	rs[0].MFU, rs[0].PeakGFLOPS = 0.1, 100 // one seed of two reports MFU against a peak
	rs[1].MFU = 0.5                        // the other against the calibration (an older result): not counted
	groups := By(rs, func(s trial.Spec) float64 { return s.Train.LR })
	if len(groups) != 2 || groups[0].Key != 1e-3 || groups[1].Key != 1e-4 {
		t.Fatalf("groups %+v: want lr 1e-3 (first seen) then 1e-4", groups)
	}
	var ids []string
	for _, r := range groups[0].Results {
		ids = append(ids, r.ID)
	}
	if d := cmp.Diff([]string{"a", "c", "d"}, ids); d != "" {
		t.Errorf("group keeps the given order (-want +got):\n%s", d)
	}
	s := Summarize(groups[0].Results)
	if d := cmp.Diff([]int{1, 2}, s.Seeds); d != "" {
		t.Errorf("seeds: successful ones, sorted (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"c", "a"}, s.IDs); d != "" {
		t.Errorf("ids in seed order (-want +got):\n%s", d)
	}
	if d := cmp.Diff(StatOf([]float64{0.8, 0.6}), s.Test, approx); d != "" {
		t.Errorf("test accuracy (-want +got):\n%s", d)
	}
	if s.TrainLoss.Mean != 1.4 || s.TokensPerSec.Mean != 70 || s.NormTokensPerSec.Mean != 7 || s.NormTokensPerSec.N != 2 || s.PeakMemoryBytes.Mean != 1<<20 {
		t.Errorf("means: loss %v, tokens/s %v, normalised %v (n=%d), memory %v", s.TrainLoss.Mean, s.TokensPerSec.Mean, s.NormTokensPerSec.Mean, s.NormTokensPerSec.N, s.PeakMemoryBytes.Mean)
	}
	if s.MFU.N != 1 || s.Valid.N != 0 || s.Accounted != nil || !math.IsNaN(s.HeapToAccounted.Mean) {
		t.Errorf("metrics some seeds lack: MFU n=%d, valid n=%d, accounted %v, heap/accounted %v", s.MFU.N, s.Valid.N, s.Accounted, s.HeapToAccounted.Mean)
	}
	if got := Summarize(rs[3:]); got.Test.N != 0 || got.Test.MeanOr(0) != 0 || len(got.Results) != 0 {
		t.Errorf("only failures: %+v", got.Test)
	}
}

func TestCells(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{PValue(0.01234), "0.012"},
		{PValue(2e-5), "2.0e-05"},
		{PValue(1e-13), "< 1e-12"},
		{PValue(math.NaN()), "—"},
		{PText(0.5), "= 0.500"},
		{PText(2e-5), "= 2.0e-05"},
		{PText(0), "< 1e-12"},
		{Interval(stats.Comparison{Lo: -1.2, Hi: 0.135}), "[-100.0, 13.5]"},
		{MiB(3 << 19), "1.5"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestParams(t *testing.T) {
	a := Params(map[string]any{"rank": 8, "alpha": 16.0, "targets": []string{"q", "v"}})
	b := Params(map[string]any{"targets": []any{"q", "v"}, "alpha": 16, "rank": 8.0})
	if a != b || a != `{"alpha":16,"rank":8,"targets":["q","v"]}` {
		t.Errorf("Params: %s and %s, want both {\"alpha\":16,\"rank\":8,\"targets\":[\"q\",\"v\"]}", a, b)
	}
	if got := Params(nil); got != "{}" {
		t.Errorf("Params(nil) = %s, want {}", got)
	}
}
