// Package run executes one fine-tuning trial in this process: a pure
// function of its spec (trial.Spec) to its result (trial.Result). Sweeps run
// each trial through it in a child process of its own.
//
// run.go checks a spec and runs it (Trial, Check); fit.go fine-tunes and
// selects an epoch (the student LLM2LLM's loop drives); evaluator.go
// scores a split on the trial's device; account.go accounts the memory
// and projects it onto large models; evaluate.go scores a base model or a
// PEFT adapter without training.
package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/peftbench/peftbench/augment"
	"github.com/peftbench/peftbench/gpu"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/internal/meter"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// AdaptersEnv, when set, names a folder where each trial writes its
// trained adapter in Hugging Face PEFT's format (methods.SavePEFT), as
// <folder>/<trial id>/, for the methods that have one.
const AdaptersEnv = "PEFTBENCH_ADAPTERS"

// logTail is how many of its last progress lines a failed result keeps.
const logTail = 20

// Trial executes the trial in this process and returns its result; logf
// receives progress lines. It first checks the spec's content hashes
// against the task's and the model's files; errors, and panics, come back
// as a failed result holding the last lines logged.
func Trial(spec trial.Spec, logf func(string, ...any)) (r *trial.Result) {
	var lines []string
	log := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		lines = append(lines, line)
		logf("%s", line)
	}
	defer func() {
		if p := recover(); p != nil {
			r = &trial.Result{ID: spec.ID(), Status: trial.Failed, Spec: spec, Env: machine.Describe(nn.BLAS()), Error: fmt.Sprintf("panic: %v", p)}
		}
		if r.Status == trial.Failed {
			r.Log = lines[max(0, len(lines)-logTail):]
		}
	}()
	defer debug.SetGCPercent(debug.SetGCPercent(meter.GCPercent))
	runtime.GC() // measure from a collected heap, whatever ran before in this process
	start := time.Now()
	r = &trial.Result{ID: spec.ID(), Status: trial.Success, Spec: spec, Env: machine.Describe(nn.BLAS())}
	if err := checkContent(spec); err != nil {
		r.Status, r.Error = trial.Failed, err.Error()
		return r
	}
	heap := meter.StartHeapSampler(50 * time.Millisecond)
	gpus := gpu.StartSampler(0, 200*time.Millisecond)
	err := run(spec, r, log)
	r.PeakHeapBytes = heap.Stop()
	r.GPU = gpus.Stop()
	r.PeakMemoryBytes = meter.PeakRSS()
	r.WallTime = time.Since(start).Seconds()
	if err != nil {
		r.Status, r.Error = trial.Failed, err.Error()
	}
	return r
}

// checkContent compares the content hashes a spec was planned with to the
// task's and the model's files now (a spec without them is not checked).
func checkContent(spec trial.Spec) error {
	for _, c := range []struct {
		what, name, field, want string
		hash                    func(string) (string, error)
	}{
		{"task", spec.Task, "task_hash", spec.TaskHash, tasks.ContentHash},
		{"model", spec.Model, "model_hash", spec.ModelHash, model.ContentHash},
	} {
		if c.want == "" {
			continue
		}
		got, err := c.hash(c.name)
		if err != nil {
			return err
		}
		if got != c.want {
			return fmt.Errorf("%s %s has changed since this trial was planned (its files hash to %s, the spec's %s is %s): rerun the sweep, which plans new trials for the new files, or remove %s from the spec to run this one on them",
				c.what, c.name, got, c.field, c.want, c.field)
		}
	}
	return nil
}

// setup loads the trial's base model and task, attaches its method, and
// returns the student ready to fit, with an evaluator whose trainer (no
// steps scheduled) also serves evaluation alone.
func setup(spec trial.Spec, r *trial.Result, logf func(string, ...any)) (*student, error) {
	s := spec.Train
	base, err := model.LoadBase(spec.Model)
	if err != nil {
		return nil, err
	}
	r.ModelCommit = base.Commit
	task, err := tasks.Load(spec.Task)
	if err != nil {
		return nil, err
	}
	a, err := methods.Attach(base, spec.Method, spec.MethodParams, uint64(spec.Seed))
	if err != nil {
		return nil, err
	}
	m := base.Model
	r.NumTrainableParams = a.NumTrainable(m)
	r.NumTotalParams = m.NumParams() + ownOutside(a, m)
	// Only zero-shot trains nothing by design; any other method that
	// leaves nothing trainable fails in the trainer rather than being
	// scored untrained.
	training := spec.Method != trial.ZeroShot
	if s.Batch < 1 || (training && (s.Epochs < 1 || !(s.LR > 0))) {
		return nil, fmt.Errorf("trial: train settings need batch ≥ 1, and to train, epochs ≥ 1 and lr > 0 (have %d, %d, %v)", s.Batch, s.Epochs, s.LR)
	}
	if spec.Augment != nil && !training {
		return nil, fmt.Errorf("trial: %s trains nothing, so there is nothing to augment", spec.Method)
	}
	testEx, err := capped(task, "test", s.MaxEval)
	if err != nil {
		return nil, err
	}
	ev, err := newEvaluator(base, a, task, s, spec.Device)
	if err != nil {
		return nil, err
	}
	return &student{spec: spec, r: r, task: task, a: a, m: m, ev: ev, logf: logf, testSet: encode(base.Tokenizer, testEx)}, nil
}

