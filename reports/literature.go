package reports

import (
	"fmt"
	"strings"

	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/trial"
)

// A claim is a published finding about PEFT set beside this report's
// results at one task: the paired tests that bear on it and a verdict
// those tests support once Holm's correction has run over every test of
// the section.
type claim struct {
	taskKey
	Source string // who claimed it
	Claim  string // what they claimed, in a sentence
	// Tests pair two configurations each, named for the text ("lora
	// r=16", "full at 32").
	Tests []*pairTest
	// judge gives the verdict and its evidence in words, once the tests
	// carry their Holm-adjusted p-values.
	judge func(ts []*pairTest) (verdict, evidence string)
}

// Verdicts. A claim of an advantage is reproduced only by a significant
// difference in its direction and contradicted only by one against it; a
// claim of parity is consistent only when the equivalence test puts the
// difference within the parity margin, contradicted by a significant
// difference, and otherwise inconclusive: no significant difference is
// not evidence of none.
const (
	reproduced   = "reproduced"
	contradicted = "contradicted"
	unresolved   = "not resolved at this scale"
	consistent   = "consistent"
	inconclusive = "inconclusive"
)

// direction reads a test of "A ahead of B": reproduced, contradicted or
// unresolved.
func direction(t *pairTest) string {
	switch {
	case t.Significant && t.Diff > 0:
		return reproduced
	case t.Significant:
		return contradicted
	}
	return unresolved
}

// claimText is a test in a sentence with both sides named: "full 75.0% vs
// prompt 60.5%: +14.5 points [12.3, 16.7], p < 1e-12".
func claimText(t *pairTest) string {
	return fmt.Sprintf("%s %s vs %s %s: %s", t.A.Name, pctText(t.AccA), t.B.Name, pctText(t.AccB), testText(*t))
}

// compareGroups pairs two configurations, named la and lb; nil when they
// share no test examples or lack outcomes.
func compareGroups(a, b *group, la, lb string) *pairTest {
	if a == nil || b == nil || a == b {
		return nil
	}
	t, err := pair(contender{la, a}, contender{lb, b}, [][]trial.Outcomes{a.TestOutcomes, b.TestOutcomes})
	if err != nil {
		return nil
	}
	return &t
}

// curveAt returns the curve of method on task k among cs, nil if none.
func curveAt(cs []methodCurve, k taskKey, method string) *methodCurve {
	for i := range cs {
		if cs[i].taskKey == k && cs[i].Method == method {
			return &cs[i]
		}
	}
	return nil
}

