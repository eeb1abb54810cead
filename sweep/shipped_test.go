package sweep

import (
	"path/filepath"
	"testing"

	"github.com/peftbench/peftbench/methods"
)

// Every spec in sweeps/ parses and expands to trials: a spec the README
// or CI points at must not break when a method, task or field changes.
func TestShippedSpecsLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "sweeps", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no specs in sweeps/: %v", err)
	}
	for _, f := range files {
		s, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if p := s.Plan(nil); len(p.All()) == 0 {
			t.Errorf("%s: no trials", f)
		}
	}
}

// awaitingBaseline are methods the CI sweep does not run yet: a
// configuration of sweeps/ci.yaml that results/baselines/ci.json lacks
// fails the check, so they join the sweep when its baseline is next
// recorded, and leave this list then (the test below fails while a method
// is in both).
var awaitingBaseline = map[string]bool{}

// The CI sweep trains every registered method (its controls included), so
// that the regression check covers each: a method left out could change
// its default or break without CI noticing.
func TestCISweepCoversEveryMethod(t *testing.T) {
	s, err := Load(filepath.Join("..", "sweeps", "ci.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, tr := range s.Trials() {
		have[tr.Method] = true
	}
	for _, name := range methods.Names() {
		switch {
		case !have[name] && !awaitingBaseline[name]:
			t.Errorf("sweeps/ci.yaml has no trial of %s", name)
		case have[name] && awaitingBaseline[name]:
			t.Errorf("sweeps/ci.yaml runs %s: take it off awaitingBaseline", name)
		}
	}
	for name := range awaitingBaseline {
		if _, err := methods.Get(name); err != nil {
			t.Errorf("awaitingBaseline: %v", err)
		}
	}
}
