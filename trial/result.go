package trial

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/gpu"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/internal/machine"
)

// Status values of a result.
const (
	Success = "success"
	Failed  = "failed"
)

// Result is one trial's JSON file. Field names follow HF PEFT's
// method_comparison where the meaning is the same.
type Result struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Error  string `json:"error"`
	// Log holds the last lines the trial printed, for failures.
	Log  []string `json:"log,omitempty"`
	Spec Spec     `json:"spec"`
	// ModelCommit is the hub commit of a base model named by its hub name
	// and found in the local Hugging Face cache (the snapshot's folder);
	// the model's content is in Spec.ModelHash.
	ModelCommit string `json:"model_commit,omitempty"`
	// Adapter is the PEFT adapter folder an evaluation scored (its content
	// is Spec.AdapterHash); empty for a trained trial.
	Adapter string `json:"adapter,omitempty"`

	Metrics Metrics `json:"metrics"`
	// Outcomes are the per-example results on test and, when an epoch was
	// selected on it, on validation.
	Outcomes           []Outcomes `json:"outcomes,omitempty"`
	NumTrainableParams int        `json:"num_trainable_params"`
	NumTotalParams     int        `json:"num_total_params"`
	FileSize           int64      `json:"file_size"`
	TrainTime          float64    `json:"train_time"`
	TokensPerSec       float64    `json:"tokens_per_sec"`
	EvalTokensPerSec   float64    `json:"eval_tokens_per_sec"`
	PeakMemoryBytes    int64      `json:"peak_memory_bytes"` // peak resident set of the trial's process
	PeakHeapBytes      int64      `json:"peak_heap_bytes"`   // peak Go heap, sampled
	// MemoryAccounted breaks the memory down analytically.
	MemoryAccounted Memory `json:"memory_accounted"`
	// Projected is the same method and batch projected onto large models
	// on GPUs (package gpu/projection); every figure is a projection.
	Projected []Projection `json:"projected"`
	// ProjectionError says why there is no projection; it never fails a
	// trial that trained.
	ProjectionError string `json:"projection_error,omitempty"`
	// Device is the device the trial trained and evaluated on; absent on
	// the CPU.
	Device *DeviceUse `json:"device,omitempty"`
	// GPU is what NVML measured during the trial; with no GPU its status
	// says so.
	GPU         gpu.Telemetry `json:"gpu"`
	TrainTokens int64         `json:"train_tokens"`
	// Throughput comparable across machines: the GFLOP/s of a fixed
	// float32 matrix product through the same BLAS in the same process
	// (a speed normaliser: tokens/s per calibrated GFLOP/s), the model
	// FLOPs of a training step per token, and model-FLOPs utilisation
	// against the cores' float32 peak (machine.PeakFP32; 0 where the peak
	// is unknown).
	CalibrationGFLOPS  float64 `json:"calibration_gflops"`
	TrainFLOPsPerToken float64 `json:"train_flops_per_token"`
	MFU                float64 `json:"mfu"`
	PeakGFLOPS         float64 `json:"peak_gflops,omitempty"`
	NormTokensPerSec   float64 `json:"tokens_per_sec_per_gflops"`
	Steps              int     `json:"steps"`
	BestEpoch          int     `json:"best_epoch,omitempty"`
	// EpochSeconds and EpochPeakHeapBytes are each epoch's training time
	// (compiling programs excluded: it falls on the first epoch that meets
	// a batch shape) and peak Go heap, of the last fit: with an activation
	// cache, the first epoch runs the backbone and fills the cache, the
	// later ones do not.
	EpochSeconds       []float64 `json:"epoch_seconds,omitempty"`
	EpochPeakHeapBytes []int64   `json:"epoch_peak_heap_bytes,omitempty"`
	// StepLog is the last fit's optimiser steps, at most StepLogCap evenly
	// spaced ones and the last (StepLog): the training curve at a bounded
	// size. Outside Metrics, since its throughput is the machine's.
	StepLog []StepPoint `json:"step_log,omitempty"`
	// Augment holds an augmentation loop's iterations (Spec.Augment).
	Augment  []Round `json:"augment,omitempty"`
	WallTime float64 `json:"wall_time"`

	Env machine.Info `json:"env"`
}

// DeviceUse is the device a trial ran on and the memory it took there.
type DeviceUse struct {
	Kind string `json:"kind"` // cuda or opencl
	Name string `json:"name"`
	// Info names the driver, runtime and BLAS versions and the precision
	// of the matrix products.
	Info map[string]string `json:"info,omitempty"`
	// PeakBytes is the most device memory the trial's buffers held at once
	// (the allocator's high-water mark); TotalBytes is the device's memory.
	PeakBytes  int64 `json:"peak_memory_bytes"`
	TotalBytes int64 `json:"total_memory_bytes"`
}

// Metrics are the trial's scores; pointers are absent where a metric does
// not apply.
type Metrics struct {
	TestAccuracy  float64   `json:"test_accuracy"`
	ValidAccuracy *float64  `json:"valid_accuracy,omitempty"`
	MacroF1       *float64  `json:"macro_f1,omitempty"`
	ExactMatch    *float64  `json:"exact_match,omitempty"`
	TrainLoss     float64   `json:"train_loss"`
	EpochLoss     []float64 `json:"epoch_loss,omitempty"`
}

// Path is where a result lives under a sweep's output directory.
func Path(dir, id string) string { return filepath.Join(dir, "trials", id+".json") }

// LogPath is where a sweep keeps the output (stdout and stderr together)
// of a trial's process, beside its result.
func LogPath(dir, id string) string { return filepath.Join(dir, "trials", id+".log") }

// Write stores r atomically under dir.
func (r *Result) Write(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "trials"), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(Path(dir, r.ID), append(b, '\n'))
}

// ReadResult reads one result file.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("trial: %s: %w", path, err)
	}
	if r.ID == "" || (r.Status != Success && r.Status != Failed) {
		return nil, fmt.Errorf("trial: %s: missing id or status", path)
	}
	return &r, nil
}

// ReadAll reads every result under dir, sorted by id.
func ReadAll(dir string) ([]*Result, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "trials", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Result
	for _, p := range paths {
		if strings.HasPrefix(filepath.Base(p), ".") {
			continue
		}
		r, err := ReadResult(p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
