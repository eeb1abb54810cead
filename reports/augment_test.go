package reports

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/trial"
)

// augmentSweep is a constructed sweep whose verdicts are known. On 1,000
// test examples, two seeds each with the same outcomes, LoRA is right on
// the first 600 at 32 examples and 748 at 128; with LLM2LLM the pool
// teacher reaches 700 and 752, the random pool 605 and 750. Full
// fine-tuning is run plain only. Each augmented trial's validation score is
// its test score, above the plain method's, so that a report choosing on
// validation among every configuration would pick it.
func augmentSweep() []*trial.Result {
	const n = 1000
	upTo := func(k int) []bool { return pattern(n, func(i int) bool { return i < k }) }
	var out []*trial.Result
	add := func(method string, size int, teacher string, right int) {
		for seed := 1; seed <= 2; seed++ {
			r := toyResult(method, size, seed, 0, upTo(right))
			if teacher != "" {
				r.Spec.Augment = &trial.Augment{Kind: "llm2llm", Iterations: 2, PerError: 2, Teacher: teacher}
				r.Metrics.ValidAccuracy = &r.Metrics.TestAccuracy
				r.Augment = augmentRounds(size, seed, r.Metrics.TestAccuracy)
			}
			r.ID = r.Spec.ID()
			out = append(out, r)
		}
	}
	add("full", 32, "", 650)
	add("full", 128, "", 800)
	add("lora", 32, "", 600)
	add("lora", 32, "pool", 700)
	add("lora", 32, "pool-random", 605)
	add("lora", 128, "", 748)
	add("lora", 128, "pool", 752)
	add("lora", 128, "pool-random", 750)
	return out
}

// augmentRounds are a loop's three iterations: 10 seed errors, then 6 (seed
// 1) or 8 (seed 2), then 2; the teacher is asked for 2 per error and
// keeps all but one malformed, one off-label and two duplicate examples
// of the first request, taking 1.5 s a request.
func augmentRounds(size, seed int, final float64) []trial.Round {
	second := 6 + 2*(seed-1)
	return []trial.Round{
		{Iteration: 0, DataSize: size, SeedErrors: 10, SeedAccuracy: 1 - 10/float64(size), TestAccuracy: final - 0.1,
			Teacher: trial.Cost{Asked: 20, Written: 18, Malformed: 1, OffLabel: 1, Duplicates: 2, Kept: 16, Seconds: 1.5}},
		{Iteration: 1, DataSize: size + 16, SeedErrors: second, SeedAccuracy: 1 - float64(second)/float64(size), TestAccuracy: final - 0.05,
			Teacher: trial.Cost{Asked: 2 * second, Written: 2 * second, Kept: 2 * second, Seconds: 1.5}},
		{Iteration: 2, DataSize: size + 16 + 2*second, SeedErrors: 2, SeedAccuracy: 1 - 2/float64(size), TestAccuracy: final},
	}
}

func TestAugmentConfigurations(t *testing.T) {
	var got []string
	for _, g := range groupResults(augmentSweep()) {
		if g.Method == "lora" && g.DataSize == 32 {
			got = append(got, armName(g.Method, g.Augment))
		}
	}
	// Plain first; each augmentation a configuration of its own.
	want := []string{"lora", "lora +llm2llm pool T=2 k=2", "lora +llm2llm pool-random T=2 k=2"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("LoRA configurations at 32 examples (-want +got):\n%s", d)
	}
	if l := augmentLabel(&trial.Augment{Kind: "llm2llm", Iterations: 3, PerError: 2, Teacher: "openai", Model: "qwen2.5-7b", URL: "http://x"}); l != "llm2llm openai T=3 k=2 qwen2.5-7b" {
		t.Errorf("openai teacher labelled %q, want its model named", l)
	}

	// The other tables hold plain configurations only: the summary picks
	// plain LoRA though its augmented runs validate higher.
	tabs := tabulate(augmentSweep(), inputs{})
	for _, g := range tabs.Groups {
		if g.Augment != "" {
			t.Errorf("augmented configuration %s among the report's groups", armName(g.Method, g.Augment))
		}
	}
	for _, r := range tabs.Summaries[0].Rows {
		if r.Method == "lora" && (r.Best.Augment != "" || math.Abs(r.Best.Test.Mean-0.748) > 1e-12) {
			t.Errorf("summary LoRA row: %s at %.3f, want plain lora at 0.748", armName(r.Method, r.Best.Augment), r.Best.Test.Mean)
		}
	}
}

