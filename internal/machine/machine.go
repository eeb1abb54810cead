// Package machine describes where a result was produced: code version,
// toolchain, processor and BLAS, so every number can be traced to a
// machine.
package machine

import (
	"bufio"
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
	dirty := ""
	if in.GitDirty {
		dirty = "+dirty"
	}
	c := in.GitCommit
	if len(c) > 12 {
		c = c[:12]
	}
	return strings.Join([]string{in.CPU, strconv.Itoa(in.Cores) + " cores", "BLAS " + in.BLAS, in.GoVersion, "commit " + c + dirty, "GPU: " + in.GPU}, ", ")
}
