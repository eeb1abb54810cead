package reports

import (
	"math"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/gpu"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
)

// memoryRow is one method's memory on a task at its summary
// configuration: the measured peaks next to the analytic account.
type memoryRow struct {
	taskKey
	Method string
	Best   *group
	// PeakRSS and PeakHeap are means over seeds in bytes; 0 where no trial
	// measured them.
	PeakRSS, PeakHeap float64
	// Accounted is nil where no trial carries an account.
	Accounted *aggregate.Memory
	// HeapToAccounted is the mean over seeds of the peak heap over the
	// accounted total; NaN where no seed has both.
	HeapToAccounted float64
}

// memoryRows lists every summary row's measured and accounted memory.
func memoryRows(sums []taskSummary) []memoryRow {
	var out []memoryRow
	for _, s := range sums {
		for _, r := range s.Trained() {
			g := r.Best
			out = append(out, memoryRow{taskKey: s.taskKey, Method: r.Method, Best: g, PeakRSS: g.PeakMemoryBytes,
				PeakHeap: g.PeakHeapBytes, Accounted: g.Accounted, HeapToAccounted: g.HeapToAccounted})
		}
	}
	return out
}

// projectedConfig is one configuration projected onto large models. A
// projection depends on the method, its hyper-parameters and the batch
// only, so summary rows of different tasks (or learning rates) that agree
// on those share one.
type projectedConfig struct {
	Method       string
	MethodParams map[string]any
	Params       string // canonical, as in config
	Batch        int
	// Tasks are the tasks whose summary chose this configuration, sorted.
	Tasks []taskKey
	// Projections are the result's projections, one per architecture in
	// the result's order; nil when no trial of the configuration carries
	// one.
	Projections []trial.Projection
}

// projections lists the summary configurations, deduplicated by method,
// hyper-parameters and batch, with their projections; in methodRank order, then
// by hyper-parameters and batch.
func projections(sums []taskSummary) []projectedConfig {
	type key struct {
		method, params string
		batch          int
	}
	index := map[key]int{}
	var out []projectedConfig
	for _, s := range sums {
		for _, r := range s.Rows {
			if r.Control() { // scratch would repeat full fine-tuning's projection
				continue
			}
			g := r.Best
			k := key{g.Method, g.Params, g.Train.Batch}
			i, ok := index[k]
			if !ok {
				i = len(out)
				index[k] = i
				out = append(out, projectedConfig{Method: g.Method, MethodParams: g.MethodParams, Params: g.Params, Batch: g.Train.Batch})
			}
			c := &out[i]
			c.Tasks = append(c.Tasks, s.taskKey)
			if c.Projections == nil && len(g.Projected) > 0 {
				c.Projections = g.Projected
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Method != b.Method:
			return methodLess(a.Method, b.Method)
		case a.Params != b.Params:
			return a.Params < b.Params
		}
		return a.Batch < b.Batch
	})
	return out
}

// h100Bytes is the memory of an H100 80 GB, the GPU every projection is
// stated against.
const h100Bytes = 80 * gpu.GiB

// fitsH100 reports whether a projection's list of GPUs names an H100 with
// 80 GB.
func fitsH100(p trial.Projection) bool {
	for _, name := range p.FitsOn {
		if g, ok := gpu.Lookup(name); ok {
			if strings.HasPrefix(g.Name, "H100") && g.MemoryBytes == h100Bytes {
				return true
			}
			continue
		}
		if n := strings.ToUpper(name); strings.Contains(n, "H100") && strings.Contains(n, "80") {
			return true
		}
	}
	return false
}

// gpuFit splits the GPUs of package gpu's catalogue, and any others a
// projection names, into those the projection fits on, smallest memory
// first, and those it does not, largest first: the first of each list
// are the two sides of the boundary.
func gpuFit(p trial.Projection) (fits, not []string) {
	cat := gpu.Catalogue()
	mem := map[string]int64{}
	for _, g := range cat {
		mem[g.Name] = g.MemoryBytes
	}
	memOf := func(name string) int64 {
		if m, ok := mem[name]; ok {
			return m
		}
		if g, ok := gpu.Lookup(name); ok {
			return g.MemoryBytes
		}
		return math.MaxInt64
	}
	in := map[string]bool{}
	for _, name := range p.FitsOn {
		if !in[name] {
			in[name] = true
			fits = append(fits, name)
		}
	}
	for _, g := range cat {
		if !in[g.Name] {
			not = append(not, g.Name)
		}
	}
	sort.SliceStable(fits, func(i, j int) bool { return memOf(fits[i]) < memOf(fits[j]) })
	sort.SliceStable(not, func(i, j int) bool { return memOf(not[i]) > memOf(not[j]) })
	return fits, not
}

// archNames are the display names of the projection's architectures.
var archNames = map[string]string{
	"gpt2-xl":      "GPT-2 XL",
	"llama-2-7b":   "Llama-2-7B",
	"llama-3-8b":   "Llama-3-8B",
	"llama-3.2-3b": "Llama-3.2-3B",
}

func archName(a string) string {
	if n, ok := archNames[a]; ok {
		return n
	}
	return orDash(a)
}
