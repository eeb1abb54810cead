package train

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nlpodyssey/safetensors"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device"
)

// PretrainOptions are how a pre-training run is carried out, beside its
// recipe (PretrainConfig): none of them changes the weights it ends with
// beyond their last bits (Device).
type PretrainOptions struct {
	Command string // the command line, for the model card
	// CheckpointEvery is the steps between checkpoints (0: none). A run
	// killed at any moment resumes from its last checkpoint, losing at most
	// that many steps, and ends with the weights of an uninterrupted run.
	CheckpointEvery int
	// EvalEvery is the steps between held-out bits-per-byte measurements
	// logged as the run goes (0: only at the end).
	EvalEvery int
	// Device, when set, is where the run trains (the CPU otherwise): its
	// weights then differ from the CPU's in the last bits, and a run
	// resumes bit for bit only on the device it was checkpointed on.
	Device device.Device
}

// HeldOutPoint is one held-out measurement during pre-training.
type HeldOutPoint struct {
	Step       int     `json:"step"`
	TokensSeen int64   `json:"tokens_seen"`
	BPB        float64 `json:"heldout_bits_per_byte"`
	TrainLoss  float64 `json:"train_loss"` // running mean over recent steps
}

// checkpointState is what a checkpoint holds beside the weights and
// AdamW's moments: where the run stands and what it has logged.
type checkpointState struct {
	Config     PretrainConfig `json:"config"`
	Step       int            `json:"step"`
	Weights    string         `json:"weights"` // file names in the checkpoint folder
	Moments    string         `json:"moments"`
	Windows    []byte         `json:"windows_rng"`
	Recent     []float64      `json:"recent_losses"`
	Tenth      []float64      `json:"tenth_losses"`
	LossCurve  []float64      `json:"loss_curve"`
	TokensSeen int64          `json:"tokens_seen"`
	TrainSecs  float64        `json:"train_seconds"`
	HeldOut    []HeldOutPoint `json:"heldout_curve"`
	Resumed    int            `json:"resumed"` // times the run has continued from a checkpoint
}

// checkpointStateFile is written last, atomically: the checkpoint it
// describes is complete whenever it exists, and files of other steps are
// removed only after it names the new ones.
const checkpointStateFile = "state.json"

// pretrainLoop runs the training steps of cfg on tr with windows w,
// resuming from the checkpoint in dir when there is one (dir "" keeps
// none), and logs held-out bits per byte every opt.EvalEvery steps
// through heldOut.
func pretrainLoop(cfg PretrainConfig, tr *Trainer, w *Windows, dir string, opt PretrainOptions, st *checkpointState,
	heldOut func() (float64, error), progress func(Progress)) error {
	start := time.Now()
	for step := st.Step; step < cfg.Steps; step++ {
		loss, err := tr.Step(w.Next())
		if err != nil {
			return err
		}
		st.Recent = append(st.Recent, loss)
		if len(st.Recent) > 50 {
			st.Recent = st.Recent[1:]
		}
		st.Tenth = append(st.Tenth, loss)
		if len(st.Tenth)*10 >= cfg.Steps || step == cfg.Steps-1 {
			st.LossCurve = append(st.LossCurve, mean(st.Tenth))
			st.Tenth = nil
		}
		st.Step, st.TokensSeen, st.TrainSecs = step+1, tr.TokensSeen, tr.TrainTime.Seconds()
		if opt.EvalEvery > 0 && st.Step%opt.EvalEvery == 0 && heldOut != nil {
			bpb, err := heldOut()
			if err != nil {
				return err
			}
			st.HeldOut = append(st.HeldOut, HeldOutPoint{Step: st.Step, TokensSeen: st.TokensSeen, BPB: bpb, TrainLoss: mean(st.Recent)})
		}
		if dir != "" && opt.CheckpointEvery > 0 && st.Step%opt.CheckpointEvery == 0 && st.Step < cfg.Steps {
			if err := saveCheckpoint(dir, tr, w, st); err != nil {
				return err
			}
		}
		if progress != nil {
			p := Progress{Step: st.Step, Steps: cfg.Steps, Loss: mean(st.Recent), TokensPerSec: tr.TokensPerSec(), Elapsed: time.Since(start)}
			if n := len(st.HeldOut); n > 0 {
				p.HeldOutBPB = st.HeldOut[n-1].BPB
			}
			progress(p)
		}
	}
	return tr.Pull()
}

