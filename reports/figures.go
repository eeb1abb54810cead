package reports

import (
	"fmt"
	"image/color"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial/aggregate"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

const accLabel = "test accuracy (%, mean ± std over seeds)"

// naming tells tasks apart in figures: by name, with the base model where
// a report covers several, and by line dash where a figure holds several.
type naming struct {
	tasks       []taskKey
	multiModels bool
}

func newNaming(keys []taskKey) naming {
	n := naming{tasks: keys}
	for _, k := range keys {
		if k.Model != keys[0].Model {
			n.multiModels = true
		}
	}
	return n
}

func (n naming) name(k taskKey) string {
	if n.multiModels {
		return k.Task + " (" + k.Model + ")"
	}
	return k.Task
}

// taskDash tells a series' task apart by its line's dash.
func (n naming) taskDash(s methodCurve) []vg.Length { return taskDash(n.index(s.taskKey)) }

// methodTask labels a series by method, and by task too where the report
// has several.
func (n naming) methodTask(s methodCurve) string {
	if len(n.tasks) > 1 {
		return s.Method + ", " + n.name(s.taskKey)
	}
	return s.Method
}

func (n naming) index(k taskKey) int {
	for i, t := range n.tasks {
		if t == k {
			return i
		}
	}
	return 0
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// fileName is a file-system-safe stem for a figure about task k.
func (n naming) fileName(prefix string, k taskKey) string {
	s := k.Task
	if n.multiModels {
		s = k.Model + "-" + k.Task
	}
	s = strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if s == "" {
		s = "task"
	}
	return prefix + "-" + s
}

// errXYs are points with vertical error bars.
type errXYs struct {
	plotter.XYs
	plotter.YErrors
}

func seriesPoints(s methodCurve) errXYs {
	var e errXYs
	for _, p := range s.Points {
		e.XYs = append(e.XYs, plotter.XY{X: p.X, Y: 100 * p.Acc.Mean})
		d := 100 * p.Acc.ErrorBar()
		e.YErrors = append(e.YErrors, struct{ Low, High float64 }{d, d})
	}
	return e
}

// curveFigure draws accuracy curves with error bars: colour and marker by
// method, dash as dash says (by task, or by augmentation), x ticks at the
// points' labels. logX puts x on a log scale.
//
// Error bars (the standard deviation over seeds) are drawn where a point
// has two seeds or more, and the y label says what the points are: a mean
// with its deviation, or one seed. refs draws horizontal reference lines
// (the majority class, bag-of-words) across the figure. A control far
// outside the methods' range is drawn to the edge of an axis clipped to
// that range, its points off it marked there with their values
// (controlRange).
func curveFigure(name, title, xLabel string, series []methodCurve, logX bool, label func(methodCurve) string, dash func(methodCurve) []vg.Length, refs ...reference) (*figure, error) {
	yLabel := "test accuracy (%, one seed)"
	for _, s := range series {
		for _, pt := range s.Points {
			if pt.Acc.N >= 2 {
				yLabel = accLabel
			}
		}
	}
	p := newPlot(title, xLabel, yLabel)
	p.Add(plotter.NewGrid())
	f := newFigure(name, title, p)
	lo, hi := xRange(series)
	yLo, yHi, off := controlRange(series, refs)
	var edges edgeMarks
	for _, r := range refs {
		line, err := plotter.NewLine(plotter.XYs{{X: lo, Y: 100 * r.Acc}, {X: hi, Y: 100 * r.Acc}})
		if err != nil {
			return nil, err
		}
		line.LineStyle = draw.LineStyle{Color: color.Gray{Y: r.Gray}, Width: vg.Points(1), Dashes: r.Dash}
		if r.Color != nil {
			line.LineStyle.Color, line.LineStyle.Width = r.Color, vg.Points(1.4)
		}
		p.Add(line)
		f.addLegend(r.Label, line)
	}
	var xs []float64
	var labels []string
	for i, s := range series {
		pts := seriesPoints(s)
		dodge(pts.XYs, float64(i)-float64(len(series)-1)/2, lo, hi, logX)
		// The line runs to the axis edge towards a point off it (lines are
		// clipped to the axes, and so are markers); the point is marked at
		// the edge with its value, and draws no error bar.
		onAxis := pts
		if off[i] != nil {
			onAxis = errXYs{}
			for j, xy := range pts.XYs {
				if !off[i][j] {
					onAxis.XYs, onAxis.YErrors = append(onAxis.XYs, xy), append(onAxis.YErrors, pts.YErrors[j])
					continue
				}
				edges = append(edges, edgeMark{X: xy.X, Below: xy.Y < yLo, Label: fmt.Sprintf("%.1f%%", xy.Y), Color: methodColor(s.Method)})
			}
		}
		line, marks, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return nil, err
		}
		line.LineStyle = lineStyle(s.Method, dash(s))
		marks.GlyphStyle = methodGlyph(s.Method)
		if spread := withSpread(onAxis); len(spread.XYs) > 0 {
			bars, err := plotter.NewYErrorBars(spread)
			if err != nil {
				return nil, err
			}
			bars.LineStyle = draw.LineStyle{Color: methodColor(s.Method), Width: vg.Points(1.2)}
			bars.CapWidth = vg.Points(7)
			p.Add(bars)
			f.errorBars += len(spread.XYs)
		}
		p.Add(line, marks)
		if off[i] != nil {
			f.addLegend(label(s)+" (arrow: off the axis)", line, marks)
		} else {
			f.addLegend(label(s), line, marks)
		}
		for _, pt := range s.Points {
			xs = append(xs, pt.X)
			labels = append(labels, pt.Label)
		}
	}
	ticks := valueTicks(xs, labels)
	if logX {
		logAxis(&p.X, ticks, nil, 1.3)
	} else {
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		padLinear(&p.X, 0.05, 0.5)
	}
	if len(edges) > 0 {
		p.Y.Min, p.Y.Max = yLo, yHi
		p.Add(edges)
		f.offAxis = len(edges)
	}
	padLinear(&p.Y, 0.08, 1)
	return f, nil
}

// controlRange is the y range (in %) that curveFigure's axis spans where a
// control's points lie far outside the methods' range, and which points
// of each series are off it (nil for a series with none; only controls
// have any): a control trained from scratch far below every method would
// otherwise stretch the axis until the methods' differences could not be
// read. The methods' range covers their points, error bars included, and
// the reference lines; a control's point within half that range of it (at
// least 2.5 points) widens it, and one further away is off the axis: off
// holds, per series, nil where none of its points is.
func controlRange(series []methodCurve, refs []reference) (lo, hi float64, off [][]bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range series {
		if display.IsControl(s.Method) {
			continue
		}
		for _, p := range s.Points {
			d := p.Acc.ErrorBar()
			lo, hi = min(lo, 100*(p.Acc.Mean-d)), max(hi, 100*(p.Acc.Mean+d))
		}
	}
	off = make([][]bool, len(series))
	if math.IsInf(lo, 0) {
		return lo, hi, off // only controls: nothing to clip to
	}
	for _, r := range refs {
		lo, hi = min(lo, 100*r.Acc), max(hi, 100*r.Acc)
	}
	margin := max((hi-lo)/2, 2.5)
	minLo, maxHi := lo-margin, hi+margin
	for i, s := range series {
		if !display.IsControl(s.Method) {
			continue
		}
		for j, p := range s.Points {
			y := 100 * p.Acc.Mean
			if y >= minLo && y <= maxHi {
				d := 100 * p.Acc.ErrorBar()
				lo, hi = min(lo, max(y-d, minLo)), max(hi, min(y+d, maxHi))
				continue
			}
			if off[i] == nil {
				off[i] = make([]bool, len(s.Points))
			}
			off[i][j] = true
		}
	}
	return lo, hi, off
}

// edgeMark is a point off the y axis, drawn at the axis edge as an arrow
// pointing to where it lies, with its value.
type edgeMark struct {
	X     float64
	Below bool
	Label string
	Color color.Color
}

// edgeMarks draw off-axis points at the edge of the plot's data area.
type edgeMarks []edgeMark

// Plot implements plot.Plotter.
func (e edgeMarks) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, _ := plt.Transforms(&c)
	for _, m := range e {
		x := trX(m.X)
		tip, tail := c.Min.Y, c.Min.Y+vg.Points(11)
		if !m.Below {
			tip, tail = c.Max.Y, c.Max.Y-vg.Points(11)
		}
		head := (tail - tip) * 0.4
		c.StrokeLines(draw.LineStyle{Color: m.Color, Width: vg.Points(1.8)},
			[]vg.Point{{X: x, Y: tail}, {X: x, Y: tip}},
			[]vg.Point{{X: x - vg.Points(3.5), Y: tip + head}, {X: x, Y: tip}, {X: x + vg.Points(3.5), Y: tip + head}})
		sty := draw.TextStyle{Color: m.Color, Font: font.From(figFont, pointLabelSize), YAlign: draw.YCenter, Handler: plt.Title.TextStyle.Handler}
		c.FillText(sty, vg.Point{X: x + vg.Points(4), Y: (tip + tail) / 2}, m.Label)
	}
}

