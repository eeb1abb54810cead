package train

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device/devicetest"
	"gorgonia.org/tensor"
)

// killedAt stops a pre-training loop from its progress callback, as a
// kill would between two steps.
type killedAt int

// runPretrain runs cfg's steps on the periodic stream from a fresh model,
// resuming from dir's checkpoint if any; kill > 0 stops it after that
// step. It returns the weights and the loop's state.
func runPretrain(t *testing.T, cfg PretrainConfig, dir string, opt PretrainOptions, kill int) ([][]float64, *checkpointState) {
	t.Helper()
	m, err := model.New(cfg.Model, tensor.Float32, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrainer(m, nn.Schedule{Peak: cfg.LR, Warmup: cfg.Warmup, Total: cfg.Steps, MinFactor: cfg.MinLRFactor}, cfg.WeightDecay)
	defer tr.Close()
	if opt.Device != nil {
		if err := tr.UseDevice(opt.Device); err != nil {
			t.Fatal(err)
		}
	}
	stream := periodic(400)
	w, err := NewWindows(stream, cfg.Batch, cfg.SeqLen, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	st := &checkpointState{Config: cfg}
	if dir != "" {
		got, err := loadCheckpoint(dir, cfg, tr, w)
		if err != nil {
			t.Fatal(err)
		}
		if got != nil {
			st = got
		}
	}
	heldOut := func() (float64, error) { return BitsPerByte(tr, stream, cfg.Batch, cfg.SeqLen) }
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(killedAt); !ok {
					panic(r)
				}
			}
		}()
		err = pretrainLoop(cfg, tr, w, dir, opt, st, heldOut, func(p Progress) {
			if p.Step == kill {
				panic(killedAt(p.Step))
			}
		})
	}()
	if err != nil {
		t.Fatal(err)
	}
	var weights [][]float64
	for _, p := range m.Params {
		weights = append(weights, nn.Float64s(p.Value))
	}
	return weights, st
}

// A run killed between checkpoints and started again ends with exactly
// the weights, losses and held-out curve of a run never interrupted; only
// the steps since the last checkpoint are done twice.
func TestPretrainResumesBitForBit(t *testing.T) {
	cfg := PretrainConfig{Model: small, Steps: 20, Batch: 4, SeqLen: 12, LR: 3e-3, Warmup: 2, MinLRFactor: 0.1, WeightDecay: 0.1, Seed: 7}
	opt := PretrainOptions{CheckpointEvery: 5, EvalEvery: 4}
	want, wantSt := runPretrain(t, cfg, "", opt, 0)

	dir := filepath.Join(t.TempDir(), "checkpoint")
	_, st := runPretrain(t, cfg, dir, opt, 13) // checkpoints at 5 and 10, killed after 13
	if st.Step != 13 {
		t.Fatalf("killed at step %d, want 13", st.Step)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 3 { // state.json, weights-10, moments-10
		t.Errorf("checkpoint folder holds %v, want the state and step 10's weights and moments", files)
	}
	got, gotSt := runPretrain(t, cfg, dir, opt, 0)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("weights after resuming differ from an uninterrupted run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSt.LossCurve, gotSt.LossCurve); diff != "" || len(gotSt.LossCurve) == 0 {
		t.Errorf("loss curves differ (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSt.HeldOut, gotSt.HeldOut); diff != "" || len(gotSt.HeldOut) != 5 {
		t.Errorf("held-out curves differ or are not every 4 steps (-want +got):\n%s", diff)
	}
	if gotSt.TokensSeen != wantSt.TokensSeen {
		t.Errorf("tokens seen %d after resuming, %d uninterrupted", gotSt.TokensSeen, wantSt.TokensSeen)
	}

	// Another recipe is refused, naming what differs.
	other := cfg
	other.LR = 1e-3
	m, _ := model.New(cfg.Model, tensor.Float32, cfg.Seed)
	tr := NewTrainer(m, nn.Schedule{}, 0)
	w, _ := NewWindows(periodic(400), cfg.Batch, cfg.SeqLen, cfg.Seed)
	if _, err := loadCheckpoint(dir, other, tr, w); err == nil || !strings.Contains(err.Error(), `"lr"`) {
		t.Errorf("a checkpoint of another recipe: error %v, want one naming \"lr\"", err)
	}
	// A damaged state file names itself.
	if err := os.WriteFile(filepath.Join(dir, checkpointStateFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCheckpoint(dir, cfg, tr, w); err == nil || !strings.Contains(err.Error(), checkpointStateFile) {
		t.Errorf("a damaged state file: error %v, want one naming %s", err, checkpointStateFile)
	}
}

// On a device (OpenCL on pocl in CI) a killed run resumes bit for bit too:
// the checkpoint takes the weights and AdamW's moments from the device and
// the resumed run puts them back.
func TestPretrainOnDeviceResumesBitForBit(t *testing.T) {
	cfg := PretrainConfig{Model: small, Steps: 12, Batch: 4, SeqLen: 12, LR: 3e-3, Warmup: 2, MinLRFactor: 0.1, WeightDecay: 0.1, Seed: 7}
	opt := PretrainOptions{CheckpointEvery: 5, EvalEvery: 4, Device: devicetest.Open(t)}
	want, wantSt := runPretrain(t, cfg, "", opt, 0)
	dir := filepath.Join(t.TempDir(), "checkpoint")
	runPretrain(t, cfg, dir, opt, 8) // a checkpoint at 5, killed after 8
	got, gotSt := runPretrain(t, cfg, dir, opt, 0)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("weights after resuming on the device differ from an uninterrupted run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSt.LossCurve, gotSt.LossCurve); diff != "" {
		t.Errorf("loss curves differ (-want +got):\n%s", diff)
	}
	// Against the CPU, over all weights at once: a key bias has no gradient
	// in exact arithmetic and trains rounding noise on both (see
	// TestFineTuneOnDeviceMatchesCPU).
	cpu, _ := runPretrain(t, cfg, "", PretrainOptions{}, 0)
	var d, n float64
	for i := range cpu {
		for j := range cpu[i] {
			d += (got[i][j] - cpu[i][j]) * (got[i][j] - cpu[i][j])
			n += cpu[i][j] * cpu[i][j]
		}
	}
	if d > 1e-6*n {
		t.Errorf("weights after 12 steps: %.2g of their norm from the CPU's, want at most 1e-3", math.Sqrt(d/n))
	}
}
