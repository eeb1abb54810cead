package nn

import (
	"runtime"
	"sync"
	"sync/atomic"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Kernels split their rows (or columns, for sums over rows) into a few
// contiguous ranges per worker, which the caller and the workers take in
// turn: each element is computed by the same code in the same order
// whatever the split, so results do not depend on the number of workers
// or on who ran which range. Workers are goroutines started once; a split hands
// them a pointer to a task the op keeps, so a run allocates nothing.
// While one split runs, another (a product inside an attention head, or a
// second trainer in the same process) runs serially instead of waiting.

// spanner is work over index ranges; w is the worker running [lo, hi).
type spanner interface{ span(w, lo, hi int) }

// job is one split: [0, n) in chunks ranges, which the caller and the
// workers take in turn from next until none is left, so a core slowed by
// other work simply takes fewer.
type job struct {
	s         spanner
	w         int
	n, chunks int64
	next      *atomic.Int64
}

func (j job) run() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.chunks {
			return
		}
		j.s.span(j.w, int(c*j.n/j.chunks), int((c+1)*j.n/j.chunks))
	}
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
		w.job.run()
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
	next    atomic.Int64
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

// chunksPerWorker is how finely a split is cut: enough pieces that one
// core can take over most of the work when the other is busy elsewhere.
const chunksPerWorker = 4

// parallel runs s over [0, n) on up to Workers() workers, in ranges of at
// least grain indices each.
func parallel(n, grain int, s spanner) {
	chunks := min(workers.n*chunksPerWorker, n/max(grain, 1))
	if chunks <= 1 || workers.n == 1 || !workers.mu.TryLock() {
		s.span(0, 0, n)
		return
	}
	workers.run(n, chunks, s)
	workers.mu.Unlock()
}

// run splits [0, n) into chunks ranges and runs them on the caller and
// the workers.
func (p *pool) run(n, chunks int, s spanner) {
	p.next.Store(0)
	k := min(p.n, chunks)
	for w := 1; w < k; w++ {
		p.workers[w].post(job{s: s, w: w, n: int64(n), chunks: int64(chunks), next: &p.next})
	}
	job{s: s, n: int64(n), chunks: int64(chunks), next: &p.next}.run()
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
