package trial

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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

func TestIDCoversContentHashes(t *testing.T) {
	a := Spec{Model: "tiny", Task: "tea.yaml", Method: "lora", MethodParams: map[string]any{"rank": 4}, Seed: 1}
	// A spec without content hashes encodes (and so hashes) as specs did
	// before they existed: results written then keep their ids.
	old := `{"model":"tiny","task":"tea.yaml","data_size":0,"method":"lora","method_params":{"rank":4},"seed":1,` +
		`"train":{"lr":0,"epochs":0,"batch":0,"weight_decay":0,"warmup_frac":0,"select":false,"max_eval":0}}`
	if sum := sha256.Sum256([]byte(old)); a.ID() != hex.EncodeToString(sum[:8]) {
		b, _ := json.Marshal(a)
		t.Fatalf("a spec without hashes encodes as\n%s\nnot as before\n%s", b, old)
	}
	ids := map[string]string{a.ID(): "no hashes"}
	for name, s := range map[string]Spec{
		"task hash":        {Model: "tiny", Task: "tea.yaml", Method: "lora", MethodParams: map[string]any{"rank": 4}, Seed: 1, TaskHash: "0123456789abcdef"},
		"other task hash":  {Model: "tiny", Task: "tea.yaml", Method: "lora", MethodParams: map[string]any{"rank": 4}, Seed: 1, TaskHash: "0123456789abcdee"},
		"model hash":       {Model: "tiny", Task: "tea.yaml", Method: "lora", MethodParams: map[string]any{"rank": 4}, Seed: 1, ModelHash: "0123456789abcdef"},
		"other model hash": {Model: "tiny", Task: "tea.yaml", Method: "lora", MethodParams: map[string]any{"rank": 4}, Seed: 1, ModelHash: "0123456789abcdee"},
	} {
		if prev, dup := ids[s.ID()]; dup {
			t.Fatalf("%s and %s give the same id", name, prev)
		}
		ids[s.ID()] = name
		// The hashes survive the JSON round trip of harness trial SPEC.json.
		b, _ := json.Marshal(s)
		var back Spec
		if err := json.Unmarshal(b, &back); err != nil || back.ID() != s.ID() {
			t.Fatalf("%s: round trip %s: %v", name, b, err)
		}
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

// Results scored on different examples pair on the examples all saw.
func TestAlignPairsSharedExamples(t *testing.T) {
	seq := func(first, n int, right func(int) bool) Outcomes {
		idx, r := make([]int, n), make([]bool, n)
		for i := range idx {
			idx[i], r[i] = first+i, right(first+i)
		}
		return NewOutcomes("test", idx, r)
	}
	even := seq(0, 100, func(i int) bool { return i%2 == 0 })
	all := seq(0, 60, func(int) bool { return true })
	late := seq(50, 20, func(int) bool { return false })
	got, err := Align([][]Outcomes{{even}, {all, late}})
	if err != nil {
		t.Fatal(err)
	}
	// Shared: positions 50-59, in order.
	want := [][][]bool{
		{{true, false, true, false, true, false, true, false, true, false}},
		{{true, true, true, true, true, true, true, true, true, true}, make([]bool, 10)},
	}
	if !cmp.Equal(got, want) {
		t.Fatalf("aligned %v", got)
	}
	far := seq(500, 10, func(int) bool { return true })
	if _, err := Align([][]Outcomes{{even}, {far}}); err == nil {
		t.Fatal("disjoint examples were paired")
	}
	if _, err := Align([][]Outcomes{{even}, nil}); err == nil {
		t.Fatal("a side without outcomes was paired")
	}
}

// min_steps adds passes over a small training set and spreads the
// validation scorings evenly over them; without it, or where epochs
// already take that many steps, there are Epochs passes, each scored.
func TestPasses(t *testing.T) {
	cases := []struct {
		s      Settings
		n      int
		passes int
		scored []int
	}{
		{Settings{Epochs: 3, Batch: 8}, 32, 3, []int{1, 2, 3}},
		{Settings{Epochs: 3, Batch: 8, MinSteps: 12}, 32, 3, []int{1, 2, 3}},
		{Settings{Epochs: 3, Batch: 8, MinSteps: 100}, 32, 25, []int{9, 17, 25}},
		{Settings{Epochs: 2, Batch: 8, MinSteps: 10}, 30, 3, []int{2, 3}},
		{Settings{Epochs: 1, Batch: 4, MinSteps: 7}, 5, 4, []int{4}},
	}
	for _, c := range cases {
		p, sc := c.s.Passes(c.n)
		if p != c.passes || !slices.Equal(sc, c.scored) {
			t.Errorf("%+v over %d examples: %d passes scored at %v, want %d at %v", c.s, c.n, p, sc, c.passes, c.scored)
		}
	}
}

// A label names the hyper-parameter that sizes the method, as its
// declaration says, and no other.
func TestLabelNamesTheHeadline(t *testing.T) {
	for _, c := range []struct {
		s    Spec
		want string
	}{
		{Spec{Task: "spam", Method: "lora", MethodParams: map[string]any{"rank": 4, "alpha": 16.0}, DataSize: 32, Seed: 1, Train: Settings{LR: 3e-3}}, "spam/lora rank=4 n=32 seed=1 lr=0.003"},
		{Spec{Task: "spam", Method: "pac", MethodParams: map[string]any{"bottleneck": 16.0, "cache_mb": 0}, Seed: 2, Train: Settings{LR: 1e-3}}, "spam/pac bottleneck=16 n=all seed=2 lr=0.001"},
		{Spec{Task: "spam", Method: "prompt", MethodParams: map[string]any{"length": 8}, Seed: 1}, "spam/prompt length=8 n=all seed=1 lr=0"},
		{Spec{Task: "spam", Method: ZeroShot, MethodParams: map[string]any{}}, "spam/zeroshot n=all seed=0 lr=0"},
		{Spec{Task: "spam", Method: "ia3", MethodParams: map[string]any{"targets": []any{"k", "v"}}, Seed: 1}, "spam/ia3 n=all seed=1 lr=0"},
	} {
		if got := c.s.Label(); got != c.want {
			t.Errorf("Label() = %q, want %q", got, c.want)
		}
	}
}
