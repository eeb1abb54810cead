package run

import (
	"math"
	"testing"

	"github.com/peftbench/peftbench/nn/device/devicetest"
	"github.com/peftbench/peftbench/trial"
)

// A trial on the device (OpenCL on pocl in CI) selects the same epoch as
// on the CPU, with epoch losses within 1e-3 and test outcomes that differ
// in at most a handful of examples; its result says where it ran and how
// much device memory it took.
func TestTrialOnDeviceMatchesCPU(t *testing.T) {
	devicetest.Open(t) // skips where there is no test device
	base := tinyBase(t)
	for _, method := range []string{"lora", "pac"} {
		t.Run(method, func(t *testing.T) {
			spec := teaSpec(base, method, nil)
			cpu := Trial(spec, quiet)
			spec.Device = devicetest.Name()
			dev := Trial(spec, quiet)
			for _, r := range []*trial.Result{cpu, dev} {
				if r.Status != trial.Success {
					t.Fatalf("%s: %s", r.Status, r.Error)
				}
			}
			if cpu.ID == dev.ID {
				t.Errorf("the device is not part of the trial's id")
			}
			if cpu.Device != nil || dev.Device == nil || dev.Device.Kind != devicetest.Name() || dev.Device.PeakBytes <= 0 {
				t.Fatalf("device records: CPU %+v, device %+v", cpu.Device, dev.Device)
			}
			if dev.BestEpoch != cpu.BestEpoch {
				t.Errorf("selected epoch %d on the device, %d on the CPU", dev.BestEpoch, cpu.BestEpoch)
			}
			for i, l := range cpu.Metrics.EpochLoss {
				if math.Abs(dev.Metrics.EpochLoss[i]-l) > 1e-3*math.Max(1, l) {
					t.Errorf("epoch %d loss %v on the device, %v on the CPU", i+1, dev.Metrics.EpochLoss[i], l)
				}
			}
			differ := 0
			for i, c := range []byte(cpu.Outcomes[0].Correct) {
				if dev.Outcomes[0].Correct[i] != c {
					differ++
				}
			}
			if differ > 2 {
				t.Errorf("%d of %d test outcomes differ", differ, len(cpu.Outcomes[0].Correct))
			}
			t.Logf("%s: device peak %d bytes, test accuracy %.3f (CPU %.3f), %d outcomes differ", method, dev.Device.PeakBytes, dev.Metrics.TestAccuracy, cpu.Metrics.TestAccuracy, differ)
		})
	}
}