// claims gathers, task by task at the summary's data size, the published
// findings the results bear on: LoRA against full fine-tuning across
// ranks (Hu et al., 2021); prompt tuning against full fine-tuning and its
// length (Lester et al., 2021); the learning curves, with prefix tuning
// against fine-tuning at the smallest size (Li & Liang, 2021); and the
// accuracy a few trainable parameters reach (Houlsby et al., 2019; Hu et
// al., 2021). A claim whose configurations the sweep did not run is left
// out.
func (p *page) claims() []*claim {
	var out []*claim
	add := func(c *claim) {
		var kept []*pairTest
		for _, t := range c.Tests {
			if t != nil {
				kept = append(kept, t)
			}
		}
		if c.Tests = kept; len(kept) > 0 {
			out = append(out, c)
		}
	}
	for _, s := range p.t.Summaries {
		k, n := s.taskKey, s.DataSize
		at := func(method string) *group {
			return best(filter(p.t.Groups, func(g *group) bool { return g.Key() == k && g.Method == method && g.DataSize == n }))
		}
		full := at("full")
		if lora := curveAt(p.t.Rank, k, "lora"); lora != nil && full != nil {
			lo, hi := lora.Points[0], lora.Points[len(lora.Points)-1]
			if grow := compareGroups(hi.Best, lo.Best, "lora r="+hi.Label, "lora r="+lo.Label); grow != nil {
				c := &claim{taskKey: k, Source: "Hu et al., 2021 (LoRA)",
					Claim: "LoRA closes on full fine-tuning as its rank grows.", judge: judgeRank}
				for _, pt := range lora.Points {
					c.Tests = append(c.Tests, compareGroups(full, pt.Best, "full", "lora r="+pt.Label))
				}
				c.Tests = append(c.Tests, grow) // judgeRank reads it last
				add(c)
			}
		}
		if prompt := at("prompt"); prompt != nil && full != nil {
			add(&claim{taskKey: k, Source: "Lester et al., 2021 (prompt tuning)",
				Claim: "At small model scale prompt tuning falls well short of full fine-tuning (the gap closes only at billions of parameters).",
				Tests: []*pairTest{compareGroups(full, prompt, "full", "prompt")},
				judge: judgeOne})
		}
		if length := curveAt(p.t.Length, k, "prompt"); length != nil {
			lo, hi := length.Points[0], length.Points[len(length.Points)-1]
			add(&claim{taskKey: k, Source: "Lester et al., 2021 (prompt tuning)",
				Claim: "Longer prompts do better (up to about 20 tokens).",
				Tests: []*pairTest{compareGroups(hi.Best, lo.Best, "prompt L="+hi.Label, "prompt L="+lo.Label)},
				judge: judgeOne})
		}
		if c := p.learningCurves(k); c != nil {
			add(c)
		}
		if c := p.lowData(k); c != nil {
			add(c)
		}
		if c := p.fewParams(k, n, full); c != nil && p.aboveMajority(k, n, "full") {
			add(c)
		}
		if c := parallelAdapters(k, at("pac"), at("adapter"), p.in.margin()); c != nil && p.aboveMajority(k, n, "adapter") {
			add(c)
		}
	}
	var fam []*pairTest
	for _, c := range out {
		for _, t := range c.Tests {
			t.Family = literatureF
			fam = append(fam, t)
		}
	}
	holmAdjust(fam, p.in.margin())
	return out
}

// judgeOne reads a claim resting on one test of "A ahead of B".
func judgeOne(ts []*pairTest) (string, string) { return direction(ts[0]), claimText(ts[0]) }

// judgeRank reads LoRA's tests against full fine-tuning at every rank and
// its largest rank against its smallest (the last test).
func judgeRank(ts []*pairTest) (string, string) {
	grow := ts[len(ts)-1]
	var parts []string
	for _, t := range ts[:len(ts)-1] {
		parts = append(parts, claimText(t))
	}
	verdict := direction(grow)
	return verdict, fmt.Sprintf("largest against smallest rank: %s. Against full fine-tuning: %s", claimText(grow), strings.Join(parts, "; "))
}

// learningCurves tests, for every method on task k with two data sizes or
// more, its largest size against its smallest.
func (p *page) learningCurves(k taskKey) *claim {
	c := &claim{taskKey: k, Source: "learning curves (every method)",
		Claim: "Every method gains accuracy from more training data."}
	for _, curve := range p.t.DataSize {
		if curve.taskKey != k || display.IsControl(curve.Method) {
			continue
		}
		lo, hi := curve.Points[0], curve.Points[len(curve.Points)-1]
		c.Tests = append(c.Tests, compareGroups(hi.Best, lo.Best, fmt.Sprintf("%s at %s", curve.Method, hi.Label), fmt.Sprintf("%s at %s", curve.Method, lo.Label)))
	}
	c.judge = func(ts []*pairTest) (string, string) {
		var gained, flat, untested []string
		for _, t := range ts {
			switch {
			case direction(t) == reproduced:
				gained = append(gained, claimText(t))
			case t.OneSeed:
				untested = append(untested, claimText(t))
			default:
				flat = append(flat, claimText(t))
			}
		}
		verdict := unresolved
		switch {
		case len(gained) == len(ts):
			verdict = reproduced
		case len(gained) > 0:
			verdict = fmt.Sprintf("%s for %d of %d methods", reproduced, len(gained), len(ts))
		}
		var parts []string
		for _, g := range []struct {
			say  string
			list []string
		}{{"significant gains", gained}, {"no significant gain", flat}, {"not tested, a side on one seed", untested}} {
			if len(g.list) > 0 {
				parts = append(parts, g.say+": "+strings.Join(g.list, "; "))
			}
		}
		return verdict, strings.Join(parts, ". ")
	}
	return c
}

