package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/peftbench/peftbench/run"
	"github.com/peftbench/peftbench/sweep"
	"github.com/peftbench/peftbench/trial"
	"github.com/spf13/cobra"
)

func sweepCmd() *cobra.Command {
	var (
		out, shard  string
		dev         string
		workers     int
		shardCount  int
		dryRun      bool
		retryFailed bool
		adapters    bool
	)
	cmd := &cobra.Command{
		Use:   "sweep SPEC.yaml",
		Short: "Run every trial of a sweep spec, resumably, each in its own process",
		Long: `Expand a sweep spec (see sweeps/ and README.md) into trials and run those
without a result yet, --workers child processes at a time. Each result is
written atomically to OUT/trials/<id>.json, where <id> is a hash of the
trial's spec; rerunning the same spec skips what is done, so a killed sweep
loses at most the trials in flight. A failing trial is recorded with its
error and last log lines, and the sweep goes on; it exits 3 when any trial
of the spec failed, 2 when the spec does not load (README, "Exit codes").

Shards: --shard i/n runs only the trials at positions i, i+n, ... of the
spec's expansion. Without --shard, a task of a Slurm job array takes its
shard from SLURM_ARRAY_TASK_ID (with SLURM_ARRAY_TASK_COUNT, or the array's
SLURM_ARRAY_TASK_MIN/MAX/STEP), and a pod of a Kubernetes Indexed Job from
JOB_COMPLETION_INDEX, with the count from --shard-count or PEFTBENCH_SHARDS.
Shards may share one results folder (on a shared file system) or write
their own.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			spec, err := loadSpec(args[0], &out, dev)
			if err != nil {
				return err
			}
			sh, err := chooseShard(shard, shardCount)
			if err != nil {
				return err
			}
			if adapters { // the trial processes inherit it
				if err := os.Setenv(run.AdaptersEnv, filepath.Join(out, "adapters")); err != nil {
					return err
				}
			}
			return runSweep(spec, out, workers, sh, dryRun, retryFailed)
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "output directory (default results/<spec name>)")
	f.IntVar(&workers, "workers", 1, "trials run at once, each in its own process")
	f.StringVar(&dev, "device", "", deviceUsage+" (default: the spec's device:, else auto)")
	f.BoolVar(&dryRun, "dry-run", false, "print the trial list and its size, and check each trial as it will check itself (model, task, method and settings, adapter export, projection), training nothing")
	f.BoolVar(&retryFailed, "retry-failed", false, "rerun trials whose stored result is a failure")
	f.BoolVar(&adapters, "save-adapters", false, "write each trained adapter in Hugging Face PEFT's format to OUT/adapters/<trial id>/ (LoRA, DoRA, VeRA, LN tuning, IA3, prompt tuning)")
	f.StringVar(&shard, "shard", "", "run only shard i of n (\"i/n\", 0-based), e.g. one per machine (default: from Slurm's or Kubernetes' array variables, else the whole sweep)")
	f.IntVar(&shardCount, "shard-count", 0, "number of shards when the scheduler's task number is the shard's (JOB_COMPLETION_INDEX, or SLURM_ARRAY_TASK_ID as harness slurm submits it); default PEFTBENCH_SHARDS for Kubernetes, the array's size for Slurm")
	return cmd
}

func statusCmd() *cobra.Command {
	var (
		out, dev    string
		shards      int
		failMissing bool
	)
	cmd := &cobra.Command{
		Use:   "status SPEC.yaml",
		Short: "Show a sweep's done, failed and missing trials across its shards, and the time left",
		Long: `Read OUT/trials for the trials of a sweep spec and count those done,
failed and missing, per shard with --shards n (as --shard i/n, Slurm's or
Kubernetes' array would split them), name the sweeps running there now
(from the folder's locks), and estimate the trial time left from the wall
times of the finished trials of each method at each data size.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			spec, err := loadSpec(args[0], &out, dev)
			if err != nil {
				return err
			}
			fmt.Printf("sweep %s in %s: ", spec.Name, out)
			plan := spec.Plan(sweep.ResultsIn(out))
			p := sweep.Status(plan.All(), out, shards)
			p.Write(os.Stdout)
			writeTuning(os.Stdout, plan)
			if failMissing && p.Missing+plan.Waiting > 0 {
				return fmt.Errorf("%d of %d trials have no result yet", p.Missing+plan.Waiting, p.Total+plan.Waiting)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "results directory (default results/<spec name>)")
	cmd.Flags().StringVar(&dev, "device", "", "the device the sweep was run with (its trials' ids depend on it)")
	cmd.Flags().IntVar(&shards, "shards", 0, "count per shard of n shards")
	cmd.Flags().BoolVar(&failMissing, "fail-missing", false, "exit non-zero while any trial has no result (to wait on)")
	return cmd
}

// loadSpec loads a sweep spec and, when *out is empty, sets it to the
// spec's default results folder: results/<spec name>, as harness k8s
// mounts it (so specs that share a name, like the two llm2llm ones, share
// a folder). A spec that does not load is a usage error.
func loadSpec(path string, out *string, dev string) (*sweep.Spec, error) {
	spec, err := sweep.Load(path)
	if err != nil {
		return nil, usageErr(err)
	}
	if dev != "" { // --device over the spec's device:
		if spec.Device, err = sweep.CheckDevice(dev); err != nil {
			return nil, usageErr(fmt.Errorf("--device: %w", err))
		}
	}
	if *out == "" {
		name := spec.Name
		if name == "" { // a spec without a name: its file's
			name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		*out = filepath.Join("results", name)
	}
	return spec, nil
}

// deviceUsage describes --device.
const deviceUsage = "where trials train and evaluate: cpu, cuda, opencl or auto (CUDA when a driver and a GPU are found, else the CPU)"

// chooseShard is --shard when given, else the shard a scheduler's
// environment gives, else the whole sweep (Shard{N: 1}).
func chooseShard(flag string, count int) (sweep.Shard, error) {
	if flag != "" {
		s, err := sweep.ParseShard(flag)
		if err != nil {
			return s, usageErr(fmt.Errorf("--shard: %w", err))
		}
		s.From = "--shard"
		return s, nil
	}
	s, ok, err := sweep.ShardFromEnv(os.Getenv, count)
	if err != nil || !ok {
		return sweep.Shard{N: 1}, err
	}
	fmt.Fprintf(os.Stderr, "sweep: shard %s from %s\n", s, s.From)
	return s, nil
}

func runSweep(spec *sweep.Spec, out string, workers int, shard sweep.Shard, dryRun, retryFailed bool) error {
	opt := sweep.Options{Out: out, Workers: workers, RetryFailed: retryFailed, Progress: os.Stderr, Shard: shard.I, Shards: shard.N}
	plan := spec.Plan(sweep.ResultsIn(out))
	if dryRun {
		all := plan.All()
		mine := sweep.ShardOf(all, shard.I, shard.N)
		for _, t := range mine {
			done := ""
			if r, err := trial.ReadResult(trial.Path(out, t.ID())); err == nil {
				done = " [" + r.Status + "]"
			}
			fmt.Printf("%s  %s%s\n", t.ID(), t.Label(), done)
		}
		if len(mine) < len(all) {
			fmt.Printf("%d trials in shard %s of %d trials\n", len(mine), shard, len(all))
		} else {
			fmt.Printf("%d trials\n", len(all))
		}
		writeTuning(os.Stdout, plan)
		return checkTrials(mine)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	opt.Trial = []string{exe, "trial"}
	sum, plan, err := sweep.RunSpec(spec, opt, func(line string) { fmt.Fprintf(os.Stderr, "sweep %s: %s\n", spec.Name, line) })
	if err != nil {
		return err
	}
	writeTuning(os.Stderr, plan)
	var problems []string
	if sum.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d trials failed: %s", sum.Failed, strings.Join(sum.FailedIDs, ", ")))
	}
	if n := len(plan.Untrained); n > 0 {
		problems = append(problems, fmt.Sprintf("%d configurations had no learning rate to train at", n))
	}
	if len(problems) > 0 {
		return trialsFailedErr(errors.New(strings.Join(problems, "; ")))
	}
	return nil
}

// checkTrials runs, without training, what each trial checks
// (run.Check), once per trial up to its seed, and fails naming the
// trials that would fail.
func checkTrials(ts []trial.Spec) error {
	type verdict struct {
		notes []string
		err   error
	}
	seen := map[string]verdict{}
	var failed []string
	for _, t := range ts {
		key := t
		key.Seed = 0
		k := key.ID()
		v, ok := seen[k]
		if !ok {
			v.notes, v.err = run.Check(t)
			seen[k] = v
			for _, n := range v.notes {
				fmt.Printf("note: %s: %s\n", t.Label(), n)
			}
		}
		if v.err != nil {
			failed = append(failed, t.ID())
			fmt.Printf("would fail: %s  %s: %v\n", t.ID(), t.Label(), v.err)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d trials would fail: %s", len(failed), len(ts), strings.Join(failed, ", "))
	}
	fmt.Printf("checked: every trial loads its model and task and attaches its method (%d distinct configurations)\n", len(seen))
	return nil
}

// writeTuning says what the tuning stage has chosen so far, and what waits
// on it.
func writeTuning(w io.Writer, plan sweep.Plan) {
	for _, c := range plan.Chosen {
		fmt.Fprintf(w, "tuned %s\n", c)
	}
	for _, c := range plan.Untrained {
		fmt.Fprintf(w, "not run: %s\n", c)
	}
	if plan.Waiting > 0 {
		fmt.Fprintf(w, "%d more trials wait on the tuning stage to choose their learning rate\n", plan.Waiting)
	}
}

func trialCmd() *cobra.Command {
	var out, dev string
	cmd := &cobra.Command{
		Use:   "trial [SPEC.json]",
		Short: "Run one trial from its JSON spec (standard input when no file) and write its result",
		Long: `Run one trial in this process: fine-tune, select on validation where the
spec says so, evaluate on test, and write OUT/trials/<id>.json atomically.
Sweeps start one of these per trial; it is also the way to rerun a single
trial by hand from a result file (its "spec" is taken). A spec's task_hash and
model_hash (content hashes a sweep records) must match the task's and the
model's files as they are now, or the trial fails without running: its
result would be filed under data it was not trained on. Exits 3 when
the trial failed (the failed result is still written), 2 when the spec has
an unknown field or names no model, task or method.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var data []byte
			var err error
			if len(args) == 1 && args[0] != "-" {
				data, err = os.ReadFile(args[0])
			} else {
				data, err = io.ReadAll(os.Stdin)
			}
			if err != nil {
				return err
			}
			name := "standard input"
			if len(args) == 1 && args[0] != "-" {
				name = args[0]
			}
			spec, err := parseTrialSpec(name, data)
			if err != nil {
				return usageErr(err)
			}
			if dev != "" {
				if spec.Device, err = sweep.CheckDevice(dev); err != nil {
					return usageErr(fmt.Errorf("--device: %w", err))
				}
			}
			r := runTrial(spec)
			if err := r.Write(out); err != nil {
				return err
			}
			if r.Status != trial.Success {
				return trialsFailedErr(fmt.Errorf("trial %s failed: %s", r.ID, r.Error))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "results", "results directory: the result goes to OUT/trials/<id>.json")
	cmd.Flags().StringVar(&dev, "device", "", deviceUsage+" (default: the spec's device, else auto; another device is another trial)")
	return cmd
}

// parseTrialSpec reads a trial spec, or the spec of a result file (a JSON
// object with "id" and "spec"), refusing unknown fields and a spec that
// names no model, task or method: decoding a result file as a spec would
// otherwise give an empty spec without a word.
func parseTrialSpec(name string, data []byte) (trial.Spec, error) {
	var spec trial.Spec
	var wrapper struct {
		ID   string          `json:"id"`
		Spec json.RawMessage `json:"spec"`
	}
	if json.Unmarshal(data, &wrapper) == nil && wrapper.ID != "" && len(wrapper.Spec) > 0 {
		data = wrapper.Spec // a result file: rerun its spec
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, fmt.Errorf("trial spec %s: %w", name, err)
	}
	var missing []string
	for _, f := range []struct{ field, v string }{{"model", spec.Model}, {"task", spec.Task}, {"method", spec.Method}} {
		if f.v == "" {
			missing = append(missing, f.field)
		}
	}
	if len(missing) > 0 {
		return spec, fmt.Errorf("trial spec %s: no %s: a trial spec names at least its model, task and method", name, strings.Join(missing, ", "))
	}
	return spec, nil
}

// runTrial runs a trial in this process, its progress on standard error.
func runTrial(spec trial.Spec) *trial.Result {
	return run.Trial(spec, func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) })
}
