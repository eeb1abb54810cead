package nn

import (
	"fmt"
	"math"
	"runtime"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Program is a graph compiled for one input shape. With a loss it also
// computes the gradient of the loss for every trainable parameter, and only
// for those: the compiled subgraph holds no work for frozen weights.
//
// gorgonia builds the graph and differentiates it; the program executes
// it. gorgonia's TapeMachine allocates every value afresh on each run (its
// Reset drops all buffers), which made allocation and page faults a large
// part of a training step. A program instead plans, once, a buffer for
// every operation's result inside an Arena, reusing a buffer as soon as the
// last reader of its value has run, and each run makes every operation
// write into its buffer (gorgonia's UsePreallocDo): a run allocates nothing.
type Program struct {
	sub     *G.ExprGraph // the compiled part of the graph
	Loss    *G.Node
	Outputs []*G.Node
	Params  []*Param  // trainable parameters, in graph order
	Grads   []*G.Node // Grads[i] is d Loss / d Params[i]

	arena  *Arena
	bound  bool
	gen    int    // the arena generation the buffers were bound to
	need   [2]int // arena elements a run needs, float32 and float64
	slots  []slot
	slotOf map[*G.Node]int
	steps  []step
	inputs map[*tensor.Dense]bool // the graph's inputs (see Graph.inputs)
}

// slot holds one value of the program: a leaf's own tensor (parameters,
// inputs, constants) or an operation's buffer in the arena.
type slot struct {
	value  G.Value
	leaf   bool
	dtype  tensor.Dtype
	shape  tensor.Shape
	offset int // into the arena's slab of the slot's dtype
}

// step is one operation: it reads args and writes into slot out.
type step struct {
	op   G.UsePreallocDoer
	name string
	args []int
	in   []G.Value // the args' values, bound with the buffers
	out  int
}

// Arena is the memory programs compute in: one slab per float type, grown
// to the largest program that uses it. Programs that never run at the same
// time, such as one trainer's programs for each batch shape, share one, so
// their values take the memory of the largest program rather than the sum.
// A run overwrites the values of the previous run of any program sharing
// the arena.
type Arena struct {
	f32 []float32
	f64 []float64
	gen int
	// bound are the programs holding views of the current slabs.
	bound []*Program
}

// NewArena returns an empty arena.
func NewArena() *Arena { return &Arena{} }

// Bytes is the memory the arena holds.
func (a *Arena) Bytes() int64 { return int64(4*len(a.f32) + 8*len(a.f64)) }

// fit grows the slabs to hold n[0] float32 and n[1] float64 elements.
// Every program bound to the old slabs lets go of its views first, and
// the old slabs are collected before the new ones are allocated: else each
// program compiled earlier would keep the slab of its day alive, and a
// trainer whose batches grow would hold every generation of its arena
// (measured: 2-2.7 times the largest program's values in a trial).
func (a *Arena) fit(n [2]int) {
	if len(a.f32) >= n[0] && len(a.f64) >= n[1] {
		return
	}
	for _, p := range a.bound {
		p.unbind()
	}
	a.bound = nil
	grow32, grow64 := len(a.f32) < n[0], len(a.f64) < n[1]
	freed := 0
	if grow32 {
		freed, a.f32 = freed+4*len(a.f32), nil
	}
	if grow64 {
		freed, a.f64 = freed+8*len(a.f64), nil
	}
	if freed >= 1<<20 { // small slabs are not worth a collection
		runtime.GC()
	}
	if grow32 {
		a.f32 = make([]float32, n[0])
	}
	if grow64 {
		a.f64 = make([]float64, n[1])
	}
	a.gen++
}

func slab(dt tensor.Dtype) int {
	if dt == tensor.Float64 {
		return 1
	}
	return 0
}

// Compile builds the program computing loss (may be nil for inference),
// the gradients of loss for every trainable parameter in g, and outputs.
// It runs in g.Arena, or in an arena of its own when that is nil.
func Compile(g *Graph, loss *G.Node, outputs ...*G.Node) (*Program, error) {
	p := &Program{Loss: loss, Outputs: outputs, arena: g.Arena, inputs: g.inputs}
	if p.arena == nil {
		p.arena = NewArena()
	}
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
	if err := p.plan(roots); err != nil { // the roots are the values read after a run
		return nil, err
	}
	return p, nil
}

// gradientSum says whether n is gorgonia's own element-wise addition of
// two equal shapes, which its differentiation puts where a value has
// several readers, to sum their gradients. That op takes a tensor header
// from gorgonia's pool on every run; the engine's Add computes the same
// sums (one IEEE addition each, so the same bits) in the planned buffer.
func gradientSum(n *G.Node, args []*G.Node) bool {
	return fmt.Sprintf("%T", n.Op()) == "gorgonia.elemBinOp" && strings.HasPrefix(n.Op().String(), "+ ") &&
		len(args) == 2 && args[0].Shape().Eq(args[1].Shape()) && args[0].Shape().Eq(n.Shape())
}

// plan orders the operations (gorgonia's stable topological sort, inputs
// first) and gives each result an offset in the arena: a result takes a
// freed buffer of its exact size when there is one, else new space. The
// buffer of a value is freed after its last reader unless it is kept
// (the loss, outputs and gradients, read after the run).
func (p *Program) plan(kept []*G.Node) error {
	order, err := G.Sort(p.sub)
	if err != nil {
		return fmt.Errorf("nn: ordering the program: %w", err)
	}
	p.slotOf = make(map[*G.Node]int, len(order))
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		s := slot{dtype: n.Dtype(), shape: n.Shape().Clone(), offset: -1}
		args := inputsOf(p.sub, n)
		if len(args) == 0 {
			if s.value = n.Value(); s.value == nil {
				return fmt.Errorf("nn: input %q has no value", n.Name())
			}
			s.leaf = true
		} else {
			op, ok := n.Op().(G.UsePreallocDoer)
			if !ok {
				return fmt.Errorf("nn: op %v cannot write into a buffer", n.Op())
			}
			if gradientSum(n, args) {
				op = &addOp{opBase: opBase{"Add"}}
			}
			st := step{op: op, name: n.Op().String(), out: len(p.slots)}
			for _, c := range args {
				ci, ok := p.slotOf[c]
				if !ok {
					return fmt.Errorf("nn: op %v reads %q before it is computed", n.Op(), c.Name())
				}
				st.args = append(st.args, ci)
			}
			st.in = make([]G.Value, len(st.args))
			p.steps = append(p.steps, st)
		}
		p.slotOf[n] = len(p.slots)
		p.slots = append(p.slots, s)
	}

	last := make([]int, len(p.slots))
	for i, st := range p.steps {
		for _, a := range st.args {
			last[a] = i
		}
	}
	for _, n := range kept {
		if i, ok := p.slotOf[n]; ok {
			last[i] = len(p.steps)
		}
	}
	type key struct {
		dt   int
		size int
	}
	free := map[key][]int{}
	for i, st := range p.steps {
		s := &p.slots[st.out]
		if !s.shape.IsScalar() {
			k := key{slab(s.dtype), s.shape.TotalSize()}
			if f := free[k]; len(f) > 0 {
				s.offset, free[k] = f[len(f)-1], f[:len(f)-1]
			} else {
				s.offset = p.need[k.dt]
				p.need[k.dt] += k.size
			}
		}
		for j, a := range st.args {
			r := &p.slots[a]
			if r.leaf || r.offset < 0 || last[a] != i || seenBefore(st.args[:j], a) {
				continue
			}
			k := key{slab(r.dtype), r.shape.TotalSize()}
			free[k] = append(free[k], r.offset)
		}
	}
	return nil
}

