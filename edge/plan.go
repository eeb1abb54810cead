package edge

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/internal/numfmt"
)

// MaxStages bounds a pipeline's length: the planner's search grows with
// it, and on these links a longer pipeline only adds transfers. More
// devices still join a side network's data-parallel phase.
const MaxStages = 8

// candidatesPerSearch is how many of the planner's best-estimated
// pipelines of one search go on to be simulated.
const candidatesPerSearch = 4

// Stage is one pipeline stage: backbone layers [First, Last) on
// Devices[Device]. The first stage also holds the embeddings, the last the
// final norm, head and loss.
type Stage struct {
	Device int `json:"device"`
	First  int `json:"first"`
	Last   int `json:"last"`
}

func (s Stage) layers() int { return s.Last - s.First }

// Share is one data-parallel device and its fraction of every step's
// examples (and, for a side network, of the activation cache). Examples
// divide finely: a device's fraction of a step takes that fraction of the
// step's compute on it.
type Share struct {
	Device   int     `json:"device"`
	Fraction float64 `json:"fraction"`
}

// Plan says which device does what. A method that trains through the
// backbone has either a Pipeline (every epoch) or Parallel (the whole model
// replicated on every device, gradients all-reduced). A side network has
// Parallel, the adapters' data-parallel shares, and a Pipeline that fills
// the activation cache, after which the cache is exchanged; without a
// Pipeline each device runs the whole backbone over its own share and
// caches it locally.
type Plan struct {
	Workload Workload `json:"workload"`
	Devices  []Device `json:"devices"`
	Epochs   int      `json:"epochs"`
	Pipeline []Stage  `json:"pipeline,omitempty"`
	Parallel []Share  `json:"parallel,omitempty"`
	// Estimate is the planner's closed-form estimate of the total time,
	// which ranks candidates before the simulation decides.
	Estimate float64 `json:"estimate_s"`
}

