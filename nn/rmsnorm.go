package nn

import (
	"fmt"
	"math"
	"strings"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// rmsNormOp scales each row of x to unit root mean square, then by gamma:
// the normalisation of Llama-family models (HF's LlamaRMSNorm), which
// neither subtracts the mean nor adds a bias.
type rmsNormOp struct {
	opBase
	eps float64
	t   task
	// rstd holds each row's reciprocal root mean square from the last
	// forward run; the backward ops of the same run read it.
	rstd any
	// heads: each row of x holds several vectors as wide as gamma, each
	// normalised on its own (RMSNormHeads).
	heads bool
}

// RMSNorm returns x [N, d] with each row divided by
// sqrt(mean(x²) + eps) and column j scaled by gamma[j] [d]. Llama, Qwen2
// and SmolLM2 configs give eps as rms_norm_eps.
func RMSNorm(x, gamma *G.Node, eps float64) (*G.Node, error) {
	if !(eps >= 0) {
		return nil, fmt.Errorf("nn: RMSNorm: epsilon %v is not a non-negative number", eps)
	}
	return G.ApplyOp(&rmsNormOp{opBase: opBase{fmt.Sprintf("RMSNorm{%v}", eps)}, eps: eps}, x, gamma)
}

// RMSNormHeads normalises each head of x [N, H·dh] on its own with the
// shared gain gamma [dh]: Qwen3's q_norm and k_norm, an RMSNorm over the
// last dimension of [N, H, dh]. It is RMSNorm on x read as [N·H, dh],
// with no copy.
func RMSNormHeads(x, gamma *G.Node, eps float64) (*G.Node, error) {
	if !(eps >= 0) {
		return nil, fmt.Errorf("nn: RMSNormHeads: epsilon %v is not a non-negative number", eps)
	}
	return G.ApplyOp(&rmsNormOp{opBase: opBase{fmt.Sprintf("RMSNormHeads{%v}", eps)}, eps: eps, heads: true}, x, gamma)
}

// rows is the number of vectors normalised in x (cols wide per row of x)
// with a gain of d columns.
func normRows(x tensor.Shape, d int) int { return x[0] * x[1] / d }

func (op *rmsNormOp) Arity() int    { return 2 }
func (op *rmsNormOp) Type() hm.Type { return fnType(matT(), vecT(), matT()) }
func (op *rmsNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, g := shapeOf(in[0]), shapeOf(in[1])
	if g[0] != x[1] && !(op.heads && g[0] > 0 && x[1]%g[0] == 0) {
		return nil, fmt.Errorf("nn: %s: x %v and gamma %v disagree", op.name, x, g)
	}
	return x.Clone(), nil
}
func (op *rmsNormOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *rmsNormOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, rmsNormDo[float32], rmsNormDo[float64])
}

func rmsNormDo[T Float](op *rmsNormOp, pre G.Value, in []G.Value) (G.Value, error) {
	d := in[1].Shape()[0]
	n := normRows(in[0].Shape(), d)
	out := into(pre, in[0], in[0].Shape()[0], in[0].Shape()[1])
	scratch[T](&op.rstd, n)
	split(&op.t, op, rmsNormRows[float32], rmsNormRows[float64], in, out, n, rowGrain(d))
	return out, nil
}

func rmsNormRows[T Float](t *task, _, lo, hi int) {
	op := t.op.(*rmsNormOp)
	d := t.in[1].Shape()[0]
	x, gamma, y := dense[T](t.in[0])[lo*d:hi*d], dense[T](t.in[1]), dense[T](t.out)[lo*d:hi*d]
	rmsNormRange(x, gamma, y, op.rstd.([]T)[lo:hi], d, op.eps)
}

// rmsNormRange normalises the rows of x (d columns each) into y and keeps
// each row's reciprocal root mean square in rstd. The mean of squares is
// summed in float64, as rowStats sums LayerNorm's: a float32 running sum
// over a row of a few thousand columns (Llama's widths) loses digits.
func rmsNormRange[T Float](x, gamma, y, rstd []T, d int, eps float64) {
	for r := range len(x) / d {
		row, yr := x[r*d:(r+1)*d], y[r*d:(r+1)*d]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		rs := T(1 / math.Sqrt(ss/float64(d)+eps))
		rstd[r] = rs
		for j, v := range row {
			yr[j] = v * rs * gamma[j]
		}
	}
}

// kind names the op's family in the names of its gradient ops.
func (op *rmsNormOp) kind() string {
	if op.heads {
		return "RMSNormHeads"
	}
	return "RMSNorm"
}

