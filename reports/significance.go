package reports

import (
	"fmt"
	"math"
	"sort"

	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// Majority names the majority-class control in comparisons.
const Majority = "majority class"

// Contender is one side of the paired tests at a task and data size: a
// method at the configuration chosen on validation, a control trial, or
// the majority class (Group nil).
type Contender struct {
	Name  string
	Group *Group
}

// PairTest is one paired comparison of A against B over the test examples
// both were scored on, seeds combined (package stats).
type PairTest struct {
	A, B Contender
	stats.Comparison
	// Holm is P adjusted over every comparison in the report; Significant
	// is Holm < stats.Alpha.
	Holm        float64
	Significant bool
}

// SizeTests are the paired tests at one task and data size.
type SizeTests struct {
	TaskKey
	DataSize   int
	Contenders []Contender // methods in MethodOrder, then the controls
	// Tests: every contender against the majority class, then every pair
	// of the other contenders, A the one listed first.
	Tests []PairTest
	// Skipped says why a pair was not tested (no per-example outcomes, no
	// shared examples).
	Skipped []string
}

// Vs returns the test of a against b (in either order, the sign of the
// difference turned to read a − b); false when there is none.
func (s *SizeTests) Vs(a, b string) (PairTest, bool) {
	for _, t := range s.Tests {
		switch {
		case t.A.Name == a && t.B.Name == b:
			return t, true
		case t.A.Name == b && t.B.Name == a:
			return t.flipped(), true
		}
	}
	return PairTest{}, false
}

func (t PairTest) flipped() PairTest {
	c := t.Comparison
	c.AccA, c.AccB, c.Diff, c.Lo, c.Hi = c.AccB, c.AccA, -c.Diff, -c.Hi, -c.Lo
	c.SeedsA, c.SeedsB, c.OnlyA, c.OnlyB = c.SeedsB, c.SeedsA, c.OnlyB, c.OnlyA
	t.A, t.B, t.Comparison = t.B, t.A, c
	return t
}

// Significance runs the paired tests of a report: at every task and data
// size, each method's configuration chosen on validation (as in the
// summary and the learning curves), the scratch control at that size, the
// zero-shot control and the majority class, each against the majority
// class and against each other. p-values are Holm-adjusted over all of
// them together.
func Significance(groups []*Group, zeroShot map[TaskKey]*Group, in Inputs) []SizeTests {
	var out []SizeTests
	for _, k := range TaskKeys(groups) {
		gs := filter(groups, func(g *Group) bool { return g.Key() == k })
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
			st := SizeTests{TaskKey: k, DataSize: n}
			for _, m := range Methods(gs) {
				if b := Best(atSize(filter(gs, func(g *Group) bool { return g.Method == m }), n)); b != nil {
					st.Contenders = append(st.Contenders, Contender{Name: m, Group: b})
				}
			}
			if z := zeroShot[k]; z != nil {
				st.Contenders = append(st.Contenders, Contender{Name: trial.ZeroShot, Group: z})
			}
			maj, hasMaj := in.Majority[k.Task]
			for i, a := range st.Contenders {
				if hasMaj {
					st.test(a, Contender{Name: Majority}, [][]trial.Outcomes{a.Group.TestOutcomes, {maj}})
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

func (st *SizeTests) test(a, b Contender, sides [][]trial.Outcomes) {
	paired, err := trial.Align(sides)
	var c stats.Comparison
	if err == nil {
		c, err = stats.Compare(paired[0], paired[1])
	}
	if err != nil {
		st.Skipped = append(st.Skipped, fmt.Sprintf("%s vs %s: %v", a.Name, b.Name, err))
		return
	}
	st.Tests = append(st.Tests, PairTest{A: a, B: b, Comparison: c})
}

// holm adjusts every test's p-value over the whole report.
func holm(sts []SizeTests) {
	var ps []float64
	for _, st := range sts {
		for _, t := range st.Tests {
			ps = append(ps, t.P)
		}
	}
	adj := stats.Holm(ps)
	i := 0
	for s := range sts {
		for t := range sts[s].Tests {
			sts[s].Tests[t].Holm = adj[i]
			sts[s].Tests[t].Significant = adj[i] < stats.Alpha
			i++
		}
	}
}

// MajorityOutcomes are the majority class's outcomes on the task's whole
// test split.
func MajorityOutcomes(t *tasks.Task) (trial.Outcomes, error) {
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
func testsAt(sts []SizeTests, k TaskKey, n int) *SizeTests {
	for i := range sts {
		if sts[i].TaskKey == k && sts[i].DataSize == n {
			return &sts[i]
		}
	}
	return nil
}

// pCell writes a p-value compactly: two significant digits, and a floor
// where the float runs out.
func pCell(p float64) string {
	switch {
	case math.IsNaN(p):
		return "—"
	case p < 1e-12:
		return "< 1e-12"
	case p < 0.001:
		return fmt.Sprintf("%.1e", p)
	}
	return fmt.Sprintf("%.3f", p)
}