// withSpread keeps the points that have an error bar to draw, so that one
// seed draws no zero-height caps.
func withSpread(pts errXYs) errXYs {
	var out errXYs
	for j, e := range pts.YErrors {
		if e.High > 0 {
			out.XYs, out.YErrors = append(out.XYs, pts.XYs[j]), append(out.YErrors, e)
		}
	}
	return out
}

// reference is a horizontal line at an accuracy (a fraction): grey, or in
// Color where it is a method's.
type reference struct {
	Label string
	Acc   float64
	Gray  uint8
	Color color.Color
	Dash  []vg.Length
}

// versusReferences are the lines of the method the series are set against
// (methodCurve.Versus: full fine-tuning), one per task, in that method's
// colour, labelled with its accuracy. With several tasks each line takes
// its task's dash, as the curves do; alone, a long dash, so that it is not
// taken for a curve.
func versusReferences(series []methodCurve, nm naming) []reference {
	var out []reference
	seen := map[taskKey]bool{}
	for _, s := range series {
		if s.Versus == nil || seen[s.taskKey] {
			continue
		}
		seen[s.taskKey] = true
		acc := fmt.Sprintf("%.1f%%", 100*s.Versus.Acc.Mean)
		if hasSpread(s.Versus.Acc) {
			acc = fmt.Sprintf("%.1f ± %.1f%%", 100*s.Versus.Acc.Mean, 100*s.Versus.Acc.Std)
		}
		r := reference{Label: s.Versus.Method + " (" + acc + ")", Acc: s.Versus.Acc.Mean, Color: methodColor(s.Versus.Method),
			Dash: []vg.Length{vg.Points(7), vg.Points(3)}}
		if len(nm.tasks) > 1 {
			r.Label, r.Dash = s.Versus.Method+", "+nm.name(s.taskKey)+" ("+acc+")", taskDash(nm.index(s.taskKey))
		}
		out = append(out, r)
	}
	return out
}