func (op *rmsNormOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *rmsNormOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&rmsNormGradOp{opBase: opBase{strings.Replace(fmt.Sprintf("RMSNormGradX{%v}", op.eps), "RMSNorm", op.kind(), 1)}, fwd: op}, in[0], in[1], g)
	if err != nil {
		return nil, err
	}
	dgamma, err := G.ApplyOp(&rmsNormGradOp{opBase: opBase{strings.Replace(fmt.Sprintf("RMSNormGradGamma{%v}", op.eps), "RMSNorm", op.kind(), 1)}, gamma: true, fwd: op}, in[0], in[1], g)
	return G.Nodes{dx, dgamma}, err
}

// rmsNormGradOp computes the gradient of RMSNorm with respect to x or,
// when gamma is set, to the gain, from the reciprocal root mean squares
// its forward op kept (a program always runs the forward op first in the
// same run).
type rmsNormGradOp struct {
	opBase
	noSymDiff
	gamma bool
	t     task
	fwd   *rmsNormOp // holds the row statistics of the forward pass
}

func (op *rmsNormGradOp) Arity() int { return 3 }
func (op *rmsNormGradOp) Type() hm.Type {
	if op.gamma {
		return fnType(matT(), vecT(), matT(), vecT())
	}
	return fnType(matT(), vecT(), matT(), matT())
}
func (op *rmsNormGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.gamma {
		return shapeOf(in[1]).Clone(), nil
	}
	return shapeOf(in[0]).Clone(), nil
}
func (op *rmsNormGradOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *rmsNormGradOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, rmsNormGradDo[float32], rmsNormGradDo[float64])
}
func rmsNormGradDo[T Float](op *rmsNormGradOp, pre G.Value, in []G.Value) (G.Value, error) {
	d := in[1].Shape()[0]
	n := normRows(in[0].Shape(), d)
	if op.gamma {
		out := into(pre, in[0], d)
		split(&op.t, op, rmsNormGradGamma[float32], rmsNormGradGamma[float64], in, out, d, 1)
		return out, nil
	}
	out := into(pre, in[0], in[0].Shape()[0], in[0].Shape()[1])
	split(&op.t, op, rmsNormGradX[float32], rmsNormGradX[float64], in, out, n, rowGrain(d))
	return out, nil
}

// rmsNormGradGamma sums g·x̂ (x̂ = x·rstd) over rows for columns [lo, hi).
// Each column is summed over all rows in order by one range, so the sums
// do not depend on the workers.
func rmsNormGradGamma[T Float](t *task, _, lo, hi int) {
	d := t.in[1].Shape()[0]
	x, g, dg := dense[T](t.in[0]), dense[T](t.in[2]), dense[T](t.out)
	rmsNormGradGammaRange(x, g, t.op.(*rmsNormGradOp).fwd.rstd.([]T), dg, d, lo, hi)
}

func rmsNormGradGammaRange[T Float](x, g, rstd, dg []T, d, lo, hi int) {
	dg = dg[lo:hi]
	clear(dg)
	for r := range len(x) / d {
		row, gr, rs := x[r*d+lo:r*d+hi], g[r*d+lo:r*d+hi], rstd[r]
		for j, v := range row {
			dg[j] += gr[j] * v * rs
		}
	}
}

// rmsNormGradX is dx = rstd·(dx̂ − x̂·mean(dx̂·x̂)), dx̂ = g·gamma, for rows
// [lo, hi): LayerNorm's gradient without the terms of the mean.
func rmsNormGradX[T Float](t *task, _, lo, hi int) {
	d := t.in[1].Shape()[0]
	x, gamma, g, dx := dense[T](t.in[0])[lo*d:hi*d], dense[T](t.in[1]), dense[T](t.in[2])[lo*d:hi*d], dense[T](t.out)[lo*d:hi*d]
	rmsNormGradXRange(x, gamma, g, t.op.(*rmsNormGradOp).fwd.rstd.([]T)[lo:hi], dx, d)
}

func rmsNormGradXRange[T Float](x, gamma, g, rstd, dx []T, d int) {
	for r := range len(x) / d {
		row, gr, dr, rs := x[r*d:(r+1)*d], g[r*d:(r+1)*d], dx[r*d:(r+1)*d], rstd[r]
		var dot float64 // Σ dx̂·x, float64 for the reason rmsNormRange gives
		for j, v := range row {
			dot += float64(gr[j]*gamma[j]) * float64(v)
		}
		// x̂·mean(dx̂·x̂) = x·rstd³·mean(dx̂·x): fold the factors into one.
		c := T(dot / float64(d) * float64(rs) * float64(rs))
		for j, v := range row {
			dr[j] = rs * (gr[j]*gamma[j] - v*c)
		}
	}
}
