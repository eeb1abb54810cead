package export

import (
	"encoding/json"
	"math"
	"sort"

	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/reports"
	"github.com/peftbench/peftbench/trial"
)

// ParamPrefix starts the column of each method hyper-parameter
// (param_rank, param_alpha): the union over the results, missing where a
// method has no such parameter.
const ParamPrefix = "param_"

// Trials is one row per trial, failed ones included (status, error), in
// the order given. Lists (epoch_loss, the GPUs a projection fits on) are
// left to the result files, except epoch_loss, written as a JSON array.
func Trials(results []*trial.Result) *Table {
	kinds := paramKinds(results)
	b := newBuilder("trials")
	for _, r := range results {
		b.row()
		s := r.Spec
		b.str("id", r.ID)
		b.str("status", r.Status)
		b.str("error", r.Error)
		b.str("experiment_name", experimentName(s))
		b.str("model_id", s.Model)
		b.str("task_name", s.Task)
		b.str("peft_type", s.Method)
		b.integer("data_size", int64(s.DataSize))
		b.integer("seed", int64(s.Seed))
		b.float("lr", s.Train.LR)
		b.integer("epochs", int64(s.Train.Epochs))
		b.integer("batch", int64(s.Train.Batch))
		b.float("weight_decay", s.Train.WeightDecay)
		b.float("warmup_frac", s.Train.WarmupFrac)
		b.boolean("select", s.Train.Select)
		b.integer("max_eval", int64(s.Train.MaxEval))
		b.integer("max_valid", int64(s.Train.MaxValid))
		b.str("augment", augmentOf(s))
		b.str("task_hash", s.TaskHash)
		b.str("model_hash", s.ModelHash)
		b.str("method_params", paramsJSON(s.MethodParams))
		for _, k := range sortedKeys(kinds) {
			setParam(b, ParamPrefix+k, kinds[k], s.MethodParams[k])
		}
		m := r.Metrics
		b.float("test_accuracy", m.TestAccuracy)
		b.optFloat("valid_accuracy", m.ValidAccuracy)
		b.optFloat("macro_f1", m.MacroF1)
		b.optFloat("exact_match", m.ExactMatch)
		b.float("train_loss", m.TrainLoss)
		b.str("epoch_loss", floatsJSON(m.EpochLoss))
		b.integer("best_epoch", int64(r.BestEpoch))
		b.integer("steps", int64(r.Steps))
		b.integer("num_trainable_params", int64(r.NumTrainableParams))
		b.integer("num_total_params", int64(r.NumTotalParams))
		b.integer("file_size", r.FileSize)
		b.float("train_time", r.TrainTime)
		b.float("total_time", r.WallTime)
		b.integer("train_total_tokens", r.TrainTokens)
		b.float("tokens_per_sec", r.TokensPerSec)
		b.float("eval_tokens_per_sec", r.EvalTokensPerSec)
		b.integer("peak_memory_bytes", r.PeakMemoryBytes)
		b.integer("peak_heap_bytes", r.PeakHeapBytes)
		a := r.MemoryAccounted
		b.integer("memory_weights", a.WeightBytes)
		b.integer("memory_trainable_weights", a.TrainableBytes)
		b.integer("memory_gradients", a.GradientBytes)
		b.integer("memory_optimizer_state", a.OptimizerBytes)
		b.integer("memory_step_values", a.StepBytes)
		b.integer("memory_eval_values", a.EvalBytes)
		b.integer("memory_selection_snapshot", a.SnapshotBytes)
		b.integer("memory_activation_cache", a.CacheBytes)
		b.integer("memory_total", a.TotalBytes)
		b.float("calibration_gflops", r.CalibrationGFLOPS)
		b.float("train_flops_per_token", r.TrainFLOPsPerToken)
		b.float("mfu", r.MFU)
		b.float("tokens_per_sec_per_gflops", r.NormTokensPerSec)
		b.str("gpu_status", r.GPU.GPUStatus)
		b.str("gpu_name", r.GPU.GPUName)
		b.integer("gpu_memory_used_peak_bytes", int64(r.GPU.GPUMemoryUsedPeakBytes))
		e := r.Env
		b.str("env_git_commit", e.GitCommit)
		b.boolean("env_git_dirty", e.GitDirty)
		b.str("env_go_version", e.GoVersion)
		b.str("env_os", e.OS)
		b.str("env_cpu", e.CPU)
		b.integer("env_cores", int64(e.Cores))
		b.str("env_blas", e.BLAS)
		b.str("env_gpu", e.GPU)
	}
	return b.done()
}

// experimentName is the sweep's name for the configuration, or the trial's
// label for results without one.
func experimentName(s trial.Spec) string {
	if s.Name != "" {
		return s.Name
	}
	return s.Label()
}

func augmentOf(s trial.Spec) string {
	if s.Augment == nil {
		return ""
	}
	return s.Augment.Label()
}

// paramKinds decides each hyper-parameter's column kind over every result:
// Int when every value is a whole number, Float when every value is a
// number, Bool when every value is a boolean, String otherwise.
func paramKinds(results []*trial.Result) map[string]Kind {
	const unset = Kind(-1)
	kinds := map[string]Kind{}
	for _, r := range results {
		for k, v := range r.Spec.MethodParams {
			got, seen := kinds[k]
			if !seen {
				got = unset
			}
			kinds[k] = join(got, kindOf(v), got == unset)
		}
	}
	return kinds
}

func kindOf(v any) Kind {
	switch x := v.(type) {
	case int, int64:
		return Int
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return Int
		}
		return Float
	case bool:
		return Bool
	}
	return String
}

