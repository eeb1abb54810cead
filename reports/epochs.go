package reports

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter/tw"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// epochCost is a configuration's training time and peak Go heap epoch by
// epoch (trial.Result.EpochSeconds, EpochPeakHeapBytes), over the seeds
// that recorded two epochs or more: a method with an activation cache runs
// the backbone in its first epoch only, so its first and later epochs
// differ in cost.
type epochCost struct {
	// First is the first epoch's seconds, Later the mean of the later
	// epochs' and Mean that of every epoch, over seeds.
	First, Later, Mean aggregate.Stat
	// ByEpoch[i] is epoch i+1's seconds over the seeds that ran it.
	ByEpoch []aggregate.Stat
	// FirstHeap is the first epoch's peak heap and LaterHeap the largest of
	// the later epochs', in bytes, over the seeds that recorded one per
	// epoch (N = 0 when none did).
	FirstHeap, LaterHeap aggregate.Stat
}

// Speedup is how many times faster a later epoch runs than the first, as
// the ratio of the means the table shows.
func (e *epochCost) Speedup() float64 { return e.First.Mean / e.Later.Mean }

// epochCosts summarises the epochs of a configuration's results; nil when
// none recorded two epochs or more.
func epochCosts(rs []*trial.Result) *epochCost {
	var first, later, mean, firstHeap, laterHeap []float64
	var byEpoch [][]float64
	for _, r := range rs {
		sec := r.EpochSeconds
		if len(sec) < 2 {
			continue
		}
		first = append(first, sec[0])
		later = append(later, stat.Mean(sec[1:], nil))
		mean = append(mean, stat.Mean(sec, nil))
		for i, s := range sec {
			if i == len(byEpoch) {
				byEpoch = append(byEpoch, nil)
			}
			byEpoch[i] = append(byEpoch[i], s)
		}
		if h := r.EpochPeakHeapBytes; len(h) == len(sec) {
			firstHeap = append(firstHeap, float64(h[0]))
			laterHeap = append(laterHeap, float64(slices.Max(h[1:])))
		}
	}
	if len(first) == 0 {
		return nil
	}
	e := &epochCost{First: aggregate.StatOf(first), Later: aggregate.StatOf(later), Mean: aggregate.StatOf(mean),
		FirstHeap: aggregate.StatOf(firstHeap), LaterHeap: aggregate.StatOf(laterHeap)}
	for _, xs := range byEpoch {
		e.ByEpoch = append(e.ByEpoch, aggregate.StatOf(xs))
	}
	return e
}

// epochRow is one configuration in the cost-per-epoch table.
type epochRow struct {
	*group
	// Label is the method with the hyper-parameters that tell the
	// configuration from the method's other rows (configLabels).
	Label string
}

// epochTable is the cost per epoch of the configurations at one task and
// data size.
type epochTable struct {
	taskKey
	DataSize int
	// Rows: per method (methodRank order), each set of hyper-parameters
	// at the learning rate and training settings chosen on validation.
	Rows []epochRow
	// Ref is the row epoch times are set against (epochReferences); nil
	// when no reference method recorded its epochs.
	Ref *epochRow
}

// epochReferences are the methods epoch times are set against, the first
// one present: full fine-tuning, else LoRA.
var epochReferences = []string{"full", "lora"}

// epochTables tabulates, at every task and data size, the configurations
// that recorded their epochs. The controls are left out: scratch trains as
// full fine-tuning does.
func epochTables(groups []*group) []epochTable {
	timed := filter(groups, func(g *group) bool { return g.Epochs != nil && !display.IsControl(g.Method) })
	var out []epochTable
	for _, k := range taskKeys(timed) {
		tg := filter(timed, func(g *group) bool { return g.Key() == k })
		for _, n := range sizeList(tg) {
			at := atSize(tg, n)
			t := epochTable{taskKey: k, DataSize: n}
			for _, m := range methodList(at) {
				mg := filter(at, func(g *group) bool { return g.Method == m })
				var chosen []*group
				for _, params := range paramsList(mg) {
					chosen = append(chosen, best(filter(mg, func(g *group) bool { return g.Params == params })))
				}
				for i, l := range configLabels(chosen) {
					t.Rows = append(t.Rows, epochRow{group: chosen[i], Label: l})
				}
			}
			for _, m := range epochReferences {
				// The method's best over every setting is the best of its
				// rows.
				if b := best(filter(at, func(g *group) bool { return g.Method == m })); b != nil {
					t.Ref = t.row(b)
					break
				}
			}
			out = append(out, t)
		}
	}
	return out
}

