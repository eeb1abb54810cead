package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

// harness runs the harness in this process and returns its exit code.
func harness(t *testing.T, args ...string) int {
	t.Helper()
	return execute(rootCmd(), args)
}

func TestExitCodeUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\ntasks: [spam]\nmethods:\n  nosuchmethod: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"no-such-command"},
		{"report"},                       // a missing argument
		{"report", "a", "b"},             // one too many
		{"sweep", "--no-such-flag", "x"}, // an unknown flag
		{"check", "results/ci"},          // a required flag missing
		{"sweep", bad, "--dry-run"},      // a spec that does not load
		{"sweep", bad, "--out", dir},
		{"sweep", "sweeps/ci.yaml", "--shard", "3/2", "--dry-run"},
		{"trial", empty, "--out", dir}, // a spec with nothing in it
		{"export", "../reports/testdata/sweep", "--format", "xlsx", "--out", dir},
	} {
		if code := harness(t, args...); code != exitUsage {
			t.Errorf("harness %s: exit %d, want %d (usage)", strings.Join(args, " "), code, exitUsage)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "trials")); err == nil {
		t.Error("a usage error ran a trial")
	}
}

func TestExitCodeOtherErrors(t *testing.T) {
	if code := harness(t, "report", filepath.Join(t.TempDir(), "nothing")); code != exitError {
		t.Errorf("report of a folder without results: exit %d, want %d", code, exitError)
	}
}

// A trial that fails (here its model does not exist) is recorded and ends
// the command with exitTrialsFailed.
func TestExitCodeTrialFailed(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(spec, []byte(`{"model": "no-such-model", "task": "spam", "method": "lora", "method_params": {}, "seed": 1, "train": {"epochs": 1, "batch": 4}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := harness(t, "trial", spec, "--out", dir); code != exitTrialsFailed {
		t.Fatalf("failing trial: exit %d, want %d", code, exitTrialsFailed)
	}
	rs, err := trial.ReadAll(dir)
	if err != nil || len(rs) != 1 || rs[0].Status != trial.Failed {
		t.Fatalf("the failed trial's result is not at OUT/trials/<id>.json: %v %v", rs, err)
	}
	// Rerunning from the result file takes the result's spec.
	if code := harness(t, "trial", trial.Path(dir, rs[0].ID), "--out", dir); code != exitTrialsFailed {
		t.Errorf("rerun from the result file: exit %d, want %d", code, exitTrialsFailed)
	}
	if again, _ := trial.ReadAll(dir); len(again) != 1 {
		t.Errorf("rerunning a result file wrote %d results, want the same one", len(again))
	}
}

// A run checked against its own baseline passes; the same run with a
// trial turned failed is a regression.
func TestExitCodeRegression(t *testing.T) {
	dir := t.TempDir()
	src, err := trial.ReadAll("../reports/testdata/sweep")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range src {
		if r.Status != trial.Success { // the fixture's failure would fail every check
			continue
		}
		if err := r.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Join(dir, "baseline.json")
	if code := harness(t, "baseline", dir, "--out", base); code != exitOK {
		t.Fatalf("baseline: exit %d", code)
	}
	if code := harness(t, "check", "--baseline", base, dir); code != exitOK {
		t.Fatalf("check against its own baseline: exit %d, want 0", code)
	}
	for _, r := range src {
		if r.Status == trial.Success && r.Spec.Method == "full" {
			r.Status, r.Error = trial.Failed, "made to fail"
			if err := r.Write(dir); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if code := harness(t, "check", "--baseline", base, dir); code != exitRegression {
		t.Errorf("check with a failed trial: exit %d, want %d (regression)", code, exitRegression)
	}
}
