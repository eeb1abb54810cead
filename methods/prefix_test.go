package methods

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestPrefixCount(t *testing.T) {
	// Stored prefix: a key and a value [L, d] per layer.
	checkCount(t, "prefix", nil, func(c model.Config) int { return 2 * c.Layers * 8 * c.DModel })
	checkCount(t, "prefix", map[string]any{"length": 3}, func(c model.Config) int { return 2 * c.Layers * 3 * c.DModel })
	// The hidden width is unused without projection.
	checkCount(t, "prefix", map[string]any{"length": 3, "hidden": 7}, func(c model.Config) int { return 2 * c.Layers * 3 * c.DModel })
	// With projection: E [L, d], Linear(d, h), then 2·layers Linear(h, d)
	// heads (one Linear(h, 2·layers·d) in column blocks).
	mlp := func(L, h int) func(c model.Config) int {
		return func(c model.Config) int {
			d := c.DModel
			return L*d + (d*h + h) + 2*c.Layers*(h*d+d)
		}
	}
	checkCount(t, "prefix", map[string]any{"length": 3, "projection": true, "hidden": 5}, mlp(3, 5))
	checkCount(t, "prefix", map[string]any{"projection": true}, mlp(8, 64))
}

func TestPrefixRejects(t *testing.T) {
	checkRejects(t, "prefix", map[string]map[string]any{
		"length":     {"length": 0},
		"hidden":     {"hidden": 0, "projection": true},
		"projection": {"projection": "yes"},
		"colour":     {"colour": 3},
	})
	// shapeA's context is 12.
	checkRejects(t, "prefix", map[string]map[string]any{"length": {"length": 12}})
	checkRejects(t, "prefix", map[string]map[string]any{"length": {"length": 13, "projection": true}})
	attach(t, newBase(t, shapeA, tensor.Float32), "prefix", map[string]any{"length": 11})
}

// The shared gradient check runs the default (stored prefix); this one
// runs the reparameterisation MLP.
func TestPrefixProjectionGradient(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	checkGradient(t, base, attach(t, base, "prefix", map[string]any{"length": 3, "projection": true, "hidden": 5}), 7)
}

// The MLP's shared first layer is in each program once, though the model
// asks for the prefix once per layer, and each graph caches its own.
// (gorgonia merges identical nodes, so the op counts alone would hold
// without the cache too; the cache spares rebuilding the layer, and
// len(h.hidden) shows it is filled once per graph.)
func TestPrefixMLPOncePerGraph(t *testing.T) {
	c := shapeB
	base := newBase(t, c, tensor.Float32)
	a := attach(t, base, "prefix", map[string]any{"length": 2, "projection": true, "hidden": 6})
	h := a.Hooks[0].(*prefixHook)
	for n := 1; n <= 2; n++ {
		g := nn.NewGraph(tensor.Float32)
		g.Training = n == 2
		lm, err := base.Model.BuildLM(g, 2, 5, a.Hooks...)
		if err != nil {
			t.Fatal(err)
		}
		loss := lm.Loss
		if n == 1 {
			loss = nil // inference: forward ops only
		}
		p, err := nn.Compile(g, loss, lm.Logits)
		if err != nil {
			t.Fatal(err)
		}
		counts := p.OpCounts()
		// 6 per block in the model, the MLP's first layer, 2 heads a layer.
		if got, want := counts["Linear"], 6*c.Layers+1+2*c.Layers; got != want {
			t.Errorf("graph %d: %d Linear ops, want %d", n, got, want)
		}
		if counts["Tanh"] != 1 {
			t.Errorf("graph %d: %d Tanh ops, want 1", n, counts["Tanh"])
		}
		if n == 2 && counts["TanhGrad"] != 1 {
			t.Errorf("graph %d: %d TanhGrad ops, want 1", n, counts["TanhGrad"])
		}
		if len(h.hidden) != n {
			t.Errorf("after %d graphs the hook caches %d hidden layers", n, len(h.hidden))
		}
		if hid := h.hidden[g]; hid == nil || hid.Shape()[0] != 2 || hid.Shape()[1] != 6 {
			t.Errorf("graph %d: cached hidden layer %v, want [2, 6]", n, hid)
		}
		p.Close()
	}
}

// tokenLogits runs one sequence of ids and returns its logits.
func tokenLogits(t *testing.T, m *model.Model, ids []int, hooks ...model.Hook) []float64 {
	t.Helper()
	g := nn.NewGraph(m.Params[0].Value.Dtype())
	f, err := m.Build(g, 1, len(ids), hooks...)
	if err != nil {
		t.Fatal(err)
	}
	f.IDs.SetInts(ids)
	p, err := nn.Compile(g, nil, f.Logits)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	return nn.Float64s(p.Value(f.Logits))
}

