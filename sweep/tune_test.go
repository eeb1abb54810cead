package sweep

import (
	"strings"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

const tuned = `name: t
models: [tiny]
tasks: [spam]
data_sizes: [32, 128]
seeds: [1, 2, 3]
train: {epochs: 1, batch: 8, max_valid: 20}
tune: {data_size: 64}
methods:
  full: {lr: [1e-4, 3e-4, 1e-3]}
  lora: {rank: [4, 8], lr: [1e-3, 3e-3]}
  ia3: {}
`

// fakeResults answers with a successful result whose validation accuracy
// valid gives, for trials valid knows; nil (no result yet) for others.
func fakeResults(valid func(trial.Spec) (float64, string, bool)) ResultOf {
	return func(t trial.Spec) *trial.Result {
		acc, status, ok := valid(t)
		if !ok {
			return nil
		}
		return &trial.Result{ID: t.ID(), Status: status, Spec: t, Metrics: trial.Metrics{ValidAccuracy: &acc}}
	}
}

// Before any result, a tuned sweep is its tuning trials (each rate at the
// tune size and seed) and the untuned configurations; the tuned ones wait.
// Once every tuning trial is in, each configuration trains at the rate
// with the best validation accuracy for every size and seed, and the
// trial at the tune point is the tuning trial itself.
func TestTuneChoosesEachRateOnValidation(t *testing.T) {
	s, err := Parse("tuned.yaml", []byte(tuned))
	if err != nil {
		t.Fatal(err)
	}
	if s.Tune == nil || s.Tune.DataSize != 64 || s.Tune.Seed != 1 {
		t.Fatalf("tune %+v, want data size 64, seed 1 (the spec's first)", s.Tune)
	}
	p := s.Plan(nil)
	// full 3 rates, lora 2 ranks × 2 rates, scratch full's 3 rates.
	if len(p.Tuning) != 3+4+3 {
		t.Fatalf("%d tuning trials, want 10", len(p.Tuning))
	}
	for _, tr := range p.Tuning {
		if tr.DataSize != 64 || tr.Seed != 1 || !strings.Contains(tr.Name, "lr=") {
			t.Fatalf("tuning trial %s (%q) is not at the tune point or does not name its rate", tr.Label(), tr.Name)
		}
	}
	// ia3: 2 sizes × 3 seeds, and zero-shot.
	if len(p.Rest) != 6+1 || p.Waiting != (1+2+1)*2*3 {
		t.Fatalf("rest %d, waiting %d; want 7 and 24", len(p.Rest), p.Waiting)
	}

	// full: 3e-4 best; lora rank 4: tie, the first listed rate; lora rank
	// 8: 1e-3 failed, so 3e-3; scratch: every rate failed.
	valid := func(tr trial.Spec) (float64, string, bool) {
		switch {
		case tr.Method == "full":
			return map[float64]float64{1e-4: 0.6, 3e-4: 0.8, 1e-3: 0.7}[tr.Train.LR], trial.Success, true
		case tr.Method == "lora" && tr.MethodParams["rank"] == 4:
			return 0.75, trial.Success, true
		case tr.Method == "lora" && tr.Train.LR == 1e-3:
			return 0.9, trial.Failed, true
		case tr.Method == "lora":
			return 0.5, trial.Success, true
		case tr.Method == trial.Scratch:
			return 0, trial.Failed, true
		}
		return 0, "", false
	}
	done := s.Plan(fakeResults(valid))
	if done.Waiting != 0 || len(done.Untrained) != 1 || !strings.Contains(done.Untrained[0], "scratch") {
		t.Fatalf("waiting %d, untrained %q; want 0 and scratch's", done.Waiting, done.Untrained)
	}
	want := map[string]float64{"full": 3e-4, "lora 4": 1e-3, "lora 8": 3e-3}
	rates, tuningIDs := map[string]map[float64]int{}, map[string]bool{}
	for _, tr := range done.Tuning {
		tuningIDs[tr.ID()] = true
	}
	for _, tr := range done.Rest {
		if tr.Method == "ia3" || tr.Method == trial.ZeroShot {
			continue
		}
		key := tr.Method
		if tr.Method == "lora" {
			key += " " + trial.FormatParam(tr.MethodParams["rank"])
		}
		if rates[key] == nil {
			rates[key] = map[float64]int{}
		}
		rates[key][tr.Train.LR]++
		if tuningIDs[tr.ID()] {
			t.Fatalf("%s is both a tuning trial and a later one", tr.Label())
		}
		if strings.Contains(tr.Name, "lr=") {
			t.Fatalf("%s: name %q names a rate it did not choose by itself", tr.Label(), tr.Name)
		}
	}
	for key, lr := range want {
		if len(rates[key]) != 1 || rates[key][lr] != 2*3 {
			t.Errorf("%s trained at %v, want %g for all 6 sizes × seeds", key, rates[key], lr)
		}
	}
	if len(done.Chosen) != 3 {
		t.Errorf("chosen %q, want three lines", done.Chosen)
	}
	// The tune size is not among the curve's sizes here; were it, the
	// tune seed's trial there would be the tuning trial itself.
	s.Tune.DataSize = 32
	again := s.Plan(fakeResults(valid))
	all := map[string]int{}
	for _, tr := range again.All() {
		all[tr.ID()]++
	}
	for id, n := range all {
		if n != 1 {
			t.Fatalf("trial %s planned %d times", id, n)
		}
	}
	if len(again.Rest) != len(done.Rest)-3 { // full, lora 4, lora 8 at (32, seed 1) are tuning trials now
		t.Fatalf("%d later trials with the tune point on the curve, want %d", len(again.Rest), len(done.Rest)-3)
	}
}

func TestTuneSpecErrors(t *testing.T) {
	for _, c := range []struct{ edit, want string }{
		{"tune: {data_size: 64}\n", ""},
		{"tune: {seed: 2}\n", `tuned.yaml:7: field "tune.data_size": required`},
		{"tune: {data_size: 99999}\n", `field "tune.data_size": data size 99999 exceeds`},
		{"tune: {data_size: 64, seeds: 1}\n", `field "tune.seeds": unknown field`},
		{"tune: {data_size: 64, seed: 0}\n", `field "tune.seed": must be a positive integer`},
		{"tune: 64\n", `field "tune": want a mapping`},
	} {
		spec := strings.Replace(tuned, "tune: {data_size: 64}\n", c.edit, 1)
		_, err := Parse("tuned.yaml", []byte(spec))
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.edit, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.edit, err, c.want)
		}
	}
	noSelect := strings.Replace(tuned, "max_valid: 20", "max_valid: 20, select: false", 1)
	if _, err := Parse("tuned.yaml", []byte(noSelect)); err == nil || !strings.Contains(err.Error(), "train.select: true") {
		t.Errorf("tune without selection: %v", err)
	}
	oneRate := strings.NewReplacer("lr: [1e-4, 3e-4, 1e-3]", "lr: 1e-4", ", lr: [1e-3, 3e-3]", "").Replace(tuned)
	if _, err := Parse("tuned.yaml", []byte(oneRate)); err == nil || !strings.Contains(err.Error(), "no method lists several learning rates") {
		t.Errorf("tune with nothing to tune: %v", err)
	}
}

