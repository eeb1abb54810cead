// Package run executes one fine-tuning trial in this process: a pure
// function of its spec (trial.Spec) to its result (trial.Result). Sweeps run
// each trial through it in a child process of its own.
package run

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/peftbench/peftbench/augment"
	"github.com/peftbench/peftbench/gpu"
	"github.com/peftbench/peftbench/gpu/projection"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/internal/meter"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/model/tokenizer"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/train"
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

// examples tokenises a task's examples into (prompt, target) pairs.
type encoded struct {
	pairs   []train.Pair
	gold    []int    // classification labels
	answers []string // generation answers
}

func encode(tok *tokenizer.Tokenizer, exs []tasks.Example) encoded {
	var e encoded
	for _, ex := range exs {
		e.pairs = append(e.pairs, train.Pair{Prompt: tok.EncodeStart(ex.Prompt), Target: tok.Encode(ex.Target)})
		e.gold = append(e.gold, ex.Label)
		e.answers = append(e.answers, ex.Answer)
	}
	return e
}

func capped(t *tasks.Task, split string, n int) ([]tasks.Example, error) {
	exs, err := t.Split(split)
	if err != nil || n <= 0 || len(exs) <= n {
		return exs, err
	}
	return exs[:n], nil
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

// newEvaluator scores the base model with a's hooks on the task, in
// batches of s.Batch, through a trainer with no steps scheduled, on the
// device called dev (trial.Spec.Device).
func newEvaluator(base *model.Base, a *methods.Attached, task *tasks.Task, s trial.Settings, dev string) (*evaluator, error) {
	tok, m := base.Tokenizer, base.Model
	labels := make([][]int, len(task.Labels))
	for i, l := range task.Labels {
		labels[i] = tok.Encode(l)
	}
	ev := &evaluator{m: m, hooks: a.Hooks, weightDecay: s.WeightDecay, task: task, labels: labels,
		batch: s.Batch, maxLen: m.Config.Context - a.Positions, tok: tok}
	var err error
	if ev.dev, err = openDevice(dev); err == nil {
		err = ev.renew()
	}
	if err != nil {
		ev.close()
		return nil, err
	}
	return ev, nil
}

// openDevice opens the device a spec asks for: nil for the CPU, and for
// auto (the empty name) CUDA where it is found, else the CPU.
func openDevice(name string) (device.Device, error) {
	switch name {
	case "cpu":
		return nil, nil
	case "":
		name = "auto"
	}
	d, err := device.Open(name)
	if name == "auto" && errors.Is(err, device.ErrUnavailable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", name, err)
	}
	return d, nil
}

// renew gives the evaluator a fresh trainer (a new optimiser, no compiled
// programs), on its device, closing the one before.
func (ev *evaluator) renew() error {
	if ev.tr != nil {
		ev.tr.Close()
	}
	ev.tr = train.NewTrainer(ev.m, nn.Schedule{}, ev.weightDecay, ev.hooks...)
	if ev.dev != nil {
		return ev.tr.UseDevice(ev.dev)
	}
	return nil
}

// close releases the trainer and the device.
func (ev *evaluator) close() {
	if ev.tr != nil {
		ev.tr.Close()
	}
	if ev.dev != nil {
		ev.dev.Close()
	}
}

// deviceUse describes where ev ran, nil on the CPU.
func (ev *evaluator) deviceUse() *trial.DeviceUse {
	if ev.dev == nil {
		return nil
	}
	_, peak := ev.dev.Allocated()
	_, total, _ := ev.dev.Memory()
	return &trial.DeviceUse{Kind: ev.dev.Kind(), Name: ev.dev.Name(), Info: ev.dev.Info(), PeakBytes: peak, TotalBytes: total}
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

// learn fine-tunes the student on the trial's training sample, or runs
// the trial's augmentation loop around it, then records the training
// meters over every fit.
func learn(st *student) error {
	spec, r := st.spec, st.r
	trainEx, err := st.task.Train(spec.DataSize, int64(spec.Seed))
	if err != nil {
		return err
	}
	if a := spec.Augment; a != nil {
		teacher, err := augment.NewTeacher(a, st.task, trainEx, uint64(spec.Seed))
		if err != nil {
			return err
		}
		if r.Augment, err = augment.LLM2LLM(trainEx, a.Iterations, a.PerError, teacher, st, st.logf); err != nil {
			return err
		}
	} else if err := st.Fit(trainEx); err != nil {
		return err
	}
	m := st.m
	r.TrainTime = st.trainTime.Seconds()
	r.TrainTokens = st.tokens
	r.Steps = st.steps
	if r.TrainTime > 0 {
		r.TokensPerSec = float64(st.tokens) / r.TrainTime
	}
	r.CalibrationGFLOPS = nn.CalibrateGFLOPS(300 * time.Millisecond)
	meanLen := int(st.tokens) / max(1, st.steps*spec.Train.Batch)
	r.TrainFLOPsPerToken = m.Config.TrainFLOPsPerToken(meanLen, trainableMatrices(st.a, m))
	if peak := peakGFLOPS(st.ev.dev); peak > 0 {
		r.PeakGFLOPS = peak
		r.MFU = r.TokensPerSec * r.TrainFLOPsPerToken / (peak * 1e9)
	}
	r.NormTokensPerSec = r.TokensPerSec / r.CalibrationGFLOPS
	return nil
}

// peakGFLOPS is the float32 peak the trial's products run at: the cores'
// on the CPU, the GPU catalogue's for the device's precision (0 where it
// is not known: no MFU is then given).
func peakGFLOPS(dev device.Device) float64 {
	if dev == nil {
		return machine.PeakFP32(nn.Workers()).GFLOPS
	}
	return machine.DevicePeakGFLOPS(dev.Name(), dev.Info()["matmul_precision"])
}

// student is the trial's model and method as augment.Student: each Fit
// starts again from the base model and the method's initial weights, with
// a fresh optimiser, and the training meters add up over fits.
type student struct {
	spec    trial.Spec
	r       *trial.Result
	task    *tasks.Task
	a       *methods.Attached
	m       *model.Model
	ev      *evaluator
	logf    func(string, ...any)
	testSet encoded
	// initial holds the trainable weights as attached, taken at the first
	// Fit; test is the fitted student's test scoring, once done.
	initial map[*nn.Param][]float64
	test    *evaluation

	trainTime time.Duration
	tokens    int64
	steps     int
}

// Fit fine-tunes afresh on data: restores the initial weights, gives the
// trial a new trainer, and fits, keeping the epoch with the best
// validation score when the spec selects.
func (st *student) Fit(data []tasks.Example) error {
	if st.initial == nil {
		st.initial = snapshot(st.a, st.m)
	} else {
		for p, v := range st.initial {
			methods.SetValues(p, v)
		}
		if err := st.ev.renew(); err != nil {
			return err
		}
	}
	st.test = nil
	tr := st.ev.tr
	if st.a.CacheLimit > 0 {
		tr.Cache = train.NewActivationCache(st.a.CacheLimit)
	}
	if err := fit(st.spec, st.r, st.task, st.a, st.m, st.ev, data, st.logf); err != nil {
		return err
	}
	st.trainTime += tr.TrainTime
	st.tokens += tr.TokensSeen
	st.steps += tr.Steps
	return nil
}

// Right scores the fitted student on examples.
func (st *student) Right(exs []tasks.Example) ([]bool, error) {
	e, err := st.ev.score("seed", encode(st.ev.tok, exs))
	return e.right, err
}

// Test scores the fitted student on the test split, once per fit.
func (st *student) Test() (float64, error) {
	if st.test == nil {
		e, err := st.ev.score("test", st.testSet)
		if err != nil {
			return 0, err
		}
		st.test = &e
	}
	return st.test.score, nil
}

// fit fine-tunes on data, keeps the epoch with the best validation score
// when the spec selects, and records the epochs' losses and the selection
// (replacing those of an earlier fit).
func fit(spec trial.Spec, r *trial.Result, task *tasks.Task, a *methods.Attached, m *model.Model, ev *evaluator, data []tasks.Example, logf func(string, ...any)) error {
	s, tr := spec.Train, ev.tr
	var validEx []tasks.Example
	if s.Select && hasSplit(task, "validation") {
		var err error
		if validEx, err = capped(task, "validation", s.ValidCap()); err != nil {
			return err
		}
	}
	trainSet, validSet := encode(ev.tok, data), encode(ev.tok, validEx)
	passes, scored := s.Passes(len(trainSet.pairs))
	steps := passes * ((len(trainSet.pairs) + s.Batch - 1) / s.Batch)
	tr.Sched = nn.Schedule{Peak: s.LR, Warmup: int(math.Round(s.WarmupFrac * float64(steps))), Total: steps, MinFactor: 0.1}

	r.Metrics.EpochLoss, r.BestEpoch, r.Metrics.ValidAccuracy, r.Outcomes = nil, 0, nil, nil
	r.EpochSeconds, r.EpochPeakHeapBytes = nil, nil
	var stepLog trial.StepLog
	epoch, first, took := 0, tr.Steps, time.Duration(0)
	tr.OnStep = func(step int, loss, lr, gradNorm float64, tokens int, d time.Duration) {
		took += d
		stepLog.Add(trial.StepPoint{Step: step - first, Epoch: epoch, Loss: loss, LR: lr, GradNorm: gradNorm,
			TokensPerSec: float64(tokens) / d.Seconds(), Time: took.Seconds()})
	}
	defer func() { tr.OnStep = nil; r.StepLog = stepLog.Points() }()
	bestScore, bestEpoch, r0 := math.Inf(-1), 0, time.Now()
	var best map[*nn.Param][]float64
	var bestValid trial.Outcomes
	for e := 1; e <= passes; e++ {
		epoch = e
		t0, c0, heap := tr.TrainTime, tr.CompileTime, meter.StartHeapSampler(20*time.Millisecond)
		curve, err := train.FineTune(tr, trainSet.pairs, s.Batch, ev.maxLen, 1, uint64(spec.Seed)*1000+uint64(e))
		r.EpochPeakHeapBytes = append(r.EpochPeakHeapBytes, heap.Stop())
		if err != nil {
			return err
		}
		r.EpochSeconds = append(r.EpochSeconds, ((tr.TrainTime - t0) - (tr.CompileTime - c0)).Seconds())
		r.Metrics.EpochLoss = append(r.Metrics.EpochLoss, curve[0])
		line := fmt.Sprintf("%5.1fs epoch %d/%d: train loss %.4f", time.Since(r0).Seconds(), e, passes, curve[0])
		if len(validSet.pairs) > 0 && slices.Contains(scored, e) {
			v, err := ev.score("validation", validSet)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(", validation %.4f", v.score)
			if v.score > bestScore {
				bestScore, bestEpoch, best, bestValid = v.score, e, snapshot(a, m), v.outcomes
			}
		}
		logf("%s", line)
	}
	r.Metrics.TrainLoss = r.Metrics.EpochLoss[len(r.Metrics.EpochLoss)-1]
	if best != nil {
		for p, v := range best {
			methods.SetValues(p, v)
		}
		if err := tr.Push(); err != nil {
			return err
		}
		r.BestEpoch = bestEpoch
		r.Metrics.ValidAccuracy = &bestScore
		r.Outcomes = append(r.Outcomes, bestValid)
	}
	return nil
}

func hasSplit(t *tasks.Task, name string) bool {
	for _, s := range t.Splits() {
		if s == name {
			return true
		}
	}
	return false
}

// ownOutside counts the method's weights that are not model weights.
func ownOutside(a *methods.Attached, m *model.Model) int {
	inModel := map[*nn.Param]bool{}
	for _, p := range m.Params {
		inModel[p] = true
	}
	n := 0
	for _, p := range a.Own {
		if !inModel[p] {
			n += p.Size()
		}
	}
	return n
}

// trainableMatrices counts the trainable weights that sit in matrix
// products (those with two dimensions), whose gradients cost FLOPs.
func trainableMatrices(a *methods.Attached, m *model.Model) int {
	n := 0
	for _, p := range a.Trainable(m) {
		if p.Value.Dims() == 2 {
			n += p.Size()
		}
	}
	return n
}

// snapshot copies every trainable weight, for selecting the best epoch.
func snapshot(a *methods.Attached, m *model.Model) map[*nn.Param][]float64 {
	out := map[*nn.Param][]float64{}
	for _, p := range a.Trainable(m) {
		out[p] = nn.Float64s(p.Value)
	}
	return out
}

// evaluator scores a split: accuracy and macro-F1 by ranking label
// continuations, or exact match of greedy generations.
type evaluator struct {
	tr          *train.Trainer
	m           *model.Model
	hooks       []model.Hook
	dev         device.Device // nil on the CPU
	weightDecay float64
	task        *tasks.Task
	labels      [][]int
	batch       int
	maxLen      int
	tok         *tokenizer.Tokenizer
}

// evaluation is a split's score and its per-example outcomes.
type evaluation struct {
	score, macroF1 float64
	outcomes       trial.Outcomes
	right          []bool
}

func (ev *evaluator) score(split string, set encoded) (evaluation, error) {
	prompts := make([][]int, len(set.pairs))
	index := make([]int, len(set.pairs)) // capped splits are their first examples
	for i, p := range set.pairs {
		prompts[i], index[i] = p.Prompt, i
	}
	right := make([]bool, len(prompts))
	if ev.task.Kind == tasks.KindGeneration {
		stop := ev.task.Stop
		outs, err := train.Generate(ev.tr, prompts, ev.task.MaxNewTokens(), ev.batch, ev.maxLen, func(t []int) bool {
			return stop != "" && strings.Contains(ev.tok.Decode(t), stop)
		})
		if err != nil {
			return evaluation{}, err
		}
		answers := make([]string, len(outs))
		for i, o := range outs {
			text := ev.tok.Decode(o)
			if stop != "" {
				text, _, _ = strings.Cut(text, stop)
			}
			answers[i] = tasks.NormaliseAnswer(text)
			right[i] = answers[i] == tasks.NormaliseAnswer(set.answers[i])
		}
		o := trial.NewOutcomes(split, index, right)
		o.Answers = answers
		return evaluation{score: tasks.ExactMatch(answers, set.answers), outcomes: o, right: right}, nil
	}
	preds, _, err := train.Classify(ev.tr, prompts, ev.labels, ev.batch, ev.maxLen)
	if err != nil {
		return evaluation{}, err
	}
	for i := range preds {
		right[i] = preds[i] == set.gold[i]
	}
	o := trial.NewOutcomes(split, index, right)
	o.Labels, o.Predicted = ev.task.Labels, preds
	return evaluation{score: tasks.Accuracy(preds, set.gold), macroF1: tasks.MacroF1(preds, set.gold, len(ev.labels)), outcomes: o, right: right}, nil
}

// account computes the breakdown for a trial once it has trained (or not,
// for zero-shot) and evaluated; selected says whether it kept a snapshot
// of the best epoch.
func account(a *methods.Attached, m *model.Model, total int, tr *train.Trainer, selected bool) trial.Memory {
	trainable := int64(0)
	if tr.Steps > 0 {
		trainable = int64(a.NumTrainable(m))
	}
	mem := trial.Memory{
		WeightBytes:    4 * int64(total),
		TrainableBytes: 4 * trainable,
		GradientBytes:  4 * trainable,
		OptimizerBytes: 16 * trainable,
		StepBytes:      tr.StepValueBytes,
		EvalBytes:      max(0, tr.ArenaBytes()-tr.StepValueBytes),
	}
	if selected {
		mem.SnapshotBytes = 8 * trainable
	}
	if tr.Cache != nil {
		mem.CacheBytes = tr.Cache.Bytes()
	}
	mem.TotalBytes = mem.WeightBytes + mem.OptimizerBytes + mem.StepBytes + mem.EvalBytes + mem.SnapshotBytes + mem.CacheBytes
	return mem
}

// projectSeq is the sequence length projections assume: a common
// fine-tuning length for the large models, where the tiny model's prompts
// would understate activations.
const projectSeq = 512

// project projects the trial's method and batch size onto the large
// models people fine-tune on GPUs; family is the trial's base model's,
// whose layer names the method's targets use.
func project(spec trial.Spec, family model.Family) ([]trial.Projection, error) {
	var out []trial.Projection
	for _, arch := range []projection.Arch{projection.GPT2XL, projection.Llama2_7B, projection.Llama3_8B} {
		p, err := projection.ProjectWith(arch, spec.Method, spec.MethodParams,
			projection.Options{Batch: spec.Train.Batch, Seq: projectSeq, Precision: projection.BF16FP32Adam, Source: family})
		if err != nil {
			return nil, fmt.Errorf("projecting onto %s: %w", arch.Name, err)
		}
		var fits []string
		for _, g := range p.Fits(nil) {
			fits = append(fits, g.Name)
		}
		out = append(out, trial.Projection{Arch: arch.Name, Precision: p.Inputs.Precision, Batch: spec.Train.Batch, Seq: projectSeq,
			TrainableParams: p.TrainableParams, WeightsBytes: p.WeightsBytes + p.MasterWeightsBytes, GradientsBytes: p.GradientsBytes,
			OptimizerBytes: p.OptimizerBytes, ActivationBytes: p.ActivationsBytes + p.LogitsBytes, TotalBytes: p.TotalBytes, FitsOn: fits,
			SkippedTargets: p.SkippedTargets})
	}
	return out, nil
}
