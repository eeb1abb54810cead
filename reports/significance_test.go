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
// majority class but for one example. DoRA matches full with one seed, so
// nothing it is compared with is tested; IA3 matches full with two seeds,
// so it is shown equivalent within the 2-point margin.
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
		toyResult("ia3", 64, 1, 0, full), toyResult("ia3", 64, 2, 0, full2),
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
	// 6 contenders (full, lora, dora, prompt, ia3, zero-shot): 6 against
	// the majority class and 15 pairs.
	if len(st.Tests) != 21 || len(st.Skipped) != 0 {
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
	if pt := check("dora", "full", false, 0); !pt.OneSeed || pt.Equivalent || !math.IsNaN(pt.Holm) || pt.Family != vsReference {
		t.Fatalf("one seed against full: %+v", pt)
	}
	if pt := check("ia3", "full", false, 0); pt.OneSeed || !pt.Equivalent || pt.Family != vsReference {
		t.Fatalf("two seeds level with full: %+v", pt)
	}
	if pt := check("full", "lora", true, 0.1); pt.Equivalent {
		t.Fatalf("ten points apart, yet equivalent: %+v", pt)
	}
	// Families: each is corrected on its own, so a family's size, not the
	// report's, sets the adjustment.
	for _, c := range []struct {
		a, b string
		f    family
	}{{"full", majority, vsMajority}, {"lora", "full", vsReference}, {"lora", "prompt", exploratory}, {trial.ZeroShot, "full", exploratory}} {
		if pt, _ := st.Vs(c.a, c.b); pt.Family != c.f {
			t.Errorf("%s vs %s in family %q, want %q", c.a, c.b, pt.Family, c.f)
		}
	}
	// vs majority: full, lora, ia3 and zero-shot count (dora and prompt
	// ran one seed); vs full: lora and ia3.
	if got := [2]int{familySize(tabs.Tests, vsMajority), familySize(tabs.Tests, vsReference)}; got != [2]int{4, 2} {
		t.Errorf("family sizes %v, want [4 2]", got)
	}
	if pt, _ := st.Vs("lora", majority); pt.Holm != math.Min(1, 4*pt.P) && pt.P != 1 {
		t.Errorf("lora vs majority: Holm %v from raw %v in a family of 4", pt.Holm, pt.P)
	}

	// The summary marks what is not above the majority class, and the
	// report opens with what the tests support.
	sum := tabs.Summaries[0]
	for _, r := range sum.Rows {
		if want := r.Method == "full" || r.Method == "ia3"; r.AboveMajority() != want || r.VsMajority == nil {
			t.Fatalf("%s: above majority %v", r.Method, r.AboveMajority())
		}
	}
	if last := sum.Rows[len(sum.Rows)-1]; last.Method != trial.ZeroShot || !last.Control() {
		t.Fatalf("last summary row %s", last.Method)
	}
	p := &page{t: tabs, in: in, nm: newNaming(tabs.Tasks), dir: "toy"}
	md, _, err := renderBoth(p)
	if err != nil {
		t.Fatal(err)
	}
	findings := md[strings.Index(md, "## Findings"):strings.Index(md, "## 1. Summary")]
	for _, want := range []string{
		"each method and control against the majority class (4 tests); each method against full fine-tuning (2 tests)",
		"11 comparisons have a trained side that ran on one seed",
		"- Above the majority class (60.0%): full 70.0% (+10.0 points",
		"- **Not** significantly above the majority class: lora 60.0% (+0.0 points [0.0, 0.0], p = 1.000); dora 70.0% (+10.0 points [8.1, 11.9], one seed: not tested); prompt 60.3%",
		"p < 1e-12",
		"- Against full (70.0%). Significantly below it: lora (-10.0 points",
		"Within ±2 points of it (equivalence test): ia3 (",
		"Inconclusive, neither different nor shown equivalent: dora (-0.0 points [-0.1, 0.1], one seed: not tested)",
		"- Zero-shot, the base model with no training, is not distinguishable from the majority class (59.9%",
	} {
		if !strings.Contains(findings, want) {
			t.Errorf("findings lack %q:\n%s", want, findings)
		}
	}
	if !strings.Contains(md, "| lora ◦ ") || strings.Contains(md, "| full ◦") {
		t.Error("the summary does not mark exactly the methods not above the majority class")
	}

	// A pair the spec declares leaves the exploratory family for one of
	// its own, which the findings state.
	in.Primary = [][2]string{{"ia3", "lora"}}
	tabs = tabulate(results, in)
	if pt, _ := tabs.Tests[0].Vs("lora", "ia3"); pt.Family != declared || !pt.Significant || pt.Holm != pt.P {
		t.Fatalf("declared pair: %+v, want a family of one", pt)
	}
	p = &page{t: tabs, in: in, nm: newNaming(tabs.Tasks), dir: "toy"}
	if md, _, err = renderBoth(p); err != nil {
		t.Fatal(err)
	}
	if want := "- Declared by the sweep spec: lora 60.0% vs ia3 70.0%: -10.0 points"; !strings.Contains(md, want) {
		t.Errorf("findings lack %q", want)
	}
}
