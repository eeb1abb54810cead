package main

import (
	"fmt"
	"os"

	"github.com/peftbench/peftbench/reports"
	"github.com/peftbench/peftbench/sweep"
	"github.com/spf13/cobra"
)

func reportCmd() *cobra.Command {
	var out, spec string
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Write a Markdown report with figures from a sweep's results",
		Long: `Read every result under DIR/trials (as written by 'harness sweep --out DIR')
and write OUT/README.md, renderable on GitHub, with its figures beside it
(PNG for the page, SVG for papers), OUT/APPENDIX.md with the full tables
(sections 2, 7, 8 and the cost per epoch), and OUT/index.html, an interactive
viewer of the same results that works offline: a filterable, sortable
table of configurations, accuracy against a cost axis of your choice with
the Pareto front, and learning curves. The Markdown opens with the findings the paired
tests support, task by task, and says which comparisons are inconclusive;
then:

  1. a summary table per task: every method at its best configuration,
     chosen by mean validation accuracy over seeds at the task's largest
     data size, with test accuracy as mean ± standard deviation and a 95%
     Student-t interval, its paired test against the majority class
     (◦ marks a method not significantly above it), trainable parameters,
     peak memory, training tokens/s, adapter file size, the scratch and
     zero-shot controls and the majority and bag-of-words baselines;
  2. every paired test at every task and data size: methods, controls and
     the majority class against each other over the same test examples,
     seeds combined, each in its family (against the majority class,
     against full fine-tuning, full against scratch, the spec's report:
     primary pairs, the rest exploratory), Holm-corrected family by family;
  3. test accuracy against LoRA rank;
  4. test accuracy against prompt and prefix length;
  5. learning curves against the number of training examples;
  6. accuracy against peak Go heap and trainable parameters, with the
     Pareto front listed;
  7. memory: measured peaks next to the analytic account;
  8. memory projected to large models on GPUs, and whether it fits;
  9. training throughput per method, its ratio to full fine-tuning, MFU
     and tokens/s per calibrated GFLOP/s;
  10. a reproducibility block: the sweep spec (with --spec), code version,
     machine, BLAS, GPU, failed trials with their errors, and this command.

Figures without data (say, a sweep with one LoRA rank) are skipped with a
line saying so. Files are written atomically; rerun the command to rebuild
the report as trials finish.`,
		Example: `  harness sweep sweeps/full.yaml --out results/full
  harness report results/full --spec sweeps/full.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return writeReport(args[0], out, spec) },
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory for README.md and its figures (default DIR/report)")
	f.StringVar(&spec, "spec", "", "sweep spec file to include in the reproducibility block; its report: field (parity_margin, primary) applies")
	return cmd
}

// writeReport builds the report of the results under dir into out (default
// dir/report), with the sweep spec file when spec is not empty.
func writeReport(dir, out, spec string) error {
	opt := reports.Options{Out: out, Spec: spec}
	if spec != "" {
		r, err := sweep.LoadReportSettings(spec)
		if err != nil {
			return err
		}
		opt.ParityMargin, opt.Primary = r.ParityMargin, r.Primary
	}
	readme, err := reports.Build(dir, opt)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "report written to", readme)
	return nil
}
