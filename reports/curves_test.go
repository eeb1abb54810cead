package reports

import (
	"github.com/peftbench/peftbench/methods/display"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial/aggregate"
)

func testCurve(method string, seeds ...[]float64) methodCurve {
	c := methodCurve{taskKey: taskKey{"tiny", "spam"}, Method: method}
	for i, accs := range seeds {
		c.Points = append(c.Points, point{X: float64(int(4) << i), Label: "x", Acc: aggregate.StatOf(accs)})
	}
	return c
}

// errorBars counts the error bars the figure's series draw.
func errorBars(series []methodCurve) int {
	n := 0
	for _, s := range series {
		n += len(withSpread(seriesPoints(s)).XYs)
	}
	return n
}

// One seed: no error bars (no zero-height caps) and a y label that says
// one seed; two seeds: a bar per point and "mean ± std".
func TestCurveFigureSaysWhatItShows(t *testing.T) {
	nm := newNaming([]taskKey{{"tiny", "spam"}})
	oneSeed := []methodCurve{testCurve("prompt", []float64{0.7}, []float64{0.8})}
	one, err := lengthFigure(oneSeed, nm)
	if err != nil {
		t.Fatal(err)
	}
	if n := errorBars(oneSeed); n != 0 || one.errorBars != 0 {
		t.Errorf("one seed: %d error bars (%d drawn)", n, one.errorBars)
	}
	if y := one.Panels[0].Y.Label.Text; !strings.Contains(y, "one seed") || strings.Contains(y, "std") {
		t.Errorf("one seed: y label %q", y)
	}
	if title := one.Panels[0].Title.Text; strings.Contains(title, "prefix") || !strings.Contains(title, "prompt tuning") {
		t.Errorf("prompt alone: title %q", title)
	}
	twoSeeds := []methodCurve{testCurve("prompt", []float64{0.7, 0.72}, []float64{0.8, 0.84}), testCurve("prefix", []float64{0.6, 0.62})}
	two, err := lengthFigure(twoSeeds, nm)
	if err != nil {
		t.Fatal(err)
	}
	if n := errorBars(twoSeeds); n != 3 || two.errorBars != 3 {
		t.Errorf("two seeds: %d error bars (%d drawn), want one per point (3)", n, two.errorBars)
	}
	if y, title := two.Panels[0].Y.Label.Text, two.Panels[0].Title.Text; y != accLabel || !strings.Contains(title, "prompt tuning and prefix tuning") {
		t.Errorf("two seeds: y label %q, title %q", y, title)
	}
	// A learning curve carries the task's references in its legend.
	refs := taskReferences(tasks.Baseline{Majority: 0.705, BoWLR: &tasks.BoWResult{Accuracy: 0.967}}, true)
	f, err := dataSizeFigure(taskKey{"tiny", "spam"}, []methodCurve{testCurve("full", []float64{0.8}, []float64{0.9})}, nm, refs)
	if err != nil {
		t.Fatal(err)
	}
	if f.entries != 3 {
		t.Errorf("learning curve legend has %d entries, want full and two references", f.entries)
	}
}

// The rank figure's title names the methods drawn, in the order of their
// declarations; only methods declared to be sized by rank count.
func TestRankFigureNamesItsMethods(t *testing.T) {
	nm := newNaming([]taskKey{{"tiny", "spam"}})
	for _, c := range []struct {
		methods []string
		title   string
	}{
		{[]string{"lora"}, "Test accuracy against LoRA rank"},
		{[]string{"vera", "lora", "dora"}, "Test accuracy against rank (lora, dora, vera)"},
	} {
		var series []methodCurve
		for _, m := range c.methods {
			series = append(series, testCurve(m, []float64{0.7}, []float64{0.8}))
		}
		f, err := rankFigure(series, nm)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Panels[0].Title.Text; got != c.title {
			t.Errorf("%v: title %q, want %q", c.methods, got, c.title)
		}
	}
	if got := drawn([]methodCurve{testCurve("oft", []float64{0.7}), testCurve("prompt", []float64{0.7})}, "rank"); got != nil {
		t.Errorf("drawn by rank: %v, want none", got)
	}
}

