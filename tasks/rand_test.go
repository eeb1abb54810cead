package tasks

import (
	"slices"
	"testing"
)

// The generator behind splits, sub-samples and generated problems must not
// change: trial ids name data drawn from it. These values were computed
// before the generator moved to internal/detrand.
func TestRNGPinned(t *testing.T) {
	r := newRNG(42, "train-order")
	if got, want := []uint64{r.next(), r.next(), r.next()}, []uint64{0xd51c371058adff9b, 0xcb7dc7c215dfe2ec, 0x38d3900c6abad5f2}; !slices.Equal(got, want) {
		t.Errorf("next: %#x, want %#x", got, want)
	}
	r = newRNG(-7, "class-3")
	if got, want := []int{r.intn(10), r.intn(1000), r.between(2, 9), r.intn(1 << 40)}, []int{7, 692, 7, 1060293261270}; !slices.Equal(got, want) {
		t.Errorf("intn, between: %v, want %v", got, want)
	}
	if got, want := newRNG(1, "arith-test").perm(12), []int{9, 5, 6, 1, 0, 4, 10, 8, 3, 11, 2, 7}; !slices.Equal(got, want) {
		t.Errorf("perm: %v, want %v", got, want)
	}
}