// taskReferences are the majority class and bag-of-words lines of a task,
// where its baselines are recorded.
func taskReferences(b tasks.Baseline, ok bool) []reference {
	if !ok {
		return nil
	}
	refs := []reference{{Label: fmt.Sprintf("majority class (%.1f%%)", 100*b.Majority), Acc: b.Majority, Gray: 110, Dash: []vg.Length{vg.Points(6), vg.Points(3)}}}
	if b.BoWLR != nil {
		refs = append(refs, reference{Label: fmt.Sprintf("bag-of-words LR (%.1f%%)", 100*b.BoWLR.Accuracy), Acc: b.BoWLR.Accuracy, Gray: 60, Dash: []vg.Length{vg.Points(2), vg.Points(2)}})
	}
	return refs
}

// dodge shifts a series sideways by off steps of about 1% of the x range
// [lo, hi] (of its logarithm on a log axis), so that error bars at the same
// x do not hide each other; ticks stay at the true values.
func dodge(xys plotter.XYs, off, lo, hi float64, logX bool) {
	if logX {
		ratio := 2.0
		if lo > 0 && hi/lo > ratio {
			ratio = hi / lo
		}
		f := math.Pow(ratio, 0.012*off)
		for j := range xys {
			xys[j].X *= f
		}
		return
	}
	for j := range xys {
		xys[j].X += 0.012 * off * (hi - lo)
	}
}

