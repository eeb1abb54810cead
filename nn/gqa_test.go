package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// attnGraph builds softmax(QKᵀ/√dh)·V for q, k and v on graph g and
// returns the probabilities and the output.
func attnGraph(t testing.TB, g *Graph, s AttnShape, q, k, v *Param) (probs, y *G.Node) {
	t.Helper()
	probs, err := AttnProbs(g.Param(q), g.Param(k), s)
	must(t, err)
	y, err = AttnMix(probs, g.Param(v), s)
	must(t, err)
	return probs, y
}

func gqaGraph(s AttnShape, dh int) buildFn {
	return func(t testing.TB, g *Graph, rng *rand.Rand) *G.Node {
		kv := s.kvHeads()
		q := randParamOf(rng, g.Dtype, "q", true, 1.5, s.B*s.T, s.H*dh)
		k := randParamOf(rng, g.Dtype, "k", true, 1.5, s.B*s.S, kv*dh)
		v := randParamOf(rng, g.Dtype, "v", true, 1, s.B*s.S, kv*dh)
		_, y := attnGraph(t, g, s, q, k, v)
		return y
	}
}

func TestGQARejectsUngroupedHeads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := NewGraph(tensor.Float64)
	q := g.Param(randParam(rng, "q", false, 1, 2*3, 4*2))
	k := g.Param(randParam(rng, "k", false, 1, 2*3, 3*2))
	p := g.Param(randParam(rng, "p", false, 1, 2*4*3, 3))
	for _, s := range []AttnShape{{B: 2, T: 3, S: 3, H: 4, KVH: 3}, {B: 2, T: 3, S: 3, H: 4, KVH: 8}, {B: 2, T: 3, S: 3, H: 4, KVH: -2}} {
		if _, err := AttnProbs(q, k, s); err == nil || !strings.Contains(err.Error(), "KVH must divide H") {
			t.Errorf("AttnProbs with %d query and %d key/value heads: error %v", s.H, s.KVH, err)
		}
		if _, err := AttnMix(p, k, s); err == nil || !strings.Contains(err.Error(), "KVH must divide H") {
			t.Errorf("AttnMix with %d query and %d key/value heads: error %v", s.H, s.KVH, err)
		}
	}
	// Keys as wide as the queries, for a shape of 2 key/value heads.
	if _, err := AttnProbs(q, q, AttnShape{B: 2, T: 3, S: 3, H: 4, KVH: 2}); err == nil {
		t.Error("keys of 4 heads for a shape of 2: no error")
	}
}

// KVH equal to H is multi-head attention, bit for bit the path of KVH 0,
// which every caller written before KVH existed takes.
func TestGQAWithAllHeadsIsMultiHead(t *testing.T) {
	s, dh := AttnShape{B: 4, T: 32, S: 40, H: 4}, 16
	wantOut, wantLoss, wantGrads := runBits(t, gqaGraph(s, dh))
	s.KVH = s.H
	out, loss, grads := runBits(t, gqaGraph(s, dh))
	if i, ok := sameBits(out, wantOut); !ok {
		t.Errorf("output[%d] = %v with KVH = H, %v with KVH 0", i, out[i], wantOut[i])
	}
	if loss != wantLoss {
		t.Errorf("loss %v with KVH = H, %v with KVH 0", math.Float64frombits(loss), math.Float64frombits(wantLoss))
	}
	for j := range wantGrads {
		if i, ok := sameBits(grads[j], wantGrads[j]); !ok {
			t.Errorf("gradient %d[%d] = %v with KVH = H, %v with KVH 0", j, i, grads[j][i], wantGrads[j][i])
		}
	}
}

// repeatHeads is HF's repeat_kv on a [B·S, KVH·dh] matrix: the columns of
// key/value head j are copied to heads j·group .. (j+1)·group−1.
func repeatHeads(x []float64, rows, kvh, group, dh int) []float64 {
	out := make([]float64, rows*kvh*group*dh)
	for r := 0; r < rows; r++ {
		for h := 0; h < kvh*group; h++ {
			copy(out[(r*kvh*group+h)*dh:(r*kvh*group+h+1)*dh], x[(r*kvh+h/group)*dh:(r*kvh+h/group+1)*dh])
		}
	}
	return out
}

// sumHeads is the adjoint of repeatHeads: the gradient of a repeated
// matrix summed back onto the heads it was copied from.
func sumHeads(x []float64, rows, kvh, group, dh int) []float64 {
	out := make([]float64, rows*kvh*dh)
	for r := 0; r < rows; r++ {
		for h := 0; h < kvh*group; h++ {
			for i := 0; i < dh; i++ {
				out[(r*kvh+h/group)*dh+i] += x[(r*kvh*group+h)*dh+i]
			}
		}
	}
	return out
}

