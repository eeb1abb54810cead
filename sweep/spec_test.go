package sweep

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/trial"
)

const good = `name: t
models: [tiny]
tasks: [sentiment, spam]
data_sizes: [32, all]
seeds: [1, 2]
train: {epochs: 2, batch: 8, max_eval: 50}
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
		if tr.Train.Epochs != 2 || tr.Train.Batch != 8 || tr.Train.MaxEval != 50 || !tr.Train.Select {
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
			if trial.IsControl(tr.Method) {
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

func TestBadSpecsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", "tasks: [spam]\nmethods: {full: {}}\ncolour: red\n", `bad.yaml:3: field "colour"`},
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