// inputsOf lists the inputs of n in argument order.
func inputsOf(g *G.ExprGraph, n *G.Node) []*G.Node {
	it := g.From(n.ID())
	var out []*G.Node
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

func seenBefore(args []int, a int) bool {
	for _, b := range args {
		if b == a {
			return true
		}
	}
	return false
}

// bind makes every result slot a view of its place in the arena, and
// every step's argument list point at the values it reads.
func (p *Program) bind() {
	for i := range p.slots {
		s := &p.slots[i]
		switch {
		case s.leaf:
		case s.shape.IsScalar():
			if s.value == nil {
				if s.dtype == tensor.Float64 {
					s.value = G.NewF64(0)
				} else {
					s.value = G.NewF32(0)
				}
			}
		default:
			n := s.shape.TotalSize()
			var back any
			if slab(s.dtype) == 1 {
				back = p.arena.f64[s.offset : s.offset+n : s.offset+n]
			} else {
				back = p.arena.f32[s.offset : s.offset+n : s.offset+n]
			}
			s.value = tensor.New(tensor.WithBacking(back), tensor.WithShape(s.shape...))
		}
	}
	for i := range p.steps {
		st := &p.steps[i]
		for j, a := range st.args {
			st.in[j] = p.slots[a].value
		}
	}
	p.gen, p.bound = p.arena.gen, true
	p.arena.bound = append(p.arena.bound, p)
}

// unbind drops the program's views of the arena's slabs; its next run
// binds again.
func (p *Program) unbind() {
	for i := range p.slots {
		if s := &p.slots[i]; !s.leaf && !s.shape.IsScalar() {
			s.value = nil
		}
	}
	for i := range p.steps {
		clear(p.steps[i].in)
	}
	p.bound = false
}

// Run executes the program once on the current inputs and parameters.
func (p *Program) Run() error {
	p.arena.fit(p.need)
	if !p.bound || p.gen != p.arena.gen {
		p.bind()
	}
	for i := range p.steps {
		st := &p.steps[i]
		out := p.slots[st.out].value
		v, err := st.op.UsePreallocDo(out, st.in...)
		if err != nil {
			return fmt.Errorf("nn: %s: %w", st.name, err)
		}
		if v != out {
			return fmt.Errorf("nn: %s did not write into its buffer", st.name)
		}
	}
	if p.Loss != nil {
		if l := p.LossValue(); !isFinite(l) {
			return fmt.Errorf("nn: loss is %v", l)
		}
	}
	return nil
}

// Value is the value of node n from the last run. Values live in the
// program's arena: the next run of any program sharing it overwrites them.
func (p *Program) Value(n *G.Node) G.Value {
	i, ok := p.slotOf[n]
	if !ok {
		return nil
	}
	return p.slots[i].value
}

// LossValue is the loss of the last run.
func (p *Program) LossValue() float64 { return scalar(p.Value(p.Loss)) }

// Grad is the gradient of Params[i] from the last run, as float64s.
func (p *Program) Grad(i int) []float64 { return Float64s(p.Value(p.Grads[i])) }

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
	for _, st := range p.steps {
		counts[st.name]++
	}
	return counts
}

