package check

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/trial/aggregate"
)

// labelRows names each row by task, name and data size, with the model
// when the rows have more than one.
func labelRows(rows []Row) {
	models := map[string]bool{}
	for _, r := range rows {
		models[r.Key.Model] = true
	}
	for i := range rows {
		k := rows[i].Key
		size := "all"
		if k.DataSize > 0 {
			size = strconv.Itoa(k.DataSize)
		}
		rows[i].Label = fmt.Sprintf("%s/%s n=%s", k.Task, k.Name, size)
		if len(models) > 1 {
			rows[i].Label = k.Model + " " + rows[i].Label
		}
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Cells of the table and the summary.

func accCell(c *Config) string {
	switch {
	case c == nil:
		return "—"
	case c.Accuracy.N == 0:
		return "no successful seed"
	}
	return fmt.Sprintf("%.3f ± %.3f (n=%d)", c.Accuracy.Mean, c.Accuracy.Std, c.Accuracy.N)
}

// deltaCell is the run's accuracy minus the baseline's in points, with
// the paired interval and Holm-adjusted p-value where there is one.
func deltaCell(r Row) string {
	if !r.AccCompared {
		return "—"
	}
	if r.Paired == nil {
		return fmt.Sprintf("%+.1f pts (means only)", -100*r.AccDrop)
	}
	c := r.Paired
	return fmt.Sprintf("%+.1f pts %s, p %s", 100*c.Diff, aggregate.Interval(*c), aggregate.PText(r.AccP))
}

func lossCell(r Row) string {
	one := func(c *Config) string {
		if c == nil || c.TrainLoss == 0 {
			return "—"
		}
		return fmt.Sprintf("%.4g", c.TrainLoss)
	}
	s := one(r.Old) + " → " + one(r.New)
	if r.LossRatio > 0 {
		s += fmt.Sprintf(" (%.2f×)", r.LossRatio)
	}
	return s
}

func throughputOf(c *Config, basis string) float64 {
	if basis == Normalized {
		return c.NormalizedThroughput
	}
	return c.TokensPerSec
}

func unit(basis string) string {
	if basis == Normalized {
		return "tok/GFLOP"
	}
	return "tok/s"
}

func throughputCell(r Row) string {
	one := func(c *Config) string {
		if c == nil || c.Accuracy.N == 0 {
			return "—"
		}
		return fmt.Sprintf("%.4g %s", throughputOf(c, c.Basis()), unit(c.Basis()))
	}
	if r.ThroughputRatio == 0 {
		if r.Old == nil || r.New == nil {
			return one(r.Old) + " → " + one(r.New)
		}
		return "—"
	}
	b := r.ThroughputBasis
	s := fmt.Sprintf("%.4g → %.4g %s (%.2f×)", throughputOf(r.Old, b), throughputOf(r.New, b), unit(b), r.ThroughputRatio)
	if b == Raw {
		s += " raw"
	}
	return s
}

func memoryCell(r Row) string {
	one := func(c *Config) string {
		if c == nil || c.PeakMemoryBytes == 0 {
			return "—"
		}
		return aggregate.MiB(float64(c.PeakMemoryBytes))
	}
	s := one(r.Old) + " → " + one(r.New) + " MiB"
	if r.MemoryRatio > 0 {
		s += fmt.Sprintf(" (%.2f×)", r.MemoryRatio)
	}
	return s
}

var header = []any{"configuration", "verdict", "accuracy (baseline)", "accuracy (run)", "Δ accuracy, paired", "final loss", "throughput", "peak memory"}

func cells(r Row) []string {
	return []string{r.Label, r.Verdict(), accCell(r.Old), accCell(r.New), deltaCell(r), lossCell(r), throughputCell(r), memoryCell(r)}
}

// Counts is a one-line tally: "12 configurations: 10 ok, 1 regression,
// 1 missing, 0 new".
func (r Report) Counts() string {
	return fmt.Sprintf("%d configurations: %d ok, %d regression, %d missing, %d new",
		len(r.Rows), len(r.rows(OK)), len(r.Regressions()), len(r.Missing()), len(r.New()))
}

// WriteTable prints what moved: the rows whose values changed beyond
// noise and every regression, missing or new configuration; then the
// tally, the notes and the verdict.
func (r Report) WriteTable(w io.Writer) error {
	moved := r.Moved()
	if len(moved) == 0 {
		fmt.Fprintf(w, "Nothing moved beyond noise.\n")
	} else {
		t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
		t.Header(header...)
		for _, row := range moved {
			c := cells(row)
			args := make([]any, len(c))
			for i, s := range c {
				args[i] = s
			}
			if err := t.Append(args...); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, r.Counts())
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			fmt.Fprintf(w, "note: %s: %s\n", row.Label, n)
		}
	}
	_, err := fmt.Fprintln(w, r.verdictLine())
	return err
}

func (r Report) verdictLine() string {
	if err := r.Err(); err != nil {
		return "FAIL: " + strings.TrimPrefix(err.Error(), "check failed: ")
	}
	return "PASS"
}

// Markdown is the summary: inputs, tolerances, regressions and notes, and
// every configuration with its baseline and run values.
func (r Report) Markdown() []byte {
	var b bytes.Buffer
	result := "passed"
	if r.Failed() {
		result = "FAILED"
	}
	fmt.Fprintf(&b, "# Regression check: %s\n\n", result)
	fmt.Fprintf(&b, "| | baseline | run |\n|---|---|---|\n")
	row := func(name, a, c string) { fmt.Fprintf(&b, "| %s | %s | %s |\n", name, mdCell(a), mdCell(c)) }
	row("source", code(r.BaselineFile), code(r.RunDir))
	row("time", "created "+r.Baseline.Created.Format("2006-01-02 15:04 MST"), "checked "+r.Run.Created.Format("2006-01-02 15:04 MST"))
	row("code version", r.Baseline.CodeVersion, r.Run.CodeVersion)
	row("machine", r.Baseline.Machine, r.Run.Machine)
	row("trials (failed)", fmt.Sprintf("%d (%d)", r.Baseline.Trials, r.Baseline.FailedTrials), fmt.Sprintf("%d (%d)", r.Run.Trials, r.Run.FailedTrials))
	row("throughput", r.Baseline.Throughput, r.Run.Throughput)

	t := r.Tolerances
	missing := "warning"
	if t.FailMissing {
		missing = "failure"
	}
	fmt.Fprintf(&b, "\nTolerances: a setup changed under the same name is a regression; an accuracy drop is a regression when the paired "+
		"test over the test examples both sides scored (seeds combined, Holm-corrected over the check) finds it significant at %g and it exceeds %g; "+
		"a final training loss above %g× the baseline's + %g, throughput below %g× the baseline and peak memory above %g× it are regressions; "+
		"a failed trial is a regression; a missing configuration is a %s.\n\n", stats.Alpha, t.AccFloor, t.LossRatio, LossSlack, t.ThroughputRatio, t.MemoryRatio, missing)
	fmt.Fprintf(&b, "%s.\n", r.Counts())

	if reg := r.Regressions(); len(reg) > 0 {
		fmt.Fprintf(&b, "\n## Regressions\n\n")
		for _, row := range reg {
			fmt.Fprintf(&b, "- **%s**: %s\n", mdText(row.Label), mdText(explain(row, t)))
		}
	}
	var notes []string
	notes = append(notes, r.Notes...)
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			notes = append(notes, row.Label+": "+n)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, "\n## Notes\n\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", mdText(n))
		}
	}
	fmt.Fprintf(&b, "\n## Configurations\n\n")
	var hs []string
	for _, h := range header {
		hs = append(hs, h.(string))
	}
	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(hs, " | "), strings.Repeat("---|", len(hs)))
	for _, row := range r.Rows {
		c := cells(row)
		for i := range c {
			c[i] = mdCell(c[i])
		}
		if row.Status == Regression {
			c[1] = "**" + c[1] + "**"
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(c, " | "))
	}
	return b.Bytes()
}

