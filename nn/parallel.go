package nn

import (
	"runtime"
	"sync"
	"sync/atomic"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Kernels split their rows (or columns, for sums over rows) into one
// contiguous range per worker: each element is computed by the same code
// in the same order whatever the split, so results do not depend on the
// number of workers. Workers are goroutines started once; a split hands
// them a pointer to a task the op keeps, so a run allocates nothing.
// While one split runs, another (a product inside an attention head, or a
// second trainer in the same process) runs serially instead of waiting.

// spanner is work over index ranges; w is the worker running [lo, hi).
type spanner interface{ span(w, lo, hi int) }

type job struct {
	s         spanner
	w, lo, hi int
}

// worker is a goroutine that runs the jobs posted to it. Between jobs it
// polls for a while before parking: a training step splits ~150 kernels
// of 20-500 µs, and waking a parked goroutine takes the scheduler long
// enough that the caller often finished both halves itself.
type worker struct {
	job    job
	posted atomic.Uint64 // jobs posted so far
	done   atomic.Uint64 // jobs finished so far
	parked atomic.Bool
	wake   chan struct{}
}

// pollFor is how many polls (about 50 µs) a worker makes before parking.
const pollFor = 1 << 14

func (w *worker) loop() {
	for seen := uint64(0); ; {
		for polls := 0; w.posted.Load() == seen; polls++ {
			if polls < pollFor {
				if polls%64 == 63 {
					runtime.Gosched()
				}
				continue
			}
			w.parked.Store(true)
			if w.posted.Load() == seen { // re-check: a post may have seen parked false
				<-w.wake
			}
			w.parked.Store(false)
		}
		seen++
		w.job.s.span(w.job.w, w.job.lo, w.job.hi)
		w.done.Store(seen)
	}
}

func (w *worker) post(j job) {
	w.job = j
	w.posted.Add(1)
	if w.parked.Load() {
		select {
		case w.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

func (w *worker) wait() {
	for polls := 1; w.done.Load() != w.posted.Load(); polls++ {
		if polls%64 == 0 {
			runtime.Gosched()
		}
	}
}

type pool struct {
	mu      sync.Mutex
	n       int
	workers []*worker // workers[0] is unused: the caller is worker 0
}

var workers = newPool(runtime.GOMAXPROCS(0))

func newPool(n int) *pool {
	p := &pool{n: max(n, 1), workers: make([]*worker, max(n, 1))}
	for i := 1; i < p.n; i++ {
		p.workers[i] = &worker{wake: make(chan struct{}, 1)}
		go p.workers[i].loop()
	}
	return p
}

// Workers is the number of goroutines kernels split their work across
// (GOMAXPROCS when the process started).
func Workers() int { return workers.n }

// parallel runs s over [0, n) in up to Workers() ranges of at least grain
// indices each.
func parallel(n, grain int, s spanner) {
	k := min(workers.n, n/max(grain, 1))
	if k <= 1 || !workers.mu.TryLock() {
		s.span(0, 0, n)
		return
	}
	workers.run(n, k, s)
	workers.mu.Unlock()
}

// run splits [0, n) into k ranges; the caller takes the first.
func (p *pool) run(n, k int, s spanner) {
	for w := 1; w < k; w++ {
		p.workers[w].post(job{s, w, w * n / k, (w + 1) * n / k})
	}
	s.span(0, 0, n/k)
	for w := 1; w < k; w++ {
		p.workers[w].wait()
	}
}

// task is one run of a kernel split across workers: fn computes the part
// [lo, hi) of out from in. Each op keeps its own task, so handing it to
// the workers allocates nothing.
type task struct {
	fn  func(t *task, w, lo, hi int)
	op  any
	in  []G.Value
	out G.Value
}

func (t *task) span(w, lo, hi int) { t.fn(t, w, lo, hi) }

// split runs the float32 or float64 kernel, by the dtype of out, over
// [0, n) in parallel through the op's task t. Callers name both kernels
// instantiated: a generic kernel taken as a value inside generic code
// would allocate a closure on every call.
func split(t *task, op any, f32, f64 func(*task, int, int, int), in []G.Value, out G.Value, n, grain int) {
	t.fn = f32
	if out.Dtype() == tensor.Float64 {
		t.fn = f64
	}
	t.op, t.in, t.out = op, in, out
	parallel(n, grain, t)
	t.in, t.out = nil, nil
}

// rowGrain is the fewest rows of length d worth handing to a worker.
func rowGrain(d int) int { return max(1, 8192/max(d, 1)) }
