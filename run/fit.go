package run

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/peftbench/peftbench/augment"
	"github.com/peftbench/peftbench/internal/meter"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/train"
	"github.com/peftbench/peftbench/trial"
)

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

// snapshot copies every trainable weight, for selecting the best epoch.
func snapshot(a *methods.Attached, m *model.Model) map[*nn.Param][]float64 {
	out := map[*nn.Param][]float64{}
	for _, p := range a.Trainable(m) {
		out[p] = nn.Float64s(p.Value)
	}
	return out
}
