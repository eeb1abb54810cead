package nn

import (
	"runtime"
	"sync"

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

type pool struct {
	mu   sync.Mutex
	n    int
	jobs chan job
	done chan struct{}
}

var workers = newPool(runtime.GOMAXPROCS(0))

func newPool(n int) *pool {
	p := &pool{n: max(n, 1), jobs: make(chan job, n), done: make(chan struct{}, n)}
	for range p.n - 1 {
		go func() {
			for j := range p.jobs {
				j.s.span(j.w, j.lo, j.hi)
				p.done <- struct{}{}
			}
		}()
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
		p.jobs <- job{s, w, w * n / k, (w + 1) * n / k}
	}
	s.span(0, 0, n/k)
	for w := 1; w < k; w++ {
		<-p.done
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
