package reports

import (
	"math"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/trial"
)

// toyResult is a successful trial whose test outcomes are right where
// right says, on examples first, first+1, …
func toyResult(method string, size, seed, first int, right []bool) *trial.Result {
	idx := make([]int, len(right))
	n := 0
	for i, r := range right {
		idx[i] = first + i
		if r {
			n++
		}
	}
	valid := 0.5
	r := &trial.Result{Status: trial.Success, Spec: trial.Spec{Model: "m", Task: "toy", Method: method, DataSize: size, Seed: seed,
		MethodParams: map[string]any{}, Train: trial.Settings{LR: 1e-3, Epochs: 1, Batch: 4}},
		Metrics: trial.Metrics{TestAccuracy: float64(n) / float64(len(right)), ValidAccuracy: &valid}, NumTrainableParams: 10, NumTotalParams: 100}
	if method == trial.ZeroShot {
		r.Metrics.ValidAccuracy = nil
		r.Spec.Train = trial.Settings{Batch: 4}
	}
	r.ID = r.Spec.ID()
	r.Outcomes = []trial.Outcomes{trial.NewOutcomes("test", idx, right)}
	return r
}

// pattern is n outcomes, right where f says.
func pattern(n int, f func(i int) bool) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// A constructed sweep where the answers are known: the majority class is
// right on 600 of 1,000 examples; full is right on those and on 100 more
// with both seeds; lora predicts the majority class exactly; prompt is
// right on 3 examples more than lora, one seed each, and zero-shot is the
// majority class but for one example. DoRA matches full with one seed.
func TestSignificanceOnConstructedOutcomes(t *testing.T) {
	const n = 1000
	maj := pattern(n, func(i int) bool { return i < 600 })
	full := pattern(n, func(i int) bool { return i < 700 })
	full2 := pattern(n, func(i int) bool { return i < 700 && i != 5 || i == 800 })
	prompt := pattern(n, func(i int) bool { return i < 600 || (i >= 600 && i < 603) })
	zs := pattern(n, func(i int) bool { return i < 600 && i != 0 })
	results := []*trial.Result{
		toyResult("full", 64, 1, 0, full), toyResult("full", 64, 2, 0, full2),
		toyResult("lora", 64, 1, 0, maj), toyResult("lora", 64, 2, 0, maj),
		toyResult("dora", 64, 1, 0, full),
		toyResult("prompt", 64, 1, 0, prompt),
		toyResult(trial.ZeroShot, 0, 0, 0, zs),
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	in := inputs{Majority: map[string]trial.Outcomes{"toy": trial.NewOutcomes("test", idx, maj)}}
	tabs := tabulate(results, in)
	if len(tabs.Tests) != 1 || tabs.Tests[0].DataSize != 64 {
		t.Fatalf("tests at %d sizes, want one (zero-shot has no data size of its own)", len(tabs.Tests))
	}
	st := tabs.Tests[0]
	// 5 contenders (full, lora, dora, prompt, zero-shot): 5 against the
	// majority class and 10 pairs.
	if len(st.Tests) != 15 || len(st.Skipped) != 0 {
		t.Fatalf("%d tests, skipped %v", len(st.Tests), st.Skipped)
	}
	check := func(a, b string, sig bool, diff float64) pairTest {
		t.Helper()
		pt, ok := st.Vs(a, b)
		if !ok {
			t.Fatalf("no test of %s against %s", a, b)
		}
		if pt.Significant != sig || math.Abs(pt.Diff-diff) > 1e-12 || pt.Holm < pt.P || pt.N != n {
			t.Fatalf("%s vs %s: significant %v (Holm p %.3g, raw %.3g), diff %v over %d examples; want significant %v, diff %v",
				a, b, pt.Significant, pt.Holm, pt.P, pt.Diff, pt.N, sig, diff)
		}
		return pt
	}
	check("full", majority, true, 0.1)
	if pt := check("lora", majority, false, 0); pt.P != 1 || pt.Lo != 0 || pt.Hi != 0 {
		t.Fatalf("identical predictions: p %v, interval [%v, %v]", pt.P, pt.Lo, pt.Hi)
	}
	if pt := check("prompt", "lora", false, 0.003); pt.Test != stats.Paired || pt.Lo > 0 {
		t.Fatalf("tiny difference: %+v", pt)
	}
	if pt := check("prompt", majority, false, 0.003); pt.Test != stats.McNemar || pt.OnlyA != 3 || pt.OnlyB != 0 {
		t.Fatalf("one seed against the majority class: %+v", pt)
	}
	check("lora", "full", true, -0.1) // read in either order
	check(trial.ZeroShot, majority, false, -0.001)

	// The summary marks what is not above the majority class, and the
	// report opens with what the tests support.
	sum := tabs.Summaries[0]
	for _, r := range sum.Rows {
		if want := r.Method == "full" || r.Method == "dora"; r.AboveMajority() != want || r.VsMajority == nil {
			t.Fatalf("%s: above majority %v", r.Method, r.AboveMajority())
		}
	}
	if last := sum.Rows[len(sum.Rows)-1]; last.Method != trial.ZeroShot || !last.Control() {
		t.Fatalf("last summary row %s", last.Method)
	}
	p := &page{t: tabs, in: in, nm: newNaming(tabs.Tasks), dir: "toy"}
	md, _, err := p.render()
	if err != nil {
		t.Fatal(err)
	}
	findings := md[strings.Index(md, "## Findings"):strings.Index(md, "## 1. Summary")]
	for _, want := range []string{
		"15 paired tests",
		"- Above the majority class (60.0%): full 70.0% (+10.0 points",
		"- **Not** significantly above the majority class: lora 60.0% (+0.0 points [0.0, 0.0], p = 1.000); prompt 60.3%",
		"p < 1e-12",
		"- Highest test accuracy: full (70.0%). Significantly below it: lora (+10.0 points",
		"Not distinguishable from it (inconclusive, not equal): dora.",
		"- Zero-shot, the base model with no training, is not distinguishable from the majority class (59.9%",
	} {
		if !strings.Contains(findings, want) {
			t.Errorf("findings lack %q:\n%s", want, findings)
		}
	}
	if !strings.Contains(md, "| lora ◦ ") || strings.Contains(md, "| full ◦") {
		t.Error("the summary does not mark exactly the methods not above the majority class")
	}
}
