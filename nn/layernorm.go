package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lnEps is GPT-2's LayerNorm epsilon.
const lnEps = 1e-5

// layerNormOp normalises each row of x to zero mean and unit variance, then
// scales by gamma and shifts by beta.
type layerNormOp struct {
	opBase
	t task
	// stats holds each row's mean and reciprocal standard deviation from
	// the last forward run; the backward ops of the same run read them.
	stats any
}

// LayerNorm returns the row-wise layer normalisation of x [N, d] with gain
// gamma [d] and bias beta [d].
func LayerNorm(x, gamma, beta *G.Node) (*G.Node, error) {
	return G.ApplyOp(&layerNormOp{opBase: opBase{"LayerNorm"}}, x, gamma, beta)
}

func (op *layerNormOp) Arity() int    { return 3 }
func (op *layerNormOp) Type() hm.Type { return fnType(matT(), vecT(), vecT(), matT()) }
func (op *layerNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, g, b := shapeOf(in[0]), shapeOf(in[1]), shapeOf(in[2])
	if g[0] != x[1] || b[0] != x[1] {
		return nil, fmt.Errorf("nn: LayerNorm: x %v, gamma %v, beta %v disagree", x, g, b)
	}
	return x.Clone(), nil
}
func (op *layerNormOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *layerNormOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, layerNormDo[float32], layerNormDo[float64])
}

// rowStats returns the mean and reciprocal standard deviation of a row.
func rowStats[T Float](row []T) (mean, rstd T) {
	var s float64
	for _, v := range row {
		s += float64(v)
	}
	m := s / float64(len(row))
	var ss float64
	for _, v := range row {
		d := float64(v) - m
		ss += d * d
	}
	return T(m), T(1 / math.Sqrt(ss/float64(len(row))+lnEps))
}

func layerNormDo[T Float](op *layerNormOp, pre G.Value, in []G.Value) (G.Value, error) {
	n, d := in[0].Shape()[0], in[0].Shape()[1]
	out := into(pre, in[0], n, d)
	scratch[T](&op.stats, 2*n)
	split(&op.t, op, layerNormRows[float32], layerNormRows[float64], in, out, n, rowGrain(d))
	return out, nil
}

func layerNormRows[T Float](t *task, _, lo, hi int) {
	d := t.in[0].Shape()[1]
	x, gamma, beta, y := dense[T](t.in[0])[lo*d:hi*d], dense[T](t.in[1]), dense[T](t.in[2]), dense[T](t.out)[lo*d:hi*d]
	stats := t.op.(*layerNormOp).stats.([]T)[2*lo : 2*hi]
	if x32, ok := asF32(x); ok {
		layerNormF32(x32, asF32Must(gamma), asF32Must(beta), asF32Must(y), asF32Must(stats), d)
		return
	}
	layerNormRange(x, gamma, beta, y, stats, d)
}

// layerNormRange normalises the rows of x (d columns each) into y and
// keeps each row's mean and reciprocal standard deviation in stats.
func layerNormRange[T Float](x, gamma, beta, y, stats []T, d int) {
	for r := range len(x) / d {
		row, yr := x[r*d:(r+1)*d], y[r*d:(r+1)*d]
		mean, rstd := rowStats(row)
		stats[2*r], stats[2*r+1] = mean, rstd
		for j, v := range row {
			yr[j] = (v-mean)*rstd*gamma[j] + beta[j]
		}
	}
}

func (op *layerNormOp) DiffWRT(int) []bool { return []bool{true, true, true} }
func (op *layerNormOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&layerNormGradOp{opBase: opBase{"LayerNormGradX"}, fwd: op}, in[0], in[1], g)
	if err != nil {
		return nil, err
	}
	dgamma, err := G.ApplyOp(&layerNormGradOp{opBase: opBase{"LayerNormGradGamma"}, gamma: true, fwd: op}, in[0], in[1], g)
	if err != nil {
		return nil, err
	}
	dbeta, err := ColSum(g)
	return G.Nodes{dx, dgamma, dbeta}, err
}

