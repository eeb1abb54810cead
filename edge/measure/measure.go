// Package measure times a method's training on this machine, block by
// block, as the workload edge's planner and simulator scale to other
// devices. It runs the engine; package edge itself does not, so reports can
// simulate without linking it.
package measure

import (
	"runtime/debug"

	"fmt"
	"github.com/peftbench/peftbench/edge"
	"github.com/peftbench/peftbench/internal/meter"
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
// the same shape (cfg, random weights) with all L blocks and with one,
// over L − 1, and the head's (embeddings, final norm, head, loss) is what
// the one-block model costs beyond its block:
//
//	LayerForward  = (F(L) − F(1))/(L − 1),   HeadForward  = F(1) − LayerForward,
//	LayerBackward = (B(L) − B(1))/(L − 1),   HeadBackward = B(1) − LayerBackward,
//
// with F(L) a forward pass with the method attached and B(L) its training
// run (forward and backward) less F(L). For a side network (pac) nothing
// runs backward through the backbone; the adapters (with the final norm,
// head and loss, which run with them in every epoch) are the pass on
// cached block outputs, forward and training, copying the outputs in; and
// a block's forward is what a step through the whole model (filling the
// cache and copying the outputs out, when there is one) costs beyond that
// pass, over the blocks. Times are medians of reps whole epochs in the
// microbatches' order (timeEpoch), with the garbage collector set as a
// trial sets it (meter.GCPercent).
func Workload(cfg model.Config, method string, params map[string]any, batches []train.Batch, reps int) (edge.Workload, error) {
	if len(batches) == 0 {
		return edge.Workload{}, fmt.Errorf("edge: no microbatches to measure")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(meter.GCPercent))
	type cost struct{ fwd, run, opt, cachedFwd, cachedRun, fillRun float64 }
	type size struct{ weights, block, trainable, values int64 }
	// The model with one block and the model with all of them (two at
	// least): the per-block differences divide over the most blocks, and
	// one device's prediction adds up to the whole model's measured time.
	lo, hi := 1, max(2, cfg.Layers)
	costs, bytes := map[int]*cost{}, map[int]*size{}
	var side, cache bool
	for _, blocks := range []int{lo, hi} {
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
			return timeEpoch(m, hooks, batches, training, whole, reps)
		}
		k := &cost{}
		costs[blocks] = k
		if !side { // a side network's forward is its cached pass's, below
			if k.fwd, _, _, err = timed(a.Hooks, false); err != nil {
				return edge.Workload{}, err
			}
		}
		var values int64
		if k.run, k.opt, values, err = timed(a.Hooks, true); err != nil {
			return edge.Workload{}, err
		}
		if side && blocks == hi { // what an epoch on cached block outputs runs, and one filling them
			if k.cachedFwd, _, _, err = timeEpoch(m, a.Hooks, batches, false, cached, reps); err != nil {
				return edge.Workload{}, err
			}
			if k.cachedRun, _, _, err = timeEpoch(m, a.Hooks, batches, true, cached, reps); err != nil {
				return edge.Workload{}, err
			}
			if cache {
				if k.fillRun, _, _, err = timeEpoch(m, a.Hooks, batches, true, filling, reps); err != nil {
					return edge.Workload{}, err
				}
			}
		}
		b := &size{}
		bytes[blocks] = b
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
	nb, span := float64(len(batches)), float64(hi-lo)
	per := func(x float64) float64 { return max(0, x/nb) }        // per microbatch
	block := func(x float64) float64 { return max(0, x/nb/span) } // per microbatch and block
	one, all := costs[lo], costs[hi]
	w := edge.Workload{Method: method, Layers: cfg.Layers, Batch: batches[0].B, Microbatches: len(batches),
		ReferenceGFLOPS: nn.CalibrateGFLOPS(300 * time.Millisecond), OptimizerStep: per(all.opt),
		LayerWeightBytes: bytes[lo].block, HeadWeightBytes: bytes[lo].weights, SideNetwork: side}
	tokens := 0
	for _, b := range batches {
		tokens += b.T
	}
	w.Tokens = tokens / len(batches)
	w.ActivationBytes = int64(w.Batch*w.Tokens*cfg.DModel) * 4
	backOne, backAll := one.run-one.fwd, all.run-all.fwd
	savedBlock := (bytes[hi].values - bytes[lo].values) / int64(hi-lo)
	if side {
		// The adapters with the final norm, head and loss as one: the
		// pass on cached block outputs, timed as such (the small
		// adapters would drown in the noise of a difference). The
		// embeddings' lookups are left out.
		w.Cache = cache
		whole := all.run // a step through the backbone: filling the cache, or every step without one
		if cache {
			whole = all.fillRun
		}
		w.LayerForward = max(0, (whole-all.cachedRun)/nb/float64(cfg.Layers))
		w.AdapterForward = per(all.cachedFwd)
		w.AdapterBackward = per(all.cachedRun - all.cachedFwd)
		w.TrainableBytes = bytes[lo].trainable * int64(cfg.Layers) // one block's adapter, per block
		w.AdapterSavedBytes = savedBlock * int64(cfg.Layers)
		w.HeadSavedBytes = bytes[lo].values - savedBlock
	} else {
		w.LayerForward = block(all.fwd - one.fwd)
		w.HeadForward = per(one.fwd) - w.LayerForward
		w.LayerBackward = block(backAll - backOne)
		w.HeadBackward = per(backOne) - w.LayerBackward
		perBlock := (bytes[hi].trainable - bytes[lo].trainable) / int64(hi-lo)
		head := bytes[lo].trainable - perBlock
		w.TrainableBytes = head + perBlock*int64(cfg.Layers)
		w.HeadTrainableBytes = head
		w.LayerSavedBytes = savedBlock
		w.HeadSavedBytes = bytes[lo].values - savedBlock
	}
	w.HeadForward, w.HeadBackward = max(0, w.HeadForward), max(0, w.HeadBackward)
	w.HeadSavedBytes = max(0, w.HeadSavedBytes)
	return w, w.Validate()
}

// pass is what a timed program runs: the whole model, the whole model
// keeping its block outputs for a cache, or the part after the backbone on
// cached block outputs.
type pass int

const (
	whole pass = iota
	filling
	cached
)

// timeEpoch compiles the program of the given pass for every microbatch
// shape (training: forward and backward, and the optimiser step; else
// forward to the loss) and times reps whole epochs, the microbatches in the
// epoch's order as a trial meets them (shapes interleaved, so caches are as
// cold as in training), and returns the median epoch's compute and
// optimiser time, and the largest program's values. The copies a cached
// step makes into its inputs, and a filling step out of its block outputs,
// count as its compute.
//
// A trial fills its cache in its first epoch, so a filling epoch is timed
// as a first epoch: every rep compiles its programs afresh (compilation is
// not timed, as trials leave it out) and runs them without a warm-up, and
// the block outputs go into fresh memory, as they go into a cache's slab.
// Other passes are the steady state of later epochs: each program runs
// once untimed first.
func timeEpoch(m *model.Model, hooks []model.Hook, batches []train.Batch, training bool, ps pass, reps int) (run, opt float64, values int64, err error) {
	type key struct{ b, t int }
	type prog struct {
		p      *nn.Program
		lm     *model.LM
		inputs []*nn.Input
	}
	cold := ps == filling
	var (
		progs   map[key]*prog
		adam    = nn.NewAdamW(0)
		scratch []float32 // what a cached step copies into its inputs
		out     []float32 // where a filling step copies its block outputs
		used    int
	)
	closeAll := func() {
		for _, p := range progs {
			p.p.Close()
		}
	}
	defer func() { closeAll() }()
	step := func(b train.Batch, pr *prog) (float64, float64, error) {
		lm := pr.lm
		if lm.IDs != nil {
			lm.IDs.SetInts(b.IDs)
		}
		lm.Targets.SetInts(b.Targets)
		lm.Mask.SetFloats(b.Mask)
		t0 := time.Now()
		for _, in := range pr.inputs {
			copy(in.Data().([]float32), scratch)
		}
		if err := pr.p.Run(); err != nil {
			return 0, 0, err
		}
		if ps == filling {
			for _, h := range lm.Hidden {
				used += copy(out[used:], pr.p.Value(h).Data().([]float32))
			}
		}
		t1 := time.Now()
		if training {
			adam.Step(pr.p, 0)
		}
		return t1.Sub(t0).Seconds(), time.Since(t1).Seconds(), nil
	}
	// compile builds every shape's program in one fresh arena, running each
	// once unless the epoch is timed cold.
	compile := func() error {
		closeAll()
		progs = map[key]*prog{}
		arena := nn.NewArena()
		for _, b := range batches {
			k := key{b.B, b.T}
			if _, ok := progs[k]; ok {
				continue
			}
			scratch = make([]float32, max(len(scratch), b.B*b.T*m.Config.DModel))
			g := nn.NewGraph(tensor.Float32)
			g.Training, g.Arena = training, arena
			pr := &prog{}
			var err error
			if ps == cached {
				pr.lm, pr.inputs, err = m.BuildLMFromHidden(g, b.B, b.T, hooks...)
			} else {
				pr.lm, err = m.BuildLM(g, b.B, b.T, hooks...)
			}
			if err != nil {
				return err
			}
			switch {
			case training && ps == filling:
				pr.p, err = nn.Compile(g, pr.lm.Loss, pr.lm.Hidden...)
			case training:
				pr.p, err = nn.Compile(g, pr.lm.Loss)
			default:
				pr.p, err = nn.Compile(g, nil, pr.lm.Loss)
			}
			if err != nil {
				return err
			}
			progs[k] = pr
			if training {
				values = max(values, pr.p.ValueBytes())
			}
			if !cold {
				if _, _, err := step(b, pr); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if !cold {
		if err := compile(); err != nil {
			return 0, 0, 0, err
		}
	}
	runs, opts := make([]float64, reps), make([]float64, reps)
	for i := range reps {
		if cold {
			if err := compile(); err != nil {
				return 0, 0, 0, err
			}
			n := 0
			for _, b := range batches {
				n += b.B * b.T * m.Config.DModel * m.Config.Layers
			}
			out, used = make([]float32, n), 0
		}
		for _, b := range batches {
			r, o, err := step(b, progs[key{b.B, b.T}])
			if err != nil {
				return 0, 0, 0, err
			}
			runs[i] += r
			opts[i] += o
		}
	}
	slices.Sort(runs)
	slices.Sort(opts)
	return runs[reps/2], opts[reps/2], values, nil
}
