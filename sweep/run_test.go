package sweep

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

// The test binary doubles as a fake trial command: with FAKE_TRIAL set it
// reads a spec, and by its seed succeeds (with its learning rate as its
// validation accuracy), fails with a result, crashes
// without one, or prints and exits cleanly without one.
//
// With FAKE_ALSO=n, seed 1's trial also writes the result of the same
// trial with seed n, as another shard would.
//
// With HOLD_SWEEP_LOCK set to a folder it takes that folder's sweep lock,
// says "locked" and waits to be killed (TestKilledHolderLeavesNoLock).
func TestMain(m *testing.M) {
	if dir := os.Getenv("HOLD_SWEEP_LOCK"); dir != "" {
		holdLock(dir)
	}
	if os.Getenv("FAKE_TRIAL") == "" {
		os.Exit(m.Run())
	}
	var out string
	for i, a := range os.Args {
		if a == "--out" {
			out = os.Args[i+1]
		}
	}
	data, _ := io.ReadAll(os.Stdin)
	var s trial.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		panic(err)
	}
	fmt.Printf("fake trial, seed %d\n", s.Seed)
	fmt.Fprintf(os.Stderr, "fake trial's stderr, seed %d\n", s.Seed)
	valid := s.Train.LR // the highest rate validates best
	r := &trial.Result{ID: s.ID(), Status: trial.Success, Spec: s, Metrics: trial.Metrics{ValidAccuracy: &valid}}
	switch s.Seed {
	case 13: // a trial that fails and says why
		r.Status, r.Error = trial.Failed, "loss is NaN"
	case 66: // a crash: no result at all
		fmt.Println("about to crash")
		os.Exit(2)
	}
	if err := r.Write(out); err != nil {
		panic(err)
	}
	if also := os.Getenv("FAKE_ALSO"); also != "" && s.Seed == 1 { // as another shard would
		other := s
		fmt.Sscan(also, &other.Seed)
		if err := (&trial.Result{ID: other.ID(), Status: trial.Success, Spec: other}).Write(out); err != nil {
			panic(err)
		}
	}
	if r.Status == trial.Failed {
		os.Exit(1)
	}
	os.Exit(0)
}

func fakeSpecs(seeds ...int) []trial.Spec {
	var out []trial.Spec
	for _, s := range seeds {
		out = append(out, trial.Spec{Model: "m", Task: "t", Method: "full", Seed: s, Train: trial.Settings{LR: 1e-3, Epochs: 1, Batch: 1}})
	}
	return out
}

func fakeOptions(t *testing.T, dir string) Options {
	t.Setenv("FAKE_TRIAL", "1")
	return Options{Out: dir, Workers: 2, Trial: []string{os.Args[0], "trial"}}
}

func TestRunRecordsEveryOutcomeAndResumes(t *testing.T) {
	dir := t.TempDir()
	specs := fakeSpecs(1, 2, 13, 66, 4)
	sum, err := Run(specs, fakeOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 5 || sum.Succeeded != 3 || sum.Failed != 2 {
		t.Fatalf("summary %+v", sum)
	}
	results, err := trial.ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 5 {
		t.Fatalf("%d results, want 5", len(results))
	}
	for _, r := range results {
		switch r.Spec.Seed {
		case 13:
			if r.Status != trial.Failed || r.Error != "loss is NaN" {
				t.Errorf("failing trial recorded as %s %q", r.Status, r.Error)
			}
		case 66:
			if r.Status != trial.Failed || len(r.Log) == 0 || r.Log[len(r.Log)-1] != "about to crash" {
				t.Errorf("crashed trial recorded as %s %q, log %q", r.Status, r.Error, r.Log)
			}
		default:
			if r.Status != trial.Success {
				t.Errorf("seed %d: %s", r.Spec.Seed, r.Status)
			}
		}
	}
	// Every trial's whole output is kept beside its result.
	for _, sp := range specs {
		b, err := os.ReadFile(trial.LogPath(dir, sp.ID()))
		want := fmt.Sprintf("fake trial, seed %d\nfake trial's stderr, seed %d\n", sp.Seed, sp.Seed)
		if err != nil || !strings.HasPrefix(string(b), want) {
			t.Errorf("seed %d: log %q (%v), want it to start %q", sp.Seed, b, err, want)
		}
	}
	// Rerunning does no work; failures still count.
	again, err := Run(specs, fakeOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if again.Ran != 0 || again.Skipped != 5 || again.Failed != 2 {
		t.Fatalf("rerun summary %+v", again)
	}
	// A lost result (as after a kill) is rerun, and only it.
	if err := os.Remove(trial.Path(dir, specs[1].ID())); err != nil {
		t.Fatal(err)
	}
	opt := fakeOptions(t, dir)
	opt.RetryFailed = true
	third, err := Run(specs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if third.Ran != 3 || third.Skipped != 2 {
		t.Fatalf("resume summary %+v (want the lost trial and the two failures rerun)", third)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "trials")); len(entries) != 10 {
		t.Fatalf("%d files in trials/, want 10: 5 results and their logs (no temp files, no duplicates)", len(entries))
	}
}

func TestShardsPartitionTheTrials(t *testing.T) {
	specs := fakeSpecs(1, 2, 3, 4, 5)
	seen := map[string]int{}
	for shard := range 2 {
		dir := t.TempDir()
		opt := fakeOptions(t, dir)
		opt.Shard, opt.Shards = shard, 2
		if _, err := Run(ShardOf(specs, shard, 2), opt); err != nil {
			t.Fatal(err)
		}
		rs, _ := trial.ReadAll(dir)
		for _, r := range rs {
			seen[r.ID]++
		}
	}
	if len(seen) != 5 {
		t.Fatalf("shards covered %d of 5 trials", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("trial %s ran in %d shards", id, n)
		}
	}
}

// A worker skips a trial another shard finished after the run began.
func TestRunSkipsWhatAnotherShardFinished(t *testing.T) {
	dir := t.TempDir()
	specs := fakeSpecs(1, 2, 3)
	opt := fakeOptions(t, dir)
	opt.Workers = 1
	// Seed 1's trial, run first, writes seed 3's result as another shard
	// would (the fake trial does so for seed 1 when FAKE_ALSO is set).
	t.Setenv("FAKE_ALSO", "3")
	sum, err := Run(specs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 2 || sum.Skipped != 1 || sum.Succeeded != 2 {
		t.Fatalf("summary %+v, want 2 ran and seed 3's skipped", sum)
	}
}