// paramsList lists the hyper-parameter settings (config.Params) of the
// groups, in their order.
func paramsList(groups []*group) []string {
	var out []string
	for _, g := range groups {
		if !slices.Contains(out, g.Params) {
			out = append(out, g.Params)
		}
	}
	return out
}

// configLabels names configurations of one method apart, as sweeps name
// their grid points: the method and each hyper-parameter whose value
// differs among them ("pac cache_mb=0", "pac cache_mb=1024"); the method
// alone for one configuration.
func configLabels(gs []*group) []string {
	value := func(g *group, k string) string {
		if v, ok := g.MethodParams[k]; ok {
			return trial.FormatParam(v)
		}
		return "—"
	}
	var keys []string
	for _, g := range gs {
		for k := range g.MethodParams {
			if slices.Contains(keys, k) {
				continue
			}
			if slices.ContainsFunc(gs, func(o *group) bool { return value(o, k) != value(g, k) }) {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	out := make([]string, len(gs))
	for i, g := range gs {
		parts := []string{g.Method}
		for _, k := range keys {
			parts = append(parts, k+"="+value(g, k))
		}
		out[i] = strings.Join(parts, " ")
	}
	return out
}

// row returns the row of configuration g, nil if none.
func (t epochTable) row(g *group) *epochRow {
	for i := range t.Rows {
		if t.Rows[i].group == g {
			return &t.Rows[i]
		}
	}
	return nil
}

// relative is the row's mean epoch time over the reference's; NaN without
// a reference.
func (t epochTable) relative(r epochRow) float64 {
	if t.Ref == nil {
		return math.NaN()
	}
	return r.Epochs.Mean.Mean / t.Ref.Epochs.Mean.Mean
}

// cached is whether the row keeps an activation cache.
func (r epochRow) cached() bool { return r.CacheBytes > 0 }

// uncached returns the row of the same method without a cache (its
// configuration chosen on validation among several), nil if none: the
// cache's effect is a method against itself.
func (t epochTable) uncached(r epochRow) *epochRow {
	var cands []*group
	for _, o := range t.Rows {
		if o.Method == r.Method && !o.cached() && o.Accounted != nil { // an account says there is no cache
			cands = append(cands, o.group)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return t.row(best(cands))
}

// secCell writes seconds to three significant digits, ± the standard
// deviation over seeds to as many decimals where there are two seeds or
// more: "1.10 ± 0.14".
func secCell(s aggregate.Stat) string {
	if s.N == 0 {
		return "—"
	}
	m := sigCell(s.Mean, 3)
	if math.IsNaN(s.Std) {
		return m
	}
	decimals := 0
	if i := strings.IndexByte(m, '.'); i >= 0 {
		decimals = len(m) - i - 1
	}
	return m + " ± " + strconv.FormatFloat(s.Std, 'f', decimals, 64)
}

// timesCell writes a ratio: "4.00×"; "—" where there is none.
func timesCell(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

// heapCell writes a mean over seeds in MiB; "—" where no seed measured it.
func heapCell(s aggregate.Stat) string {
	if s.N == 0 {
		return "—"
	}
	return aggregate.MiB(s.Mean)
}

// speedText says how a later epoch compares with the first: "4.00×
// faster", "1.25× slower".
func speedText(r float64) string {
	if r < 1 {
		return timesCell(1/r) + " slower"
	}
	return timesCell(r) + " faster"
}

// epochSection is the report's section on the cost of each epoch; it is
// left out when no result recorded two epochs or more.
func (p *page) epochSection(heading string) error {
	p.line("## %s", heading)
	p.line("")
	p.line("Every configuration whose trials recorded each epoch's training time, at each task and data size: per method, each setting of its hyper-parameters at the learning rate chosen on validation, named by the hyper-parameters that tell it from the method's other rows. " +
		"Times are seconds of training steps (evaluation excluded), mean ± standard deviation over seeds: the first epoch, the mean of the later ones, and their ratio first / later, how many times faster a later epoch runs. " +
		"The mean epoch is set against the reference's (full fine-tuning, else LoRA, at its configuration chosen on validation). " +
		"Peak heap is the peak Go heap sampled during an epoch's training (of the later epochs, the largest); the activation cache and the accounted total are the memory account's (section 7); means over seeds. " +
		"Building and compiling the training programs (once per batch shape) is left out of every epoch's time, but a first epoch still pays for first runs (memory first touched, the engine's arena grown), so it is slower than the later ones even without a cache: a cache's effect is a method with it against the same method without it.")
	p.line("")
	p.epochFindings()
	for _, t := range p.t.Epochs {
		p.line("### %s, %s", p.nm.name(t.taskKey), p.sizeText(t.Task, t.DataSize))
		p.line("")
		ref := "reference's"
		if t.Ref != nil {
			ref = t.Ref.Label + "'s"
		}
		header := []string{"configuration", "lr", "seeds", "test acc. %", "first epoch, s", "later epochs, s", "first / later", "mean epoch ÷ " + ref,
			"peak heap, first epoch, MiB", "peak heap, later epochs, MiB", "activation cache, MiB", "accounted total, MiB"}
		align := []tw.Align{tw.AlignLeft, alignR}
		for range len(header) - len(align) {
			align = append(align, alignR)
		}
		var rows [][]string
		for _, r := range t.Rows {
			e := r.Epochs
			cache, total := "—", "—"
			if r.Accounted != nil {
				cache, total = aggregate.MiB(r.CacheBytes), aggregate.MiB(r.Accounted.Total)
			}
			rows = append(rows, []string{r.Label, lrCell(r.Train.LR), strconv.Itoa(e.First.N), accCell(r.Test), secCell(e.First), secCell(e.Later),
				timesCell(e.Speedup()), timesCell(t.relative(r)), heapCell(e.FirstHeap), heapCell(e.LaterHeap), cache, total})
		}
		if err := p.table(header, rows, align); err != nil {
			return err
		}
		if err := p.figure(epochFigure(t, p.nm)); err != nil {
			return err
		}
	}
	p.line("— where a trial's result file predates the measurement or the account.")
	p.line("")
	return nil
}

// epochFindings states what the tables show, task by task: for every
// configuration with a cache, its later epochs against its first, against
// the same method without the cache and against the reference, with the
// accuracies and the memory the cache takes; where no configuration keeps
// a cache, the range of first / later.
func (p *page) epochFindings() {
	p.line("Measured on %s, with whatever else ran on it at the time: the times compare configurations within this report, not with other machines or with published figures.", p.machineText())
	var paper bool
	for _, t := range p.t.Epochs {
		for _, r := range t.Rows {
			paper = paper || (r.Method == "pac" && r.cached())
		}
	}
	if paper {
		p.line("Ouyang, Ye et al. (2024, arXiv 2408.10746) report up to 8.64× end-to-end speed-up and 88.16%% memory reduction for pac against their baselines, at their scale; the ratios below are per epoch, for this sweep's model and data, and do not test those figures.")
	}
	p.line("")
	for _, t := range p.t.Epochs {
		where := fmt.Sprintf("On %s with %s", p.nm.name(t.taskKey), p.sizeText(t.Task, t.DataSize))
		var hasCache bool
		for _, r := range t.Rows {
			if !r.cached() {
				continue
			}
			hasCache = true
			p.line("- %s. %s", cacheFinding(where, t, r), p.cacheMemory(r))
		}
		if !hasCache {
			lo, hi := t.Rows[0], t.Rows[0]
			for _, r := range t.Rows {
				if r.Epochs.Speedup() < lo.Epochs.Speedup() {
					lo = r
				}
				if r.Epochs.Speedup() > hi.Epochs.Speedup() {
					hi = r
				}
			}
			span := fmt.Sprintf("%s (%s)", timesCell(lo.Epochs.Speedup()), lo.Label)
			if hi.group != lo.group {
				span += fmt.Sprintf(" to %s (%s)", timesCell(hi.Epochs.Speedup()), hi.Label)
			}
			p.line("- %s, no configuration keeps an activation cache: the first epoch takes %s as long as a later one.", where, span)
		}
	}
	p.line("")
}

// cacheFinding sets a cached configuration's later epochs against its
// first, the same method without the cache and the reference, with their
// test accuracies: "On toy with 256 training examples, pac
// cache_mb=1024's later epochs take 0.275 s against 1.10 s for its first
// (4.00× faster); …".
func cacheFinding(where string, t epochTable, r epochRow) string {
	e := r.Epochs
	s := fmt.Sprintf("%s, %s's later epochs take %s s against %s s for its first (%s)",
		where, r.Label, sigCell(e.Later.Mean, 3), sigCell(e.First.Mean, 3), speedText(e.Speedup()))
	off := t.uncached(r)
	if off != nil {
		s += fmt.Sprintf("; with the cache off (%s) they take %s s (%s than its first)", off.Label, sigCell(off.Epochs.Later.Mean, 3), speedText(off.Epochs.Speedup()))
	}
	ref := t.Ref
	if ref != nil && ref.Method != r.Method {
		s += fmt.Sprintf("; %s's epochs take %s s on average, %s's %s s (%s as long)", ref.Label, sigCell(ref.Epochs.Mean.Mean, 3),
			r.Label, sigCell(e.Mean.Mean, 3), timesCell(t.relative(r)))
	} else {
		ref = nil
	}
	s += fmt.Sprintf(". Test accuracy: %s %s", r.Label, pctText(r.Test.Mean))
	if off != nil {
		s += fmt.Sprintf(", %s %s", off.Label, pctText(off.Test.Mean))
	}
	if ref != nil {
		s += fmt.Sprintf(", %s %s", ref.Label, pctText(ref.Test.Mean))
	}
	return s
}

// cacheMemory is what a cached configuration's cache takes: "Its cache
// holds 8.0 MiB of an accounted 20.0 MiB; its peak heap is 31.0 MiB in
// the later epochs against 40.0 MiB in the first."
func (p *page) cacheMemory(r epochRow) string {
	s := fmt.Sprintf("Its activation cache holds %s MiB", aggregate.MiB(r.CacheBytes))
	if r.Accounted != nil {
		s += fmt.Sprintf(" of an accounted %s MiB", aggregate.MiB(r.Accounted.Total))
	}
	if e := r.Epochs; e.FirstHeap.N > 0 {
		s += fmt.Sprintf("; its peak heap is %s MiB in the later epochs against %s MiB in the first", heapCell(e.LaterHeap), heapCell(e.FirstHeap))
	}
	return s + "."
}

// machineText names the machine the trials ran on, or says how many there
// were.
func (p *page) machineText() string {
	ms := p.t.Repro.Machines
	if len(ms) == 1 {
		return ms[0].Value + " (see " + p.sectionLink(reproTitle) + ")"
	}
	return fmt.Sprintf("%d machines (see %s): compare only times from one", len(ms), p.sectionLink(reproTitle))
}

// epochFigure is each configuration's training time by epoch at one task
// and data size: colour and marker by method, dash by configuration within
// the method.
func epochFigure(t epochTable, nm naming) (*figure, error) {
	title := fmt.Sprintf("%s, %s examples: training time by epoch", nm.name(t.taskKey), sizeCell(t.DataSize))
	p := newPlot(title, "epoch", "training time (s, mean ± std over seeds)")
	p.Add(plotter.NewGrid())
	f := newFigure(nm.fileName("fig-epochs-"+sizeFileName(t.DataSize), t.taskKey), title, p)
	var ticks []plot.Tick
	within := map[string]int{} // configurations of the method drawn so far
	for i, r := range t.Rows {
		var pts errXYs
		for j, s := range r.Epochs.ByEpoch {
			x := float64(j + 1)
			pts.XYs = append(pts.XYs, plotter.XY{X: x + 0.04*(float64(i)-float64(len(t.Rows)-1)/2), Y: s.Mean})
			d := s.ErrorBar()
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{d, d})
			if j >= len(ticks) {
				ticks = append(ticks, plot.Tick{Value: x, Label: strconv.Itoa(j + 1)})
			}
		}
		line, marks, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return nil, err
		}
		line.LineStyle = lineStyle(r.Method, taskDash(within[r.Method]))
		within[r.Method]++
		marks.GlyphStyle = methodGlyph(r.Method)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, err
		}
		bars.LineStyle = draw.LineStyle{Color: methodColor(r.Method), Width: vg.Points(1.2)}
		bars.CapWidth = vg.Points(7)
		p.Add(bars, line, marks)
		f.addLegend(r.Label, line, marks)
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	padLinear(&p.X, 0.05, 0.3)
	p.Y.Min = 0
	p.Y.Max *= 1.08
	return f, nil
}