// xRange is the smallest and largest x of the series.
func xRange(series []methodCurve) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			lo, hi = min(lo, p.X), max(hi, p.X)
		}
	}
	return lo, hi
}

// rankFigure is accuracy against the rank of LoRA and the methods it
// sizes as it does LoRA's (DoRA, VeRA), one line per task and method, and
// full fine-tuning's accuracy across it: what LoRA closes on as rank grows.
func rankFigure(series []methodCurve, nm naming) (*figure, error) {
	title, label := "Test accuracy against LoRA rank", func(s methodCurve) string { return nm.name(s.taskKey) }
	if names := drawn(series, "rank"); len(names) > 1 || (len(names) == 1 && names[0] != "lora") {
		title, label = "Test accuracy against rank ("+strings.Join(names, ", ")+")", nm.methodTask
	}
	return curveFigure("fig-rank", title, "rank r (log2 scale)", series, true, label, nm.taskDash, versusReferences(series, nm)...)
}

// drawn lists the methods that param sizes with a curve in series, in the
// order of their declarations (methods/display).
func drawn(series []methodCurve, param string) []string {
	var out []string
	for _, m := range display.WithHeadline(param) {
		if slices.ContainsFunc(series, func(s methodCurve) bool { return s.Method == m }) {
			out = append(out, m)
		}
	}
	return out
}

// lengthFigure is accuracy against prompt or prefix length, with full
// fine-tuning's accuracy across it.
func lengthFigure(series []methodCurve, nm naming) (*figure, error) {
	lo, hi := xRange(series)
	logX := lo > 0 && hi/lo >= 8
	x := "length L (virtual tokens)"
	if logX {
		x = "length L (virtual tokens, log2 scale)"
	}
	return curveFigure("fig-length", "Test accuracy against length ("+lengthMethods(series)+")", x, series, logX,
		nm.methodTask, nm.taskDash, versusReferences(series, nm)...)
}

// dataSizeFigure is one task's learning curves.
// The figure is of one task, so every line is solid; the majority class
// and bag-of-words baselines are drawn across it where they are recorded.
func dataSizeFigure(k taskKey, series []methodCurve, nm naming, refs []reference) (*figure, error) {
	return curveFigure(nm.fileName("fig-datasize", k), nm.name(k)+": test accuracy against training set size",
		"training examples (log scale)", series, true, func(s methodCurve) string { return s.Method }, func(methodCurve) []vg.Length { return nil }, refs...)
}

// augmentSizeFigure is one task's learning curves of the augmented
// methods, plain (solid) and with each augmentation (dashed).
func augmentSizeFigure(k taskKey, series []methodCurve, a *augmentation, nm naming) (*figure, error) {
	return curveFigure(nm.fileName("fig-llm2llm-datasize", k), nm.name(k)+": with and without LLM2LLM",
		"training examples (log scale)", series, true, func(s methodCurve) string { return armName(s.Method, s.Augment) }, a.dash)
}

// augmentIterationFigure is test accuracy over the iterations of the
// augmented configurations of one task at data size n.
func augmentIterationFigure(k taskKey, n int, series []methodCurve, a *augmentation, nm naming) (*figure, error) {
	size := "all"
	if n > 0 {
		size = strconv.Itoa(n)
	}
	return curveFigure(nm.fileName("fig-llm2llm-iterations-"+size, k),
		fmt.Sprintf("%s, %s examples: LLM2LLM iterations", nm.name(k), sizeCell(n)),
		"iteration (0: the seed data alone)", series, false, func(s methodCurve) string { return armName(s.Method, s.Augment) }, a.dash)
}

