package train

import (
	"fmt"
)

// ActivationCache keeps each training example's block outputs (every
// layer, its real positions) from the first epoch that computes them, so
// that later epochs of a method whose weights all lie beside the backbone
// (pac) run only what follows it: Pluto and Charon's activation cache.
// Right padding and causal attention make an example's block outputs the
// same whatever batch it is in, so the cache is per example. It holds one
// training set: FineTune's pairs, by index. Limit bounds it: FineTune
// refuses, before any step, a training set whose cache would not fit.
type ActivationCache struct {
	Limit int64 // bytes
	rows  map[int][][]float32
	bytes int64
	// free is what is left of one allocation sized for the whole training
	// set: filling the cache then allocates nothing per step, so the
	// collector is not set off again and again as it grows.
	free []float32
}

// NewActivationCache returns an empty cache of at most limit bytes.
func NewActivationCache(limit int64) *ActivationCache {
	return &ActivationCache{Limit: limit, rows: map[int][][]float32{}}
}

// Bytes is what the cache holds now.
func (c *ActivationCache) Bytes() int64 { return c.bytes }

// CacheNeed is what caching pairs would take for a model of the given layers
// and width, at most maxLen positions each.
func CacheNeed(pairs []Pair, layers, d, maxLen int) int64 {
	n := int64(0)
	for _, p := range pairs {
		n += int64(realPositions(p, maxLen))
	}
	return n * int64(layers*d) * 4
}

// realPositions is how many positions of a batch row an example fills:
// its prompt and target shifted by one, cut to the last maxLen.
func realPositions(p Pair, maxLen int) int {
	return min(len(p.Prompt)+len(p.Target)-1, maxLen)
}

func (c *ActivationCache) check(pairs []Pair, layers, d, maxLen int) error {
	need := CacheNeed(pairs, layers, d, maxLen)
	if c.free == nil && len(c.rows) == 0 && need <= c.Limit {
		c.free = make([]float32, need/4)
	}
	if need > c.Limit {
		return fmt.Errorf("train: the activation cache of %d examples needs %.1f MiB, over its limit of %.1f MiB: raise the limit, or train without a cache (the backbone then runs every epoch)",
			len(pairs), float64(need)/(1<<20), float64(c.Limit)/(1<<20))
	}
	return nil
}

// cacheRows names the examples of a batch's rows and the positions each
// fills.
type cacheRows struct {
	idx, n []int
}

// has says whether every example of idx is cached.
func (c *ActivationCache) has(idx []int) bool {
	for _, i := range idx {
		if _, ok := c.rows[i]; !ok {
			return false
		}
	}
	return true
}

// store copies rows r of the block outputs hidden[l] ([B·T, d], float32)
// for the examples idx[r], n[r] positions each.
func (c *ActivationCache) store(hidden [][]float32, idx, n []int, T, d int) {
	for r, i := range idx {
		if _, ok := c.rows[i]; ok {
			continue
		}
		layers := make([][]float32, len(hidden))
		for l, h := range hidden {
			k := n[r] * d
			if len(c.free) < k { // a training set other than the one checked
				c.free = make([]float32, k)
			}
			layers[l], c.free = c.free[:k:k], c.free[k:]
			copy(layers[l], h[r*T*d:])
			c.bytes += int64(k) * 4
		}
		c.rows[i] = layers
	}
}

// load fills the inputs hidden[l] ([B·T, d], float32) with the cached
// outputs of the examples idx, padding rows and positions with zeros (the
// loss weighs them zero).
func (c *ActivationCache) load(hidden [][]float32, idx, n []int, T, d int) error {
	for _, h := range hidden {
		clear(h)
	}
	for r, i := range idx {
		layers := c.rows[i]
		if len(layers) != len(hidden) || len(layers[0]) != n[r]*d {
			return fmt.Errorf("train: activation cache: example %d holds %d positions, its batch row %d: one cache serves one training set", i, len(layers[0])/d, n[r])
		}
		for l, h := range hidden {
			copy(h[r*T*d:], layers[l])
		}
	}
	return nil
}