// Grouped-query attention equals multi-head attention on keys and values
// with their heads repeated (HF's repeat_kv), forward and backward: the
// gradient of a shared head is the sum of its copies' gradients.
func TestGQAEqualsRepeatedHeads(t *testing.T) {
	for _, kvh := range []int{1, 2, 3} {
		s, dh := AttnShape{B: 2, T: 4, S: 7, H: 6, KVH: kvh}, 3
		group := s.H / kvh
		rng := rand.New(rand.NewPCG(3, uint64(kvh)))
		q := randParam(rng, "q", true, 1.5, s.B*s.T, s.H*dh)
		k := randParam(rng, "k", true, 1.5, s.B*s.S, kvh*dh)
		v := randParam(rng, "v", true, 1, s.B*s.S, kvh*dh)
		kRep, vRep := randParam(rng, "k", true, 0, s.B*s.S, s.H*dh), randParam(rng, "v", true, 0, s.B*s.S, s.H*dh)
		copy(kRep.F64(), repeatHeads(k.F64(), s.B*s.S, kvh, group, dh))
		copy(vRep.F64(), repeatHeads(v.F64(), s.B*s.S, kvh, group, dh))
		w, b := randParam(rng, "head.w", false, 0.5, s.H*dh, 5), randParam(rng, "head.b", false, 0.5, 5)
		ids, ws := make([]int, s.B*s.T), make([]float64, s.B*s.T)
		for i := range ids {
			ids[i], ws[i] = rng.IntN(5), float64(1+rng.IntN(2))
		}
		run := func(s AttnShape, k, v *Param) (*Program, *G.Node, *G.Node) {
			g := NewGraph(tensor.Float64)
			probs, y := attnGraph(t, g, s, q, k, v)
			logits, err := Linear(y, g.Param(w), g.Param(b))
			must(t, err)
			tg, m := g.IntInput("t", len(ids)), g.FloatInput("m", len(ids))
			tg.SetInts(ids)
			m.SetFloats(ws)
			loss, err := CrossEntropy(logits, tg.Node, m.Node)
			must(t, err)
			p, err := Compile(g, loss, probs, y)
			must(t, err)
			must(t, p.Run())
			return p, probs, y
		}
		gqa, gp, gy := run(s, k, v)
		mha, mp, my := run(AttnShape{B: s.B, T: s.T, S: s.S, H: s.H}, kRep, vRep)
		const tol = 1e-13
		nearAll(t, "probabilities", Float64s(gqa.Value(gp)), Float64s(mha.Value(mp)), tol)
		nearAll(t, "output", Float64s(gqa.Value(gy)), Float64s(mha.Value(my)), tol)
		nearAll(t, "loss", []float64{gqa.LossValue()}, []float64{mha.LossValue()}, tol)
		nearAll(t, "dq", gqa.Grad(0), mha.Grad(0), tol)
		nearAll(t, "dk", gqa.Grad(1), sumHeads(mha.Grad(1), s.B*s.S, kvh, group, dh), tol)
		nearAll(t, "dv", gqa.Grad(2), sumHeads(mha.Grad(2), s.B*s.S, kvh, group, dh), tol)
	}
}

// The finite-difference check, for groups of 2 and 3 query heads per
// key/value head and for a single key/value head (multi-query attention),
// with a prefix of keys; the ops split by heads, so B·KVH ≥ 2 already
// splits the key and value gradients into several ranges.
func TestGQAGradient(t *testing.T) {
	for _, s := range []AttnShape{{B: 2, T: 3, S: 5, H: 4, KVH: 2}, {B: 2, T: 4, S: 4, H: 6, KVH: 2}, {B: 3, T: 3, S: 5, H: 3, KVH: 1}} {
		chunked(t, "key heads", s.B*s.kvHeads(), 1)
		rng := rand.New(rand.NewPCG(5, uint64(s.H)))
		g := NewGraph(tensor.Float64)
		y := gqaGraph(s, 2)(t, g, rng)
		gradCheckProbes(t, g, lossOf(t, g, rng, y), rng, 0)
	}
}

func TestGQARunAllocatesNothing(t *testing.T) {
	s, dh := AttnShape{B: 2, T: 16, S: 20, H: 4, KVH: 2}, 8
	rng := rand.New(rand.NewPCG(7, 8))
	g := NewGraph(tensor.Float32)
	checkNoAllocs(t, g, gqaGraph(s, dh)(t, g, rng))
}

func TestGQADoesNotDependOnWorkers(t *testing.T) {
	checkWorkersBits(t, gqaGraph(AttnShape{B: 4, T: 64, S: 72, H: 8, KVH: 2}, 16))
}
