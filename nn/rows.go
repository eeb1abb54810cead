package nn

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// prependRowsOp puts the same P rows in front of each of B sequences of T
// rows: virtual tokens for prompt tuning, key/value prefixes for prefix
// tuning.
type prependRowsOp struct {
	opBase
	b int
}

// PrependRows returns [prefix; x_b] for each sequence b of x [B·T, d],
// giving [B·(P+T), d] for prefix [P, d].
func PrependRows(prefix, x *G.Node, batch int) (*G.Node, error) {
	return G.ApplyOp(&prependRowsOp{opBase{fmt.Sprintf("PrependRows{%d}", batch)}, batch}, prefix, x)
}

func (op *prependRowsOp) Arity() int    { return 2 }
func (op *prependRowsOp) Type() hm.Type { return fnType(matT(), matT(), matT()) }
func (op *prependRowsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	p, x := shapeOf(in[0]), shapeOf(in[1])
	if p[1] != x[1] || x[0]%op.b != 0 {
		return nil, fmt.Errorf("nn: %s: prefix %v and x %v do not fit", op.name, p, x)
	}
	return tensor.Shape{x[0] + op.b*p[0], x[1]}, nil
}
func (op *prependRowsOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *prependRowsOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, prependRowsDo[float32], prependRowsDo[float64])
}
func prependRowsDo[T Float](op *prependRowsOp, pre G.Value, in []G.Value) (G.Value, error) {
	p, x := dense[T](in[0]), dense[T](in[1])
	rows, d := in[1].Shape()[0], in[1].Shape()[1]
	P, Tn := in[0].Shape()[0], rows/op.b
	out := into(pre, in[1], rows+op.b*P, d)
	y := dense[T](out)
	for b := 0; b < op.b; b++ {
		dst := y[b*(P+Tn)*d:]
		copy(dst, p)
		copy(dst[P*d:(P+Tn)*d], x[b*Tn*d:(b+1)*Tn*d])
	}
	return out, nil
}
func (op *prependRowsOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *prependRowsOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	p := in[0].Shape()[0]
	dp, err := G.ApplyOp(newSplitRows(op.b, p, true), g)
	if err != nil {
		return nil, err
	}
	dx, err := G.ApplyOp(newSplitRows(op.b, p, false), g)
	return G.Nodes{dp, dx}, err
}

// splitRowsOp is the inverse of PrependRows on each of B sequences: it
// keeps the rows after the first P (dropping virtual positions before the
// output head) or, with sumHead set, sums the first P rows over the batch
// (the gradient of a shared prefix).
type splitRowsOp struct {
	opBase
	b, p    int
	sumHead bool
}

func newSplitRows(b, p int, sumHead bool) *splitRowsOp {
	return &splitRowsOp{opBase{fmt.Sprintf("SplitRows{%d,%d,%v}", b, p, sumHead)}, b, p, sumHead}
}

// DropLeadingRows removes the first p rows of each of B sequences of x.
func DropLeadingRows(x *G.Node, batch, p int) (*G.Node, error) {
	return G.ApplyOp(newSplitRows(batch, p, false), x)
}

func (op *splitRowsOp) Arity() int    { return 1 }
func (op *splitRowsOp) Type() hm.Type { return fnType(matT(), matT()) }
func (op *splitRowsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x := shapeOf(in[0])
	if x[0]%op.b != 0 || x[0]/op.b < op.p {
		return nil, fmt.Errorf("nn: %s: x %v does not fit", op.name, x)
	}
	if op.sumHead {
		return tensor.Shape{op.p, x[1]}, nil
	}
	return tensor.Shape{x[0] - op.b*op.p, x[1]}, nil
}
func (op *splitRowsOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *splitRowsOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, splitRowsDo[float32], splitRowsDo[float64])
}
func splitRowsDo[T Float](op *splitRowsOp, pre G.Value, in []G.Value) (G.Value, error) {
	x := dense[T](in[0])
	rows, d := in[0].Shape()[0], in[0].Shape()[1]
	n := rows / op.b // P+T rows per sequence
	if op.sumHead {
		out := into(pre, in[0], op.p, d)
		y := dense[T](out)
		clear(y)
		for b := 0; b < op.b; b++ {
			for i, v := range x[b*n*d : (b*n+op.p)*d] {
				y[i] += v
			}
		}
		return out, nil
	}
	out := into(pre, in[0], rows-op.b*op.p, d)
	y := dense[T](out)
	t := n - op.p
	for b := 0; b < op.b; b++ {
		copy(y[b*t*d:(b+1)*t*d], x[(b*n+op.p)*d:(b+1)*n*d])
	}
	return out, nil
}
func (op *splitRowsOp) DiffWRT(int) []bool { return []bool{!op.sumHead} }
func (op *splitRowsOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	if op.sumHead {
		return nil, fmt.Errorf("nn: %s is backward-only", op.name)
	}
	// The dropped rows get zero gradient: prepend zeros.
	zeros := G.NewMatrix(g.Graph(), g.Dtype(), G.WithShape(op.p, g.Shape()[1]), G.WithInit(G.Zeroes()), G.WithName(fmt.Sprintf("zeros%d", g.ID())))
	dx, err := PrependRows(zeros, g, op.b)
	return G.Nodes{dx}, err
}
