package sweep

import (
	"fmt"
	"strings"

	"github.com/peftbench/peftbench/trial"
	"gopkg.in/yaml.v3"
)

// Tune is a spec's tuning stage (its tune field). A configuration whose
// grid lists several learning rates first trains at each of them at one
// data size and seed; the rate with the best validation accuracy is then
// the one it trains at for every data size and seed. Choosing at one
// point keeps a grid of rates from multiplying the cost of every learning
// curve, and keeps the test split out of the choice.
type Tune struct {
	DataSize int // 0 means all
	Seed     int
}

// A Plan is a spec's trials as far as the results so far decide them.
type Plan struct {
	// Tuning holds the tuning stage's trials, which run first.
	Tuning []trial.Spec
	// Rest holds every other decided trial: all of them when the spec has
	// no tune stage; with one, those of configurations whose rate is not
	// tuned or is already chosen.
	Rest []trial.Spec
	// Waiting counts the trials of configurations whose tuning trials are
	// not all finished yet.
	Waiting int
	// Untrained names the configurations whose every tuning trial failed:
	// with no rate to choose, their other trials do not run.
	Untrained []string
	// Chosen says, per tuned configuration, the rate chosen and what it was
	// chosen from, for a person.
	Chosen []string
}

// All is the plan's decided trials in sweep order: the tuning stage,
// then the rest. Shards split this order.
func (p Plan) All() []trial.Spec {
	return append(append([]trial.Spec(nil), p.Tuning...), p.Rest...)
}

// ResultOf finds a trial's stored result, nil when there is none yet.
type ResultOf func(trial.Spec) *trial.Result

// ResultsIn reads results from a sweep's output folder.
func ResultsIn(dir string) ResultOf {
	return func(t trial.Spec) *trial.Result {
		r, err := trial.ReadResult(trial.Path(dir, t.ID()))
		if err != nil {
			return nil
		}
		return r
	}
}

// parseTune reads the tune field: {data_size: N or all, seed: S}; the seed
// defaults to the spec's first.
func (s *Spec) parseTune(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping {data_size, seed}")
	}
	s.Tune = &Tune{Seed: -1}
	set := false
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		var err error
		switch k.Value {
		case "data_size":
			var n []int
			if n, err = intList(val, true); err == nil && len(n) != 1 {
				err = fmt.Errorf("want one data size")
			}
			if err == nil {
				s.Tune.DataSize, set = n[0], true
			}
		case "seed":
			err = val.Decode(&s.Tune.Seed)
			if err == nil && s.Tune.Seed < 1 {
				err = fmt.Errorf("must be a positive integer")
			}
		default:
			err = fmt.Errorf("unknown field (want data_size, seed)")
		}
		if err != nil {
			return specError(s.File, k.Line, "tune."+k.Value, "%v", err)
		}
	}
	if !set {
		return specError(s.File, v.Line, "tune.data_size", "required")
	}
	return nil
}

// checkTune validates the tune stage once the rest of the spec is read.
func (s *Spec) checkTune() error {
	if s.Tune == nil {
		return nil
	}
	line := s.lines["tune"]
	if s.Tune.Seed < 0 {
		s.Tune.Seed = s.Seeds[0]
	}
	if !s.Train.Select {
		return specError(s.File, line, "tune", "the rate is chosen on validation accuracy, which needs train.select: true")
	}
	for _, g := range s.Methods {
		if len(g.Axes["lr"]) > 1 {
			return nil
		}
	}
	return specError(s.File, line, "tune", "no method lists several learning rates (lr: [..]) to tune")
}

// choose picks the rate of a tuned configuration from its tuning trials,
// in the spec's order of rates: the best validation accuracy, the first
// listed on a tie. waiting is true while a tuning trial has no result.
func choose(tuning []trial.Spec, result ResultOf) (lr float64, ok, waiting bool) {
	best := -1.0
	for _, t := range tuning {
		r := result(t)
		switch {
		case r == nil:
			return 0, false, true
		case r.Status != trial.Success || r.Metrics.ValidAccuracy == nil:
			continue
		case *r.Metrics.ValidAccuracy > best:
			best, lr, ok = *r.Metrics.ValidAccuracy, t.Train.LR, true
		}
	}
	return lr, ok, false
}

// describe says what the tuning of configuration config ("spam/full
// (tiny)") chose: "spam/full (tiny): lr 0.0003 of 0.0001, 0.0003, 0.001".
func describe(config string, tuning []trial.Spec, chosen float64, ok bool) string {
	rates := make([]string, len(tuning))
	for i, t := range tuning {
		rates[i] = fmt.Sprintf("%g", t.Train.LR)
	}
	if !ok {
		return fmt.Sprintf("%s: every tuning trial at lr %s failed", config, strings.Join(rates, ", "))
	}
	return fmt.Sprintf("%s: lr %g of %s", config, chosen, strings.Join(rates, ", "))
}

// RunSpec runs a spec's trials into opt.Out: for shard opt.Shard of
// opt.Shards, its part of the tuning stage, then whatever part of that
// stage no other shard has finished (from the end, so that a shard still
// working forwards through its part meets this one rather than running
// the same trials), so that every rate is chosen; then its part of the
// whole plan. say gets a line as each stage starts and ends. The summary
// is the last stage's: every trial of this shard's part, those an earlier
// stage ran among the already done; the plan is the final one.
func RunSpec(s *Spec, opt Options, say func(string)) (*Summary, Plan, error) {
	stage := func(what string, trials []trial.Spec) (*Summary, error) {
		say(fmt.Sprintf("%s: %d trials, %d at a time, results in %s", what, len(trials), max(1, opt.Workers), opt.Out))
		sum, err := Run(trials, opt)
		if err == nil {
			say(fmt.Sprintf("%s: %d trials: %d already done, %d ran (%d succeeded), %d failed in all",
				what, sum.Total, sum.Skipped, sum.Ran, sum.Succeeded, sum.Failed))
		}
		return sum, err
	}
	result := ResultsIn(opt.Out)
	plan := s.Plan(result)
	if len(plan.Tuning) > 0 {
		if _, err := stage("tuning", ShardOf(plan.Tuning, opt.Shard, opt.Shards)); err != nil {
			return nil, plan, err
		}
		var left []trial.Spec
		for i := len(plan.Tuning) - 1; i >= 0; i-- {
			if result(plan.Tuning[i]) == nil {
				left = append(left, plan.Tuning[i])
			}
		}
		if len(left) > 0 {
			if _, err := stage("tuning left by other shards", left); err != nil {
				return nil, plan, err
			}
		}
		plan = s.Plan(result)
	}
	sum, err := stage("trials", ShardOf(plan.All(), opt.Shard, opt.Shards))
	return sum, plan, err
}
