package nn

import (
	"math"

	G "gorgonia.org/gorgonia"
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
	span  adamSpan // the update in flight, handed to the workers
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
// last run, at learning rate lr (times a parameter's LRScale where set). It returns the gradient norm before
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
		rate := lr
		if prm.LRScale > 0 {
			rate = lr * prm.LRScale
		}
		o.span = adamSpan{st: st, g: p.Value(p.Grads[i]), prm: prm,
			h: adamStep{b1: o.Beta1, b2: o.Beta2, eps: o.Eps, lr: rate, decay: decay, scale: scale, bc1: bc1, bc2: bc2}}
		parallel(prm.Size(), 1<<14, &o.span)
	}
	// The gradient is a view of the program's arena: holding it would keep
	// an outgrown arena's slab alive.
	o.span = adamSpan{}
	return norm
}

// adamStep is one update's settings: moments β, ε, learning rate, decay,
// gradient clipping scale and bias corrections.
type adamStep struct{ b1, b2, eps, lr, decay, scale, bc1, bc2 float64 }

// adamSpan updates elements [lo, hi) of one parameter, element-wise; the
// ranges depend on the parameter's size alone (parallel.go), so the
// weights do not depend on the number of workers.
type adamSpan struct {
	st  *adamState
	g   G.Value
	prm *Param
	h   adamStep
}

func (a *adamSpan) span(_, lo, hi int) {
	m, v := a.st.m[lo:hi], a.st.v[lo:hi]
	if a.g.Dtype() == tensor.Float64 {
		adamRange(a.prm.F64()[lo:hi], dense[float64](a.g)[lo:hi], m, v, &a.h)
	} else {
		adamF32(a.prm.F32()[lo:hi], dense[float32](a.g)[lo:hi], m, v, &a.h)
	}
}

func adamRange[T Float](w, g []T, m, v []float64, h *adamStep) {
	for j := range w {
		gj := float64(g[j]) * h.scale
		m[j] = h.b1*m[j] + (1-h.b1)*gj
		v[j] = h.b2*v[j] + (1-h.b2)*gj*gj
		x := float64(w[j])
		x -= h.lr * h.decay * x
		x -= h.lr * (m[j] / h.bc1) / (math.Sqrt(v[j]/h.bc2) + h.eps)
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
