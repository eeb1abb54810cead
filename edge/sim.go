package edge

import (
	"container/heap"
	"errors"
	"fmt"
	"math"

	"github.com/peftbench/peftbench/internal/numfmt"
)

// Result is a simulated run of a plan.
type Result struct {
	Epochs []Epoch `json:"epochs"`
	Total  float64 `json:"total_s"`
	// Peak is each device's peak memory, in Plan.Devices order (0 for a
	// device the plan leaves idle).
	Peak []int64 `json:"peak_bytes"`
	// InFlight is, per pipeline stage, the most microbatches whose saved
	// activations the stage held at once (methods that train through the
	// backbone; GPipe holds a whole step's).
	InFlight []int `json:"in_flight,omitempty"`
	// AllReduce is one step's ring all-reduce of the gradients (0 without
	// data parallelism).
	AllReduce float64 `json:"all_reduce_s"`
}

// Epoch is one simulated epoch and its phases.
type Epoch struct {
	Seconds float64 `json:"seconds"`
	// Fill is a side network's pipelined backbone forward pass, which
	// fills the activation cache.
	Fill float64 `json:"fill_s,omitempty"`
	// Exchange moves the cache so that each data-parallel device holds
	// every layer for its share of the examples.
	Exchange float64 `json:"exchange_s,omitempty"`
	// Train is the training steps: the pipeline's (or replicas') for
	// methods that train through the backbone, the adapters' for a side
	// network.
	Train float64 `json:"train_s"`
}

// Simulate runs a plan event by event: microbatches through the pipeline
// stages (GPipe: a step's forwards in order, then its backwards in reverse,
// then each stage's share of the optimizer step; a side network's fill
// streams forwards only, since its backbone never changes), every transfer
// serialised on its link and direction; data-parallel steps with each
// device's share of the compute, a ring all-reduce, and the optimizer. A
// side network without a pipeline fills the cache data-parallel: each
// device runs the whole backbone over its own share.
// The cache exchange is one transfer phase whose busiest link sets its
// time. Epochs of one kind are alike (each starts with empty pipelines), so
// each kind is simulated once. Simulate fails when the plan is malformed
// or a device's peak memory exceeds what it has usable.
func Simulate(p Plan) (Result, error) {
	w, devs := p.Workload, p.Devices
	if err := checkInputs(w, devs, p.Epochs); err != nil {
		return Result{}, err
	}
	if err := checkPlan(p); err != nil {
		return Result{}, err
	}
	var r Result
	var first, later Epoch
	if len(p.Parallel) > 0 {
		r.AllReduce = w.allReduce(devs, p.Parallel)
	}
	switch {
	case w.SideNetwork:
		if len(p.Pipeline) > 0 {
			first.Fill, _ = simPipeline(w, devs, p.Pipeline)
			first.Exchange = w.exchangeSeconds(devs, p.Pipeline, p.Parallel)
		} else {
			first.Fill = simLocalFill(w, devs, p.Parallel)
		}
		first.Train = simParallel(w, devs, p.Parallel)
		first.Seconds = first.Fill + first.Exchange + first.Train
		later = first
		if w.Cache {
			later = Epoch{Seconds: first.Train, Train: first.Train}
		}
	case len(p.Pipeline) > 0:
		first.Train, r.InFlight = simPipeline(w, devs, p.Pipeline)
		first.Seconds = first.Train
		later = first
	default:
		first.Train = simParallel(w, devs, p.Parallel)
		first.Seconds = first.Train
		later = first
	}
	for e := range p.Epochs {
		ep := later
		if e == 0 {
			ep = first
		}
		r.Epochs = append(r.Epochs, ep)
		r.Total += ep.Seconds
	}
	r.Peak = memory(p, r.InFlight)
	for i, b := range r.Peak {
		if b > devs[i].Usable() {
			return Result{}, fmt.Errorf("edge: plan does not fit: %s (device %d) needs %s, has %s usable",
				devs[i].Name, i, numfmt.GiB(b), numfmt.GiB(devs[i].Usable()))
		}
	}
	return r, nil
}

