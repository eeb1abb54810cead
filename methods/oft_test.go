package methods

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// r·b(b−1)/2 per targeted layer, in·(b−1)/2; a block size above the
// input width is the width, one that does not divide it the nearest
// divisor, the lower on a tie (PEFT's adjust_oft_parameters).
func TestOFTCount(t *testing.T) {
	per := func(in, b int) int { return in / b * b * (b - 1) / 2 }
	checkCount(t, "oft", nil, func(c model.Config) int { // b = 32 > d_model: one block
		return c.Layers * 2 * per(c.DModel, c.DModel)
	})
	checkCount(t, "oft", map[string]any{"oft_block_size": 4, "targets": "fc,proj"}, func(c model.Config) int {
		return c.Layers * (per(c.DModel, 4) + per(c.DFF, 4))
	})
	checkCount(t, "oft", map[string]any{"r": 2, "oft_block_size": 0, "targets": "q"}, func(c model.Config) int {
		return c.Layers * per(c.DModel, c.DModel/2)
	})
	// 5 divides neither 8 nor 12: 4 is as near as 6 (12) and nearer than 8 (8).
	checkCount(t, "oft", map[string]any{"oft_block_size": 5, "targets": "fc"}, func(c model.Config) int {
		return c.Layers * per(c.DModel, 4)
	})
}

func TestOFTAdjust(t *testing.T) {
	for _, c := range []struct{ in, p, want int }{{12, 5, 4}, {12, 7, 6}, {8, 5, 4}, {20, 3, 2}, {20, 9, 10}, {8, 32, 8}, {16, 16, 16}, {13, 4, 1}} {
		if got := oftAdjust(c.in, c.p); got != c.want {
			t.Errorf("oftAdjust(%d, %d) = %d, want %d", c.in, c.p, got, c.want)
		}
	}
}

func TestOFTRejects(t *testing.T) {
	checkRejects(t, "oft", map[string]map[string]any{
		"r":                        {"r": 2},                        // beside the default block size
		"oft_block_size":           {"oft_block_size": 0},           // and r 0
		"module_dropout":           {"module_dropout": 0.1},         // PEFT's multiplicative dropout
		"coft":                     {"coft": true},                  // constrained OFT
		"block_share":              {"block_share": true},           // one shared block
		"use_cayley_neumann":       {"use_cayley_neumann": false},   // the exact solve
		"targets":                  {"targets": "attn.z"},           // no such layer
		"dropout":                  {"dropout": 0.1},                // OFT has no input dropout
		"rank":                     {"rank": 4},                     // OFT has no rank
		"eps":                      {"eps": -1.0},                   // out of range
		"num_cayley_neumann_terms": {"num_cayley_neumann_terms": 0}, // out of range
	})
}

// neumannR2 is the series' R for one 2×2 block, S = ((0, q), (−q, 0)):
// S² = −q²I, so I + 2S + 2S² + 2S³ + S⁴ = (1 − 2q² + q⁴)I + (2 − 2q²)S.
func neumannR2(q float64) [][]float64 {
	a, b := 1-2*q*q+q*q*q*q, (2-2*q*q)*q
	return [][]float64{{a, b}, {-b, a}}
}

