package edge

import (
	"math"
	"testing"
)

// handDevices are two devices the hand-computed tests use: the first runs
// at the reference rate, the second at half of it; both links carry 100
// MB/s and memory is plenty.
func handDevices() []Device {
	return []Device{
		{Name: "a", GFLOPS: 100, MemoryBytes: 1 << 40, LinkMBps: 100},
		{Name: "b", GFLOPS: 50, MemoryBytes: 1 << 40, LinkMBps: 100},
	}
}

// handWorkload: two blocks, one second forward and two backward each on
// the reference machine, no head cost, an optimizer step of 0.5 s split
// evenly over the blocks, and 50 MB activations (0.5 s a transfer at 100
// MB/s). On handDevices, stage 0 (device a, block 0) takes F=1, B=2,
// O=0.25 and stage 1 (device b, block 1) F=2, B=4, O=0.5.
func handWorkload(step int) Workload {
	return Workload{Method: "hand", Layers: 2, Batch: 1, Tokens: 1, Microbatches: 3, StepMicrobatches: step,
		ReferenceGFLOPS: 100, LayerForward: 1, LayerBackward: 2, OptimizerStep: 0.5,
		ActivationBytes: 50e6, LayerWeightBytes: 1, LayerSavedBytes: 1, TrainableBytes: 2}
}

func handPlan(w Workload) Plan {
	return Plan{Workload: w, Devices: handDevices(), Epochs: 1,
		Pipeline: []Stage{{Device: 0, First: 0, Last: 1}, {Device: 1, First: 1, Last: 2}}}
}

