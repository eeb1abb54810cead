// Package check guards a sweep against regressions. A baseline records,
// for every configuration of a reference sweep (model, task, the spec's
// name for the configuration and data size), what it was run with, each
// seed's per-example test outcomes and final training loss, the
// throughput and the peak memory; Compare sets a new sweep's results
// against it: a changed setup under the same name, a paired per-example
// drop in accuracy (package stats), a higher final loss, slower training,
// more memory or a failed trial is a regression. The check reads result
// files only.
package check

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
)

// Format names the baseline file layout; ReadBaseline refuses others.
const Format = "peftbench-baseline/2"

// Throughput bases: what a configuration's throughput is measured in.
const (
	// Normalized is training tokens/s divided by the calibration GFLOP/s
	// measured in the same process, comparable across machines.
	Normalized = "normalized"
	// Raw is training tokens/s, comparable on one machine only.
	Raw = "raw"
)

// Key identifies a configuration as the user means it: the model, the
// task, the sweep spec's name for the configuration (trial.Spec.Name) and
// the data size. Trials of one configuration differ only in seed; what
// else they were run with is their Setup, so a changed default or spec
// value shows as a change of the same configuration.
type Key struct {
	Model    string `json:"model"`
	Task     string `json:"task"`
	Name     string `json:"name"`
	DataSize int    `json:"data_size"`
}

// KeyOf is the configuration of a trial's spec. A spec without a name
// (written by hand, or before names) is named by its method and resolved
// hyper-parameters.
func KeyOf(s trial.Spec) Key {
	name := s.Name
	if name == "" {
		name = s.Method
		if len(s.MethodParams) > 0 {
			name += " " + aggregate.Params(s.MethodParams)
		}
	}
	return Key{Model: s.Model, Task: s.Task, Name: name, DataSize: s.DataSize}
}

// String is the key's canonical JSON: equal configurations give equal
// strings.
func (k Key) String() string { return canonical(k) }

func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Setup is what a configuration's trials were run with beyond their key:
// the method, every resolved hyper-parameter, the training settings and
// the content hashes of the task's data and the base model.
type Setup struct {
	Method string `json:"method"`
	// MethodParams are normalised to what JSON decodes (numbers are
	// float64) so equal values compare equal.
	MethodParams map[string]any `json:"method_params"`
	Train        trial.Settings `json:"train"`
	TaskHash     string         `json:"task_hash,omitempty"`
	ModelHash    string         `json:"model_hash,omitempty"`
	// Device is the device the trials ran on ("cuda NVIDIA H100 80GB
	// HBM3"), empty on the CPU: throughput on one is no baseline for
	// another.
	Device string `json:"device,omitempty"`
}

func setupOf(r *trial.Result) Setup {
	s := r.Spec
	return Setup{Method: s.Method, MethodParams: normalParams(s.MethodParams), Train: s.Train, TaskHash: s.TaskHash, ModelHash: s.ModelHash, Device: DeviceOf(r)}
}

// DeviceOf names the device a result ran on, empty for the CPU.
func DeviceOf(r *trial.Result) string {
	if r.Device == nil {
		return ""
	}
	return r.Device.Kind + " " + r.Device.Name
}

