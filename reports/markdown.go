package reports

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/olekukonko/tablewriter/tw"
	"github.com/peftbench/peftbench/edge"
	"github.com/peftbench/peftbench/internal/meter"
	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
	"gonum.org/v1/gonum/stat/distuv"
)

// page writes the report's Markdown and collects the figures it shows.
type page struct {
	t        *tables
	in       inputs
	nm       naming
	dir      string
	spec     []byte
	specPath string
	command  string
	notes    []string

	// main and appendix are the two pages; cur is the one being written.
	main, appendix strings.Builder
	cur            *strings.Builder
	figs           []*figure
	sections       []section // numbered, in order
	// edge holds the measured workloads the results folder carries
	// (EdgeWorkloads), for the simulated section.
	edge []edge.Workload
}

// AppendixFile is the page beside README.md that holds the full tables.
const AppendixFile = "APPENDIX.md"

// render returns the README, its appendix and the figures they reference.
func (p *page) render() (readme, appendix string, figs []*figure, err error) {
	p.cur = &p.main
	r := p.t.Repro
	p.line("# peftbench report: %s", filepath.Base(filepath.Clean(p.dir)))
	p.line("")
	var methods, controls []string
	for _, m := range methodList(p.t.Groups) {
		if display.IsControl(m) {
			controls = append(controls, m)
		} else {
			methods = append(methods, m)
		}
	}
	var zs []string // the untrained control, kept apart from the groups
	for _, z := range p.t.ZeroShot {
		if !slices.Contains(zs, z.Method) {
			zs = append(zs, z.Method)
		}
	}
	sort.Strings(zs)
	controls = append(controls, zs...)
	if len(p.in.Majority) > 0 {
		controls = append(controls, majority)
	}
	p.line("%s trials from `%s` (%d succeeded, %d failed) on %s; methods: %s; controls: %s.",
		numfmt.Thousands(float64(r.Trials)), p.dir, r.Succeeded, r.Failed, p.taskList(), orDash(strings.Join(methods, ", ")), orDash(strings.Join(controls, ", ")))
	p.line("")
	p.line("Beside this page, [index.html](%s) is the same results to explore offline in a browser: every configuration in a table to filter and sort, accuracy against the cost axis of your choice, and learning curves.", ViewerFile)
	p.sections = p.sectionList()
	var inAppendix []string
	for _, s := range p.sections {
		if s.appendix {
			inAppendix = append(inAppendix, strings.ToLower(s.title))
		}
	}
	p.line("The full tables (%s) are in the appendix, [%s](%s).", strings.Join(inAppendix, "; "), AppendixFile, AppendixFile)
	if a := p.t.Augmentation; a != nil {
		p.line("Data augmentation: %s, compared with the plain methods in %s; every other section shows the plain methods only.", strings.Join(a.Labels, ", "), p.sectionLink(augmentTitle))
	}
	p.line("Accuracy is in percent: the mean over seeds ± the sample standard deviation, with a 95%% Student-t interval of the mean where there are two seeds or more.")
	p.line("")
	p.findings()
	p.literature()
	for _, s := range p.sections {
		p.line("%s [%s](%s)", s.number(), s.title, p.link(s))
	}
	p.line("")
	p.cur = &p.appendix
	p.line("# peftbench report: %s, appendix", filepath.Base(filepath.Clean(p.dir)))
	p.line("")
	p.line("The full tables of [the report](README.md), which has the findings, the summary and the figures.")
	p.line("")
	for _, s := range p.sections {
		p.cur = &p.main
		if s.appendix {
			p.cur = &p.appendix
		}
		if err := s.write(s.heading()); err != nil {
			return "", "", nil, err
		}
	}
	return p.main.String(), p.appendix.String(), p.figs, nil
}

// Titles of the sections that other sections link to.
const (
	testsTitle   = "Paired tests"
	reproTitle   = "Reproducibility"
	augmentTitle = "Data augmentation (LLM2LLM)"
	epochTitle   = "Cost per epoch"
)

// A section is one numbered part of a report, on the main page or in
// the appendix: the ten fixed sections, then those a report's results
// call for, numbered on from 11.
type section struct {
	n        int
	title    string
	write    func(heading string) error
	appendix bool
}

