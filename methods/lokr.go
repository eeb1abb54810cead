package methods

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// lokr is LoKr, the low-rank Kronecker product of LyCORIS (Yeh et al.,
// 2024, arXiv 2309.14859) as HF PEFT's LoKrConfig defines it for linear
// layers: with out = a·b and in = c·d (factorization), each targeted layer
// gains a dense update
//
//	ΔW = (W1 ⊗ W2)·alpha/r,  W1 [a, c], W2 [b, d]
//
// in PEFT's [out, in] layout (y = x·W + b + x·ΔWᵀ). W2 is the product
// W2a·W2b of rank r unless r ≥ max(b, d)/2, when PEFT keeps it whole; W1
// likewise with decompose_both, else whole. As in PEFT's
// reset_adapter_parameters, W1 (or W1a) is zero and the rest
// Kaiming-uniform (U(±1/√fan_in), fan_in the second dimension), so
// training starts from the base model exactly. Factors are stored in
// PEFT's layout. rank_dropout and module_dropout are not offered (both 0,
// PEFT's default).
type lokr struct{}

func init() { Register(lokr{}) }

func (lokr) Name() string { return "lokr" }
func (lokr) Doc() string {
	return "LoKr: Kronecker product of a small and a low-rank factor added to targeted linear layers, scaled by alpha/r"
}

// DefaultLR is chosen as LoHa's: validation accuracy 0.905, 0.935, 0.875
// and 0.765 at 1e-2, 3e-2, 1e-1 and 3e-1 (LoRA at rank 4 and its 1e-2:
// 0.905), with 2,560 weights on q and v of the shipped model at r = 8.
func (lokr) DefaultLR() float64 { return 3e-2 }

func (lokr) Params() []Spec {
	return []Spec{
		{Name: "rank", Kind: Int, Default: 8, Min: 1, Max: 4096, Doc: "rank r of the decomposed factors (PEFT's r)"},
		{Name: "alpha", Kind: Float, Default: 8.0, Min: 0, Max: math.Inf(1), Doc: "scale numerator: the update is multiplied by alpha/r (PEFT's default 8)"},
		{Name: "decompose_both", Kind: Bool, Default: false, Doc: "decompose the left factor W1 to rank r too (PEFT's decompose_both)"},
		{Name: "decompose_factor", Kind: Int, Default: -1, Min: -1, Max: 1 << 20,
			Doc: "how each side is split in two: -1 near its square root; f > 0 as f·(dim/f) where f divides it, else the largest divisor reached up to f (PEFT's factorization)"},
		linearTargets("q,v"),
	}
}

// factorization splits dim into two factors as LyCORIS and PEFT do: with
// a factor f > 0 that divides dim, (f, dim/f) in that order; otherwise the
// search walks m up the divisors of dim while m < dim/m and m ≤ f (any
// m for f = -1), and returns the last pair, smaller first.
func factorization(dim, f int) (int, int) {
	if f > 0 && dim%f == 0 {
		return f, dim / f
	}
	if f == -1 {
		f = dim
	}
	m, n := 1, dim
	for m < n {
		next := m + 1
		for dim%next != 0 {
			next++
		}
		// PEFT also stops when m + n would exceed 1 + dim, which a pair
		// of divisors never does.
		if next > f {
			break
		}
		m, n = next, dim/next
	}
	if m > n {
		m, n = n, m
	}
	return m, n
}

// lokrShape is one layer's split: out = a·b, in = c·d, and which factors
// are whole.
type lokrShape struct {
	a, b, c, d     int
	whole1, whole2 bool
}

// lokrSplit is PEFT's update_layer for a linear layer.
func lokrSplit(in, out, r, factor int, both bool) lokrShape {
	var s lokrShape
	s.c, s.d = factorization(in, factor)
	s.a, s.b = factorization(out, factor)
	s.whole1 = !(both && 2*r < max(s.a, s.c))
	s.whole2 = 2*r >= max(s.b, s.d)
	return s
}

// weights counts a layer's parameters.
func (s lokrShape) weights(r int) int64 {
	n := int64(r * (s.a + s.c))
	if s.whole1 {
		n = int64(s.a * s.c)
	}
	if s.whole2 {
		return n + int64(s.b*s.d)
	}
	return n + int64(r*(s.b+s.d))
}

