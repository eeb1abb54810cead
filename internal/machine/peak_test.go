package machine

import (
	"math"
	"testing"
)

func TestPeakFrom(t *testing.T) {
	for _, c := range []struct {
		name, info string
		cores      int
		want       float64
		vector     string
	}{
		{"AVX-512", "processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2445.432\nflags\t\t: fpu sse avx2 fma avx512f\n", 2, 2 * 2.445432 * 64, "AVX-512"},
		{"AVX2, clock in the name", "model name\t: Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz\ncpu MHz\t\t: 1200.000\nflags\t\t: sse avx2 fma\n", 4, 4 * 2.6 * 32, "AVX2"},
		{"AVX2 without FMA counts as SSE", "cpu MHz\t: 3000\nflags\t: sse avx2\n", 1, 3 * 16, "SSE"},
		{"no clock", "flags\t: sse avx2 fma avx512f\n", 2, 0, ""},
		{"arm64", "processor\t: 0\nFeatures\t: fp asimd\n", 2, 0, ""},
	} {
		p := peakFrom(c.info, c.cores)
		if math.Abs(p.GFLOPS-c.want) > 1e-9 || p.Vector != c.vector {
			t.Errorf("%s: %v (%s), want %.3f GFLOP/s (%s)", c.name, p.GFLOPS, p.Vector, c.want, c.vector)
		}
	}
}

// A GPU's peak comes from the catalogue at the precision of its products:
// TF32 at half the dense BF16 rate, FP32 at the FP32 rate; an unknown
// device has none.
func TestDevicePeakGFLOPS(t *testing.T) {
	for _, c := range []struct {
		name, precision string
		want            float64
	}{
		{"NVIDIA H100 80GB HBM3", "tf32", 494750},
		{"NVIDIA H100 80GB HBM3", "fp32", 67000},
		{"NVIDIA A100-SXM4-80GB", "tf32", 156000},
		{"pthread-AMD EPYC 7B13", "", 0},
	} {
		if got := DevicePeakGFLOPS(c.name, c.precision); got != c.want {
			t.Errorf("%s at %s: %v GFLOP/s, want %v", c.name, c.precision, got, c.want)
		}
	}
}