// lowData tests prefix tuning against full fine-tuning at the smallest
// data size both ran at on task k.
func (p *page) lowData(k taskKey) *claim {
	prefix, full := curveAt(p.t.DataSize, k, "prefix"), curveAt(p.t.DataSize, k, "full")
	if prefix == nil || full == nil {
		return nil
	}
	for _, pp := range prefix.Points {
		for _, fp := range full.Points {
			if pp.Best.DataSize == fp.Best.DataSize {
				return &claim{taskKey: k, Source: "Li & Liang, 2021 (prefix tuning)",
					Claim: "In the low-data regime prefix tuning outperforms full fine-tuning.",
					Tests: []*pairTest{compareGroups(pp.Best, fp.Best, "prefix at "+pp.Label, "full at "+fp.Label)},
					judge: judgeOne}
			}
		}
	}
	return nil
}

// aboveMajority says whether method is significantly above the majority
// class on task k at data size n: parity with a method that learnt nothing
// says nothing.
func (p *page) aboveMajority(k taskKey, n int, method string) bool {
	st := testsAt(p.t.Tests, k, n)
	if st == nil {
		return false
	}
	t, ok := st.Vs(method, majority)
	return ok && t.Significant && t.Diff > 0
}

// fewParams asks how few trainable parameters reach full fine-tuning's
// accuracy on task k at data size n: every configuration on the Pareto
// front of accuracy against trainable parameters that trains fewer than
// 10% of full fine-tuning's is tested against it. It is asked only where
// full fine-tuning is above the majority class.
func (p *page) fewParams(k taskKey, n int, full *group) *claim {
	if full == nil {
		return nil
	}
	c := &claim{taskKey: k, Source: "Houlsby et al., 2019; Hu et al., 2021",
		Claim: "A parameter-efficient method training under 10% of the weights matches full fine-tuning."}
	for _, f := range p.t.Params {
		if f.taskKey != k || f.DataSize != n {
			continue
		}
		for _, pt := range f.Front {
			g := pt.Group
			if g.Method == "full" || display.IsControl(g.Method) || 10*g.TrainableParams >= full.TrainableParams {
				continue
			}
			label := fmt.Sprintf("%s (%s trainable, %.2f%% of full's)", shortConfig(g),
				numfmt.Thousands(float64(g.TrainableParams)), 100*float64(g.TrainableParams)/float64(full.TrainableParams))
			c.Tests = append(c.Tests, compareGroups(g, full, label, "full"))
		}
	}
	margin := p.in.margin()
	c.judge = func(ts []*pairTest) (string, string) {
		var parts []string
		verdict, evidence := contradicted, "every configuration on the Pareto front of accuracy against trainable parameters under 10% of full's is significantly below full fine-tuning"
		for _, t := range ts { // by increasing trainable parameters
			parts = append(parts, claimText(t)+"; "+equivText(*t, margin))
			switch {
			case verdict == consistent:
			case t.Equivalent || (t.Significant && t.Diff > 0):
				verdict, evidence = consistent, fmt.Sprintf("the fewest trainable parameters shown within ±%s points of full fine-tuning or above it: %s", pointsText(margin), t.A.Name)
			case !t.Significant:
				verdict, evidence = inconclusive, fmt.Sprintf("not every configuration is significantly below full fine-tuning, but none is shown within ±%s points of it", pointsText(margin))
			}
		}
		return verdict, evidence + ". On the front: " + strings.Join(parts, "; ")
	}
	return c
}