// Changes lists what differs from old to s, one "field: old → new" each,
// sorted by field; none when the setups agree.
func (s Setup) Changes(old Setup) []string {
	a, b := flatten(old), flatten(s)
	var fields []string
	for f := range a {
		fields = append(fields, f)
	}
	for f := range b {
		if _, ok := a[f]; !ok {
			fields = append(fields, f)
		}
	}
	sort.Strings(fields)
	var out []string
	for _, f := range fields {
		if a[f] != b[f] {
			out = append(out, fmt.Sprintf("%s: %s → %s", f, orNone(a[f]), orNone(b[f])))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// flatten writes a setup as dotted field names and their JSON values.
func flatten(s Setup) map[string]string {
	var m map[string]any
	if json.Unmarshal([]byte(canonical(s)), &m) != nil {
		return nil
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if obj, ok := v.(map[string]any); ok {
			for k, x := range obj {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x)
			}
			return
		}
		out[prefix] = canonical(v)
	}
	walk("", m)
	return out
}

// normalParams round-trips p through JSON, so that 8 and 8.0, or []string
// and []any, are the same value; nil becomes the empty map.
func normalParams(p map[string]any) map[string]any {
	out := map[string]any{}
	if len(p) == 0 {
		return out
	}
	b, err := json.Marshal(p)
	if err != nil || json.Unmarshal(b, &out) != nil {
		return p
	}
	return out
}

// Stat summarises a metric over seeds as a baseline stores it. Std is the
// sample standard deviation (n − 1 in the denominator), 0 when N < 2
// (aggregate.Stat's NaN, which JSON cannot hold).
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	N    int     `json:"n"`
}

func statOf(s aggregate.Stat) Stat {
	out := Stat{Mean: s.MeanOr(0), N: s.N}
	if s.N > 1 {
		out.Std = s.Std
	}
	return out
}

// SeedResult is one successful trial of a configuration.
type SeedResult struct {
	Seed              int     `json:"seed"`
	ID                string  `json:"id"`
	TestAccuracy      float64 `json:"test_accuracy"`
	TrainLoss         float64 `json:"train_loss"`
	TokensPerSec      float64 `json:"tokens_per_sec"`
	CalibrationGFLOPS float64 `json:"calibration_gflops,omitempty"`
	PeakMemoryBytes   int64   `json:"peak_memory_bytes"`
	// Outcomes are the per-example test outcomes (which examples were
	// right), for paired comparisons; nil for results without them.
	Outcomes *trial.Outcomes `json:"test_outcomes,omitempty"`
}

// Failure is one failed trial of a configuration.
type Failure struct {
	Seed  int    `json:"seed"`
	ID    string `json:"id"`
	Error string `json:"error"`
}

// Config is one configuration summarised over its seeds.
type Config struct {
	Key   Key          `json:"config"`
	Setup Setup        `json:"setup"`
	Seeds []SeedResult `json:"seeds"` // successful trials, by seed
	// Failed lists the configuration's failed trials; they are left out
	// of every statistic.
	Failed []Failure `json:"failed,omitempty"`
	// Accuracy is the test accuracy over the successful seeds.
	Accuracy Stat `json:"accuracy"`
	// TrainLoss is the mean final training loss (0 for a configuration
	// that does not train).
	TrainLoss float64 `json:"train_loss"`
	// Mixed lists setups that differ from Setup among the configuration's
	// trials (results of different sweeps in one folder).
	Mixed []string `json:"mixed,omitempty"`
	// TokensPerSec is the mean training throughput.
	TokensPerSec float64 `json:"tokens_per_sec"`
	// NormalizedThroughput is the mean of tokens/s ÷ calibration GFLOP/s,
	// 0 unless every successful seed carries a calibration.
	NormalizedThroughput float64 `json:"normalized_throughput,omitempty"`
	// MFU is the mean model FLOPs utilisation where results report it.
	MFU float64 `json:"mfu,omitempty"`
	// PeakMemoryBytes is the mean peak resident set, rounded.
	PeakMemoryBytes int64 `json:"peak_memory_bytes"`
}

// Basis is the throughput basis the configuration has: Normalized when
// it carries a normalised throughput, else Raw.
func (c *Config) Basis() string {
	if c.NormalizedThroughput > 0 {
		return Normalized
	}
	return Raw
}

// Meta describes the sweep a baseline or a run was made from.
type Meta struct {
	Created time.Time `json:"created"`
	// CodeVersion is the git commit of the results ("+dirty" for an
	// uncommitted tree); distinct versions are joined with ", ".
	CodeVersion string `json:"code_version"`
	// Machine is the processor, cores, BLAS, Go version and OS of the
	// results; distinct machines are joined with " | ".
	Machine      string `json:"machine"`
	Trials       int    `json:"trials"`
	FailedTrials int    `json:"failed_trials"`
	// Throughput says what throughputs are measured in: Normalized, Raw
	// or "mixed".
	Throughput string `json:"throughput"`
}

// Baseline is the stored reference a run is checked against.
type Baseline struct {
	Format string `json:"format"`
	Meta
	Configs []Config `json:"configs"`
}

// NewBaseline summarises results by configuration. Failed trials are
// counted and listed under their configuration but enter no statistic; a
// configuration with no successful trial is left out. It fails when no
// trial succeeded.
func NewBaseline(results []Trial) (*Baseline, error) {
	configs, meta := byConfig(results)
	b := &Baseline{Format: Format, Meta: meta}
	for _, c := range configs {
		if c.Accuracy.N > 0 {
			b.Configs = append(b.Configs, *c)
		}
	}
	if len(b.Configs) == 0 {
		return nil, fmt.Errorf("check: no successful trial among %d results: nothing to make a baseline of", len(results))
	}
	b.Throughput = basisOf(b.Configs)
	return b, nil
}

func basisOf(cs []Config) string {
	seen := map[string]bool{}
	for i := range cs {
		if cs[i].Accuracy.N > 0 && cs[i].TokensPerSec > 0 { // a configuration that trains nothing has no throughput
			seen[cs[i].Basis()] = true
		}
	}
	switch {
	case len(seen) > 1:
		return "mixed"
	case seen[Normalized]:
		return Normalized
	}
	return Raw
}

// byConfig groups results by configuration, sorted, and describes them.
func byConfig(results []Trial) ([]*Config, Meta) {
	rs := make([]*trial.Result, len(results))
	for i, t := range results {
		rs[i] = t.Result
	}
	var configs []*Config
	versions, machines := map[string]bool{}, map[string]bool{}
	meta := Meta{Created: time.Now().UTC().Truncate(time.Second), Trials: len(results)}
	for _, g := range aggregate.By(rs, KeyOf) {
		c := &Config{Key: g.Key, Setup: setupOf(g.Results[0])}
		configs = append(configs, c)
		for _, t := range g.Results {
			if ch := setupOf(t).Changes(c.Setup); len(ch) > 0 {
				c.Mixed = append(c.Mixed, fmt.Sprintf("trial %s: %s", t.ID, strings.Join(ch, "; ")))
			}
			versions[t.Env.CodeVersion()] = true
			machines[t.Env.Machine()] = true
			if t.Status != trial.Success {
				meta.FailedTrials++
				c.Failed = append(c.Failed, Failure{Seed: t.Spec.Seed, ID: t.ID, Error: t.Error})
			}
		}
		sort.SliceStable(c.Failed, func(i, j int) bool { return c.Failed[i].Seed < c.Failed[j].Seed })
		s := aggregate.Summarize(g.Results)
		for _, t := range s.Results {
			sr := SeedResult{Seed: t.Spec.Seed, ID: t.ID, TestAccuracy: t.Metrics.TestAccuracy, TrainLoss: t.Metrics.TrainLoss,
				TokensPerSec: t.TokensPerSec, CalibrationGFLOPS: t.CalibrationGFLOPS, PeakMemoryBytes: t.PeakMemoryBytes}
			if o, ok := t.OutcomesOn("test"); ok {
				// Which examples were right is what pairing needs; the answers
				// stay in the result files.
				sr.Outcomes = &trial.Outcomes{Split: o.Split, Index: o.Index, Correct: o.Correct}
			}
			c.Seeds = append(c.Seeds, sr)
		}
		c.Accuracy = statOf(s.Test)
		c.TrainLoss = s.TrainLoss.MeanOr(0)
		c.TokensPerSec = s.TokensPerSec.MeanOr(0)
		// Normalised throughput and MFU only where every seed has them.
		if n := len(s.Results); n > 0 && s.NormTokensPerSec.N == n {
			c.NormalizedThroughput = s.NormTokensPerSec.Mean
		}
		if n := len(s.Results); n > 0 && s.MFU.N == n {
			c.MFU = s.MFU.Mean
		}
		c.PeakMemoryBytes = int64(math.Round(s.PeakMemoryBytes.MeanOr(0)))
	}
	sort.SliceStable(configs, func(i, j int) bool { return keyLess(configs[i].Key, configs[j].Key) })
	meta.CodeVersion = joinSet(versions, ", ")
	meta.Machine = joinSet(machines, " | ")
	var all []Config
	for _, c := range configs {
		all = append(all, *c)
	}
	meta.Throughput = basisOf(all)
	return configs, meta
}

func joinSet(set map[string]bool, sep string) string {
	var xs []string
	for x := range set {
		xs = append(xs, x)
	}
	sort.Strings(xs)
	return strings.Join(xs, sep)
}

// keyLess orders configurations by model, task, name and data size (0,
// meaning all, last).
func keyLess(a, b Key) bool {
	return cmp.Or(cmp.Compare(a.Model, b.Model), cmp.Compare(a.Task, b.Task), cmp.Compare(a.Name, b.Name),
		cmp.Compare(trial.SizeOrder(a.DataSize), trial.SizeOrder(b.DataSize))) < 0
}

// Write stores the baseline at path atomically, creating its directory.
func (b *Baseline) Write(path string) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("check: baseline %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("check: baseline %s: %w", path, err)
	}
	if err := atomicfile.Write(path, append(data, '\n')); err != nil {
		return fmt.Errorf("check: write baseline %s: %w", path, err)
	}
	return nil
}

