package reports

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// approx compares floats to 1e-9 and NaN equal to NaN.
// approx compares floats to 1e-9 and NaN equal to NaN, and looks into the
// embedded (unexported) config and taskKey of the package's tables.
var approx = cmp.Options{cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateNaNs(),
	cmp.AllowUnexported(group{}, frontier{}, memoryRow{}, methodCurve{}, sizeTests{}, taskSummary{}, throughputRow{})}

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
		want seedStat
	}{
		{[]float64{0.80, 0.84}, seedStat{N: 2, Mean: 0.82, Std: sd2, Lo: 0.82 - half2, Hi: 0.82 + half2}},
		{[]float64{1, 2, 6}, seedStat{N: 3, Mean: 3, Std: math.Sqrt(7), Lo: 3 - half3, Hi: 3 + half3}},
		{[]float64{0.5}, seedStat{N: 1, Mean: 0.5, Std: nan, Lo: nan, Hi: nan}},
		{nil, seedStat{N: 0, Mean: nan, Std: nan, Lo: nan, Hi: nan}},
	} {
		if d := cmp.Diff(c.want, summarize(c.xs), approx); d != "" {
			t.Errorf("Summarize(%v) (-want +got):\n%s", c.xs, d)
		}
	}
	if got := tQuantile975(1); math.Abs(got-12.7062047) > 1e-6 {
		t.Fatalf("t(0.975, 1) = %v, want 12.7062047", got)
	}
	if got := tQuantile975(2); math.Abs(got-4.3026527) > 1e-6 {
		t.Fatalf("t(0.975, 2) = %v, want 4.3026527", got)
	}
}

func TestNiceLogTicks(t *testing.T) {
	var got []string
	for _, tk := range niceLogTicks(150, 2500, humanCount) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if d := cmp.Diff([]string{"200", "500", "1k", "2k"}, got); d != "" {
		t.Errorf("labelled ticks (-want +got):\n%s", d)
	}
	got = nil
	for _, tk := range niceLogTicks(190, 310, humanCount) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if d := cmp.Diff([]string{"200", "300"}, got); d != "" {
		t.Errorf("narrow range ticks (-want +got):\n%s", d)
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{humanCount(1090000), "1.09M"},
		{humanCount(8192), "8.19k"},
		{humanCount(512), "512"},
		{thousands(1098192), "1,098,192"},
		{thousands(950), "950"},
		{pctCell(100 * 8192.0 / 1098192), "0.75%"},
		{pctCell(100), "100.0%"},
		{accCell(seedStat{N: 2, Mean: 0.84, Std: 0.0283}), "84.0 ± 2.8"},
		{accCell(seedStat{N: 1, Mean: 0.8, Std: math.NaN()}), "80.0"},
		{bytesCell(32968), "32.2 KiB"},
		{shellQuote("results/my sweep"), `'results/my sweep'`},
		{codeFence("a ```` b"), "`````"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