// parallelAdapters sets Pluto and Charon's parallel adapters beside the
// serial adapters they replace (the same bottleneck, in the backbone's
// backward pass): parity of accuracy is tested; training throughput and
// peak memory, which the claim is mostly about, are measured ratios over
// the seeds' means.
func parallelAdapters(k taskKey, pac, adapter *group, margin float64) *claim {
	t := compareGroups(pac, adapter, "pac", "adapter")
	if t == nil {
		return nil
	}
	return &claim{taskKey: k, Source: "Ouyang et al., 2024 (Pluto and Charon)",
		Claim: "Parallel adapters over a cached, frozen backbone cut fine-tuning time and memory without losing accuracy against adapters in the backbone.",
		Tests: []*pairTest{t},
		judge: func(ts []*pairTest) (string, string) {
			verdict := inconclusive
			switch {
			case ts[0].Significant:
				verdict = contradicted
			case ts[0].Equivalent:
				verdict = consistent
			}
			return verdict + " on accuracy", fmt.Sprintf("%s; %s. Measured, not tested: training throughput %.2f× adapter's (%s against %s tokens/s); peak memory %.2f× adapter's (%s against %s, the activation cache %s of it)",
				claimText(ts[0]), equivText(*ts[0], margin), pac.TokensPerSec.Mean/adapter.TokensPerSec.Mean, numfmt.Thousands(pac.TokensPerSec.Mean), numfmt.Thousands(adapter.TokensPerSec.Mean),
				pac.PeakMemoryBytes/adapter.PeakMemoryBytes, mibCell(pac.PeakMemoryBytes), mibCell(adapter.PeakMemoryBytes), mibCell(pac.CacheBytes))
		}}
}

// literature is the section that sets the results beside the literature's
// claims, claim by claim.
func (p *page) literature() {
	cs := p.claims()
	if len(cs) == 0 {
		return
	}
	n := 0
	for _, c := range cs {
		n += tested(c.Tests)
	}
	p.line("## Beside the literature")
	p.line("")
	family := fmt.Sprintf("p-values are Holm-adjusted over the %d tests of this section with seeds on both sides, a family of its own.", n)
	if n == 0 {
		family = "No test of this section has more than one seed on its trained sides, so none is tested."
	}
	p.line("Published findings about these methods, each set beside this sweep's results at the task's largest data size (configurations chosen on validation), with the paired tests that bear on it. "+
		"%s "+
		"A claimed advantage is *%s* only by a significant difference in its direction and *%s* only by one against it; a claimed parity is *%s* only when the equivalence test (two one-sided tests, Holm-adjusted over the section) puts the difference within ±%s points, *%s* by a significant difference, and *%s* otherwise. "+
		"A test with a trained side on one seed is neither significant nor equivalent. "+
		"The published results come from models of 100 million to 175 billion parameters; this one is far smaller, which is itself a reason a claim may not carry over.",
		family, reproduced, contradicted, consistent, pointsText(p.in.margin()), contradicted, inconclusive)
	p.line("")
	for _, k := range p.t.Tasks {
		first := true
		for _, c := range cs {
			if c.taskKey != k {
				continue
			}
			if first {
				p.line("**%s**:", p.nm.name(k))
				p.line("")
				first = false
			}
			verdict, evidence := c.judge(c.Tests)
			p.line("- %s: %s **%s**: %s.", c.Source, c.Claim, capitalise(verdict), evidence)
		}
		if !first {
			p.line("")
		}
	}
}

// shortConfig names a configuration by its method and the hyper-parameter
// that sizes it, if it has one ("lora r=8").
func shortConfig(g *group) string {
	d := display.Declared(g.Method)
	if v, ok := g.MethodParams[d.Headline]; ok && d.Headline != "" {
		return fmt.Sprintf("%s %s=%v", g.Method, d.Symbol, v)
	}
	return g.Method
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
