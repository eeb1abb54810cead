package trial

import (
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/train"
)

// Memory is the analytic account of a trial's memory, from shapes and
// counts alone, next to which results carry the measured peaks.
type Memory struct {
	WeightBytes    int64 `json:"weights"`           // every weight, model and method, in float32
	TrainableBytes int64 `json:"trainable_weights"` // the part of WeightBytes that trains
	GradientBytes  int64 `json:"gradients"`         // one float32 gradient per trainable weight
	OptimizerBytes int64 `json:"optimizer_state"`   // AdamW's two moments, float64 each
	// StepBytes are the values one training step computes for its largest
	// batch shape: activations, their gradients and the weight gradients,
	// all live at the end of the step (the engine keeps every value of a
	// run until the next).
	StepBytes  int64 `json:"step_values"`
	TotalBytes int64 `json:"total"` // weights + optimizer state + step values
}

// account computes the breakdown for a trained trial.
func account(a *methods.Attached, m *model.Model, total int, tr *train.Trainer) Memory {
	trainable := int64(a.NumTrainable(m))
	mem := Memory{
		WeightBytes:    4 * int64(total),
		TrainableBytes: 4 * trainable,
		GradientBytes:  4 * trainable,
		OptimizerBytes: 16 * trainable,
		StepBytes:      tr.StepValueBytes,
	}
	mem.TotalBytes = mem.WeightBytes + mem.OptimizerBytes + mem.StepBytes
	return mem
}
