package methods

import (
	"fmt"
	"math"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gonum.org/v1/gonum/mat"
)

// LoRA's initialisations from the base weight. Both take the principal part
// of W into the adapter and leave the rest in the base, so the model at
// start is the base model (to rounding) and merging gives it back:
//
//   - PiSSA (Meng et al., 2024, arXiv 2404.02948): W = U·S·Vᵀ; the adapter
//     starts at the top r singular triplets, A = √(S_r/s)·V_rᵀ and
//     B = U_r·√(S_r/s), and the base keeps W − s·B·A (HF PEFT divides S by
//     the scale s so that s·B·A is exactly the principal part);
//   - OLoRA (Büyükakyüz, 2024, arXiv 2406.01775): W = Q·R; B = Q[:, :r],
//     A = R[:r, :], and the base keeps W − s·B·A (as HF PEFT's olora_init).
//
// The papers write W as [out, in]; this package stores Wᵀ [in, out] and
// A, B transposed, so what is stored is lora_A = Aᵀ and lora_B = Bᵀ.

// loraInits are the choices of LoRA's "init" hyper-parameter.
var loraInits = []string{"kaiming", "pissa", "olora"}

// initFromWeight overwrites the layer's A and B from the base weight of
// the named linear layer as init says and subtracts their update from
// that weight; it keeps the initial factors for the export (l.a0, l.b0).
func initFromWeight(m *model.Model, name string, l *loraLayer, init string) error {
	w := m.Param(name + ".weight")
	in, out := linearDims(m, name)
	r := l.a.Value.Shape()[1]
	// wt is the paper's W [out, in].
	wt := mat.NewDense(out, in, nil)
	vals := nn.Float64s(w.Value)
	for i := range in {
		for j := range out {
			wt.Set(j, i, vals[i*out+j])
		}
	}
	a := make([]float64, in*r)  // stored Aᵀ [in, r]
	b := make([]float64, r*out) // stored Bᵀ [r, out]
	switch init {
	case "pissa":
		var svd mat.SVD
		if !svd.Factorize(wt, mat.SVDThin) {
			return fmt.Errorf("field \"init\": the SVD of %s did not converge", name)
		}
		var u, v mat.Dense
		svd.UTo(&u) // [out, k]
		svd.VTo(&v) // [in, k]
		s := svd.Values(nil)
		for k := range r {
			root := math.Sqrt(s[k] / l.scale)
			for i := range in {
				a[i*r+k] = root * v.At(i, k)
			}
			for j := range out {
				b[k*out+j] = root * u.At(j, k)
			}
		}
	case "olora":
		q, rr := thinQR(wt)
		for k := range r {
			for i := range in {
				a[i*r+k] = rr.At(k, i)
			}
			for j := range out {
				b[k*out+j] = q.At(j, k)
			}
		}
	default:
		return fmt.Errorf("field \"init\": unknown initialisation %q", init)
	}
	SetValues(l.a, a)
	SetValues(l.b, b)
	// The stored factors, rounded to the model's dtype, are what the base
	// weight gives up.
	l.a0, l.b0 = nn.Float64s(l.a.Value), nn.Float64s(l.b.Value)
	delta := make([]float64, in*out)
	l.addUpdate(delta, l.b0)
	for i := range delta {
		delta[i] = -delta[i]
	}
	addTo(w, delta)
	return nil
}

// thinQR factors an m×n matrix as Q [m, k]·R [k, n], k = min(m, n), with
// Householder reflections (gonum's QR, which needs m ≥ n; for m < n it
// factors the first m columns and R = Qᵀ·W, as LAPACK's reduced QR gives).
func thinQR(w *mat.Dense) (q, r *mat.Dense) {
	m, n := w.Dims()
	k := min(m, n)
	var f mat.QR
	f.Factorize(w.Slice(0, m, 0, k))
	var full mat.Dense
	f.QTo(&full) // [m, m]
	q = mat.DenseCopyOf(full.Slice(0, m, 0, k))
	r = mat.NewDense(k, n, nil)
	r.Mul(q.T(), w)
	return q, r
}
