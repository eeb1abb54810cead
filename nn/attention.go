package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// AttnShape fixes the layout of one attention call: B sequences of T
// queries attending to S keys each (S ≥ T: the first S−T keys are a prefix,
// as prefix tuning adds, visible to every query), H query heads of dh
// columns each, side by side.
//
// KVH is the number of key/value heads for grouped-query attention (Llama
// 2 70B, Llama 3, Qwen2, SmolLM2): keys and values are [B·S, KVH·dh] and
// query head h reads key/value head h/(H/KVH), as HF's repeat_kv lays
// them out. 0 means H (multi-head attention, where keys and values are as
// wide as queries).
//
// Window, when positive, is sliding-window attention (Mistral): query t
// sees only the Window keys ending at its own, prefix keys counted as the
// positions before the sequence (HF's mask kv_idx > q_idx − window).
// 0 means no window.
type AttnShape struct{ B, T, S, H, KVH, Window int }

// key names the shape in op names. Multi-head shapes keep the name they
// had before KVH existed, whether KVH is 0 or H: they are the same op.
func (a AttnShape) key() string {
	k := fmt.Sprintf("B%d,T%d,S%d,H%d", a.B, a.T, a.S, a.H)
	if a.kvHeads() != a.H {
		k += fmt.Sprintf(",KVH%d", a.KVH)
	}
	if a.Window > 0 {
		k += fmt.Sprintf(",W%d", a.Window)
	}
	return k
}

// kvHeads is the number of key/value heads.
func (a AttnShape) kvHeads() int {
	if a.KVH == 0 {
		return a.H
	}
	return a.KVH
}

// width is the number of columns of queries and of the attention output
// (H·dh) for keys or values of kvWidth (KVH·dh) columns.
func (a AttnShape) width(kvWidth int) int { return kvWidth / a.kvHeads() * a.H }

// check reports a shape whose heads do not group: every key/value head
// serves the same number of query heads.
func (a AttnShape) check() error {
	if a.H <= 0 || a.KVH < 0 || a.KVH > a.H || a.H%a.kvHeads() != 0 {
		return fmt.Errorf("nn: attention: %d query heads cannot share %d key/value heads (KVH must divide H)", a.H, a.KVH)
	}
	if a.Window < 0 {
		return fmt.Errorf("nn: attention: window %d is negative", a.Window)
	}
	return nil
}

// fit checks that q [B·T, H·dh] (or the attention output), with keys or
// values kv [B·S, KVH·dh], fit the shape.
func (a AttnShape) fit(q, kv tensor.Shape) bool {
	return q[0] == a.B*a.T && kv[0] == a.B*a.S && q[1]%a.H == 0 && kv[1] == q[1]/a.H*a.kvHeads() && a.S >= a.T
}

// visible is the number of keys query t may attend to: the prefix and the
// causal past including itself.
func (a AttnShape) visible(t int) int { return a.S - a.T + t + 1 }

// first is the first key query t may attend to: 0, or with a window the
// start of the Window keys that end at its own.
func (a AttnShape) first(t int) int {
	if a.Window > 0 {
		return max(0, a.visible(t)-a.Window)
	}
	return 0
}

// attnProbsOp computes causal softmax(Q·Kᵀ/√dh) for every batch and head,
// as a [B·H·T, S] matrix whose masked entries are exactly zero.
type attnProbsOp struct {
	opBase
	AttnShape
	t task
}

// AttnProbs returns the attention probabilities of q [B·T, H·dh] over
// k [B·S, KVH·dh]: row (b·H+h)·T+t holds query t's distribution in head h.
// Softmax is row-stable: each row's maximum is subtracted before exp.
func AttnProbs(q, k *G.Node, s AttnShape) (*G.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return G.ApplyOp(&attnProbsOp{opBase: opBase{"AttnProbs{" + s.key() + "}"}, AttnShape: s}, q, k)
}

func (op *attnProbsOp) Arity() int    { return 2 }
func (op *attnProbsOp) Type() hm.Type { return fnType(matT(), matT(), matT()) }
func (op *attnProbsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	q, k := shapeOf(in[0]), shapeOf(in[1])
	if err := op.check(); err != nil {
		return nil, err
	}
	if !op.fit(q, k) {
		return nil, fmt.Errorf("nn: %s: q %v and k %v do not fit", op.name, q, k)
	}
	return tensor.Shape{op.B * op.H * op.T, op.S}, nil
}
func (op *attnProbsOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *attnProbsOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, attnProbsDo[float32], attnProbsDo[float64])
}
func attnProbsDo[T Float](op *attnProbsOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], op.B*op.H*op.T, op.S)
	split(&op.t, op, attnProbsHeads[float32], attnProbsHeads[float64], in, out, op.B*op.H, 1)
	return out, nil
}