func (s section) number() string  { return strconv.Itoa(s.n) + "." }
func (s section) heading() string { return s.number() + " " + s.title }

// anchor is the link GitHub gives the section's heading: lower case,
// punctuation dropped, spaces as hyphens ("#11-data-augmentation-llm2llm").
func (s section) anchor() string {
	var b strings.Builder
	for _, c := range strings.ToLower(s.heading()) {
		switch {
		case c == ' ':
			b.WriteByte('-')
		case c == '-' || c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c):
			b.WriteRune(c)
		}
	}
	return "#" + b.String()
}

// link is the section's address from the page being written: its anchor
// on the same page, or the other page's file and anchor.
func (p *page) link(s section) string {
	onAppendix := p.cur == &p.appendix
	switch {
	case s.appendix && !onAppendix:
		return AppendixFile + s.anchor()
	case !s.appendix && onAppendix:
		return "README.md" + s.anchor()
	}
	return s.anchor()
}

// sectionList lists the sections this report has, numbered. The long
// tables go to the appendix, so that the main page is one a reader
// finishes: findings, summary and figures.
func (p *page) sectionList() []section {
	out := []section{
		{title: "Summary", write: p.summary},
		{title: testsTitle, write: p.pairedTests, appendix: true},
		{title: "LoRA rank", write: p.rank},
		{title: "Prompt length", write: p.length},
		{title: "Dataset size", write: p.dataSize},
		{title: "Efficiency", write: p.efficiency},
		{title: "Memory, measured and accounted", write: p.measuredMemory, appendix: true},
		{title: "Memory projected to large models", write: p.projectedMemory, appendix: true},
		{title: "Throughput", write: p.throughput},
		{title: reproTitle, write: p.repro},
	}
	if p.t.Augmentation != nil {
		out = append(out, section{title: augmentTitle, write: p.augmentSection})
	}
	if len(p.t.Epochs) > 0 {
		out = append(out, section{title: epochTitle, write: p.epochSection, appendix: true})
	}
	if len(p.edge) > 0 {
		out = append(out, section{title: edgeTitle, write: p.edgeSection})
	}
	for i := range out {
		out[i].n = i + 1
	}
	return out
}

// sectionLink links the section titled title from the page being
// written: "[section 11](#11-data-augmentation-llm2llm)".
func (p *page) sectionLink(title string) string {
	for _, s := range p.sections {
		if s.title == title {
			return fmt.Sprintf("[section %d](%s)", s.n, p.link(s))
		}
	}
	return title
}

func (p *page) line(format string, args ...any) {
	fmt.Fprintf(p.cur, format, args...)
	p.cur.WriteByte('\n')
}

func (p *page) table(header []string, rows [][]string, align []tw.Align) error {
	s, err := markdownTable(header, rows, align)
	if err != nil {
		return err
	}
	p.cur.WriteString(s)
	p.line("")
	return nil
}

// figure adds f to the page.
func (p *page) figure(f *figure, err error) error {
	if err != nil {
		name := "figure"
		if f != nil {
			name = f.Name
		}
		return figureErr(name, err)
	}
	p.figs = append(p.figs, f)
	files := f.Files()
	p.line("![%s](%s)", f.Alt, files[0])
	p.line("")
	p.line("<sub>Vector version: [%s](%s)</sub>", files[1], files[1])
	p.line("")
	return nil
}

func (p *page) skipped(format string, args ...any) {
	p.line("_Skipped: "+format+"_", args...)
	p.line("")
}

func (p *page) taskList() string {
	names := make([]string, len(p.t.Tasks))
	for i, k := range p.t.Tasks {
		names[i] = p.nm.name(k)
	}
	if len(names) == 0 {
		return "no task (no trial succeeded)"
	}
	return "tasks " + strings.Join(names, ", ")
}

func (p *page) sizeText(task string, n int) string {
	ex := p.in.Examples(task, n)
	switch {
	case n == 0 && ex > 0:
		return fmt.Sprintf("all (%s training examples)", numfmt.Thousands(float64(ex)))
	case n == 0:
		return "all training examples"
	}
	return numfmt.Thousands(float64(ex)) + " training examples"
}

// alignR right-aligns a numeric column.
const alignR = tw.AlignRight

