package reports

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/trial/aggregate"
)

// approx compares floats to 1e-9 and NaN equal to NaN, and looks into the
// embedded (unexported) config and taskKey of the package's tables.
var approx = cmp.Options{cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateNaNs(),
	cmp.AllowUnexported(group{}, frontier{}, memoryRow{}, methodCurve{}, sizeTests{}, taskSummary{}, throughputRow{})}

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
		{numfmt.Thousands(1098192), "1,098,192"},
		{numfmt.Thousands(950), "950"},
		{pctCell(100 * 8192.0 / 1098192), "0.75%"},
		{pctCell(100), "100.0%"},
		{accCell(aggregate.Stat{N: 2, Mean: 0.84, Std: 0.0283}), "84.0 ± 2.8"},
		{accCell(aggregate.Stat{N: 1, Mean: 0.8, Std: math.NaN()}), "80.0"},
		{bytesCell(32968), "32.2 KiB"},
		{shellQuote("results/my sweep"), `'results/my sweep'`},
		{codeFence("a ```` b"), "`````"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