// The rank and length curves carry full fine-tuning's accuracy (the method
// display says the controls compare with) at their data size, chosen as
// the summary chooses, and the figures draw it across with a legend entry
// per task that says its value.
func TestSizeFiguresDrawTheReference(t *testing.T) {
	tb := tabulate(loadTestResults(t), testInputs)
	ref := display.Reference()
	for _, set := range [][]methodCurve{tb.Rank, tb.Length} {
		if len(set) == 0 {
			t.Fatal("no curves")
		}
		for _, c := range set {
			if c.Versus == nil || c.Versus.Method != ref {
				t.Fatalf("%s on %s: versus %+v, want %s", c.Method, c.Task, c.Versus, ref)
			}
			want := best(filter(tb.Groups, func(g *group) bool {
				return g.Key() == c.taskKey && g.Method == ref && g.DataSize == c.Points[0].Best.DataSize
			}))
			if c.Versus.Acc != want.Test {
				t.Errorf("%s on %s: %s at %v, want %v", c.Method, c.Task, ref, c.Versus.Acc, want.Test)
			}
		}
	}
	nm := newNaming(tb.Tasks)
	f, err := rankFigure(tb.Rank, nm)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(tb.Rank); f.entries != want { // a reference per task: one curve per task here
		t.Errorf("rank figure: %d legend entries, want %d (curves and a %s line per task)", f.entries, want, ref)
	}
	refs := versusReferences(tb.Rank, nm)
	if len(refs) != len(tb.Rank) || !strings.HasPrefix(refs[0].Label, ref+", ") || !strings.Contains(refs[0].Label, "%") {
		t.Errorf("references %+v", refs)
	}
	// Alone in the report, the line is labelled by the method alone, dashed.
	one := []methodCurve{testCurve("lora", []float64{0.7}, []float64{0.8})}
	one[0].Versus = &versus{Method: ref, Acc: aggregate.StatOf([]float64{0.9})}
	if r := versusReferences(one, newNaming([]taskKey{one[0].taskKey})); len(r) != 1 || r[0].Label != ref+" (90.0%)" || r[0].Dash == nil {
		t.Errorf("one task: %+v", r)
	}
}

// A control far below the methods (scratch from random initialisation at
// 29.5%) does not stretch the learning curve's axis: the axis spans the
// methods and the reference lines, and the control's points off it are
// marked at its edge. A control within reach of the methods stays on the
// axis, and a method, however low, is never clipped.
func TestLearningCurveClipsAFarControl(t *testing.T) {
	k := taskKey{"tiny", "spam"}
	nm := newNaming([]taskKey{k})
	refs := taskReferences(tasks.Baseline{Majority: 0.658, BoWLR: &tasks.BoWResult{Accuracy: 0.781}}, true)
	var scratch string // the control trained from random initialisation
	for _, d := range display.Declarations() {
		if d.Role == display.Unpretrained {
			scratch = d.Name
		}
	}
	curves := func(control []float64, prompt float64) []methodCurve {
		return []methodCurve{
			testCurve("full", []float64{0.81, 0.83}, []float64{0.89, 0.90}, []float64{0.91, 0.92}),
			testCurve("prompt", []float64{prompt}, []float64{0.71}, []float64{0.74}),
			testCurve(scratch, []float64{control[0]}, []float64{control[1]}, []float64{control[2]}),
		}
	}
	for _, c := range []struct {
		name     string
		control  []float64
		prompt   float64
		off      int
		minAbove float64 // the axis starts above this (%)
		minBelow float64 // and at or below this
	}{
		{"far below", []float64{0.295, 0.295, 0.94}, 0.70, 2, 29.5, 65.8},
		{"within reach", []float64{0.60, 0.70, 0.90}, 0.70, 0, 0, 60},
		{"a method low", []float64{0.295, 0.295, 0.94}, 0.30, 0, 0, 29.5},
	} {
		f, err := dataSizeFigure(k, curves(c.control, c.prompt), nm, refs)
		if err != nil {
			t.Fatal(err)
		}
		y := f.Panels[0].Y
		if f.offAxis != c.off || y.Min <= c.minAbove || y.Min > c.minBelow || y.Max < 92 {
			t.Errorf("%s: %d points off the axis, axis [%.1f, %.1f]; want %d off, axis from above %.1f to at most %.1f, up to at least 92",
				c.name, f.offAxis, y.Min, y.Max, c.off, c.minAbove, c.minBelow)
		}
		if _, err := f.encode("png"); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
