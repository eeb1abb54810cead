package nn

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// addPenaltyOp is loss + p[0]: a scalar loss plus a one-element term a
// method computes beside it from its own weights (AdaLoRA's orthogonality
// regulariser, built from ColNorm and MatMul, ends in a vector of one).
type addPenaltyOp struct{ opBase }

// AddPenalty returns the scalar loss plus p, a vector of one element.
func AddPenalty(loss, p *G.Node) (*G.Node, error) {
	return G.ApplyOp(&addPenaltyOp{opBase{"AddPenalty"}}, loss, p)
}

func (op *addPenaltyOp) Arity() int    { return 2 }
func (op *addPenaltyOp) Type() hm.Type { return fnType(tvA, vecT(), tvA) }
func (op *addPenaltyOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if l, p := shapeOf(in[0]), shapeOf(in[1]); !l.IsScalar() || p.TotalSize() != 1 {
		return nil, fmt.Errorf("nn: AddPenalty: loss %v must be a scalar and the penalty %v one element", l, p)
	}
	return tensor.ScalarShape(), nil
}
func (op *addPenaltyOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *addPenaltyOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return setScalar(pre, in[0], scalar(in[0])+scalar(in[1])), nil
}
func (op *addPenaltyOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *addPenaltyOp) SymDiff(_ G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dp, err := G.ApplyOp(&scalarVecOp{opBase: opBase{"ScalarVec"}}, g)
	return G.Nodes{g, dp}, err
}

// scalarVecOp is a scalar as a vector of one element: the penalty's part
// of AddPenalty's gradient.
type scalarVecOp struct {
	opBase
	noSymDiff
}

func (op *scalarVecOp) Arity() int    { return 1 }
func (op *scalarVecOp) Type() hm.Type { return fnType(tvA, vecT()) }
func (op *scalarVecOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{1}, nil
}
func (op *scalarVecOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *scalarVecOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	var out *tensor.Dense
	if pre != nil {
		out = pre.(*tensor.Dense)
	} else {
		out = tensor.New(tensor.Of(in[0].Dtype()), tensor.WithShape(1))
	}
	switch out.Dtype() {
	case tensor.Float32:
		out.Float32s()[0] = float32(scalar(in[0]))
	default:
		out.Float64s()[0] = scalar(in[0])
	}
	return out, nil
}
