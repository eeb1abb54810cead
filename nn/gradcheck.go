package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// GradCheck compares the gradients a float64 program computes with central
// finite differences of its loss. It probes up to probes coordinates of
// every trainable parameter (all of them when probes ≤ 0) and returns the
// largest relative error and where it occurred.
func GradCheck(p *Program, probes int, rng *rand.Rand) (worst float64, where string, err error) {
	if p.Loss == nil || p.Loss.Dtype() != tensor.Float64 {
		return 0, "", fmt.Errorf("nn: GradCheck needs a float64 program with a loss")
	}
	if err := p.Run(); err != nil {
		return 0, "", err
	}
	analytic := make([][]float64, len(p.Params))
	for i := range p.Params {
		analytic[i] = p.Grad(i)
	}
	const eps = 1e-6
	for i, prm := range p.Params {
		data := prm.F64()
		idx := make([]int, len(data))
		for j := range idx {
			idx[j] = j
		}
		if probes > 0 && probes < len(idx) {
			rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
			idx = idx[:probes]
		}
		for _, j := range idx {
			orig := data[j]
			data[j] = orig + eps
			if err := p.Run(); err != nil {
				return 0, "", err
			}
			up := p.LossValue()
			data[j] = orig - eps
			if err := p.Run(); err != nil {
				return 0, "", err
			}
			down := p.LossValue()
			data[j] = orig
			num, ana := (up-down)/(2*eps), analytic[i][j]
			if e := relErr(ana, num); e > worst {
				worst, where = e, fmt.Sprintf("%s[%d]: analytic %.8g, numeric %.8g", prm.Name, j, ana, num)
			}
		}
	}
	return worst, where, nil
}

// relErr is |a−b| relative to the larger magnitude, floored at 1e-5: a
// central difference with step 1e-6 carries rounding noise near 1e-10, so
// gradients below the floor are held to an absolute 1e-9 instead.
func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1e-5, math.Max(math.Abs(a), math.Abs(b)))
}
