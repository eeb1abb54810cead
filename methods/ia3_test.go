package methods

import (
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestIA3Count(t *testing.T) {
	// d_model for each of k and v, d_ff for ff, per layer.
	checkCount(t, "ia3", nil, func(c model.Config) int {
		return c.Layers * (2*c.DModel + c.DFF)
	})
	checkCount(t, "ia3", map[string]any{"targets": "ff"}, func(c model.Config) int {
		return c.Layers * c.DFF
	})
	checkCount(t, "ia3", map[string]any{"targets": []any{"v", "v"}}, func(c model.Config) int {
		return c.Layers * c.DModel
	})
}

func TestIA3Rejects(t *testing.T) {
	checkRejects(t, "ia3", map[string]map[string]any{
		"targets": {"targets": "q"},
		"rank":    {"rank": 4},
	})
	checkRejects(t, "ia3", map[string]map[string]any{"targets": {"targets": "attn.k"}})
	checkRejects(t, "ia3", map[string]map[string]any{"targets": {"targets": ""}})
}

// Every scale starts at exactly one, sized to what it scales: the outputs
// of k and v (d_model) and the input of mlp.proj (d_ff).
func TestIA3ScalesStartAtOne(t *testing.T) {
	base := newBase(t, shapeB, tensor.Float32)
	a := attach(t, base, "ia3", nil)
	if len(a.Own) != 3*shapeB.Layers {
		t.Fatalf("%d scale vectors, want %d", len(a.Own), 3*shapeB.Layers)
	}
	sizes := map[string]int{"attn.k": shapeB.DModel, "attn.v": shapeB.DModel, "mlp.proj": shapeB.DFF}
	for _, p := range a.Own {
		n, ok := 0, false
		for suffix, size := range sizes {
			if containsStr(p.Name, "."+suffix+".") {
				n, ok = size, true
			}
		}
		if !ok || p.Size() != n {
			t.Fatalf("%s has %d scales (want one of k, v, mlp.proj, sized %d)", p.Name, p.Size(), n)
		}
		for i, v := range p.F32() {
			if v != 1 {
				t.Fatalf("%s[%d] starts at %v", p.Name, i, v)
			}
		}
	}
	for _, p := range base.Model.Params {
		if p.Trainable {
			t.Fatalf("model weight %s left trainable", p.Name)
		}
	}
}

// Scaling k and v is the same as scaling W's columns and b, and scaling
// ff the same as scaling mlp.proj's rows (its bias untouched): set one
// scale per target and compare with the weights changed by hand, an
// account of the merge independent of the merger.
func TestIA3Placement(t *testing.T) {
	for _, tc := range []struct {
		target, layer string
		rows          bool
	}{{"k", "h.1.attn.k", false}, {"v", "h.0.attn.v", false}, {"ff", "h.1.mlp.proj", true}} {
		t.Run(tc.target, func(t *testing.T) {
			base := newBase(t, shapeA, tensor.Float64)
			a := attach(t, base, "ia3", map[string]any{"targets": tc.target})
			var l *nn.Param
			for _, p := range a.Own {
				if p.Name == tc.layer+".ia3_l" {
					l = p
				}
			}
			if l == nil {
				t.Fatalf("no scales for %s", tc.layer)
			}
			w, b := base.Model.Param(tc.layer+".weight"), base.Model.Param(tc.layer+".bias")
			bv := nn.Float64s(b.Value)
			for j := range bv {
				bv[j] = 0.05 * float64(j+1) // biases start at zero: give them a value
			}
			setAll(b, bv)
			const c = 2.5
			vals := nn.Float64s(l.Value)
			vals[1] = c
			setAll(l, vals)
			adapted := logits(t, base.Model, a.Hooks...)

			setAll(l, ones(len(vals)))
			in, out := linearDims(base.Model, tc.layer)
			wv := nn.Float64s(w.Value)
			for i := range in {
				for j := range out {
					if (tc.rows && i == 1) || (!tc.rows && j == 1) {
						wv[i*out+j] *= c
					}
				}
			}
			setAll(w, wv)
			if !tc.rows {
				bv[1] *= c
				setAll(b, bv)
			}
			if d := maxDiff(adapted, logits(t, base.Model)); d > 1e-12 {
				t.Fatalf("scaling %s differs from scaling the weights by %.3g", tc.target, d)
			}
			if d := maxDiff(adapted, logits(t, base.Model, a.Hooks...)); d > 1e-12 {
				t.Fatalf("with scales at one the hooks are not inert: %.3g", d)
			}
		})
	}
}