// efficiencyFigure is one task's accuracy against peak memory and against
// trainable parameters, each with its Pareto front.
func efficiencyFigure(k taskKey, fronts []frontier, nm naming) (*figure, error) {
	var panels []*plot.Plot
	f := newFigure(nm.fileName("fig-efficiency", k), nm.name(k)+": accuracy against cost")
	var all []*group
	var frontLine *plotter.Line
	for _, fr := range fronts {
		title, xl, scale, format := nm.name(k)+": accuracy vs peak memory", "peak resident memory (MiB)", 1.0/(1<<20),
			func(v float64) string { return strconv.FormatFloat(roundSig(v, 3), 'f', -1, 64) }
		if fr.Heap {
			title, xl = nm.name(k)+": accuracy vs peak heap", "peak Go heap (MiB)"
		}
		if fr.Cost == costParams {
			title, xl, scale, format = nm.name(k)+": accuracy vs trainable parameters", "trainable parameters (log scale)", 1, humanCount
		}
		p := newPlot(title, xl, "test accuracy (%, mean over seeds)")
		labels := headlineLabels(fr.Points)
		var front plotter.XYs
		for _, pt := range fr.Front {
			front = append(front, plotter.XY{X: pt.Cost * scale, Y: 100 * pt.Acc})
		}
		line, err := plotter.NewLine(front)
		if err != nil {
			return nil, err
		}
		line.StepStyle = plotter.PostStep
		line.LineStyle = draw.LineStyle{Color: color.Gray{0x55}, Width: vg.Points(1.3), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
		p.Add(plotter.NewGrid(), line)
		frontLine = line
		byMethod := map[string]plotter.XYs{}
		var named plotter.XYLabels
		for i, pt := range fr.Points {
			all = append(all, pt.Group)
			xy := plotter.XY{X: pt.Cost * scale, Y: 100 * pt.Acc}
			byMethod[pt.Group.Method] = append(byMethod[pt.Group.Method], xy)
			if l := labels[i]; l != "" {
				named.XYs, named.Labels = append(named.XYs, xy), append(named.Labels, l)
			}
		}
		for _, m := range methodList(groupsOf(fr.Points)) {
			sc, err := plotter.NewScatter(byMethod[m])
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle = methodGlyph(m)
			p.Add(sc)
		}
		if len(named.XYs) > 0 {
			lb, err := plotter.NewLabels(named)
			if err != nil {
				return nil, err
			}
			for i := range lb.TextStyle {
				lb.TextStyle[i].Font = font.From(figFont, pointLabelSize)
				lb.TextStyle[i].Color = color.Gray{0x30}
				lb.TextStyle[i].YAlign = draw.YBottom
			}
			// Above right: clear of the front, which leaves a point
			// rightwards, and of the marker.
			lb.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(2.5)}
			p.Add(lb)
			f.pointLabels += len(named.XYs)
		}
		if fr.Cost == costParams { // parameters span orders of magnitude; memory does not
			logAxis(&p.X, nil, format, 1.35)
		} else {
			p.X.Tick.Marker = roundTicks{n: 6}
			padLinear(&p.X, 0.06, 0.5)
		}
		padLinear(&p.Y, 0.08, 1)
		panels = append(panels, p)
	}
	f.Panels = panels
	if len(panels) > 1 {
		f.Width = 12 * vg.Inch // two panels side by side
	}
	for _, m := range methodList(all) {
		f.addLegend(m, glyphThumb{methodGlyph(m)})
	}
	if frontLine != nil {
		f.addLegend("Pareto front", frontLine)
	}
	return f, nil
}

// headlineLabels name each point by the value of its method's headline
// hyper-parameter (methods/display's declaration: "r=8" for a rank, "L=16"
// for a length), so that the configurations of one method, which share a
// marker, are told apart; where two of a method share the value, the
// learning rate is added. A method with no headline has "" (its marker and
// the legend name it).
func headlineLabels(ps []effPoint) []string {
	out := make([]string, len(ps))
	count := map[string]int{}
	for i, p := range ps {
		d := display.Declared(p.Group.Method)
		if d.Headline == "" {
			continue
		}
		v, ok := numfmt.Number(p.Group.MethodParams[d.Headline])
		if !ok {
			continue
		}
		out[i] = d.Symbol + "=" + strconv.FormatFloat(v, 'g', -1, 64)
		count[p.Group.Method+"\x00"+out[i]]++
	}
	for i, p := range ps {
		if out[i] != "" && count[p.Group.Method+"\x00"+out[i]] > 1 {
			out[i] += ", lr=" + strconv.FormatFloat(p.Group.Train.LR, 'g', -1, 64)
		}
	}
	return out
}