func (p *page) summary(heading string) error {
	p.line("## %s", heading)
	p.line("")
	if len(p.t.Summaries) == 0 {
		p.skipped("no trial succeeded.")
		return nil
	}
	p.line("Each method at its best configuration: among the configurations (hyper-parameters and learning rate) run at the task's largest data size, the one with the highest mean validation accuracy over seeds. Test accuracy is reported for that configuration only.%s", p.seedNote())
	p.line("")
	header := []string{"method", "configuration", "lr", "data size", "seeds", "test acc. %", "95% CI", "vs majority, points [95% CI]", "p (Holm)", "valid acc. %",
		"trainable params", "% of model", "peak memory", "train tokens/s", "adapter file", "configs compared"}
	align := []tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR}
	for _, s := range p.t.Summaries {
		p.line("### %s", p.nm.name(s.taskKey))
		p.line("")
		p.line("Data size: %s, the largest in the sweep for this task.", p.sizeText(s.Task, s.DataSize))
		p.line("")
		var rows [][]string
		onTest, otherSize, notAbove, untuned := false, false, false, false
		for _, r := range s.Rows {
			g := r.Best
			method := r.Method
			if r.Control() {
				method = "_" + method + " (control)_"
			}
			if !r.AboveMajority() && r.VsMajority != nil {
				method += " ◦"
				notAbove = true
			}
			if r.SelectedOn == chosenOnTest && !untrained(r.Method) {
				method += " †"
				onTest = true
			}
			vsMaj, p := "—", "—"
			if t := r.VsMajority; t != nil {
				vsMaj, p = diffCell(t.Comparison), aggregate.PValue(t.Holm)
			}
			if untrained(r.Method) {
				rows = append(rows, []string{method, "no training", "—", "—", "—", accCell(g.Test), "—", vsMaj, p, "—", "0", "0%", mibCell(g.PeakMemoryBytes), "—", "—", "—"})
				continue
			}
			size := sizeCell(g.DataSize)
			if g.DataSize != s.DataSize {
				size += " ‡"
				otherSize = true
			}
			valid := "—"
			if g.Valid != nil {
				valid = accCell(*g.Valid)
			}
			lr := lrCell(g.Train.LR)
			if r.Untuned {
				lr += " §"
				untuned = true
			}
			rows = append(rows, []string{method, orDash(paramsLabel(g.MethodParams)), lr, size,
				strconv.Itoa(g.Test.N), accCell(g.Test), ciCell(g.Test), vsMaj, p, valid, numfmt.Thousands(float64(g.TrainableParams)),
				pctCell(r.TrainablePct), mibCell(g.PeakMemoryBytes), numfmt.Thousands(g.TokensPerSec.Mean), bytesCell(g.FileSize),
				strconv.Itoa(r.Configs)})
		}
		if b := s.Baseline; b != nil {
			rows = append(rows, refRow(header, "_majority class (baseline)_", fmt.Sprintf("%.1f", 100*b.Majority)))
			bow := "n/a"
			if b.BoWLR != nil {
				bow = fmt.Sprintf("%.1f", 100*b.BoWLR.Accuracy)
			}
			rows = append(rows, refRow(header, "_bag-of-words LR (baseline)_", bow))
		}
		if err := p.table(header, rows, align); err != nil {
			return err
		}
		if s.Baseline == nil {
			p.line("No recorded baseline for this task.")
			p.line("")
		} else if s.Baseline.Note != "" {
			p.line("Baselines: %s.", s.Baseline.Note)
			p.line("")
		}
		if onTest {
			p.line("† chosen on test accuracy: its trials carry no validation score.")
			p.line("")
		}
		if otherSize {
			p.line("‡ this method was not run at the task's largest data size; it is shown at its own largest.")
			p.line("")
		}
		if untuned {
			p.line("§ untuned here: one learning rate ran for this method on this task, so the rate was not chosen on this task's validation split (the spec may take it from another task's tuning, or it is the method's default). A gap to a tuned method may be the rate's.")
			p.line("")
		}
		if notAbove {
			p.line("◦ not significantly above the majority class (paired test, Holm-corrected; %s): on this evidence it may have learnt nothing.", p.sectionLink(testsTitle))
			p.line("")
		}
	}
	p.line("Trainable parameters are a share of the model's total (base plus method parameters). Peak memory is the peak resident set of the trial's process; tokens/s counts training tokens per second of training; the adapter file is the saved method parameters.")
	p.line("")
	return nil
}

