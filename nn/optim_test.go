package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

func TestScheduleShape(t *testing.T) {
	s := Schedule{Peak: 1e-3, Warmup: 10, Total: 110, MinFactor: 0.1}
	cases := []struct {
		step int
		want float64
	}{
		{0, 1e-4}, {9, 1e-3}, {10, 1e-3}, {60, 1e-4 + 0.9e-3*0.5}, {110, 1e-4}, {500, 1e-4},
	}
	for _, c := range cases {
		if got := s.LR(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("LR(%d) = %g, want %g", c.step, got, c.want)
		}
	}
}

// One AdamW step on a known gradient matches the update written out by hand,
// including clipping and decoupled decay (matrices only).
func TestAdamWStepByHand(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	g := NewGraph(tensor.Float64)
	w := randParam(rng, "w", true, 1, 2, 3)
	b := randParam(rng, "b", true, 1, 3)
	b.LRScale = 4 // the bias trains at four times the rate (as LoRA+ trains B)
	x := randParam(rng, "x", false, 1, 4, 2)
	y, err := Linear(g.Param(x), g.Param(w), g.Param(b))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(g, headLoss(t, g, rng, y))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	x0 := append([]float64(nil), x.F64()...)
	before := map[*Param][]float64{}
	grads := map[*Param][]float64{}
	for i, prm := range p.Params {
		before[prm] = append([]float64(nil), prm.F64()...)
		grads[prm] = p.Grad(i)
	}
	opt := NewAdamW(0.1)
	opt.ClipNorm = 0.5
	norm := opt.Step(p, 0.01)
	scale := math.Min(1, 0.5/norm)
	for _, prm := range p.Params {
		decay, lr := 0.0, 0.01
		if prm.Value.Dims() == 2 {
			decay = 0.1
		}
		if prm == b {
			lr = 0.04
		}
		for j, w0 := range before[prm] {
			gj := grads[prm][j] * scale
			// After one step the bias-corrected moments are g and g².
			want := w0 - lr*decay*w0 - lr*gj/(math.Abs(gj)+1e-8)
			if got := prm.F64()[j]; math.Abs(got-want) > 1e-12 {
				t.Fatalf("%s[%d] = %.15g, want %.15g", prm.Name, j, got, want)
			}
		}
	}
	for j, v := range x0 {
		if x.F64()[j] != v {
			t.Fatal("a frozen input changed")
		}
	}
}
