package run

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/model/tokenizer"
	"github.com/peftbench/peftbench/trial"
	"gorgonia.org/tensor"
)

// tinyBase writes a small base model and tokenizer to a temporary
// directory, so trials run end to end in a second.
func tinyBase(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../tasks/examples/tea-train.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Train([]string{string(raw), "Shop: Review: Verdict: good bad"}, 300)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Config{Vocab: tok.VocabSize(), Context: 96, DModel: 16, Layers: 1, Heads: 2, DFF: 32}, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "base")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func teaSpec(base, method string, params map[string]any) trial.Spec {
	return trial.Spec{Model: base, Task: "../../tasks/examples/tea.yaml", Method: method, MethodParams: params, Seed: 3,
		Train: trial.Settings{LR: 1e-2, Epochs: 3, Batch: 4, WarmupFrac: 0.1, Select: true}}
}

func quiet(string, ...any) {}

func TestTrialEndToEnd(t *testing.T) {
	base := tinyBase(t)
	for _, c := range []struct {
		method string
		params map[string]any
	}{
		{"full", nil}, {"lora", map[string]any{"rank": 2}}, {"prompt", map[string]any{"length": 3}},
	} {
		t.Run(c.method, func(t *testing.T) {
			r := Trial(teaSpec(base, c.method, c.params), quiet)
			if r.Status != trial.Success {
				t.Fatalf("%s: %s", r.Status, r.Error)
			}
			m := r.Metrics
			if m.TestAccuracy < 0 || m.TestAccuracy > 1 || m.ValidAccuracy == nil || m.MacroF1 == nil || len(m.EpochLoss) != 3 {
				t.Fatalf("metrics %+v", m)
			}
			if r.NumTrainableParams <= 0 || r.NumTotalParams < r.NumTrainableParams || r.FileSize < int64(4*r.NumTrainableParams) {
				t.Fatalf("params %d of %d, file %d bytes", r.NumTrainableParams, r.NumTotalParams, r.FileSize)
			}
			if r.TokensPerSec <= 0 || r.EvalTokensPerSec <= 0 || r.PeakMemoryBytes <= 0 || r.PeakHeapBytes <= 0 || r.Steps != 9 {
				t.Fatalf("meters: %+v", r)
			}
			if r.CalibrationGFLOPS <= 0 || r.TrainFLOPsPerToken <= 0 || !(r.MFU > 0 && r.MFU < 1) || r.NormTokensPerSec <= 0 {
				t.Fatalf("calibration %.2f GFLOP/s, %.3g FLOPs/token, MFU %.3f", r.CalibrationGFLOPS, r.TrainFLOPsPerToken, r.MFU)
			}
			if len(r.Projected) != 3 || r.Projected[1].TotalBytes <= 0 || r.GPU.GPUStatus == "" {
				t.Fatalf("projections %+v, gpu %+v", r.Projected, r.GPU)
			}
			if r.BestEpoch < 1 || r.BestEpoch > 3 || r.ID != teaSpec(base, c.method, c.params).ID() {
				t.Fatalf("best epoch %d, id %s", r.BestEpoch, r.ID)
			}
		})
	}
}

// One spec and seed give the same losses, bit for bit.
func TestTrialDeterministic(t *testing.T) {
	base := tinyBase(t)
	spec := teaSpec(base, "lora", map[string]any{"rank": 2, "dropout": 0.1})
	a, b := Trial(spec, quiet), Trial(spec, quiet)
	if a.Status != trial.Success || b.Status != trial.Success {
		t.Fatalf("%s %s / %s %s", a.Status, a.Error, b.Status, b.Error)
	}
	if diff := cmp.Diff(a.Metrics, b.Metrics); diff != "" {
		t.Fatalf("two runs of one spec differ:\n%s", diff)
	}
}

func TestTrialFailuresAreResults(t *testing.T) {
	base := tinyBase(t)
	cases := map[string]trial.Spec{
		"missing task":   teaSpec(base, "full", nil),
		"unknown method": teaSpec(base, "lorax", nil),
		"bad rank":       teaSpec(base, "lora", map[string]any{"rank": 0}),
		"diverging lr":   teaSpec(base, "full", nil),
	}
	s := cases["missing task"]
	s.Task = "../../tasks/examples/gone.yaml"
	cases["missing task"] = s
	s = cases["diverging lr"]
	s.Train.LR = 1e30
	cases["diverging lr"] = s
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			r := Trial(spec, quiet)
			if r.Status != trial.Failed || r.Error == "" {
				t.Fatalf("status %s, error %q", r.Status, r.Error)
			}
			t.Log(r.Error)
			dir := t.TempDir()
			if err := r.Write(dir); err != nil {
				t.Fatal(err)
			}
			back, err := trial.ReadResult(trial.Path(dir, r.ID))
			if err != nil || back.Status != trial.Failed || !strings.Contains(back.Error, strings.Fields(r.Error)[0]) {
				t.Fatalf("read back %+v, %v", back, err)
			}
		})
	}
}
