package reports

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter/tw"
	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/trial/aggregate"
)

// diffCell writes a difference in accuracy points with its interval:
// "+9.8 [6.1, 13.5]".
func diffCell(c stats.Comparison) string {
	return fmt.Sprintf("%+.1f %s", 100*c.Diff, aggregate.Interval(c))
}

// testText is a test in a sentence: "+9.8 points [6.1, 13.5], p = 2.0e-05"
// (Holm-adjusted within its family), or "+9.8 points [6.1, 13.5], one
// seed: not tested" when a trained side ran on one seed.
func testText(t pairTest) string {
	if t.OneSeed {
		return fmt.Sprintf("%+.1f points %s, one seed: not tested", 100*t.Diff, aggregate.Interval(t.Comparison))
	}
	return fmt.Sprintf("%+.1f points %s, p %s", 100*t.Diff, aggregate.Interval(t.Comparison), aggregate.PText(t.Holm))
}

// equivText is a test's equivalence within ±margin in words: "within ±2
// points: p = 0.003" (Holm-adjusted).
func equivText(t pairTest, margin float64) string {
	if t.OneSeed {
		return fmt.Sprintf("within ±%s points: one seed, not tested", pointsText(margin))
	}
	return fmt.Sprintf("within ±%s points: p %s", pointsText(margin), aggregate.PText(t.Equiv))
}

// pointsText writes an accuracy difference in points without trailing
// zeros: 0.02 → "2", 0.015 → "1.5".
func pointsText(d float64) string { return strconv.FormatFloat(100*d, 'f', -1, 64) }

func (p *page) numTests() int {
	n := 0
	for _, st := range p.t.Tests {
		n += len(st.Tests)
	}
	return n
}

// findings opens the report with what the paired tests support, task by
// task, and says plainly what they leave open.
func (p *page) findings() {
	p.line("## Findings")
	p.line("")
	if len(p.t.Summaries) == 0 || p.numTests() == 0 {
		p.line("No paired test could be run (no trial succeeded, or none recorded per-example outcomes): this report supports no finding.")
		p.line("")
		return
	}
	p.line("%s", p.familiesText())
	p.line("")
	for _, s := range p.t.Summaries {
		st := testsAt(p.t.Tests, s.taskKey, s.DataSize)
		if st == nil || len(st.Tests) == 0 {
			continue
		}
		p.line("**%s** (%s, %s test examples):", p.nm.name(s.taskKey), p.sizeText(s.Task, s.DataSize), numfmt.Thousands(float64(st.Tests[0].N)))
		p.line("")
		var above, level, methods []string
		for _, r := range s.Rows {
			if r.VsMajority == nil || untrained(r.Method) { // zero-shot has a line of its own
				continue
			}
			item := fmt.Sprintf("%s %s (%s)", r.Method, pctText(r.VsMajority.AccA), testText(*r.VsMajority))
			if r.AboveMajority() {
				above = append(above, item)
			} else {
				level = append(level, item)
			}
			if !r.Control() {
				methods = append(methods, r.Method)
			}
		}
		if maj := majorityAcc(st); maj >= 0 {
			if len(above) > 0 {
				p.line("- Above the majority class (%s): %s.", pctText(maj), strings.Join(above, "; "))
			}
			if len(level) > 0 {
				p.line("- **Not** significantly above the majority class: %s. Inconclusive: these may have learnt nothing.", strings.Join(level, "; "))
			}
		}
		p.againstReference(st, methods)
		p.declaredPairs(st)
		p.pretraining(s.taskKey)
		p.line("")
	}
	if capped := p.cappedEval(); capped != "" {
		p.line("%s", capped)
		p.line("")
	}
}

