package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// tables is everything a report shows, computed from the results alone
// (and inputs): the aggregation layer's output.
type tables struct {
	Tasks      []taskKey
	Groups     []*group
	Summaries  []taskSummary
	Rank       []methodCurve // test accuracy against rank
	Length     []methodCurve // test accuracy against prompt length
	DataSize   []methodCurve // learning curves
	Memory     []frontier
	Params     []frontier
	Throughput []throughputRow
	// Measured is each summary row's measured and accounted memory;
	// Projected the summary configurations projected onto large models.
	Measured  []memoryRow
	Projected []projectedConfig
	Repro     repro
	// ZeroShot is the zero-shot control of each task, kept apart from the
	// groups: it trains on no data size, so no curve or front holds it.
	ZeroShot map[taskKey]*group
	// Tests are the paired tests at every task and data size.
	Tests []sizeTests
	// MaxEval lists the caps on evaluated examples the results were run
	// with (0: whole splits).
	MaxEval []int
	// Epochs is the cost per epoch at every task and data size where a
	// configuration recorded two epochs or more; empty when none did.
	Epochs []epochTable
	// Augmentation compares augmented configurations with the plain ones;
	// nil when no trial was augmented. Every other table holds plain
	// configurations only (Groups), so that choosing "the" configuration
	// of a method never picks one trained on more data than its size says.
	Augmentation *augmentation
}

// untrained tells whether method is the control that trains nothing
// (zero-shot): it has no data size, so reports keep it apart from the
// groups.
func untrained(method string) bool { return display.Declared(method).Role == display.Untrained }

// tabulate computes every table and series of a report.
func tabulate(results []*trial.Result, in inputs) *tables {
	all := groupResults(results)
	zs := map[taskKey]*group{}
	var augmented []*group
	g := filter(all, func(g *group) bool {
		switch {
		case g.Augment != "":
			augmented = append(augmented, g)
			return false
		case untrained(g.Method):
			zs[g.Key()] = g
			return false
		}
		return true
	})
	tests := significance(g, zs, in)
	sums := summaries(g, zs, tests, in)
	return &tables{
		ZeroShot:     zs,
		Tests:        tests,
		MaxEval:      maxEvals(all),
		Tasks:        taskKeys(g),
		Groups:       g,
		Summaries:    sums,
		Rank:         paramSeries(g, sums, "rank"),
		Length:       paramSeries(g, sums, "length"),
		DataSize:     dataSizeSeries(g, in),
		Memory:       efficiency(g, sums, costMemory),
		Params:       efficiency(g, sums, costParams),
		Throughput:   throughput(sums),
		Measured:     memoryRows(sums),
		Projected:    projections(sums),
		Repro:        reproducibility(results),
		Epochs:       epochTables(g),
		Augmentation: augmentations(g, augmented, in),
	}
}