// saveCheckpoint writes the trainable weights, AdamW's moments and st into
// dir.
func saveCheckpoint(dir string, tr *Trainer, w *Windows, st *checkpointState) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var err error
	if st.Windows, err = w.State(); err != nil {
		return err
	}
	if err := tr.PullState(); err != nil { // from the device, when training there
		return err
	}
	st.Weights, st.Moments = fmt.Sprintf("weights-%d.safetensors", st.Step), fmt.Sprintf("moments-%d.safetensors", st.Step)
	weights, err := model.EncodeSafetensors(tr.Model.Params, nil)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, st.Weights), weights); err != nil {
		return err
	}
	moments, err := encodeMoments(tr.Opt, tr.Model.Params)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, st.Moments), moments); err != nil {
		return err
	}
	js, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, checkpointStateFile), append(js, '\n')); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*-*.safetensors"))
	for _, f := range old {
		if b := filepath.Base(f); b != st.Weights && b != st.Moments {
			os.Remove(f)
		}
	}
	return nil
}

// loadCheckpoint returns the state of the checkpoint in dir, with the
// weights, moments, step count and window sampler restored into tr and
// w; nil when dir holds none. A checkpoint of another recipe is an error.
func loadCheckpoint(dir string, cfg PretrainConfig, tr *Trainer, w *Windows) (*checkpointState, error) {
	path := filepath.Join(dir, checkpointStateFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st checkpointState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	if err := sameRecipe(path, st.Config, cfg); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, st.Weights))
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	if err := model.DecodeSafetensors(st.Weights, data, tr.Model.Params); err != nil {
		return nil, err
	}
	if data, err = os.ReadFile(filepath.Join(dir, st.Moments)); err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	if err := decodeMoments(filepath.Join(dir, st.Moments), data, tr.Opt, st.Step, tr.Model.Params); err != nil {
		return nil, err
	}
	if err := w.SetState(st.Windows); err != nil {
		return nil, fmt.Errorf("train: %s: field \"windows_rng\": %w", path, err)
	}
	tr.Steps, tr.TokensSeen, tr.TrainTime = st.Step, st.TokensSeen, time.Duration(st.TrainSecs*float64(time.Second))
	return &st, nil
}

// sameRecipe refuses to resume a checkpoint made with another recipe,
// naming the first field that differs.
func sameRecipe(path string, have, want PretrainConfig) error {
	a, _ := json.Marshal(have)
	b, _ := json.Marshal(want)
	if string(a) == string(b) {
		return nil
	}
	var ma, mb map[string]any
	json.Unmarshal(a, &ma)
	json.Unmarshal(b, &mb)
	var diff []string
	for k, v := range mb {
		if fmt.Sprint(ma[k]) != fmt.Sprint(v) {
			diff = append(diff, fmt.Sprintf("%q is %v there, %v here", k, ma[k], v))
		}
	}
	return fmt.Errorf("train: %s: the checkpoint is of another recipe (%s): resume with its settings, or remove the folder to start afresh",
		path, strings.Join(diff, "; "))
}

// encodeMoments writes AdamW's two moments of every parameter it has
// updated, in float64 (exact), as <name>.exp_avg and <name>.exp_avg_sq.
func encodeMoments(o *nn.AdamW, params []*nn.Param) ([]byte, error) {
	views := map[string]safetensors.TensorView{}
	for _, p := range params {
		m, v := o.Moments(p)
		if m == nil {
			continue
		}
		for suffix, xs := range map[string][]float64{".exp_avg": m, ".exp_avg_sq": v} {
			buf := make([]byte, 8*len(xs))
			for i, x := range xs {
				binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(x))
			}
			tv, err := safetensors.NewTensorView(safetensors.F64, []uint64{uint64(len(xs))}, buf)
			if err != nil {
				return nil, fmt.Errorf("train: %s: %w", p.Name, err)
			}
			views[p.Name+suffix] = tv
		}
	}
	return safetensors.Serialize(views, map[string]string{"updates": fmt.Sprint(o.Steps())})
}

func decodeMoments(file string, data []byte, o *nn.AdamW, step int, params []*nn.Param) error {
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return fmt.Errorf("train: %s: %w", file, err)
	}
	moments := map[*nn.Param][2][]float64{}
	read := func(name string, n int) ([]float64, bool, error) {
		tv, ok := st.Tensor(name)
		if !ok {
			return nil, false, nil
		}
		raw := tv.Data()
		if tv.DType() != safetensors.F64 || len(raw) != 8*n {
			return nil, true, fmt.Errorf("train: %s: tensor %q is %v with %d bytes, want F64 of %d elements", file, name, tv.DType(), len(raw), n)
		}
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return xs, true, nil
	}
	for _, p := range params {
		m, ok, err := read(p.Name+".exp_avg", p.Size())
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		v, ok, err := read(p.Name+".exp_avg_sq", p.Size())
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("train: %s: %s has exp_avg but no exp_avg_sq", file, p.Name)
		}
		moments[p] = [2][]float64{m, v}
	}
	if 2*len(moments) != st.Len() {
		return fmt.Errorf("train: %s: holds %d tensors, the model's parameters name %d", file, st.Len(), 2*len(moments))
	}
	o.Restore(step, moments)
	return nil
}
