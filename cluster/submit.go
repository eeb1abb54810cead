package cluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Command runs a scheduler's command (sbatch, squeue, ...) and returns
// its standard output; an error carries its standard error. Exec runs the
// real one; tests give a scripted one.
type Command func(name string, args ...string) (string, error)

// Exec runs name with args.
func Exec(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Submitted names the jobs of one submission: the shards' array (empty
// when no shard had anything left to run) and the report job.
type Submitted struct {
	Array, Report string
	Tasks         []int // the array's task ids: the shards submitted
}

// Submit submits the array tasks for the given shards from the job's
// shards.sbatch, then its report.sbatch with --dependency=afterok on them.
// With no shards it submits the report alone.
func Submit(run Command, j Job, shards []int) (Submitted, error) {
	s := Submitted{Tasks: shards}
	dir := j.logDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	id := func(out string) string { // --parsable prints "jobid[;cluster]"
		return strings.TrimSpace(strings.SplitN(out, ";", 2)[0])
	}
	var reportArgs []string
	if len(shards) > 0 {
		list := make([]string, len(shards))
		for i, t := range shards {
			list[i] = strconv.Itoa(t)
		}
		out, err := run("sbatch", "--parsable", "--array="+strings.Join(list, ","), filepath.Join(dir, "shards.sbatch"))
		if err != nil {
			return s, err
		}
		s.Array = id(out)
		reportArgs = append(reportArgs, "--dependency=afterok:"+s.Array)
	}
	out, err := run("sbatch", append(append([]string{"--parsable"}, reportArgs...), filepath.Join(dir, "report.sbatch"))...)
	if err != nil {
		return s, err
	}
	s.Report = id(out)
	return s, nil
}

// A Task is the final state of an array task (or, with ID -1, of a job
// that is not an array's).
type Task struct {
	ID       int
	State    string // COMPLETED, FAILED, TIMEOUT, CANCELLED, OUT_OF_MEMORY, ...
	ExitCode string // "code:signal"
}

// OK says the task succeeded.
func (t Task) OK() bool { return t.State == "COMPLETED" }

// Outcome is how a submission ended.
type Outcome struct {
	Tasks  []Task // the array's, by id
	Report Task   // State is empty when the report never ran
}

// Failed lists the array tasks that did not succeed.
func (o Outcome) Failed() []Task {
	var f []Task
	for _, t := range o.Tasks {
		if !t.OK() {
			f = append(f, t)
		}
	}
	return f
}

// Follow waits, polling squeue every poll, until the array has left the
// queue, printing its pending and running tasks when they change; reads
// every task's final state (sacct, or scontrol where the cluster keeps no
// accounting); cancels the report if a task failed, since its afterok
// dependency can then never be met; else waits for the report too.
func Follow(run Command, s Submitted, poll time.Duration, progress io.Writer) (Outcome, error) {
	var o Outcome
	if s.Array != "" {
		last := ""
		for {
			queued, err := queue(run, s.Array)
			if err != nil {
				return o, err
			}
			if len(queued) == 0 {
				break
			}
			if line := summarize(queued); line != last {
				fmt.Fprintf(progress, "slurm: array %s: %s\n", s.Array, line)
				last = line
			}
			time.Sleep(poll)
		}
		var err error
		if o.Tasks, err = states(run, s.Array); err != nil {
			return o, err
		}
		if len(o.Failed()) > 0 {
			_, err := run("scancel", s.Report)
			return o, err
		}
		fmt.Fprintf(progress, "slurm: array %s: every task completed; report %s\n", s.Array, s.Report)
	}
	for {
		queued, err := queue(run, s.Report)
		if err != nil {
			return o, err
		}
		if len(queued) == 0 {
			break
		}
		time.Sleep(poll)
	}
	ts, err := states(run, s.Report)
	if err != nil {
		return o, err
	}
	if len(ts) != 1 {
		return o, fmt.Errorf("slurm: job %s: %d states for one job", s.Report, len(ts))
	}
	o.Report = ts[0]
	return o, nil
}

// queue lists the states of job's tasks still in the queue (one per array
// task: squeue -r).
func queue(run Command, job string) ([]string, error) {
	out, err := run("squeue", "-h", "-r", "-j", job, "-o", "%T")
	if err != nil {
		if strings.Contains(err.Error(), "Invalid job id") { // long gone
			return nil, nil
		}
		return nil, err
	}
	return strings.Fields(out), nil
}

// summarize counts states: "2 PENDING, 1 RUNNING".
func summarize(states []string) string {
	n := map[string]int{}
	for _, s := range states {
		n[s]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", n[k], k)
	}
	return strings.Join(parts, ", ")
}

// states reads the final state of each task of job: from sacct, or, where
// the cluster keeps no accounting, from scontrol (which remembers a
// finished job for MinJobAge, 300 s by default).
func states(run Command, job string) ([]Task, error) {
	out, err := run("sacct", "-n", "-P", "-X", "-j", job, "-o", "JobID,State,ExitCode")
	if err == nil {
		if ts, err := parseSacct(out, job); err == nil && len(ts) > 0 {
			return ts, nil
		}
	}
	out, err = run("scontrol", "show", "job", "-o", job)
	if err != nil {
		return nil, err
	}
	return parseScontrol(out, job)
}

// parseSacct reads `sacct -n -P -X -o JobID,State,ExitCode` lines:
// "123_4|FAILED|1:0" for an array task, "124|COMPLETED|0:0" for a job.
// States such as "CANCELLED by 0" keep their first word.
func parseSacct(out, job string) ([]Task, error) {
	var ts []Task
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 3 {
			continue
		}
		t := Task{ID: -1, State: strings.Fields(f[1] + " ")[0], ExitCode: f[2]}
		if a, id, ok := strings.Cut(f[0], "_"); ok {
			if a != job {
				continue
			}
			ids, err := taskIDs(strings.Trim(id, "[]")) // "123_[4-7]": tasks that never started
			if err != nil {
				return nil, fmt.Errorf("sacct: job id %q: %w", f[0], err)
			}
			for _, n := range ids {
				ts = append(ts, Task{ID: n, State: t.State, ExitCode: t.ExitCode})
			}
			continue
		}
		if f[0] == job {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b Task) int { return a.ID - b.ID })
	return ts, nil
}

