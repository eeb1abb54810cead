package methods

import (
	"testing"

	"github.com/peftbench/peftbench/model"
	"gorgonia.org/tensor"
)

func TestLoRACount(t *testing.T) {
	// r·(d_in + d_out) per targeted layer.
	checkCount(t, "lora", map[string]any{"rank": 2}, func(c model.Config) int {
		return c.Layers * 2 * 2 * (c.DModel + c.DModel) // q and v
	})
	checkCount(t, "lora", map[string]any{"rank": 3, "targets": []any{"attn.*", "fc"}}, func(c model.Config) int {
		return c.Layers * 3 * (4*(2*c.DModel) + (c.DModel + c.DFF))
	})
	checkCount(t, "lora", map[string]any{"rank": 1, "targets": "h.0.mlp.proj"}, func(c model.Config) int {
		return 1 * (c.DFF + c.DModel)
	})
}

func TestLoRARejects(t *testing.T) {
	checkRejects(t, "lora", map[string]map[string]any{
		"rank":    {"rank": 0},
		"targets": {"targets": "attn.z"},
		"alpha":   {"alpha": "big"},
		"dropout": {"dropout": 1.5},
		"colour":  {"colour": 3},
	})
	// A rank beyond the layer's smaller side.
	checkRejects(t, "lora", map[string]map[string]any{"rank": {"rank": 9}})
}

func TestFullCount(t *testing.T) {
	checkCount(t, "full", nil, func(c model.Config) int {
		d, f := c.DModel, c.DFF
		return c.Vocab*d + c.Context*d + c.Layers*(4*(d*d+d)+(d*f+f)+(f*d+d)+4*d) + 2*d
	})
}

// LoRA's output on hand-computed cases, in the paper's notation (Hu et al.,
// 2021, eq. 3): h = W₀x + (alpha/r)·B·A·x, with W₀ [out, in], A [r, in] and
// B [out, r]; for rows of inputs, y = x·W₀ᵀ + b + (alpha/r)·x·Aᵀ·Bᵀ. This
// package stores every linear weight transposed, [in, out] with y = x·W + b,
// and A and B likewise (lora_A [in, r], lora_B [r, out]), so the test
// writes the paper's matrices and stores their transposes. The second case
// is square with rank 2, so a transposed A or B still fits and only the
// values tell. Dropout is set, but an inference pass leaves it off. After
// merging, the plain layer must give the same outputs.
func TestLoRAOutputByHand(t *testing.T) {
	for _, tc := range []struct {
		layer    string
		rank     int
		alpha    float64
		x        [][]float64 // [n, in]
		w0, a, b [][]float64 // the paper's layout: [out, in], [r, in], [out, r]
		bias     []float64
		want     [][]float64
	}{{
		// alpha/r = 3. x·W₀ᵀ = (1, 2, 3), (0, −1, −1); x·Aᵀ = −1, 1;
		// x·Aᵀ·Bᵀ = (−2, 0, −1), (2, 0, 1).
		layer: "h.0.mlp.fc", rank: 1, alpha: 3,
		x:    [][]float64{{1, 2}, {0, -1}},
		w0:   [][]float64{{1, 0}, {0, 1}, {1, 1}},
		a:    [][]float64{{1, -1}},
		b:    [][]float64{{2}, {0}, {1}},
		bias: []float64{0.5, -0.5, 0},
		want: [][]float64{{-4.5, 1.5, 0}, {6.5, -1.5, 2}},
	}, {
		// alpha/r = 1/2. x·W₀ᵀ = (5, 2), (1, −1); x·Aᵀ = (1, 3), (3, 2);
		// x·Aᵀ·Bᵀ = (6, −1), (4, −3).
		layer: "h.1.attn.v", rank: 2, alpha: 1,
		x:    [][]float64{{1, 2}, {3, -1}},
		w0:   [][]float64{{1, 2}, {0, 1}},
		a:    [][]float64{{1, 0}, {1, 1}},
		b:    [][]float64{{0, 2}, {-1, 0}},
		bias: []float64{0, 0},
		want: [][]float64{{8, 1.5}, {3, -2.5}},
	}} {
		t.Run(tc.layer, func(t *testing.T) {
			scale := tc.alpha / float64(tc.rank)
			ref := matMul(tc.x, transpose(tc.w0))
			upd := matMul(matMul(tc.x, transpose(tc.a)), transpose(tc.b))
			for i := range ref {
				for j := range ref[i] {
					ref[i][j] += tc.bias[j] + scale*upd[i][j]
				}
			}
			checkRows(t, "the formula on the hand-computed case", ref, tc.want)

			base := newBase(t, tiny, tensor.Float64)
			m := base.Model
			a := attach(t, base, "lora", map[string]any{"targets": tc.layer, "rank": tc.rank, "alpha": tc.alpha, "dropout": 0.5})
			setLowRank(t, m, a, tc.layer, tc.w0, tc.bias, tc.a, tc.b)
			checkRows(t, "LoRA's output", throughLinear(t, m, tc.layer, tc.x, a.Hooks...), tc.want)

			if err := a.Merger.Merge(); err != nil {
				t.Fatal(err)
			}
			checkRows(t, "the merged layer's output", throughLinear(t, m, tc.layer, tc.x), tc.want)
			if err := a.Merger.Unmerge(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
