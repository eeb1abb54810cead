package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/peftbench/peftbench/check"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/spf13/cobra"
)

func checkCmd() *cobra.Command {
	var baseline, summary string
	tol := check.DefaultTolerances()
	cmd := &cobra.Command{
		Use:   "check --baseline FILE DIR",
		Short: "Check a sweep's results against a baseline; exit 4 on a regression",
		Long: `Compare the results under DIR/trials with a baseline made by 'harness
baseline', configuration by configuration: model, task, the sweep spec's
name for the configuration (the method and the grid axes that take more
than one value, e.g. "lora rank=4") and data size; seeds are combined.

A configuration regresses when
  - it was run with another setup under the same name: a hyper-parameter,
    training setting, method or the task's or model's data changed (a
    method's default changed in code shows here);
  - its test accuracy is lower in a paired test over the test examples both
    sides scored (seeds combined; McNemar for one seed a side), significant
    after Holm's correction over the whole check, by more than --acc-floor;
  - its mean final training loss exceeds --loss-ratio × the baseline's
    + 0.05;
  - its training throughput falls below --throughput-ratio × the baseline.
    Throughput is tokens/s divided by the calibration GFLOP/s measured in
    the trial's process where both sides record one, which makes machines
    comparable; otherwise raw tokens/s, and the output says so;
  - its peak memory grows above --memory-ratio × the baseline;
  - any of its trials in the run failed.
Baseline configurations absent from the run are reported as missing (a
warning unless --fail-missing); configurations new in the run are listed
and not checked.

The table on standard output shows what moved beyond noise and every
regression; the Markdown summary (default DIR/check.md) lists every
configuration. The check exits 4 when it fails, 2 on a bad command line.`,
		Example: `  harness sweep sweeps/ci.yaml
  harness check --baseline results/baselines/ci.json results/ci
  harness check --baseline results/baselines/ci.json results/ci --acc-floor 0.03 --fail-missing`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			dir := args[0]
			if err := tol.Validate(); err != nil {
				return usageErr(err)
			}
			b, err := check.ReadBaseline(baseline)
			if err != nil {
				return err
			}
			results, err := check.ReadTrials(dir)
			if err != nil {
				return err
			}
			rep := check.Compare(b, results, tol)
			rep.BaselineFile, rep.RunDir = baseline, dir
			if err := rep.WriteTable(os.Stdout); err != nil {
				return err
			}
			if summary == "" {
				summary = filepath.Join(dir, "check.md")
			}
			if err := os.MkdirAll(filepath.Dir(summary), 0o755); err != nil {
				return err
			}
			if err := atomicfile.Write(summary, rep.Markdown()); err != nil {
				return fmt.Errorf("summary %s: %w", summary, err)
			}
			fmt.Printf("summary written to %s\n", summary)
			return regressionErr(rep.Err())
		},
	}
	f := cmd.Flags()
	f.StringVar(&baseline, "baseline", "", "baseline file to check against (required), e.g. results/baselines/ci.json")
	f.StringVar(&summary, "summary", "", "Markdown summary to write (default DIR/check.md)")
	f.Float64Var(&tol.AccFloor, "acc-floor", tol.AccFloor, "accuracy drop always tolerated, even when significant")
	f.Float64Var(&tol.LossRatio, "loss-ratio", tol.LossRatio, "fail when the mean final training loss grows above this multiple of the baseline's (+0.05)")
	f.Float64Var(&tol.ThroughputRatio, "throughput-ratio", tol.ThroughputRatio, "fail when throughput falls below this fraction of the baseline's")
	f.Float64Var(&tol.MemoryRatio, "memory-ratio", tol.MemoryRatio, "fail when peak memory grows above this multiple of the baseline's")
	f.BoolVar(&tol.FailMissing, "fail-missing", false, "fail when a baseline configuration is missing from the run (default: warn)")
	_ = cmd.MarkFlagRequired("baseline")
	return cmd
}

func baselineCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "baseline DIR",
		Short: "Record a sweep's results as the baseline that 'harness check' compares against",
		Long: `Summarise the results under DIR/trials by configuration (everything in a
trial's spec but its seed) and write them as a baseline: per-seed test
accuracies with their mean, standard deviation and count, mean training
tokens/s, the machine-normalised throughput (tokens/s ÷ calibration GFLOP/s)
where the results record a calibration, and mean peak memory, with the code
version, machine, time and trial count. The file is written atomically.

Failed trials enter no statistic; they are listed in the baseline and
reported here. Commit the baseline beside the sweep spec it came from.`,
		Example: `  harness sweep sweeps/ci.yaml
  harness baseline results/ci                # writes results/baselines/ci.json
  harness baseline results/ci --out /tmp/ci.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			dir := args[0]
			results, err := check.ReadTrials(dir)
			if err != nil {
				return err
			}
			b, err := check.NewBaseline(results)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join("results", "baselines", filepath.Base(filepath.Clean(dir))+".json")
			}
			if err := b.Write(out); err != nil {
				return err
			}
			fmt.Printf("baseline %s: %d configurations from %d trials (%d failed); code %s; machine %s\n",
				out, len(b.Configs), b.Trials, b.FailedTrials, b.CodeVersion, b.Machine)
			if b.Throughput != check.Normalized {
				fmt.Printf("note: throughput is %s: some or all results carry no calibration_gflops, so raw tokens/s is stored and only comparable on this machine\n", b.Throughput)
			}
			for _, c := range b.Configs {
				for _, f := range c.Failed {
					fmt.Fprintf(os.Stderr, "warning: trial %s (%s/%s, seed %d) failed and is left out: %s\n", f.ID, c.Key.Task, c.Key.Name, f.Seed, f.Error)
				}
			}
			if skipped := b.FailedTrials - countFailed(b); skipped > 0 {
				fmt.Fprintf(os.Stderr, "warning: %d failed trial(s) belong to configurations with no successful trial, which the baseline leaves out\n", skipped)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "baseline file to write (default results/baselines/<basename of DIR>.json)")
	return cmd
}

func countFailed(b *check.Baseline) int {
	n := 0
	for _, c := range b.Configs {
		n += len(c.Failed)
	}
	return n
}