// lokrLayer is one adapted layer. w1 (or w1a·w1b) and w2 (or w2a·w2b);
// the unused ones are nil.
type lokrLayer struct {
	shape          lokrShape
	w1, w1a, w1b   *nn.Param
	w2, w2a, w2b   *nn.Param
	scale          float64
	er, ec, fr, fc *nn.Param // the Kronecker product's expansions (kronExpansions)
	zeroed         *nn.Param // the factor that starts at zero
}

// factor returns a whole factor's node, or the product of its pair.
func factor(g *nn.Graph, whole, a, b *nn.Param) (*model.Node, error) {
	if whole != nil {
		return g.Param(whole), nil
	}
	return nn.MatMul(g.Param(a), g.Param(b), false, false)
}

// delta is ΔW [out, in], row-major: ΔW[i·b+j, k·d+l] = s·W1[i, k]·W2[j, l].
func (l *lokrLayer) delta() []float64 {
	s := l.shape
	w1, w2 := factorValues(l.w1, l.w1a, l.w1b), factorValues(l.w2, l.w2a, l.w2b)
	in := s.c * s.d
	out := make([]float64, s.a*s.b*in)
	for i := range s.a {
		for k := range s.c {
			x := w1[i*s.c+k] * l.scale
			for j := range s.b {
				row := out[(i*s.b+j)*in+k*s.d:]
				for q := range s.d {
					row[q] = x * w2[j*s.d+q]
				}
			}
		}
	}
	return out
}

type lokrHook struct {
	layers map[string]*lokrLayer
	order  []string
}

func (lokr) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	names, err := linearLayers(m, v.List("targets"))
	if err != nil {
		return nil, err
	}
	r := v.Int("rank")
	rng := rand.New(rand.NewPCG(seed, 0x10c4))
	h := &lokrHook{layers: map[string]*lokrLayer{}, order: names}
	expansions := map[[4]int][4]*nn.Param{}
	var own []*nn.Param
	for _, name := range names {
		in, out := linearDims(m, name)
		s := lokrSplit(in, out, r, v.Int("decompose_factor"), v.Bool("decompose_both"))
		l := &lokrLayer{shape: s, scale: v.Float("alpha") / float64(r)}
		// PEFT's order of drawing: W1's pair, then W2 or its pair.
		if s.whole1 {
			l.w1 = newOwn(m, name+".lokr_w1", s.a, s.c)
			l.zeroed = l.w1
		} else {
			l.w1a, l.w1b = newOwn(m, name+".lokr_w1_a", s.a, r), newOwn(m, name+".lokr_w1_b", r, s.c)
			uniformInit(l.w1b, rng, s.c)
			l.zeroed = l.w1a
		}
		if s.whole2 {
			l.w2 = newOwn(m, name+".lokr_w2", s.b, s.d)
			uniformInit(l.w2, rng, s.d)
		} else {
			l.w2a, l.w2b = newOwn(m, name+".lokr_w2_a", s.b, r), newOwn(m, name+".lokr_w2_b", r, s.d)
			uniformInit(l.w2a, rng, r)
			uniformInit(l.w2b, rng, s.d)
		}
		key := [4]int{s.a, s.b, s.c, s.d}
		e, ok := expansions[key]
		if !ok {
			e = kronExpansions(m, s)
			expansions[key] = e
		}
		l.er, l.ec, l.fr, l.fc = e[0], e[1], e[2], e[3]
		for _, p := range []*nn.Param{l.w1, l.w1a, l.w1b, l.w2, l.w2a, l.w2b} {
			if p != nil {
				own = append(own, p)
			}
		}
		h.layers[name] = l
	}
	m.SetTrainable(false)
	mg := &deltaMerger{m: m, method: "lokr", order: names,
		delta: func(name string) []float64 { return h.layers[name].delta() },
		zero:  func(name string) *nn.Param { return h.layers[name].zeroed }}
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: mg}, nil
}

