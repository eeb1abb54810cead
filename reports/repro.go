package reports

import (
	"fmt"
	"sort"

	"github.com/peftbench/peftbench/trial"
)

// Count is a value and how many trials had it.
type Count struct {
	Value string
	N     int
}

// Failure is a failed trial.
type Failure struct {
	ID, Label, Error string
}

// Repro is what the reproducibility block reports: the trials, their
// failures, and the code and machines that produced them.
type Repro struct {
	Trials, Succeeded, Failed int
	Failures                  []Failure // by id
	// Environments, most frequent first, over every trial.
	Commits, Machines, BLAS, GoVersions []Count
	// GPUs are the GPU statuses (env.gpu), "—" where a result predates
	// them.
	GPUs []Count
}

// Reproducibility counts the trials and their environments and lists the
// failures with their errors.
func Reproducibility(results []*trial.Result) Repro {
	var r Repro
	commits, machines, blas, gov, gpus := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
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
			r.Failures = append(r.Failures, Failure{ID: res.ID, Label: res.Spec.Label(), Error: msg})
		}
		e := res.Env
		c := orUnknown(e.GitCommit)
		if e.GitDirty {
			c += " (uncommitted changes)"
		}
		commits[c]++
		m := orUnknown(e.CPU)
		if e.Cores > 0 {
			m += fmt.Sprintf(", %d cores", e.Cores)
		}
		if e.OS != "" {
			m += ", " + e.OS
		}
		machines[m]++
		blas[orUnknown(e.BLAS)]++
		gov[orUnknown(e.GoVersion)]++
		gpus[orDash(e.GPU)]++
	}
	sort.Slice(r.Failures, func(i, j int) bool { return r.Failures[i].ID < r.Failures[j].ID })
	r.Commits, r.Machines, r.BLAS, r.GoVersions, r.GPUs = counts(commits), counts(machines), counts(blas), counts(gov), counts(gpus)
	return r
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for v, n := range m {
		out = append(out, Count{v, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Value < out[j].Value
	})
	return out
}
