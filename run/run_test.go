package run

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/model/tokenizer"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
	"gorgonia.org/tensor"
)

// tinyBase writes a small base model and tokenizer to a temporary
// directory, so trials run end to end in a second.
func tinyBase(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../tasks/examples/tea-train.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Train([]string{string(raw), "Shop: Review: Verdict: good bad"}, 300)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Config{Vocab: tok.VocabSize(), Context: 96, DModel: 16, Layers: 1, Heads: 2, DFF: 32}, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "base")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func teaSpec(base, method string, params map[string]any) trial.Spec {
	return trial.Spec{Model: base, Task: "../tasks/examples/tea.yaml", Method: method, MethodParams: params, Seed: 3,
		Train: trial.Settings{LR: 1e-2, Epochs: 3, Batch: 4, WarmupFrac: 0.1, Select: true}}
}

func quiet(string, ...any) {}

func TestTrialEndToEnd(t *testing.T) {
	base := tinyBase(t)
	for _, c := range []struct {
		method string
		params map[string]any
	}{
		{"full", nil}, {"lora", map[string]any{"rank": 2}}, {"prompt", map[string]any{"length": 3}},
	} {
		t.Run(c.method, func(t *testing.T) {
			r := Trial(teaSpec(base, c.method, c.params), quiet)
			if r.Status != trial.Success {
				t.Fatalf("%s: %s", r.Status, r.Error)
			}
			m := r.Metrics
			if m.TestAccuracy < 0 || m.TestAccuracy > 1 || m.ValidAccuracy == nil || m.MacroF1 == nil || len(m.EpochLoss) != 3 {
				t.Fatalf("metrics %+v", m)
			}
			if r.NumTrainableParams <= 0 || r.NumTotalParams < r.NumTrainableParams || r.FileSize < int64(4*r.NumTrainableParams) {
				t.Fatalf("params %d of %d, file %d bytes", r.NumTrainableParams, r.NumTotalParams, r.FileSize)
			}
			if r.TokensPerSec <= 0 || r.EvalTokensPerSec <= 0 || r.PeakMemoryBytes <= 0 || r.PeakHeapBytes <= 0 || r.Steps != 9 {
				t.Fatalf("meters: %+v", r)
			}
			if r.CalibrationGFLOPS <= 0 || r.TrainFLOPsPerToken <= 0 || !(r.MFU > 0 && r.MFU < 1) || r.NormTokensPerSec <= 0 {
				t.Fatalf("calibration %.2f GFLOP/s, %.3g FLOPs/token, MFU %.3f", r.CalibrationGFLOPS, r.TrainFLOPsPerToken, r.MFU)
			}
			if len(r.Projected) != 3 || r.Projected[1].TotalBytes <= 0 || r.GPU.GPUStatus == "" {
				t.Fatalf("projections %+v, gpu %+v", r.Projected, r.GPU)
			}
			if r.BestEpoch < 1 || r.BestEpoch > 3 || r.ID != teaSpec(base, c.method, c.params).ID() {
				t.Fatalf("best epoch %d, id %s", r.BestEpoch, r.ID)
			}
			checkOutcomes(t, r, "test", m.TestAccuracy)
			checkOutcomes(t, r, "validation", *m.ValidAccuracy)
			checkStepLog(t, r)
		})
	}
}

// checkStepLog asserts that a result's step log has every step (a short
// trial stays under the cap) and agrees with the epoch losses.
func checkStepLog(t *testing.T, r *trial.Result) {
	t.Helper()
	if len(r.StepLog) != r.Steps {
		t.Fatalf("%d steps logged of %d", len(r.StepLog), r.Steps)
	}
	sums := make([]float64, len(r.Metrics.EpochLoss))
	counts := make([]int, len(sums))
	for i, p := range r.StepLog {
		if i > 0 && !(p.Time > r.StepLog[i-1].Time) {
			t.Fatalf("step %d ends at %vs, step %d at %vs", i+1, p.Time, i, r.StepLog[i-1].Time)
		}
		if p.Step != i+1 || p.Epoch < 1 || p.Epoch > len(sums) || !(p.LR > 0) || !(p.GradNorm > 0) || !(p.TokensPerSec > 0) || !(p.Loss > 0) {
			t.Fatalf("step %d: %+v", i+1, p)
		}
		sums[p.Epoch-1] += p.Loss
		counts[p.Epoch-1]++
	}
	for e, sum := range sums {
		if got := sum / float64(counts[e]); got != r.Metrics.EpochLoss[e] {
			t.Errorf("epoch %d: steps' mean loss %v, epoch loss %v", e+1, got, r.Metrics.EpochLoss[e])
		}
	}
	// The warm-up rises to the peak rate, the cosine decays from it.
	peak := 0
	for i, p := range r.StepLog {
		if p.LR > r.StepLog[peak].LR {
			peak = i
		}
	}
	if peak == 0 || r.StepLog[len(r.StepLog)-1].LR >= r.StepLog[peak].LR || r.StepLog[peak].LR > r.Spec.Train.LR*(1+1e-12) {
		t.Errorf("learning rates do not follow warm-up and decay to the peak %g: %+v", r.Spec.Train.LR, r.StepLog)
	}
}