// kronExpansions are the frozen 0/1 matrices that build W1 ⊗ W2 from
// matrix products and one element-wise product, which the engine's ops
// differentiate and run on every device:
//
//	W1 ⊗ W2 = (Er·W1·Ecᵀ) ∘ (Fr·W2·Fcᵀ)
//
// with Er [out, a] and Fr [out, b] sending row i·b+j to rows i and j,
// Ec [in, c] and Fc [in, d] column k·d+l to columns k and l. They are no
// adapter weights: not saved, and shared by layers of one shape.
func kronExpansions(m *model.Model, s lokrShape) [4]*nn.Param {
	out, in := s.a*s.b, s.c*s.d
	name := fmt.Sprintf("lokr_expand_%dx%d_%dx%d", s.a, s.b, s.c, s.d)
	er, fr := newOwn(m, name+".er", out, s.a), newOwn(m, name+".fr", out, s.b)
	ec, fc := newOwn(m, name+".ec", in, s.c), newOwn(m, name+".fc", in, s.d)
	e := [4]*nn.Param{er, ec, fr, fc}
	vals := [4][]float64{make([]float64, out*s.a), make([]float64, in*s.c), make([]float64, out*s.b), make([]float64, in*s.d)}
	for i := range s.a {
		for j := range s.b {
			vals[0][(i*s.b+j)*s.a+i] = 1
			vals[2][(i*s.b+j)*s.b+j] = 1
		}
	}
	for k := range s.c {
		for q := range s.d {
			vals[1][(k*s.d+q)*s.c+k] = 1
			vals[3][(k*s.d+q)*s.d+q] = 1
		}
	}
	for i, p := range e {
		p.Trainable = false
		SetValues(p, vals[i])
	}
	return e
}

// HookLinear adds x·ΔWᵀ, ΔW built densely once per graph.
func (h *lokrHook) HookLinear(c *model.Ctx, name string, x, y *model.Node) (*model.Node, error) {
	l, ok := h.layers[name]
	if !ok {
		return y, nil
	}
	g := c.Graph
	expand := func(f *model.Node, rows, cols *nn.Param) (*model.Node, error) {
		rf, err := nn.MatMul(g.Param(rows), f, false, false)
		if err != nil {
			return nil, err
		}
		return nn.MatMul(rf, g.Param(cols), false, true)
	}
	w1, err := factor(g, l.w1, l.w1a, l.w1b)
	if err != nil {
		return nil, err
	}
	w2, err := factor(g, l.w2, l.w2a, l.w2b)
	if err != nil {
		return nil, err
	}
	t1, err := expand(w1, l.er, l.ec)
	if err != nil {
		return nil, err
	}
	t2, err := expand(w2, l.fr, l.fc)
	if err != nil {
		return nil, err
	}
	return addProductUpdate(x, y, t1, t2, l.scale)
}

// Footprint: W1 and W2, whole or as rank-r pairs, per adapted layer; per
// token and beside the batch as LoHa's (denseFootprint), the Kronecker
// product being one [out, in] temporary before its scaling.
func (lokr) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	r := v.Int("rank")
	return denseFootprint(a, v, func(in, out int64) (int64, int64) {
		return lokrSplit(int(in), int(out), r, v.Int("decompose_factor"), v.Bool("decompose_both")).weights(r), 1
	})
}

// Display: vermillion's darker kin, an asterisk.
func (lokr) Display() display.Style {
	return display.Style{Order: 27, Color: color.RGBA{0x8b, 0x3a, 0x00, 0xff}, Marker: display.Asterisk}
}

// PEFT writes LoKr as HF PEFT keys it: lokr_w1 (or lokr_w1_a and
// lokr_w1_b) and lokr_w2 (or lokr_w2_a and lokr_w2_b) per module, as
// stored. Llama's family only (errLycorisGPT2).
func (lokr) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	if m.Config.Family != model.Llama {
		return nil, nil, errLycorisGPT2
	}
	h := a.Hooks[0].(*lokrHook)
	tensors := map[string]PEFTTensor{}
	var modules []string
	for _, name := range h.order {
		mod, _, _, err := model.HFModule(m, name)
		if err != nil {
			return nil, nil, err
		}
		modules = append(modules, mod)
		l := h.layers[name]
		for key, p := range map[string]*nn.Param{"lokr_w1": l.w1, "lokr_w1_a": l.w1a, "lokr_w1_b": l.w1b, "lokr_w2": l.w2, "lokr_w2_a": l.w2a, "lokr_w2_b": l.w2b} {
			if p != nil {
				tensors[mod+"."+key] = PEFTTensor{Shape: p.Value.Shape().Clone(), Values: nn.Float64s(p.Value)}
			}
		}
	}
	targets, err := peftTargets(m, modules)
	if err != nil {
		return nil, nil, err
	}
	cfg := lycorisConfig("LOKR", a.Values, targets)
	cfg["decompose_both"] = a.Values.Bool("decompose_both")
	cfg["decompose_factor"] = a.Values.Int("decompose_factor")
	cfg["rank_dropout_scale"] = false
	return cfg, tensors, nil
}