// refRow is a baseline row: its name and test accuracy, dashes elsewhere.
func refRow(header []string, name, acc string) []string {
	row := make([]string, len(header))
	for i := range row {
		row[i] = "—"
	}
	row[0], row[5] = name, acc
	return row
}

func (p *page) rank(heading string) error {
	p.line("## %s", heading)
	p.line("")
	if len(p.t.Rank) == 0 {
		p.skipped("no task has LoRA (or DoRA) trials at two or more ranks.")
		return nil
	}
	p.line("Test accuracy against rank, one line per task; at each rank the best configuration over the other hyper-parameters and the learning rate, chosen on validation accuracy, at the summary's data size. The long-dashed horizontal line is %s at the same data size, what the rank is to close on. %s", display.Reference(), spreadText(p.t.Rank))
	p.line("")
	return p.figure(rankFigure(p.t.Rank, p.nm))
}

func (p *page) length(heading string) error {
	p.line("## %s", heading)
	p.line("")
	if len(p.t.Length) == 0 {
		p.skipped("no task has prompt- or prefix-tuning trials at two or more lengths.")
		return nil
	}
	p.line("Test accuracy against the number of virtual tokens (`length`) for %s, chosen per length as for the rank, with %s at the same data size as a long-dashed horizontal line. %s", lengthMethods(p.t.Length), display.Reference(), spreadText(p.t.Length))
	p.line("")
	return p.figure(lengthFigure(p.t.Length, p.nm))
}

func (p *page) dataSize(heading string) error {
	p.line("## %s", heading)
	p.line("")
	if len(p.t.DataSize) == 0 {
		p.skipped("no method was run at two or more data sizes.")
		return nil
	}
	p.line("Learning curves: test accuracy against the number of training examples, for every method, at each size the best configuration chosen on validation accuracy; the majority class and bag-of-words baselines are horizontal lines where recorded. %s", spreadText(p.t.DataSize))
	p.line("")
	for _, k := range p.t.Tasks {
		var ss []methodCurve
		for _, s := range p.t.DataSize {
			if s.taskKey == k {
				ss = append(ss, s)
			}
		}
		p.line("### %s", p.nm.name(k))
		p.line("")
		if len(ss) == 0 {
			p.skipped("no method was run on %s at two or more data sizes.", p.nm.name(k))
			continue
		}
		b, ok := p.in.Baselines[k.Task]
		f, err := dataSizeFigure(k, ss, p.nm, taskReferences(b, ok))
		if err := p.figure(f, err); err != nil {
			return err
		}
		if f.offAxis > 0 {
			p.line("An arrow at the axis edge marks a control's point far outside the methods' range, with its accuracy: the axis is kept to the range the methods differ in.")
			p.line("")
		}
	}
	return nil
}

// lengthMethods names the methods a length figure draws: "prompt tuning
// and prefix tuning".
func lengthMethods(series []methodCurve) string {
	var names []string
	for _, m := range drawn(series, "length") {
		names = append(names, m+" tuning")
	}
	return strings.Join(names, " and ")
}

// spreadText says what a figure's error bars are: the standard deviation
// over seeds where a point ran on two seeds or more, none on one seed.
func spreadText(series []methodCurve) string {
	one, more := 0, 0
	for _, s := range series {
		for _, pt := range s.Points {
			if hasSpread(pt.Acc) {
				more++
			} else {
				one++
			}
		}
	}
	switch {
	case more == 0:
		return "Every point ran on one seed: there is no spread over seeds, so no error bars."
	case one == 0:
		return "Error bars: standard deviation over seeds."
	}
	return fmt.Sprintf("Error bars: standard deviation over seeds, where a point ran on two seeds or more; %d of the %d points ran on one and have none.", one, one+more)
}

