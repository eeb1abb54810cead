package nn

import (
	"runtime"
	"sync"
	"sync/atomic"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Kernels split their rows (or columns, for sums over rows) into
// contiguous ranges, which the caller and the workers take in turn. The
// ranges are fixed by the shape of the work alone (n and the grain, see
// chunks), never by the number of workers: one worker, or a split that
// finds the pool busy, runs the very same ranges one after another. So
// each element is computed by the same kernel call over the same range
// whoever runs it, and results are bit-identical whatever the number of
// workers (GOMAXPROCS, or harness sweep --workers) even for kernels whose
// rounding depends on the range they are given: a BLAS product rounds an
// element differently by the rows it is computed with (blas.go), and the
// vectorised float32 kernels of the openblas build round the scalar tail
// of a range differently from its vector body (GELU does: cut 2^19
// elements into 12 ranges, and a few elements change in their last bit).
// Workers are goroutines started once; a split hands them a pointer to a
// task the op keeps, so a run allocates nothing. While one split runs,
// another (a second trainer's in the same process) runs its ranges
// serially instead of waiting.

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
		j.s.span(j.w, bound(c, j.n, j.chunks), bound(c+1, j.n, j.chunks))
	}
}

// bound is where range c of [0, n) cut into chunks ranges starts.
func bound(c, n, chunks int64) int { return int(c * n / chunks) }

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
// (GOMAXPROCS when the process started). Results do not depend on it.
func Workers() int { return workers.n }

// maxChunks is the most ranges a split cuts its work into: enough that
// one of two cores can take over most of the work when the other is busy
// elsewhere, and that up to eight cores share a large split. It is a
// constant, not a multiple of the number of workers, so that the ranges
// (and so the results) are the same whatever that number is.
const maxChunks = 8

// chunks is how many ranges parallel cuts [0, n) into: as many as there
// are grains of work, up to maxChunks. It depends on n and grain alone.
func chunks(n, grain int) int { return max(1, min(maxChunks, n/max(grain, 1))) }

// parallel runs s over [0, n), cut into chunks(n, grain) ranges shared by
// the workers, or run in order by the caller when there is one worker or
// the pool is busy with another split: the ranges are the same either way.
func parallel(n, grain int, s spanner) {
	c := chunks(n, grain)
	if c == 1 {
		s.span(0, 0, n)
		return
	}
	if workers.n == 1 || !workers.mu.TryLock() {
		serial(n, c, s)
		return
	}
	workers.run(n, c, s)
	workers.mu.Unlock()
}

// serial runs the ranges of [0, n) cut into chunks ranges one after
// another on the caller, as worker 0.
func serial(n, chunks int, s spanner) {
	for c := range int64(chunks) {
		s.span(0, bound(c, int64(n), int64(chunks)), bound(c+1, int64(n), int64(chunks)))
	}
}

// run splits [0, n) into chunks ranges and runs them on the caller and
// the workers; the caller holds p.mu.
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
