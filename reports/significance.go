package reports

import (
	"fmt"
	"sort"

	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// majority names the majority-class control in comparisons.
const majority = "majority class"

// contender is one side of the paired tests at a task and data size: a
// method at the configuration chosen on validation, a control trial, or
// the majority class (Group nil).
type contender struct {
	Name  string
	Group *group
}

// pairTest is one paired comparison of A against B over the test examples
// both were scored on, seeds combined (package stats).
type pairTest struct {
	A, B contender
	stats.Comparison
	// Holm is P adjusted over every comparison in the report; Significant
	// is Holm < stats.Alpha.
	Holm        float64
	Significant bool
}

// sizeTests are the paired tests at one task and data size.
type sizeTests struct {
	taskKey
	DataSize   int
	Contenders []contender // methods in methodRank order, then the controls
	// Tests: every contender against the majority class, then every pair
	// of the other contenders, A the one listed first.
	Tests []pairTest
	// Skipped says why a pair was not tested (no per-example outcomes, no
	// shared examples).
	Skipped []string
}

// Vs returns the test of a against b (in either order, the sign of the
// difference turned to read a − b); false when there is none.
func (s *sizeTests) Vs(a, b string) (pairTest, bool) {
	for _, t := range s.Tests {
		switch {
		case t.A.Name == a && t.B.Name == b:
			return t, true
		case t.A.Name == b && t.B.Name == a:
			return t.flipped(), true
		}
	}
	return pairTest{}, false
}

func (t pairTest) flipped() pairTest {
	c := t.Comparison
	c.AccA, c.AccB, c.Diff, c.Lo, c.Hi = c.AccB, c.AccA, -c.Diff, -c.Hi, -c.Lo
	c.SeedsA, c.SeedsB, c.OnlyA, c.OnlyB = c.SeedsB, c.SeedsA, c.OnlyB, c.OnlyA
	t.A, t.B, t.Comparison = t.B, t.A, c
	return t
}

// significance runs the paired tests of a report: at every task and data
// size, each method's configuration chosen on validation (as in the
// summary and the learning curves), the scratch control at that size, the
// zero-shot control and the majority class, each against the majority
// class and against each other. p-values are Holm-adjusted over all of
// them together.
func significance(groups []*group, zeroShot map[taskKey]*group, in inputs) []sizeTests {
	var out []sizeTests
	for _, k := range taskKeys(groups) {
		gs := filter(groups, func(g *group) bool { return g.Key() == k })
		sizes := map[int]bool{}
		for _, g := range gs {
			sizes[g.DataSize] = true
		}
		var order []int
		for n := range sizes {
			order = append(order, n)
		}
		sort.Slice(order, func(i, j int) bool { return sizeLess(order[i], order[j]) })
		for _, n := range order {
			st := sizeTests{taskKey: k, DataSize: n}
			for _, m := range methodList(gs) {
				if b := best(atSize(filter(gs, func(g *group) bool { return g.Method == m }), n)); b != nil {
					st.Contenders = append(st.Contenders, contender{Name: m, Group: b})
				}
			}
			if z := zeroShot[k]; z != nil {
				st.Contenders = append(st.Contenders, contender{Name: z.Method, Group: z})
			}
			maj, hasMaj := in.Majority[k.Task]
			for i, a := range st.Contenders {
				if hasMaj {
					st.test(a, contender{Name: majority}, [][]trial.Outcomes{a.Group.TestOutcomes, {maj}})
				}
				for _, b := range st.Contenders[i+1:] {
					st.test(a, b, [][]trial.Outcomes{a.Group.TestOutcomes, b.Group.TestOutcomes})
				}
			}
			out = append(out, st)
		}
	}
	holm(out)
	return out
}

func (st *sizeTests) test(a, b contender, sides [][]trial.Outcomes) {
	t, err := pair(a, b, sides)
	if err != nil {
		st.Skipped = append(st.Skipped, fmt.Sprintf("%s vs %s: %v", a.Name, b.Name, err))
		return
	}
	st.Tests = append(st.Tests, t)
}

// pair tests a against b (sides: their seeds' outcomes) over the test
// examples both were scored on, seeds combined.
func pair(a, b contender, sides [][]trial.Outcomes) (pairTest, error) {
	paired, err := trial.Align(sides)
	if err != nil {
		return pairTest{}, err
	}
	c, err := stats.Compare(paired[0], paired[1])
	return pairTest{A: a, B: b, Comparison: c}, err
}

// holm adjusts every test's p-value over the whole report.
func holm(sts []sizeTests) {
	var ts []*pairTest
	for s := range sts {
		for t := range sts[s].Tests {
			ts = append(ts, &sts[s].Tests[t])
		}
	}
	holmAdjust(ts)
}

// holmAdjust adjusts the p-values of one family of tests (Holm) and marks
// those significant at stats.Alpha.
func holmAdjust(ts []*pairTest) {
	ps := make([]float64, len(ts))
	for i, t := range ts {
		ps[i] = t.P
	}
	for i, h := range stats.Holm(ps) {
		ts[i].Holm, ts[i].Significant = h, h < stats.Alpha
	}
}

// majorityOutcomes are the majority class's outcomes on the task's whole
// test split.
func majorityOutcomes(t *tasks.Task) (trial.Outcomes, error) {
	right, err := tasks.MajorityRight(t)
	if err != nil {
		return trial.Outcomes{}, err
	}
	idx := make([]int, len(right))
	for i := range idx {
		idx[i] = i
	}
	return trial.NewOutcomes("test", idx, right), nil
}

// testsAt returns the tests of task k at data size n.
func testsAt(sts []sizeTests, k taskKey, n int) *sizeTests {
	for i := range sts {
		if sts[i].taskKey == k && sts[i].DataSize == n {
			return &sts[i]
		}
	}
	return nil
}
