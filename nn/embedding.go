package nn

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// embeddingOp gathers rows of a table by integer ids (token or position
// embeddings).
type embeddingOp struct{ opBase }

// Embedding returns the rows table[ids[i]] as an [len(ids), d] matrix.
func Embedding(ids, table *G.Node) (*G.Node, error) {
	return G.ApplyOp(&embeddingOp{opBase{"Embedding"}}, ids, table)
}

func (op *embeddingOp) Arity() int    { return 2 }
func (op *embeddingOp) Type() hm.Type { return fnType(intVecT(), matT(), matT()) }
func (op *embeddingOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in[0])[0], shapeOf(in[1])[1]}, nil
}
func (op *embeddingOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *embeddingOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, embeddingDo[float32], embeddingDo[float64])
}
func embeddingDo[T Float](_ *embeddingOp, pre G.Value, in []G.Value) (G.Value, error) {
	ids := ints(in[0])
	v, d := in[1].Shape()[0], in[1].Shape()[1]
	out := into(pre, in[1], len(ids), d)
	table, y := dense[T](in[1]), dense[T](out)
	for i, id := range ids {
		if id < 0 || id >= v {
			return nil, fmt.Errorf("nn: Embedding: id %d at position %d outside the table's %d rows", id, i, v)
		}
		copy(y[i*d:(i+1)*d], table[id*d:(id+1)*d])
	}
	return out, nil
}
func (op *embeddingOp) DiffWRT(int) []bool { return []bool{false, true} }
func (op *embeddingOp) SymDiff(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
	rows := in[1].Shape()[0]
	dt, err := G.ApplyOp(&embeddingGradOp{opBase: opBase{fmt.Sprintf("EmbeddingGrad{%d}", rows)}, rows: rows}, in[0], g)
	return G.Nodes{nil, dt}, err
}

// embeddingGradOp scatter-adds the upstream rows into a table-shaped
// gradient; repeated ids accumulate.
type embeddingGradOp struct {
	opBase
	noSymDiff
	rows int
}

func (op *embeddingGradOp) Arity() int    { return 2 }
func (op *embeddingGradOp) Type() hm.Type { return fnType(intVecT(), matT(), matT()) }
func (op *embeddingGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.rows, shapeOf(in[1])[1]}, nil
}
func (op *embeddingGradOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *embeddingGradOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, embeddingGradDo[float32], embeddingGradDo[float64])
}
func embeddingGradDo[T Float](op *embeddingGradOp, pre G.Value, in []G.Value) (G.Value, error) {
	ids, d := ints(in[0]), in[1].Shape()[1]
	out := into(pre, in[1], op.rows, d)
	g, dt := dense[T](in[1]), dense[T](out)
	clear(dt)
	for i, id := range ids {
		row := dt[id*d : (id+1)*d]
		for j, v := range g[i*d : (i+1)*d] {
			row[j] += v
		}
	}
	return out, nil
}