// attnProbsHeads computes the probabilities of heads [lo, hi) (index b·H+h).
// The attention ops split by heads; each head's products are one BLAS
// call, whichever worker runs it (cutting them into blocks, as gemmStrided
// cuts larger products, would only add calls run in turn), so their bits
// depend on the shapes alone.
func attnProbsHeads[T Float](t *task, _, lo, hi int) {
	op := t.op.(*attnProbsOp)
	Tq, S, H, group := op.T, op.S, op.H, op.H/op.kvHeads()
	d, dk := t.in[0].Shape()[1], t.in[1].Shape()[1]
	dh := d / H
	q, k, p := dense[T](t.in[0]), dense[T](t.in[1]), dense[T](t.out)
	scale := T(1 / math.Sqrt(float64(dh)))
	for bh := lo; bh < hi; bh++ {
		b, h := bh/H, bh%H
		blk := p[bh*Tq*S : (bh+1)*Tq*S]
		gemmBLAS(false, true, Tq, S, dh, scale, q[b*Tq*d+h*dh:], d, k[b*S*dk+h/group*dh:], dk, 0, blk, S)
		for t := 0; t < Tq; t++ {
			lo := op.first(t) // keys before a sliding window get exactly zero
			clear(blk[t*S : t*S+lo])
			softmaxPrefix(blk[t*S+lo:(t+1)*S], op.visible(t)-lo)
		}
	}
}

// softmaxPrefix turns row[:n] into probabilities and zeroes the rest.
func softmaxPrefix[T Float](row []T, n int) {
	if r, ok := asF32(row[:n]); ok {
		inv := float32(1 / expF32(r, r, maxF32(r), 1))
		for j := range r {
			r[j] *= inv
		}
		clear(row[n:])
		return
	}
	mx := row[0]
	for _, v := range row[1:n] {
		mx = max(mx, v)
	}
	var sum float64
	for j := range n {
		e := exp(row[j] - mx)
		row[j] = e
		sum += float64(e)
	}
	inv := T(1 / sum)
	for j := range n {
		row[j] *= inv
	}
	clear(row[n:])
}

