package reports

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/olekukonko/tablewriter/tw"
	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
	"gonum.org/v1/plot/vg"
)

// The pool teachers, targeted and at random (trial.Augment.Teacher): the
// pair whose comparison tells whether targeting the student's errors is
// what helps, rather than more data.
const (
	targetedTeacher = trial.TeacherPool
	randomTeacher   = trial.TeacherPoolRandom
)

// augmentLabel names an augmentation in configurations and labels:
// trial.Augment.Label, with the openai teacher's model, which decides what
// is written; "" for none. The server's URL and key variable say where a
// model is served, not which, and are left out.
func augmentLabel(a *trial.Augment) string {
	if a == nil {
		return ""
	}
	if a.Model != "" {
		return a.Label() + " " + a.Model
	}
	return a.Label()
}

// armName names a method with an augmentation as sweeps name it: "lora
// +llm2llm pool T=3 k=2", the method alone for none.
func armName(method, augment string) string {
	if augment == "" {
		return method
	}
	return method + " +" + augment
}

// augmentList lists the augmentations of the groups, sorted ("" first).
func augmentList(groups []*group) []string {
	var out []string
	for _, g := range groups {
		if !slices.Contains(out, g.Augment) {
			out = append(out, g.Augment)
		}
	}
	sort.Strings(out)
	return out
}

// augmentation is what the report's augmentation section shows.
type augmentation struct {
	// Labels are the augmentations run, sorted.
	Labels []string
	// Rows: accuracy against data size with and without each augmentation.
	Rows []augRow
	// Curves are the learning curves of the augmented methods, plain and
	// with each augmentation (dataSizeSeries).
	Curves []methodCurve
	// Runs are the iterations of each augmented configuration of Rows.
	Runs []augRun
	// Tests: every augmented configuration of Rows against the plain
	// method, and the targeted pool teacher against the random one, one
	// family (Holm) of their own.
	Tests   []*pairTest
	Skipped []string
	// Costs are what the teachers were asked and wrote, over every
	// augmented trial.
	Costs []teacherCost
}

// augRow is a method on a task at one data size, plain and with each
// augmentation, each at its configuration chosen on validation (best), as
// the learning curves choose.
type augRow struct {
	taskKey
	Method   string
	DataSize int
	// Plain is nil where the plain method was not run at this size.
	Plain     *group
	Augmented map[string]*group // by augmentation
}

// augRun is an augmented configuration's iterations.
type augRun struct {
	*group
	Iterations []iterationStat
}

// iterationStat is one iteration of an augmentation loop over the seeds
// that reached it (N).
type iterationStat struct {
	Iteration                              int
	DataSize, SeedErrors, SeedAcc, TestAcc aggregate.Stat
}

// teacherCost is a teacher's cost on one task, summed over the rounds of
// every augmented trial.
type teacherCost struct {
	taskKey
	Teacher string // with its model, where it has one
	Trials  int
	trial.Cost
}

// augmentations tabulates the augmented groups against the plain ones;
// nil when there are none.
func augmentations(plain, augmented []*group, in inputs) *augmentation {
	if len(augmented) == 0 {
		return nil
	}
	type methodKey struct {
		taskKey
		method string
	}
	isAugmented := map[methodKey]bool{}
	for _, g := range augmented {
		isAugmented[methodKey{g.Key(), g.Method}] = true
	}
	gs := append(filter(plain, func(g *group) bool { return isAugmented[methodKey{g.Key(), g.Method}] }), augmented...)
	a := &augmentation{Labels: augmentList(augmented), Curves: dataSizeSeries(gs, in)}
	for _, k := range taskKeys(gs) {
		tg := filter(gs, func(g *group) bool { return g.Key() == k })
		for _, m := range methodList(tg) {
			mg := filter(tg, func(g *group) bool { return g.Method == m })
			for _, n := range sizeList(mg) {
				at := atSize(mg, n)
				row := augRow{taskKey: k, Method: m, DataSize: n, Augmented: map[string]*group{}}
				for _, aug := range augmentList(at) {
					b := best(filter(at, func(g *group) bool { return g.Augment == aug }))
					if aug == "" {
						row.Plain = b
						continue
					}
					row.Augmented[aug] = b
					a.Runs = append(a.Runs, augRun{group: b, Iterations: iterations(b.Rounds)})
				}
				a.Rows = append(a.Rows, row)
				a.test(row)
			}
		}
	}
	for _, t := range a.Tests {
		t.Family = augmentF
	}
	holmAdjust(a.Tests, in.margin())
	a.Costs = teacherCosts(augmented)
	return a
}

