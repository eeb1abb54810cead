package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
)

// Workload is one method's training cost on the reference machine, per
// microbatch (Batch examples of Tokens tokens), measured there. Times are
// seconds, sizes bytes. The simulation treats every block as alike and
// every cost as proportional to the reference machine's matmul rate.
type Workload struct {
	// Method names the fine-tuning method ("pac", "lora", "full", ...).
	Method string `json:"method"`
	// Layers is the number of backbone blocks.
	Layers int `json:"layers"`
	// Batch and Tokens give a microbatch's shape; they are shown, not used.
	Batch  int `json:"batch"`
	Tokens int `json:"tokens"`
	// Microbatches is the number of microbatches in one epoch.
	Microbatches int `json:"microbatches"`
	// StepMicrobatches is how many microbatches make one optimizer step
	// (gradient accumulation; GPipe's micro-batches per mini-batch); 0
	// means 1. A pipeline overlaps only the microbatches of one step, so
	// with 1 it cannot speed up methods that train through the backbone.
	StepMicrobatches int `json:"step_microbatches,omitempty"`
	// ReferenceGFLOPS is the reference machine's measured matmul rate
	// (fp32 GFLOP/s); a device runs a task in time × ReferenceGFLOPS /
	// Device.GFLOPS.
	ReferenceGFLOPS float64 `json:"reference_gflops"`

	// LayerForward and LayerBackward are one block's forward and backward
	// time for a microbatch; LayerBackward is 0 for a side network, which
	// never differentiates through the backbone.
	LayerForward  float64 `json:"layer_forward_s"`
	LayerBackward float64 `json:"layer_backward_s"`
	// HeadForward and HeadBackward are the rest of the model: embeddings,
	// final norm, output head and loss. A pipeline runs them on its last
	// stage (the embedding lookup is negligible); a side network runs them
	// with its adapters, in every epoch.
	HeadForward  float64 `json:"head_forward_s"`
	HeadBackward float64 `json:"head_backward_s"`
	// AdapterForward and AdapterBackward are a side network's adapters
	// over all layers (0 for other methods).
	AdapterForward  float64 `json:"adapter_forward_s"`
	AdapterBackward float64 `json:"adapter_backward_s"`
	// OptimizerStep is one AdamW step over all trainable weights.
	OptimizerStep float64 `json:"optimizer_step_s"`

	// ActivationBytes is one block's output for a microbatch: what crosses
	// a pipeline link (each way, for methods with a backward pass) and what
	// the activation cache holds per layer and microbatch.
	ActivationBytes int64 `json:"activation_bytes"`
	// LayerSavedBytes is what a block keeps for its backward pass, per
	// microbatch in flight; a forward-only pass needs it once, as working
	// memory.
	LayerSavedBytes int64 `json:"layer_saved_bytes"`
	// HeadSavedBytes is what the head and loss keep for the backward pass
	// per microbatch (the logits, mostly).
	HeadSavedBytes int64 `json:"head_saved_bytes"`
	// AdapterSavedBytes is what a side network's adapters keep for their
	// backward pass per microbatch (0 for other methods).
	AdapterSavedBytes int64 `json:"adapter_saved_bytes"`
	// LayerWeightBytes is one block's weights, including any modules the
	// method adds inside it (lora's A and B), but not a side network.
	LayerWeightBytes int64 `json:"layer_weight_bytes"`
	// HeadWeightBytes is the embeddings, final norm and output head (tied
	// in GPT-2, so held once, but by both the first and the last stage).
	HeadWeightBytes int64 `json:"head_weight_bytes"`
	// TrainableBytes is the trainable weights; their gradients and AdamW's
	// two moments take 3× as much again. A side network's are its
	// adapters; otherwise they are spread evenly over the blocks, apart
	// from HeadTrainableBytes.
	TrainableBytes int64 `json:"trainable_bytes"`
	// HeadTrainableBytes is the part of TrainableBytes in the embeddings
	// and head (full fine-tuning; 0 for lora and pac).
	HeadTrainableBytes int64 `json:"head_trainable_bytes,omitempty"`
	// SideNetwork says the trainable weights sit beside a frozen backbone
	// and read its layers' outputs (pac): the backbone runs forward only
	// and the adapters train data-parallel on its activations.
	SideNetwork bool `json:"side_network"`
	// Cache says the method keeps the backbone's activations after the
	// first epoch and never runs the backbone again (pac). Without it a
	// side network refills its activations every epoch.
	Cache bool `json:"cache"`
}

