package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/peftbench/peftbench/export"
	"github.com/peftbench/peftbench/export/tensorboard"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/trial"
	"github.com/spf13/cobra"
)

func exportCmd() *cobra.Command {
	var out, format, tensorboardDir string
	cmd := &cobra.Command{
		Use:   "export DIR",
		Short: "Write a sweep's results as flat tables: one row per trial, one per configuration (CSV, JSON Lines, Parquet)",
		Long: `Read every result under DIR/trials and write three tables into OUT:

  trials.EXT          one row per trial, failed ones included: the spec's
                      fields (a param_<name> column per hyper-parameter),
                      metrics, memory measured and accounted, throughput and
                      the environment;
  configurations.EXT  one row per configuration (every setting but the seed)
                      with the report's aggregates over its seeds: test
                      accuracy's mean, standard deviation and 95% interval,
                      whether the report chose it for its method at its data
                      size, and its Holm-adjusted paired test against the
                      majority class;
  steps.EXT           one row per step of each trial's step log (step,
                      epoch, loss, learning rate, gradient norm, tokens/s):
                      the training curves, joined to trials by id.

Column names are HF PEFT method_comparison's where the meaning is the same
(model_id, task_name, peft_type, experiment_name, test_accuracy,
train_loss, num_trainable_params, file_size, train_time, total_time,
train_total_tokens), otherwise the result file's own. A missing value is an
empty CSV cell, a JSON null or a Parquet null. Files are written
atomically.

With --tensorboard TB, each trial with a step log also gets a TensorBoard
run under TB (task/configuration/n=size/seed=s-id): loss, learning rate,
gradient norm and tokens/s per step, the epoch losses, and the validation
and test accuracy at the last step.`,
		Example: `  harness export results/default --format parquet
  harness export results/default --tensorboard results/default/tensorboard
  python3 -c 'import pandas; print(pandas.read_csv("results/default/export/trials.csv").head())'`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			ext, ok := export.Formats[format]
			if !ok {
				return usageErr(fmt.Errorf("--format %q: want csv, jsonl or parquet", format))
			}
			dir := args[0]
			results, err := trial.ReadAll(dir)
			if err != nil {
				return err
			}
			if len(results) == 0 {
				return fmt.Errorf("export: no trial results in %s", filepath.Join(dir, "trials"))
			}
			if out == "" {
				out = filepath.Join(dir, "export")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			for _, t := range []*export.Table{export.Trials(results), export.Configurations(results), export.Steps(results)} {
				b, err := t.Encode(format)
				if err != nil {
					return err
				}
				path := filepath.Join(out, t.Name+ext)
				if err := atomicfile.Write(path, b); err != nil {
					return err
				}
				fmt.Printf("%s: %d rows, %d columns\n", path, t.Rows(), len(t.Columns))
			}
			if tensorboardDir != "" {
				n, err := tensorboard.Write(tensorboardDir, results)
				if err != nil {
					return err
				}
				fmt.Printf("%s: %d runs of %d trials (those with a step log); tensorboard --logdir %s\n", tensorboardDir, n, len(results), tensorboardDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory for the tables (default DIR/export)")
	cmd.Flags().StringVar(&format, "format", "csv", "csv, jsonl or parquet")
	cmd.Flags().StringVar(&tensorboardDir, "tensorboard", "", "also write each trial's training curves as TensorBoard event files under this directory, one run per trial (task/configuration/n=size/seed=s-id)")
	return cmd
}