func TestPipelineByHandOneStep(t *testing.T) {
	// Three microbatches in one step (GPipe: all forwards, then backwards
	// in reverse, then the optimizer), times [start, end]:
	//
	//	stage 0:  F0 [0,1]  F1 [1,2]  F2 [2,3]
	//	link →:   m0 [1,1.5]  m1 [2,2.5]  m2 [3,3.5]
	//	stage 1:  F0 [1.5,3.5]  F1 [3.5,5.5]  F2 [5.5,7.5]
	//	          B2 [7.5,11.5]  B1 [11.5,15.5]  B0 [15.5,19.5]  O [19.5,20]
	//	link ←:   m2 [11.5,12]  m1 [15.5,16]  m0 [19.5,20]
	//	stage 0:  B2 [12,14]  B1 [16,18]  B0 [20,22]  O [22,22.25]
	//
	// Makespan 22.25 s; each stage holds all three microbatches at once.
	r, err := Simulate(handPlan(handWorkload(3)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 22.25 || r.Epochs[0].Train != 22.25 {
		t.Errorf("makespan %v, want 22.25 by hand", r.Total)
	}
	if r.InFlight[0] != 3 || r.InFlight[1] != 3 {
		t.Errorf("in flight %v, want [3 3]", r.InFlight)
	}
}

func TestPipelineByHandTwoSteps(t *testing.T) {
	// Steps of two microbatches: {0, 1}, then {2}; each stage starts the
	// next step's forwards after its own optimizer step.
	//
	//	stage 0:  F0 [0,1]  F1 [1,2]
	//	link →:   m0 [1,1.5]  m1 [2,2.5]
	//	stage 1:  F0 [1.5,3.5]  F1 [3.5,5.5]  B1 [5.5,9.5]  B0 [9.5,13.5]  O [13.5,14]
	//	link ←:   m1 [9.5,10]  m0 [13.5,14]
	//	stage 0:  B1 [10,12]  B0 [14,16]  O [16,16.25]
	//	step 2:   stage 0 F2 [16.25,17.25]; link → [17.25,17.75];
	//	          stage 1 F2 [17.75,19.75]  B2 [19.75,23.75]  O [23.75,24.25];
	//	          link ← [23.75,24.25]; stage 0 B2 [24.25,26.25]  O [26.25,26.5]
	//
	// Makespan 26.5 s, two microbatches in flight at most.
	r, err := Simulate(handPlan(handWorkload(2)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 26.5 {
		t.Errorf("makespan %v, want 26.5 by hand", r.Total)
	}
	if r.InFlight[0] != 2 || r.InFlight[1] != 2 {
		t.Errorf("in flight %v, want [2 2]", r.InFlight)
	}
}

func TestFillSerialisesTransfers(t *testing.T) {
	// A side network's fill on two devices at the reference rate, one
	// second per block, 3-second transfers: the link, not the stages, is
	// the bottleneck, and transfers queue behind each other.
	//
	//	stage 0:  F0 [0,1]  F1 [1,2]  F2 [2,3]
	//	link →:   m0 [1,4]  m1 [4,7]  m2 [7,10]
	//	stage 1:  F0 [4,5]  F1 [7,8]  F2 [10,11]
	//
	// Fill 11 s (7 s if the link carried transfers side by side).
	devs := handDevices()
	devs[1].GFLOPS = 100
	w := Workload{Method: "side", Layers: 2, Batch: 1, Tokens: 1, Microbatches: 3, StepMicrobatches: 3,
		ReferenceGFLOPS: 100, LayerForward: 1, AdapterForward: 0.5, AdapterBackward: 0.5, OptimizerStep: 0.25,
		ActivationBytes: 300e6, LayerWeightBytes: 1, TrainableBytes: 1e6, SideNetwork: true, Cache: true}
	p := Plan{Workload: w, Devices: devs, Epochs: 2,
		Pipeline: []Stage{{Device: 0, First: 0, Last: 1}, {Device: 1, First: 1, Last: 2}},
		Parallel: []Share{{Device: 0, Fraction: 0.5}, {Device: 1, Fraction: 0.5}}}
	r, err := Simulate(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Epochs[0].Fill != 11 {
		t.Errorf("fill %v, want 11 by hand", r.Epochs[0].Fill)
	}
	// Exchange: each device sends half of its layer's cache (1.5
	// microbatches × 300 MB = 450 MB) and receives as much: 4.5 s.
	if got := r.Epochs[0].Exchange; math.Abs(got-4.5) > 1e-12 {
		t.Errorf("exchange %v, want 4.5", got)
	}
	// Adapters: one step of three microbatches, 1.5 each per device at 1 s
	// a microbatch, a 2·½·1 MB all-reduce at 100 MB/s (0.01 s), the 0.25 s
	// optimizer: 1.76 s, which is all a later epoch does.
	if got := r.Epochs[0].Train; math.Abs(got-1.76) > 1e-12 {
		t.Errorf("adapter epoch %v, want 1.76", got)
	}
	if r.Epochs[1] != (Epoch{Seconds: r.Epochs[0].Train, Train: r.Epochs[0].Train}) {
		t.Errorf("later epoch %+v, want only the adapter steps", r.Epochs[1])
	}
}

func TestSimulateRejectsBadPlans(t *testing.T) {
	w := handWorkload(3)
	bad := []Plan{
		{Workload: w, Devices: handDevices(), Epochs: 1},
		{Workload: w, Devices: handDevices(), Epochs: 1, Pipeline: []Stage{{Device: 0, First: 0, Last: 1}}},
		{Workload: w, Devices: handDevices(), Epochs: 1, Pipeline: []Stage{{0, 0, 1}, {0, 1, 2}}},
		{Workload: w, Devices: handDevices(), Epochs: 1, Parallel: []Share{{0, 0.5}, {1, 0.4}}},
	}
	for i, p := range bad {
		if _, err := Simulate(p); err == nil {
			t.Errorf("plan %d: no error", i)
		}
	}
	p := handPlan(w)
	p.Devices[1].MemoryBytes = 1
	if _, err := Simulate(p); err == nil {
		t.Error("a plan over a device's memory simulated without error")
	}
}
