package methods

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/peftbench/peftbench/internal/detrand"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// Helpers several methods share: making, initialising and overwriting
// their weights, restoring what a merger saved, per-layer dropout, and the
// dense update LoHa and LoKr add and merge.

// newOwn makes a trainable parameter of the model's dtype.
func newOwn(m *model.Model, name string, shape ...int) *nn.Param {
	p := nn.NewParam(name, m.Params[0].Value.Dtype(), shape...)
	p.Trainable = true
	return p
}

// cast converts x to the parameter's element type for tensor.Set.
func cast(p *nn.Param, x float64) any {
	if p.Value.Dtype() == tensor.Float64 {
		return x
	}
	return float32(x)
}

// normalInit draws N(0, std²) for every value, in order.
func normalInit(p *nn.Param, rng *rand.Rand, std float64) {
	for i := range p.Size() {
		p.Value.Set(i, cast(p, rng.NormFloat64()*std))
	}
}

// uniformInit draws U(−1/√fanIn, 1/√fanIn) for every value, in order:
// torch.nn.Linear's default, and the Kaiming-uniform initialisation HF
// PEFT gives LoRA's A.
func uniformInit(p *nn.Param, rng *rand.Rand, fanIn int) {
	bound := 1 / math.Sqrt(float64(fanIn))
	for i := range p.Size() {
		p.Value.Set(i, cast(p, (2*rng.Float64()-1)*bound))
	}
}

func ones(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// SetValues overwrites a parameter's values with vals (rounded to float32
// for a float32 parameter): the inverse of nn.Float64s.
func SetValues(p *nn.Param, vals []float64) {
	switch d := p.Value.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(vals[i])
		}
	case []float64:
		copy(d, vals)
	}
}

// addTo adds delta to a parameter's values.
func addTo(p *nn.Param, delta []float64) {
	switch d := p.Value.Data().(type) {
	case []float32:
		for i := range d {
			d[i] += float32(delta[i])
		}
	case []float64:
		for i := range d {
			d[i] += delta[i]
		}
	}
}

// restore puts saved parameter values back, as every merger's Unmerge does.
func restore(saved *map[*nn.Param][]float64, method string) error {
	if *saved == nil {
		return fmt.Errorf("methods: %s: not merged", method)
	}
	for p, vals := range *saved {
		SetValues(p, vals)
	}
	*saved = nil
	return nil
}

// dropoutSeed gives each named layer its own dropout stream under one
// trial seed.
func dropoutSeed(seed uint64, layer string) uint64 { return seed ^ detrand.Hash(layer) }

// layerDropout applies dropout at rate to a named layer's input x when the
// graph trains, and returns x unchanged otherwise (LoRA and DoRA drop the
// input of their low-rank path this way).
func layerDropout(c *model.Ctx, layer string, x *model.Node, rate float64, seed uint64) (*model.Node, error) {
	if rate > 0 && c.Graph.Training {
		return nn.Dropout(x, rate, dropoutSeed(seed, layer))
	}
	return x, nil
}

// addProductUpdate returns y + x·(scale·(a∘b))ᵀ: the dense update of
// LoHa (two low-rank products) and LoKr (two expanded Kronecker factors),
// both [out, in].
func addProductUpdate(x, y, a, b *model.Node, scale float64) (*model.Node, error) {
	d, err := nn.Mul(a, b)
	if err != nil {
		return nil, err
	}
	if d, err = nn.Scale(d, scale); err != nil {
		return nil, err
	}
	return addDense(x, y, d)
}

// addDense returns y + x·dᵀ for a dense update d [out, in].
func addDense(x, y, d *model.Node) (*model.Node, error) {
	u, err := nn.MatMul(x, d, false, true)
	if err != nil {
		return nil, err
	}
	return nn.Add(y, u)
}

// matProduct is a [n, k] · b [k, m], row-major.
func matProduct(a, b []float64, n, k, m int) []float64 {
	out := make([]float64, n*m)
	for i := range n {
		for p := range k {
			aip := a[i*k+p]
			for j := range m {
				out[i*m+j] += aip * b[p*m+j]
			}
		}
	}
	return out
}

// factorValues returns a factor of LoHa or LoKr, whole or the product of
// its pair, row-major.
func factorValues(whole, a, b *nn.Param) []float64 {
	if whole != nil {
		return nn.Float64s(whole.Value)
	}
	s, t := a.Value.Shape(), b.Value.Shape()
	return matProduct(nn.Float64s(a.Value), nn.Float64s(b.Value), s[0], s[1], t[1])
}

// deltaMerger folds each layer's dense update into its base weight and
// zeroes the factor that starts at zero, so the hooks add nothing; it
// keeps copies of both, so Unmerge restores them exactly.
type deltaMerger struct {
	m      *model.Model
	method string
	order  []string
	delta  func(name string) []float64 // ΔW [out, in]
	zero   func(name string) *nn.Param
	saved  map[*nn.Param][]float64
}

func (dm *deltaMerger) Merge() error {
	if dm.saved != nil {
		return errors.New("methods: " + dm.method + ": already merged")
	}
	dm.saved = map[*nn.Param][]float64{}
	for _, name := range dm.order {
		w, z := dm.m.Param(name+".weight"), dm.zero(name)
		in, out := linearDims(dm.m, name)
		d := dm.delta(name)
		dm.saved[w], dm.saved[z] = nn.Float64s(w.Value), nn.Float64s(z.Value)
		addTo(w, transposed(d, out, in)) // W is stored [in, out]
		SetValues(z, make([]float64, z.Size()))
	}
	return nil
}

func (dm *deltaMerger) Unmerge() error { return restore(&dm.saved, dm.method) }
