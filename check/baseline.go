// Package check guards a sweep against regressions. A baseline records,
// for every configuration of a reference sweep (everything in a trial's
// spec but its seed), the test accuracy over seeds, the training
// throughput and the peak memory; Compare sets a new sweep's results
// against it with tolerances derived from the seed spread, and the report
// says what moved and what regressed. The check reads result files only.
package check

import (
	"bytes"
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
)

// Format names the baseline file layout; ReadBaseline refuses others.
const Format = "peftbench-baseline/1"

// Throughput bases: what a configuration's throughput is measured in.
const (
	// Normalized is training tokens/s divided by the calibration GFLOP/s
	// measured in the same process, comparable across machines.
	Normalized = "normalized"
	// Raw is training tokens/s, comparable on one machine only.
	Raw = "raw"
)

// Key identifies a configuration: everything in a trial's spec but its
// seed. Trials of one configuration differ only in seed.
type Key struct {
	Model  string `json:"model"`
	Task   string `json:"task"`
	Method string `json:"method"`
	// MethodParams are the resolved hyper-parameters, normalised to what
	// JSON decodes (numbers are float64) so equal values compare equal.
	MethodParams map[string]any `json:"method_params"`
	DataSize     int            `json:"data_size"`
	// Train holds lr, epochs, batch and max_eval, and the other training
	// settings, which are part of the configuration too.
	Train trial.Settings `json:"train"`
}

// KeyOf is the configuration of a trial's spec.
func KeyOf(s trial.Spec) Key {
	return Key{Model: s.Model, Task: s.Task, Method: s.Method, MethodParams: normalParams(s.MethodParams),
		DataSize: s.DataSize, Train: s.Train}
}

// String is the key's canonical JSON (map keys sorted): equal
// configurations give equal strings.
func (k Key) String() string {
	k.MethodParams = normalParams(k.MethodParams)
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Sprintf("%s/%s/%s %v n=%d %+v", k.Model, k.Task, k.Method, k.MethodParams, k.DataSize, k.Train)
	}
	return string(b)
}

// ParamsJSON is the canonical JSON of the method's hyper-parameters.
func (k Key) ParamsJSON() string {
	b, err := json.Marshal(normalParams(k.MethodParams))
	if err != nil {
		return fmt.Sprint(k.MethodParams)
	}
	return string(b)
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

// Stat summarises a metric over seeds. Std is the sample standard
// deviation (n − 1 in the denominator), 0 when N < 2.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	N    int     `json:"n"`
}

