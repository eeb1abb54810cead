// Package trial is the schema of a fine-tuning trial: its spec (base
// model, task, data size, method and hyper-parameters, seed, training
// settings), whose content hash is the trial's id, and its result file
// (accuracy and per-example outcomes, memory, throughput, projections),
// with reading and writing of results. Package run runs a trial;
// this package does not link the engine, so readers of results (reports,
// the regression check) need not either. The id lets reruns, resumed
// sweeps and shards on other machines agree on what is done.
package trial

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/peftbench/peftbench/methods/display"
)

// Spec is everything that determines a trial.
type Spec struct {
	Model        string         `json:"model"`
	Task         string         `json:"task"`
	DataSize     int            `json:"data_size"` // training examples; 0 means all
	Method       string         `json:"method"`
	MethodParams map[string]any `json:"method_params"` // resolved: every hyper-parameter but late ones at their defaults (methods.TrialParams)
	Seed         int            `json:"seed"`
	Train        Settings       `json:"train"`
	// TaskHash and ModelHash are content hashes of the task (its config
	// and data files: tasks.ContentHash) and of the base model (config,
	// weights and tokenizer: model.ContentHash), filled when a sweep is
	// expanded. Being part of the spec they are part of the id, so editing
	// a task's data or overwriting a checkpoint gives new trials rather
	// than resuming stale results; a trial process checks them against
	// what it loads. Empty (and then left out of the JSON, keeping the
	// ids of specs written before them) means not checked.
	TaskHash  string `json:"task_hash,omitempty"`
	ModelHash string `json:"model_hash,omitempty"`
	// AdapterHash is the content hash of a PEFT adapter folder that was
	// evaluated rather than trained (harness eval --adapter:
	// methods.PEFTHash); absent keeps the ids of specs written before it.
	AdapterHash string `json:"adapter_hash,omitempty"`
	// Augment, when set, wraps fine-tuning in a data-augmentation loop
	// (LLM2LLM); absent keeps the ids of specs written before it.
	Augment *Augment `json:"augment,omitempty"`
	// Device is the device asked for: cpu, cuda or opencl; empty means
	// auto (CUDA where a driver and a GPU are found, else the CPU), which
	// keeps the ids of specs written before it. Where the trial ran is in
	// its result (Result.Device).
	Device string `json:"device,omitempty"`
	// Name is the sweep spec's name for the configuration: the method and
	// the grid axes that take more than one value in the spec ("lora
	// rank=4"). The regression check matches a run to its baseline by it,
	// so a hyper-parameter changed under the same name is reported as a
	// change. It labels and is not part of the id.
	Name string `json:"name,omitempty"`
}

// Settings are the training and evaluation settings of a trial.
type Settings struct {
	LR          float64 `json:"lr"`
	Epochs      int     `json:"epochs"`
	Batch       int     `json:"batch"`
	WeightDecay float64 `json:"weight_decay"`
	WarmupFrac  float64 `json:"warmup_frac"`
	// Select keeps the epoch with the best validation score.
	Select bool `json:"select"`
	// MaxEval caps the validation and test examples scored (0: all), so
	// that small sweeps stay cheap; the first examples of each split are
	// used.
	MaxEval int `json:"max_eval"`
	// MaxValid caps, further, the validation examples that select the
	// epoch (0: no further cap): scoring validation after every epoch
	// can cost more than training, and the test split stays whole.
	MaxValid int `json:"max_valid,omitempty"`
	// MinSteps, when set, trains for at least this many optimiser steps:
	// small training sets take more passes than Epochs, so that every
	// data size trains long enough (HF PEFT's method comparison budgets
	// steps, not epochs). Selection still scores validation Epochs times,
	// at evenly spaced passes. 0 (absent, keeping the ids of specs
	// written before it): Epochs passes.
	MinSteps int `json:"min_steps,omitempty"`
}

// Passes is the number of passes over n training examples, and the
// passes after which validation is scored (Epochs of them, evenly spaced,
// the last pass among them).
func (s Settings) Passes(n int) (passes int, scored []int) {
	passes = s.Epochs
	if perPass := (n + s.Batch - 1) / max(1, s.Batch); s.MinSteps > 0 && perPass > 0 {
		passes = max(passes, (s.MinSteps+perPass-1)/perPass)
	}
	for k := 1; k <= s.Epochs; k++ {
		scored = append(scored, (k*passes+s.Epochs-1)/s.Epochs) // ⌈k·passes/Epochs⌉
	}
	return passes, scored
}

// ValidCap is the number of validation examples a trial scores (0: all).
func (s Settings) ValidCap() int {
	if s.MaxValid > 0 && (s.MaxEval <= 0 || s.MaxValid < s.MaxEval) {
		return s.MaxValid
	}
	return s.MaxEval
}

// ID is the hex SHA-256 of the spec's canonical JSON (Go's encoder sorts
// map keys), shortened to 16 characters. It covers the content hashes
// (TaskHash, ModelHash) when the spec has them, so it names what the trial
// trains on, not only where that lives. Name is left out: one trial
// under two names is still one trial.
func (s Spec) ID() string {
	s.Name = ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("trial: spec does not encode: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Label is a short human description for progress lines.
func (s Spec) Label() string {
	params := ""
	if k := display.Declared(s.Method).Headline; k != "" {
		if v, ok := s.MethodParams[k]; ok {
			params += fmt.Sprintf(" %s=%s", k, FormatParam(v))
		}
	}
	size := "all"
	if s.DataSize > 0 {
		size = fmt.Sprint(s.DataSize)
	}
	if s.Augment != nil {
		params += " +" + s.Augment.Label()
	}
	return fmt.Sprintf("%s/%s%s n=%s seed=%d lr=%g", s.Task, s.Method, params, size, s.Seed, s.Train.LR)
}

// FormatParam writes a hyper-parameter value as labels show it: lists
// joined by commas, numbers in their shortest form.
func FormatParam(v any) string {
	switch x := v.(type) {
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = FormatParam(e)
		}
		return strings.Join(s, ",")
	case []string:
		return strings.Join(x, ",")
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		return strconv.Itoa(x)
	}
	return fmt.Sprint(v)
}

// SizeOrder sorts data sizes with 0 (all of the training split) last.
func SizeOrder(n int) float64 {
	if n == 0 {
		return math.Inf(1)
	}
	return float64(n)
}

// The controls' names, as result files hold them; what each is, and
// whether a method is a control, is methods/display's declaration.
const (
	ZeroShot = display.ZeroShot
	Scratch  = display.Scratch
)