func maxEvals(groups []*group) []int {
	seen := map[int]bool{}
	var out []int
	for _, g := range groups {
		if n := g.Train.MaxEval; !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// Options are a report's settings.
type Options struct {
	// Out is the directory for README.md and its figures; default
	// DIR/report.
	Out string
	// Spec is the sweep spec file to show in the reproducibility block;
	// empty for none.
	Spec string
	// Command is the command line that rebuilds the report; by default it
	// is made from the directory and options.
	Command string
	// ParityMargin is the equivalence margin a parity verdict needs, in
	// accuracy (0 for DefaultParityMargin); Primary are the comparisons
	// the sweep spec declares as a family of their own (method names).
	ParityMargin float64
	Primary      [][2]string
}

// Build reads the results under dir (dir/trials/*.json), and writes
// OUT/README.md with its figures beside it, the full tables in
// OUT/APPENDIX.md and the interactive viewer (OUT/index.html), each file
// atomically; it
// returns the README's path. Figure files of an earlier report in OUT that
// this one no longer draws are removed.
func Build(dir string, opt Options) (string, error) {
	results, err := trial.ReadAll(dir)
	if err != nil {
		return "", err
	}
	if len(results) == 0 {
		return "", fmt.Errorf("reports: no trial results in %s", filepath.Join(dir, "trials"))
	}
	out := opt.Out
	if out == "" {
		out = filepath.Join(dir, "report")
	}
	var spec []byte
	if opt.Spec != "" {
		if spec, err = os.ReadFile(opt.Spec); err != nil {
			return "", fmt.Errorf("reports: sweep spec: %w", err)
		}
	}
	in, notes := taskInputs(results)
	in.Margin, in.Primary = opt.ParityMargin, opt.Primary
	t := tabulate(results, in)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	cmd := opt.Command
	if cmd == "" {
		cmd = rebuildCommand(dir, opt)
	}
	ws, err := readEdgeWorkloads(dir)
	if err != nil {
		return "", err
	}
	page := &page{t: t, in: in, nm: newNaming(t.Tasks), dir: dir, spec: spec, specPath: opt.Spec, command: cmd, notes: notes, edge: ws}
	md, appendix, figs, err := page.render()
	if err != nil {
		return "", err
	}
	keep := map[string]bool{}
	for _, f := range figs {
		if err := f.write(out); err != nil {
			return "", err
		}
		for _, name := range f.Files() {
			keep[name] = true
		}
	}
	readme := filepath.Join(out, "README.md")
	if err := writeFile(readme, []byte(md)); err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(out, AppendixFile), []byte(appendix)); err != nil {
		return "", err
	}
	html, err := viewer("peftbench: "+filepath.Base(filepath.Clean(dir)), results, in, t)
	if err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(out, ViewerFile), html); err != nil {
		return "", err
	}
	return readme, removeStale(out, keep)
}

// taskInputs looks up the recorded baselines, the training split sizes
// and the majority class's per-example test outcomes of the results'
// tasks; notes say what could not be found.
func taskInputs(results []*trial.Result) (inputs, []string) {
	in := inputs{Baselines: map[string]tasks.Baseline{}, TrainSizes: map[string]int{}, Majority: map[string]trial.Outcomes{}}
	var notes []string
	recorded, err := tasks.RecordedBaselines()
	if err != nil {
		notes = append(notes, "baselines unavailable: "+err.Error())
	}
	seen := map[string]bool{}
	for _, r := range results {
		name := r.Spec.Task
		if seen[name] {
			continue
		}
		seen[name] = true
		if b, ok := recorded[name]; ok {
			in.Baselines[name] = b
		}
		t, err := tasks.Load(name)
		var train []tasks.Example
		if err == nil {
			train, err = t.Split("train")
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("task %s: not readable here (%v): data size \"all\" is drawn right of the largest size and no majority-class control is tested", name, err))
			continue
		}
		in.TrainSizes[name] = len(train)
		if in.Majority[name], err = majorityOutcomes(t); err != nil {
			notes = append(notes, fmt.Sprintf("task %s: no majority-class control (%v)", name, err))
			delete(in.Majority, name)
		}
	}
	sort.Strings(notes)
	return in, notes
}

// rebuildCommand is the command line that writes the same report again.
func rebuildCommand(dir string, opt Options) string {
	args := []string{"go", "run", "./harness", "report", shellQuote(dir)}
	if opt.Out != "" && filepath.Clean(opt.Out) != filepath.Join(dir, "report") {
		args = append(args, "--out", shellQuote(opt.Out))
	}
	if opt.Spec != "" {
		args = append(args, "--spec", shellQuote(opt.Spec))
	}
	return strings.Join(args, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=+-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// figureFile matches the figure files a report writes.
var figureFile = regexp.MustCompile(`^fig-[a-z0-9-]+\.(png|svg)$`)

// removeStale deletes figure files in dir that the report did not write.
func removeStale(dir string, keep map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || keep[e.Name()] || !figureFile.MatchString(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
