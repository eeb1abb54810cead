package gpu

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// On a machine without an NVIDIA driver (this one, CI) Discover and the
// Sampler say so and return nothing; on one with a GPU they see it.
func TestNVMLOnThisMachine(t *testing.T) {
	devs, err := Discover()
	if err == nil {
		if len(devs) == 0 || devs[0].Name == "" || devs[0].MemoryTotalBytes == 0 {
			t.Fatalf("Discover: %+v", devs)
		}
		t.Logf("GPUs: %s", Status())
		s := StartSampler(0, 10*time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		res := s.Stop()
		if res.GPUStatus != "ok" || res.GPUSamples < 2 || res.GPUMemoryUsedPeakBytes == 0 || res.GPUName != devs[0].Name {
			t.Errorf("sampler on %s: %+v", devs[0].Name, res)
		}
		t.Logf("telemetry: %+v", res)
		return
	}
	t.Logf("Discover: %v", err)
	if !errors.Is(err, ErrNoGPU) || !strings.HasPrefix(err.Error(), "no NVIDIA GPU: NVML not available (") {
		t.Errorf("Discover without a GPU: %v, want \"no NVIDIA GPU: NVML not available (...)\"", err)
	}
	if devs != nil {
		t.Errorf("Discover without a GPU returned %v", devs)
	}
	if Status() != err.Error() {
		t.Errorf("Status() = %q, want %q", Status(), err.Error())
	}
	res := StartSampler(0, time.Millisecond).Stop()
	if res.GPUStatus != err.Error() {
		t.Errorf("sampler status %q, want %q", res.GPUStatus, err.Error())
	}
	zero := Telemetry{GPUStatus: res.GPUStatus}
	if res != zero {
		t.Errorf("sampler without a GPU: %+v, want zeros", res)
	}
	b, _ := json.Marshal(res)
	for _, k := range []string{`"gpu_name":""`, `"gpu_memory_used_peak_bytes":0`, `"gpu_util_mean":0`, `"gpu_power_mean_watts":0`, `"gpu_status":"no NVIDIA GPU`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("telemetry JSON %s lacks %s", b, k)
		}
	}
}

// fakeNVML plays back readings.
type fakeNVML struct {
	mu       sync.Mutex
	readings []reading
	next     int
	inits    int
	initErr  error
}

func (f *fakeNVML) init() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.initErr != nil {
		return f.initErr
	}
	f.inits++
	return nil
}
func (f *fakeNVML) shutdown()           { f.mu.Lock(); f.inits--; f.mu.Unlock() }
func (f *fakeNVML) count() (int, error) { return 1, nil }
func (f *fakeNVML) device(i int) (Device, error) {
	return Device{Index: i, Name: "Fake GPU", MemoryTotalBytes: 80 * GiB, DriverVersion: "1.0", CUDAVersion: "12.4"}, nil
}
func (f *fakeNVML) read(int) (reading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.readings[min(f.next, len(f.readings)-1)]
	f.next++
	return r, nil
}

func TestSamplerArithmetic(t *testing.T) {
	f := &fakeNVML{readings: []reading{
		{memUsed: 1 * GiB, memOK: true, util: 0, utilOK: true, powerMilliwatts: 50_000, pw: true}, // the start reading
		{memUsed: 1 * GiB, memOK: true, util: 0, utilOK: true, powerMilliwatts: 50_000, pw: true},
		{memUsed: 9 * GiB, memOK: true, util: 100, utilOK: true, powerMilliwatts: 350_000, pw: true},
		{memUsed: 5 * GiB, memOK: true, util: 50, utilOK: true}, // power not readable
	}}
	s := startSampler(f, 0, time.Hour) // only the first and the final sample
	// Take the middle readings by hand, as the ticker would.
	s.sample()
	res := s.Stop()
	if f.inits != 0 {
		t.Errorf("NVML left initialised %d times", f.inits)
	}
	// Samples: first (1 GiB, 0 %, 50 W), manual (9 GiB, 100 %, 350 W), final (5 GiB, 50 %, —).
	want := Telemetry{GPUName: "Fake GPU", GPUMemoryTotalBytes: 80 * GiB, GPUMemoryUsedStartBytes: 1 * GiB,
		GPUMemoryUsedPeakBytes: 9 * GiB, GPUUtilMean: 50, GPUUtilPeak: 100, GPUPowerMeanWatts: 200, GPUPowerPeakWatts: 350,
		GPUSamples: 3, GPUStatus: "ok"}
	if res != want {
		t.Errorf("telemetry\n got %+v\nwant %+v", res, want)
	}
	// The ticker samples on its own.
	f2 := &fakeNVML{readings: []reading{{memUsed: 2, memOK: true}}}
	s2 := startSampler(f2, 0, time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	if r := s2.Stop(); r.GPUSamples < 3 || r.GPUMemoryUsedPeakBytes != 2 {
		t.Errorf("ticker: %+v", r)
	}
	// Discover through the fake.
	devs, err := discover(f2)
	if err != nil || len(devs) != 1 || devs[0].Name != "Fake GPU" {
		t.Errorf("discover: %v, %v", devs, err)
	}
	// A missing library is reported, not fatal.
	f3 := &fakeNVML{initErr: errors.New("no NVIDIA GPU: NVML not available (test)")}
	if r := startSampler(f3, 0, 0).Stop(); r.GPUStatus != f3.initErr.Error() || r.GPUSamples != 0 {
		t.Errorf("no library: %+v", r)
	}
	// An index NVML does not have.
	if r := startSampler(&fakeNVML{readings: f.readings}, 3, 0).Stop(); !strings.Contains(r.GPUStatus, "no device 3") {
		t.Errorf("bad index: %+v", r)
	}
}