// test pairs each augmented configuration of row with the plain method,
// and the targeted pool teacher with the random one of the same loop.
func (a *augmentation) test(row augRow) {
	add := func(x, y *group) {
		la, lb := armName(row.Method, x.Augment), armName(row.Method, y.Augment)
		if t := compareGroups(x, y, la, lb); t != nil {
			a.Tests = append(a.Tests, t)
		} else {
			a.Skipped = append(a.Skipped, fmt.Sprintf("%s vs %s on %s at data size %s: no per-example test outcomes in common", la, lb, row.Task, sizeCell(row.DataSize)))
		}
	}
	for _, aug := range a.Labels {
		g := row.Augmented[aug]
		if g == nil {
			continue
		}
		if row.Plain != nil {
			add(g, row.Plain)
		}
		if g.Augmentation.Teacher == targetedTeacher {
			control := *g.Augmentation
			control.Teacher = randomTeacher
			if r := row.Augmented[augmentLabel(&control)]; r != nil {
				add(g, r)
			}
		}
	}
}

// sizeList lists the data sizes of the groups, all last.
func sizeList(groups []*group) []int {
	var out []int
	for _, g := range groups {
		if !slices.Contains(out, g.DataSize) {
			out = append(out, g.DataSize)
		}
	}
	sort.Slice(out, func(i, j int) bool { return sizeLess(out[i], out[j]) })
	return out
}

// iterations summarises each iteration over the seeds' rounds.
func iterations(seeds [][]trial.Round) []iterationStat {
	var byIter [][]trial.Round
	for _, rounds := range seeds {
		for _, r := range rounds {
			for len(byIter) <= r.Iteration {
				byIter = append(byIter, nil)
			}
			byIter[r.Iteration] = append(byIter[r.Iteration], r)
		}
	}
	var out []iterationStat
	for i, rs := range byIter {
		if len(rs) == 0 {
			continue
		}
		var size, errs, seed, test []float64
		for _, r := range rs {
			size = append(size, float64(r.DataSize))
			errs = append(errs, float64(r.SeedErrors))
			seed = append(seed, r.SeedAccuracy)
			test = append(test, r.TestAccuracy)
		}
		out = append(out, iterationStat{Iteration: i, DataSize: aggregate.StatOf(size), SeedErrors: aggregate.StatOf(errs),
			SeedAcc: aggregate.StatOf(seed), TestAcc: aggregate.StatOf(test)})
	}
	return out
}

// teacherCosts sums each teacher's cost per task over every trial of the
// groups, sorted by teacher and task.
func teacherCosts(augmented []*group) []teacherCost {
	type key struct {
		taskKey
		teacher string
	}
	var out []teacherCost
	index := map[key]int{}
	for _, g := range augmented {
		teacher := g.Augmentation.Teacher
		if m := g.Augmentation.Model; m != "" {
			teacher += " " + m
		}
		k := key{g.Key(), teacher}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, teacherCost{taskKey: k.taskKey, Teacher: teacher})
		}
		out[i].Trials += len(g.Rounds)
		for _, rounds := range g.Rounds {
			for _, r := range rounds {
				out[i].Add(r.Teacher)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Teacher != out[j].Teacher {
			return out[i].Teacher < out[j].Teacher
		}
		return taskLess(out[i].taskKey, out[j].taskKey)
	})
	return out
}

// dash tells a series' augmentation apart by its line's dash: solid for
// none.
func (a *augmentation) dash(s methodCurve) []vg.Length {
	return taskDash(slices.Index(a.Labels, s.Augment) + 1)
}

// iterationCurves are the test accuracy over the iterations of the
// augmented configurations of task k at data size n, for a figure.
func (a *augmentation) iterationCurves(k taskKey, n int) []methodCurve {
	var out []methodCurve
	for _, r := range a.Runs {
		if r.Key() != k || r.DataSize != n || len(r.Iterations) < 2 {
			continue
		}
		c := methodCurve{taskKey: k, Method: r.Method, Augment: r.Augment}
		for _, it := range r.Iterations {
			c.Points = append(c.Points, point{X: float64(it.Iteration), Label: strconv.Itoa(it.Iteration), Acc: it.TestAcc, Best: r.group})
		}
		out = append(out, c)
	}
	return out
}