func (p *page) efficiency(heading string) error {
	p.line("## %s", heading)
	p.line("")
	if len(p.t.Memory) == 0 && len(p.t.Params) == 0 {
		p.skipped("no task has two or more configurations at its summary data size.")
		return nil
	}
	p.line("Every configuration at the summary's data size, by its mean test accuracy over seeds against peak memory (the trial's peak Go heap, which the memory account holds within 0.9-1.3x; resident memory where a result has no heap peak) and against trainable parameters. The Pareto front (dashed) joins the configurations that no other configuration matches or beats in accuracy at no more cost; its members are listed below each figure.")
	p.line("")
	for _, k := range p.t.Tasks {
		var fronts []frontier
		for _, list := range [][]frontier{p.t.Memory, p.t.Params} {
			for _, f := range list {
				if f.taskKey == k {
					fronts = append(fronts, f)
				}
			}
		}
		p.line("### %s", p.nm.name(k))
		p.line("")
		if len(fronts) == 0 {
			p.skipped("%s has fewer than two configurations with a measured cost.", p.nm.name(k))
			continue
		}
		if err := p.figure(efficiencyFigure(k, fronts, p.nm)); err != nil {
			return err
		}
		for _, f := range fronts {
			what := "peak memory"
			if f.Heap {
				what = "peak Go heap"
			}
			if f.Cost == costParams {
				what = "trainable parameters"
			}
			p.line("Pareto front, accuracy against %s (%d of %d configurations, %s):", what, len(f.Front), len(f.Points), p.sizeText(k.Task, f.DataSize))
			p.line("")
			var rows [][]string
			for _, pt := range f.Front {
				g := pt.Group
				rows = append(rows, []string{g.Method, orDash(paramsLabel(g.MethodParams)), lrCell(g.Train.LR),
					mibCell(g.PeakMemoryBytes), mibCell(g.PeakHeapBytes), numfmt.Thousands(float64(g.TrainableParams)), accCell(g.Test)})
			}
			err := p.table([]string{"method", "configuration", "lr", "peak memory", "peak heap", "trainable params", "test acc. %"}, rows,
				[]tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR, alignR})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *page) measuredMemory(heading string) error {
	p.line("## %s", heading)
	p.line("")
	if len(p.t.Measured) == 0 {
		p.skipped("no trial succeeded.")
		return nil
	}
	p.line("Each method at its summary configuration, means over seeds. Peak RSS is the peak resident set of the trial's process (the Go runtime, the binary, BLAS buffers and the data included); peak heap is the peak Go heap, sampled, garbage included. The accounted total is computed from shapes and counts alone: every weight in float32 (the trainable ones among them), AdamW's two float64 moments per trainable weight, the step values (activations, their gradients and the weight gradients of the largest batch, as the engine plans them; the gradients column is part of them), what evaluation needs beyond them (eval values: training and evaluation share one arena that grows to the largest program) and the float64 copy of the trainable weights kept at the best validation epoch (snapshot).")
	p.line("")
	p.line("The engine runs every step in buffers planned once and reused and allocates nothing per step, and trials run with the collector at GOGC=%d, so the garbage of what a trial allocates outside the steps (data, compiled programs, scores) stays small: the peak heap is the account plus what no account covers (the task's data, the tokenizer, per-operation scratch, the compiled programs' bookkeeping and the garbage GOGC=%d allows; the last column says how much it adds), so the measured memory of two methods differs as their accounts do. The peak RSS adds the Go runtime, the binary and BLAS's buffers.", meter.GCPercent, meter.GCPercent)
	p.line("")
	header := []string{"method", "configuration", "peak RSS", "peak heap", "weights", "trainable weights", "gradients",
		"optimizer state", "step values", "eval values", "snapshot", "accounted total", "heap / accounted"}
	align := []tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR}
	for _, k := range p.t.Tasks {
		var rows [][]string
		for _, r := range p.t.Measured {
			if r.taskKey != k {
				continue
			}
			row := []string{r.Method, orDash(paramsLabel(r.Best.MethodParams)), memCell(r.PeakRSS), memCell(r.PeakHeap)}
			if a := r.Accounted; a != nil {
				row = append(row, memCell(a.Weights), memCell(a.Trainable), memCell(a.Gradients), memCell(a.Optimizer), memCell(a.Step), memCell(a.Eval), memCell(a.Snapshot), memCell(a.Total))
			} else {
				row = append(row, "—", "—", "—", "—", "—", "—", "—", "—")
			}
			rows = append(rows, append(row, ratioCell(r.HeapToAccounted)))
		}
		p.line("### %s", p.nm.name(k))
		p.line("")
		if err := p.table(header, rows, align); err != nil {
			return err
		}
	}
	p.line("— where a trial's result file predates the measurement or the account.")
	p.line("")
	return nil
}