// familiesText says which declared questions the findings answer, how
// many tests each holds, and the rules that turn a test into a finding.
func (p *page) familiesText() string {
	var fams []string
	for _, f := range primaryFamilies {
		if n := familySize(p.t.Tests, f); n > 0 {
			fams = append(fams, fmt.Sprintf("%s (%d tests)", f, n))
		}
	}
	one := 0
	for _, st := range p.t.Tests {
		for _, t := range st.Tests {
			if t.OneSeed {
				one++
			}
		}
	}
	text := fmt.Sprintf("What the data supports. The report answers declared questions, each a family of paired tests over the same test examples, seeds combined, Holm-corrected on its own at a %g%% family-wise error rate: %s. "+
		"The all-pairs tests of %s are exploratory, a family of their own. p-values below are Holm-adjusted within their family; differences are in accuracy points with 95%% intervals, which are not adjusted, so an interval can exclude 0 where the adjusted p-value is not significant. "+
		"A method matches another only when an equivalence test (two one-sided tests) puts the difference within ±%s points; a difference neither significant nor shown equivalent is inconclusive.",
		100*stats.Alpha, strings.Join(fams, "; "), p.sectionLink(testsTitle), pointsText(p.in.margin()))
	if one > 0 {
		text += fmt.Sprintf(" %d comparisons have a trained side that ran on one seed: they are never called significant or equivalent, because nothing measures how far another seed would move them; they are listed with their intervals and left out of the corrections.", one)
	}
	return text
}

// againstReference sets every method beside full fine-tuning at one task
// and size: significantly above or below it, within the parity margin by
// the equivalence test, or inconclusive.
func (p *page) againstReference(st *sizeTests, methods []string) {
	ref := display.Reference()
	var above, below, within, open []string
	for _, m := range methods {
		if m == ref {
			continue
		}
		t, ok := st.Vs(m, ref)
		switch {
		case !ok:
		case t.Significant && t.Diff > 0:
			above = append(above, fmt.Sprintf("%s (%s)", m, testText(t)))
		case t.Significant:
			below = append(below, fmt.Sprintf("%s (%s)", m, testText(t)))
		case t.Equivalent:
			within = append(within, fmt.Sprintf("%s (%s; %s)", m, testText(t), equivText(t, p.in.margin())))
		default:
			open = append(open, fmt.Sprintf("%s (%s)", m, testText(t)))
		}
	}
	if len(above)+len(below)+len(within)+len(open) == 0 {
		return
	}
	var parts []string
	for _, c := range []struct {
		say  string
		list []string
	}{{"significantly above it", above}, {"significantly below it", below},
		{fmt.Sprintf("within ±%s points of it (equivalence test)", pointsText(p.in.margin())), within},
		{"inconclusive, neither different nor shown equivalent", open}} {
		if len(c.list) > 0 {
			parts = append(parts, fmt.Sprintf("%s: %s", capitalise(c.say), strings.Join(c.list, "; ")))
		}
	}
	line := fmt.Sprintf("- Against %s", ref)
	if c := st.contender(ref); c != nil {
		line += fmt.Sprintf(" (%s)", pctText(c.Group.Test.Mean))
	}
	p.line("%s. %s.", line, strings.Join(parts, ". "))
}

// declaredPairs states the comparisons the sweep spec declares, at one
// task and size.
func (p *page) declaredPairs(st *sizeTests) {
	var parts []string
	for _, t := range st.Tests {
		if t.Family != declared {
			continue
		}
		verdict := "inconclusive"
		switch {
		case t.Significant:
			verdict = "a significant difference"
		case t.Equivalent:
			verdict = fmt.Sprintf("equivalent within ±%s points", pointsText(p.in.margin()))
		}
		parts = append(parts, fmt.Sprintf("%s, %s", claimText(&t), verdict))
	}
	if len(parts) > 0 {
		p.line("- Declared by the sweep spec: %s.", strings.Join(parts, "; "))
	}
}

// pretraining states, at every data size, whether full fine-tuning of the
// base model beats the same architecture trained from scratch, and
// whether the base model ranks labels better than the majority class
// with no training at all.
func (p *page) pretraining(k taskKey) {
	var parts []string
	var zs *pairTest
	scratch := display.Declared(display.Scratch) // and the method it controls for
	for _, st := range p.t.Tests {
		if st.taskKey != k {
			continue
		}
		if t, ok := st.Vs(scratch.Of, scratch.Name); ok {
			verdict := "not distinguishable"
			if t.OneSeed {
				verdict = "one seed"
			}
			if t.Significant {
				verdict = map[bool]string{true: scratch.Of + " ahead", false: scratch.Name + " ahead"}[t.Diff > 0]
			}
			parts = append(parts, fmt.Sprintf("%s examples: %s (%s)", sizeCell(st.DataSize), verdict, testText(t)))
		}
		if z := p.t.ZeroShot[k]; z != nil && zs == nil {
			if t, ok := st.Vs(z.Method, majority); ok {
				zs = &t
			}
		}
	}
	if len(parts) > 0 {
		p.line("- Does pre-training matter? Full fine-tuning of the base model against the same architecture from a random initialisation with the same budget: %s.", strings.Join(parts, "; "))
	}
	if zs != nil {
		verdict := "not distinguishable from"
		if zs.OneSeed {
			verdict = "not tested against (one seed)"
		}
		if zs.Significant {
			verdict = map[bool]string{true: "above", false: "below"}[zs.Diff > 0]
		}
		p.line("- Zero-shot, the base model with no training, is %s the majority class (%s, %s).", verdict, pctText(zs.AccA), testText(*zs))
	}
}

