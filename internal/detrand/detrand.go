// Package detrand is the project's one string hash and one seeded
// generator: FNV-1a 64 and splitmix64, written out here so that what they
// produce stays bit for bit the same across Go releases. Task splits,
// sub-samples and generated problems, per-layer dropout streams and the
// colours of methods outside the report palette all derive from them, and
// trial ids name data drawn through them: changing either changes data
// behind existing ids.
package detrand

// FNV-1a 64's offset basis and prime.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Hash is the 64-bit FNV-1a hash of s (hash/fnv's New64a, without the
// allocation).
func Hash(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// SplitMix64 is Steele, Lea and Flood's splitmix64 generator (Vigna's
// reference constants). The zero value is a generator seeded with 0;
// seed it by setting State.
type SplitMix64 struct{ State uint64 }

// Next advances the state and returns the next value.
func (r *SplitMix64) Next() uint64 {
	r.State += 0x9e3779b97f4a7c15
	z := r.State
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