// Validate reports the first field that makes no sense.
func (w Workload) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("edge: workload %q: "+format, append([]any{w.Method}, a...)...)
	}
	switch {
	case w.Method == "":
		return errors.New("edge: workload without a method name")
	case w.Layers < 1:
		return bad("layers = %d, need at least 1", w.Layers)
	case w.Microbatches < 1:
		return bad("microbatches = %d, need at least 1", w.Microbatches)
	case w.StepMicrobatches < 0:
		return bad("step_microbatches = %d is negative", w.StepMicrobatches)
	case !(w.ReferenceGFLOPS > 0) || math.IsInf(w.ReferenceGFLOPS, 0):
		return bad("reference_gflops = %g, need a positive rate", w.ReferenceGFLOPS)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"layer_forward_s", w.LayerForward}, {"layer_backward_s", w.LayerBackward},
		{"head_forward_s", w.HeadForward}, {"head_backward_s", w.HeadBackward},
		{"adapter_forward_s", w.AdapterForward}, {"adapter_backward_s", w.AdapterBackward},
		{"optimizer_step_s", w.OptimizerStep}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return bad("%s = %g, need a time ≥ 0", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"activation_bytes", w.ActivationBytes}, {"layer_saved_bytes", w.LayerSavedBytes},
		{"head_saved_bytes", w.HeadSavedBytes}, {"adapter_saved_bytes", w.AdapterSavedBytes},
		{"layer_weight_bytes", w.LayerWeightBytes}, {"head_weight_bytes", w.HeadWeightBytes},
		{"trainable_bytes", w.TrainableBytes}, {"head_trainable_bytes", w.HeadTrainableBytes}} {
		if f.v < 0 {
			return bad("%s = %d is negative", f.name, f.v)
		}
	}
	if w.HeadTrainableBytes > w.TrainableBytes {
		return bad("head_trainable_bytes %d exceeds trainable_bytes %d", w.HeadTrainableBytes, w.TrainableBytes)
	}
	if w.SideNetwork {
		if w.LayerBackward != 0 {
			return bad("side_network is set but layer_backward_s = %g: a side network has no backward through the backbone", w.LayerBackward)
		}
		if w.HeadTrainableBytes != 0 {
			return bad("side_network is set but head_trainable_bytes = %d: the backbone is frozen", w.HeadTrainableBytes)
		}
	} else {
		if w.AdapterForward != 0 || w.AdapterBackward != 0 || w.AdapterSavedBytes != 0 {
			return bad("adapter_* fields are set but side_network is false")
		}
		if w.Cache {
			return bad("cache is set but side_network is false: only a frozen backbone's activations can be reused")
		}
	}
	return nil
}

// stepSize is the number of microbatches in a full optimizer step.
func (w Workload) stepSize() int {
	k := max(w.StepMicrobatches, 1)
	return min(k, w.Microbatches)
}

// steps is the number of optimizer steps in an epoch; the last may be
// short.
func (w Workload) steps() int {
	k := w.stepSize()
	return (w.Microbatches + k - 1) / k
}

// stepMicrobatches is the number of microbatches in step g of an epoch.
func (w Workload) stepMicrobatches(g int) int {
	k := w.stepSize()
	return min(k, w.Microbatches-g*k)
}

// layerTrainable is the trainable bytes inside one block (methods that
// train through the backbone).
func (w Workload) layerTrainable() float64 {
	if w.SideNetwork {
		return 0
	}
	return float64(w.TrainableBytes-w.HeadTrainableBytes) / float64(w.Layers)
}

// cacheBytes is the activation cache of a whole epoch.
func (w Workload) cacheBytes() float64 {
	return float64(w.Microbatches) * float64(w.Layers) * float64(w.ActivationBytes)
}

// ReadWorkloads reads a JSON array of workloads, one per method, and
// validates each.
func ReadWorkloads(path string) ([]Workload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ws []Workload
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, fmt.Errorf("edge: %s: %w", path, err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("edge: %s holds no workloads", path)
	}
	seen := map[string]bool{}
	for _, w := range ws {
		if err := w.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if seen[w.Method] {
			return nil, fmt.Errorf("edge: %s: method %q appears twice", path, w.Method)
		}
		seen[w.Method] = true
	}
	return ws, nil
}

// FindWorkload returns the workload of a method.
func FindWorkload(ws []Workload, method string) (Workload, error) {
	var names []string
	for _, w := range ws {
		if w.Method == method {
			return w, nil
		}
		names = append(names, w.Method)
	}
	return Workload{}, fmt.Errorf("edge: no workload for method %q (have %v)", method, names)
}
