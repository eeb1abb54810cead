package run

import (
	"fmt"

	"github.com/peftbench/peftbench/gpu/projection"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device"
	"github.com/peftbench/peftbench/train"
	"github.com/peftbench/peftbench/trial"
)

// peakGFLOPS is the float32 peak the trial's products run at: the cores'
// on the CPU, the GPU catalogue's for the device's precision (0 where it
// is not known: no MFU is then given).
func peakGFLOPS(dev device.Device) float64 {
	if dev == nil {
		return machine.PeakFP32(nn.Workers()).GFLOPS
	}
	return machine.DevicePeakGFLOPS(dev.Name(), dev.Info()["matmul_precision"])
}

// ownOutside counts the method's weights that are not model weights.
func ownOutside(a *methods.Attached, m *model.Model) int {
	inModel := map[*nn.Param]bool{}
	for _, p := range m.Params {
		inModel[p] = true
	}
	n := 0
	for _, p := range a.Own {
		if !inModel[p] {
			n += p.Size()
		}
	}
	return n
}

// trainableMatrices counts the trainable weights that sit in matrix
// products (those with two dimensions), whose gradients cost FLOPs.
func trainableMatrices(a *methods.Attached, m *model.Model) int {
	n := 0
	for _, p := range a.Trainable(m) {
		if p.Value.Dims() == 2 {
			n += p.Size()
		}
	}
	return n
}

// account computes the breakdown for a trial once it has trained (or not,
// for zero-shot) and evaluated; selected says whether it kept a snapshot
// of the best epoch.
func account(a *methods.Attached, m *model.Model, total int, tr *train.Trainer, selected bool) trial.Memory {
	trainable := int64(0)
	if tr.Steps > 0 {
		trainable = int64(a.NumTrainable(m))
	}
	mem := trial.Memory{
		WeightBytes:    4 * int64(total),
		TrainableBytes: 4 * trainable,
		GradientBytes:  4 * trainable,
		OptimizerBytes: 16 * trainable,
		StepBytes:      tr.StepValueBytes,
		EvalBytes:      max(0, tr.ArenaBytes()-tr.StepValueBytes),
	}
	if selected {
		mem.SnapshotBytes = 8 * trainable
	}
	if tr.Cache != nil {
		mem.CacheBytes = tr.Cache.Bytes()
	}
	mem.TotalBytes = mem.WeightBytes + mem.OptimizerBytes + mem.StepBytes + mem.EvalBytes + mem.SnapshotBytes + mem.CacheBytes
	return mem
}

// projectSeq is the sequence length projections assume: a common
// fine-tuning length for the large models, where the tiny model's prompts
// would understate activations.
const projectSeq = 512

// project projects the trial's method and batch size onto the large
// models people fine-tune on GPUs; family is the trial's base model's,
// whose layer names the method's targets use.
func project(spec trial.Spec, family model.Family) ([]trial.Projection, error) {
	var out []trial.Projection
	for _, arch := range []projection.Arch{projection.GPT2XL, projection.Llama2_7B, projection.Llama3_8B} {
		p, err := projection.ProjectWith(arch, spec.Method, spec.MethodParams,
			projection.Options{Batch: spec.Train.Batch, Seq: projectSeq, Precision: projection.BF16FP32Adam, Source: family})
		if err != nil {
			return nil, fmt.Errorf("projecting onto %s: %w", arch.Name, err)
		}
		var fits []string
		for _, g := range p.Fits(nil) {
			fits = append(fits, g.Name)
		}
		out = append(out, trial.Projection{Arch: arch.Name, Precision: p.Inputs.Precision, Batch: spec.Train.Batch, Seq: projectSeq,
			TrainableParams: p.TrainableParams, WeightsBytes: p.WeightsBytes + p.MasterWeightsBytes, GradientsBytes: p.GradientsBytes,
			OptimizerBytes: p.OptimizerBytes, ActivationBytes: p.ActivationsBytes + p.LogitsBytes, TotalBytes: p.TotalBytes, FitsOn: fits,
			SkippedTargets: p.SkippedTargets})
	}
	return out, nil
}
