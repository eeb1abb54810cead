package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The ops in this file are the small element-wise pieces methods compose:
// scaling (LoRA's alpha/r, IA3's learned scales), DoRA's column norms and
// ratios, tanh for prefix reparameterisation, and dropout.

// scaleOp multiplies every element by a constant.
type scaleOp struct {
	opBase
	c float64
	t task
}

// Scale returns c·x.
func Scale(x *G.Node, c float64) (*G.Node, error) {
	return G.ApplyOp(&scaleOp{opBase: opBase{fmt.Sprintf("Scale{%v}", c)}, c: c}, x)
}

func (op *scaleOp) Arity() int    { return 1 }
func (op *scaleOp) Type() hm.Type { return fnType(tvA, tvA) }
func (op *scaleOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in[0]).Clone(), nil
}
func (op *scaleOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *scaleOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, scaleDo[float32], scaleDo[float64])
}
func scaleDo[T Float](op *scaleOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], in[0].Shape()...)
	split(&op.t, op, scaleSpan[float32], scaleSpan[float64], in, out, in[0].Shape().TotalSize(), 1<<14)
	return out, nil
}

func scaleSpan[T Float](t *task, _, lo, hi int) {
	x, y, c := dense[T](t.in[0])[lo:hi], dense[T](t.out)[lo:hi], T(t.op.(*scaleOp).c)
	for i, v := range x {
		y[i] = c * v
	}
}
func (op *scaleOp) DiffWRT(int) []bool { return []bool{true} }
func (op *scaleOp) SymDiff(_ G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dx, err := Scale(g, op.c)
	return G.Nodes{dx}, err
}

// binaryOp is element-wise a·b or a/b for tensors of equal shape.
type binaryOp struct {
	opBase
	div bool
}

// Mul returns the element-wise product a∘b.
func Mul(a, b *G.Node) (*G.Node, error) { return G.ApplyOp(&binaryOp{opBase: opBase{"Mul"}}, a, b) }

// Div returns the element-wise quotient a/b.
func Div(a, b *G.Node) (*G.Node, error) {
	return G.ApplyOp(&binaryOp{opBase: opBase{"Div"}, div: true}, a, b)
}

func (op *binaryOp) Arity() int    { return 2 }
func (op *binaryOp) Type() hm.Type { return fnType(tvA, tvA, tvA) }
func (op *binaryOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	a, b := shapeOf(in[0]), shapeOf(in[1])
	if !a.Eq(b) {
		return nil, fmt.Errorf("nn: %s: shapes %v and %v differ", op.name, a, b)
	}
	return a.Clone(), nil
}
func (op *binaryOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *binaryOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, binaryDo[float32], binaryDo[float64])
}
func binaryDo[T Float](op *binaryOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], in[0].Shape()...)
	a, b, y := dense[T](in[0]), dense[T](in[1]), dense[T](out)
	for i := range y {
		if op.div {
			y[i] = a[i] / b[i]
		} else {
			y[i] = a[i] * b[i]
		}
	}
	return out, nil
}
func (op *binaryOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *binaryOp) SymDiff(in G.Nodes, out, g *G.Node) (G.Nodes, error) {
	if !op.div { // d(ab) = g·b, g·a
		da, err := Mul(g, in[1])
		if err != nil {
			return nil, err
		}
		db, err := Mul(g, in[0])
		return G.Nodes{da, db}, err
	}
	// d(a/b) = g/b, −g·(a/b)/b
	da, err := Div(g, in[1])
	if err != nil {
		return nil, err
	}
	t, err := Mul(da, out)
	if err != nil {
		return nil, err
	}
	db, err := Scale(t, -1)
	return G.Nodes{da, db}, err
}

// scaleColumnsOp multiplies column j of x [N, d] by s[j].
type scaleColumnsOp struct{ opBase }

// ScaleColumns returns x with each column j multiplied by s[j] (a learned
// per-feature scale, as IA3 and DoRA apply).
func ScaleColumns(x, s *G.Node) (*G.Node, error) {
	return G.ApplyOp(&scaleColumnsOp{opBase{"ScaleColumns"}}, x, s)
}