// Used lists the indices of the devices the plan uses, ascending.
func (p Plan) Used() []int {
	seen := map[int]bool{}
	for _, s := range p.Pipeline {
		seen[s.Device] = true
	}
	for _, s := range p.Parallel {
		seen[s.Device] = true
	}
	var out []int
	for i := range seen {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// scale converts a reference-machine time to device d's.
func (w Workload) scale(d Device) float64 { return w.ReferenceGFLOPS / d.GFLOPS }

// linkSeconds is one transfer of b bytes between two devices.
func linkSeconds(b int64, a, c Device) float64 {
	if b == 0 {
		return 0
	}
	return float64(b) / (min(a.LinkMBps, c.LinkMBps) * 1e6)
}

// AllReduceSeconds is a ring all-reduce of b bytes over n devices whose
// slowest link carries mbps MB/s: each device sends and receives
// 2(n−1)/n × b.
func AllReduceSeconds(b int64, n int, mbps float64) float64 {
	if n <= 1 || b == 0 {
		return 0
	}
	return 2 * float64(n-1) / float64(n) * float64(b) / (mbps * 1e6)
}

func ceilBytes(v float64) int64 { return int64(math.Ceil(v)) }

// trainStageBytes is a pipeline stage of n blocks of a method that trains
// through the backbone, with inflight microbatches' activations saved
// (GPipe keeps a whole step's).
func (w Workload) trainStageBytes(n int, first, last bool, inflight int) int64 {
	weights := float64(n) * float64(w.LayerWeightBytes)
	trainable := float64(n) * w.layerTrainable()
	saved := float64(n) * float64(w.LayerSavedBytes)
	if first || last {
		weights += float64(w.HeadWeightBytes)
	}
	if last {
		trainable += float64(w.HeadTrainableBytes)
		saved += float64(w.HeadSavedBytes)
	}
	return ceilBytes(weights + 3*trainable + float64(inflight)*saved)
}

// chunk is the part of a microbatch a data-parallel device holds saved
// activations for: its share of a step, processed a microbatch at a time.
func (w Workload) chunk(f float64) float64 { return min(1, f*float64(w.stepSize())) }

// replicaBytes is a data-parallel device holding the whole model.
func (w Workload) replicaBytes(f float64) int64 {
	weights := float64(w.Layers)*float64(w.LayerWeightBytes) + float64(w.HeadWeightBytes)
	saved := float64(w.Layers)*float64(w.LayerSavedBytes) + float64(w.HeadSavedBytes)
	return ceilBytes(weights + 3*float64(w.TrainableBytes) + w.chunk(f)*saved)
}

// sideBytes is a side network's device in its three phases: filling the
// cache as a pipeline stage of n blocks (n may be 0), exchanging the cache
// so that it holds all layers for its share f of the examples, and
// training the adapters on that share.
func (w Workload) sideBytes(n int, first bool, f float64) (fill, exchange, adapters int64) {
	m, a := float64(w.Microbatches), float64(w.ActivationBytes)
	weights := float64(n) * float64(w.LayerWeightBytes)
	if first {
		weights += float64(w.HeadWeightBytes)
	}
	var working float64
	if n > 0 {
		working = float64(w.LayerSavedBytes)
	}
	stageCache := m * float64(n) * a
	ownCache := f * w.cacheBytes()
	keep := w.kept(weights)
	fill = ceilBytes(weights + stageCache + working)
	exchange = ceilBytes(stageCache + ownCache - f*m*float64(n)*a + keep)
	adapters = w.adapterBytes(f, keep, first)
	return fill, exchange, adapters
}

// localBytes is a side network's device that fills its own share f of
// the cache by running the whole backbone (no pipeline, no exchange), then
// trains the adapters on it.
func (w Workload) localBytes(f float64) (fill, adapters int64) {
	weights := float64(w.Layers)*float64(w.LayerWeightBytes) + float64(w.HeadWeightBytes)
	fill = ceilBytes(weights + f*w.cacheBytes() + float64(w.LayerSavedBytes))
	return fill, w.adapterBytes(f, w.kept(weights), true)
}

// kept is the backbone weights a side network keeps through the adapter
// phase: none with a cache, all it holds without one (the backbone runs
// again next epoch).
func (w Workload) kept(weights float64) float64 {
	if w.Cache {
		return 0
	}
	return weights
}

// adapterBytes is a data-parallel device training a side network's
// adapters on its share f of the cache, besides keep bytes of backbone
// weights (which hold the head already when keptHead).
func (w Workload) adapterBytes(f, keep float64, keptHead bool) int64 {
	if f == 0 {
		return ceilBytes(keep)
	}
	head := float64(w.HeadWeightBytes)
	if keep > 0 && keptHead {
		head = 0
	}
	return ceilBytes(head + 4*float64(w.TrainableBytes) + f*w.cacheBytes() +
		w.chunk(f)*float64(w.AdapterSavedBytes+w.HeadSavedBytes) + keep)
}

func (w Workload) sidePeak(n int, first bool, f float64) int64 {
	a, b, c := w.sideBytes(n, first, f)
	return max(a, b, c)
}

func (w Workload) localPeak(f float64) int64 {
	a, b := w.localBytes(f)
	return max(a, b)
}

// stageCompute is a stage's compute per microbatch on its device (forward
// plus backward for methods that train through the backbone, forward only
// when a side network fills its cache) and its optimizer share per step.
func (w Workload) stageCompute(d Device, n int, last bool) (fwd, bwd, opt float64) {
	sc := w.scale(d)
	if w.SideNetwork {
		return float64(n) * w.LayerForward * sc, 0, 0
	}
	fwd = float64(n) * w.LayerForward * sc
	bwd = float64(n) * w.LayerBackward * sc
	share := float64(n) / float64(w.Layers)
	if w.TrainableBytes > 0 {
		t := float64(n) * w.layerTrainable()
		if last {
			t += float64(w.HeadTrainableBytes)
		}
		share = t / float64(w.TrainableBytes)
	}
	if last {
		fwd += w.HeadForward * sc
		bwd += w.HeadBackward * sc
	}
	return fwd, bwd, w.OptimizerStep * share * sc
}

// stageFits says whether a pipeline stage of n blocks fits on device i;
// share is each device's data-parallel fraction (side networks).
func (w Workload) stageFits(devs []Device, i, n int, first, last bool, share []float64) bool {
	if w.SideNetwork {
		return w.sidePeak(n, first, share[i]) <= devs[i].Usable()
	}
	return w.trainStageBytes(n, first, last, w.stepSize()) <= devs[i].Usable()
}

// pipelineTerms are the planner's summary of a pipeline: sum is one
// microbatch's trip through every stage and link (plus the first stage's
// optimizer share, which ends each step), bottleneck the busiest stage or
// link per microbatch.
func (w Workload) pipelineTerms(devs []Device, stages []Stage) (sum, bottleneck float64) {
	for i, s := range stages {
		sum, bottleneck = w.extend(sum, bottleneck, devs, stages, i, s)
	}
	return sum, bottleneck
}

// extend adds stage i (s) of a pipeline to its terms; stages[i-1] must be
// set when i > 0.
func (w Workload) extend(sum, bottleneck float64, devs []Device, stages []Stage, i int, s Stage) (float64, float64) {
	last := s.Last == w.Layers
	f, b, o := w.stageCompute(devs[s.Device], s.layers(), last)
	c := f + b
	sum += c
	if i == 0 {
		sum += o
	} else {
		l := linkSeconds(w.ActivationBytes, devs[stages[i-1].Device], devs[s.Device])
		if w.SideNetwork {
			sum += l
		} else {
			sum += 2 * l
		}
		bottleneck = max(bottleneck, l)
	}
	return sum, max(bottleneck, c)
}

// pipelineEpoch is the planner's estimate of a pipeline's epoch from its
// terms: each step (the whole epoch streams as one for a side network's
// forward-only fill) costs one trip plus a bottleneck per further
// microbatch.
func (w Workload) pipelineEpoch(sum, bottleneck float64) float64 {
	m := float64(w.Microbatches)
	if w.SideNetwork {
		return sum + (m-1)*bottleneck
	}
	steps := float64(w.steps())
	return steps*sum + (m-steps)*bottleneck
}

// parallelStep is the planner's (and the simulation's) time of one
// data-parallel step of k microbatches: the slowest device's share of the
// compute, the all-reduce, the slowest device's optimizer step.
func (w Workload) parallelStep(devs []Device, shares []Share, k int) float64 {
	var compute, opt float64
	work := w.parallelWork()
	for _, s := range shares {
		sc := w.scale(devs[s.Device])
		compute = max(compute, s.Fraction*float64(k)*work*sc)
		opt = max(opt, w.OptimizerStep*sc)
	}
	return compute + w.allReduce(devs, shares) + opt
}

// parallelWork is one microbatch's compute in a data-parallel step on the
// reference machine.
func (w Workload) parallelWork() float64 {
	if w.SideNetwork {
		return w.AdapterForward + w.AdapterBackward + w.HeadForward + w.HeadBackward
	}
	return float64(w.Layers)*(w.LayerForward+w.LayerBackward) + w.HeadForward + w.HeadBackward
}

func (w Workload) allReduce(devs []Device, shares []Share) float64 {
	bw := math.Inf(1)
	for _, s := range shares {
		bw = min(bw, devs[s.Device].LinkMBps)
	}
	return AllReduceSeconds(w.TrainableBytes, len(shares), bw)
}

func (w Workload) parallelEpoch(devs []Device, shares []Share) float64 {
	var t float64
	for g := range w.steps() {
		t += w.parallelStep(devs, shares, w.stepMicrobatches(g))
	}
	return t
}

// localFillSeconds is a side network's fill without a pipeline: each
// device runs the whole backbone forward over its share of the examples,
// independently, so the slowest sets the time.
func (w Workload) localFillSeconds(devs []Device, shares []Share) float64 {
	var t float64
	for _, s := range shares {
		t = max(t, s.Fraction*float64(w.Microbatches)*float64(w.Layers)*w.LayerForward*w.scale(devs[s.Device]))
	}
	return t
}

// fillSeconds is the planner's estimate of a side network's fill and
// exchange.
func (w Workload) fillSeconds(devs []Device, stages []Stage, shares []Share) float64 {
	if len(stages) == 0 {
		return w.localFillSeconds(devs, shares)
	}
	return w.pipelineEpoch(w.pipelineTerms(devs, stages)) + w.exchangeSeconds(devs, stages, shares)
}

// exchangeSeconds is the cache exchange after a side network's fill:
// every device sends what it filled for others' examples and receives the
// other layers of its own, all at once through a switch, so the busiest
// link sets the time.
func (w Workload) exchangeSeconds(devs []Device, stages []Stage, shares []Share) float64 {
	if len(stages) == 0 {
		return 0 // each device filled its own share
	}
	n := make([]float64, len(devs))
	f := make([]float64, len(devs))
	for _, s := range stages {
		n[s.Device] = float64(s.layers())
	}
	for _, s := range shares {
		f[s.Device] = s.Fraction
	}
	m, a, l := float64(w.Microbatches), float64(w.ActivationBytes), float64(w.Layers)
	var t float64
	for i, d := range devs {
		out := (1 - f[i]) * m * n[i] * a
		in := f[i] * m * (l - n[i]) * a
		t = max(t, max(out, in)/(d.LinkMBps*1e6))
	}
	return t
}

// estimate is the planner's closed-form total for a plan.
func (w Workload) estimate(devs []Device, p Plan) float64 {
	e := float64(p.Epochs)
	if !w.SideNetwork {
		if len(p.Pipeline) > 0 {
			return e * w.pipelineEpoch(w.pipelineTerms(devs, p.Pipeline))
		}
		return e * w.parallelEpoch(devs, p.Parallel)
	}
	fill := w.fillSeconds(devs, p.Pipeline, p.Parallel)
	train := w.parallelEpoch(devs, p.Parallel)
	if w.Cache {
		return fill + e*train
	}
	return e * (fill + train)
}

// PlanTraining chooses how devs share w's training for epochs epochs: the
// plan with the least simulated total time among single-device plans,
// pipelines (every order of every subset of the devices, up to MaxStages
// stages, every contiguous split of the layers, searched by dynamic
// programming with the most promising simulated) and data-parallel
// groups (the fastest k devices for every k, and each device alone, shares
// in proportion to speed within memory). For a side network each group
// trains the adapters, its cache filled either by a pipeline or by the
// group itself. Every candidate respects every device's usable
// memory; when none fits, the error names the largest indivisible need
// and the devices' memory.
func PlanTraining(w Workload, devs []Device, epochs int) (Plan, error) {
	if err := checkInputs(w, devs, epochs); err != nil {
		return Plan{}, err
	}
	cands := candidates(w, devs, epochs)
	var best Plan
	var bestT float64
	found := false
	for _, p := range cands {
		r, err := Simulate(p)
		if err != nil {
			// The planner built it to fit; a failure here is a bug.
			return Plan{}, fmt.Errorf("edge: internal: candidate plan fails simulation: %w", err)
		}
		if !found || better(r.Total, len(p.Used()), bestT, len(best.Used())) {
			best, bestT, found = p, r.Total, true
		}
	}
	if !found {
		return Plan{}, fitError(w, devs)
	}
	return best, nil
}

// better prefers the faster plan, and of two within a part in 10⁹ the one
// with fewer devices.
func better(t float64, n int, bestT float64, bestN int) bool {
	if math.Abs(t-bestT) <= 1e-9*max(t, bestT) {
		return n < bestN
	}
	return t < bestT
}

func checkInputs(w Workload, devs []Device, epochs int) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if epochs < 1 {
		return fmt.Errorf("edge: epochs = %d, need at least 1", epochs)
	}
	if len(devs) == 0 {
		return errors.New("edge: no devices")
	}
	for _, d := range devs {
		if !(d.GFLOPS > 0) || !(d.LinkMBps > 0) || d.Usable() <= 0 {
			return fmt.Errorf("edge: device %q needs a positive rate, link and usable memory (have %g GFLOPS, %g MB/s, %d bytes usable)",
				d.Name, d.GFLOPS, d.LinkMBps, d.Usable())
		}
	}
	return nil
}

// Single is the plan that runs everything on devs[i]; it fails when that
// device's memory is too small.
func Single(w Workload, devs []Device, i, epochs int) (Plan, error) {
	if err := checkInputs(w, devs, epochs); err != nil {
		return Plan{}, err
	}
	if i < 0 || i >= len(devs) {
		return Plan{}, fmt.Errorf("edge: device index %d out of range", i)
	}
	// Data parallelism on one device: a microbatch's backward follows its
	// forward, as a lone device would run it, rather than GPipe's whole
	// step in flight.
	p := Plan{Workload: w, Devices: devs, Epochs: epochs, Parallel: []Share{{Device: i, Fraction: 1}}}
	if need := peakBytes(p)[i]; need > devs[i].Usable() {
		return Plan{}, fmt.Errorf("edge: %s alone needs %s, %s has %s usable", w.Method, numfmt.GiB(need), devs[i].Name, numfmt.GiB(devs[i].Usable()))
	}
	p.Estimate = w.estimate(devs, p)
	return p, nil
}

// candidates lists every plan the planner will simulate.
func candidates(w Workload, devs []Device, epochs int) []Plan {
	var out []Plan
	for _, i := range distinct(devs) {
		if p, err := Single(w, devs, i, epochs); err == nil {
			out = append(out, p)
		}
	}
	add := func(p Plan) {
		p.Estimate = w.estimate(devs, p)
		out = append(out, p)
	}
	for _, group := range groups(devs) {
		if !w.SideNetwork {
			if shares, ok := fillShares(devs, group, func(f float64) int64 { return w.replicaBytes(f) }); ok {
				add(Plan{Workload: w, Devices: devs, Epochs: epochs, Parallel: shares})
			}
			continue
		}
		// The whole backbone on every device, each filling its own share.
		if shares, ok := fillShares(devs, group, w.localPeak); ok {
			add(Plan{Workload: w, Devices: devs, Epochs: epochs, Parallel: shares})
		}
		// A pipeline fills the cache, which is then exchanged.
		shares, ok := fillShares(devs, group, func(f float64) int64 { return w.sidePeak(0, false, f) })
		if !ok {
			continue
		}
		f := make([]float64, len(devs))
		for _, s := range shares {
			f[s.Device] = s.Fraction
		}
		for _, stages := range searchPipelines(w, devs, f) {
			add(Plan{Workload: w, Devices: devs, Epochs: epochs, Pipeline: stages, Parallel: shares})
		}
	}
	if !w.SideNetwork {
		for _, stages := range searchPipelines(w, devs, nil) {
			add(Plan{Workload: w, Devices: devs, Epochs: epochs, Pipeline: stages})
		}
	}
	return out
}

// distinct returns the first index of each distinct device profile.
func distinct(devs []Device) []int {
	var out []int
	seen := map[Device]bool{}
	for i, d := range devs {
		if !seen[d] {
			seen[d] = true
			out = append(out, i)
		}
	}
	return out
}

// groups are the data-parallel device sets tried: the fastest k devices
// for every k (ties in list order), and each distinct device alone.
func groups(devs []Device) [][]int {
	order := make([]int, len(devs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return devs[order[a]].GFLOPS > devs[order[b]].GFLOPS })
	var out [][]int
	for k := 1; k <= len(order); k++ {
		out = append(out, slices.Clone(order[:k]))
	}
	for _, i := range distinct(devs) {
		if i != order[0] {
			out = append(out, []int{i})
		}
	}
	return out
}

// fillShares splits each step's examples over a group in proportion to
// speed, capping each device at the share its memory holds (peak gives a
// device's peak memory at a share) and spreading the rest over the others;
// devices that can hold nothing drop out.
func fillShares(devs []Device, group []int, peak func(f float64) int64) ([]Share, bool) {
	caps := make([]float64, len(group))
	for j, i := range group {
		caps[j] = shareCap(devs[i].Usable(), peak)
	}
	f := make([]float64, len(group))
	fixed := make([]bool, len(group))
	left := 1.0
	for {
		var speed float64
		for j, i := range group {
			if !fixed[j] {
				speed += devs[i].GFLOPS
			}
		}
		if speed == 0 {
			return nil, false
		}
		over := false
		for j, i := range group {
			if fixed[j] {
				continue
			}
			f[j] = left * devs[i].GFLOPS / speed
			if f[j] > caps[j] {
				f[j], fixed[j], over = caps[j], true, true
				left -= caps[j]
			}
		}
		if !over {
			break
		}
	}
	var out []Share
	for j, i := range group {
		if f[j] > 1e-12 {
			out = append(out, Share{Device: i, Fraction: f[j]})
		}
	}
	return out, len(out) > 0
}

// shareCap is the largest share of the examples that fits in usable
// bytes, peak being non-decreasing in the share: found by bisection.
func shareCap(usable int64, peak func(f float64) int64) float64 {
	if peak(1) <= usable {
		return 1
	}
	if peak(1e-12) > usable {
		return 0
	}
	lo, hi := 1e-12, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if peak(mid) <= usable {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// searchPipelines finds the pipelines with the best estimated epoch by
// dynamic programming over (devices used, last device kind, layers
// placed), keeping for each state the Pareto front of (trip, bottleneck),
// which is all the estimate needs, and pruning partial pipelines that
// cannot beat the best complete ones found so far. Identical devices are
// used in list order, so permutations of them are not searched twice.
// share gives each device's data-parallel fraction for a side network's
// memory (nil otherwise).
func searchPipelines(w Workload, devs []Device, share []float64) [][]Stage {
	var kinds [][]int // device indices of each distinct profile
	index := map[Device]int{}
	for i, d := range devs {
		k, ok := index[d]
		if !ok {
			k = len(kinds)
			index[d] = k
			kinds = append(kinds, nil)
		}
		kinds[k] = append(kinds[k], i)
	}
	radix := make([]int, len(kinds)+1)
	radix[0] = 1
	for t, k := range kinds {
		radix[t+1] = radix[t] * (len(k) + 1)
	}
	// Tables of each device's stage costs and fit by block count and by
	// whether the stage is first or last, so that the inner loop only adds.
	type cost struct {
		compute, opt [2]float64 // [last]
		fits         [2][2]bool // [first][last]
	}
	table := make([][]cost, len(devs))
	for i, d := range devs {
		table[i] = make([]cost, w.Layers+1)
		for n := 1; n <= w.Layers; n++ {
			c := &table[i][n]
			for last := range 2 {
				f, b, o := w.stageCompute(d, n, last == 1)
				c.compute[last], c.opt[last] = f+b, o
				for first := range 2 {
					c.fits[first][last] = w.stageFits(devs, i, n, first == 1, last == 1, share)
				}
			}
		}
	}
	links := make([][]float64, len(devs))
	for i := range devs {
		links[i] = make([]float64, len(devs))
		for j := range devs {
			links[i][j] = linkSeconds(w.ActivationBytes, devs[i], devs[j])
		}
	}
	trip := 2.0 // a link's share of a microbatch's trip: there and back
	if w.SideNetwork {
		trip = 1
	}
	// A lower bound on what the layers still to place add to the trip:
	// each on the fastest device, and the head.
	perLayer, head := w.LayerForward, 0.0
	if !w.SideNetwork {
		perLayer += w.LayerBackward
		head = w.HeadForward + w.HeadBackward
	}
	fastest := math.Inf(1)
	for _, d := range devs {
		fastest = min(fastest, w.scale(d))
	}
	m, steps := float64(w.Microbatches), float64(w.steps())
	trips, bottlenecks := steps, m-steps // pipelineEpoch's weights
	if w.SideNetwork {
		trips, bottlenecks = 1, m-1
	}

	type node struct {
		sum, bottleneck float64
		prev            int
		stage           Stage
	}
	nodes := []node{{prev: -1}} // nodes[0] starts every pipeline
	type done struct {
		est  float64
		node int
	}
	var best []done // the best complete pipelines so far, ascending
	bound := func() float64 {
		if len(best) < candidatesPerSearch {
			return math.Inf(1)
		}
		return best[len(best)-1].est
	}
	type key struct{ code, last, j int }
	fronts := map[key][]int{}
	byJ := make([][]key, w.Layers+1)
	insert := func(k key, n node) {
		f, ok := fronts[k]
		if !ok {
			byJ[k.j] = append(byJ[k.j], k)
		}
		for _, o := range f {
			if nodes[o].sum <= n.sum && nodes[o].bottleneck <= n.bottleneck {
				return
			}
		}
		kept := f[:0]
		for _, o := range f {
			if !(n.sum <= nodes[o].sum && n.bottleneck <= nodes[o].bottleneck) {
				kept = append(kept, o)
			}
		}
		nodes = append(nodes, n)
		fronts[k] = append(kept, len(nodes)-1)
	}
	start := key{0, -1, 0}
	fronts[start] = []int{0}
	byJ[0] = []key{start}
	for j := 0; j < w.Layers; j++ {
		for _, k := range byJ[j] {
			front := thin(fronts[k], func(i int) (float64, float64) { return nodes[i].sum, nodes[i].bottleneck })
			used := 0
			for t := range kinds {
				used += k.code / radix[t] % (len(kinds[t]) + 1)
			}
			if used == MaxStages {
				continue
			}
			for t, inst := range kinds {
				c := k.code / radix[t] % (len(inst) + 1)
				if c == len(inst) {
					continue
				}
				dev := inst[c]
				next := key{k.code + radix[t], t, 0}
				for jj := j + 1; jj <= w.Layers; jj++ {
					first, last := b2i(j == 0), b2i(jj == w.Layers)
					c := table[dev][jj-j]
					// Memory only grows with more layers.
					if !c.fits[first][last] {
						break
					}
					s := Stage{Device: dev, First: j, Last: jj}
					rest := float64(w.Layers-jj) * perLayer * fastest
					if jj < w.Layers {
						rest += head * fastest
					}
					compute := c.compute[last]
					for _, i := range front {
						e := &nodes[i]
						sum, b := e.sum+compute, max(e.bottleneck, compute)
						if e.prev < 0 {
							sum += c.opt[last] // the first stage's optimizer share ends each step
						} else {
							l := links[e.stage.Device][dev]
							sum, b = sum+trip*l, max(b, l)
						}
						if trips*(sum+rest)+bottlenecks*b >= bound() {
							continue
						}
						n := node{sum: sum, bottleneck: b, prev: i, stage: s}
						if jj < w.Layers {
							next.j = jj
							insert(next, n)
							continue
						}
						nodes = append(nodes, n)
						d := done{w.pipelineEpoch(sum, b), len(nodes) - 1}
						at2, _ := slices.BinarySearchFunc(best, d.est, func(x done, v float64) int {
							return cmpFloat(x.est, v)
						})
						best = slices.Insert(best, at2, d)
						best = best[:min(len(best), candidatesPerSearch)]
					}
				}
			}
		}
	}
	var out [][]Stage
	for _, d := range best {
		var st []Stage
		for i := d.node; nodes[i].prev >= 0; i = nodes[i].prev {
			st = append(st, nodes[i].stage)
		}
		slices.Reverse(st)
		out = append(out, st)
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// thin bounds a Pareto front to 8 entries, keeping both ends and an even
// spread between them, so that the search stays fast.
func thin[E any](front []E, terms func(E) (float64, float64)) []E {
	const most = 8
	if len(front) <= most {
		return front
	}
	sorted := slices.Clone(front)
	sort.SliceStable(sorted, func(a, b int) bool {
		x, _ := terms(sorted[a])
		y, _ := terms(sorted[b])
		return x < y
	})
	out := make([]E, 0, most)
	for i := range most {
		out = append(out, sorted[i*(len(sorted)-1)/(most-1)])
	}
	return out
}

// ErrNoFit is what PlanTraining's error wraps when no plan fits in the
// devices' memory (errors.Is).
var ErrNoFit = errors.New("no plan fits in the devices' memory")

type noFit struct{ msg string }

func (e noFit) Error() string        { return e.msg }
func (e noFit) Is(target error) bool { return target == ErrNoFit }

// fitError explains why no plan fits: the largest piece that cannot be
// split further, and what each device has.
func fitError(w Workload, devs []Device) error {
	k := w.stepSize()
	type need struct {
		what  string
		bytes int64
	}
	var needs []need
	if w.SideNetwork {
		needs = append(needs,
			need{"filling the cache, the first stage with one block and the embeddings", w.sidePeak(1, true, 0)},
			need{"the adapters with their gradients and AdamW state on one data-parallel device", w.sidePeak(0, false, 1e-300)},
			need{"the backbone's weights with the whole activation cache at the end of the fill, spread over all devices",
				ceilBytes(float64(w.Layers)*float64(w.LayerWeightBytes) + float64(w.HeadWeightBytes) + w.cacheBytes())})
	} else {
		needs = append(needs,
			need{fmt.Sprintf("a pipeline's last stage with one block, the head and %d microbatches in flight", k),
				w.trainStageBytes(1, w.Layers == 1, true, k)},
			need{fmt.Sprintf("a pipeline's first stage with one block and the embeddings, %d microbatches in flight", k),
				w.trainStageBytes(1, true, w.Layers == 1, k)},
			need{fmt.Sprintf("the whole model with its gradients, AdamW state and %d microbatches in flight, spread over all devices", k),
				min(w.trainStageBytes(w.Layers, true, true, k)+w.HeadWeightBytes, w.replicaBytes(1))})
	}
	var biggest, total int64
	var have []string
	for _, d := range devs {
		biggest = max(biggest, d.Usable())
		total += d.Usable()
		have = append(have, fmt.Sprintf("%s %s usable of %s", d.Name, numfmt.GiB(d.Usable()), numfmt.GiB(d.MemoryBytes)))
	}
	sort.SliceStable(needs, func(a, b int) bool { return needs[a].bytes > needs[b].bytes })
	msg := fmt.Sprintf("edge: %s fits on no arrangement of these devices", w.Method)
	for _, n := range needs {
		limit := biggest
		if strings.Contains(n.what, "spread over") {
			limit = total
		}
		if n.bytes > limit {
			return noFit{fmt.Sprintf("%s: the largest need, %s, is %s; the devices have %s", msg, n.what, numfmt.GiB(n.bytes), strings.Join(have, ", "))}
		}
	}
	return noFit{fmt.Sprintf("%s: each piece fits somewhere (the largest, %s, is %s) but no split of the layers does "+
		"(a pipeline has at most %d stages, and each keeps its share of what it holds until the step or epoch ends); the devices have %s",
		msg, needs[0].what, numfmt.GiB(needs[0].bytes), MaxStages, strings.Join(have, ", "))}
}
