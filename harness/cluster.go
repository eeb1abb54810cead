package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peftbench/peftbench/cluster"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/sweep"
	"github.com/spf13/cobra"
)

func slurmCmd() *cobra.Command {
	var (
		job    cluster.Job
		s      cluster.Slurm
		submit bool
		poll   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "slurm SPEC.yaml",
		Short: "Write Slurm job files that run a sweep's shards as a job array, then its report",
		Long: `Write OUT/slurm/shards.sbatch (a job array, one task per shard, each a
'harness sweep' that takes its shard from SLURM_ARRAY_TASK_ID),
OUT/slurm/report.sbatch (the report) and OUT/slurm/submit.sh, which
submits the array and then the report with --dependency=afterok on it.
The repository and OUT must be on a file system every node sees; the
tasks' logs go to OUT/slurm.

With --submit it submits them itself, only the shards that still have
trials without a result (so resubmitting after a failure runs only the
missing trials), follows the jobs with squeue until they end, reads each
task's final state (sacct, or scontrol where the cluster keeps no
accounting), prints every failed task with its log's last lines, cancels
the report if a shard failed, and exits non-zero if anything failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			spec, err := loadSpec(args[0], &job.Out, "")
			if err != nil {
				return err
			}
			if job.Dir, err = os.Getwd(); err != nil {
				return err
			}
			job.Name, job.Spec = spec.Name, args[0]
			files, err := s.Scripts(job)
			if err != nil {
				return err
			}
			dir := filepath.Join(job.Out, "slurm")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for name, text := range map[string]string{"shards.sbatch": files.Array, "report.sbatch": files.Report, "submit.sh": files.Submit} {
				if err := atomicfile.Write(filepath.Join(dir, name), []byte(text)); err != nil {
					return err
				}
			}
			script := filepath.Join(dir, "submit.sh")
			if err := os.Chmod(script, 0o755); err != nil {
				return err
			}
			if !submit {
				fmt.Printf("wrote %s/{shards.sbatch,report.sbatch,submit.sh}: %d shards; submit with %s\n", dir, job.Shards, script)
				return nil
			}
			return submitSlurm(spec, job, poll)
		},
	}
	f := cmd.Flags()
	f.StringVar(&job.Out, "out", "", "results directory (default results/<spec name>)")
	f.IntVar(&job.Shards, "shards", 4, "array tasks, one shard each")
	f.IntVar(&job.Workers, "workers", 1, "trials each task runs at once")
	f.StringVar(&job.Harness, "harness", "./run.sh harness", "command that runs the harness on a node, from the repository")
	f.StringVar(&s.Partition, "partition", "", "Slurm partition (default: the cluster's)")
	f.StringVar(&s.Time, "time", "", "time limit per task, e.g. 2:00:00 (default: the partition's)")
	f.IntVar(&s.CPUsPerTask, "cpus-per-task", 0, "CPUs per task (default: --workers)")
	f.StringVar(&s.Mem, "mem", "", "memory per task, e.g. 8G (default: the partition's)")
	f.BoolVar(&job.RetryFailed, "retry-failed", false, "rerun trials whose stored result is a failure")
	f.BoolVar(&submit, "submit", false, "submit the shards that have trials left and the report, follow them, exit non-zero if any failed")
	f.DurationVar(&poll, "poll", 15*time.Second, "with --submit, how often to ask the queue")
	return cmd
}

// submitSlurm submits the shards of job that still have trials to run
// (missing ones, and failed ones with --retry-failed) and the report,
// follows them, and reports every failed task with its log's tail.
func submitSlurm(spec *sweep.Spec, job cluster.Job, poll time.Duration) error {
	plan := spec.Plan(sweep.ResultsIn(job.Out))
	p := sweep.Status(plan.All(), job.Out, job.Shards)
	per := p.Shards
	if job.Shards == 1 {
		per = []sweep.Progress{p}
	}
	var shards []int
	toRun := p.Missing + plan.Waiting
	if job.RetryFailed {
		toRun += p.Failed
	}
	for i, sh := range per {
		// Trials waiting on the tuning stage may fall to any shard.
		if sh.Missing > 0 || plan.Waiting > 0 || (job.RetryFailed && sh.Failed > 0) {
			shards = append(shards, i)
		}
	}
	sub, err := cluster.Submit(cluster.Exec, job, shards)
	if err != nil {
		return err
	}
	fmt.Printf("slurm: %d of %d trials to run: array job %s (shards %v), report job %s\n",
		toRun, p.Total+plan.Waiting, sub.Array, shards, sub.Report)
	o, err := cluster.Follow(cluster.Exec, sub, poll, os.Stdout)
	if err != nil {
		return err
	}
	logTail := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			return "  (no log: " + err.Error() + ")"
		}
		return "  | " + strings.Join(sweep.Tail(string(b), 20), "\n  | ")
	}
	failed := o.Failed()
	for _, t := range failed {
		fmt.Printf("slurm: shard %d failed (%s, exit %s); the end of %s:\n%s\n", t.ID, t.State, t.ExitCode, job.ShardLog(t.ID), logTail(job.ShardLog(t.ID)))
	}
	if len(failed) > 0 {
		return trialsFailedErr(fmt.Errorf("%d of %d shards failed; the report job %s was cancelled; resubmit to run their missing trials", len(failed), len(o.Tasks), sub.Report))
	}
	if !o.Report.OK() {
		fmt.Printf("slurm: the report failed (%s, exit %s); the end of %s:\n%s\n", o.Report.State, o.Report.ExitCode, job.ReportLog(), logTail(job.ReportLog()))
		return fmt.Errorf("the report job %s failed", sub.Report)
	}
	fmt.Printf("slurm: every shard and the report completed; report in %s\n", filepath.Join(job.Out, "report"))
	return nil
}

func k8sCmd() *cobra.Command {
	var (
		job cluster.Job
		k   cluster.K8s
	)
	cmd := &cobra.Command{
		Use:   "k8s SPEC.yaml",
		Short: "Print Kubernetes Jobs that run a sweep's shards as an Indexed Job, then its report",
		Long: `Print two Kubernetes Jobs (kubectl apply -f -): an Indexed Job with one
completion index per shard, each pod a 'harness sweep' that takes its shard
from JOB_COMPLETION_INDEX and the count from --shard-count, with backoffLimitPerIndex
retries per shard; and a report Job that waits until 'harness status' finds
no trial missing, then writes the report. The image holds the repository
at --dir and the harness; every pod mounts the PersistentVolumeClaim
--claim at --mount, where --out lies.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			spec, err := sweep.Load(args[0])
			if err != nil {
				return err
			}
			job.Name, job.Spec = spec.Name, args[0]
			if job.Out == "" {
				job.Out = filepath.Join(k.MountPath, spec.Name)
			}
			b, err := k.Manifests(job)
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(b)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&k.Image, "image", "", "container image with the repository and the harness (required)")
	f.IntVar(&job.Shards, "shards", 4, "completion indexes, one shard each")
	f.IntVar(&job.Workers, "workers", 1, "trials each pod runs at once")
	f.StringVar(&job.Dir, "dir", "/peftbench", "the repository's path in the image")
	f.StringVar(&job.Harness, "harness", "harness", "command that runs the harness in the image")
	f.StringVar(&k.Claim, "claim", "peftbench-results", "PersistentVolumeClaim shared by every pod")
	f.StringVar(&k.MountPath, "mount", "/results", "where the claim is mounted")
	f.StringVar(&job.Out, "out", "", "results directory on the claim (default <mount>/<spec name>)")
	f.StringVar(&k.CPU, "cpu", "", "CPU request per pod, e.g. 2")
	f.StringVar(&k.Memory, "memory", "", "memory request per pod, e.g. 8Gi")
	f.Int32Var(&k.RetriesPerShard, "retries", 1, "retries of a failed shard (backoffLimitPerIndex)")
	_ = cmd.MarkFlagRequired("image")
	return cmd
}

func mergeCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "merge SRC... --out DST",
		Short: "Combine the results of shards that wrote into folders of their own",
		Long: `Copy every result under SRC/trials into DST/trials. A trial found twice
must have the same outcome (status, metrics, per-example outcomes, steps,
the memory account; times and measured memory may differ): where it does
not, DST keeps the first copy and merge names the trial and the fields
that differ, and exits non-zero.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			m, err := sweep.Merge(out, args)
			if err != nil {
				return err
			}
			fmt.Printf("merged into %s: %d copied, %d found again with the same outcome, %d differing\n", out, m.Copied, m.Same, len(m.Differ))
			for _, d := range m.Differ {
				fmt.Println(d)
			}
			if len(m.Differ) > 0 {
				return fmt.Errorf("%d trials differ between folders", len(m.Differ))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the merged results folder (required)")
	return cmd
}
