package nn

import (
	"math"

	"gorgonia.org/tensor"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter, 2019).
// Decay applies to matrices only; biases, LayerNorm gains and vectors that
// methods add are not decayed, as in GPT-2 and nanoGPT.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	// ClipNorm rescales the gradients whose global L2 norm exceeds it
	// (0 disables clipping).
	ClipNorm float64

	step  int
	state map[*Param]*adamState
}

type adamState struct{ m, v []float64 }

// NewAdamW returns AdamW with the usual defaults: β = (0.9, 0.999),
// ε = 1e-8, clipping at norm 1.
func NewAdamW(weightDecay float64) *AdamW {
	return &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay, ClipNorm: 1, state: map[*Param]*adamState{}}
}

// Steps is the number of updates made so far.
func (o *AdamW) Steps() int { return o.step }

// Step updates the program's trainable parameters from the gradients of its
// last run, at learning rate lr. It returns the gradient norm before
// clipping.
func (o *AdamW) Step(p *Program, lr float64) float64 {
	norm := p.GradNorm()
	scale := 1.0
	if o.ClipNorm > 0 && norm > o.ClipNorm {
		scale = o.ClipNorm / norm
	}
	o.step++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.step))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.step))
	for i, prm := range p.Params {
		st := o.state[prm]
		if st == nil {
			st = &adamState{make([]float64, prm.Size()), make([]float64, prm.Size())}
			o.state[prm] = st
		}
		decay := 0.0
		if prm.Value.Dims() >= 2 {
			decay = o.WeightDecay
		}
		g := p.Value(p.Grads[i])
		if g.Dtype() == tensor.Float64 {
			adamUpdate(prm.F64(), dense[float64](g), st, o, lr, decay, scale, bc1, bc2)
		} else {
			adamUpdate(prm.F32(), dense[float32](g), st, o, lr, decay, scale, bc1, bc2)
		}
	}
	return norm
}

func adamUpdate[T Float](w, g []T, st *adamState, o *AdamW, lr, decay, scale, bc1, bc2 float64) {
	for j := range w {
		gj := float64(g[j]) * scale
		st.m[j] = o.Beta1*st.m[j] + (1-o.Beta1)*gj
		st.v[j] = o.Beta2*st.v[j] + (1-o.Beta2)*gj*gj
		x := float64(w[j])
		x -= lr * decay * x
		x -= lr * (st.m[j] / bc1) / (math.Sqrt(st.v[j]/bc2) + o.Eps)
		w[j] = T(x)
	}
}

// Schedule is linear warm-up followed by cosine decay to MinFactor·Peak.
type Schedule struct {
	Peak      float64
	Warmup    int
	Total     int
	MinFactor float64
}

// LR is the learning rate for step (0-based).
func (s Schedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Peak * float64(step+1) / float64(s.Warmup)
	}
	if s.Total <= s.Warmup {
		return s.Peak
	}
	frac := math.Min(1, float64(step-s.Warmup)/float64(s.Total-s.Warmup))
	min := s.Peak * s.MinFactor
	return min + (s.Peak-min)*0.5*(1+math.Cos(math.Pi*frac))
}