// Every query attends to the prefix. A prefix whose keys dominate every
// score takes all the attention: each position then reads only the
// prefix's values, so no position sees the tokens before it, and the
// logits after a changed token stay put.
func TestPrefixDominates(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	m, v := base.Model, shapeA.Vocab
	ids1, ids2 := []int{1, 2, 3, 4, 5}, []int{7, 2, 3, 4, 5}
	sameAfterFirst := func(hooks ...model.Hook) float64 {
		a, b := tokenLogits(t, m, ids1, hooks...), tokenLogits(t, m, ids2, hooks...)
		return maxDiff(a[v:], b[v:])
	}
	if d := sameAfterFirst(); d < 1e-6 {
		t.Fatalf("without a prefix, changing the first token moves later logits by only %.3g", d)
	}
	plain := tokenLogits(t, m, ids1)

	a := attach(t, base, "prefix", map[string]any{"length": 2})
	if d := maxDiff(plain, tokenLogits(t, m, ids1, a.Hooks...)); d < 1e-6 {
		t.Fatalf("the prefix moves the logits by only %.3g", d)
	}
	// Keys c·u and −c·u: in every head one of them scores |q·u|·c, far
	// above any real key. Both rows carry the same value, so whichever
	// wins, the attention output is that value.
	h := a.Hooks[0].(*prefixHook)
	rng := rand.New(rand.NewPCG(8, 8))
	d := shapeA.DModel
	for i := range shapeA.Layers {
		keys, vals := make([]float64, 2*d), make([]float64, 2*d)
		for j := range d {
			u := rng.NormFloat64()
			keys[j], keys[d+j] = 1e6*u, -1e6*u
			vals[j] = rng.NormFloat64()
			vals[d+j] = vals[j]
		}
		SetValues(h.keys[i], keys)
		SetValues(h.values[i], vals)
	}
	if d := sameAfterFirst(a.Hooks...); d > 1e-9 {
		t.Fatalf("with a dominant prefix, changing the first token still moves later logits by %.3g", d)
	}
	if d := maxDiff(plain, tokenLogits(t, m, ids1, a.Hooks...)); d < 1e-6 {
		t.Fatalf("the dominant prefix moves the logits by only %.3g", d)
	}
}