func (op *scaleColumnsOp) Arity() int    { return 2 }
func (op *scaleColumnsOp) Type() hm.Type { return fnType(matT(), vecT(), matT()) }
func (op *scaleColumnsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, s := shapeOf(in[0]), shapeOf(in[1])
	if s[0] != x[1] {
		return nil, fmt.Errorf("nn: ScaleColumns: x %v and scales %v disagree", x, s)
	}
	return x.Clone(), nil
}
func (op *scaleColumnsOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *scaleColumnsOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, scaleColumnsDo[float32], scaleColumnsDo[float64])
}
func scaleColumnsDo[T Float](_ *scaleColumnsOp, pre G.Value, in []G.Value) (G.Value, error) {
	d := in[0].Shape()[1]
	out := into(pre, in[0], in[0].Shape()...)
	x, s, y := dense[T](in[0]), dense[T](in[1]), dense[T](out)
	for i, v := range x {
		y[i] = v * s[i%d]
	}
	return out, nil
}
func (op *scaleColumnsOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *scaleColumnsOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dx, err := ScaleColumns(g, in[1])
	if err != nil {
		return nil, err
	}
	gx, err := Mul(g, in[0])
	if err != nil {
		return nil, err
	}
	ds, err := ColSum(gx)
	return G.Nodes{dx, ds}, err
}

// colNormOp is the L2 norm of each column of a matrix [in, out] -> [out]:
// the per-output weight norm DoRA divides by.
type colNormOp struct{ opBase }

// ColNorm returns ‖w[:, j]‖₂ for every column j.
func ColNorm(w *G.Node) (*G.Node, error) { return G.ApplyOp(&colNormOp{opBase{"ColNorm"}}, w) }

func (op *colNormOp) Arity() int    { return 1 }
func (op *colNormOp) Type() hm.Type { return fnType(matT(), vecT()) }
func (op *colNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in[0])[1]}, nil
}
func (op *colNormOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *colNormOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, colNormDo[float32], colNormDo[float64])
}
func colNormDo[T Float](_ *colNormOp, pre G.Value, in []G.Value) (G.Value, error) {
	n, d := in[0].Shape()[0], in[0].Shape()[1]
	out := into(pre, in[0], d)
	w, y := dense[T](in[0]), dense[T](out)
	for j := range y {
		var s float64
		for r := 0; r < n; r++ {
			v := float64(w[r*d+j])
			s += v * v
		}
		y[j] = T(math.Sqrt(s))
	}
	return out, nil
}
func (op *colNormOp) DiffWRT(int) []bool { return []bool{true} }
func (op *colNormOp) SymDiff(in G.Nodes, out, g *G.Node) (G.Nodes, error) {
	// d‖w_j‖/dw_ij = w_ij/‖w_j‖: scale the columns of w by g/‖w‖.
	r, err := Div(g, out)
	if err != nil {
		return nil, err
	}
	dw, err := ScaleColumns(in[0], r)
	return G.Nodes{dw}, err
}

// tanhOp applies tanh element-wise; with grad set it is the backward pass,
// taking (y, g) and giving g·(1−y²).
type tanhOp struct {
	opBase
	grad bool
}

// Tanh returns tanh(x).
func Tanh(x *G.Node) (*G.Node, error) { return G.ApplyOp(&tanhOp{opBase: opBase{"Tanh"}}, x) }

func (op *tanhOp) Arity() int {
	if op.grad {
		return 2
	}
	return 1
}
func (op *tanhOp) Type() hm.Type {
	if op.grad {
		return fnType(tvA, tvA, tvA)
	}
	return fnType(tvA, tvA)
}
func (op *tanhOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in[0]).Clone(), nil
}
func (op *tanhOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *tanhOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, tanhDo[float32], tanhDo[float64])
}
func tanhDo[T Float](op *tanhOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], in[0].Shape()...)
	x, y := dense[T](in[0]), dense[T](out)
	if op.grad {
		g := dense[T](in[1])
		for i, v := range x {
			y[i] = g[i] * (1 - v*v)
		}
		return out, nil
	}
	for i, v := range x {
		y[i] = tanh(v)
	}
	return out, nil
}
func (op *tanhOp) DiffWRT(n int) []bool { return []bool{!op.grad, false}[:n] }
func (op *tanhOp) SymDiff(_ G.Nodes, out, g *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&tanhOp{opBase{"TanhGrad"}, true}, out, g)
	return G.Nodes{dx}, err
}

// reluOp applies max(0, x) element-wise; with grad set it is the backward
// pass, taking (y, g) and giving g where y > 0 and 0 elsewhere (the
// derivative at 0 taken as 0, as PyTorch's ReLU takes it).
type reluOp struct {
	opBase
	grad bool
}