func (p *page) projectedMemory(heading string) error {
	p.line("## %s", heading)
	p.line("")
	var have bool
	for _, c := range p.t.Projected {
		have = have || len(c.Projections) > 0
	}
	if !have {
		p.skipped("no trial at a summary configuration carries a projection.")
		return nil
	}
	seqs, precisions := p.projectedInputs()
	p.line("**These are projections, not measurements.** Each method at its summary configuration is projected by package gpu/projection onto large models trained on a GPU: bf16 weights, fp32 AdamW state (precision %s), a sequence length of %s tokens (the one the trials project with, a fixed length of the projection rather than the task's prompts), the batch as trained, and 1 GiB of CUDA overhead in the total. A projection depends on the method, its hyper-parameters and the batch only, so tasks whose summaries chose the same ones share a row. The GPUs are those of package gpu's catalogue whose memory holds the total: the smallest it fits on, then the largest it does not.", precisions, seqs)
	p.line("")
	header := []string{"method", "configuration", "chosen on", "model", "batch × seq", "trainable params", "weights", "gradients",
		"optimizer state", "activations", "total", "H100 80 GB", "GPUs"}
	align := []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR, alignR, alignR, alignR, tw.AlignLeft, tw.AlignLeft}
	var rows [][]string
	for _, c := range p.t.Projected {
		tasks := make([]string, len(c.Tasks))
		for i, k := range c.Tasks {
			tasks[i] = p.nm.name(k)
		}
		lead := []string{c.Method, orDash(paramsLabel(c.MethodParams)), strings.Join(tasks, ", ")}
		if len(c.Projections) == 0 {
			rows = append(rows, append(lead, "—", strconv.Itoa(c.Batch)+" × —", "—", "—", "—", "—", "—", "—", "—", "—"))
			continue
		}
		for _, pr := range c.Projections {
			rows = append(rows, append(append([]string(nil), lead...), archName(pr.Arch), fmt.Sprintf("%d × %d", pr.Batch, pr.Seq),
				numfmt.Thousands(float64(pr.TrainableParams)), memCell(float64(pr.WeightsBytes)), memCell(float64(pr.GradientsBytes)),
				memCell(float64(pr.OptimizerBytes)), memCell(float64(pr.ActivationBytes)), memCell(float64(pr.TotalBytes)),
				h100Cell(pr), fitCell(pr)))
		}
	}
	if err := p.table(header, rows, align); err != nil {
		return err
	}
	p.line("Weights include frozen ones; activations include the logits; the total adds the CUDA overhead. — where a trial's result file predates projections.")
	p.line("")
	return nil
}

// projectedInputs lists the sequence lengths and precisions of the
// projections shown.
func (p *page) projectedInputs() (seqs, precisions string) {
	seenSeq, seenPrec := map[int]bool{}, map[string]bool{}
	var ss, ps []string
	for _, c := range p.t.Projected {
		for _, pr := range c.Projections {
			if !seenSeq[pr.Seq] {
				seenSeq[pr.Seq] = true
				ss = append(ss, strconv.Itoa(pr.Seq))
			}
			if !seenPrec[pr.Precision] {
				seenPrec[pr.Precision] = true
				ps = append(ps, "`"+orDash(pr.Precision)+"`")
			}
		}
	}
	return strings.Join(ss, ", "), strings.Join(ps, ", ")
}

