package reports

import (
	"fmt"
	"math"
	"sort"

	"github.com/peftbench/peftbench/methods/display"
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
	// Family is the declared question the test answers; its p-values are
	// Holm-adjusted with the family's other tests only.
	Family family
	// OneSeed says a trained side ran on one seed: nothing then measures
	// how far another seed would move it, so the test is never called
	// significant or equivalent and stays out of its family's correction.
	OneSeed bool
	// Holm is P adjusted over the test's family (NaN for OneSeed);
	// Significant is Holm < stats.Alpha.
	Holm        float64
	Significant bool
	// Equiv is the two one-sided tests' p-value that the difference lies
	// within ±margin (stats.Comparison.Equivalence), Holm-adjusted over
	// the family; Equivalent is Equiv < stats.Alpha.
	Equiv      float64
	Equivalent bool
}

// A family is a question a report declares and answers; each is
// Holm-corrected on its own, so that a focused question is not lost
// among exploratory pairs.
type family string

const (
	vsMajority  family = "each method and control against the majority class"
	vsReference family = "each method against full fine-tuning"
	vsScratch   family = "full fine-tuning against scratch"
	declared    family = "the comparisons the sweep spec declares"
	exploratory family = "every other pair (exploratory)"
	literatureF family = "the literature's claims"
	augmentF    family = "augmentation against the plain configurations"
)

// short names a family in a table cell.
func (f family) short() string {
	switch f {
	case vsMajority:
		return "vs majority"
	case vsReference:
		return "vs " + display.Reference()
	case vsScratch:
		return "vs scratch"
	case declared:
		return "spec"
	case literatureF:
		return "literature"
	case augmentF:
		return "augmentation"
	}
	return "exploratory"
}

// contender returns the contender named name, nil if none.
func (st *sizeTests) contender(name string) *contender {
	for i := range st.Contenders {
		if st.Contenders[i].Name == name {
			return &st.Contenders[i]
		}
	}
	return nil
}

// primaryFamilies are the families the findings rest on, in the order a
// report lists them.
var primaryFamilies = []family{vsMajority, vsReference, vsScratch, declared}

// familyOf is the declared question a test of a against b answers: one of
// the spec's primary pairs, a method or control against the majority
// class, a method against the reference (full fine-tuning), the
// reference against its scratch control, or an exploratory pair.
func familyOf(a, b string, primary [][2]string) family {
	is := func(x, y string) bool { return (a == x && b == y) || (a == y && b == x) }
	for _, p := range primary {
		if is(p[0], p[1]) {
			return declared
		}
	}
	ref, scratch := display.Reference(), display.Declared(display.Scratch)
	switch {
	case a == majority || b == majority:
		return vsMajority
	case is(scratch.Of, scratch.Name):
		return vsScratch
	case a == ref && !display.IsControl(b), b == ref && !display.IsControl(a):
		return vsReference
	}
	return exploratory
}

// oneSeed says whether a contender is a trained configuration with one
// seed. The majority class and zero-shot are deterministic: one run is
// all there is.
func (c contender) oneSeed(seeds int) bool {
	return c.Group != nil && !untrained(c.Group.Method) && seeds == 1
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
// class and against each other. Each test belongs to a family (familyOf),
// and p-values are Holm-adjusted within each family over the whole report.
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
	holm(out, in)
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
	return pairTest{A: a, B: b, Comparison: c, OneSeed: a.oneSeed(c.SeedsA) || b.oneSeed(c.SeedsB)}, err
}

// holm puts every test in its family and adjusts the p-values family by
// family over the whole report.
func holm(sts []sizeTests, in inputs) {
	fams := map[family][]*pairTest{}
	for s := range sts {
		for t := range sts[s].Tests {
			tt := &sts[s].Tests[t]
			tt.Family = familyOf(tt.A.Name, tt.B.Name, in.Primary)
			fams[tt.Family] = append(fams[tt.Family], tt)
		}
	}
	for _, ts := range fams {
		holmAdjust(ts, in.margin())
	}
}

// holmAdjust adjusts the p-values of one family of tests (Holm), both the
// difference's and the equivalence's within ±margin, and marks those
// significant or equivalent at stats.Alpha. A one-seed test gets neither
// and does not count toward the family's size.
func holmAdjust(ts []*pairTest, margin float64) {
	ps := make([]float64, len(ts))
	eq := make([]float64, len(ts))
	for i, t := range ts {
		ps[i], eq[i] = t.P, t.Equivalence(margin)
		if t.OneSeed {
			ps[i], eq[i] = math.NaN(), math.NaN()
		}
	}
	hs, es := stats.Holm(ps), stats.Holm(eq)
	for i, t := range ts {
		t.Holm, t.Significant = hs[i], hs[i] < stats.Alpha
		t.Equiv, t.Equivalent = es[i], es[i] < stats.Alpha
	}
}

// tested counts the tests a correction covers: those with seeds on
// both trained sides.
func tested(ts []*pairTest) int {
	n := 0
	for _, t := range ts {
		if !t.OneSeed {
			n++
		}
	}
	return n
}

// familySize counts the tests of a family that its correction covers.
func familySize(sts []sizeTests, f family) int {
	n := 0
	for _, st := range sts {
		for _, t := range st.Tests {
			if t.Family == f && !t.OneSeed {
				n++
			}
		}
	}
	return n
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
