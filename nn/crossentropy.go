package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// crossEntropyOp is the mean negative log-likelihood of integer targets
// under softmax(logits), over the rows whose mask weight is non-zero. The
// mask lets fine-tuning score only answer tokens and skip padding.
type crossEntropyOp struct{ opBase }

// CrossEntropy returns Σ mask_i·(−log softmax(logits_i)[targets_i]) / Σ mask_i
// for logits [N, V], integer targets [N] and mask weights [N]. Targets of
// rows with zero weight are ignored (padding may use any value).
func CrossEntropy(logits, targets, mask *G.Node) (*G.Node, error) {
	return G.ApplyOp(&crossEntropyOp{opBase{"CrossEntropy"}}, logits, targets, mask)
}

func (op *crossEntropyOp) Arity() int    { return 3 }
func (op *crossEntropyOp) Type() hm.Type { return fnType(matT(), intVecT(), vecT(), tvA) }
func (op *crossEntropyOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	l, t, m := shapeOf(in[0]), shapeOf(in[1]), shapeOf(in[2])
	if t[0] != l[0] || m[0] != l[0] {
		return nil, fmt.Errorf("nn: CrossEntropy: logits %v, targets %v, mask %v disagree", l, t, m)
	}
	return tensor.ScalarShape(), nil
}
func (op *crossEntropyOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *crossEntropyOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, crossEntropyDo[float32], crossEntropyDo[float64])
}

// rowLogSumExp returns max(row) and log Σ exp(row − max).
func rowLogSumExp[T Float](row []T) (mx T, lse float64) {
	if r, ok := asF32(row); ok {
		m := maxF32(r)
		return T(m), math.Log(expF32(r, nil, m, 1))
	}
	mx = row[0]
	for _, v := range row[1:] {
		mx = max(mx, v)
	}
	var s float64
	for _, v := range row {
		s += float64(exp(v - mx))
	}
	return mx, math.Log(s)
}

// ceRows checks the targets of weighted rows and returns the total weight.
func ceRows[T Float](targets []int, mask []T, v int) (T, error) {
	var total T
	for i, w := range mask {
		if w == 0 {
			continue
		}
		if t := targets[i]; t < 0 || t >= v {
			return 0, fmt.Errorf("nn: CrossEntropy: target %d at row %d outside the vocabulary of %d", t, i, v)
		}
		total += w
	}
	if total == 0 {
		return 0, fmt.Errorf("nn: CrossEntropy: the mask selects no rows")
	}
	return total, nil
}

func crossEntropyDo[T Float](_ *crossEntropyOp, pre G.Value, in []G.Value) (G.Value, error) {
	n, v := in[0].Shape()[0], in[0].Shape()[1]
	logits, targets, mask := dense[T](in[0]), ints(in[1]), dense[T](in[2])
	total, err := ceRows(targets, mask, v)
	if err != nil {
		return nil, err
	}
	var loss float64
	for i := 0; i < n; i++ {
		if mask[i] == 0 {
			continue
		}
		row := logits[i*v : (i+1)*v]
		mx, lse := rowLogSumExp(row)
		loss += float64(mask[i]) * (lse - float64(row[targets[i]]-mx))
	}
	loss /= float64(total)
	return setScalar(pre, in[0], loss), nil
}

func (op *crossEntropyOp) DiffWRT(int) []bool { return []bool{true, false, false} }
func (op *crossEntropyOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	dl, err := G.ApplyOp(&crossEntropyGradOp{opBase: opBase{"CrossEntropyGrad"}}, in[0], in[1], in[2], g)
	return G.Nodes{dl, nil, nil}, err
}

// crossEntropyGradOp is (softmax(logits) − onehot(target))·mask_i/Σmask·g.
type crossEntropyGradOp struct {
	opBase
	noSymDiff
	t task
	g float64 // upstream gradient over the total weight, for the run in flight
}

func (op *crossEntropyGradOp) Arity() int { return 4 }
func (op *crossEntropyGradOp) Type() hm.Type {
	return fnType(matT(), intVecT(), vecT(), tvA, matT())
}
func (op *crossEntropyGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in[0]).Clone(), nil
}
func (op *crossEntropyGradOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *crossEntropyGradOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, crossEntropyGradDo[float32], crossEntropyGradDo[float64])
}
func crossEntropyGradDo[T Float](op *crossEntropyGradOp, pre G.Value, in []G.Value) (G.Value, error) {
	n, v := in[0].Shape()[0], in[0].Shape()[1]
	total, err := ceRows(ints(in[1]), dense[T](in[2]), v)
	if err != nil {
		return nil, err
	}
	op.g = scalar(in[3]) / float64(total)
	out := into(pre, in[0], n, v)
	split(&op.t, op, crossEntropyGradRows[float32], crossEntropyGradRows[float64], in, out, n, rowGrain(v))
	return out, nil
}

func crossEntropyGradRows[T Float](t *task, _, lo, hi int) {
	v := t.in[0].Shape()[1]
	logits, targets, mask, dl := dense[T](t.in[0]), ints(t.in[1]), dense[T](t.in[2]), dense[T](t.out)
	g := T(t.op.(*crossEntropyGradOp).g)
	for i := lo; i < hi; i++ {
		row, dr := logits[i*v:(i+1)*v], dl[i*v:(i+1)*v]
		if mask[i] == 0 {
			clear(dr)
			continue
		}
		mx, lse := rowLogSumExp(row)
		w := g * mask[i]
		shift := mx + T(lse)
		if r, ok := asF32(row); ok {
			expF32(r, asF32Must(dr), float32(shift), float32(w))
		} else {
			for j, x := range row {
				dr[j] = w * exp(x-shift)
			}
		}
		dr[targets[i]] -= w
	}
}

// tokenLogProbOp gives log softmax(logits_i)[targets_i] per row: the
// per-token scores that evaluation sums (bits per byte, label ranking).
// It is forward-only.
type tokenLogProbOp struct {
	opBase
	noSymDiff
}

// TokenLogProbs returns the log-probability of each row's target, [N].
func TokenLogProbs(logits, targets *G.Node) (*G.Node, error) {
	return G.ApplyOp(&tokenLogProbOp{opBase: opBase{"TokenLogProbs"}}, logits, targets)
}

func (op *tokenLogProbOp) Arity() int    { return 2 }
func (op *tokenLogProbOp) Type() hm.Type { return fnType(matT(), intVecT(), vecT()) }
func (op *tokenLogProbOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in[0])[0]}, nil
}
func (op *tokenLogProbOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *tokenLogProbOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, tokenLogProbDo[float32], tokenLogProbDo[float64])
}
func tokenLogProbDo[T Float](_ *tokenLogProbOp, pre G.Value, in []G.Value) (G.Value, error) {
	n, v := in[0].Shape()[0], in[0].Shape()[1]
	logits, targets := dense[T](in[0]), ints(in[1])
	out := into(pre, in[0], n)
	lp := dense[T](out)
	for i := 0; i < n; i++ {
		t := targets[i]
		if t < 0 || t >= v {
			lp[i] = 0 // padding
			continue
		}
		row := logits[i*v : (i+1)*v]
		mx, lse := rowLogSumExp(row)
		lp[i] = T(float64(row[t]-mx) - lse)
	}
	return out, nil
}