// layerNormGradOp computes the gradient of LayerNorm with respect to x or,
// when gamma is set, to the gain, from the row statistics its forward op
// kept (a program always runs the forward op first in the same run).
type layerNormGradOp struct {
	opBase
	noSymDiff
	gamma bool
	t     task
	fwd   *layerNormOp // holds the row statistics of the forward pass
}

func (op *layerNormGradOp) Arity() int { return 3 }
func (op *layerNormGradOp) Type() hm.Type {
	if op.gamma {
		return fnType(matT(), vecT(), matT(), vecT())
	}
	return fnType(matT(), vecT(), matT(), matT())
}
func (op *layerNormGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.gamma {
		return shapeOf(in[1]).Clone(), nil
	}
	return shapeOf(in[0]).Clone(), nil
}
func (op *layerNormGradOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *layerNormGradOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, layerNormGradDo[float32], layerNormGradDo[float64])
}
func layerNormGradDo[T Float](op *layerNormGradOp, pre G.Value, in []G.Value) (G.Value, error) {
	n, d := in[0].Shape()[0], in[0].Shape()[1]
	if op.gamma {
		out := into(pre, in[0], d)
		split(&op.t, op, layerNormGradGamma[float32], layerNormGradGamma[float64], in, out, d, 1)
		return out, nil
	}
	out := into(pre, in[0], n, d)
	split(&op.t, op, layerNormGradX[float32], layerNormGradX[float64], in, out, n, rowGrain(d))
	return out, nil
}

// layerNormGradGamma sums g·x̂ over rows for columns [lo, hi).
func layerNormGradGamma[T Float](t *task, _, lo, hi int) {
	d := t.in[0].Shape()[1]
	x, g, dg := dense[T](t.in[0]), dense[T](t.in[2]), dense[T](t.out)
	stats := t.op.(*layerNormGradOp).fwd.stats.([]T)
	if x32, ok := asF32(x); ok {
		layerNormGradGammaF32(x32, asF32Must(g), asF32Must(stats), asF32Must(dg), d, lo, hi)
		return
	}
	layerNormGradGammaRange(x, g, stats, dg, d, lo, hi)
}

func layerNormGradGammaRange[T Float](x, g, stats, dg []T, d, lo, hi int) {
	dg = dg[lo:hi]
	clear(dg)
	for r := range len(x) / d {
		row, gr := x[r*d+lo:r*d+hi], g[r*d+lo:r*d+hi]
		mean, rstd := stats[2*r], stats[2*r+1]
		for j, v := range row {
			dg[j] += gr[j] * (v - mean) * rstd
		}
	}
}

// layerNormGradX is dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = g·gamma,
// for rows [lo, hi).
func layerNormGradX[T Float](t *task, _, lo, hi int) {
	d := t.in[0].Shape()[1]
	x, gamma, g, dx := dense[T](t.in[0])[lo*d:hi*d], dense[T](t.in[1]), dense[T](t.in[2])[lo*d:hi*d], dense[T](t.out)[lo*d:hi*d]
	stats := t.op.(*layerNormGradOp).fwd.stats.([]T)[2*lo : 2*hi]
	if x32, ok := asF32(x); ok {
		layerNormGradXF32(x32, asF32Must(gamma), asF32Must(g), asF32Must(stats), asF32Must(dx), d)
		return
	}
	layerNormGradXRange(x, gamma, g, stats, dx, d)
}

func layerNormGradXRange[T Float](x, gamma, g, stats, dx []T, d int) {
	inv := 1 / T(d)
	for r := range len(x) / d {
		row, gr, dr := x[r*d:(r+1)*d], g[r*d:(r+1)*d], dx[r*d:(r+1)*d]
		mean, rstd := stats[2*r], stats[2*r+1]
		var sumDh, sumDhXh T
		for j, v := range row {
			dh := gr[j] * gamma[j]
			sumDh += dh
			sumDhXh += dh * (v - mean) * rstd
		}
		sumDh *= inv
		sumDhXh *= inv
		for j, v := range row {
			xh := (v - mean) * rstd
			dr[j] = rstd * (gr[j]*gamma[j] - sumDh - xh*sumDhXh)
		}
	}
}