// Prefix tuning's output on hand-chosen weights, through the whole model.
// In every layer each query attends to L learned key and value rows of
// that layer's own besides its causal past (Li & Liang, 2021, in the deep
// form of P-tuning v2): with the layer's q, k and v rows,
//
//	o_t = Σ_j softmax_j(q_t·κ_j/√d_head)·ν_j,  κ = [P_k; k_0 … k_t], ν = [P_v; v_0 … v_t].
//
// The model is set so that this is all a block does: embeddings are zero
// and ln_1's gain is zero, so every position enters layer i's attention as
// ln_1's bias a_i whatever came before; W_o is the identity and the MLP
// gives zero (ln_2 all zero, fc zero, GELU(0) = 0), so block i adds exactly
// its attention output to the residual stream and Hidden[i] = o⁰ + … + oⁱ.
// Each layer's prefix differs, and keys from values, so the prefix of the
// wrong layer, or keys and values swapped, give other numbers. With
// projection the prefix is P = tanh(E·W_fc + b_fc)·W_head + b_head, one
// head per layer and per key or value (HF PEFT's prefix_projection).
func TestPrefixOutputByHand(t *testing.T) {
	const L = 2
	// Per layer: ln_1's bias, then W_q, W_k, W_v ([in, out]: q = a·W_q).
	// Layer 0: q = (1, 1), k = (1, 0), v = (0, 1); layer 1: q = (0, 2),
	// k = (1, 0), v = (3, −1).
	blocks := []struct {
		a          []float64
		wq, wk, wv [][]float64
	}{
		{[]float64{1, 0}, [][]float64{{1, 1}, {0, 0}}, [][]float64{{1, 0}, {0, 1}}, [][]float64{{0, 1}, {0, 0}}},
		{[]float64{0, 1}, [][]float64{{0, 0}, {0, 2}}, [][]float64{{0, 0}, {1, 0}}, [][]float64{{0, 0}, {3, -1}}},
	}
	// The stored prefix, per layer: keys and values [L, d].
	storedK := [][][]float64{{{2, 0}, {0, -1}}, {{0, 1}, {1, 1}}}
	storedV := [][][]float64{{{1, 0}, {2, 2}}, {{-1, 0}, {0, 4}}}
	// The projection: E [L, d], W_fc [d, hidden], b_fc, and per layer the
	// key and value heads [hidden, d] with their biases.
	emb := [][]float64{{1, 0}, {0, 1}}
	fcW, fcB := [][]float64{{0.5, 0}, {0, -1}}, []float64{0, 0.5}
	headW := [][][]float64{{{2, 0}, {0, 1}}, {{0, 1}, {1, 0}}, {{1, 1}, {0, 0}}, {{1, 0}, {0, 3}}} // key 0, value 0, key 1, value 1
	headB := [][]float64{{0, 0}, {1, 0}, {0, 1}, {0, -1}}

	for _, projection := range []bool{false, true} {
		t.Run(fmt.Sprintf("projection=%v", projection), func(t *testing.T) {
			base := newBase(t, tiny, tensor.Float64)
			m := base.Model
			for _, p := range m.Params {
				SetValues(p, make([]float64, p.Size()))
			}
			for i, b := range blocks {
				h := fmt.Sprintf("h.%d.", i)
				setRows(t, m.Param(h+"ln_1.bias"), b.a)
				setRows(t, m.Param(h+"attn.q.weight"), b.wq...)
				setRows(t, m.Param(h+"attn.k.weight"), b.wk...)
				setRows(t, m.Param(h+"attn.v.weight"), b.wv...)
				setRows(t, m.Param(h+"attn.o.weight"), []float64{1, 0}, []float64{0, 1})
			}
			raw := map[string]any{"length": L}
			if projection {
				raw["projection"], raw["hidden"] = true, 2
			}
			a := attach(t, base, "prefix", raw)

			pk, pv := storedK, storedV
			if !projection {
				for i := range blocks {
					setRows(t, weight(t, m, a, fmt.Sprintf("prefix.h.%d.key", i)), storedK[i]...)
					setRows(t, weight(t, m, a, fmt.Sprintf("prefix.h.%d.value", i)), storedV[i]...)
				}
			} else {
				setRows(t, weight(t, m, a, "prefix.embedding"), emb...)
				setRows(t, weight(t, m, a, "prefix.mlp.fc.weight"), fcW...)
				setRows(t, weight(t, m, a, "prefix.mlp.fc.bias"), fcB)
				hid := matMul(emb, fcW)
				for r := range hid {
					for c := range hid[r] {
						hid[r][c] = math.Tanh(hid[r][c] + fcB[c])
					}
				}
				pk, pv = nil, nil
				for i := range blocks {
					for j, kv := range []string{"key", "value"} {
						w, b := headW[2*i+j], headB[2*i+j]
						setRows(t, weight(t, m, a, fmt.Sprintf("prefix.h.%d.%s.weight", i, kv)), w...)
						setRows(t, weight(t, m, a, fmt.Sprintf("prefix.h.%d.%s.bias", i, kv)), b)
						p := matMul(hid, w)
						for r := range p {
							for c := range p[r] {
								p[r][c] += b[c]
							}
						}
						if kv == "key" {
							pk = append(pk, p)
						} else {
							pv = append(pv, p)
						}
					}
				}
			}

			// The formula, layer by layer, summed as the residual stream sums.
			const B, T = 2, 2
			scale := 1 / math.Sqrt(float64(tiny.DModel/tiny.Heads))
			var want [][][]float64 // per layer, rows b·T+t
			sum := make([][]float64, T)
			for i, blk := range blocks {
				q := matMul([][]float64{blk.a}, blk.wq)[0]
				k := matMul([][]float64{blk.a}, blk.wk)[0]
				v := matMul([][]float64{blk.a}, blk.wv)[0]
				var rows [][]float64
				for pos := range T {
					keys, vals := append([][]float64{}, pk[i]...), append([][]float64{}, pv[i]...)
					for range pos + 1 { // every position so far has the same k and v
						keys, vals = append(keys, k), append(vals, v)
					}
					o := attend(q, keys, vals, scale)
					if sum[pos] == nil {
						sum[pos] = make([]float64, len(o))
					}
					for c := range o {
						sum[pos][c] += o[c]
					}
					rows = append(rows, append([]float64(nil), sum[pos]...))
				}
				want = append(want, append(rows, rows...)) // both sequences alike
			}

			g := nn.NewGraph(tensor.Float64)
			f, err := m.Build(g, B, T, a.Hooks...)
			if err != nil {
				t.Fatal(err)
			}
			p, err := nn.Compile(g, nil, f.Hidden...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
			for i, h := range f.Hidden {
				var got [][]float64
				for v := nn.Float64s(p.Value(h)); len(v) > 0; v = v[tiny.DModel:] {
					got = append(got, v[:tiny.DModel])
				}
				checkRows(t, fmt.Sprintf("hidden state after block %d", i), got, want[i])
			}
		})
	}
}

// attend is one query's attention output: the softmax of its scaled
// scores against keys, weighting values.
func attend(q []float64, keys, vals [][]float64, scale float64) []float64 {
	scores := make([]float64, len(keys))
	top := math.Inf(-1)
	for j, k := range keys {
		for c := range q {
			scores[j] += q[c] * k[c] * scale
		}
		top = math.Max(top, scores[j])
	}
	total := 0.0
	for j := range scores {
		scores[j] = math.Exp(scores[j] - top)
		total += scores[j]
	}
	out := make([]float64, len(vals[0]))
	for j, v := range vals {
		for c := range out {
			out[c] += scores[j] / total * v[c]
		}
	}
	return out
}
