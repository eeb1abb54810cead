package nn

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Param is a named weight. Its tensor is shared by every graph built on it,
// so an optimiser step updates all of them at once.
type Param struct {
	Name      string
	Value     *tensor.Dense
	Trainable bool
	// LRScale multiplies the learning rate of this parameter (0 means 1):
	// LoRA+ trains B at a multiple of A's rate.
	LRScale float64
}

// NewParam allocates a zero parameter.
func NewParam(name string, dt tensor.Dtype, shape ...int) *Param {
	return &Param{Name: name, Value: tensor.New(tensor.Of(dt), tensor.WithShape(shape...))}
}

// Size is the number of elements.
func (p *Param) Size() int { return p.Value.Shape().TotalSize() }

// F32 returns the float32 backing slice (nil for other dtypes).
func (p *Param) F32() []float32 {
	if p.Value.Dtype() != tensor.Float32 {
		return nil
	}
	return p.Value.Float32s()
}

// F64 returns the float64 backing slice (nil for other dtypes).
func (p *Param) F64() []float64 {
	if p.Value.Dtype() != tensor.Float64 {
		return nil
	}
	return p.Value.Float64s()
}

// Graph is an expression graph under construction for one input shape.
type Graph struct {
	G     *G.ExprGraph
	Dtype tensor.Dtype
	// Training is set for graphs that train: methods apply dropout only
	// there.
	Training bool
	// Arena is where programs compiled from the graph compute (nil: an
	// arena of their own).
	Arena  *Arena
	params map[*Param]*G.Node
	order  []*Param
	// inputs are the values of the graph's inputs: a program on a device
	// copies them in at every run, and every other leaf once.
	inputs map[*tensor.Dense]bool
}

// NewGraph starts an empty graph computing in dt.
func NewGraph(dt tensor.Dtype) *Graph {
	return &Graph{G: G.NewGraph(), Dtype: dt, params: map[*Param]*G.Node{}, inputs: map[*tensor.Dense]bool{}}
}

// Param returns the node bound to p, creating it on first use.
func (g *Graph) Param(p *Param) *G.Node {
	if n, ok := g.params[p]; ok {
		return n
	}
	var n *G.Node
	if p.Value.Dims() == 1 {
		n = G.NewVector(g.G, p.Value.Dtype(), G.WithShape(p.Value.Shape()...), G.WithName(p.Name), G.WithValue(p.Value))
	} else {
		n = G.NewMatrix(g.G, p.Value.Dtype(), G.WithShape(p.Value.Shape()...), G.WithName(p.Name), G.WithValue(p.Value))
	}
	g.params[p] = n
	g.order = append(g.order, p)
	return n
}

// Params lists the parameters used in the graph, in first-use order.
func (g *Graph) Params() []*Param { return g.order }

// Input is a graph input whose values are copied in before each run.
type Input struct {
	Node  *G.Node
	value *tensor.Dense
}

// IntInput adds an integer vector input of length n (token ids, targets).
func (g *Graph) IntInput(name string, n int) *Input {
	v := tensor.New(tensor.Of(tensor.Int), tensor.WithShape(n))
	g.inputs[v] = true
	return &Input{G.NewVector(g.G, tensor.Int, G.WithShape(n), G.WithName(name), G.WithValue(v)), v}
}

// FloatInput adds a vector input of length n in the graph's dtype (masks).
func (g *Graph) FloatInput(name string, n int) *Input {
	v := tensor.New(tensor.Of(g.Dtype), tensor.WithShape(n))
	g.inputs[v] = true
	return &Input{G.NewVector(g.G, g.Dtype, G.WithShape(n), G.WithName(name), G.WithValue(v)), v}
}

// MatrixInput adds a rows×cols input in the graph's dtype (cached
// activations).
func (g *Graph) MatrixInput(name string, rows, cols int) *Input {
	v := tensor.New(tensor.Of(g.Dtype), tensor.WithShape(rows, cols))
	g.inputs[v] = true
	return &Input{G.NewMatrix(g.G, g.Dtype, G.WithShape(rows, cols), G.WithName(name), G.WithValue(v)), v}
}

// Data is the input's backing slice ([]int, []float32 or []float64), to
// fill in place.
func (in *Input) Data() any { return in.value.Data() }

// SetInts copies ids into an integer input.
func (in *Input) SetInts(ids []int) { copy(in.value.Ints(), ids) }

// SetFloats copies weights into a float input.
func (in *Input) SetFloats(w []float64) {
	switch d := in.value.Data().(type) {
	case []float32:
		for i, v := range w {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, w)
	}
}