func (op *attnProbsOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *attnProbsOp) SymDiff(in G.Nodes, p, g *G.Node) (G.Nodes, error) {
	var out G.Nodes
	for _, wrtK := range []bool{false, true} {
		gop := &attnProbsGradOp{opBase: opBase{fmt.Sprintf("AttnProbsGrad{%s,k=%v}", op.AttnShape.key(), wrtK)}, AttnShape: op.AttnShape, wrtK: wrtK}
		n, err := G.ApplyOp(gop, in[0], in[1], p, g)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// attnProbsGradOp maps the gradient of the probabilities to the gradient of
// q (or of k when wrtK): dS = P∘(dP − rowsum(dP∘P))/√dh, dq = dS·K,
// dk = dSᵀ·Q, head by head. A key head shared by a group of query heads
// gets the sum of their dSᵀ·Q.
type attnProbsGradOp struct {
	opBase
	noSymDiff
	AttnShape
	wrtK bool
	ds   any // work buffers for one head's score gradients per worker
	t    task
}

func (op *attnProbsGradOp) Arity() int    { return 4 }
func (op *attnProbsGradOp) Type() hm.Type { return fnType(matT(), matT(), matT(), matT(), matT()) }
func (op *attnProbsGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.wrtK {
		return shapeOf(in[1]).Clone(), nil
	}
	return shapeOf(in[0]).Clone(), nil
}
func (op *attnProbsGradOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *attnProbsGradOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, attnProbsGradDo[float32], attnProbsGradDo[float64])
}
func attnProbsGradDo[T Float](op *attnProbsGradOp, pre G.Value, in []G.Value) (G.Value, error) {
	var out *tensor.Dense
	if op.wrtK {
		out = into(pre, in[0], op.B*op.S, in[1].Shape()[1])
	} else {
		out = into(pre, in[0], op.B*op.T, in[0].Shape()[1])
	}
	scratch[T](&op.ds, Workers()*op.T*op.S)
	// dk splits by key heads: each range sums its heads' groups itself, in
	// order, so no two workers add into one head and the sums do not depend
	// on who runs them.
	heads := op.H
	if op.wrtK {
		heads = op.kvHeads()
	}
	split(&op.t, op, attnProbsGradHeads[float32], attnProbsGradHeads[float64], in, out, op.B*heads, 1)
	return out, nil
}

// attnProbsGradHeads computes dq for query heads [lo, hi) (index b·H+h),
// or dk for key heads [lo, hi) (index b·KVH+j) when wrtK.
func attnProbsGradHeads[T Float](t *task, w, lo, hi int) {
	op := t.op.(*attnProbsGradOp)
	Tq, S, H, group := op.T, op.S, op.H, op.H/op.kvHeads()
	d, dk := t.in[0].Shape()[1], t.in[1].Shape()[1]
	dh := d / H
	q, k, res := dense[T](t.in[0]), dense[T](t.in[1]), dense[T](t.out)
	ds := op.ds.([]T)[w*Tq*S : (w+1)*Tq*S]
	if op.wrtK {
		KV := op.kvHeads()
		for bj := lo; bj < hi; bj++ {
			b, j := bj/KV, bj%KV
			// dk[S,dh] = Σ dSᵀ[S,T]·Q[T,dh] over the group: the first
			// product overwrites, the others add (beta 1).
			for i := range group {
				h := j*group + i
				attnScoreGrad(op, t.in, ds, b*H+h)
				gemmBLAS(true, false, S, dh, Tq, 1, ds, S, q[b*Tq*d+h*dh:], d, T(min(i, 1)), res[b*S*dk+j*dh:], dk)
			}
		}
		return
	}
	for bh := lo; bh < hi; bh++ {
		b, h := bh/H, bh%H
		attnScoreGrad(op, t.in, ds, bh)
		// dq[T,dh] = dS[T,S]·K[S,dh]
		gemmBLAS(false, false, Tq, dh, S, 1, ds, S, k[b*S*dk+h/group*dh:], dk, 0, res[b*Tq*d+h*dh:], d)
	}
}

// attnScoreGrad writes the gradient of the scores of head bh (b·H+h), a
// [T, S] block, into ds from the probabilities and their gradient.
func attnScoreGrad[T Float](op *attnProbsGradOp, in []G.Value, ds []T, bh int) {
	Tq, S := op.T, op.S
	p, dp := dense[T](in[2]), dense[T](in[3])
	scale := T(1 / math.Sqrt(float64(in[0].Shape()[1]/op.H)))
	off := bh * Tq * S
	for t := 0; t < Tq; t++ {
		n := op.visible(t)
		pr, gr, dr := p[off+t*S:off+t*S+n], dp[off+t*S:off+t*S+n], ds[t*S:(t+1)*S]
		if p32, ok := asF32(pr); ok {
			softmaxGradF32(p32, asF32Must(gr), asF32Must(dr), float32(scale))
		} else {
			softmaxGrad(pr, gr, dr, scale)
		}
		clear(dr[n:])
	}
}

// attnMixOp combines values by the attention probabilities, head by head,
// into a [B·T, d] matrix with heads side by side (the layout the output
// projection expects).
type attnMixOp struct {
	opBase
	AttnShape
	t task
}

// AttnMix returns P·V per head for probabilities p [B·H·T, S] and values
// v [B·S, KVH·dh], a [B·T, H·dh] matrix.
func AttnMix(p, v *G.Node, s AttnShape) (*G.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return G.ApplyOp(&attnMixOp{opBase: opBase{"AttnMix{" + s.key() + "}"}, AttnShape: s}, p, v)
}

func (op *attnMixOp) Arity() int    { return 2 }
func (op *attnMixOp) Type() hm.Type { return fnType(matT(), matT(), matT()) }
func (op *attnMixOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	p, v := shapeOf(in[0]), shapeOf(in[1])
	if err := op.check(); err != nil {
		return nil, err
	}
	if p[0] != op.B*op.H*op.T || p[1] != op.S || v[0] != op.B*op.S || v[1]%op.kvHeads() != 0 {
		return nil, fmt.Errorf("nn: %s: p %v and v %v do not fit", op.name, p, v)
	}
	return tensor.Shape{op.B * op.T, op.width(v[1])}, nil
}
func (op *attnMixOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *attnMixOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, attnMixDo[float32], attnMixDo[float64])
}
func attnMixDo[T Float](op *attnMixOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[1], op.B*op.T, op.width(in[1].Shape()[1]))
	split(&op.t, op, attnMixHeads[float32], attnMixHeads[float64], in, out, op.B*op.H, 1)
	return out, nil
}