// ValueBytes is the size of every value one run computes (activations,
// their gradients and the weight gradients), from the shapes alone.
// Inputs and parameters are not counted: they live outside the run.
func (p *Program) ValueBytes() int64 {
	var n int64
	for _, st := range p.steps {
		s := p.slots[st.out]
		n += int64(s.shape.TotalSize()) * int64(s.dtype.Size())
	}
	return n
}

// PlannedBytes is the arena memory a run needs: values whose lifetimes do
// not overlap share buffers, so it is at most ValueBytes.
func (p *Program) PlannedBytes() int64 { return int64(4*p.need[0] + 8*p.need[1]) }

// Close lets go of the program's buffers.
func (p *Program) Close() error {
	p.slots, p.steps = nil, nil
	if a := p.arena; a != nil {
		for i, q := range a.bound {
			if q == p {
				a.bound = append(a.bound[:i], a.bound[i+1:]...)
				break
			}
		}
	}
	return nil
}

// GradNorm is the global L2 norm of the last run's gradients.
func (p *Program) GradNorm() float64 {
	var s float64
	for _, g := range p.Grads {
		if v := p.Value(g); v.Dtype() == tensor.Float64 {
			s += sumSquares(dense[float64](v))
		} else {
			s += sumSquares(dense[float32](v))
		}
	}
	return math.Sqrt(s)
}

func sumSquares[T Float](x []T) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}
