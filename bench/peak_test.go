package bench

import (
	"runtime"
	"testing"
	"time"

	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/nn"
)

// The peak that utilisation is measured against is above what the BLAS
// in use reaches on a matrix product with every worker: utilisation stays
// under 100%.
func TestPeakAboveCalibration(t *testing.T) {
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		t.Skip("the peak is read from x86-64 Linux's /proc/cpuinfo")
	}
	p := machine.PeakFP32(nn.Workers())
	if p.GFLOPS <= 0 {
		t.Fatalf("no peak for this machine: %+v", p)
	}
	got := nn.CalibrateGFLOPS(300 * time.Millisecond)
	t.Logf("calibration %.1f GFLOP/s (%s), peak %v", got, nn.BLAS(), p)
	if got > p.GFLOPS {
		t.Errorf("a matrix product reaches %.1f GFLOP/s, above the peak of %v", got, p)
	}
}
