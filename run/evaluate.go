package run

import (
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/internal/meter"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// Evaluate scores a PEFT adapter folder (methods.LoadPEFT: LoRA, DoRA,
// VeRA, LN tuning, IA3, prompt tuning), trained here or elsewhere, on spec's task's test split,
// as a trial scores its trained method: the same evaluator, metrics and
// per-example outcomes, so a report can pair it with a sweep's trials on
// the same test examples. spec names the model, the task and the
// evaluation settings (Train.Batch, Train.MaxEval); Evaluate fills in the
// method and its settings from the adapter and the adapter's content hash
// (Spec.AdapterHash), which is part of the id. With adapter empty, the
// base model is scored as it is (the zero-shot control). Errors come back
// as a failed result.
func Evaluate(spec trial.Spec, adapter string, logf func(string, ...any)) *trial.Result {
	defer debug.SetGCPercent(debug.SetGCPercent(meter.GCPercent))
	runtime.GC()
	start := time.Now()
	r := &trial.Result{Status: trial.Success, Spec: spec, Adapter: adapter, Env: machine.Describe(nn.BLAS())}
	if err := evaluate(r, adapter, logf); err != nil {
		r.Status, r.Error = trial.Failed, err.Error()
	}
	r.ID = r.Spec.ID()
	r.PeakMemoryBytes = meter.PeakRSS()
	r.WallTime = time.Since(start).Seconds()
	return r
}

func evaluate(r *trial.Result, adapter string, logf func(string, ...any)) error {
	spec := &r.Spec
	if spec.Train.Batch < 1 {
		return fmt.Errorf("trial: evaluation needs batch ≥ 1, not %d", spec.Train.Batch)
	}
	base, err := model.LoadBase(spec.Model)
	if err != nil {
		return err
	}
	r.ModelCommit = base.Commit
	if spec.ModelHash, err = model.ContentHash(spec.Model); err != nil {
		return err
	}
	task, err := tasks.Load(spec.Task)
	if err != nil {
		return err
	}
	if spec.TaskHash, err = tasks.ContentHash(spec.Task); err != nil {
		return err
	}
	var a *methods.Attached
	if adapter == "" {
		a, err = methods.Attach(base, trial.ZeroShot, nil, 0)
	} else {
		a, err = methods.LoadPEFT(base, adapter)
		if err == nil {
			spec.AdapterHash, err = methods.PEFTHash(adapter)
		}
	}
	if err != nil {
		return err
	}
	spec.Method, spec.MethodParams = a.Method, map[string]any(a.Values)
	if adapter != "" { // the configuration's name in reports and checks: not a trained one
		spec.Name = fmt.Sprintf("%s adapter=%s", a.Method, filepath.Base(filepath.Clean(adapter)))
	}
	m := base.Model
	r.NumTrainableParams = a.NumTrainable(m)
	r.NumTotalParams = m.NumParams() + ownOutside(a, m)
	testEx, err := capped(task, "test", spec.Train.MaxEval)
	if err != nil {
		return err
	}
	ev, err := newEvaluator(base, a, task, spec.Train, spec.Device)
	if err != nil {
		return err
	}
	defer ev.close()
	defer func() { r.Device = ev.deviceUse() }()
	test, err := ev.score("test", encode(base.Tokenizer, testEx))
	if err != nil {
		return err
	}
	r.Metrics.TestAccuracy = test.score
	if task.Kind == tasks.KindGeneration {
		r.Metrics.ExactMatch = &test.score
	} else {
		r.Metrics.MacroF1 = &test.macroF1
	}
	r.Outcomes = []trial.Outcomes{test.outcomes}
	r.EvalTokensPerSec = ev.tr.EvalTokensPerSec()
	logf("%s on %s: test %.4f over %d examples", a.Method, task.Name, test.score, len(testEx))
	return nil
}