func summarize(xs []float64) Stat {
	s := Stat{N: len(xs)}
	if s.N == 0 {
		return s
	}
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(s.N)
	if s.N < 2 {
		return s
	}
	var ss float64
	for _, x := range xs {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	s.Std = math.Sqrt(ss / float64(s.N-1))
	return s
}

// SeedResult is one successful trial of a configuration.
type SeedResult struct {
	Seed              int     `json:"seed"`
	ID                string  `json:"id"`
	TestAccuracy      float64 `json:"test_accuracy"`
	TokensPerSec      float64 `json:"tokens_per_sec"`
	CalibrationGFLOPS float64 `json:"calibration_gflops,omitempty"`
	PeakMemoryBytes   int64   `json:"peak_memory_bytes"`
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
	Seeds []SeedResult `json:"seeds"` // successful trials, by seed
	// Failed lists the configuration's failed trials; they are left out
	// of every statistic.
	Failed []Failure `json:"failed,omitempty"`
	// Accuracy is the test accuracy over the successful seeds.
	Accuracy Stat `json:"accuracy"`
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
	configs, meta := aggregate(results)
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
		if cs[i].Accuracy.N > 0 {
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

// aggregate groups results by configuration, sorted, and describes them.
func aggregate(results []Trial) ([]*Config, Meta) {
	byKey := map[string]*Config{}
	var configs []*Config
	calibrated := map[*Config]int{}
	var mfu = map[*Config][]float64{}
	versions, machines := map[string]bool{}, map[string]bool{}
	meta := Meta{Created: time.Now().UTC().Truncate(time.Second), Trials: len(results)}
	for _, t := range results {
		k := KeyOf(t.Spec)
		ks := k.String()
		c, ok := byKey[ks]
		if !ok {
			c = &Config{Key: k}
			byKey[ks] = c
			configs = append(configs, c)
		}
		versions[codeVersion(t)] = true
		machines[machineOf(t)] = true
		if t.Status != trial.Success {
			meta.FailedTrials++
			c.Failed = append(c.Failed, Failure{Seed: t.Spec.Seed, ID: t.ID, Error: t.Error})
			continue
		}
		c.Seeds = append(c.Seeds, SeedResult{Seed: t.Spec.Seed, ID: t.ID, TestAccuracy: t.Metrics.TestAccuracy,
			TokensPerSec: t.TokensPerSec, CalibrationGFLOPS: t.CalibrationGFLOPS, PeakMemoryBytes: t.PeakMemoryBytes})
		if _, ok := t.NormalizedThroughput(); ok {
			calibrated[c]++
		}
		if t.MFU > 0 {
			mfu[c] = append(mfu[c], t.MFU)
		}
	}
	for _, c := range configs {
		sort.SliceStable(c.Seeds, func(i, j int) bool {
			if c.Seeds[i].Seed != c.Seeds[j].Seed {
				return c.Seeds[i].Seed < c.Seeds[j].Seed
			}
			return c.Seeds[i].ID < c.Seeds[j].ID
		})
		sort.SliceStable(c.Failed, func(i, j int) bool { return c.Failed[i].Seed < c.Failed[j].Seed })
		var acc, tps, norm, mem []float64
		for _, s := range c.Seeds {
			acc = append(acc, s.TestAccuracy)
			tps = append(tps, s.TokensPerSec)
			mem = append(mem, float64(s.PeakMemoryBytes))
			if s.CalibrationGFLOPS > 0 {
				norm = append(norm, s.TokensPerSec/s.CalibrationGFLOPS)
			}
		}
		c.Accuracy = summarize(acc)
		c.TokensPerSec = summarize(tps).Mean
		if len(c.Seeds) > 0 && calibrated[c] == len(c.Seeds) {
			c.NormalizedThroughput = summarize(norm).Mean
		}
		if len(mfu[c]) == len(c.Seeds) {
			c.MFU = summarize(mfu[c]).Mean
		}
		c.PeakMemoryBytes = int64(math.Round(summarize(mem).Mean))
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

func codeVersion(t Trial) string {
	v := t.Env.GitCommit
	if v == "" {
		return "unknown"
	}
	if len(v) > 12 {
		v = v[:12]
	}
	if t.Env.GitDirty {
		v += "+dirty"
	}
	return v
}

func machineOf(t Trial) string {
	e := t.Env
	if e.CPU == "" && e.Cores == 0 && e.BLAS == "" {
		return "unknown"
	}
	return fmt.Sprintf("%s, %d cores, BLAS %s, %s %s", e.CPU, e.Cores, e.BLAS, e.GoVersion, e.OS)
}

func joinSet(set map[string]bool, sep string) string {
	var xs []string
	for x := range set {
		xs = append(xs, x)
	}
	sort.Strings(xs)
	return strings.Join(xs, sep)
}

// keyLess orders configurations by model, task, method, data size (0,
// meaning all, last), hyper-parameters, learning rate, then the rest.
func keyLess(a, b Key) bool {
	switch {
	case a.Model != b.Model:
		return a.Model < b.Model
	case a.Task != b.Task:
		return a.Task < b.Task
	case a.Method != b.Method:
		return a.Method < b.Method
	case a.DataSize != b.DataSize:
		return trial.SizeOrder(a.DataSize) < trial.SizeOrder(b.DataSize)
	}
	if pa, pb := a.ParamsJSON(), b.ParamsJSON(); pa != pb {
		return pa < pb
	}
	if a.Train.LR != b.Train.LR {
		return a.Train.LR < b.Train.LR
	}
	return a.String() < b.String()
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
		c.Key.MethodParams = normalParams(c.Key.MethodParams)
		where := fmt.Sprintf("configs[%d] (%s/%s)", i, c.Key.Task, c.Key.Method)
		switch {
		case c.Key.Task == "" || c.Key.Method == "":
			return fmt.Errorf("configs[%d]: missing task or method", i)
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