// checkPlan checks a plan's shape: stages that cover the layers in order,
// shares that add up to one, each device used once per phase.
func checkPlan(p Plan) error {
	w := p.Workload
	switch {
	case w.SideNetwork && len(p.Parallel) == 0:
		return errors.New("edge: a side network's plan needs data-parallel shares for the adapters")
	case !w.SideNetwork && (len(p.Pipeline) == 0) == (len(p.Parallel) == 0):
		return errors.New("edge: a plan for a method that trains through the backbone needs a pipeline or data-parallel shares, not both")
	}
	valid := func(i int, seen map[int]bool) error {
		if i < 0 || i >= len(p.Devices) {
			return fmt.Errorf("edge: plan names device %d of %d", i, len(p.Devices))
		}
		if seen[i] {
			return fmt.Errorf("edge: plan uses device %d twice in one phase", i)
		}
		seen[i] = true
		return nil
	}
	seen := map[int]bool{}
	next := 0
	for _, s := range p.Pipeline {
		if err := valid(s.Device, seen); err != nil {
			return err
		}
		if s.First != next || s.Last <= s.First {
			return fmt.Errorf("edge: pipeline stage [%d, %d) does not continue at layer %d", s.First, s.Last, next)
		}
		next = s.Last
	}
	if len(p.Pipeline) > 0 && next != w.Layers {
		return fmt.Errorf("edge: pipeline ends at layer %d of %d", next, w.Layers)
	}
	seen = map[int]bool{}
	var sum float64
	for _, s := range p.Parallel {
		if err := valid(s.Device, seen); err != nil {
			return err
		}
		if !(s.Fraction > 0) {
			return fmt.Errorf("edge: device %d has share %g", s.Device, s.Fraction)
		}
		sum += s.Fraction
	}
	if len(p.Parallel) > 0 && math.Abs(sum-1) > 1e-9 {
		return fmt.Errorf("edge: data-parallel shares add up to %g, not 1", sum)
	}
	return nil
}

// memory is each device's peak memory under a plan; inflight gives each
// training stage's most microbatches held (nil: a whole step's, as GPipe
// holds).
func memory(p Plan, inflight []int) []int64 {
	w := p.Workload
	out := make([]int64, len(p.Devices))
	if w.SideNetwork && len(p.Pipeline) == 0 {
		for _, s := range p.Parallel {
			out[s.Device] = w.localPeak(s.Fraction)
		}
		return out
	}
	if w.SideNetwork {
		n := make([]int, len(p.Devices))
		first := make([]bool, len(p.Devices))
		f := make([]float64, len(p.Devices))
		for i, s := range p.Pipeline {
			n[s.Device], first[s.Device] = s.layers(), i == 0
		}
		for _, s := range p.Parallel {
			f[s.Device] = s.Fraction
		}
		for _, i := range p.Used() {
			out[i] = w.sidePeak(n[i], first[i], f[i])
		}
		return out
	}
	for i, s := range p.Pipeline {
		k := w.stepSize()
		if inflight != nil {
			k = inflight[i]
		}
		out[s.Device] = w.trainStageBytes(s.layers(), i == 0, s.Last == w.Layers, k)
	}
	for _, s := range p.Parallel {
		out[s.Device] = w.replicaBytes(s.Fraction)
	}
	return out
}

// peakBytes is memory with GPipe's whole step in flight.
func peakBytes(p Plan) []int64 { return memory(p, nil) }

// event is something that happens at a time; seq keeps simultaneous events
// in the order they were scheduled, so runs are deterministic.
type event struct {
	at  float64
	seq int
	do  func()
}

type events []event

func (q events) Len() int { return len(q) }
func (q events) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q events) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *events) Push(x any)   { *q = append(*q, x.(event)) }
func (q *events) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// engine is the discrete-event clock.
type engine struct {
	now float64
	seq int
	q   events
}

func (e *engine) after(d float64, do func()) {
	heap.Push(&e.q, event{at: e.now + d, seq: e.seq, do: do})
	e.seq++
}

// run processes events until none are left and returns the last one's
// time.
func (e *engine) run() float64 {
	for len(e.q) > 0 {
		ev := heap.Pop(&e.q).(event)
		e.now = ev.at
		ev.do()
	}
	return e.now
}

// channel is one direction of a link: one transfer at a time, in the order
// they were sent.
type channel struct {
	e       *engine
	seconds float64
	busy    bool
	waiting []func()
}

func (c *channel) send(deliver func()) {
	if c.busy {
		c.waiting = append(c.waiting, deliver)
		return
	}
	c.busy = true
	c.e.after(c.seconds, func() {
		c.busy = false
		deliver()
		if len(c.waiting) > 0 {
			next := c.waiting[0]
			c.waiting = c.waiting[1:]
			c.send(next)
		}
	})
}

// op is one unit of a stage's work.
type op struct {
	kind byte // 'F'orward, 'B'ackward, 'O'ptimizer
	mb   int
}

// pipeline is the simulated pipeline's per-stage costs.
type pipeline struct {
	fwd, bwd, opt []float64
	link          []float64 // one transfer between stage s and s+1, each way
	micro, step   int
	forwardOnly   bool
}

