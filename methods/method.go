// Package methods is the registry of fine-tuning methods: full fine-tuning
// and the parameter-efficient methods of the literature (LoRA, DoRA,
// prompt tuning, prefix tuning, IA3, BitFit, adapters). Each method lives
// in one file, attaches to a model through its hook points (never by
// editing model code), declares its hyper-parameters with defaults and
// valid ranges, states its part of the GPU memory projection (Projector)
// and how reports show it (Displayed), and registers itself at init:
// adding a method touches no other file, but for a line in package
// display's declarations when a hyper-parameter sizes it (a rank, say) or
// it is a control, which readers of results must know without linking
// this package (the registry's tests ask for the line).
package methods

import (
	"fmt"
	"sort"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// Method is one fine-tuning method.
type Method interface {
	Name() string
	// Doc is one line on what trains.
	Doc() string
	// Params declares the hyper-parameters, their defaults and ranges.
	Params() []Spec
	// DefaultLR is the peak learning rate a sweep uses unless told
	// otherwise.
	DefaultLR() float64
	// Attach freezes or unfreezes the model's weights as the method needs
	// and returns its hooks and its own weights. v holds validated values
	// for every declared hyper-parameter. The base's tokenizer may be nil
	// unless a hyper-parameter needs it.
	Attach(base *model.Base, v Values, seed uint64) (*Attached, error)
}

// Attached is a method bound to one model.
type Attached struct {
	Method string
	Values Values
	// Hooks go to every forward pass built for the model; Attach rejects
	// any that model.CheckHooks does (a mistyped hook method).
	Hooks []model.Hook
	// Own are the method's weights (for full fine-tuning and BitFit, the
	// model weights it trains): what its adapter file holds.
	Own []*nn.Param
	// Merger is set for methods that fold into the base weights.
	Merger Merger
	// Positions is the number of sequence positions the method takes
	// from the context (prompt tuning's virtual tokens).
	Positions int
	// CacheLimit, when positive, asks for an activation cache of at most
	// this many bytes (train.ActivationCache): the method's weights lie
	// beside the backbone, whose block outputs are then the same every
	// epoch.
	CacheLimit int64
}

// Merger folds a method's update into the base weights and back. Unmerge
// restores the base weights bit for bit.
type Merger interface {
	Merge() error
	Unmerge() error
}

// Trainable lists every weight that receives gradients, once: the
// method's own and the model weights left trainable.
func (a *Attached) Trainable(m *model.Model) []*nn.Param {
	seen := map[*nn.Param]bool{}
	var out []*nn.Param
	for _, p := range append(append([]*nn.Param{}, a.Own...), m.Params...) {
		if p.Trainable && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// NumTrainable counts the parameters that receive gradients.
func (a *Attached) NumTrainable(m *model.Model) int {
	n := 0
	for _, p := range a.Trainable(m) {
		n += p.Size()
	}
	return n
}

// Displayed is implemented by a method that says how reports show it: its
// place in tables, its colour and marker (package display).
type Displayed interface {
	Display() display.Style
}

var registry = map[string]Method{}

// Register adds a method, and its style when it has one; it panics on a
// duplicate name (a programming error caught at init).
func Register(m Method) {
	if _, dup := registry[m.Name()]; dup {
		panic("methods: duplicate method " + m.Name())
	}
	registry[m.Name()] = m
	if d, ok := m.(Displayed); ok {
		display.Register(m.Name(), d.Display())
	}
}

// Unregister removes a method and its style, for tests that register a
// throwaway method.
func Unregister(name string) {
	delete(registry, name)
	display.Unregister(name)
}

// Get returns the named method.
func Get(name string) (Method, error) {
	if m, ok := registry[name]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("methods: unknown method %q (have %v)", name, Names())
}

// Names lists the registered methods, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Attach resolves raw hyper-parameters against the method's declaration
// and attaches it to base.
func Attach(base *model.Base, name string, raw map[string]any, seed uint64) (*Attached, error) {
	m, err := Get(name)
	if err != nil {
		return nil, err
	}
	v, err := Resolve(m, raw)
	if err != nil {
		return nil, err
	}
	a, err := m.Attach(base, v, seed)
	if err == nil {
		err = model.CheckHooks(a.Hooks...)
	}
	if err != nil {
		return nil, fmt.Errorf("methods: %s: %w", name, err)
	}
	a.Method, a.Values = name, v
	return a, nil
}
