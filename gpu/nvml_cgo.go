//go:build linux && cgo

package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/dl"
	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlLibrary is the library go-nvml opens with dlopen at nvml.Init: the
// driver's, present only where an NVIDIA driver is installed. Nothing
// links against it, so the package builds and runs without it.
const nvmlLibrary = "libnvidia-ml.so.1"

// realNVML is NVML through go-nvml.
type realNVML struct{}

func newNVMLBackend() backend { return realNVML{} }

func (realNVML) init() error {
	ret := nvml.Init()
	if ret == nvml.SUCCESS {
		return nil
	}
	if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
		return fmt.Errorf("%w: NVML not available (%s)", ErrNoGPU, whyNoLibrary())
	}
	// The library loaded but the driver did not answer (no device, driver
	// not loaded, version mismatch).
	return fmt.Errorf("%w: NVML not available (nvmlInit: %v)", ErrNoGPU, ret)
}

// whyNoLibrary asks the dynamic loader why the library does not open, for
// a message a person can act on; go-nvml reports only "library not found".
func whyNoLibrary() string {
	lib := dl.New(nvmlLibrary, dl.RTLD_LAZY|dl.RTLD_LOCAL)
	if err := lib.Open(); err != nil {
		return err.Error()
	}
	_ = lib.Close()
	return nvmlLibrary + " opens but NVML reports it missing"
}

func (realNVML) shutdown() { _ = nvml.Shutdown() }

func (realNVML) count() (int, error) {
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return 0, fmt.Errorf("gpu: nvmlDeviceGetCount: %v", ret)
	}
	return n, nil
}

func (realNVML) device(i int) (Device, error) {
	h, ret := nvml.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("nvmlDeviceGetHandleByIndex: %v", ret)
	}
	d := Device{Index: i}
	if d.Name, ret = h.GetName(); ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("nvmlDeviceGetName: %v", ret)
	}
	d.UUID, _ = h.GetUUID()
	if mem, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		d.MemoryTotalBytes = mem.Total
	}
	d.DriverVersion, _ = nvml.SystemGetDriverVersion()
	if v, ret := nvml.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		d.CUDAVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	return d, nil
}

func (realNVML) read(i int) (reading, error) {
	h, ret := nvml.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return reading{}, fmt.Errorf("nvmlDeviceGetHandleByIndex: %v", ret)
	}
	var r reading
	if mem, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		r.memUsed, r.memOK = mem.Used, true
	}
	if u, ret := h.GetUtilizationRates(); ret == nvml.SUCCESS {
		r.util, r.utilOK = u.Gpu, true
	}
	if mw, ret := h.GetPowerUsage(); ret == nvml.SUCCESS {
		r.powerMilliwatts, r.pw = mw, true
	}
	return r, nil
}