func run(spec trial.Spec, r *trial.Result, logf func(string, ...any)) error {
	st, err := setup(spec, r, logf)
	if err != nil {
		return err
	}
	defer st.ev.close()
	defer func() { r.Device = st.ev.deviceUse() }()
	training := spec.Method != trial.ZeroShot
	if training {
		if err := learn(st); err != nil {
			return err
		}
	}
	if _, err := st.Test(); err != nil {
		return err
	}
	a, m, task, ev := st.a, st.m, st.task, st.ev
	test := *st.test
	r.Metrics.TestAccuracy = test.score
	if task.Kind == tasks.KindGeneration {
		r.Metrics.ExactMatch = &test.score
	} else {
		r.Metrics.MacroF1 = &test.macroF1
	}
	r.Outcomes = append([]trial.Outcomes{test.outcomes}, r.Outcomes...)
	r.EvalTokensPerSec = ev.tr.EvalTokensPerSec()
	r.MemoryAccounted = account(a, m, r.NumTotalParams, ev.tr, r.BestEpoch > 0)
	if !training {
		logf("test %.4f with no training", test.score)
		return nil
	}

	dir, err := os.MkdirTemp("", "peftbench-adapter-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if r.FileSize, err = a.Save(filepath.Join(dir, "adapter.safetensors")); err != nil {
		return err
	}
	if out := os.Getenv(AdaptersEnv); out != "" {
		if err := savePEFT(a, m, spec.Model, filepath.Join(out, r.ID)); err != nil {
			return err
		}
	}
	// Last, once the adapter is safe: a projection that cannot be made is
	// said in the result and never fails a trial that trained.
	if r.Projected, err = project(spec, m.Config.Family); err != nil {
		r.ProjectionError = err.Error()
		logf("no memory projection: %v", err)
	}
	logf("test %.4f, %d trainable parameters, %.0f tokens/s", test.score, r.NumTrainableParams, r.TokensPerSec)
	return nil
}

// savePEFT writes the adapter in PEFT's format, for the methods that have one.
func savePEFT(a *methods.Attached, m *model.Model, base, dir string) error {
	if err := a.SavePEFT(m, base, dir); err != nil && !errors.Is(err, methods.ErrNoPEFT) {
		return err
	}
	return nil
}

// Check does, without training, what a trial checks: the base model and
// task load, the method attaches with its settings, the train settings,
// data size and augmentation are valid, and the adapter exports in PEFT's
// format when AdaptersEnv asks for it. Its error is the one the trial would
// fail with; notes say what the trial would record without failing (a
// memory projection it cannot make, targets a projected model lacks).
func Check(spec trial.Spec) (notes []string, err error) {
	if err := checkContent(spec); err != nil {
		return nil, err
	}
	st, err := setup(spec, &trial.Result{}, func(string, ...any) {})
	if err != nil {
		return nil, err
	}
	defer st.ev.close()
	if spec.Method == trial.ZeroShot {
		return nil, nil
	}
	if _, err := st.task.Train(spec.DataSize, int64(spec.Seed)); err != nil {
		return nil, err
	}
	if spec.Augment != nil {
		if err := augment.Check(spec.Augment, st.task); err != nil {
			return nil, err
		}
	}
	if os.Getenv(AdaptersEnv) != "" {
		dir, err := os.MkdirTemp("", "peftbench-check-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if err := savePEFT(st.a, st.m, spec.Model, dir); err != nil {
			return nil, err
		}
	}
	ps, err := project(spec, st.m.Config.Family)
	if err != nil {
		return []string{"no memory projection: " + err.Error()}, nil
	}
	for _, p := range ps {
		for _, s := range p.SkippedTargets {
			notes = append(notes, fmt.Sprintf("projection onto %s skips target %s", p.Arch, s))
		}
	}
	return notes, nil
}
