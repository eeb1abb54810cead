// Package machine describes where a result was produced: code version,
// toolchain, processor and BLAS, so every number can be traced to a
// machine.
package machine

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/peftbench/peftbench/gpu"
)

// Info is the environment of a run.
type Info struct {
	GitCommit string `json:"git_commit"`
	GitDirty  bool   `json:"git_dirty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	BLAS      string `json:"blas"`
	GPU       string `json:"gpu"` // the NVIDIA GPUs NVML sees, or why none
}

// Describe reads the environment of the current process; blas names the
// BLAS the engine was built with (nn.BLAS()).
func Describe(blas string) Info {
	in := Info{GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPU: cpuModel(), Cores: runtime.NumCPU(), BLAS: blas, GPU: gpu.Status()}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		in.GitCommit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			in.GitDirty = len(strings.TrimSpace(string(st))) > 0
		}
	}
	return in
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// String is a one-line summary.
func (in Info) String() string {
	return strings.Join([]string{in.CPU, strconv.Itoa(in.Cores) + " cores", "BLAS " + in.BLAS, in.GoVersion, "commit " + in.CodeVersion(), "GPU: " + in.GPU}, ", ")
}

// CodeVersion is the commit's first 12 hex digits, with "+dirty" for an
// uncommitted tree; "unknown" when no commit was recorded.
func (in Info) CodeVersion() string {
	v := in.GitCommit
	if v == "" {
		return "unknown"
	}
	if len(v) > 12 {
		v = v[:12]
	}
	if in.GitDirty {
		v += "+dirty"
	}
	return v
}

// Commit is the whole commit, with " (uncommitted changes)" for an
// uncommitted tree; "unknown" when no commit was recorded.
func (in Info) Commit() string {
	c := orUnknown(in.GitCommit)
	if in.GitDirty {
		c += " (uncommitted changes)"
	}
	return c
}

// Machine is the processor, cores, BLAS, Go version and OS in one line:
// "AMD EPYC, 2 cores, BLAS openblas, go1.26.8 linux/amd64"; "unknown"
// when none was recorded.
func (in Info) Machine() string {
	if in.CPU == "" && in.Cores == 0 && in.BLAS == "" {
		return "unknown"
	}
	return fmt.Sprintf("%s, %d cores, BLAS %s, %s %s", in.CPU, in.Cores, in.BLAS, in.GoVersion, in.OS)
}

// Host is the processor, its cores and the OS, for lists that give the
// BLAS and the Go version apart: "AMD EPYC, 2 cores, linux/amd64".
func (in Info) Host() string {
	m := orUnknown(in.CPU)
	if in.Cores > 0 {
		m += fmt.Sprintf(", %d cores", in.Cores)
	}
	if in.OS != "" {
		m += ", " + in.OS
	}
	return m
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