// Verdicts of the section's tests, read as "A ahead of B".
func augVerdict(t *pairTest) string {
	random := t.B.Group.Augment != ""
	switch {
	case t.Significant && t.Diff > 0 && random:
		return "**Targeting the errors helps.**"
	case t.Significant && random:
		return "**Random examples do better than targeted ones.**"
	case random:
		return "Targeted and random examples are not distinguishable (inconclusive, not equal)."
	case t.Significant && t.Diff > 0:
		return "**LLM2LLM helps.**"
	case t.Significant:
		return "**LLM2LLM hurts.**"
	}
	return "Not distinguishable from the plain method (inconclusive, not equal)."
}

// augmentSection is the report's section on data augmentation; it is left
// out when no trial was augmented.
func (p *page) augmentSection(heading string) error {
	a := p.t.Augmentation
	p.line("## %s", heading)
	p.line("")
	p.line("LLM2LLM (Lee et al., 2024, arXiv 2403.15042): the student is trained on the seed data (the trial's data size), a teacher writes `k` new examples like each seed example the student gets wrong, near-duplicates are dropped, and this repeats for `T` iterations; the last student is the one tested. "+
		"Teachers: `generator` writes new problems of the failed one's structure, `%s` takes the unused training examples nearest to each error (targeted), `%s` as many unused training examples at random (the control for targeting), `openai` a chat model. "+
		"Augmented runs are configurations of their own, named `method +augmentation`; every other section of this report shows the plain methods only. "+
		"At each task, method and data size, the plain method and each augmentation are at their configuration chosen on validation, as in the learning curves.",
		targetedTeacher, randomTeacher)
	p.line("")
	p.augmentFindings(a)
	if err := p.augmentBySize(a); err != nil {
		return err
	}
	if err := p.augmentIterations(a); err != nil {
		return err
	}
	if err := p.augmentTests(a); err != nil {
		return err
	}
	return p.augmentCosts(a)
}

func (p *page) augmentFindings(a *augmentation) {
	if len(a.Tests) == 0 {
		p.line("No paired test could be run (no per-example test outcomes to pair): this section supports no finding.")
		p.line("")
		return
	}
	sig := 0
	for _, t := range a.Tests {
		if t.Significant {
			sig++
		}
	}
	if sig == 0 {
		p.line("None of the %d paired tests is significant after Holm's correction: on this evidence neither LLM2LLM's effect nor that of targeting is resolved at this scale.", len(a.Tests))
	} else {
		p.line("%d of the %d paired tests are significant after Holm's correction.", sig, len(a.Tests))
	}
	p.line("The p-values below are Holm-adjusted over this section's tests; intervals are 95%% and not adjusted:")
	p.line("")
	for _, t := range a.Tests {
		g := t.A.Group
		p.line("- On %s with %s: %s. %s", p.nm.name(g.Key()), p.sizeText(g.Task, g.DataSize), claimText(t), augVerdict(t))
	}
	p.line("")
}

func (p *page) augmentBySize(a *augmentation) error {
	p.line("### Accuracy against data size")
	p.line("")
	p.line("Test accuracy %%, mean ± standard deviation over seeds; — where the configuration was not run.")
	p.line("")
	header := append([]string{"task", "method", "data size", "plain"}, a.Labels...)
	align := []tw.Align{tw.AlignLeft, tw.AlignLeft, alignR}
	for range len(header) - len(align) {
		align = append(align, alignR)
	}
	var rows [][]string
	for _, r := range a.Rows {
		row := []string{p.nm.name(r.taskKey), r.Method, sizeCell(r.DataSize), groupAcc(r.Plain)}
		for _, l := range a.Labels {
			row = append(row, groupAcc(r.Augmented[l]))
		}
		rows = append(rows, row)
	}
	if err := p.table(header, rows, align); err != nil {
		return err
	}
	for _, k := range a.tasks() {
		var ss []methodCurve
		for _, c := range a.Curves {
			if c.taskKey == k {
				ss = append(ss, c)
			}
		}
		if len(ss) == 0 {
			continue // a single data size: the table says it all
		}
		if err := p.figure(augmentSizeFigure(k, ss, a, p.nm)); err != nil {
			return err
		}
	}
	return nil
}

// tasks lists the tasks of the section's rows, in their order.
func (a *augmentation) tasks() []taskKey {
	var out []taskKey
	for _, r := range a.Rows {
		if !slices.Contains(out, r.taskKey) {
			out = append(out, r.taskKey)
		}
	}
	return out
}

// meanCell writes a mean of counts to a tenth: 46.5, 47.
func meanCell(v float64) string { return strconv.FormatFloat(math.Round(10*v)/10, 'f', -1, 64) }

func groupAcc(g *group) string {
	if g == nil {
		return "—"
	}
	return accCell(g.Test)
}

