package trial

// Memory is the analytic account of a trial's memory, from shapes and
// counts alone, next to which results carry the measured peaks.
type Memory struct {
	WeightBytes    int64 `json:"weights"`           // every weight, model and method, in float32
	TrainableBytes int64 `json:"trainable_weights"` // the part of WeightBytes that trains
	GradientBytes  int64 `json:"gradients"`         // one float32 gradient per trainable weight
	OptimizerBytes int64 `json:"optimizer_state"`   // AdamW's two moments, float64 each
	// StepBytes is the memory one training step computes in for its
	// largest batch shape: activations, their gradients and the weight
	// gradients, as the engine plans them (a buffer is reused once the
	// value in it has been read for the last time; the buffers persist
	// between steps).
	StepBytes int64 `json:"step_values"`
	// EvalBytes is what evaluation computes in beyond StepBytes: training
	// and evaluation programs share one arena, which grows to the largest
	// of them (a long test prompt can outgrow every training batch).
	EvalBytes int64 `json:"eval_values"`
	// SnapshotBytes is the copy of the trainable weights (float64) kept
	// at the best validation epoch when the trial selects one.
	SnapshotBytes int64 `json:"selection_snapshot"`
	// CacheBytes is the activation cache: the backbone's block outputs for
	// every training example (pac).
	CacheBytes int64 `json:"activation_cache,omitempty"`
	// TotalBytes is weights + optimizer state + step values + eval values
	// + snapshot + cache: everything the trial holds that grows with the
	// model.
	TotalBytes int64 `json:"total"`
}

// Projection is a trial's method and batch projected onto a large model
// trained on a GPU: bf16 weights, fp32 optimizer state.
type Projection struct {
	Arch            string   `json:"arch"`
	Precision       string   `json:"precision"`
	Batch           int      `json:"batch"`
	Seq             int      `json:"seq"`
	TrainableParams int64    `json:"projected_trainable_params"`
	WeightsBytes    int64    `json:"projected_weights_bytes"`
	GradientsBytes  int64    `json:"projected_gradients_bytes"`
	OptimizerBytes  int64    `json:"projected_optimizer_bytes"`
	ActivationBytes int64    `json:"projected_activations_bytes"` // logits included
	TotalBytes      int64    `json:"projected_total_bytes"`       // CUDA overhead included
	FitsOn          []string `json:"projected_fits_on"`
	// SkippedTargets are the method's targets the architecture lacks,
	// left out of the projection.
	SkippedTargets []string `json:"projected_skipped_targets,omitempty"`
}