func attnMixHeads[T Float](t *task, _, lo, hi int) {
	op := t.op.(*attnMixOp)
	Tq, S, H, group := op.T, op.S, op.H, op.H/op.kvHeads()
	d, dv := t.out.Shape()[1], t.in[1].Shape()[1]
	dh := d / H
	p, v, y := dense[T](t.in[0]), dense[T](t.in[1]), dense[T](t.out)
	for bh := lo; bh < hi; bh++ {
		b, h := bh/H, bh%H
		gemmBLAS(false, false, Tq, dh, S, 1, p[bh*Tq*S:], S, v[b*S*dv+h/group*dh:], dv, 0, y[b*Tq*d+h*dh:], d)
	}
}
func (op *attnMixOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *attnMixOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dp, err := G.ApplyOp(&attnMixGradOp{opBase: opBase{"AttnMixGradP{" + op.AttnShape.key() + "}"}, AttnShape: op.AttnShape}, g, in[1])
	if err != nil {
		return nil, err
	}
	dv, err := G.ApplyOp(&attnMixGradOp{opBase: opBase{"AttnMixGradV{" + op.AttnShape.key() + "}"}, AttnShape: op.AttnShape, wrtV: true}, in[0], g)
	return G.Nodes{dp, dv}, err
}

// attnMixGradOp computes dP = G·Vᵀ from (g, v), or dV = Pᵀ·G from (p, g)
// when wrtV; a value head shared by a group of query heads gets the sum of
// their Pᵀ·G.
type attnMixGradOp struct {
	opBase
	noSymDiff
	AttnShape
	wrtV bool
	t    task
}

func (op *attnMixGradOp) Arity() int    { return 2 }
func (op *attnMixGradOp) Type() hm.Type { return fnType(matT(), matT(), matT()) }
func (op *attnMixGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.wrtV {
		return tensor.Shape{op.B * op.S, shapeOf(in[1])[1] / op.H * op.kvHeads()}, nil
	}
	return tensor.Shape{op.B * op.H * op.T, op.S}, nil
}
func (op *attnMixGradOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *attnMixGradOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, attnMixGradDo[float32], attnMixGradDo[float64])
}
func attnMixGradDo[T Float](op *attnMixGradOp, pre G.Value, in []G.Value) (G.Value, error) {
	var out *tensor.Dense
	heads := op.H
	if op.wrtV { // by value heads, for the reason attnProbsGradDo gives
		heads = op.kvHeads()
		out = into(pre, in[1], op.B*op.S, in[1].Shape()[1]/op.H*heads)
	} else {
		out = into(pre, in[0], op.B*op.H*op.T, op.S)
	}
	split(&op.t, op, attnMixGradHeads[float32], attnMixGradHeads[float64], in, out, op.B*heads, 1)
	return out, nil
}

// attnMixGradHeads computes dP for query heads [lo, hi) (index b·H+h), or
// dV for value heads [lo, hi) (index b·KVH+j) when wrtV.
func attnMixGradHeads[T Float](t *task, _, lo, hi int) {
	op := t.op.(*attnMixGradOp)
	Tq, S, H, KV := op.T, op.S, op.H, op.kvHeads()
	group := H / KV
	if op.wrtV {
		d, dv := t.in[1].Shape()[1], t.out.Shape()[1]
		dh := d / H
		p, g, res := dense[T](t.in[0]), dense[T](t.in[1]), dense[T](t.out)
		for bj := lo; bj < hi; bj++ {
			b, j := bj/KV, bj%KV
			// dV[S,dh] = Σ Pᵀ[S,T]·G[T,dh] over the group, accumulated as
			// dk is in attnProbsGradHeads.
			for i := range group {
				h := j*group + i
				gemmBLAS(true, false, S, dh, Tq, 1, p[(b*H+h)*Tq*S:], S, g[b*Tq*d+h*dh:], d, T(min(i, 1)), res[b*S*dv+j*dh:], dv)
			}
		}
		return
	}
	d, dv := t.in[0].Shape()[1], t.in[1].Shape()[1]
	dh := d / H
	g, v, dp := dense[T](t.in[0]), dense[T](t.in[1]), dense[T](t.out)
	for bh := lo; bh < hi; bh++ {
		b, h := bh/H, bh%H
		// dP[T,S] = G[T,dh]·Vᵀ[dh,S]
		gemmBLAS(false, true, Tq, S, dh, 1, g[b*Tq*d+h*dh:], d, v[b*S*dv+h/group*dh:], dv, 0, dp[bh*Tq*S:], S)
	}
}

// softmaxGrad writes ds = p∘(g − p·g)·scale for one row of probabilities p
// and their upstream gradient g.
func softmaxGrad[T Float](p, g, ds []T, scale T) {
	var dot T
	for j := range p {
		dot += p[j] * g[j]
	}
	for j := range p {
		ds[j] = p[j] * (g[j] - dot) * scale
	}
}