func simPipeline(w Workload, devs []Device, stages []Stage) (float64, []int) {
	p := pipeline{micro: w.Microbatches, step: w.stepSize(), forwardOnly: w.SideNetwork}
	for i, s := range stages {
		f, b, o := w.stageCompute(devs[s.Device], s.layers(), s.Last == w.Layers)
		p.fwd, p.bwd, p.opt = append(p.fwd, f), append(p.bwd, b), append(p.opt, o)
		if i > 0 {
			p.link = append(p.link, linkSeconds(w.ActivationBytes, devs[stages[i-1].Device], devs[s.Device]))
		}
	}
	return p.run()
}

// run simulates one epoch and returns its makespan and, per stage, the
// most microbatches held for a backward pass at once.
func (p pipeline) run() (float64, []int) {
	n := len(p.fwd)
	e := &engine{}
	type stage struct {
		prog        []op
		pc          int
		busy        bool
		gotF, gotB  []bool
		held, most  int
		right, left *channel // to the next stage; to the previous one
	}
	st := make([]stage, n)
	for s := range st {
		st[s].gotF = make([]bool, p.micro)
		st[s].gotB = make([]bool, p.micro)
		if s < n-1 {
			st[s].right = &channel{e: e, seconds: p.link[s]}
		}
		if s > 0 && !p.forwardOnly {
			st[s].left = &channel{e: e, seconds: p.link[s-1]}
		}
		if p.forwardOnly {
			for mb := range p.micro {
				st[s].prog = append(st[s].prog, op{'F', mb})
			}
			continue
		}
		for lo := 0; lo < p.micro; lo += p.step {
			hi := min(lo+p.step, p.micro)
			for mb := lo; mb < hi; mb++ {
				st[s].prog = append(st[s].prog, op{'F', mb})
			}
			for mb := hi - 1; mb >= lo; mb-- {
				st[s].prog = append(st[s].prog, op{'B', mb})
			}
			st[s].prog = append(st[s].prog, op{'O', lo})
		}
	}
	var try func(s int)
	try = func(s int) {
		x := &st[s]
		if x.busy || x.pc == len(x.prog) {
			return
		}
		o := x.prog[x.pc]
		var d float64
		switch o.kind {
		case 'F':
			if s > 0 && !x.gotF[o.mb] {
				return
			}
			d = p.fwd[s]
			if !p.forwardOnly {
				x.held++
				x.most = max(x.most, x.held)
			}
		case 'B':
			if s < n-1 && !x.gotB[o.mb] {
				return
			}
			d = p.bwd[s]
		case 'O':
			d = p.opt[s]
		}
		x.busy = true
		e.after(d, func() {
			x.busy = false
			x.pc++
			switch {
			case o.kind == 'F' && s < n-1:
				x.right.send(func() { st[s+1].gotF[o.mb] = true; try(s + 1) })
			case o.kind == 'B':
				x.held--
				if s > 0 {
					x.left.send(func() { st[s-1].gotB[o.mb] = true; try(s - 1) })
				}
			}
			try(s)
		})
	}
	for s := range st {
		try(s)
	}
	t := e.run()
	most := make([]int, n)
	for s := range st {
		if st[s].pc != len(st[s].prog) {
			panic(fmt.Sprintf("edge: pipeline stage %d stalled at op %d of %d", s, st[s].pc, len(st[s].prog)))
		}
		most[s] = st[s].most
	}
	if p.forwardOnly {
		most = nil
	}
	return t, most
}

// simLocalFill simulates a side network's fill without a pipeline: each
// device runs its share of the microbatches through the whole backbone, on
// its own.
func simLocalFill(w Workload, devs []Device, shares []Share) float64 {
	e := &engine{}
	for _, s := range shares {
		e.after(s.Fraction*float64(w.Microbatches)*float64(w.Layers)*w.LayerForward*w.scale(devs[s.Device]), func() {})
	}
	return e.run()
}

// simParallel simulates one data-parallel epoch: in each step every
// device computes its share of the step's microbatches once its previous
// optimizer step is done; when all have, the ring all-reduce runs; then
// each device steps its optimizer.
func simParallel(w Workload, devs []Device, shares []Share) float64 {
	e := &engine{}
	ar := w.allReduce(devs, shares)
	work := w.parallelWork()
	steps := w.steps()
	done := 0
	var begin func(j, g int)
	begin = func(j, g int) {
		sc := w.scale(devs[shares[j].Device])
		e.after(shares[j].Fraction*float64(w.stepMicrobatches(g))*work*sc, func() {
			done++
			if done < len(shares) {
				return
			}
			done = 0
			e.after(ar, func() {
				for j := range shares {
					sc := w.scale(devs[shares[j].Device])
					e.after(w.OptimizerStep*sc, func() {
						if g+1 < steps {
							begin(j, g+1)
						}
					})
				}
			})
		})
	}
	for j := range shares {
		begin(j, 0)
	}
	return e.run()
}
