package edge

import (
	"errors"
	"fmt"
	"math"
)

// Comparison is the chosen plan against the best single device, both
// simulated.
type Comparison struct {
	Plan   Plan   `json:"plan"`
	Result Result `json:"result"`
	// Single is the fastest plan on one of the devices alone; nil when no
	// device can run the method alone.
	Single       *Plan  `json:"single,omitempty"`
	SingleResult Result `json:"single_result"`
	// Speedup is SingleResult.Total / Result.Total (0 without Single).
	Speedup float64 `json:"speedup"`
}

// Compare plans w on devs and simulates it against the best single device.
func Compare(w Workload, devs []Device, epochs int) (Comparison, error) {
	p, err := PlanTraining(w, devs, epochs)
	if err != nil {
		return Comparison{}, err
	}
	r, err := Simulate(p)
	if err != nil {
		return Comparison{}, err
	}
	c := Comparison{Plan: p, Result: r}
	for _, i := range distinct(devs) {
		sp, err := Single(w, devs, i, epochs)
		if err != nil {
			continue
		}
		sr, err := Simulate(sp)
		if err != nil {
			return Comparison{}, err
		}
		if c.Single == nil || sr.Total < c.SingleResult.Total {
			c.Single, c.SingleResult = &sp, sr
		}
	}
	if c.Single != nil {
		c.Speedup = c.SingleResult.Total / r.Total
	}
	return c, nil
}

// SpeedupCurve gives, for each workload's method, the simulated speed-up
// of counts[i] copies of d over one d (the planner choosing how to use
// them, which may be fewer than all): NaN where the method fits on
// neither one device or counts[i] of them.
func SpeedupCurve(ws []Workload, d Device, counts []int, epochs int) (map[string][]float64, error) {
	out := map[string][]float64{}
	for _, w := range ws {
		if err := checkInputs(w, []Device{d}, epochs); err != nil {
			return nil, err
		}
		if _, dup := out[w.Method]; dup {
			return nil, fmt.Errorf("edge: method %q appears twice", w.Method)
		}
		one := math.NaN()
		if p, err := Single(w, []Device{d}, 0, epochs); err == nil {
			r, err := Simulate(p)
			if err != nil {
				return nil, err
			}
			one = r.Total
		}
		curve := make([]float64, len(counts))
		for i, n := range counts {
			if n < 1 {
				return nil, fmt.Errorf("edge: device count %d, need at least 1", n)
			}
			devs := make([]Device, n)
			for j := range devs {
				devs[j] = d
			}
			curve[i] = math.NaN()
			p, err := PlanTraining(w, devs, epochs)
			if errors.Is(err, ErrNoFit) {
				continue
			}
			if err != nil {
				return nil, err
			}
			r, err := Simulate(p)
			if err != nil {
				return nil, err
			}
			curve[i] = one / r.Total
		}
		out[w.Method] = curve
	}
	return out, nil
}
