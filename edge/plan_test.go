package edge

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func illustrative(t *testing.T) []Workload {
	t.Helper()
	ws, err := ReadWorkloads("testdata/illustrative.json")
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func mustPreset(t *testing.T, name string) Device {
	t.Helper()
	d, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPlannerRespectsMemory gives the planner a device four times faster
// than the other but with room for only two blocks: unconstrained it would
// take most of the layers; it must take at most two.
func TestPlannerRespectsMemory(t *testing.T) {
	for _, side := range []bool{false, true} {
		w := Workload{Method: "lora", Layers: 8, Batch: 1, Tokens: 1, Microbatches: 64, StepMicrobatches: 8,
			ReferenceGFLOPS: 100, LayerForward: 0.01, LayerBackward: 0.02, OptimizerStep: 0.001,
			ActivationBytes: 1000, LayerWeightBytes: GiB, TrainableBytes: 8000}
		if side {
			w.Method, w.LayerBackward, w.SideNetwork, w.Cache = "pac", 0, true, true
			w.AdapterForward, w.AdapterBackward = 0.001, 0.002
		}
		small := Device{Name: "small-fast", GFLOPS: 400, MemoryBytes: 2*GiB + GiB/2, LinkMBps: 1e4}
		big := Device{Name: "big-slow", GFLOPS: 100, MemoryBytes: 16 * GiB, LinkMBps: 1e4}
		devs := []Device{big, small}
		p, err := PlanTraining(w, devs, 2)
		if err != nil {
			t.Fatal(err)
		}
		usedSmall := false
		for _, s := range p.Pipeline {
			if s.Device == 1 {
				usedSmall = true
				if s.layers() > 2 {
					t.Errorf("side=%v: the small device got %d layers, room for 2", side, s.layers())
				}
			}
		}
		if !usedSmall {
			t.Errorf("side=%v: the fast device was left out of the pipeline: %+v", side, p.Pipeline)
		}
		r, err := Simulate(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range r.Peak {
			if b > devs[i].Usable() {
				t.Errorf("side=%v: %s peaks at %d of %d", side, devs[i].Name, b, devs[i].Usable())
			}
		}
	}
}

// TestNeverWorseThanOneDevice checks the chosen plan against every
// device alone, for every illustrative method on several device sets.
func TestNeverWorseThanOneDevice(t *testing.T) {
	sets := [][]string{
		{"jetson-orin-nano", "jetson-orin-nano", "rpi5"},
		{"rpi4", "rpi4", "rpi4", "rpi4"},
		{"jetson-nano", "jetson-tx2"},
		{"rpi5", "jetson-agx-orin"},
	}
	for _, w := range illustrative(t) {
		for _, names := range sets {
			var devs []Device
			for _, n := range names {
				devs = append(devs, mustPreset(t, n))
			}
			for _, link := range []float64{0, WiFi5MBps} {
				devs := WithLink(devs, link, "test")
				p, err := PlanTraining(w, devs, 3)
				if err != nil {
					t.Fatal(err)
				}
				r, err := Simulate(p)
				if err != nil {
					t.Fatal(err)
				}
				for i := range devs {
					sp, err := Single(w, devs, i, 3)
					if err != nil {
						continue
					}
					sr, err := Simulate(sp)
					if err != nil {
						t.Fatal(err)
					}
					if r.Total > sr.Total*(1+1e-12) {
						t.Errorf("%s on %v: plan %.4f s, %s alone %.4f s", w.Method, names, r.Total, devs[i].Name, sr.Total)
					}
				}
			}
		}
	}
}

func TestCacheMakesLaterEpochsFaster(t *testing.T) {
	w, err := FindWorkload(illustrative(t), "pac")
	if err != nil {
		t.Fatal(err)
	}
	devs, err := ParseDevices("2xjetson-orin-nano,rpi5")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compare(w, devs, 3)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Result.Epochs
	if !(e[1].Seconds < e[0].Seconds) || e[2] != e[1] || e[1].Fill != 0 {
		t.Errorf("with the cache, epochs %+v: later ones should skip the fill and be faster", e)
	}
	w.Cache = false
	p, err := PlanTraining(w, devs, 3)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Simulate(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Epochs[1] != r.Epochs[0] || r.Total <= c.Result.Total {
		t.Errorf("without the cache, epochs %+v (total %.3f) should repeat the first and take longer than %.3f",
			r.Epochs, r.Total, c.Result.Total)
	}
}

func TestAllReduceFormula(t *testing.T) {
	// 2(n−1)/n × bytes / bandwidth: 2·3/4 × 8 MB / 100 MB/s = 0.12 s.
	if got := AllReduceSeconds(8e6, 4, 100); math.Abs(got-0.12) > 1e-15 {
		t.Errorf("4 devices: %v, want 0.12", got)
	}
	if got := AllReduceSeconds(8e6, 1, 100); got != 0 {
		t.Errorf("one device: %v, want 0", got)
	}
	// In a plan, the slowest link sets the ring's pace, every step.
	w := Workload{Method: "pac", Layers: 2, Batch: 1, Tokens: 1, Microbatches: 6, StepMicrobatches: 2,
		ReferenceGFLOPS: 100, LayerForward: 1, AdapterForward: 0.3, AdapterBackward: 0.5, HeadForward: 0.1,
		HeadBackward: 0.1, OptimizerStep: 0.05, ActivationBytes: 1, TrainableBytes: 3e6, SideNetwork: true, Cache: true}
	devs := []Device{
		{Name: "a", GFLOPS: 100, MemoryBytes: GiB, LinkMBps: 100},
		{Name: "b", GFLOPS: 100, MemoryBytes: GiB, LinkMBps: 50},
		{Name: "c", GFLOPS: 100, MemoryBytes: GiB, LinkMBps: 100},
	}
	third := 1.0 / 3
	p := Plan{Workload: w, Devices: devs, Epochs: 2, Pipeline: []Stage{{0, 0, 2}},
		Parallel: []Share{{0, third}, {1, third}, {2, 1 - 2*third}}}
	r, err := Simulate(p)
	if err != nil {
		t.Fatal(err)
	}
	ar := 2 * 2.0 / 3 * 3e6 / 50e6 // 0.08 s
	if math.Abs(r.AllReduce-ar) > 1e-15 {
		t.Errorf("all-reduce %v, want %v", r.AllReduce, ar)
	}
	// Three steps of two microbatches: each device ⅓·2·1 s of compute,
	// then the all-reduce, then 0.05 s of optimizer.
	want := 3 * (2.0/3 + ar + 0.05)
	if got := r.Epochs[1].Seconds; math.Abs(got-want) > 1e-12 {
		t.Errorf("adapter epoch %v, want %v", got, want)
	}
}

func TestNothingFits(t *testing.T) {
	w, err := FindWorkload(illustrative(t), "full")
	if err != nil {
		t.Fatal(err)
	}
	w.LayerWeightBytes = 3 * GiB
	devs, err := ParseDevices("jetson-nano,rpi4")
	if err != nil {
		t.Fatal(err)
	}
	_, err = PlanTraining(w, devs, 1)
	if !errors.Is(err, ErrNoFit) {
		t.Fatalf("got %v, want ErrNoFit", err)
	}
	for _, s := range []string{"full", "GiB", "jetson-nano", "rpi4", "largest need"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if _, err := Single(w, devs, 0, 1); err == nil {
		t.Error("Single on a device too small: no error")
	}
}

// TestReferenceMatchesMeasurements: on one reference device the
// simulation must reproduce the measured times, summed: what the
// measurements are validated against.
func TestReferenceMatchesMeasurements(t *testing.T) {
	base := Workload{Batch: 8, Tokens: 64, Microbatches: 10, StepMicrobatches: 4, Layers: 6,
		ReferenceGFLOPS: 37.5, LayerForward: 0.0123, HeadForward: 0.0071, HeadBackward: 0.0133,
		OptimizerStep: 0.0042, ActivationBytes: 1 << 16, LayerSavedBytes: 1 << 20, HeadSavedBytes: 1 << 21,
		LayerWeightBytes: 1 << 20, HeadWeightBytes: 1 << 19, TrainableBytes: 1 << 16}
	steps := 3.0 // ten microbatches in steps of four
	m := float64(base.Microbatches)

	lora := base
	lora.Method, lora.LayerBackward = "lora", 0.0191
	pac := base
	pac.Method, pac.SideNetwork, pac.Cache = "pac", true, true
	pac.AdapterForward, pac.AdapterBackward, pac.AdapterSavedBytes = 0.0017, 0.0029, 1<<18

	loraEpoch := m*(6*(0.0123+0.0191)+0.0071+0.0133) + steps*0.0042
	pacLater := m*(0.0071+0.0133+0.0017+0.0029) + steps*0.0042
	pacFirst := m*6*0.0123 + pacLater
	for _, tc := range []struct {
		w     Workload
		first float64
		later float64
	}{{lora, loraEpoch, loraEpoch}, {pac, pacFirst, pacLater}} {
		devs := []Device{Reference(tc.w, 64*GiB)}
		c, err := Compare(tc.w, devs, 3)
		if err != nil {
			t.Fatal(err)
		}
		e := c.Result.Epochs
		close := func(got, want float64) bool { return math.Abs(got-want) <= 1e-12*want }
		if !close(e[0].Seconds, tc.first) || !close(e[1].Seconds, tc.later) || !close(e[2].Seconds, tc.later) {
			t.Errorf("%s: epochs %v %v %v, want %v then %v", tc.w.Method, e[0].Seconds, e[1].Seconds, e[2].Seconds, tc.first, tc.later)
		}
		if c.Speedup != 1 {
			t.Errorf("%s: speed-up over itself %v", tc.w.Method, c.Speedup)
		}
	}
}

func TestSpeedupCurve(t *testing.T) {
	ws := illustrative(t)
	counts := []int{1, 2, 3, 4}
	curves, err := SpeedupCurve(ws, mustPreset(t, "jetson-orin-nano"), counts, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		c := curves[w.Method]
		if len(c) != len(counts) || c[0] != 1 {
			t.Fatalf("%s: curve %v, want %d points starting at 1", w.Method, c, len(counts))
		}
		for i := 1; i < len(c); i++ {
			if c[i] < c[i-1]*(1-1e-12) {
				t.Errorf("%s: speed-up falls from %v to %v with more devices: %v", w.Method, c[i-1], c[i], c)
			}
		}
	}
	if c := curves["pac"]; !(c[3] > 1) {
		t.Errorf("pac gains nothing from four devices: %v", c)
	}
}
