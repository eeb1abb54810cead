package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Param is a named weight. Its tensor is shared by every graph built on it,
// so an optimiser step updates all of them at once.
type Param struct {
	Name      string
	Value     *tensor.Dense
	Trainable bool
}

// NewParam allocates a zero parameter.
func NewParam(name string, dt tensor.Dtype, shape ...int) *Param {
	return &Param{Name: name, Value: tensor.New(tensor.Of(dt), tensor.WithShape(shape...))}
}

// Size is the number of elements.
func (p *Param) Size() int { return p.Value.Shape().TotalSize() }

// F32 returns the float32 backing slice (nil for other dtypes).
func (p *Param) F32() []float32 { d, _ := p.Value.Data().([]float32); return d }

// F64 returns the float64 backing slice (nil for other dtypes).
func (p *Param) F64() []float64 { d, _ := p.Value.Data().([]float64); return d }

// Graph is an expression graph under construction for one input shape.
type Graph struct {
	G     *G.ExprGraph
	Dtype tensor.Dtype
	// Training is set for graphs that train: methods apply dropout only
	// there.
	Training bool
	params   map[*Param]*G.Node
	order    []*Param
}

// NewGraph starts an empty graph computing in dt.
func NewGraph(dt tensor.Dtype) *Graph {
	return &Graph{G: G.NewGraph(), Dtype: dt, params: map[*Param]*G.Node{}}
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
	return &Input{G.NewVector(g.G, tensor.Int, G.WithShape(n), G.WithName(name), G.WithValue(v)), v}
}

// FloatInput adds a vector input of length n in the graph's dtype (masks).
func (g *Graph) FloatInput(name string, n int) *Input {
	v := tensor.New(tensor.Of(g.Dtype), tensor.WithShape(n))
	return &Input{G.NewVector(g.G, g.Dtype, G.WithShape(n), G.WithName(name), G.WithValue(v)), v}
}

// SetInts copies ids into an integer input.
func (in *Input) SetInts(ids []int) { copy(in.value.Data().([]int), ids) }

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

// Program is a graph compiled for one input shape. With a loss it also
// computes the gradient of the loss for every trainable parameter, and only
// for those: the compiled subgraph holds no work for frozen weights.
type Program struct {
	graph   *Graph
	sub     *G.ExprGraph // the compiled part of the graph
	vm      G.VM
	Loss    *G.Node
	Outputs []*G.Node
	Params  []*Param  // trainable parameters, in graph order
	Grads   []*G.Node // Grads[i] is d Loss / d Params[i]
}

// Compile builds the program computing loss (may be nil for inference),
// the gradients of loss for every trainable parameter in g, and outputs.
func Compile(g *Graph, loss *G.Node, outputs ...*G.Node) (*Program, error) {
	p := &Program{graph: g, Loss: loss, Outputs: outputs}
	roots := append([]*G.Node{}, outputs...)
	if loss != nil {
		roots = append(roots, loss)
		var wrt G.Nodes
		for _, pr := range g.order {
			if pr.Trainable {
				p.Params = append(p.Params, pr)
				wrt = append(wrt, g.params[pr])
			}
		}
		if len(wrt) > 0 {
			grads, err := G.Grad(loss, wrt...)
			if err != nil {
				return nil, fmt.Errorf("nn: differentiating the loss: %w", err)
			}
			p.Grads = grads
			roots = append(roots, grads...)
		}
	}
	p.sub = g.G.ExactSubgraphRoots(roots...)
	p.vm = G.NewTapeMachine(p.sub)
	return p, nil
}

// Run executes the program once on the current inputs and parameters.
func (p *Program) Run() error {
	p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return err
	}
	if p.Loss != nil {
		if l := p.LossValue(); !isFinite(l) {
			return fmt.Errorf("nn: loss is %v", l)
		}
	}
	return nil
}

// LossValue is the loss of the last run.
func (p *Program) LossValue() float64 { return scalar(p.Loss.Value()) }

// Grad is the gradient of Params[i] from the last run, as float64s.
func (p *Program) Grad(i int) []float64 { return Float64s(p.Grads[i].Value()) }

// Float64s copies a tensor value into a new []float64.
func Float64s(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	}
	return []float64{scalar(v)}
}

// OpCounts counts the operations the program executes, by op name; tests
// use it to show that no gradient work is compiled for frozen weights.
func (p *Program) OpCounts() map[string]int {
	counts := map[string]int{}
	for _, n := range p.sub.AllNodes() {
		if op := n.Op(); op != nil {
			counts[op.String()]++
		}
	}
	return counts
}

// ValueBytes is the memory the values of one run take: the output of every
// operation the program executes (activations, their gradients and the
// weight gradients), from the shapes alone. Inputs and parameters are not
// counted: they live outside the run.
func (p *Program) ValueBytes() int64 {
	var n int64
	for _, node := range p.sub.AllNodes() {
		if node.Op() == nil || node.IsScalar() {
			continue
		}
		n += int64(node.Shape().TotalSize()) * int64(node.Dtype().Size())
	}
	return n
}

// Close releases the program's machine.
func (p *Program) Close() error { return p.vm.Close() }

// GradNorm is the global L2 norm of the last run's gradients.
func (p *Program) GradNorm() float64 {
	var s float64
	for _, g := range p.Grads {
		switch d := g.Value().Data().(type) {
		case []float32:
			for _, x := range d {
				s += float64(x) * float64(x)
			}
		case []float64:
			for _, x := range d {
				s += x * x
			}
		}
	}
	return math.Sqrt(s)
}
