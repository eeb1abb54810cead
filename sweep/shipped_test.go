package sweep

import (
	"path/filepath"
	"testing"
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