func (p *page) augmentIterations(a *augmentation) error {
	p.line("### Iterations")
	p.line("")
	p.line("Each augmented configuration above, iteration by iteration (0: the seed data alone): the examples trained on, the seed examples the student got wrong and its accuracy on the seed set and on test, means over the seeds that reached the iteration (test accuracy ± standard deviation).")
	p.line("")
	header := []string{"task", "method", "augmentation", "data size", "iteration", "seeds", "examples trained on", "seed errors", "seed-set acc. %", "test acc. %"}
	align := []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR, alignR, alignR, alignR}
	var rows [][]string
	for _, r := range a.Runs {
		for _, it := range r.Iterations {
			rows = append(rows, []string{p.nm.name(r.Key()), r.Method, r.Augment, sizeCell(r.DataSize), strconv.Itoa(it.Iteration),
				strconv.Itoa(it.TestAcc.N), meanCell(it.DataSize.Mean), meanCell(it.SeedErrors.Mean),
				fmt.Sprintf("%.1f", 100*it.SeedAcc.Mean), accCell(it.TestAcc)})
		}
	}
	if len(rows) == 0 {
		p.skipped("no augmented trial recorded its iterations.")
		return nil
	}
	if err := p.table(header, rows, align); err != nil {
		return err
	}
	for _, k := range a.tasks() {
		var runs []*group
		for _, r := range a.Runs {
			if r.Key() == k {
				runs = append(runs, r.group)
			}
		}
		for _, n := range sizeList(runs) {
			if ss := a.iterationCurves(k, n); len(ss) > 0 {
				if err := p.figure(augmentIterationFigure(k, n, ss, a, p.nm)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (p *page) augmentTests(a *augmentation) error {
	p.line("### Paired tests")
	p.line("")
	p.line("Each augmented configuration against the plain method at the same task and data size, and the targeted teacher `%s` against `%s` (as many examples at random) for the same method, data size, `T` and `k`. "+
		"The tests are those of %s (McNemar's exact test with one seed on each side, otherwise the paired z-test whose variance includes the spread over seeds), paired on the test examples both were scored on, seeds combined. "+
		"p (Holm) is adjusted over the %d tests of this section, a family of its own (as in the literature section); significant means p (Holm) < %g. "+
		"A test with a trained side on one seed is never significant and is left out of the correction: one seed says nothing of the training run's own noise.",
		targetedTeacher, randomTeacher, p.sectionLink(testsTitle), tested(a.Tests), stats.Alpha)
	p.line("")
	if len(a.Tests) > 0 {
		var rows [][]string
		for _, t := range a.Tests {
			g := t.A.Group
			rows = append(rows, append([]string{p.nm.name(g.Key()), sizeCell(g.DataSize)}, testCells(*t)...))
		}
		if err := p.table(append([]string{"task", "data size"}, testHeader...), rows, append([]tw.Align{tw.AlignLeft, alignR}, testAlign...)); err != nil {
			return err
		}
	}
	for _, s := range a.Skipped {
		p.line("Not tested: %s.", s)
		p.line("")
	}
	return nil
}

func (p *page) augmentCosts(a *augmentation) error {
	p.line("### Teacher cost")
	p.line("")
	p.line("What each teacher was asked for and what came of it, summed over every iteration of every augmented trial: examples asked for (seed errors × k), written well-formed, dropped (malformed, with a label the task does not have, lost to requests that failed after their retries, near-duplicates of the data or of each other) and kept; the teacher's seconds in all and per trial.")
	p.line("")
	var rows [][]string
	for _, c := range a.Costs {
		kept := "—"
		if c.Asked > 0 {
			kept = pctCell(100 * float64(c.Kept) / float64(c.Asked))
		}
		perTrial := "—"
		if c.Trials > 0 {
			perTrial = sigCell(c.Seconds/float64(c.Trials), 3)
		}
		rows = append(rows, []string{c.Teacher, p.nm.name(c.taskKey), strconv.Itoa(c.Trials), numfmt.Thousands(float64(c.Asked)), numfmt.Thousands(float64(c.Written)),
			numfmt.Thousands(float64(c.Malformed)), numfmt.Thousands(float64(c.OffLabel)), numfmt.Thousands(float64(c.Failed)), numfmt.Thousands(float64(c.Duplicates)),
			numfmt.Thousands(float64(c.Kept)), kept, sigCell(c.Seconds, 3), perTrial})
	}
	return p.table([]string{"teacher", "task", "trials", "asked", "written", "malformed", "off-label", "failed requests", "duplicates", "kept", "kept / asked", "seconds", "seconds per trial"},
		rows, []tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR})
}
