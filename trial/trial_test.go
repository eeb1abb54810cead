package trial

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIDIsAContentHash(t *testing.T) {
	a := Spec{Model: "tiny", Task: "spam", Method: "lora", MethodParams: map[string]any{"rank": 4, "alpha": 16.0}, Seed: 1}
	b := Spec{Model: "tiny", Task: "spam", Method: "lora", MethodParams: map[string]any{"alpha": 16.0, "rank": 4}, Seed: 1}
	if a.ID() != b.ID() {
		t.Fatal("map order changed the id")
	}
	// A spec read back from JSON (numbers as float64) keeps its id.
	c := b
	c.MethodParams = map[string]any{"rank": 4.0, "alpha": 16.0}
	if a.ID() != c.ID() {
		t.Fatal("a JSON round trip changed the id")
	}
	c.Seed = 2
	if a.ID() == c.ID() || len(a.ID()) != 16 {
		t.Fatalf("ids %s and %s", a.ID(), c.ID())
	}
}

func TestResultsRoundTripAndReadAll(t *testing.T) {
	dir := t.TempDir()
	acc := 0.75
	want := &Result{ID: "abc", Status: Success, Spec: Spec{Task: "spam", MethodParams: map[string]any{"rank": 4.0}},
		Metrics: Metrics{TestAccuracy: 0.7, ValidAccuracy: &acc}, NumTrainableParams: 10}
	if err := want.Write(dir); err != nil {
		t.Fatal(err)
	}
	// A temp file left by a killed writer is not a result.
	if err := os.WriteFile(filepath.Join(dir, "trials", ".abc.json.123"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d results", len(got))
	}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(Path(dir, "bad"), []byte(`{"id": "bad"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll(dir); err == nil {
		t.Fatal("a result without a status was accepted")
	}
}

func TestIndexRanges(t *testing.T) {
	for _, c := range []struct {
		idx []int
		s   string
	}{
		{nil, ""}, {[]int{0}, "0"}, {[]int{0, 1, 2, 3}, "0-3"}, {[]int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8"},
	} {
		if got := FormatIndex(c.idx); got != c.s {
			t.Errorf("FormatIndex(%v) = %q, want %q", c.idx, got, c.s)
		}
		back, err := ParseIndex(c.s)
		if err != nil || len(back) != len(c.idx) || (len(back) > 0 && !cmp.Equal(back, c.idx)) {
			t.Errorf("ParseIndex(%q) = %v, %v", c.s, back, err)
		}
	}
	for _, bad := range []string{"3-1", "0-2,1", "a", "-1", "0,,1"} {
		if _, err := ParseIndex(bad); err == nil {
			t.Errorf("ParseIndex(%q) accepted", bad)
		}
	}
	o := NewOutcomes("test", []int{0, 1, 2}, []bool{true, false, true})
	if o.Correct != "101" || o.Index != "0-2" || o.Accuracy() != 2.0/3 {
		t.Fatalf("outcomes %+v", o)
	}
	o.Correct = "1x1"
	if _, err := o.Positions(); err == nil {
		t.Fatal("a bad outcome character was accepted")
	}
}