func (p *page) throughput(heading string) error {
	p.line("## %s", heading)
	p.line("")
	var rows []throughputRow
	for _, r := range p.t.Throughput {
		if r.TokensPerSec.Mean > 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		p.skipped("no trial recorded its training throughput.")
		return nil
	}
	p.line("Training tokens per second of each method at its summary configuration, and its ratio to full fine-tuning on the same task. All trials of a report should come from one machine for raw tokens/s to compare (see %s).", p.sectionLink(reproTitle))
	p.line("")
	p.line("Calibration is the GFLOP/s of a fixed float32 matrix product measured in the same process, through the same BLAS. MFU (model-FLOPs utilisation) is tokens/s times the model FLOPs of a training step per token, over the cores' float32 peak (cores × clock × two FMA units of the widest vectors the processor reports), so it cannot pass 100%%; tokens/s per calibrated GFLOP/s divides the machine's speed out, so it compares across machines. Both are means over seeds; — where a trial's result file predates them.")
	p.line("")
	if err := p.figure(throughputFigure(rows, p.nm)); err != nil {
		return err
	}
	var cells [][]string
	for _, r := range rows {
		ratio := "n/a (no full fine-tuning)"
		if !math.IsNaN(r.RatioToFull) {
			ratio = fmt.Sprintf("%.2f×", r.RatioToFull)
		}
		tps := numfmt.Thousands(r.TokensPerSec.Mean)
		if hasSpread(r.TokensPerSec) { // one seed: no ± 0
			tps += " ± " + numfmt.Thousands(r.TokensPerSec.Std)
		}
		mfu := "—"
		if r.MFU.N > 0 {
			mfu = pctCell(100 * r.MFU.Mean)
		}
		norm := "—"
		if r.NormTokensPerSec.N > 0 {
			norm = sigCell(r.NormTokensPerSec.Mean, 3)
		}
		cells = append(cells, []string{p.nm.name(r.taskKey), r.Method, tps, mfu, norm, ratio})
	}
	return p.table([]string{"task", "method", "train tokens/s", "MFU", "tokens/s per GFLOP/s", "ratio to full"}, cells,
		[]tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR})
}

func (p *page) repro(heading string) error {
	p.line("## %s", heading)
	r := p.t.Repro
	p.line("")
	p.line("- Trials: %d (%d succeeded, %d failed), read from `%s`.", r.Trials, r.Succeeded, r.Failed, filepath.Join(p.dir, "trials"))
	p.line("- Code version: %s.", countList(r.Commits))
	p.line("- Machine: %s.", countList(r.Machines))
	p.line("- GPU: %s.", countList(r.GPUs))
	p.line("- Trained and evaluated on: %s.", countList(r.Devices))
	p.line("- BLAS: %s.", countList(r.BLAS))
	p.line("- Go: %s.", countList(r.GoVersions))
	for _, n := range p.notes {
		p.line("- Note: %s.", strings.TrimSuffix(n, "."))
	}
	p.line("")
	if len(p.spec) > 0 {
		p.line("Sweep spec (`%s`):", p.specPath)
		p.line("")
		fence := codeFence(string(p.spec))
		p.line("%syaml", fence)
		p.cur.WriteString(strings.TrimRight(string(p.spec), "\n"))
		p.line("")
		p.line("%s", fence)
	} else {
		p.line("Sweep spec: not given (pass `--spec SPEC.yaml` to include it). Every trial's full spec is in its result file.")
	}
	p.line("")
	if len(r.Failures) > 0 {
		p.line("Failed trials (their result files hold the last log lines):")
		p.line("")
		var rows [][]string
		for _, f := range r.Failures {
			rows = append(rows, []string{"`" + f.ID + "`", f.Label, orDash(f.Error)})
		}
		if err := p.table([]string{"id", "trial", "error"}, rows, nil); err != nil {
			return err
		}
	} else {
		p.line("No trial failed.")
		p.line("")
	}
	p.line("Rebuild this report:")
	p.line("")
	p.line("```sh")
	p.line("%s", p.command)
	p.line("```")
	p.line("")
	return nil
}

// countList writes values with their trial counts: "a (3 trials), b (1 trial)".
func countList(cs []count) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		v := c.Value
		unit := "trials"
		if c.N == 1 {
			unit = "trial"
		}
		parts[i] = fmt.Sprintf("%s (%d %s)", v, c.N, unit)
	}
	return strings.Join(parts, "; ")
}