// OFT's output by hand on mlp.fc (4→4), blocks of 2 at PEFT's default of
// five Neumann terms: q = (0.5, −0.25) give R1 = ((0.5625, 0.75),
// (−0.75, 0.5625)) and R2 = ((0.87890625, −0.46875), (0.46875,
// 0.87890625)) (the exact Cayley transform would give (0.6, 0.8) for the
// first: the series is PEFT's default, not the transform). W [in, out]
// swaps the two halves, so y = x·R·W + b differs from x·W·R + b: for
// x = (1, 2, 3, 4), x·R = (−0.9375, 1.875, 4.51171875, 2.109375).
func TestOFTOutputByHand(t *testing.T) {
	base := newBase(t, model.Config{Vocab: 3, Context: 4, DModel: 4, Layers: 1, Heads: 1, DFF: 4}, tensor.Float64)
	m := base.Model
	name := "h.0.mlp.fc"
	a := attach(t, base, "oft", map[string]any{"targets": name, "oft_block_size": 2})
	setRows(t, weight(t, m, a, name+".weight"), []float64{0, 0, 1, 0}, []float64{0, 0, 0, 1}, []float64{1, 0, 0, 0}, []float64{0, 1, 0, 0})
	setRows(t, weight(t, m, a, name+".bias"), []float64{0.5, 0, 0, -0.5})
	setRows(t, weight(t, m, a, name+".oft_R"), []float64{0.5}, []float64{-0.25})
	l := a.Hooks[0].(*oftHook).layers[name]
	for k, want := range [][][]float64{neumannR2(0.5), neumannR2(-0.25)} {
		r := l.rotations()[k]
		checkRows(t, "R's block", [][]float64{r[:2], r[2:]}, want)
	}
	checkRows(t, "R1 by hand", neumannR2(0.5), [][]float64{{0.5625, 0.75}, {-0.75, 0.5625}})
	x := [][]float64{{1, 2, 3, 4}, {0, 1, -1, 0}}
	want := [][]float64{{5.01171875, 2.109375, -0.9375, 1.375}, {-0.37890625, 0.46875, -0.75, 0.0625}}
	checkRows(t, "OFT's output", throughLinear(t, m, name, x, a.Hooks...), want)
	if err := a.Merger.Merge(); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "the merged layer's output", throughLinear(t, m, name, x), want)
	checkRows(t, "the merged layer's output with the hooks left on", throughLinear(t, m, name, x, a.Hooks...), want)
}

// OFT's gradient at block sizes, block counts and series lengths apart
// from the defaults, on every kind of layer of GPT-2 and of Llama.
func TestOFTGradient(t *testing.T) {
	for _, cfg := range []model.Config{shapeB, architectures[1].cfg} {
		for _, raw := range []map[string]any{
			{"oft_block_size": 4, "targets": "*"},
			{"r": 2, "oft_block_size": 0, "num_cayley_neumann_terms": 7, "targets": "*"},
			{"oft_block_size": 3, "num_cayley_neumann_terms": 2, "targets": "q,fc"},
		} {
			base := newBase(t, cfg, tensor.Float64)
			checkGradient(t, base, attach(t, base, "oft", raw), 4)
		}
	}
}

// After real training steps in float64, every block of R is what the
// series promises: R = (I + S)(I − S^p)(I − S)⁻¹ = C·(I − S^p) with C the
// Cayley transform, orthogonal, and S commuting with both, so
// RᵀR = (I − S^p)ᵀ(I − S^p) to rounding; RᵀR − I is then the truncation's
// (I − S^p)ᵀ(I − S^p) − I, small while |S| is. The graph's R, read back
// from the rotated identity, is the one rotations computes.
func TestOFTOrthogonalAfterTraining(t *testing.T) {
	for _, terms := range []int{5, 8} {
		base := newBase(t, shapeB, tensor.Float64)
		a := attach(t, base, "oft", map[string]any{"oft_block_size": 4, "targets": "q,fc", "num_cayley_neumann_terms": terms})
		trainSteps(t, base, a, 5, 3)
		h := a.Hooks[0].(*oftHook)
		var worst, drift, moved float64
		for _, name := range h.order {
			l := h.layers[name]
			b, p := l.b, len(l.coef)-1
			q := nn.Float64s(l.q.Value)
			moved = max(moved, maxAbs(q))
			for k, r := range l.rotations() {
				s := l.skew(q, k)
				sp := s
				for range p - 1 {
					sp = matProduct(sp, s, b, b, b)
				}
				m := make([]float64, b*b) // I − S^p
				for i := range m {
					m[i] = -sp[i]
				}
				for i := range b {
					m[i*b+i]++
				}
				got, want := matProduct(transposed(r, b, b), r, b, b, b), matProduct(transposed(m, b, b), m, b, b, b)
				worst = max(worst, maxDiff(got, want))
				for i := range b {
					got[i*b+i]--
				}
				drift = max(drift, maxAbs(got))
			}
			// The graph's R: the rotated identity rows.
			in, _ := linearDims(base.Model, name)
			eye := make([][]float64, in)
			for i := range eye {
				eye[i] = make([]float64, in)
				eye[i][i] = 1
			}
			rot := throughRotation(t, base.Model, h, name, eye)
			for k, r := range l.rotations() {
				for i := range b {
					if d := maxDiff(rot[k*b+i][k*b:(k+1)*b], r[i*b:(i+1)*b]); d > 1e-13 {
						t.Fatalf("%s: the graph's R differs from rotations() by %.3g", name, d)
					}
				}
			}
		}
		if moved == 0 {
			t.Fatal("training left q at zero")
		}
		if worst > 1e-12 {
			t.Errorf("%d terms: RᵀR differs from (I − S^p)ᵀ(I − S^p) by %.3g", terms, worst)
		}
		t.Logf("%d terms: largest |q| %.3g; |RᵀR − (I − S^p)ᵀ(I − S^p)| %.3g; |RᵀR − I| %.3g", terms, moved, worst, drift)
	}
}

