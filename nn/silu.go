package nn

import (
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// siluOp applies SiLU (x·sigmoid(x), also called swish) element-wise: the
// gate activation of the SwiGLU MLP of Llama-family models,
// down(SiLU(gate(x)) ∘ up(x)), whose product is Mul. With grad set it is
// the backward pass, taking (x, upstream gradient).
type siluOp struct {
	opBase
	grad bool
	t    task
}

// SiLU returns x·sigmoid(x) for every element of x.
func SiLU(x *G.Node) (*G.Node, error) { return G.ApplyOp(&siluOp{opBase: opBase{"SiLU"}}, x) }

func (op *siluOp) Arity() int {
	if op.grad {
		return 2
	}
	return 1
}
func (op *siluOp) Type() hm.Type {
	if op.grad {
		return fnType(tvA, tvA, tvA)
	}
	return fnType(tvA, tvA)
}
func (op *siluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in[0]).Clone(), nil
}
func (op *siluOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *siluOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, siluDo[float32], siluDo[float64])
}
func siluDo[T Float](op *siluOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], in[0].Shape()...)
	split(&op.t, op, siluSpan[float32], siluSpan[float64], in, out, in[0].Shape().TotalSize(), 1<<14)
	return out, nil
}

func siluSpan[T Float](t *task, _, lo, hi int) {
	x, y := dense[T](t.in[0])[lo:hi], dense[T](t.out)[lo:hi]
	var g []T
	if t.op.(*siluOp).grad {
		g = dense[T](t.in[1])[lo:hi]
	}
	silu(x, g, y)
}

// silu writes SiLU(x) to y, or with g its backward pass
// g·σ(x)·(1 + x·(1−σ(x))). σ is 1/(1+e^−x): for very negative x, e^−x
// overflows to +Inf and σ to 0, so both stay finite (0 and g·0) where the
// form e^x/(1+e^x) would give NaN for very positive x.
func silu[T Float](x, g, y []T) {
	if g == nil {
		for i, u := range x {
			y[i] = u / (1 + exp(-u))
		}
		return
	}
	for i, u := range x {
		s := 1 / (1 + exp(-u))
		y[i] = g[i] * s * (1 + u*(1-s))
	}
}

func (op *siluOp) DiffWRT(n int) []bool { return []bool{!op.grad, false}[:n] }
func (op *siluOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&siluOp{opBase: opBase{"SiLUGrad"}, grad: true}, in[0], g)
	return G.Nodes{dx}, err
}
