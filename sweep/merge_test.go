package sweep

import (
	"os"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

// Shards in folders of their own merge into one; a trial found twice with
// the same outcome (its times may differ) merges silently, one whose
// outcome differs is named with what differs.
func TestMerge(t *testing.T) {
	a, b, dst := t.TempDir(), t.TempDir(), t.TempDir()
	specs := fakeSpecs(1, 2, 3)
	write := func(dir string, s trial.Spec, acc, wall float64) {
		r := &trial.Result{ID: s.ID(), Status: trial.Success, Spec: s, Metrics: trial.Metrics{TestAccuracy: acc}, WallTime: wall}
		if err := r.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	write(a, specs[0], 0.5, 10)
	write(a, specs[1], 0.6, 10)
	write(b, specs[1], 0.6, 99) // same trial, same outcome, other time
	write(b, specs[2], 0.7, 10)
	if err := os.WriteFile(trial.LogPath(b, specs[2].ID()), []byte("epoch 1/3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Merge(dst, []string{a, b})
	if err != nil || m.Copied != 3 || m.Same != 1 || len(m.Differ) != 0 {
		t.Fatalf("merge: %+v, %v", m, err)
	}
	if log, err := os.ReadFile(trial.LogPath(dst, specs[2].ID())); string(log) != "epoch 1/3\n" {
		t.Errorf("the trial's log was not merged beside its result: %q, %v", log, err)
	}
	if got := Status(specs, dst, 0); got.Done != 3 {
		t.Fatalf("merged folder: %+v", got)
	}
	c := t.TempDir()
	write(c, specs[2], 0.71, 10)
	m, err = Merge(dst, []string{c})
	if err != nil || len(m.Differ) != 1 || !strings.Contains(m.Differ[0], specs[2].ID()) || !strings.Contains(m.Differ[0], "TestAccuracy") {
		t.Fatalf("a differing trial: %+v, %v", m, err)
	}
	if r, _ := trial.ReadResult(trial.Path(dst, specs[2].ID())); r.Metrics.TestAccuracy != 0.7 {
		t.Fatalf("the first copy is kept; have %v", r.Metrics.TestAccuracy)
	}
}
