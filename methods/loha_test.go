package methods

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestLoHaCount(t *testing.T) {
	// 2r·(in + out) per targeted layer.
	checkCount(t, "loha", map[string]any{"rank": 2}, func(c model.Config) int {
		return c.Layers * 2 * 2 * 2 * (c.DModel + c.DModel) // q and v
	})
	checkCount(t, "loha", map[string]any{"rank": 3, "targets": "fc,proj"}, func(c model.Config) int {
		return c.Layers * 2 * 3 * 2 * (c.DModel + c.DFF)
	})
}

func TestLoHaRejects(t *testing.T) {
	checkRejects(t, "loha", map[string]map[string]any{
		"rank":    {"rank": 0},
		"alpha":   {"alpha": -1},
		"targets": {"targets": "attn.z"},
		"dropout": {"dropout": 0.1}, // PEFT's LoHa has no input dropout
	})
}

// PEFT's reset_adapter_parameters: W1a, W1b and W2a uniform within
// ±1/√fan_in (fan_in their second dimension), W2b zero.
func TestLoHaInit(t *testing.T) {
	base := newBase(t, shapeB, tensor.Float64)
	a := attach(t, base, "loha", map[string]any{"rank": 4, "targets": "fc"})
	l := a.Hooks[0].(*lohaHook).layers["h.0.mlp.fc"]
	for _, c := range []struct {
		p     *nn.Param
		shape []int
		bound float64
	}{{l.w1a, []int{20, 4}, 0.5}, {l.w1b, []int{4, 12}, 1 / math.Sqrt(12)}, {l.w2a, []int{20, 4}, 0.5}, {l.w2b, []int{4, 12}, 0}} {
		if !slices.Equal(c.p.Value.Shape(), c.shape) {
			t.Errorf("%s is %v, want %v", c.p.Name, c.p.Value.Shape(), c.shape)
		}
		hi := maxAbs(nn.Float64s(c.p.Value))
		if hi > c.bound || (c.bound > 0 && hi < 0.8*c.bound) {
			t.Errorf("%s: largest |value| %.3f, want up to %.3f and near it", c.p.Name, hi, c.bound)
		}
	}
}

// LoHa's output by hand on mlp.fc (2→3), rank 1, alpha 2, in PEFT's
// [out, in] layout: W1a = (1, 2, −1)ᵀ, W1b = (1, 3) give W1a·W1b =
// ((1, 3), (2, 6), (−1, −3)); W2a = (2, 0, 1)ᵀ, W2b = (1, −1) give
// ((2, −2), (0, 0), (1, −1)); their Hadamard product times 2 is
// ΔW = ((4, −12), (0, 0), (−2, 6)). For x = (1, 2): ΔW·x = (−20, 0, 10),
// the base (1.5, 1.5, 3). For x = (0, −1): (12, 0, −6), the base
// (0.5, −1.5, −1). A plain product (W1a·W1b)·(W2a·W2b)ᵀ or a swapped
// layout gives other numbers.
func TestLoHaOutputByHand(t *testing.T) {
	base := newBase(t, tiny, tensor.Float64)
	m := base.Model
	name := "h.0.mlp.fc"
	a := attach(t, base, "loha", map[string]any{"targets": name, "rank": 1, "alpha": 2.0})
	setRows(t, weight(t, m, a, name+".weight"), transpose([][]float64{{1, 0}, {0, 1}, {1, 1}})...)
	setRows(t, weight(t, m, a, name+".bias"), []float64{0.5, -0.5, 0})
	setRows(t, weight(t, m, a, name+".hada_w1_a"), []float64{1}, []float64{2}, []float64{-1})
	setRows(t, weight(t, m, a, name+".hada_w1_b"), []float64{1, 3})
	setRows(t, weight(t, m, a, name+".hada_w2_a"), []float64{2}, []float64{0}, []float64{1})
	setRows(t, weight(t, m, a, name+".hada_w2_b"), []float64{1, -1})
	x := [][]float64{{1, 2}, {0, -1}}
	want := [][]float64{{-18.5, 1.5, 13}, {12.5, -1.5, -7}}
	checkRows(t, "LoHa's output", throughLinear(t, m, name, x, a.Hooks...), want)
	if err := a.Merger.Merge(); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "the merged layer's output", throughLinear(t, m, name, x), want)
	checkRows(t, "the merged layer's output with the hooks left on", throughLinear(t, m, name, x, a.Hooks...), want)
}

// Two rank-r products multiplied element-wise reach rank r², which a
// rank-r LoRA cannot: with random factors at r = 2 on a 12×12 layer, ΔW
// has rank 4.
func TestLoHaReachesRankSquared(t *testing.T) {
	base := newBase(t, shapeB, tensor.Float64)
	a := attach(t, base, "loha", map[string]any{"rank": 2, "targets": "h.0.attn.q"})
	perturb(a, base.Model, rand.New(rand.NewPCG(7, 7)))
	d := a.Hooks[0].(*lohaHook).layers["h.0.attn.q"].delta()
	if got := numericRank(d, 12, 12); got != 4 {
		t.Errorf("ΔW has rank %d, want r² = 4", got)
	}
}

// LoHa's gradient at a rank and alpha apart from the defaults, on every
// kind of layer of GPT-2 and of Llama.
func TestLoHaGradient(t *testing.T) {
	for _, cfg := range []model.Config{shapeB, architectures[1].cfg} {
		base := newBase(t, cfg, tensor.Float64)
		checkGradient(t, base, attach(t, base, "loha", map[string]any{"rank": 3, "alpha": 5.0, "targets": "*"}), 2)
	}
}

// numericRank is the rank of a rows×cols matrix by Gaussian elimination
// with partial pivoting, treating pivots below 1e-9 of the largest entry
// as zero.
func numericRank(v []float64, rows, cols int) int {
	a := slices.Clone(v)
	tol := 1e-9 * maxAbs(a)
	rank := 0
	for c := 0; c < cols && rank < rows; c++ {
		p := rank
		for i := rank; i < rows; i++ {
			if math.Abs(a[i*cols+c]) > math.Abs(a[p*cols+c]) {
				p = i
			}
		}
		if math.Abs(a[p*cols+c]) <= tol {
			continue
		}
		for j := range cols {
			a[p*cols+j], a[rank*cols+j] = a[rank*cols+j], a[p*cols+j]
		}
		for i := rank + 1; i < rows; i++ {
			f := a[i*cols+c] / a[rank*cols+c]
			for j := c; j < cols; j++ {
				a[i*cols+j] -= f * a[rank*cols+j]
			}
		}
		rank++
	}
	return rank
}

// PEFT's LoHa and LoKr wrap torch.nn.Linear, not GPT-2's Conv1D: on GPT-2
// SavePEFT says so with ErrNoPEFT (which a trial skips) and writes nothing.
func TestLyCORISNoPEFTOnGPT2(t *testing.T) {
	for _, name := range []string{"loha", "lokr"} {
		base := newBase(t, shapeA, tensor.Float32)
		a := attach(t, base, name, nil)
		dir := filepath.Join(t.TempDir(), "adapter")
		err := a.SavePEFT(base.Model, "test", dir)
		if !errors.Is(err, ErrNoPEFT) || !strings.Contains(err.Error(), "Conv1D") {
			t.Errorf("%s on GPT-2: error %v, want ErrNoPEFT naming Conv1D", name, err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s on GPT-2: %s was written", name, dir)
		}
	}
}
