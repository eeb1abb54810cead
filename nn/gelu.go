package nn

import (
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GPT-2's GELU is the tanh approximation (Hendrycks & Gimpel, 2016).
var geluC = math.Sqrt(2 / math.Pi)

const geluK = 0.044715

// geluOp applies GELU element-wise; with grad set it is the backward pass,
// taking (x, upstream gradient).
type geluOp struct {
	opBase
	grad bool
	t    task
}

// GELU applies the tanh-approximated GELU to every element of x.
func GELU(x *G.Node) (*G.Node, error) { return G.ApplyOp(&geluOp{opBase: opBase{"GELU"}}, x) }

func (op *geluOp) Arity() int {
	if op.grad {
		return 2
	}
	return 1
}
func (op *geluOp) Type() hm.Type {
	if op.grad {
		return fnType(tvA, tvA, tvA)
	}
	return fnType(tvA, tvA)
}
func (op *geluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in[0]).Clone(), nil
}
func (op *geluOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *geluOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, geluDo[float32], geluDo[float64])
}
func geluDo[T Float](op *geluOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], in[0].Shape()...)
	split(&op.t, op, geluSpan[float32], geluSpan[float64], in, out, in[0].Shape().TotalSize(), 1<<14)
	return out, nil
}

func geluSpan[T Float](t *task, _, lo, hi int) {
	x, y := dense[T](t.in[0])[lo:hi], dense[T](t.out)[lo:hi]
	var g []T
	if t.op.(*geluOp).grad {
		g = dense[T](t.in[1])[lo:hi]
	}
	if x32, ok := asF32(x); ok { // the training path: vectorised where the build allows
		y32, g32 := asF32Must(y), asF32Must(g)
		geluF32(x32, g32, y32)
		return
	}
	gelu(x, g, y, func(v T) T { return T(math.Tanh(float64(v))) })
}

// gelu writes GELU(x) to y, or with g its backward pass g·GELU'(x).
func gelu[T Float](x, g, y []T, tanh func(T) T) {
	c := T(geluC)
	if g == nil {
		for i, u := range x {
			y[i] = 0.5 * u * (1 + tanh(c*(u+geluK*u*u*u)))
		}
		return
	}
	for i, u := range x {
		t := tanh(c * (u + geluK*u*u*u))
		y[i] = g[i] * (0.5*(1+t) + 0.5*u*(1-t*t)*c*(1+3*geluK*u*u))
	}
}

func (op *geluOp) DiffWRT(n int) []bool { return []bool{!op.grad, false}[:n] }
func (op *geluOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&geluOp{opBase: opBase{"GELUGrad"}, grad: true}, in[0], g)
	return G.Nodes{dx}, err
}