// checkOutcomes asserts that a result's per-example outcomes on split
// cover the whole split, agree with its score and name real labels.
func checkOutcomes(t *testing.T, r *trial.Result, split string, score float64) {
	t.Helper()
	o, ok := r.OutcomesOn(split)
	if !ok {
		t.Fatalf("no outcomes on %s", split)
	}
	task, err := tasks.Load(r.Spec.Task)
	if err != nil {
		t.Fatal(err)
	}
	exs, _ := task.Split(split)
	idx, err := o.Positions()
	if err != nil || len(idx) != len(exs) || o.Index != fmt.Sprintf("0-%d", len(exs)-1) {
		t.Fatalf("%s: index %q for %d examples (%v)", split, o.Index, len(exs), err)
	}
	if o.Accuracy() != score {
		t.Fatalf("%s: outcomes give %v, the metric %v", split, o.Accuracy(), score)
	}
	if len(o.Predicted) != len(exs) || !cmp.Equal(o.Labels, task.Labels) {
		t.Fatalf("%s: %d predictions, labels %v", split, len(o.Predicted), o.Labels)
	}
	for i, right := range o.Right() {
		if right != (o.Predicted[i] == exs[i].Label) {
			t.Fatalf("%s example %d: right=%v, predicted %d, gold %d", split, i, right, o.Predicted[i], exs[i].Label)
		}
	}
}

// Zero-shot trains nothing and scores the base model; scratch trains a
// fresh initialisation, so its first loss differs from full fine-tuning's.
func TestControls(t *testing.T) {
	base := tinyBase(t)
	zs := teaSpec(base, trial.ZeroShot, nil)
	zs.Train = trial.Settings{Batch: 4} // no epochs, no learning rate
	r := Trial(zs, quiet)
	if r.Status != trial.Success {
		t.Fatalf("zero-shot: %s", r.Error)
	}
	if r.NumTrainableParams != 0 || r.Steps != 0 || len(r.Metrics.EpochLoss) != 0 || r.Metrics.ValidAccuracy != nil {
		t.Fatalf("zero-shot trained: %+v", r.Metrics)
	}
	checkOutcomes(t, r, "test", r.Metrics.TestAccuracy)
	if _, ok := r.OutcomesOn("validation"); ok {
		t.Fatal("zero-shot selected on validation")
	}
	scratch, full := Trial(teaSpec(base, trial.Scratch, nil), quiet), Trial(teaSpec(base, "full", nil), quiet)
	if scratch.Status != trial.Success || full.Status != trial.Success {
		t.Fatalf("scratch %s, full %s", scratch.Error, full.Error)
	}
	if scratch.NumTrainableParams != full.NumTrainableParams || scratch.Metrics.EpochLoss[0] == full.Metrics.EpochLoss[0] {
		t.Fatalf("scratch: %d trainable, first loss %v; full: %d, %v", scratch.NumTrainableParams, scratch.Metrics.EpochLoss[0],
			full.NumTrainableParams, full.Metrics.EpochLoss[0])
	}
}

// One spec and seed give the same losses, bit for bit.
func TestTrialDeterministic(t *testing.T) {
	base := tinyBase(t)
	spec := teaSpec(base, "lora", map[string]any{"rank": 2, "dropout": 0.1})
	a, b := Trial(spec, quiet), Trial(spec, quiet)
	if a.Status != trial.Success || b.Status != trial.Success {
		t.Fatalf("%s %s / %s %s", a.Status, a.Error, b.Status, b.Error)
	}
	if diff := cmp.Diff(a.Metrics, b.Metrics); diff != "" {
		t.Fatalf("two runs of one spec differ:\n%s", diff)
	}
}

