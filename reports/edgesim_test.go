package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A results folder that carries measured workloads gets a section of
// simulated speed-ups on edge devices, labelled as a simulation; without
// the file there is none, and a malformed file is an error naming it.
func TestEdgeSimulationSection(t *testing.T) {
	dir := trialsDir(t, "sentiment-full-all-s1", "sentiment-full-all-s2")
	build := func() string { return buildREADME(t, dir) }
	if md := build(); strings.Contains(md, edgeTitle) {
		t.Error("a simulated section without workloads")
	}
	ws, err := os.ReadFile("../edge/testdata/illustrative.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, EdgeWorkloads), ws, 0o644); err != nil {
		t.Fatal(err)
	}
	md := build()
	i := strings.Index(md, "## 11. "+edgeTitle)
	if i < 0 || !strings.Contains(md, "11. ["+edgeTitle+"]") {
		t.Fatalf("no section 11 %q in:\n%s", edgeTitle, md)
	}
	section := md[i:]
	for _, want := range []string{"**A simulation, not a measurement.**", "| pac ", "| lora ", "| full ", "1.00×", "8 device(s)"} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q:\n%s", want, section)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, EdgeWorkloads), []byte(`[{"method": "pac"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(dir, Options{}); err == nil || !strings.Contains(err.Error(), EdgeWorkloads) {
		t.Errorf("a malformed workloads file: %v", err)
	}
}
