package machine

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/peftbench/peftbench/gpu"
)

// Peak is the float32 peak a machine's cores can compute: what
// model-FLOPs utilisation is measured against, so that it cannot pass
// 100%.
type Peak struct {
	GFLOPS float64 `json:"gflops"`
	Cores  int     `json:"cores"`
	GHz    float64 `json:"ghz"`
	// FLOPsPerCycle per core: two fused multiply-add units of the widest
	// vectors the processor reports (2 FLOPs × 2 units × lanes). Cores with
	// one such unit, or that split 512-bit vectors in two, reach half of
	// it, so utilisation against it errs low, never high.
	FLOPsPerCycle int    `json:"flops_per_cycle"`
	Vector        string `json:"vector"`
}

// String says how the peak was reckoned.
func (p Peak) String() string {
	return fmt.Sprintf("%.0f GFLOP/s: %d cores × %.3f GHz × %d FLOP/cycle (%s: two FMA units)", p.GFLOPS, p.Cores, p.GHz, p.FLOPsPerCycle, p.Vector)
}

// PeakFP32 is the float32 peak of cores cores of this machine, from
// /proc/cpuinfo (vector flags and clock) and, where the kernel exposes it,
// the highest clock cpufreq allows. It is zero where either is unknown
// (not Linux on x86-64), and then no utilisation is reported.
func PeakFP32(cores int) Peak {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return Peak{}
	}
	p := peakFrom(string(info), cores)
	if raw, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); err == nil && p.GFLOPS > 0 {
		if khz, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64); err == nil && khz/1e6 > p.GHz {
			p.GHz = khz / 1e6
			p.GFLOPS = float64(p.Cores) * p.GHz * float64(p.FLOPsPerCycle)
		}
	}
	return p
}

// peakFrom reads the first processor's flags and clock from a
// /proc/cpuinfo text: lanes from avx512f (16), avx2 with fma (8) or sse
// (4); the clock from "cpu MHz", or the "@ 2.20GHz" of the model name
// when that is higher.
func peakFrom(cpuinfo string, cores int) Peak {
	var flags []string
	var mhz float64
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "flags" && flags == nil:
			flags = strings.Fields(v)
		case k == "cpu MHz" && mhz == 0:
			mhz, _ = strconv.ParseFloat(v, 64)
		case k == "model name":
			if i := strings.LastIndex(v, "@ "); i >= 0 && strings.HasSuffix(v, "GHz") {
				if ghz, err := strconv.ParseFloat(strings.TrimSuffix(v[i+2:], "GHz"), 64); err == nil && 1000*ghz > mhz {
					mhz = 1000 * ghz
				}
			}
		}
	}
	has := func(f string) bool {
		for _, x := range flags {
			if x == f {
				return true
			}
		}
		return false
	}
	p := Peak{Cores: cores, GHz: mhz / 1000}
	switch {
	case has("avx512f"):
		p.Vector, p.FLOPsPerCycle = "AVX-512", 2*2*16
	case has("avx2") && has("fma"):
		p.Vector, p.FLOPsPerCycle = "AVX2", 2*2*8
	case has("sse"):
		p.Vector, p.FLOPsPerCycle = "SSE", 2*2*4
	}
	if p.FLOPsPerCycle == 0 || p.GHz <= 0 || cores < 1 {
		return Peak{}
	}
	p.GFLOPS = float64(cores) * p.GHz * float64(p.FLOPsPerCycle)
	return p
}

// DevicePeakGFLOPS is the float32 peak of a GPU named name (as its driver
// reports it) from the GPU catalogue, for the precision its matrix
// products run at: TF32 tensor cores at half the dense BF16 rate, else the
// FP32 rate. It is zero for a device the catalogue does not know.
func DevicePeakGFLOPS(name, precision string) float64 {
	g, ok := gpu.Lookup(name)
	if !ok {
		return 0
	}
	if precision == "tf32" && g.BF16TFLOPS > 0 {
		return g.BF16TFLOPS / 2 * 1000
	}
	return g.FP32TFLOPS * 1000
}
