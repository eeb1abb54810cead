package run

import (
	"errors"
	"fmt"
	"strings"

	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/model/tokenizer"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/train"
	"github.com/peftbench/peftbench/trial"
)

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

func hasSplit(t *tasks.Task, name string) bool {
	for _, s := range t.Splits() {
		if s == name {
			return true
		}
	}
	return false
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
