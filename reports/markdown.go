package reports

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter/tw"
)

// page writes the report's Markdown and collects the figures it shows.
type page struct {
	t        *Tables
	in       Inputs
	nm       naming
	dir      string
	spec     []byte
	specPath string
	command  string
	notes    []string

	b    strings.Builder
	figs []*figure
}

// render returns the README and the figures it references.
func (p *page) render() (string, []*figure, error) {
	r := p.t.Repro
	p.line("# peftbench report: %s", filepath.Base(filepath.Clean(p.dir)))
	p.line("")
	methods := strings.Join(Methods(p.t.Groups), ", ")
	p.line("%s trials from `%s` (%d succeeded, %d failed) on %s; methods: %s.",
		thousands(float64(r.Trials)), p.dir, r.Succeeded, r.Failed, p.taskList(), orDash(methods))
	p.line("Accuracy is in percent: the mean over seeds ± the sample standard deviation, with a 95%% Student-t interval of the mean where there are two seeds or more.")
	p.line("")
	p.line("1. [Summary](#1-summary)")
	p.line("2. [LoRA rank](#2-lora-rank)")
	p.line("3. [Prompt length](#3-prompt-length)")
	p.line("4. [Dataset size](#4-dataset-size)")
	p.line("5. [Efficiency](#5-efficiency)")
	p.line("6. [Throughput](#6-throughput)")
	p.line("7. [Reproducibility](#7-reproducibility)")
	p.line("")
	for _, section := range []func() error{p.summary, p.rank, p.length, p.dataSize, p.efficiency, p.throughput, p.repro} {
		if err := section(); err != nil {
			return "", nil, err
		}
	}
	return p.b.String(), p.figs, nil
}

func (p *page) line(format string, args ...any) {
	fmt.Fprintf(&p.b, format, args...)
	p.b.WriteByte('\n')
}

func (p *page) table(header []string, rows [][]string, align []tw.Align) error {
	s, err := markdownTable(header, rows, align)
	if err != nil {
		return err
	}
	p.b.WriteString(s)
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
		return fmt.Sprintf("all (%s training examples)", thousands(float64(ex)))
	case n == 0:
		return "all training examples"
	}
	return thousands(float64(ex)) + " training examples"
}

// alignR right-aligns a numeric column.
const alignR = tw.AlignRight

