// Package measure times a method's training on this machine, block by
// block, as the workload edge's planner and simulator scale to other
// devices. It runs the engine; package edge itself does not, so reports can
// simulate without linking it.
package measure

import (
	"fmt"
	"github.com/peftbench/peftbench/edge"
	"slices"
	"strings"
	"time"

	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/train"
	"gorgonia.org/tensor"
)

// Workload times a method's training on this machine and returns its
// edge.Workload: what one epoch of the given microbatches costs, layer by layer.
// Blocks are alike, so a block's cost is the difference between models of
// the same shape (cfg, random weights) with two blocks and with one, and
// the head's (embeddings, final norm, head, loss) is what the one-block
// model costs beyond its block:
//
//	LayerForward  = F(2) − F(1),          HeadForward  = F(1) − LayerForward,
//	LayerBackward = B(2) − B(1),          HeadBackward = B(1) − LayerBackward,
//
// with F(L) a forward pass with the method attached and B(L) its training
// run (forward and backward) less F(L). For a side network (pac) the
// backbone's forward F₀ is measured without the method, the adapters are
// what the method adds (per block, times the model's blocks), and nothing
// runs backward through the backbone. Times are medians of reps runs per
// microbatch shape, weighted by how often the epoch has each shape.
func Workload(cfg model.Config, method string, params map[string]any, batches []train.Batch, reps int) (edge.Workload, error) {
	if len(batches) == 0 {
		return edge.Workload{}, fmt.Errorf("edge: no microbatches to measure")
	}
	type cost struct{ fwd, plainFwd, run, opt float64 }
	var costs [3]cost // by blocks: 1 and 2
	var bytes [3]struct{ weights, block, trainable, values int64 }
	var side, cache bool
	for blocks := 1; blocks <= 2; blocks++ {
		c := cfg
		c.Layers = blocks
		m, err := model.New(c, tensor.Float32, 1)
		if err != nil {
			return edge.Workload{}, err
		}
		a, err := methods.Attach(&model.Base{Name: "measure", Model: m}, method, params, 1)
		if err != nil {
			return edge.Workload{}, err
		}
		// A side network: hooks that leave every block's output as it is.
		side, cache = len(a.Hooks) > 0 && m.BesideBackbone(a.Hooks...) == nil, a.CacheLimit > 0
		timed := func(hooks []model.Hook, training bool) (run, opt float64, values int64, err error) {
			return timeEpoch(m, hooks, batches, training, reps)
		}
		k := &costs[blocks]
		if k.fwd, _, _, err = timed(a.Hooks, false); err != nil {
			return edge.Workload{}, err
		}
		if k.plainFwd, _, _, err = timed(nil, false); err != nil {
			return edge.Workload{}, err
		}
		var values int64
		if k.run, k.opt, values, err = timed(a.Hooks, true); err != nil {
			return edge.Workload{}, err
		}
		b := &bytes[blocks]
		b.values = values
		b.trainable = 4 * int64(a.NumTrainable(m))
		for _, p := range append(append([]*nn.Param{}, m.Params...), a.Own...) {
			if strings.HasPrefix(p.Name, "h.0.") {
				b.block += 4 * int64(p.Size())
			} else if !strings.HasPrefix(p.Name, "pac.") && !strings.HasPrefix(p.Name, "h.") {
				b.weights += 4 * int64(p.Size())
			}
		}
	}
	nb := float64(len(batches))
	per := func(x float64) float64 { return max(0, x/nb) }
	one, two := costs[1], costs[2]
	w := edge.Workload{Method: method, Layers: cfg.Layers, Batch: batches[0].B, Microbatches: len(batches),
		ReferenceGFLOPS: nn.CalibrateGFLOPS(300 * time.Millisecond), OptimizerStep: per(two.opt),
		LayerWeightBytes: bytes[1].block, HeadWeightBytes: bytes[1].weights, SideNetwork: side}
	tokens := 0
	for _, b := range batches {
		tokens += b.T
	}
	w.Tokens = tokens / len(batches)
	w.ActivationBytes = int64(w.Batch*w.Tokens*cfg.DModel) * 4
	back1, back2 := one.run-one.fwd, two.run-two.fwd
	if side {
		w.Cache = cache
		w.LayerForward = per(two.plainFwd - one.plainFwd)
		w.HeadForward = per(one.plainFwd) - w.LayerForward
		adapterFwd := per((two.fwd - one.fwd) - (two.plainFwd - one.plainFwd))
		adapterBack := per(back2 - back1)
		w.AdapterForward, w.AdapterBackward = adapterFwd*float64(cfg.Layers), adapterBack*float64(cfg.Layers)
		w.HeadBackward = per(back1) - adapterBack
		w.TrainableBytes = bytes[1].trainable * int64(cfg.Layers) // one block's adapter, per block
		w.AdapterSavedBytes = (bytes[2].values - bytes[1].values) * int64(cfg.Layers)
		w.HeadSavedBytes = bytes[1].values - (bytes[2].values - bytes[1].values)
	} else {
		w.LayerForward = per(two.fwd - one.fwd)
		w.HeadForward = per(one.fwd) - w.LayerForward
		w.LayerBackward = per(back2 - back1)
		w.HeadBackward = per(back1) - w.LayerBackward
		perBlock := bytes[2].trainable - bytes[1].trainable
		head := bytes[1].trainable - perBlock
		w.TrainableBytes = head + perBlock*int64(cfg.Layers)
		w.HeadTrainableBytes = head
		w.LayerSavedBytes = bytes[2].values - bytes[1].values
		w.HeadSavedBytes = bytes[1].values - w.LayerSavedBytes
	}
	w.HeadForward, w.HeadBackward = max(0, w.HeadForward), max(0, w.HeadBackward)
	w.HeadSavedBytes = max(0, w.HeadSavedBytes)
	return w, w.Validate()
}

