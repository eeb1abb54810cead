package gpu

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNoGPU is what Discover and the Sampler report, wrapped with the
// reason, when there is no NVIDIA GPU to use: no NVML library (the driver
// is not installed, as on CI and CPU machines), a build without cgo, or
// NVML finding no device.
var ErrNoGPU = errors.New("no NVIDIA GPU")

// Device is one GPU as NVML describes it.
type Device struct {
	Index            int    `json:"index"`
	Name             string `json:"name"`
	UUID             string `json:"uuid"`
	MemoryTotalBytes uint64 `json:"memory_total_bytes"`
	DriverVersion    string `json:"driver_version"`
	CUDAVersion      string `json:"cuda_version"` // the newest CUDA the driver supports, "12.4"
}

// reading is one sample of a device; a field NVML cannot read on this
// device (power on some boards) is marked absent.
type reading struct {
	memUsed           uint64
	util              uint32 // percent of the sample period a kernel ran
	powerMilliwatts   uint32
	memOK, utilOK, pw bool
}

// backend is NVML, or its absence. init loads and initialises the library
// (nvml.Init), shutdown releases it; calls between them are safe from any
// goroutine.
type backend interface {
	init() error
	shutdown()
	count() (int, error)
	device(i int) (Device, error)
	read(i int) (reading, error)
}

// nvmlBackend is the process's backend: NVML loaded at run time where the
// build has cgo on Linux, and a stub that reports its absence elsewhere.
var nvmlBackend backend = newNVMLBackend()

// Discover lists the NVIDIA GPUs NVML sees. Without the NVML library, or
// without a device, the error wraps ErrNoGPU and says why:
// "no NVIDIA GPU: NVML not available (libnvidia-ml.so.1: cannot open
// shared object file: No such file or directory)".
func Discover() ([]Device, error) { return discover(nvmlBackend) }

func discover(b backend) ([]Device, error) {
	if err := b.init(); err != nil {
		return nil, err
	}
	defer b.shutdown()
	n, err := b.count()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: NVML found no device", ErrNoGPU)
	}
	out := make([]Device, 0, n)
	for i := range n {
		d, err := b.device(i)
		if err != nil {
			return nil, fmt.Errorf("gpu: device %d: %w", i, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Status is a one-line description of the GPUs for logs: "2 × NVIDIA H100
// 80GB HBM3 (driver 550.54.15, CUDA 12.4)", or why there are none.
func Status() string {
	devs, err := Discover()
	if err != nil {
		return err.Error()
	}
	d := devs[0]
	return fmt.Sprintf("%d × %s (driver %s, CUDA %s)", len(devs), d.Name, d.DriverVersion, d.CUDAVersion)
}

// Telemetry is what a Sampler measured on one GPU during a trial. Memory
// is the device's used memory as NVML reports it, every process included;
// GPUMemoryUsedStartBytes, read when sampling began, is what was in use
// before the trial. Utilisation is the percentage of each sample period in
// which a kernel ran (NVML's GPU utilisation), power the board's draw.
// With no GPU every number is zero and GPUStatus says why.
type Telemetry struct {
	GPUName                 string  `json:"gpu_name"`
	GPUIndex                int     `json:"gpu_index"`
	GPUMemoryTotalBytes     uint64  `json:"gpu_memory_total_bytes"`
	GPUMemoryUsedStartBytes uint64  `json:"gpu_memory_used_start_bytes"`
	GPUMemoryUsedPeakBytes  uint64  `json:"gpu_memory_used_peak_bytes"`
	GPUUtilMean             float64 `json:"gpu_util_mean"` // percent
	GPUUtilPeak             float64 `json:"gpu_util_peak"`
	GPUPowerMeanWatts       float64 `json:"gpu_power_mean_watts"`
	GPUPowerPeakWatts       float64 `json:"gpu_power_peak_watts"`
	GPUSamples              int     `json:"gpu_samples"`
	GPUStatus               string  `json:"gpu_status"` // "ok", or why nothing was measured
}

// Sampler samples one GPU's memory, utilisation and power at a fixed
// interval from its start until Stop.
type Sampler struct {
	b     backend
	index int
	res   Telemetry
	stop  chan struct{}
	done  sync.WaitGroup

	mu                    sync.Mutex
	utilSum, powerSum     float64
	utilCount, powerCount int
	readErr               error
}

// DefaultInterval is the sampling interval StartSampler uses for a
// non-positive one.
const DefaultInterval = 100 * time.Millisecond

// StartSampler starts sampling GPU index every interval. Without a GPU it
// returns a Sampler whose Stop gives a zero Telemetry whose GPUStatus says
// why ("no NVIDIA GPU: NVML not available (...)"); it never fails.
func StartSampler(index int, interval time.Duration) *Sampler {
	return startSampler(nvmlBackend, index, interval)
}

func startSampler(b backend, index int, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = DefaultInterval
	}
	s := &Sampler{b: b, index: index, res: Telemetry{GPUIndex: index}}
	if err := b.init(); err != nil {
		s.res.GPUStatus = err.Error()
		return s
	}
	n, err := b.count()
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: NVML found no device", ErrNoGPU)
	}
	if err == nil && (index < 0 || index >= n) {
		err = fmt.Errorf("%w: no device %d (NVML sees %d)", ErrNoGPU, index, n)
	}
	var dev Device
	if err == nil {
		dev, err = b.device(index)
	}
	if err != nil {
		b.shutdown()
		s.res.GPUStatus = err.Error()
		return s
	}
	s.res.GPUName, s.res.GPUMemoryTotalBytes = dev.Name, dev.MemoryTotalBytes
	if r, err := b.read(index); err == nil && r.memOK {
		s.res.GPUMemoryUsedStartBytes = r.memUsed
	}
	s.sample()
	s.stop = make(chan struct{})
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

// sample takes one reading into the running peaks and sums.
func (s *Sampler) sample() {
	r, err := s.b.read(s.index)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.readErr = err
		return
	}
	s.res.GPUSamples++
	if r.memOK {
		s.res.GPUMemoryUsedPeakBytes = max(s.res.GPUMemoryUsedPeakBytes, r.memUsed)
	}
	if r.utilOK {
		u := float64(r.util)
		s.utilSum += u
		s.utilCount++
		s.res.GPUUtilPeak = max(s.res.GPUUtilPeak, u)
	}
	if r.pw {
		w := float64(r.powerMilliwatts) / 1000
		s.powerSum += w
		s.powerCount++
		s.res.GPUPowerPeakWatts = max(s.res.GPUPowerPeakWatts, w)
	}
}

// Stop ends sampling, takes a last reading and returns the result. It may
// be called once.
func (s *Sampler) Stop() Telemetry {
	if s.stop == nil { // never started: no GPU
		return s.res
	}
	close(s.stop)
	s.done.Wait()
	s.b.shutdown()
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.res
	if s.utilCount > 0 {
		res.GPUUtilMean = s.utilSum / float64(s.utilCount)
	}
	if s.powerCount > 0 {
		res.GPUPowerMeanWatts = s.powerSum / float64(s.powerCount)
	}
	res.GPUStatus = "ok"
	if res.GPUSamples == 0 && s.readErr != nil {
		res.GPUStatus = "no samples: " + s.readErr.Error()
	}
	return res
}