func TestTrialFailuresAreResults(t *testing.T) {
	base := tinyBase(t)
	// Each failure's error must say what went wrong: the substrings a
	// reader would look for, and a pattern where the details may vary.
	cases := map[string]struct {
		spec trial.Spec
		want []string
		re   string
	}{
		"missing task":   {spec: teaSpec(base, "full", nil), want: []string{"tasks/examples/gone.yaml", "no such file"}},
		"unknown method": {spec: teaSpec(base, "lorax", nil), want: append([]string{`unknown method "lorax"`}, methods.Names()...)},
		"bad rank":       {spec: teaSpec(base, "lora", map[string]any{"rank": 0}), want: []string{"lora", `field "rank"`, "0 is outside"}},
		// Which check trips first, the loss or the gradient norm, and
		// whether as NaN or infinity, may vary; the step must be named.
		"diverging lr": {spec: teaSpec(base, "full", nil), re: `train: step \d+: .*(loss|gradient norm) is (NaN|[+-]Inf)`},
	}
	c := cases["missing task"]
	c.spec.Task = "../tasks/examples/gone.yaml"
	cases["missing task"] = c
	c = cases["diverging lr"]
	c.spec.Train.LR = 1e30
	cases["diverging lr"] = c
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := Trial(tc.spec, quiet)
			if r.Status != trial.Failed || r.Error == "" {
				t.Fatalf("status %s, error %q", r.Status, r.Error)
			}
			t.Log(r.Error)
			for _, w := range tc.want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("error %q does not mention %q", r.Error, w)
				}
			}
			if tc.re != "" && !regexp.MustCompile(tc.re).MatchString(r.Error) {
				t.Errorf("error %q does not match %q", r.Error, tc.re)
			}
			dir := t.TempDir()
			if err := r.Write(dir); err != nil {
				t.Fatal(err)
			}
			back, err := trial.ReadResult(trial.Path(dir, r.ID))
			if err != nil || back.Status != trial.Failed || !strings.Contains(back.Error, strings.Fields(r.Error)[0]) {
				t.Fatalf("read back %+v, %v", back, err)
			}
		})
	}
}

// Check fails where the trial would (a target the model lacks, a data
// size beyond the training split, bad train settings) and passes a spec
// that trains.
func TestCheckFailsWhereTheTrialWould(t *testing.T) {
	base := tinyBase(t)
	if notes, err := Check(teaSpec(base, "lora", map[string]any{"rank": 2, "targets": "q,fc"})); err != nil || len(notes) != 0 {
		t.Errorf("a valid spec: notes %q, error %v", notes, err)
	}
	big := teaSpec(base, "lora", nil)
	big.DataSize = 1 << 20
	noLR := teaSpec(base, "full", nil)
	noLR.Train.LR = 0
	for _, c := range []struct {
		spec trial.Spec
		want string
	}{
		{teaSpec(base, "lora", map[string]any{"targets": "down_proj"}), "down_proj"},
		{teaSpec(base, "lora", map[string]any{"rank": 99999}), "rank"},
		{big, "1048576"},
		{noLR, "lr > 0"},
	} {
		_, err := Check(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want one saying %q", c.spec.Method, c.spec.MethodParams, err, c.want)
		}
		if r := Trial(c.spec, quiet); r.Status != trial.Failed {
			t.Errorf("%s %v: Check fails but the trial %s", c.spec.Method, c.spec.MethodParams, r.Status)
		}
	}
}

// min_steps lengthens a trial on a small training set: it takes at least
// that many optimiser steps, records every pass's loss, and selects among
// the Epochs passes it scored on validation.
func TestMinSteps(t *testing.T) {
	spec := teaSpec(tinyBase(t), "lora", nil)
	spec.Train.MinSteps = 40
	r := Trial(spec, quiet)
	if r.Status != trial.Success {
		t.Fatalf("%s: %s", r.Status, r.Error)
	}
	task, err := tasks.Load(spec.Task)
	if err != nil {
		t.Fatal(err)
	}
	exs, err := task.Train(spec.DataSize, int64(spec.Seed))
	if err != nil {
		t.Fatal(err)
	}
	passes, scored := spec.Train.Passes(len(exs))
	if r.Steps < 40 || len(r.Metrics.EpochLoss) <= spec.Train.Epochs || len(r.Metrics.EpochLoss) != passes {
		t.Fatalf("%d steps over %d passes (want at least 40 steps, %d passes)", r.Steps, len(r.Metrics.EpochLoss), passes)
	}
	if !slices.Contains(scored, r.BestEpoch) {
		t.Errorf("selected pass %d, not one of the scored %v", r.BestEpoch, scored)
	}
}

// A spec planned on other files fails without running, naming the hash
// that no longer matches; the dry-run check says the same.
func TestTrialRefusesChangedFiles(t *testing.T) {
	spec := teaSpec(tinyBase(t), "lora", nil)
	spec.TaskHash = "0123"
	r := Trial(spec, quiet)
	if r.Status != trial.Failed || !strings.Contains(r.Error, "task_hash") || r.Steps != 0 {
		t.Fatalf("%s after %d steps: %s", r.Status, r.Steps, r.Error)
	}
	if _, err := Check(spec); err == nil || !strings.Contains(err.Error(), "task_hash") {
		t.Errorf("Check: %v", err)
	}
}