func majorityAcc(st *sizeTests) float64 {
	for _, t := range st.Tests {
		if t.B.Name == majority {
			return t.AccB
		}
	}
	return -1
}

func pctText(acc float64) string { return fmt.Sprintf("%.1f%%", 100*acc) }

// cappedEval says when evaluation was capped by max_eval, empty when every
// split was scored whole.
func (p *page) cappedEval() string {
	var caps []string
	for _, n := range p.t.MaxEval {
		if n > 0 {
			caps = append(caps, numfmt.Thousands(float64(n)))
		}
	}
	if len(caps) == 0 {
		return ""
	}
	return fmt.Sprintf("Evaluation was capped (max_eval) at the first %s validation and test examples of each split: the tests above see only those, and a smaller test set resolves only larger differences.", strings.Join(caps, " / "))
}

// pairedTests is the section listing every paired test.
func (p *page) pairedTests(heading string) error {
	p.line("## %s", heading)
	p.line("")
	if p.numTests() == 0 {
		p.skipped("no per-example outcomes to pair.")
		return nil
	}
	p.line("At every task and data size, each method at the configuration chosen on validation, the scratch and zero-shot controls and the majority class, against each other, paired on the test examples both were scored on. "+
		"With one seed on each side the p-value is McNemar's exact test; otherwise a paired z-test whose variance adds the spread over test examples of the per-example difference (seed-averaged) and the spread of each side's per-seed accuracy (what a bootstrap resampling both examples and seeds estimates), so that an advantage one seed does not repeat is not called significant. "+
		"The interval is the 95%% normal interval of the difference, clipped to ±100 points. "+
		"Each test belongs to a family (the findings' declared questions, or exploratory for every other pair); p (Holm) is adjusted within the family over the whole report, and significant means p (Holm) < %g. "+
		"A test with a trained side on one seed shows its raw p-value and is never significant: one seed says nothing of the training run's own noise.", stats.Alpha)
	p.line("")
	for _, st := range p.t.Tests {
		if len(st.Tests) == 0 && len(st.Skipped) == 0 {
			continue
		}
		p.line("### %s, %s", p.nm.name(st.taskKey), p.sizeText(st.Task, st.DataSize))
		p.line("")
		var rows [][]string
		for _, t := range st.Tests {
			rows = append(rows, testCells(t))
		}
		if len(rows) > 0 {
			if err := p.table(testHeader, rows, testAlign); err != nil {
				return err
			}
		}
		for _, s := range st.Skipped {
			p.line("Not tested: %s.", s)
			p.line("")
		}
	}
	p.line("A only / B only: examples that A's seeds get right more often than B's, and the reverse (McNemar's discordant pairs for one seed each).")
	p.line("")
	return nil
}

// testHeader and testAlign head the columns of testCells.
var (
	testHeader = []string{"A", "B", "A acc. %", "B acc. %", "A − B, points", "95% CI", "A only / B only", "test", "family", "p", "p (Holm)", "significant"}
	testAlign  = []tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR, alignR, tw.AlignLeft, tw.AlignLeft, alignR, alignR, tw.AlignLeft}
)

// testCells is a paired test as a table row.
func testCells(t pairTest) []string {
	sig := "no"
	switch {
	case t.Significant:
		sig = "**yes**"
	case t.OneSeed:
		sig = "no (one seed)"
	}
	return []string{t.A.Name, t.B.Name, fmt.Sprintf("%.1f", 100*t.AccA), fmt.Sprintf("%.1f", 100*t.AccB),
		fmt.Sprintf("%+.1f", 100*t.Diff), aggregate.Interval(t.Comparison),
		fmt.Sprintf("%d / %d", t.OnlyA, t.OnlyB), t.Test, t.Family.short(), aggregate.PValue(t.P), aggregate.PValue(t.Holm), sig}
}
