package nn

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// addOp is element-wise a + b for equal shapes (residual connections). It
// never writes into its inputs, which may be parameters shared by graphs.
type addOp struct {
	opBase
	t task
}

// Add returns a + b for tensors of equal shape.
func Add(a, b *G.Node) (*G.Node, error) { return G.ApplyOp(&addOp{opBase: opBase{"Add"}}, a, b) }

func (op *addOp) Arity() int    { return 2 }
func (op *addOp) Type() hm.Type { return fnType(tvA, tvA, tvA) }
func (op *addOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	a, b := shapeOf(in[0]), shapeOf(in[1])
	if !a.Eq(b) {
		return nil, fmt.Errorf("nn: Add: shapes %v and %v differ", a, b)
	}
	return a.Clone(), nil
}
func (op *addOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *addOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, addDo[float32], addDo[float64])
}
func addDo[T Float](op *addOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], in[0].Shape()...)
	split(&op.t, op, addSpan[float32], addSpan[float64], in, out, in[0].Shape().TotalSize(), 1<<14)
	return out, nil
}

func addSpan[T Float](t *task, _, lo, hi int) {
	a, b, y := dense[T](t.in[0])[lo:hi], dense[T](t.in[1])[lo:hi], dense[T](t.out)[lo:hi]
	for i := range y {
		y[i] = a[i] + b[i]
	}
}
func (op *addOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *addOp) SymDiff(_ G.Nodes, _, g *G.Node) (G.Nodes, error) {
	return G.Nodes{g, g}, nil
}
