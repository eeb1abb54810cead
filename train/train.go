// Package train holds the loops every trial shares: batches, the training
// step with its schedule and optimiser, NaN/Inf detection, meters for
// tokens per second and wall time, and evaluation by token log-likelihood.
//
// A Trainer compiles one program per (batch, length) shape on first use
// and reuses it: gorgonia graphs have fixed shapes, and compiling costs far
// more than a step.
package train

import (
	"fmt"
	"math"
	"time"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Batch is B sequences of T positions: input ids, the next-token targets
// and a loss weight per position (0 for padding and for prompt tokens a
// fine-tuning loss does not score).
type Batch struct {
	B, T    int
	IDs     []int
	Targets []int
	Mask    []float64
	// Real counts the positions that hold tokens rather than padding
	// (0: all of them); throughput counts only these.
	Real int
}

// RealTokens is the number of non-padding positions.
func (b Batch) RealTokens() int {
	if b.Real > 0 {
		return b.Real
	}
	return b.B * b.T
}

// Tokens is the number of positions the batch scores.
func (b Batch) Tokens() int {
	n := 0
	for _, w := range b.Mask {
		if w != 0 {
			n++
		}
	}
	return n
}

func (b Batch) check() error {
	n := b.B * b.T
	if n == 0 || len(b.IDs) != n || len(b.Targets) != n || len(b.Mask) != n {
		return fmt.Errorf("train: batch %dx%d has %d ids, %d targets, %d weights", b.B, b.T, len(b.IDs), len(b.Targets), len(b.Mask))
	}
	return nil
}

// shape keys a compiled program: batch, length, and for evaluation
// whether it computes per-token log-probabilities at every position
// (scoring continuations) or the logits at one chosen position per row
// (ranking single-token labels, greedy decoding), which skips the
// vocabulary projection and log-softmax everywhere else.
type shape struct {
	b, t     int
	logProbs bool
	pass     pass
}

// pass is what a training program runs: the whole model, the whole model
// keeping every block's output for an activation cache, or only what
// follows the backbone, on cached block outputs.
type pass int

const (
	whole pass = iota
	filling
	cached
)

type program struct {
	lm   *model.LM
	prog *nn.Program
	dp   *nn.DeviceProgram // prog compiled for the trainer's device, when it has one
	lp   *model.Node       // per-position log-probabilities (evaluation programs)
	// rows picks one flat position per batch row; head holds the logits
	// there, [B, vocab] (logits-only evaluation programs).
	rows *nn.Input
	head *model.Node
	// hidden are the block outputs: kept by a filling program, inputs of
	// a cached one.
	hidden []*model.Node
	inputs []*nn.Input
}

// Trainer trains the trainable parameters of a model and its hooks.
type Trainer struct {
	Model *model.Model
	Hooks []model.Hook
	Opt   *nn.AdamW
	Sched nn.Schedule

	train, eval map[shape]*program

	// Cache, when set, makes FineTune keep every training example's block
	// outputs from its first epoch and train later epochs on them alone;
	// only for methods whose weights all lie beside the backbone.
	Cache *ActivationCache

	// Meters: optimiser steps taken, real (non-padding) tokens processed
	// and time spent in training steps (compilation included on first use
	// of a shape).
	Steps      int
	TokensSeen int64
	TrainTime  time.Duration
	// CompileTime is the part of TrainTime and EvalTime spent building and
	// compiling programs, once per shape.
	CompileTime time.Duration
	LastGradNrm float64
	// OnStep, when set, is told of each training step once it is taken:
	// its number (1-based), the batch's mean loss, the learning rate it
	// took, the gradient norm, its real tokens and its time (a training
	// curve; it changes nothing the step computes).
	OnStep func(step int, loss, lr, gradNorm float64, tokens int, d time.Duration)
	// Evaluation meters: real tokens run forward and the time it took.
	EvalTokens int64
	EvalTime   time.Duration
	// StepValueBytes is the planned memory of the largest training
	// program: one step's activations and gradients, with values whose
	// lifetimes do not overlap sharing buffers.
	StepValueBytes int64

	// arena is the memory every program of the trainer computes in: they
	// never run at once, so they share it.
	arena *nn.Arena

	// onDevice, when set, runs every program on a device (UseDevice).
	onDevice *deviceState
}

// deviceState is what a trainer keeps on its device: the weights every
// program reads, AdamW's moments beside them, and which weights train
// (their host copies fall behind the device's until Pull).
type deviceState struct {
	w       *nn.DeviceWeights
	opt     *nn.DeviceAdamW
	trained map[*nn.Param]bool
	order   []*nn.Param
}

// UseDevice makes the trainer compile and run every program on dev,
// before its first step or evaluation: the weights are copied there on
// first use and stay there, AdamW's state lives there, and a step copies
// in only the batch's ids and mask and copies out the loss and the
// gradient norm. The host copies of the trained weights are brought up to
// date by Pull (FineTune does so after each call); after changing weights
// on the host, Push them.
func (t *Trainer) UseDevice(dev device.Device) error {
	if len(t.train)+len(t.eval) > 0 {
		return fmt.Errorf("train: UseDevice after programs were compiled for the CPU")
	}
	if t.dtype() != tensor.Float32 {
		return fmt.Errorf("train: device programs compute in float32; this model is %v", t.dtype())
	}
	w := nn.NewDeviceWeights(dev)
	t.onDevice = &deviceState{w: w, opt: nn.NewDeviceAdamW(t.Opt, w), trained: map[*nn.Param]bool{}}
	return nil
}

// Device is the device the trainer runs on, nil on the CPU.
func (t *Trainer) Device() device.Device {
	if t.onDevice == nil {
		return nil
	}
	return t.onDevice.w.Dev
}

// Pull copies the trained weights from the device to their host tensors
// (a no-op on the CPU).
func (t *Trainer) Pull() error {
	if t.onDevice == nil {
		return nil
	}
	return t.onDevice.w.Download(t.onDevice.order)
}

// PullState is Pull with AdamW's moments too (into t.Opt), for a
// checkpoint.
func (t *Trainer) PullState() error {
	if err := t.Pull(); err != nil || t.onDevice == nil {
		return err
	}
	return t.onDevice.opt.Download()
}

// Push copies the trained weights' host values to the device, after the
// host changed them (restoring a selected epoch; a no-op on the CPU).
func (t *Trainer) Push() error {
	if t.onDevice == nil {
		return nil
	}
	return t.onDevice.w.Upload(t.onDevice.order)
}

// NewTrainer returns a trainer with AdamW (weight decay wd) on sched.
func NewTrainer(m *model.Model, sched nn.Schedule, wd float64, hooks ...model.Hook) *Trainer {
	return &Trainer{Model: m, Hooks: hooks, Opt: nn.NewAdamW(wd), Sched: sched,
		train: map[shape]*program{}, eval: map[shape]*program{}, arena: nn.NewArena()}
}

func (t *Trainer) dtype() tensor.Dtype { return t.Model.Params[0].Value.Dtype() }

func (t *Trainer) program(b Batch, training, logProbs bool, ps pass) (*program, error) {
	cache := t.eval
	if training {
		cache = t.train
	}
	key := shape{b.B, b.T, logProbs, ps}
	if p, ok := cache[key]; ok {
		return p, nil
	}
	defer func(start time.Time) { t.CompileTime += time.Since(start) }(time.Now())
	g := nn.NewGraph(t.dtype())
	g.Training, g.Arena = training, t.arena
	var lm *model.LM
	var inputs []*nn.Input
	var err error
	if ps == cached {
		lm, inputs, err = t.Model.BuildLMFromHidden(g, b.B, b.T, t.Hooks...)
	} else {
		lm, err = t.Model.BuildLM(g, b.B, b.T, t.Hooks...)
	}
	if err != nil {
		return nil, err
	}
	p := &program{lm: lm, inputs: inputs}
	if training && ps == filling {
		p.hidden = lm.Hidden
		p.prog, err = nn.Compile(g, lm.Loss, lm.Hidden...)
	} else if training {
		p.prog, err = nn.Compile(g, lm.Loss)
	} else if logProbs {
		if p.lp, err = nn.TokenLogProbs(lm.Logits, lm.Targets.Node); err != nil {
			return nil, err
		}
		p.prog, err = nn.Compile(g, nil, p.lp)
	} else {
		p.rows = g.IntInput("rows", b.B)
		var picked *model.Node
		if picked, err = nn.Embedding(p.rows.Node, lm.Final); err != nil {
			return nil, err
		}
		if p.head, err = t.Model.Logits(g, picked); err != nil {
			return nil, err
		}
		p.prog, err = nn.Compile(g, nil, p.head)
	}
	if err != nil {
		return nil, err
	}
	if training && len(p.prog.Params) == 0 {
		return nil, fmt.Errorf("train: nothing to train: every parameter is frozen")
	}
	if training {
		t.StepValueBytes = max(t.StepValueBytes, p.prog.PlannedBytes())
	}
	if d := t.onDevice; d != nil {
		if p.dp, err = p.prog.OnDevice(d.w); err != nil {
			p.prog.Close()
			return nil, err
		}
		for _, prm := range p.prog.Params {
			if training && !d.trained[prm] {
				d.trained[prm] = true
				d.order = append(d.order, prm)
			}
		}
	}
	cache[key] = p
	return p, nil
}

// run runs the program where the trainer computes.
func (p *program) run() error {
	if p.dp != nil {
		return p.dp.Run()
	}
	return p.prog.Run()
}

// float32s is the value of node n from the last run, read from wherever
// the program ran; float32 programs only.
func (p *program) float32s(n *G.Node) ([]float32, error) {
	if p.dp != nil {
		return p.dp.Read(n)
	}
	return p.prog.Value(n).Data().([]float32), nil
}

// float64s is the value of node n from the last run as float64s.
func (p *program) float64s(n *G.Node) ([]float64, error) {
	if p.dp == nil {
		return nn.Float64s(p.prog.Value(n)), nil
	}
	v, err := p.dp.Read(n)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out, nil
}

// loss is the loss of the last run.
func (p *program) loss() (float64, error) {
	if p.dp != nil {
		return p.dp.LossValue()
	}
	return p.prog.LossValue(), nil
}

func (p *program) set(b Batch) {
	if p.lm.IDs != nil { // a cached pass reads block outputs, not tokens
		p.lm.IDs.SetInts(b.IDs)
	}
	p.lm.Targets.SetInts(b.Targets)
	p.lm.Mask.SetFloats(b.Mask)
}

// Step runs forward and backward on b and updates the trainable weights.
// A non-finite loss or gradient stops with an error naming the step.
func (t *Trainer) Step(b Batch) (float64, error) { return t.step(b, whole, nil) }

// step runs one training step of the given pass; rows, for the filling
// and cached passes, names the examples of b's rows and their positions.
func (t *Trainer) step(b Batch, ps pass, rows *cacheRows) (float64, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	start := time.Now()
	p, err := t.program(b, true, false, ps)
	if err != nil {
		return 0, err
	}
	p.set(b)
	d := t.Model.Config.DModel
	if ps == cached {
		in := make([][]float32, len(p.inputs))
		for l, x := range p.inputs {
			in[l] = x.Data().([]float32)
		}
		if err := t.Cache.load(in, rows.idx, rows.n, b.T, d); err != nil {
			return 0, err
		}
	}
	if err := p.run(); err != nil {
		return 0, fmt.Errorf("train: step %d: %w", t.Steps, err)
	}
	if ps == filling {
		out := make([][]float32, len(p.hidden))
		for l, h := range p.hidden {
			if out[l], err = p.float32s(h); err != nil {
				return 0, err
			}
		}
		t.Cache.store(out, rows.idx, rows.n, b.T, d)
	}
	loss, err := p.loss()
	if err != nil {
		return 0, err
	}
	lr := t.Sched.LR(t.Steps)
	if t.onDevice != nil {
		t.LastGradNrm, err = t.onDevice.opt.Step(p.dp, lr)
	} else {
		t.LastGradNrm = t.Opt.Step(p.prog, lr)
	}
	if err != nil {
		return 0, fmt.Errorf("train: step %d: %w", t.Steps, err)
	}
	if math.IsNaN(t.LastGradNrm) || math.IsInf(t.LastGradNrm, 0) {
		return 0, fmt.Errorf("train: step %d: gradient norm is %v", t.Steps, t.LastGradNrm)
	}
	if err := t.stepHooks(p); err != nil {
		return 0, fmt.Errorf("train: step %d: %w", t.Steps, err)
	}
	t.Steps++
	t.TokensSeen += int64(b.RealTokens())
	took := time.Since(start)
	t.TrainTime += took
	if t.OnStep != nil {
		t.OnStep(t.Steps, loss, lr, t.LastGradNrm, b.RealTokens(), took)
	}
	return loss, nil
}

// stepHooks tells every model.StepHook of the step just taken (index
// t.Steps, of the schedule's Total), with the pass's gradients; on a
// device the trained weights come to the host first, and go back when a
// hook changed them.
func (t *Trainer) stepHooks(p *program) error {
	var hooks []model.StepHook
	for _, h := range t.Hooks {
		if sh, ok := h.(model.StepHook); ok {
			hooks = append(hooks, sh)
		}
	}
	if len(hooks) == 0 {
		return nil
	}
	if err := t.Pull(); err != nil {
		return err
	}
	grad := func(prm *nn.Param) ([]float64, error) {
		for i, q := range p.prog.Params {
			if q == prm {
				return p.float64s(p.prog.Grads[i])
			}
		}
		return nil, nil
	}
	changed := false
	for _, h := range hooks {
		c, err := h.HookStep(t.Steps, t.Sched.Total, grad)
		if err != nil {
			return err
		}
		changed = changed || c
	}
	if changed {
		return t.Push()
	}
	return nil
}

// TokensPerSec is the training throughput so far.
func (t *Trainer) TokensPerSec() float64 {
	if t.TrainTime <= 0 {
		return 0
	}
	return float64(t.TokensSeen) / t.TrainTime.Seconds()
}

// forward runs the evaluation program on b, metering it.
func (t *Trainer) forward(b Batch, logProbs bool) (*program, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := t.program(b, false, logProbs, whole)
	if err != nil {
		return nil, err
	}
	p.set(b)
	if err := p.run(); err != nil {
		return nil, err
	}
	t.EvalTokens += int64(b.RealTokens())
	t.EvalTime += time.Since(start)
	return p, nil
}

// EvalTokensPerSec is the evaluation throughput so far.
func (t *Trainer) EvalTokensPerSec() float64 {
	if t.EvalTime <= 0 {
		return 0
	}
	return float64(t.EvalTokens) / t.EvalTime.Seconds()
}

// LogProbs returns log p(target) at every position of b (zero where the
// target is out of the vocabulary, e.g. padding marked -1).
func (t *Trainer) LogProbs(b Batch) ([]float64, error) {
	p, err := t.forward(b, true)
	if err != nil {
		return nil, err
	}
	return p.float64s(p.lp)
}

// Logits runs b forward and returns the logits at each of the given flat
// positions (row·T + column), one position per row of b at most.
func (t *Trainer) Logits(b Batch, positions []int) ([][]float64, error) {
	if len(positions) > b.B {
		return nil, fmt.Errorf("train: %d positions for a batch of %d rows", len(positions), b.B)
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	p, err := t.program(b, false, false, whole)
	if err != nil {
		return nil, err
	}
	rows := make([]int, b.B)
	copy(rows, positions)
	p.rows.SetInts(rows)
	if _, err := t.forward(b, false); err != nil {
		return nil, err
	}
	head, err := p.float64s(p.head)
	if err != nil {
		return nil, err
	}
	v := t.Model.Config.Vocab
	out := make([][]float64, len(positions))
	for i := range positions {
		out[i] = head[i*v : (i+1)*v]
	}
	return out, nil
}

// Argmax returns the most likely next token at each of the given flat
// positions of b: greedy decoding.
func (t *Trainer) Argmax(b Batch, positions []int) ([]int, error) {
	rows, err := t.Logits(b, positions)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = argmax(r)
	}
	return out, nil
}

func argmax[T float32 | float64](row []T) int {
	best := 0
	for j, x := range row {
		if x > row[best] {
			best = j
		}
	}
	return best
}

// ArenaBytes is the memory every program of the trainer computes in: the
// largest program's planned values, training or evaluation.
func (t *Trainer) ArenaBytes() int64 { return t.arena.Bytes() }

// Close releases the compiled programs.
func (t *Trainer) Close() {
	for _, c := range []map[shape]*program{t.train, t.eval} {
		for k, p := range c {
			if p.dp != nil {
				p.dp.Close()
			}
			p.prog.Close()
			delete(c, k)
		}
	}
	t.Cache = nil
	if d := t.onDevice; d != nil {
		d.opt.Close()
		d.w.Close()
		t.onDevice = nil
	}
}