// ReLU returns max(0, x).
func ReLU(x *G.Node) (*G.Node, error) { return G.ApplyOp(&reluOp{opBase: opBase{"ReLU"}}, x) }

func (op *reluOp) Arity() int {
	if op.grad {
		return 2
	}
	return 1
}
func (op *reluOp) Type() hm.Type {
	if op.grad {
		return fnType(tvA, tvA, tvA)
	}
	return fnType(tvA, tvA)
}
func (op *reluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in[0]).Clone(), nil
}
func (op *reluOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *reluOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, reluDo[float32], reluDo[float64])
}
func reluDo[T Float](op *reluOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], in[0].Shape()...)
	x, y := dense[T](in[0]), dense[T](out)
	if op.grad {
		g := dense[T](in[1])
		for i, v := range x {
			if v > 0 {
				y[i] = g[i]
			} else {
				y[i] = 0
			}
		}
		return out, nil
	}
	for i, v := range x {
		if v > 0 {
			y[i] = v
		} else {
			y[i] = 0
		}
	}
	return out, nil
}
func (op *reluOp) DiffWRT(n int) []bool { return []bool{!op.grad, false}[:n] }
func (op *reluOp) SymDiff(_ G.Nodes, out, g *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&reluOp{opBase{"ReLUGrad"}, true}, out, g)
	return G.Nodes{dx}, err
}

// dropoutOp zeroes each element with probability p and scales the rest by
// 1/(1−p) (inverted dropout; gorgonia's own Dropout divides by p in its
// backward pass). The mask is drawn from the op's own seeded generator at
// every forward run and shared with the backward op, so a run is
// reproducible from its seed.
type dropoutOp struct {
	opBase
	p    float64
	rng  *rand.Rand
	mask []bool
	hold bool // keep the current mask (finite-difference checks only)
}

// Dropout applies inverted dropout with probability p, seeded by seed.
func Dropout(x *G.Node, p float64, seed uint64) (*G.Node, error) {
	if p < 0 || p >= 1 {
		return nil, fmt.Errorf("nn: dropout probability %v outside [0, 1)", p)
	}
	op := &dropoutOp{opBase: opBase{fmt.Sprintf("Dropout{%v,%d,%p}", p, seed, x)}, p: p, rng: rand.New(rand.NewPCG(seed, 0xd509))}
	return G.ApplyOp(op, x)
}

func (op *dropoutOp) Arity() int    { return 1 }
func (op *dropoutOp) Type() hm.Type { return fnType(tvA, tvA) }
func (op *dropoutOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in[0]).Clone(), nil
}
func (op *dropoutOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *dropoutOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	if n := in[0].Shape().TotalSize(); len(op.mask) != n {
		op.mask = make([]bool, n)
	} else if op.hold {
		return byDtype(op, pre, in, dropoutDo[float32], dropoutDo[float64])
	}
	op.drawMask()
	return byDtype(op, pre, in, dropoutDo[float32], dropoutDo[float64])
}

// drawMask draws the next mask from the op's generator.
func (op *dropoutOp) drawMask() {
	for i := range op.mask {
		op.mask[i] = op.rng.Float64() >= op.p
	}
}
func dropoutDo[T Float](op *dropoutOp, pre G.Value, in []G.Value) (G.Value, error) {
	out := into(pre, in[0], in[0].Shape()...)
	x, y, k := dense[T](in[0]), dense[T](out), T(1/(1-op.p))
	for i, keep := range op.mask {
		if keep {
			y[i] = x[i] * k
		} else {
			y[i] = 0
		}
	}
	return out, nil
}
func (op *dropoutOp) DiffWRT(int) []bool { return []bool{true} }
func (op *dropoutOp) SymDiff(_ G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&dropoutGradOp{opBase: opBase{"DropoutGrad" + op.name}, fwd: op}, g)
	return G.Nodes{dx}, err
}

// dropoutGradOp applies the forward op's last mask to the gradient.
type dropoutGradOp struct {
	opBase
	noSymDiff
	fwd *dropoutOp
}

func (op *dropoutGradOp) Arity() int    { return 1 }
func (op *dropoutGradOp) Type() hm.Type { return fnType(tvA, tvA) }
func (op *dropoutGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in[0]).Clone(), nil
}
func (op *dropoutGradOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *dropoutGradOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op.fwd, pre, in, dropoutDo[float32], dropoutDo[float64])
}