// ReadBaseline reads and validates a baseline file; every error names it.
func ReadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("check: baseline %s does not exist (make one with `harness baseline DIR --out %s`)", path, path)
		}
		return nil, fmt.Errorf("check: baseline %s: %w", path, err)
	}
	var b Baseline
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("check: baseline %s: %s", path, describeJSONError(data, err))
	}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("check: baseline %s: %w", path, err)
	}
	return &b, nil
}

func (b *Baseline) validate() error {
	switch {
	case b.Format == "":
		return errors.New(`not a peftbench baseline: no "format" field`)
	case b.Format != Format:
		return fmt.Errorf("format %q, but this harness reads %q; regenerate it with `harness baseline`", b.Format, Format)
	case len(b.Configs) == 0:
		return errors.New("holds no configurations")
	}
	seen := map[string]int{}
	for i := range b.Configs {
		c := &b.Configs[i]
		c.Setup.MethodParams = normalParams(c.Setup.MethodParams)
		where := fmt.Sprintf("configs[%d] (%s/%s)", i, c.Key.Task, c.Key.Name)
		switch {
		case c.Key.Task == "" || c.Key.Name == "" || c.Setup.Method == "":
			return fmt.Errorf("configs[%d]: missing task, name or method", i)
		case c.Accuracy.N != len(c.Seeds):
			return fmt.Errorf("%s: accuracy.n is %d but %d seeds are listed", where, c.Accuracy.N, len(c.Seeds))
		case c.Accuracy.N == 0:
			return fmt.Errorf("%s: no successful seed", where)
		case c.Accuracy.Std < 0 || c.TokensPerSec < 0 || c.PeakMemoryBytes < 0 || c.NormalizedThroughput < 0:
			return fmt.Errorf("%s: negative statistic", where)
		}
		ks := c.Key.String()
		if j, dup := seen[ks]; dup {
			return fmt.Errorf("%s repeats the configuration of configs[%d]", where, j)
		}
		seen[ks] = i
	}
	return nil
}

// describeJSONError adds the line and column of a syntax or type error.
func describeJSONError(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err.Error()
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}