// parseScontrol reads `scontrol show job -o` records, one per line of
// Key=Value fields: ArrayTaskId (absent for a job that is not an array's;
// "4-7" for tasks that never started), JobState and ExitCode.
func parseScontrol(out, job string) ([]Task, error) {
	var ts []Task
	for line := range strings.Lines(out) {
		kv := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		if kv["JobState"] == "" {
			continue
		}
		ids := []int{-1}
		if id, ok := kv["ArrayTaskId"]; ok {
			var err error
			if ids, err = taskIDs(id); err != nil {
				return nil, fmt.Errorf("scontrol: job %s: ArrayTaskId %q: %w", job, id, err)
			}
		}
		for _, n := range ids {
			ts = append(ts, Task{ID: n, State: kv["JobState"], ExitCode: kv["ExitCode"]})
		}
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("scontrol: no state for job %s", job)
	}
	slices.SortFunc(ts, func(a, b Task) int { return a.ID - b.ID })
	return ts, nil
}

// taskIDs reads an array's task list: "4", "4-7", "1,3-5", with an
// optional throttle ("%2") that is ignored.
func taskIDs(s string) ([]int, error) {
	s, _, _ = strings.Cut(s, "%")
	var ids []int
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		hi := lo
		if err == nil && isRange {
			hi, err = strconv.Atoi(b)
		}
		if err != nil || hi < lo {
			return nil, fmt.Errorf("not a task list: %q", s)
		}
		for n := lo; n <= hi; n++ {
			ids = append(ids, n)
		}
	}
	return ids, nil
}

// ShardLog is the log file of the array task for shard i.
func (j Job) ShardLog(i int) string { return filepath.Join(j.logDir(), fmt.Sprintf("shard-%d.log", i)) }

// ReportLog is the report job's log file.
func (j Job) ReportLog() string { return filepath.Join(j.logDir(), "report.log") }
