package reports

import (
	"fmt"
	"sort"

	"github.com/peftbench/peftbench/trial"
)

// count is a value and how many trials had it.
type count struct {
	Value string
	N     int
}

// failure is a failed trial.
type failure struct {
	ID, Label, Error string
}

// repro is what the reproducibility block reports: the trials, their
// failures, and the code and machines that produced them.
type repro struct {
	Trials, Succeeded, Failed int
	Failures                  []failure // by id
	// Environments, most frequent first, over every trial.
	Commits, Machines, BLAS, GoVersions []count
	// GPUs are the GPU statuses (env.gpu), "—" where a result predates
	// them.
	GPUs []count
	// Devices are the devices the trials trained and evaluated on.
	Devices []count
}

// reproducibility counts the trials and their environments and lists the
// failures with their errors.
func reproducibility(results []*trial.Result) repro {
	var r repro
	commits, machines, blas, gov, gpus, devices := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	for _, res := range results {
		r.Trials++
		if res.Status == trial.Success {
			r.Succeeded++
		} else {
			r.Failed++
			msg := res.Error
			if msg == "" && len(res.Log) > 0 {
				msg = res.Log[len(res.Log)-1]
			}
			r.Failures = append(r.Failures, failure{ID: res.ID, Label: res.Spec.Label(), Error: msg})
		}
		e := res.Env
		commits[e.Commit()]++
		machines[e.Host()]++
		blas[orUnknown(e.BLAS)]++
		gov[orUnknown(e.GoVersion)]++
		gpus[orDash(e.GPU)]++
		dev := "the CPU"
		if d := res.Device; d != nil {
			dev = fmt.Sprintf("%s (%s, %s matrix products)", d.Name, d.Kind, orUnknown(d.Info["matmul_precision"]))
		}
		devices[dev]++
	}
	sort.Slice(r.Failures, func(i, j int) bool { return r.Failures[i].ID < r.Failures[j].ID })
	r.Commits, r.Machines, r.BLAS, r.GoVersions, r.GPUs, r.Devices = counts(commits), counts(machines), counts(blas), counts(gov), counts(gpus), counts(devices)
	return r
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func counts(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for v, n := range m {
		out = append(out, count{v, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Value < out[j].Value
	})
	return out
}
