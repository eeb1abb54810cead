package detrand

import (
	"hash/fnv"
	"testing"
)

func TestHashIsFNV1a64(t *testing.T) {
	for _, s := range []string{"", "a", "spam", "h.0.attn.q", "order-train", "class-3", "ünïcode"} {
		f := fnv.New64a()
		f.Write([]byte(s))
		if got, want := Hash(s), f.Sum64(); got != want {
			t.Errorf("Hash(%q) = %#x, hash/fnv gives %#x", s, got, want)
		}
	}
	// Pinned values, computed before the package existed by the copies it
	// replaced (methods' hashName, builddata's hash).
	for s, want := range map[string]uint64{"h.0.attn.q": 0xb0ea8c9689ac546b, "h.3.mlp.fc": 0xfc0956b36caa4a2e, "spam": 0x8b7dbd19093ccbc8} {
		if got := Hash(s); got != want {
			t.Errorf("Hash(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// The low two bits of FNV-1a do not depend on its width (both offset
// bases are 1 mod 4, both primes 3 mod 4), so picking one of four colours
// by Hash gives what hash/fnv's 32-bit FNV-1a gave before.
func TestHashLowBitsMatchFNV1a32(t *testing.T) {
	names := []string{"", "a", "pac", "llm2llm", "my-method", "vera", "loha", "lokr", "oft", "boft", "ln_tuning"}
	g := SplitMix64{State: 1}
	for range 10000 {
		b := make([]byte, 1+g.Next()%12)
		for i := range b {
			b[i] = byte(g.Next())
		}
		names = append(names, string(b))
	}
	for _, s := range names {
		f := fnv.New32a()
		f.Write([]byte(s))
		if got, want := Hash(s)%4, uint64(f.Sum32()%4); got != want {
			t.Errorf("Hash(%q) %% 4 = %d, 32-bit FNV-1a %% 4 = %d", s, got, want)
		}
	}
}

func TestSplitMix64Pinned(t *testing.T) {
	// Vigna's reference output for seed 0, and builddata's pinned draws.
	r := SplitMix64{}
	if got := r.Next(); got != 0xe220a8397b1dcdaf {
		t.Errorf("first value from 0: %#x, want 0xe220a8397b1dcdaf", got)
	}
	r = SplitMix64{State: 99}
	if a, b := r.Next(), r.Next(); a != 0x42f3a9364c476be3 || b != 0x81ab918879d69a4 {
		t.Errorf("from 99: %#x %#x, want 0x42f3a9364c476be3 0x81ab918879d69a4", a, b)
	}
}
