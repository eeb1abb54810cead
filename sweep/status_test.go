package sweep

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/peftbench/peftbench/trial"
)

// Status counts what three shards wrote into one folder, per shard, and
// estimates the time left from the finished trials' wall times by method.
func TestStatusAcrossShards(t *testing.T) {
	dir := t.TempDir()
	specs := fakeSpecs(1, 2, 3, 4, 5, 6)
	specs[5].Method = "lora" // no lora trial finishes: its estimate is the overall mean
	write := func(s trial.Spec, status string, wall float64) {
		r := &trial.Result{ID: s.ID(), Status: status, Spec: s, WallTime: wall}
		if err := r.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	write(specs[0], trial.Success, 10) // shard 0
	write(specs[1], trial.Success, 30) // shard 1
	write(specs[2], trial.Failed, 99)  // shard 2: failures enter no estimate
	p := Status(specs, dir, 3)
	if p.Total != 6 || p.Done != 2 || p.Failed != 1 || p.Missing != 3 {
		t.Fatalf("progress %+v", p)
	}
	// Missing: specs 3 and 4 (full, mean 20 s) and 5 (lora: overall mean 20 s).
	if p.Left != 60*time.Second {
		t.Fatalf("time left %v, want 1m0s", p.Left)
	}
	want := []Progress{{Total: 2, Done: 1, Missing: 1}, {Total: 2, Done: 1, Missing: 1}, {Total: 2, Failed: 1, Missing: 1}}
	for i, s := range p.Shards {
		if s.Total != want[i].Total || s.Done != want[i].Done || s.Failed != want[i].Failed || s.Missing != want[i].Missing {
			t.Fatalf("shard %d: %+v, want %+v", i, s, want[i])
		}
	}
	var b bytes.Buffer
	p.Write(&b)
	for _, line := range []string{"6 trials: 2 done, 1 failed, 3 missing", "shard 2/3: 2 trials: 0 done, 1 failed, 1 missing", "no sweep holds the folder now", "about 1m0s of trial time"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("status lacks %q:\n%s", line, b.String())
		}
	}
	// A method's trials cost more with more data: a missing trial is
	// estimated from the finished ones at its own data size.
	sized := fakeSpecs(7, 8, 9)
	sized[0].DataSize, sized[1].DataSize, sized[2].DataSize = 32, 4096, 4096
	sizedDir := t.TempDir()
	for i, wall := range []float64{10, 100} {
		r := &trial.Result{ID: sized[i].ID(), Status: trial.Success, Spec: sized[i], WallTime: wall}
		if err := r.Write(sizedDir); err != nil {
			t.Fatal(err)
		}
	}
	if p := Status(sized, sizedDir, 0); p.Left != 100*time.Second {
		t.Errorf("time left for a missing trial at 4,096 examples: %v, want 1m40s (not the method's 55s)", p.Left)
	}
	lock, err := LockDir(dir, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	// flock(2) locks belong to open files, so status sees this process's
	// shard lock as a second process would.
	if p := Status(specs, dir, 0); p.Shards != nil || p.Missing != 3 || len(p.Running) != 1 || !strings.HasPrefix(p.Running[0], "shard 1/3, pid ") {
		t.Fatalf("without shards, one shard running: %+v", p)
	}
}
