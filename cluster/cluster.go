// Package cluster writes the job files that run a sweep's shards on a
// cluster's own scheduler: a Slurm job array with a report job that runs
// once every array task has succeeded, and a Kubernetes Indexed Job with a
// report Job that waits for every trial's result. Each shard is one
// `harness sweep` that takes its shard from the scheduler's environment
// (package sweep: ShardFromEnv), writing into one results folder on a
// shared file system. Submit and Follow submit the Slurm files and follow
// them to the end.
package cluster

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Job is what the files run: a sweep of Spec into Out in Shards shards,
// from Dir (the repository, as the nodes see it), each shard running
// Workers trials at a time.
type Job struct {
	Name    string // the sweep's name, for job names
	Spec    string // the spec's path, relative to Dir or absolute
	Out     string // the results folder, relative to Dir or absolute
	Dir     string
	Shards  int
	Workers int
	// Harness is the command that runs the harness on a node
	// ("./run.sh harness", or an installed binary).
	Harness string
	// RetryFailed reruns trials whose stored result is a failure.
	RetryFailed bool
}

func (j Job) check() error {
	switch {
	case j.Shards < 1:
		return fmt.Errorf("cluster: shards must be at least 1 (have %d)", j.Shards)
	case j.Workers < 1:
		return fmt.Errorf("cluster: workers must be at least 1 (have %d)", j.Workers)
	case j.Spec == "" || j.Out == "" || j.Harness == "":
		return fmt.Errorf("cluster: a job needs a spec, a results folder and a harness command")
	}
	return nil
}

// sweepArgs is the shard's command line: the sweep of the spec, its shard
// the task's number in the scheduler's environment, of Shards.
func (j Job) sweepArgs() string {
	args := fmt.Sprintf("%s sweep %s --out %s --workers %d --shard-count %d", j.Harness, shellQuote(j.Spec), shellQuote(j.Out), j.Workers, j.Shards)
	if j.RetryFailed {
		args += " --retry-failed"
	}
	return args
}

func (j Job) reportArgs() string {
	return fmt.Sprintf("%s report %s --spec %s", j.Harness, shellQuote(j.Out), shellQuote(j.Spec))
}

// jobName is a name both schedulers accept: lower case letters, digits
// and dashes, at most 50 characters (Kubernetes adds suffixes to 63).
func (j Job) jobName(suffix string) string {
	n := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower("peftbench-"+j.Name), "-"), "-")
	if len(n) > 40 {
		n = strings.TrimRight(n[:40], "-")
	}
	return n + suffix
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes s for a POSIX shell unless it needs none.
func shellQuote(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// logDir is where the Slurm tasks' logs go, inside the results folder.
func (j Job) logDir() string { return path.Join(j.Out, "slurm") }
