package cluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scheduler is a scripted Slurm: each command's answers in turn (the last
// one repeats), and every call made.
type scheduler struct {
	answers map[string][]answer
	calls   []string
}

type answer struct {
	out string
	err error
}

func (s *scheduler) run(name string, args ...string) (string, error) {
	call := strings.Join(append([]string{name}, args...), " ")
	s.calls = append(s.calls, call)
	for prefix, as := range s.answers {
		if strings.HasPrefix(call, prefix) {
			a := as[0]
			if len(as) > 1 {
				s.answers[prefix] = as[1:]
			}
			return a.out, a.err
		}
	}
	return "", fmt.Errorf("unexpected command %q", call)
}

func (s *scheduler) called(prefix string) bool {
	for _, c := range s.calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// Submission asks for the given shards and makes the report depend on
// them; with no shard left, the report goes alone.
func TestSubmit(t *testing.T) {
	j := testJob()
	j.Out = t.TempDir()
	s := &scheduler{answers: map[string][]answer{"sbatch": {{out: "41;cluster\n"}, {out: "42\n"}}}}
	sub, err := Submit(s.run, j, []int{0, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(j.Out, "slurm")
	want := []string{"sbatch --parsable --array=0,2,3 " + dir + "/shards.sbatch", "sbatch --parsable --dependency=afterok:41 " + dir + "/report.sbatch"}
	if d := cmp.Diff(want, s.calls); d != "" || sub.Array != "41" || sub.Report != "42" {
		t.Errorf("submitted %+v; calls (-want +got):\n%s", sub, d)
	}
	s = &scheduler{answers: map[string][]answer{"sbatch": {{out: "43\n"}}}}
	if sub, err = Submit(s.run, j, nil); err != nil || sub.Array != "" || sub.Report != "43" ||
		len(s.calls) != 1 || s.calls[0] != "sbatch --parsable "+dir+"/report.sbatch" {
		t.Errorf("nothing left to run: %+v, %v, calls %q", sub, err, s.calls)
	}
}

// Following a submission in which one task fails: progress while tasks
// are queued, the final states from scontrol when sacct has no
// accounting, the failed task named, and the report cancelled.
func TestFollowFailedTask(t *testing.T) {
	s := &scheduler{answers: map[string][]answer{
		"squeue -h -r -j 41": {{out: "PENDING\nPENDING\nPENDING\n"}, {out: "RUNNING\nRUNNING\nPENDING\n"}, {out: "RUNNING\n"}, {out: ""}},
		"sacct":              {{err: errors.New("sacct: Slurm accounting storage is disabled")}},
		"scontrol show job -o 41": {{out: "JobId=43 ArrayJobId=41 ArrayTaskId=2 JobState=COMPLETED Reason=None ExitCode=0:0\n" +
			"JobId=44 ArrayJobId=41 ArrayTaskId=1 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0\n" +
			"JobId=41 ArrayJobId=41 ArrayTaskId=0 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15\n"}},
		"scancel 42": {{}},
	}}
	var progress strings.Builder
	o, err := Follow(s.run, Submitted{Array: "41", Report: "42", Tasks: []int{0, 1, 2}}, 0, &progress)
	if err != nil {
		t.Fatal(err)
	}
	want := []Task{{0, "TIMEOUT", "0:15"}, {1, "FAILED", "3:0"}, {2, "COMPLETED", "0:0"}}
	if d := cmp.Diff(want, o.Tasks); d != "" {
		t.Errorf("tasks (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want[:2], o.Failed()); d != "" {
		t.Errorf("failed (-want +got):\n%s", d)
	}
	if !s.called("scancel 42") || s.called("squeue -h -r -j 42") {
		t.Errorf("the report was not cancelled, or was waited for: %q", s.calls)
	}
	wantProgress := "slurm: array 41: 3 PENDING\nslurm: array 41: 1 PENDING, 2 RUNNING\nslurm: array 41: 1 RUNNING\n"
	if progress.String() != wantProgress {
		t.Errorf("progress:\n%s\nwant:\n%s", progress.String(), wantProgress)
	}
}

// When every task succeeds, Follow waits for the report and reads its
// state (here from sacct); a job purged from the queue counts as gone.
func TestFollowSuccess(t *testing.T) {
	s := &scheduler{answers: map[string][]answer{
		"squeue -h -r -j 41":    {{out: "RUNNING\n"}, {err: errors.New("squeue: slurm_load_jobs error: Invalid job id specified")}},
		"squeue -h -r -j 42":    {{out: "PENDING\n"}, {out: ""}},
		"sacct -n -P -X -j 41 ": {{out: "41_0|COMPLETED|0:0\n41_1|COMPLETED|0:0\n"}},
		"sacct -n -P -X -j 42 ": {{out: "42|FAILED|1:0\n"}},
	}}
	o, err := Follow(s.run, Submitted{Array: "41", Report: "42"}, 0, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Failed()) != 0 || len(o.Tasks) != 2 || o.Report != (Task{-1, "FAILED", "1:0"}) || s.called("scancel") {
		t.Errorf("outcome %+v, calls %q", o, s.calls)
	}
}

func TestParseStates(t *testing.T) {
	got, err := parseSacct("41_0|COMPLETED|0:0\n41_1|CANCELLED by 0|0:9\n41_[2-3,5%1]|PENDING|0:0\n40_7|FAILED|1:0\n", "41")
	want := []Task{{0, "COMPLETED", "0:0"}, {1, "CANCELLED", "0:9"}, {2, "PENDING", "0:0"}, {3, "PENDING", "0:0"}, {5, "PENDING", "0:0"}}
	if d := cmp.Diff(want, got); err != nil || d != "" {
		t.Errorf("sacct: %v (-want +got):\n%s", err, d)
	}
	got, err = parseScontrol("JobId=9 ArrayJobId=9 ArrayTaskId=4-5 JobState=CANCELLED ExitCode=0:0\n", "9")
	want = []Task{{4, "CANCELLED", "0:0"}, {5, "CANCELLED", "0:0"}}
	if d := cmp.Diff(want, got); err != nil || d != "" {
		t.Errorf("scontrol: %v (-want +got):\n%s", err, d)
	}
	for _, bad := range []string{"", "x", "3-1", "1-", "1,,2"} {
		if ids, err := taskIDs(bad); err == nil {
			t.Errorf("taskIDs(%q) = %v, want an error", bad, ids)
		}
	}
	if _, err := parseScontrol("nothing here\n", "9"); err == nil {
		t.Error("scontrol output without a state accepted")
	}
}