func groupsOf(ps []effPoint) []*group {
	out := make([]*group, len(ps))
	for i, p := range ps {
		out[i] = p.Group
	}
	return out
}

func sortedMethods(ms []string) []string {
	out := append([]string(nil), ms...)
	sort.Slice(out, func(i, j int) bool { return methodLess(out[i], out[j]) })
	return out
}

// hasSpread tells whether a statistic over seeds has a deviation to draw:
// two seeds or more.
func hasSpread(s aggregate.Stat) bool { return s.N >= 2 && !math.IsNaN(s.Std) }

// blankThumb is an empty legend thumbnail, for an entry that is a note.
type blankThumb struct{}

func (blankThumb) Thumbnail(*draw.Canvas) {}

// glyphThumb is a legend thumbnail of one marker.
type glyphThumb struct{ sty draw.GlyphStyle }

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(g.sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2})
}

// throughputFigure is training tokens per second per method, bars grouped
// by task, with the standard deviation over seeds as error bars where a
// bar has two seeds or more. The y label says what the bars are: with one
// seed everywhere it says there is no spread to draw; where only some bars
// have one, the legend says why they have no error bar.
func throughputFigure(rows []throughputRow, nm naming) (*figure, error) {
	var keys []taskKey
	var methods []string
	one, several := false, false
	for _, r := range rows {
		if !containsKey(keys, r.taskKey) {
			keys = append(keys, r.taskKey)
		}
		if !contains(methods, r.Method) {
			methods = append(methods, r.Method)
		}
		if hasSpread(r.TokensPerSec) {
			several = true
		} else {
			one = true
		}
	}
	methods = sortedMethods(methods)
	yLabel := "training throughput (tokens/s, mean ± std over seeds)"
	if !several {
		yLabel = "training throughput (tokens/s, one seed: no spread)"
	}
	p := newPlot("Training throughput by method", "task", yLabel)
	f := newFigure("fig-throughput", "Training throughput by method", p)
	width := 0.8 / float64(len(methods))
	p.Add(plotter.NewGrid())
	for j, m := range methods {
		var bars errXYs
		legend := false // the method has its legend entry
		for ti, k := range keys {
			for _, r := range rows {
				if r.taskKey != k || r.Method != m {
					continue
				}
				x := float64(ti) + (float64(j)-float64(len(methods)-1)/2)*width
				y := r.TokensPerSec.Mean
				poly, err := plotter.NewPolygon(plotter.XYs{{X: x - width/2, Y: 0}, {X: x + width/2, Y: 0}, {X: x + width/2, Y: y}, {X: x - width/2, Y: y}})
				if err != nil {
					return nil, err
				}
				poly.Color = methodColor(m)
				poly.LineStyle = draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}
				p.Add(poly)
				if !legend {
					f.addLegend(m, poly)
				}
				legend = true
				if !hasSpread(r.TokensPerSec) {
					continue // one seed: no spread to draw
				}
				d := r.TokensPerSec.ErrorBar()
				bars.XYs = append(bars.XYs, plotter.XY{X: x, Y: y})
				bars.YErrors = append(bars.YErrors, struct{ Low, High float64 }{d, d})
			}
		}
		if len(bars.XYs) > 0 {
			eb, err := plotter.NewYErrorBars(bars)
			if err != nil {
				return nil, err
			}
			eb.LineStyle = draw.LineStyle{Color: color.Gray{0x33}, Width: vg.Points(1)}
			eb.CapWidth = vg.Points(4)
			p.Add(eb)
			f.errorBars += len(bars.XYs)
		}
	}
	if one && several {
		f.addLegend("no error bar: one seed", blankThumb{})
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = nm.name(k)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(keys))-0.5
	p.Y.Min = 0
	p.Y.Max *= 1.08
	return f, nil
}

func containsKey(ks []taskKey, k taskKey) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// figureErr wraps an error from building a figure.
func figureErr(name string, err error) error {
	return fmt.Errorf("reports: figure %s: %w", name, err)
}