func TestAugmentSection(t *testing.T) {
	tabs := tabulate(augmentSweep(), inputs{})
	a := tabs.Augmentation
	if a == nil {
		t.Fatal("no augmentation tables with augmented trials")
	}
	// Per size: pool and random against plain, pool against random.
	if len(a.Tests) != 6 || len(a.Skipped) != 0 {
		t.Fatalf("%d tests, skipped %v; want 6", len(a.Tests), a.Skipped)
	}
	check := func(size int, aName, bName string, sig bool, diff float64) {
		t.Helper()
		for _, pt := range a.Tests {
			if pt.A.Group.DataSize == size && pt.A.Name == aName && pt.B.Name == bName {
				if pt.Significant != sig || math.Abs(pt.Diff-diff) > 1e-12 || pt.Holm < pt.P {
					t.Errorf("%s vs %s at %d: significant %v (Holm p %.3g, raw %.3g), diff %v; want significant %v, diff %v",
						aName, bName, size, pt.Significant, pt.Holm, pt.P, pt.Diff, sig, diff)
				}
				return
			}
		}
		t.Errorf("no test of %s against %s at %d", aName, bName, size)
	}
	const pool, random = "lora +llm2llm pool T=2 k=2", "lora +llm2llm pool-random T=2 k=2"
	check(32, pool, random, true, 0.095) // 95 examples, all one way
	check(128, pool, random, false, 0.002)
	check(32, pool, "lora", true, 0.1)
	check(32, random, "lora", false, 0.005)
	check(128, pool, "lora", false, 0.004)

	p := &page{t: tabs, nm: newNaming(tabs.Tasks), dir: "toy"}
	md, appendix, figs, err := p.render()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(appendix, "llm2llm") {
		t.Errorf("an augmented configuration appears in the appendix:\n%s", appendix)
	}
	if !strings.Contains(md, "11. [Data augmentation (LLM2LLM)](#11-data-augmentation-llm2llm)") {
		t.Error("the contents do not link the augmentation section")
	}
	start := strings.Index(md, "## 11. Data augmentation (LLM2LLM)")
	if start < 0 {
		t.Fatalf("no augmentation section:\n%s", md)
	}
	if rest := md[strings.Index(md, "## 1. Summary"):start]; strings.Contains(rest, "llm2llm") {
		t.Errorf("an augmented configuration appears in sections 1-10:\n%s", rest)
	}
	section := md[start:]
	for _, want := range []string{
		"2 of the 6 paired tests are significant after Holm's correction",
		"- On toy with 32 training examples: lora +llm2llm pool T=2 k=2 70.0% vs lora +llm2llm pool-random T=2 k=2 60.5%: +9.5 points",
		"**Targeting the errors helps.**",
		"- On toy with 128 training examples: lora +llm2llm pool T=2 k=2 75.2% vs lora +llm2llm pool-random T=2 k=2 75.0%: +0.2 points",
		"Targeted and random examples are not distinguishable (inconclusive, not equal).",
		"- On toy with 32 training examples: lora +llm2llm pool T=2 k=2 70.0% vs lora 60.0%: +10.0 points",
		"**LLM2LLM helps.**",
		"- On toy with 32 training examples: lora +llm2llm pool-random T=2 k=2 60.5% vs lora 60.0%: +0.5 points",
		"Not distinguishable from the plain method (inconclusive, not equal).",
		"p (Holm) is adjusted over the 6 tests of this section, a family of its own",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("augmentation section lacks %q", want)
		}
	}
	if strings.Contains(section, "| full") {
		t.Error("full fine-tuning, never augmented, is in the augmentation section")
	}
	for _, re := range []string{
		// Accuracy against data size: plain, pool, random.
		`\| toy +\| lora +\| +32 \| +60\.0 ± 0\.0 \| +70\.0 ± 0\.0 \| +60\.5 ± 0\.0 \|`,
		`\| toy +\| lora +\| +128 \| +74\.8 ± 0\.0 \| +75\.2 ± 0\.0 \| +75\.0 ± 0\.0 \|`,
		// Iterations: 32 + 16 examples, then (44 + 46) / 2 + 16 ... and
		// seed errors (6 + 8) / 2; test accuracy 70.0 − 5.0.
		`\| toy +\| lora +\| llm2llm pool T=2 k=2 +\| +32 \| +1 \| +2 \| +48 \| +7 \| +78\.1 \| +65\.0 ± 0\.0 \|`,
		`\| toy +\| lora +\| llm2llm pool T=2 k=2 +\| +32 \| +2 \| +2 \| +62 \| +2 \| +93\.8 \| +70\.0 ± 0\.0 \|`,
		// The tests' table.
		`\| toy +\| +32 \| lora \+llm2llm pool T=2 k=2 +\| lora \+llm2llm pool-random T=2 k=2 \| +70\.0 \| +60\.5 \| +\+9\.5 \|.*\| +95 / 0 \|.*\*\*yes\*\* +\|`,
		`\| toy +\| +128 \| lora \+llm2llm pool T=2 k=2 +\| lora \+llm2llm pool-random T=2 k=2 \| +75\.2 \| +75\.0 \| +\+0\.2 \|.*\| +2 / 0 \|.*\| no +\|`,
		// Teacher cost over 4 trials a teacher: asked 4·20 + 2·(12 + 16),
		// written 4·18 + 2·(12 + 16), kept 4·16 + 2·(12 + 16); 4·2
		// requests of 1.5 s.
		`\| pool +\| toy +\| +4 \| +136 \| +128 \| +4 \| +4 \| +0 \| +8 \| +120 \| +88\.2% \| +12\.0 \| +3\.00 \|`,
		`\| pool-random \| toy +\| +4 \| +136 \|`,
	} {
		if !regexp.MustCompile(re).MatchString(section) {
			t.Errorf("augmentation section has no row matching %s", re)
		}
	}
	var names []string
	for _, f := range figs {
		if strings.Contains(f.Name, "llm2llm") {
			names = append(names, f.Name)
		}
	}
	want := []string{"fig-llm2llm-datasize-toy", "fig-llm2llm-iterations-32-toy", "fig-llm2llm-iterations-128-toy"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("augmentation figures (-want +got):\n%s", d)
	}
	writeFigures(t, figs)
	if t.Failed() {
		t.Logf("README.md:\n%s", md)
	}
}

// TestAugmentAbsent: with no augmented trial the section, its contents
// line and its figures are left out.
func TestAugmentAbsent(t *testing.T) {
	var plain []*trial.Result
	for _, r := range augmentSweep() {
		if r.Spec.Augment == nil {
			plain = append(plain, r)
		}
	}
	tabs := tabulate(plain, inputs{})
	if tabs.Augmentation != nil {
		t.Fatalf("augmentation tables with no augmented trial: %+v", tabs.Augmentation)
	}
	p := &page{t: tabs, nm: newNaming(tabs.Tasks), dir: "toy"}
	md, figs, err := renderBoth(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"Data augmentation", "LLM2LLM", "llm2llm", "#11-"} {
		if strings.Contains(md, absent) {
			t.Errorf("report without augmented trials mentions %q", absent)
		}
	}
	for _, f := range figs {
		if strings.Contains(f.Name, "llm2llm") {
			t.Errorf("figure %s drawn with no augmented trial", f.Name)
		}
	}
}
