package run

import (
	"slices"
	"testing"

	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/trial"
)

// Every fit of a student starts again from the base model and the
// method's initial weights with a fresh optimiser: fitting on some data,
// then on other data, then on the first again repeats the first fit's
// losses and weights bit for bit.
func TestStudentFitsFromTheBase(t *testing.T) {
	base := tinyBase(t)
	for _, method := range []string{"full", "lora"} {
		r := &trial.Result{}
		st, err := setup(teaSpec(base, method, nil), r, quiet)
		if err != nil {
			t.Fatal(err)
		}
		data, err := st.task.Train(0, 3)
		if err != nil {
			t.Fatal(err)
		}
		weights := func() [][]float64 {
			var out [][]float64
			for _, p := range st.a.Trainable(st.m) {
				out = append(out, nn.Float64s(p.Value))
			}
			return out
		}
		if err := st.Fit(data); err != nil {
			t.Fatal(err)
		}
		first, firstW := slices.Clone(r.Metrics.EpochLoss), weights()
		if err := st.Fit(data[:6]); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(first, r.Metrics.EpochLoss) {
			t.Fatalf("%s: other data gave the same losses %v", method, first)
		}
		if err := st.Fit(data); err != nil {
			t.Fatal(err)
		}
		again, againW := r.Metrics.EpochLoss, weights()
		if !slices.Equal(first, again) {
			t.Errorf("%s: refitting on the same data gave losses %v, first %v", method, again, first)
		}
		for i := range firstW {
			if !slices.Equal(firstW[i], againW[i]) {
				t.Errorf("%s: weight %d differs after refitting", method, i)
			}
		}
		if st.steps != 3*3+3*2+3*3 { // 12 and 6 examples in batches of 4, 3 epochs
			t.Errorf("%s: %d steps over three fits", method, st.steps)
		}
		st.ev.close()
	}
}

// An augmented trial records its iterations: the seed data first, growing
// by what the teacher kept, and its last iteration is the trial's test.
func TestAugmentedTrial(t *testing.T) {
	base := tinyBase(t)
	spec := teaSpec(base, "lora", map[string]any{"rank": 2})
	spec.DataSize = 4
	spec.Augment = &trial.Augment{Kind: "llm2llm", Iterations: 2, PerError: 2, Teacher: "pool-random"}
	r := Trial(spec, quiet)
	if r.Status != trial.Success {
		t.Fatalf("trial failed: %s", r.Error)
	}
	if len(r.Augment) == 0 || r.Augment[0].DataSize != 4 || r.Augment[0].Iteration != 0 {
		t.Fatalf("rounds %+v", r.Augment)
	}
	for i, rd := range r.Augment[1:] {
		prev := r.Augment[i]
		if rd.DataSize != prev.DataSize+prev.Teacher.Kept || prev.Teacher.Asked != 2*prev.SeedErrors {
			t.Errorf("round %d %+v after %+v", i+1, rd, prev)
		}
	}
	if r.Augment[0].SeedErrors > 0 && len(r.Augment) < 2 {
		t.Errorf("seed errors and no augmentation: %+v", r.Augment)
	}
	last := r.Augment[len(r.Augment)-1]
	if last.TestAccuracy != r.Metrics.TestAccuracy {
		t.Errorf("last iteration's test %v, trial's %v", last.TestAccuracy, r.Metrics.TestAccuracy)
	}
	plain := teaSpec(base, "lora", map[string]any{"rank": 2})
	plain.DataSize = 4
	p := Trial(plain, quiet)
	if p.Status != trial.Success || p.Metrics.TestAccuracy != r.Augment[0].TestAccuracy || spec.ID() == plain.ID() {
		t.Errorf("iteration 0 scored %v, the plain trial %v (%s)", r.Augment[0].TestAccuracy, p.Metrics.TestAccuracy, p.Error)
	}

	zs := teaSpec(base, trial.ZeroShot, nil)
	zs.Augment = spec.Augment
	if r := Trial(zs, quiet); r.Status != trial.Failed {
		t.Error("an augmented zero-shot trial ran")
	}
}
