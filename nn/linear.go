package nn

import (
	"fmt"

	"github.com/chewxy/hm"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// byDtype runs the float32 or float64 instance of a generic kernel, chosen
// by the dtype of the op's first float input. The kernel writes into pre, a
// buffer the program owns, or allocates its result when pre is nil.
func byDtype[O any](op O, pre G.Value, in []G.Value, f32, f64 func(O, G.Value, []G.Value) (G.Value, error)) (G.Value, error) {
	if floatInput(in).Dtype() == tensor.Float64 {
		return f64(op, pre, in)
	}
	return f32(op, pre, in)
}

// matMulOp computes op(A)·op(B) with either operand transposed in the BLAS
// call rather than in memory.
type matMulOp struct {
	opBase
	transA, transB bool
}

// MatMul returns op(a)·op(b), where op transposes when asked.
func MatMul(a, b *G.Node, transA, transB bool) (*G.Node, error) {
	op := &matMulOp{opBase{fmt.Sprintf("MatMul{%v,%v}", transA, transB)}, transA, transB}
	return G.ApplyOp(op, a, b)
}

func (op *matMulOp) Arity() int { return 2 }
func (op *matMulOp) Type() hm.Type {
	return fnType(matT(), matT(), matT())
}
func (op *matMulOp) dims(a, b tensor.Shape) (m, n, k int, err error) {
	m, k = a[0], a[1]
	if op.transA {
		m, k = k, m
	}
	kb, n := b[0], b[1]
	if op.transB {
		kb, n = n, kb
	}
	if k != kb {
		err = fmt.Errorf("nn: %s: inner sizes differ: %v and %v", op.name, a, b)
	}
	return
}
func (op *matMulOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	m, n, _, err := op.dims(shapeOf(in[0]), shapeOf(in[1]))
	return tensor.Shape{m, n}, err
}
func (op *matMulOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *matMulOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, matMulDo[float32], matMulDo[float64])
}
func matMulDo[T Float](op *matMulOp, pre G.Value, in []G.Value) (G.Value, error) {
	m, n, k, err := op.dims(in[0].Shape(), in[1].Shape())
	if err != nil {
		return nil, err
	}
	out := into(pre, in[0], m, n)
	gemm(op.transA, op.transB, m, n, k, 1, dense[T](in[0]), dense[T](in[1]), 0, dense[T](out))
	return out, nil
}
func (op *matMulOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *matMulOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	a, b := in[0], in[1]
	var da, db *G.Node
	var err error
	switch {
	case !op.transA && !op.transB: // C = A·B
		if da, err = MatMul(g, b, false, true); err == nil {
			db, err = MatMul(a, g, true, false)
		}
	case !op.transA && op.transB: // C = A·Bᵀ
		if da, err = MatMul(g, b, false, false); err == nil {
			db, err = MatMul(g, a, true, false)
		}
	case op.transA && !op.transB: // C = Aᵀ·B
		if da, err = MatMul(b, g, false, true); err == nil {
			db, err = MatMul(a, g, false, false)
		}
	default: // C = Aᵀ·Bᵀ
		if da, err = MatMul(b, g, true, true); err == nil {
			db, err = MatMul(g, a, true, true)
		}
	}
	return G.Nodes{da, db}, err
}

// linearOp is a dense layer y = x·W + b, with W stored as [in, out] (the
// layout of GPT-2's Conv1D) so the forward product needs no transpose.
type linearOp struct{ opBase }

// Linear returns x·w + b for x [N, in], w [in, out] and b [out].
func Linear(x, w, b *G.Node) (*G.Node, error) {
	return G.ApplyOp(&linearOp{opBase{"Linear"}}, x, w, b)
}

func (op *linearOp) Arity() int    { return 3 }
func (op *linearOp) Type() hm.Type { return fnType(matT(), matT(), vecT(), matT()) }
func (op *linearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, w, b := shapeOf(in[0]), shapeOf(in[1]), shapeOf(in[2])
	if x[1] != w[0] || b[0] != w[1] {
		return nil, fmt.Errorf("nn: Linear: shapes x %v, w %v, b %v disagree", x, w, b)
	}
	return tensor.Shape{x[0], w[1]}, nil
}
func (op *linearOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *linearOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, linearDo[float32], linearDo[float64])
}
func linearDo[T Float](_ *linearOp, pre G.Value, in []G.Value) (G.Value, error) {
	n, k, m := in[0].Shape()[0], in[0].Shape()[1], in[1].Shape()[1]
	out := into(pre, in[0], n, m)
	y, b := dense[T](out), dense[T](in[2])
	for r := 0; r < n; r++ {
		copy(y[r*m:(r+1)*m], b)
	}
	gemm(false, false, n, m, k, 1, dense[T](in[0]), dense[T](in[1]), 1, y)
	return out, nil
}
func (op *linearOp) DiffWRT(int) []bool { return []bool{true, true, true} }
func (op *linearOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dx, err := MatMul(g, in[1], false, true)
	if err != nil {
		return nil, err
	}
	dw, err := MatMul(in[0], g, true, false)
	if err != nil {
		return nil, err
	}
	db, err := ColSum(g)
	return G.Nodes{dx, dw, db}, err
}

// colSumOp sums a matrix over its rows: the gradient of a broadcast bias.
type colSumOp struct {
	opBase
	noSymDiff
	t task
}

// ColSum returns the sum of the rows of x.
func ColSum(x *G.Node) (*G.Node, error) { return G.ApplyOp(&colSumOp{opBase: opBase{"ColSum"}}, x) }

func (op *colSumOp) Arity() int    { return 1 }
func (op *colSumOp) Type() hm.Type { return fnType(matT(), vecT()) }
func (op *colSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in[0])[1]}, nil
}
func (op *colSumOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *colSumOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, colSumDo[float32], colSumDo[float64])
}
func colSumDo[T Float](op *colSumOp, pre G.Value, in []G.Value) (G.Value, error) {
	d := in[0].Shape()[1]
	out := into(pre, in[0], d)
	split(&op.t, op, colSumColumns[float32], colSumColumns[float64], in, out, d, 16)
	return out, nil
}

// colSumColumns sums columns [lo, hi) over every row, rows in order.
func colSumColumns[T Float](t *task, _, lo, hi int) {
	d := t.in[0].Shape()[1]
	x, y := dense[T](t.in[0]), dense[T](t.out)
	if x32, ok := asF32(x); ok {
		colSumF32(x32, asF32Must(y), d, lo, hi)
		return
	}
	colSumRange(x, y, d, lo, hi)
}

func colSumRange[T Float](x, y []T, d, lo, hi int) {
	y = y[lo:hi]
	clear(y)
	for r := range len(x) / d {
		for j, v := range x[r*d+lo : r*d+hi] {
			y[j] += v
		}
	}
}
