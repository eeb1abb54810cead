package tasks

import (
	"math/bits"

	"github.com/peftbench/peftbench/internal/detrand"
)

// rng is the project's splitmix64 generator (internal/detrand). The
// package uses it instead of math/rand so that splits, sub-samples and
// generated problems stay bit for bit the same across Go releases: a
// trial's identity includes its seed, and a changed shuffle would silently
// change the data behind that identity.
type rng struct{ g detrand.SplitMix64 }

func newRNG(seed int64, stream string) *rng {
	// Mixing a stream name in gives independent sequences for independent
	// uses of one user-visible seed (each class, each split).
	r := &rng{g: detrand.SplitMix64{State: uint64(seed) ^ detrand.Hash(stream)}}
	r.next()
	return r
}

func (r *rng) next() uint64 { return r.g.Next() }

// intn returns a value in [0, n). The multiply-shift reduction has a bias
// of at most n/2^64, irrelevant at the sizes used here.
func (r *rng) intn(n int) int {
	if n <= 0 {
		panic("tasks: intn with n <= 0")
	}
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// between returns a value in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

func (r *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.intn(i+1))
	}
}

func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}