func (p *page) summary() error {
	p.line("## 1. Summary")
	p.line("")
	if len(p.t.Summaries) == 0 {
		p.skipped("no trial succeeded.")
		return nil
	}
	p.line("Each method at its best configuration: among the configurations (hyper-parameters and learning rate) run at the task's largest data size, the one with the highest mean validation accuracy over seeds. Test accuracy is reported for that configuration only. With few seeds the 95%% interval is wide (t = 12.7 for two seeds) and can pass 100%%.")
	p.line("")
	header := []string{"method", "configuration", "lr", "data size", "seeds", "test acc. %", "95% CI", "valid acc. %",
		"trainable params", "% of model", "peak memory", "train tokens/s", "adapter file", "configs compared"}
	align := []tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR, alignR}
	for _, s := range p.t.Summaries {
		p.line("### %s", p.nm.name(s.TaskKey))
		p.line("")
		p.line("Data size: %s, the largest in the sweep for this task.", p.sizeText(s.Task, s.DataSize))
		p.line("")
		var rows [][]string
		onTest, otherSize := false, false
		for _, r := range s.Rows {
			g := r.Best
			method := r.Method
			if r.SelectedOn == OnTest {
				method += " †"
				onTest = true
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
			rows = append(rows, []string{method, orDash(ParamsLabel(g.MethodParams)), lrCell(g.Train.LR), size,
				strconv.Itoa(g.Test.N), accCell(g.Test), ciCell(g.Test), valid, thousands(float64(g.TrainableParams)),
				pctCell(r.TrainablePct), mibCell(g.PeakMemoryBytes), thousands(g.TokensPerSec.Mean), bytesCell(g.FileSize),
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

func (p *page) rank() error {
	p.line("## 2. LoRA rank")
	p.line("")
	if len(p.t.Rank) == 0 {
		p.skipped("no task has LoRA (or DoRA) trials at two or more ranks.")
		return nil
	}
	p.line("Test accuracy against rank, one line per task; at each rank the best configuration over the other hyper-parameters and the learning rate, chosen on validation accuracy, at the summary's data size. Error bars: standard deviation over seeds.")
	p.line("")
	return p.figure(rankFigure(p.t.Rank, p.nm))
}

func (p *page) length() error {
	p.line("## 3. Prompt length")
	p.line("")
	if len(p.t.Length) == 0 {
		p.skipped("no task has prompt- or prefix-tuning trials at two or more lengths.")
		return nil
	}
	p.line("Test accuracy against the number of virtual tokens (`length`) for prompt tuning and prefix tuning, chosen per length as for the rank. Error bars: standard deviation over seeds.")
	p.line("")
	return p.figure(lengthFigure(p.t.Length, p.nm))
}

func (p *page) dataSize() error {
	p.line("## 4. Dataset size")
	p.line("")
	if len(p.t.DataSize) == 0 {
		p.skipped("no method was run at two or more data sizes.")
		return nil
	}
	p.line("Learning curves: test accuracy against the number of training examples, for every method, at each size the best configuration chosen on validation accuracy. Error bars: standard deviation over seeds.")
	p.line("")
	for _, k := range p.t.Tasks {
		var ss []Series
		for _, s := range p.t.DataSize {
			if s.TaskKey == k {
				ss = append(ss, s)
			}
		}
		p.line("### %s", p.nm.name(k))
		p.line("")
		if len(ss) == 0 {
			p.skipped("no method was run on %s at two or more data sizes.", p.nm.name(k))
			continue
		}
		if err := p.figure(dataSizeFigure(k, ss, p.nm)); err != nil {
			return err
		}
	}
	return nil
}

func (p *page) efficiency() error {
	p.line("## 5. Efficiency")
	p.line("")
	if len(p.t.Memory) == 0 && len(p.t.Params) == 0 {
		p.skipped("no task has two or more configurations at its summary data size.")
		return nil
	}
	p.line("Every configuration at the summary's data size, by its mean test accuracy over seeds against peak memory and against trainable parameters. The Pareto front (dashed) joins the configurations that no other configuration matches or beats in accuracy at no more cost; its members are listed below each figure.")
	p.line("")
	for _, k := range p.t.Tasks {
		var fronts []Frontier
		for _, list := range [][]Frontier{p.t.Memory, p.t.Params} {
			for _, f := range list {
				if f.TaskKey == k {
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
			if f.Cost == CostParams {
				what = "trainable parameters"
			}
			p.line("Pareto front, accuracy against %s (%d of %d configurations, %s):", what, len(f.Front), len(f.Points), p.sizeText(k.Task, f.DataSize))
			p.line("")
			var rows [][]string
			for _, pt := range f.Front {
				g := pt.Group
				rows = append(rows, []string{g.Method, orDash(ParamsLabel(g.MethodParams)), lrCell(g.Train.LR),
					mibCell(g.PeakMemoryBytes), thousands(float64(g.TrainableParams)), accCell(g.Test)})
			}
			err := p.table([]string{"method", "configuration", "lr", "peak memory", "trainable params", "test acc. %"}, rows,
				[]tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR, alignR, alignR})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *page) throughput() error {
	p.line("## 6. Throughput")
	p.line("")
	var rows []ThroughputRow
	for _, r := range p.t.Throughput {
		if r.TokensPerSec.Mean > 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		p.skipped("no trial recorded its training throughput.")
		return nil
	}
	p.line("Training tokens per second of each method at its summary configuration, and its ratio to full fine-tuning on the same task. All trials of a report should come from one machine for these to compare (see [Reproducibility](#7-reproducibility)).")
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
		tps := thousands(r.TokensPerSec.Mean)
		if !math.IsNaN(r.TokensPerSec.Std) {
			tps += " ± " + thousands(r.TokensPerSec.Std)
		}
		cells = append(cells, []string{p.nm.name(r.TaskKey), r.Method, tps, ratio})
	}
	return p.table([]string{"task", "method", "train tokens/s", "ratio to full"}, cells, []tw.Align{tw.AlignLeft, tw.AlignLeft, alignR, alignR})
}

func (p *page) repro() error {
	r := p.t.Repro
	p.line("## 7. Reproducibility")
	p.line("")
	p.line("- Trials: %d (%d succeeded, %d failed), read from `%s`.", r.Trials, r.Succeeded, r.Failed, filepath.Join(p.dir, "trials"))
	p.line("- Code version: %s.", countList(r.Commits))
	p.line("- Machine: %s.", countList(r.Machines))
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
		p.b.WriteString(strings.TrimRight(string(p.spec), "\n"))
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
	return nil
}

// countList writes values with their trial counts: "a (3 trials), b (1 trial)".
func countList(cs []Count) string {
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

func accCell(s Stat) string {
	if s.N == 0 || math.IsNaN(s.Mean) {
		return "—"
	}
	if math.IsNaN(s.Std) {
		return fmt.Sprintf("%.1f", 100*s.Mean)
	}
	return fmt.Sprintf("%.1f ± %.1f", 100*s.Mean, 100*s.Std)
}

func ciCell(s Stat) string {
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
	return thousands(float64(n))
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
	return fmt.Sprintf("%.1f MiB", b/(1<<20))
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

// thousands rounds v and groups its digits: 12345.6 → "12,346".
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatInt(int64(math.Round(math.Abs(v))), 10)
	var b strings.Builder
	if v < 0 && math.Round(v) != 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