// throughRotation runs only the input hook of the named layer on the rows
// of x.
func throughRotation(t *testing.T, m *model.Model, h *oftHook, name string, x [][]float64) [][]float64 {
	t.Helper()
	g := nn.NewGraph(tensor.Float64)
	xp := nn.NewParam("x", tensor.Float64, len(x), len(x[0]))
	setRows(t, xp, x...)
	c := &model.Ctx{Graph: g, Config: m.Config, B: 1, T: len(x), N: len(x)}
	y, err := h.HookLinearInput(c, name, g.Param(xp))
	if err != nil {
		t.Fatal(err)
	}
	p, err := nn.Compile(g, nil, y)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	v, cols := nn.Float64s(p.Value(y)), y.Shape()[1]
	out := make([][]float64, len(x))
	for i := range out {
		out[i] = v[i*cols : (i+1)*cols]
	}
	return out
}

// Merging in float64 gives the adapted model's logits to rounding, on
// GPT-2 and Llama, and Unmerge gives back the base weights bit for bit
// (the registry-wide check runs in float32).
func TestOFTMergeFloat64(t *testing.T) {
	for _, cfg := range []model.Config{shapeB, architectures[1].cfg} {
		base := newBase(t, cfg, tensor.Float64)
		a := attach(t, base, "oft", map[string]any{"oft_block_size": 4, "targets": "*"})
		perturb(a, base.Model, rand.New(rand.NewPCG(5, 5)))
		orig := map[*nn.Param][]float64{}
		for _, p := range base.Model.Params {
			orig[p] = nn.Float64s(p.Value)
		}
		adapted := logits(t, base.Model, a.Hooks...)
		if err := a.Merger.Merge(); err != nil {
			t.Fatal(err)
		}
		d := maxDiff(adapted, logits(t, base.Model))
		if d > 1e-12*(1+maxAbs(adapted)) {
			t.Errorf("merged logits differ from the adapted ones by %.3g", d)
		}
		if err := a.Merger.Unmerge(); err != nil {
			t.Fatal(err)
		}
		for p, was := range orig {
			if maxDiff(was, nn.Float64s(p.Value)) != 0 {
				t.Fatalf("%s not restored bit for bit", p.Name)
			}
		}
		t.Logf("%s: merged against adapted logits: %.3g", map[bool]string{true: "llama", false: "gpt2"}[cfg.Family == model.Llama], d)
	}
}

// PEFT's OFT wraps torch.nn.Linear, not GPT-2's Conv1D: on GPT-2 SavePEFT
// says so with ErrNoPEFT (which a trial skips) and writes nothing.
func TestOFTNoPEFTOnGPT2(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float32)
	a := attach(t, base, "oft", nil)
	dir := filepath.Join(t.TempDir(), "adapter")
	err := a.SavePEFT(base.Model, "test", dir)
	if !errors.Is(err, ErrNoPEFT) || !strings.Contains(err.Error(), "Conv1D") {
		t.Errorf("oft on GPT-2: error %v, want ErrNoPEFT naming Conv1D", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("oft on GPT-2: %s was written", dir)
	}
}
