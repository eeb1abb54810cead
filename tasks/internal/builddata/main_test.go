package main

import (
	"fmt"
	"testing"

	"github.com/peftbench/peftbench/internal/detrand"
)

// The hash and generator that dealt the shipped splits must not change.
// These values were computed before they moved to internal/detrand.
func TestSplitPinned(t *testing.T) {
	if got, want := detrand.Hash("spam"), uint64(0x8b7dbd19093ccbc8); got != want {
		t.Errorf("hash(spam) = %#x, want %#x", got, want)
	}
	g := newRNG(99)
	if a, b := g.next(), g.next(); a != 0x42f3a9364c476be3 || b != 0x81ab918879d69a4 {
		t.Errorf("splitmix64 from 99: %#x %#x, want 0x42f3a9364c476be3 0x81ab918879d69a4", a, b)
	}
	var rows []row
	for i := range 10 {
		rows = append(rows, row{Text: fmt.Sprint(i), Label: []string{"a", "b"}[i%3/2]})
	}
	out := stratifiedSplit(rows, 7, map[string]float64{"test": 0.2, "validation": 0.2})
	want := map[string]string{"test": "48", "train": "319267", "validation": "50"}
	for name, w := range want {
		got := ""
		for _, r := range out[name] {
			got += r.Text
		}
		if got != w {
			t.Errorf("split %s holds rows %s, want %s", name, got, w)
		}
	}
}