// timeEpoch runs every microbatch's program (training: forward and
// backward; else forward to the loss) reps times after a warm-up and sums
// the median times over the epoch; training also times the optimiser step
// and returns the largest program's values.
func timeEpoch(m *model.Model, hooks []model.Hook, batches []train.Batch, training bool, reps int) (run, opt float64, values int64, err error) {
	type key struct{ b, t int }
	progs := map[key]*nn.Program{}
	lms := map[key]*model.LM{}
	arena := nn.NewArena()
	defer func() {
		for _, p := range progs {
			p.Close()
		}
	}()
	median := func(f func()) float64 {
		f() // warm-up
		ts := make([]float64, reps)
		for i := range ts {
			t0 := time.Now()
			f()
			ts[i] = time.Since(t0).Seconds()
		}
		slices.Sort(ts)
		return ts[reps/2]
	}
	seen := map[key]float64{}
	optSeen := map[key]float64{}
	adam := nn.NewAdamW(0)
	for _, b := range batches {
		k := key{b.B, b.T}
		if t, ok := seen[k]; ok {
			run += t
			opt += optSeen[k]
			continue
		}
		g := nn.NewGraph(tensor.Float32)
		g.Training, g.Arena = training, arena
		lm, err := m.BuildLM(g, b.B, b.T, hooks...)
		if err != nil {
			return 0, 0, 0, err
		}
		var p *nn.Program
		if training {
			p, err = nn.Compile(g, lm.Loss)
		} else {
			p, err = nn.Compile(g, nil, lm.Loss)
		}
		if err != nil {
			return 0, 0, 0, err
		}
		progs[k], lms[k] = p, lm
		lm.IDs.SetInts(b.IDs)
		lm.Targets.SetInts(b.Targets)
		lm.Mask.SetFloats(b.Mask)
		var runErr error
		seen[k] = median(func() {
			if err := p.Run(); err != nil {
				runErr = err
			}
		})
		if runErr != nil {
			return 0, 0, 0, runErr
		}
		if training {
			optSeen[k] = median(func() { adam.Step(p, 0) })
			values = max(values, p.ValueBytes())
		}
		run += seen[k]
		opt += optSeen[k]
	}
	return run, opt, values, nil
}
