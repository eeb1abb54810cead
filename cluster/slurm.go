package cluster

import (
	"fmt"
	"strings"
)

// Slurm is a Slurm rendering of a job: what each array task asks for.
// Empty fields are left to the cluster's defaults.
type Slurm struct {
	Partition   string
	Time        string // --time, e.g. "2:00:00"
	CPUsPerTask int
	Mem         string // --mem, e.g. "8G"
}

// Files are a job's Slurm files: the array script (one task per shard),
// the report script, and a submit script that submits the array and then
// the report with --dependency=afterok on it, printing both job ids.
type Files struct {
	Array, Report, Submit string
}

// Scripts writes the job's files. Each array task runs the sweep, which
// takes its shard from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT;
// a resubmitted array skips every trial already done, so only a failed
// shard's missing trials run again.
func (s Slurm) Scripts(j Job) (Files, error) {
	if err := j.check(); err != nil {
		return Files{}, err
	}
	header := func(name, log string, extra ...string) string {
		var b strings.Builder
		b.WriteString("#!/bin/bash\n")
		fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", name)
		for _, e := range extra {
			fmt.Fprintf(&b, "#SBATCH %s\n", e)
		}
		if s.Partition != "" {
			fmt.Fprintf(&b, "#SBATCH --partition=%s\n", s.Partition)
		}
		if s.Time != "" {
			fmt.Fprintf(&b, "#SBATCH --time=%s\n", s.Time)
		}
		if s.Mem != "" {
			fmt.Fprintf(&b, "#SBATCH --mem=%s\n", s.Mem)
		}
		fmt.Fprintf(&b, "#SBATCH --output=%s\n", log)
		fmt.Fprintf(&b, "set -euo pipefail\ncd %s\n", shellQuote(j.Dir))
		return b.String()
	}
	cpus := max(s.CPUsPerTask, j.Workers)
	files := Files{
		Array: header(j.jobName(""), j.logDir()+"/shard-%a.log", fmt.Sprintf("--array=0-%d", j.Shards-1), fmt.Sprintf("--cpus-per-task=%d", cpus)) +
			"exec " + j.sweepArgs() + "\n",
		Report: header(j.jobName("-report"), j.logDir()+"/report.log", "--cpus-per-task=1") +
			"exec " + j.reportArgs() + "\n",
	}
	files.Submit = fmt.Sprintf(`#!/bin/bash
# Submit the shards as a job array, then the report once every shard has
# succeeded. Prints the two job ids.
set -euo pipefail
cd %s
mkdir -p %s
array=$(sbatch --parsable %s)
array=${array%%%%;*}
report=$(sbatch --parsable --dependency=afterok:"$array" %s)
echo "$array ${report%%%%;*}"
`, shellQuote(j.Dir), shellQuote(j.logDir()), shellQuote(j.logDir()+"/shards.sbatch"), shellQuote(j.logDir()+"/report.sbatch"))
	return files, nil
}