// explain says in words why a row regressed.
func explain(r Row, t Tolerances) string {
	var out []string
	for _, reason := range r.Reasons {
		switch reason {
		case ReasonChanged:
			out = append(out, "run with another setup under the same name ("+strings.Join(r.Changes, "; ")+")")
		case ReasonAccuracy:
			s := fmt.Sprintf("accuracy %.3f → %.3f, a drop of %.3f beyond the tolerated %.3f", r.Old.Accuracy.Mean, r.New.Accuracy.Mean, r.AccDrop, t.AccFloor)
			if r.Paired != nil {
				s += fmt.Sprintf(", significant over %d paired examples (%s)", r.Paired.N, deltaCell(r))
			}
			out = append(out, s)
		case ReasonLoss:
			out = append(out, fmt.Sprintf("final training loss %s, above %g× + %g", lossCell(r), t.LossRatio, LossSlack))
		case ReasonThroughput:
			out = append(out, "throughput "+throughputCell(r))
		case ReasonMemory:
			out = append(out, "peak memory "+memoryCell(r))
		case ReasonFailed:
			out = append(out, fmt.Sprintf("%d trial(s) failed", len(r.New.Failed)))
		}
	}
	return strings.Join(out, "; ")
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func mdText(s string) string {
	return strings.NewReplacer("*", `\*`, "_", `\_`, "<", "&lt;", ">", "&gt;").Replace(s)
}

func mdCell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
