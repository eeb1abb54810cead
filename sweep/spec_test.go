package sweep

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

const good = `name: t
models: [tiny]
tasks: [sentiment, spam]
data_sizes: [32, all]
seeds: [1, 2]
train: {epochs: 2, batch: 8, max_eval: 50, max_valid: 20}
methods:
  lora: {rank: [1, 4, 16], targets: [q, v]}
  prompt: {length: [4, 8]}
  full: {lr: [1e-4, 3e-4]}
  bitfit:
  ia3: {data_size: [16, 64, 128]}
`

func TestExpandPerMethodGrids(t *testing.T) {
	s, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	trials := s.Trials()
	// 2 tasks × (2 sizes × (3 + 2 + 2 + 1 grid points) + ia3's own 3
	// sizes) × 2 seeds: the LoRA ranks never multiply with the prompt
	// lengths, and ia3's data sizes replace the shared ones. Then the
	// controls: one zero-shot trial per task, and scratch with full's
	// grid (2 learning rates × 2 sizes × 2 seeds per task).
	if want := 2*(2*8+3)*2 + 2 + 2*8; len(trials) != want {
		t.Fatalf("%d trials, want %d", len(trials), want)
	}
	ids := map[string]bool{}
	perMethod := map[string]int{}
	for _, tr := range trials {
		if ids[tr.ID()] {
			t.Fatalf("duplicate trial %s", tr.Label())
		}
		ids[tr.ID()] = true
		perMethod[tr.Method]++
		if tr.Method == trial.ZeroShot {
			if tr.Train != (trial.Settings{Batch: 8, MaxEval: 50}) || tr.Seed != 0 || tr.DataSize != 0 {
				t.Fatalf("zero-shot spec %+v", tr)
			}
			continue
		}
		if tr.Train.Epochs != 2 || tr.Train.Batch != 8 || tr.Train.MaxEval != 50 || tr.Train.ValidCap() != 20 || !tr.Train.Select {
			t.Fatalf("settings not carried: %+v", tr.Train)
		}
	}
	if diff := cmp.Diff(map[string]int{"lora": 24, "prompt": 16, "full": 16, "bitfit": 8, "ia3": 12, "zeroshot": 2, "scratch": 16}, perMethod); diff != "" {
		t.Fatalf("trials per method:\n%s", diff)
	}
	// Hyper-parameters are resolved (defaults filled), so ids change when
	// a default changes; the spec's learning rate or the method's default.
	for _, tr := range trials {
		switch tr.Method {
		case "lora":
			if tr.MethodParams["alpha"] != 16.0 || !cmp.Equal(tr.MethodParams["targets"], []string{"q", "v"}) {
				t.Fatalf("lora params %v", tr.MethodParams)
			}
			if m, _ := methods.Get("lora"); tr.Train.LR != m.DefaultLR() {
				t.Fatalf("lora lr %v, want its default", tr.Train.LR)
			}
		case "full", trial.Scratch:
			if tr.Train.LR != 1e-4 && tr.Train.LR != 3e-4 {
				t.Fatalf("full lr %v", tr.Train.LR)
			}
		}
	}
	// Expansion is deterministic: same ids in the same order.
	again, _ := Parse("good.yaml", []byte(good))
	for i, tr := range again.Trials() {
		if tr.ID() != trials[i].ID() {
			t.Fatal("expansion order changed between parses")
		}
	}
	// Controls can be chosen or turned off; an unknown one is an error.
	for _, c := range []struct {
		line string
		want map[string]int
	}{
		{"controls: []", map[string]int{}},
		{"controls: [scratch]", map[string]int{trial.Scratch: 16}},
	} {
		s, err := Parse("c.yaml", []byte(good+c.line+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, tr := range s.Trials() {
			if display.IsControl(tr.Method) {
				got[tr.Method]++
			}
		}
		if !cmp.Equal(got, c.want) {
			t.Fatalf("%s: controls %v", c.line, got)
		}
	}
	if _, err := Parse("c.yaml", []byte(good+"controls: [majority]\n")); err == nil || !strings.Contains(err.Error(), `c.yaml:13: field "controls": unknown control "majority"`) {
		t.Fatalf("unknown control: %v", err)
	}
}

func TestDataSizesUpToTheSplit(t *testing.T) {
	// The whole split, by number or as all, is fine.
	if _, err := Parse("ok.yaml", []byte("tasks: [topic]\ndata_sizes: [1204, all]\nmethods:\n  ia3: {data_size: 1204}\n  bitfit:\n")); err != nil {
		t.Fatal(err)
	}
}

// A trial's id covers its task's data and its model's files: editing a
// user task's data gives new ids, so a resumed sweep does not keep results
// of the old data.
func TestTrialIDsCoverTheData(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"tea.yaml", "tea-train.jsonl", "tea-validation.csv", "tea-test.jsonl"} {
		b, err := os.ReadFile(filepath.Join("..", "tasks", "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yml := filepath.Join(dir, "tea.yaml")
	spec := fmt.Sprintf("tasks: [%q, spam]\ndata_sizes: [4, all]\nseeds: [1, 2]\nmethods:\n  bitfit:\n  lora: {rank: [1, 2]}\n", yml)
	expand := func() (tea, spam []string) {
		t.Helper()
		s, err := Parse("s.yaml", []byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		teaHash, err := tasks.ContentHash(yml)
		if err != nil {
			t.Fatal(err)
		}
		modelHash, err := model.ContentHash("tiny")
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range s.Trials() {
			if tr.ModelHash != modelHash || (tr.Task == yml) != (tr.TaskHash == teaHash) || tr.TaskHash == "" {
				t.Fatalf("%s: task hash %q, model hash %q; want %s's %s and tiny's %s", tr.Label(), tr.TaskHash, tr.ModelHash, tr.Task, teaHash, modelHash)
			}
			if tr.Task == yml {
				tea = append(tea, tr.ID())
			} else {
				spam = append(spam, tr.ID())
			}
		}
		return tea, spam
	}
	tea, spam := expand()
	if len(tea) != 2*3*2+1+2*2 { // (bitfit + 2 ranks) × 2 sizes × 2 seeds, zero-shot, scratch
		t.Fatalf("%d tea trials", len(tea))
	}
	// Unchanged data: the same ids.
	tea2, spam2 := expand()
	if !cmp.Equal(tea, tea2) || !cmp.Equal(spam, spam2) {
		t.Fatal("expanding twice changed the ids")
	}
	// One edited line of training data: every tea trial is new, spam's
	// are not.
	train := filepath.Join(dir, "tea-train.jsonl")
	b, err := os.ReadFile(train)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "fragrant", "fragrant and hot", 1)
	if edited == string(b) {
		t.Fatal("no line to edit")
	}
	if err := os.WriteFile(train, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	tea3, spam3 := expand()
	if !cmp.Equal(spam, spam3) {
		t.Fatal("editing tea changed spam's ids")
	}
	old := map[string]bool{}
	for _, id := range tea {
		old[id] = true
	}
	for _, id := range tea3 {
		if old[id] {
			t.Fatalf("trial %s kept its id after its data changed", id)
		}
	}
	// The hashes travel with the spec to the trial process.
	tr := trial.Spec{Task: yml, TaskHash: "x"}
	js, _ := json.Marshal(tr)
	if !strings.Contains(string(js), `"task_hash":"x"`) {
		t.Fatalf("spec JSON %s", js)
	}
}

func TestBadSpecsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", "tasks: [spam]\nmethods: {full: {}}\ncolour: red\n", `bad.yaml:3: field "colour"`},
		{"unknown device", "tasks: [spam]\nmethods: {full: {}}\ndevice: tpu\n", `bad.yaml:3: field "device": unknown device "tpu"`},
		{"unknown method", "tasks: [spam]\nmethods:\n  lorax: {}\n", `bad.yaml:3: field "methods.lorax"`},
		{"unknown hyper-parameter", "tasks: [spam]\nmethods:\n  lora:\n    rnk: [2]\n", `field "methods.lora.rnk"`},
		{"rank below 1", "tasks: [spam]\nmethods:\n  lora:\n    rank: [4, 0]\n", `bad.yaml:4: field "methods.lora.rank"`},
		{"target matching nothing", "tasks: [spam]\nmethods:\n  lora:\n    targets: [zz]\n", `field "methods.lora.targets"`},
		{"prompt longer than the context", "tasks: [spam]\nmethods:\n  prompt:\n    length: [8, 300]\n", `bad.yaml:4: field "methods.prompt.length"`},
		{"bad lr", "tasks: [spam]\nmethods:\n  full: {lr: -1}\n", `field "methods.full.lr"`},
		{"bad data size", "tasks: [spam]\ndata_sizes: [16, 0]\nmethods: {full: {}}\n", `bad.yaml:2: field "data_sizes"`},
		{"unknown task", "tasks: [spam, nope]\nmethods: {full: {}}\n", `field "tasks"`},
		{"unknown model", "models: [huge]\ntasks: [spam]\nmethods: {full: {}}\n", `field "models"`},
		{"missing methods", "tasks: [spam]\n", `field "methods": required`},
		{"bad method data size", "tasks: [spam]\nmethods:\n  ia3: {data_size: [8, none]}\n", `bad.yaml:3: field "methods.ia3.data_size"`},
		{"bad train field", "tasks: [spam]\ntrain: {epochs: 0}\nmethods: {full: {}}\n", `bad.yaml:2: field "train.epochs"`},
		// A key given twice: YAML keeps the last value (or, for a method,
		// runs both grids), which is never what its author meant.
		{"seeds twice", "tasks: [spam]\nseeds: [1]\nmethods: {full: {}}\nseeds: [2]\n", `bad.yaml:4: field "seeds": duplicate key (first at line 2)`},
		{"rank twice in a flow mapping", "tasks: [spam]\nmethods:\n  lora: {rank: 4, rank: 8}\n", `bad.yaml:3: field "methods.lora.rank": duplicate key (first at line 3)`},
		{"rank twice in a block", "tasks: [spam]\nmethods:\n  lora:\n    rank: 4\n    alpha: 8\n    rank: [8, 16]\n", `bad.yaml:6: field "methods.lora.rank": duplicate key (first at line 4)`},
		{"a method twice", "tasks: [spam]\nmethods:\n  lora: {rank: 4}\n  full: {}\n  lora: {rank: 8}\n", `bad.yaml:5: field "methods.lora": duplicate key (first at line 3)`},
		{"a train setting twice", "tasks: [spam]\ntrain:\n  epochs: 2\n  batch: 8\n  epochs: 3\nmethods: {full: {}}\n", `bad.yaml:5: field "train.epochs": duplicate key (first at line 3)`},
		{"a quoted key twice", "tasks: [spam]\nmethods: {full: {lr: 1e-4, \"lr\": 3e-4}}\n", `bad.yaml:2: field "methods.full.lr": duplicate key (first at line 2)`},
		{"twice before any other error", "tasks: [nope]\nmethods: {full: {}}\nmethods: {lorax: {}}\n", `bad.yaml:3: field "methods": duplicate key (first at line 2)`},
		// Data sizes above a task's training split are caught before any
		// trial runs, with the split's size.
		{"data size above the split", "tasks: [sentiment]\ndata_sizes: [64, 5000]\nmethods: {full: {}}\n",
			`bad.yaml:2: field "data_sizes": data size 5000 exceeds the 3,500 examples of sentiment's training split`},
		{"data size above the smaller split", "tasks: [spam, topic]\ndata_sizes:\n  - 64\n  - all\n  - 2000\nmethods: {full: {}}\n",
			`bad.yaml:5: field "data_sizes": data size 2000 exceeds the 1,204 examples of topic's training split`},
		{"method data size above the split", "tasks: [spam]\nmethods:\n  ia3: {data_size: [16, 100000]}\n",
			`bad.yaml:3: field "methods.ia3.data_size": data size 100000 exceeds the 4,346 examples of spam's training split`},
		{"full's data size, which scratch shares", "tasks: [topic]\nmethods:\n  full:\n    lr: 1e-4\n    data_size: 1205\n",
			`bad.yaml:5: field "methods.full.data_size": data size 1205 exceeds the 1,204 examples of topic's training split`},
		{"seeds at a size not run", "tasks: [spam]\ndata_sizes: [32, 128]\nseeds_by_size: {64: [1, 2]}\nmethods: {full: {}}\n",
			`bad.yaml:3: field "seeds_by_size": data size 64 is not one the sweep runs`},
		{"a primary pair naming no method", "tasks: [spam]\nmethods: {full: {}, lora: {}}\nreport:\n  primary:\n    - [lora, dora]\n",
			`bad.yaml:5: field "report": primary: "dora" is not a method or control of this sweep`},
		{"a primary pair of one", "tasks: [spam]\nmethods: {full: {}}\nreport: {primary: [[full]]}\n", `bad.yaml:3: field "report": line 3: primary: want a pair of two different method names`},
		{"a margin out of range", "tasks: [spam]\nmethods: {full: {}}\nreport: {parity_margin: 0}\n", `bad.yaml:3: field "report": line 3: parity_margin "0": want accuracy points between 0 and 100`},
		{"an unknown report field", "tasks: [spam]\nmethods: {full: {}}\nreport: {margin: 2}\n", `field "report": line 3: unknown field "margin" (want parity_margin, primary)`},
		{"seeds by size not a mapping", "tasks: [spam]\nseeds_by_size: [1, 2]\nmethods: {full: {}}\n", `bad.yaml:2: field "seeds_by_size": want a mapping`},
		{"a bad seed by size", "tasks: [spam]\ndata_sizes: [32]\nseeds_by_size: {32: [1, 0]}\nmethods: {full: {}}\n", `field "seeds_by_size": line 3: "0" is not a positive integer`},
		{"augment without per_error", "tasks: [spam]\nmethods: {full: {}}\naugment:\n  - none\n  - llm2llm:\n      iterations: 2\n      teacher: pool\n",
			`bad.yaml:6: field "augment.llm2llm.per_error": required`},
		{"augment with an unknown field", "tasks: [spam]\nmethods: {full: {}}\naugment: {llm2llm: {iterations: 2, per_error: 1, teacher: pool, colour: red}}\n",
			`bad.yaml:3: field "augment.llm2llm.colour"`},
		{"augment of an unknown kind", "tasks: [spam]\nmethods: {full: {}}\naugment: [none, {llm3llm: {}}]\n", `bad.yaml:3: field "augment"`},
		{"a teacher for another kind of task", "tasks: [arith]\nmethods: {full: {}}\naugment: {llm2llm: {iterations: 2, per_error: 1, teacher: pool}}\n",
			`bad.yaml:3: field "augment": teacher "pool" draws labelled examples, for classification; arith is generation`},
		{"the generator off arith", "tasks: [spam]\nmethods: {full: {}}\naugment: {llm2llm: {iterations: 2, per_error: 1, teacher: generator}}\n",
			`field "augment": teacher generator writes arith problems; spam is not generated by arith`},
		{"openai without a server", "tasks: [spam]\nmethods: {full: {}}\naugment: {llm2llm: {iterations: 2, per_error: 1, teacher: openai}}\n",
			`field "augment": teacher openai needs url and model`},
		{"no iterations", "tasks: [spam]\nmethods: {full: {}}\naugment: {llm2llm: {iterations: 0, per_error: 1, teacher: pool}}\n",
			`field "augment": iterations 0: want 1 to 50`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// seeds_by_size replicates the sizes it names and leaves the others at
// seeds: every method, scratch with them; zero-shot, which trains
// nothing, stays one trial.
func TestSeedsBySize(t *testing.T) {
	s, err := Parse("s.yaml", []byte("tasks: [spam]\ndata_sizes: [32, 128]\nseeds: [1]\nseeds_by_size: {128: [1, 2, 3]}\nmethods:\n  full: {}\n  ia3: {data_size: [16, 128]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	for _, tr := range s.Trials() {
		k := fmt.Sprintf("%s@%d", tr.Method, tr.DataSize)
		got[k] = append(got[k], tr.Seed)
	}
	want := map[string][]int{
		"full@32": {1}, "full@128": {1, 2, 3},
		"ia3@16": {1}, "ia3@128": {1, 2, 3},
		"scratch@32": {1}, "scratch@128": {1, 2, 3},
		"zeroshot@0": {0},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("seeds per method and size (-want +got):\n%s", d)
	}
}

// report: sets the parity margin in points and the spec's own primary
// comparisons, read the same by the sweep and by a report given the file.
func TestReportSettings(t *testing.T) {
	const spec = "tasks: [spam]\nmethods: {full: {}, lora: {}}\nreport:\n  parity_margin: 1.5\n  primary: [[lora, scratch]]\n"
	s, err := Parse("s.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	alone, err := LoadReportSettings(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []ReportSettings{s.Report, alone} {
		if d := cmp.Diff(ReportSettings{ParityMargin: 0.015, Primary: [][2]string{{"lora", "scratch"}}}, r, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".lines" || p.Last().String() == ".line" }, cmp.Ignore())); d != "" {
			t.Errorf("report settings (-want +got):\n%s", d)
		}
	}
}

// A trial's name is its method and the grid axes with more than one value,
// data sizes aside: what the check matches a run to its baseline by.
func TestTrialNames(t *testing.T) {
	s, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]map[string]bool{}
	for _, tr := range s.Trials() {
		if names[tr.Method] == nil {
			names[tr.Method] = map[string]bool{}
		}
		names[tr.Method][tr.Name] = true
	}
	want := map[string]map[string]bool{
		"lora":     {"lora rank=1": true, "lora rank=4": true, "lora rank=16": true},
		"prompt":   {"prompt length=4": true, "prompt length=8": true},
		"full":     {"full lr=0.0001": true, "full lr=0.0003": true},
		"bitfit":   {"bitfit": true},
		"ia3":      {"ia3": true},
		"scratch":  {"scratch lr=0.0001": true, "scratch lr=0.0003": true},
		"zeroshot": {"zeroshot": true},
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("names (-want +got):\n%s", diff)
	}
}

// The augment axis crosses every method's grid, not the controls; an
// augmented trial is a trial of its own (its id), named with its
// augmentation.
func TestAugmentAxis(t *testing.T) {
	s, err := Parse("aug.yaml", []byte("tasks: [spam]\ndata_sizes: [32]\nseeds: [1, 2]\nmethods:\n  lora: {rank: 4}\n  full: {}\n"+
		"augment:\n  - none\n  - {llm2llm: {iterations: 3, per_error: 2, teacher: pool}}\n  - {llm2llm: {iterations: 3, per_error: 2, teacher: pool-random}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	ids := map[string]bool{}
	for _, tr := range s.Trials() {
		count[tr.Name]++
		ids[tr.ID()] = true
		if display.IsControl(tr.Method) && tr.Augment != nil {
			t.Errorf("control %s augmented", tr.Name)
		}
		if tr.Augment != nil && (tr.Augment.Iterations != 3 || tr.Augment.PerError != 2 || !strings.Contains(tr.Label(), "+llm2llm "+tr.Augment.Teacher)) {
			t.Errorf("trial %s: augment %+v", tr.Label(), tr.Augment)
		}
	}
	want := map[string]int{"lora": 2, "lora +llm2llm pool T=3 k=2": 2, "lora +llm2llm pool-random T=3 k=2": 2,
		"full": 2, "full +llm2llm pool T=3 k=2": 2, "full +llm2llm pool-random T=3 k=2": 2, "scratch": 2, "zeroshot": 1}
	if d := cmp.Diff(want, count); d != "" {
		t.Errorf("trials per name (-want +got):\n%s", d)
	}
	if len(ids) != 15 {
		t.Errorf("%d distinct ids for 15 trials", len(ids))
	}
}

// device: reaches every trial, controls included, and changes their ids
// only when it names a device: auto keeps the ids of specs without it.
func TestDeviceReachesEveryTrial(t *testing.T) {
	ids := func(device string) ([]string, []trial.Spec) {
		s, err := Parse("d.yaml", []byte("tasks: [spam]\nmethods: {lora: {}}\n"+device))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tr := range s.Trials() {
			out = append(out, tr.ID())
		}
		return out, s.Trials()
	}
	none, _ := ids("")
	auto, _ := ids("device: auto\n")
	cuda, trials := ids("device: cuda\n")
	if !slices.Equal(none, auto) {
		t.Errorf("device: auto changed the ids: %v, %v", none, auto)
	}
	for i, tr := range trials {
		if tr.Device != "cuda" || cuda[i] == none[i] {
			t.Errorf("trial %s (%s): device %q, id %s (without: %s)", tr.Name, tr.Method, tr.Device, cuda[i], none[i])
		}
	}
}