// codeFence is a backtick fence longer than any run of backticks in s.
func codeFence(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// Cell formats.

func accCell(s aggregate.Stat) string {
	if s.N == 0 || math.IsNaN(s.Mean) {
		return "—"
	}
	if math.IsNaN(s.Std) {
		return fmt.Sprintf("%.1f", 100*s.Mean)
	}
	return fmt.Sprintf("%.1f ± %.1f", 100*s.Mean, 100*s.Std)
}

func ciCell(s aggregate.Stat) string {
	if math.IsNaN(s.Lo) {
		return "—"
	}
	return fmt.Sprintf("[%.1f, %.1f]", 100*s.Lo, 100*s.Hi)
}

func lrCell(lr float64) string { return strconv.FormatFloat(lr, 'g', -1, 64) }

func sizeCell(n int) string {
	if n == 0 {
		return "all"
	}
	return numfmt.Thousands(float64(n))
}

// sizeFileName is a data size in a file name: digits, no thousands
// separator, or "all".
func sizeFileName(n int) string {
	if n == 0 {
		return "all"
	}
	return strconv.Itoa(n)
}

func pctCell(p float64) string {
	switch {
	case math.IsNaN(p):
		return "—"
	case p >= 10:
		return fmt.Sprintf("%.1f%%", p)
	}
	return strconv.FormatFloat(roundSig(p, 2), 'f', -1, 64) + "%"
}

func mibCell(b float64) string {
	if b <= 0 || math.IsNaN(b) {
		return "—"
	}
	return aggregate.MiB(b) + " MiB"
}

// memCell writes a byte count in the largest binary unit below it, up to
// GiB; "—" for none.
func memCell(b float64) string {
	switch {
	case b <= 0 || math.IsNaN(b):
		return "—"
	case b < 1<<10:
		return fmt.Sprintf("%.0f B", b)
	case b < 1<<20:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	case b < 1<<30:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", b/(1<<30))
}

func ratioCell(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f", r)
}

// sigCell writes v with n significant digits, keeping trailing zeros:
// 20 → "20.0", 0.01234 → "0.0123".
func sigCell(v float64, n int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	if v == 0 {
		return "0"
	}
	v = roundSig(v, n)
	digits := int(math.Floor(math.Log10(math.Abs(v)))) + 1
	return fmt.Sprintf("%.*f", max(0, n-digits), v)
}

// h100Cell says whether a projection fits on an H100 80 GB.
func h100Cell(pr trial.Projection) string {
	if fitsH100(pr) {
		return "fits on an H100 80 GB"
	}
	return "does not fit on an H100 80 GB"
}

// fitCell condenses the GPUs a projection fits on: "fits 6 of 13 GPUs: L40S
// 48GB, RTX A6000 48GB, H100 SXM 80GB, …; not A100 40GB, V100 32GB, …".
func fitCell(pr trial.Projection) string {
	fits, not := gpuFit(pr)
	list := func(names []string, n int) string {
		if len(names) > n {
			return strings.Join(names[:n], ", ") + ", …"
		}
		return strings.Join(names, ", ")
	}
	total := len(fits) + len(not)
	switch {
	case total == 0:
		return "—"
	case len(fits) == 0:
		return fmt.Sprintf("fits none of the %d GPUs, not even %s", total, not[0])
	case len(not) == 0:
		return fmt.Sprintf("fits all %d GPUs, down to %s", total, fits[0])
	}
	return fmt.Sprintf("fits %d of %d GPUs: %s; not %s", len(fits), total, list(fits, 3), list(not, 2))
}

func bytesCell(n int64) string {
	switch {
	case n <= 0:
		return "—"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// seedNote says how wide the summary's intervals are for the fewest
// seeds a summary row has (Student's t at 95%), or that one seed gives
// none.
func (p *page) seedNote() string {
	fewest := 0
	for _, s := range p.t.Summaries {
		for _, r := range s.Rows {
			if r.Best != nil && len(r.Best.Seeds) >= 2 && (fewest == 0 || len(r.Best.Seeds) < fewest) {
				fewest = len(r.Best.Seeds)
			}
		}
	}
	if fewest == 0 {
		return " Every configuration here ran on one seed: there is no spread over seeds, so no ± or interval."
	}
	q := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(fewest - 1)}.Quantile(1 - (1-aggregate.Confidence)/2)
	if q < 3 {
		return ""
	}
	return fmt.Sprintf(" With few seeds the 95%% interval is wide (t = %.1f for %d seeds) and can pass 100%%.", q, fewest)
}