// Two shards of a tuned sweep into one folder, one after the other: the
// first runs its part of the tuning stage and then the part the second
// has not started, chooses, and runs its part of the rest; the second
// finds the tuning done and runs only its part of the rest. Every trial
// runs once, at the rate chosen on validation.
func TestRunSpecShardsShareTheTuningStage(t *testing.T) {
	s, err := Parse("tuned.yaml", []byte(tuned))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var lines []string
	say := func(l string) { lines = append(lines, l) }
	ran := 0
	for shard := range 2 {
		opt := fakeOptions(t, dir)
		opt.Shard, opt.Shards = shard, 2
		sum, plan, err := RunSpec(s, opt, say)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Waiting != 0 || len(plan.Chosen) != 4 || sum.Failed != 0 {
			t.Fatalf("shard %d: plan waiting %d, chosen %q, summary %+v", shard, plan.Waiting, plan.Chosen, sum)
		}
		ran += sum.Ran
	}
	if !strings.Contains(strings.Join(lines, "\n"), "tuning left by other shards: 5 trials") {
		t.Errorf("the first shard did not take the second's tuning trials:\n%s", strings.Join(lines, "\n"))
	}
	all := s.Plan(ResultsIn(dir)).All()
	rs, err := trial.ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(all) {
		t.Fatalf("%d results for %d planned trials", len(rs), len(all))
	}
	for _, r := range rs {
		tuning := r.Spec.DataSize == 64
		if m := r.Spec.Method; !tuning && (m == "full" || m == trial.Scratch || m == "lora") && r.Spec.Train.LR != map[string]float64{"full": 1e-3, trial.Scratch: 1e-3, "lora": 3e-3}[m] {
			t.Errorf("%s trained at a rate the tuning stage did not choose", r.Spec.Label())
		}
	}
	// After tuning, each shard ran its own part of the rest: all of it
	// once between them.
	if ran != len(all)-10 {
		t.Errorf("the shards ran %d trials after tuning, want %d", ran, len(all)-10)
	}
}