// join is the kind that holds values of kinds a and b.
func join(a, b Kind, first bool) Kind {
	switch {
	case first || a == b:
		return b
	case (a == Int && b == Float) || (a == Float && b == Int):
		return Float
	}
	return String
}

func setParam(b *builder, name string, k Kind, v any) {
	if v == nil {
		b.set(name, k, nil)
		return
	}
	switch k {
	case Int:
		b.integer(name, int64(number(v)))
	case Float:
		b.float(name, number(v))
	case Bool:
		b.boolean(name, v.(bool))
	default:
		b.str(name, trial.FormatParam(v))
	}
}

// number is v as a number, NaN where it is none.
func number(v any) float64 {
	if f, ok := numfmt.Number(v); ok {
		return f
	}
	return math.NaN()
}

func sortedKeys(m map[string]Kind) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func paramsJSON(p map[string]any) string {
	if len(p) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// floatsJSON writes a list of numbers as a JSON array, "" for none.
func floatsJSON(xs []float64) string {
	if len(xs) == 0 {
		return ""
	}
	b, err := json.Marshal(xs)
	if err != nil {
		return ""
	}
	return string(b)
}

// Configurations is one row per configuration (every setting but the
// seed) with the report's aggregates over its seeds, in the report's
// order: the statistics reports.Configurations computes.
func Configurations(results []*trial.Result) *Table {
	cs := reports.Configurations(results)
	kinds := map[string]Kind{}
	for _, c := range cs {
		for k, v := range c.MethodParams {
			got, seen := kinds[k]
			kinds[k] = join(got, kindOf(v), !seen)
		}
	}
	b := newBuilder("configurations")
	for _, c := range cs {
		b.row()
		b.str("experiment_name", c.Name)
		b.str("model_id", c.Model)
		b.str("task_name", c.Task)
		b.str("peft_type", c.Method)
		b.integer("data_size", int64(c.DataSize))
		b.integer("train_examples", int64(c.Examples))
		b.float("lr", c.Train.LR)
		b.integer("epochs", int64(c.Train.Epochs))
		b.integer("batch", int64(c.Train.Batch))
		b.integer("max_eval", int64(c.Train.MaxEval))
		b.str("augment", c.Augment)
		b.str("method_params", c.Params)
		for _, k := range sortedKeys(kinds) {
			setParam(b, ParamPrefix+k, kinds[k], c.MethodParams[k])
		}
		b.integer("seeds", int64(len(c.Seeds)))
		seeds, _ := json.Marshal(c.Seeds)
		b.str("seed_list", string(seeds))
		ids, _ := json.Marshal(c.IDs)
		b.str("ids", string(ids))
		b.float("test_accuracy", c.TestMean)
		b.float("test_accuracy_std", c.TestStd)
		b.float("test_accuracy_ci_low", c.TestLo)
		b.float("test_accuracy_ci_high", c.TestHi)
		b.float("valid_accuracy", c.ValidMean)
		b.float("valid_accuracy_std", c.ValidStd)
		b.float("train_loss", c.TrainLossMean)
		b.integer("num_trainable_params", int64(c.NumTrainableParams))
		b.integer("num_total_params", int64(c.NumTotalParams))
		b.integer("file_size", c.FileSize)
		b.float("train_time", c.TrainTime)
		b.float("tokens_per_sec", c.TokensPerSec)
		b.float("tokens_per_sec_per_gflops", c.NormTokensPerSec)
		b.float("mfu", c.MFU)
		b.float("peak_memory_bytes", c.PeakMemoryBytes)
		b.float("peak_heap_bytes", c.PeakHeapBytes)
		b.float("memory_total", c.AccountedBytes)
		b.boolean("chosen", c.Chosen)
		b.float("vs_majority_diff", c.VsMajorityDiff)
		b.float("vs_majority_ci_low", c.VsMajorityLo)
		b.float("vs_majority_ci_high", c.VsMajorityHi)
		b.float("vs_majority_p_holm", c.VsMajorityP)
		b.boolean("above_majority", c.AboveMajority)
	}
	return b.done()
}

// Steps is one row per step each result's step log kept (trial.StepLog):
// the training curves, joined to the trials table by id.
func Steps(results []*trial.Result) *Table {
	b := newBuilder("steps")
	for _, r := range results {
		for _, p := range r.StepLog {
			b.row()
			b.str("id", r.ID)
			b.str("experiment_name", experimentName(r.Spec))
			b.str("task_name", r.Spec.Task)
			b.str("peft_type", r.Spec.Method)
			b.integer("data_size", int64(r.Spec.DataSize))
			b.integer("seed", int64(r.Spec.Seed))
			b.integer("step", int64(p.Step))
			b.integer("epoch", int64(p.Epoch))
			b.float("loss", p.Loss)
			b.float("lr", p.LR)
			b.float("grad_norm", p.GradNorm)
			b.float("tokens_per_sec", p.TokensPerSec)
		}
	}
	if b.t.rows == 0 { // no step logs: the header alone
		for _, c := range []struct {
			name string
			k    Kind
		}{{"id", String}, {"experiment_name", String}, {"task_name", String}, {"peft_type", String}, {"data_size", Int}, {"seed", Int},
			{"step", Int}, {"epoch", Int}, {"loss", Float}, {"lr", Float}, {"grad_norm", Float}, {"tokens_per_sec", Float}} {
			b.t.Columns = append(b.t.Columns, &Column{Name: c.name, Kind: c.k})
		}
	}
	return b.done()
}
