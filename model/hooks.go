package model

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/nn"
	G "gorgonia.org/gorgonia"
)

// Node is a value in a forward pass.
type Node = G.Node

// Hook is anything a fine-tuning method attaches to a forward pass. A hook
// implements one or more of the interfaces below; Build calls each at its
// point, in the order the hooks were given. Hooks add their own parameters
// with Ctx.Graph.Param, so the model's code never changes for a method.
//
// Go cannot check a type against "one of these interfaces" at compile
// time, so CheckHooks does it when hooks are attached and built: a hook
// that implements none of them, or has a Hook… method whose signature is
// not its interface's, is an error rather than a hook that silently does
// nothing.
type Hook any

// hookPoints are the hook interfaces by the name of their one method.
var hookPoints = map[string]reflect.Type{
	"HookInput":       reflect.TypeFor[InputHook](),
	"HookLinearInput": reflect.TypeFor[LinearInputHook](),
	"HookLinear":      reflect.TypeFor[LinearHook](),
	"HookPrefix":      reflect.TypeFor[PrefixHook](),
	"HookBlock":       reflect.TypeFor[BlockHook](),
	"HookHidden":      reflect.TypeFor[HiddenHook](),
	"HookFinal":       reflect.TypeFor[FinalHook](),
	"HookLoss":        reflect.TypeFor[LossHook](),
	"HookStep":        reflect.TypeFor[StepHook](),
}

// CheckHooks reports the first hook that is nil, implements none of the
// hook interfaces, or has a method named Hook… that does not implement the
// interface of that name (a mistyped signature, or a hook point that does
// not exist). The error names the hook's type.
func CheckHooks(hooks ...Hook) error {
	for i, h := range hooks {
		if h == nil {
			return fmt.Errorf("model: hook %d is nil", i)
		}
		t := reflect.TypeOf(h)
		for j := range t.NumMethod() {
			name := t.Method(j).Name
			if !strings.HasPrefix(name, "Hook") {
				continue
			}
			iface, ok := hookPoints[name]
			if !ok {
				return fmt.Errorf("model: hook %s: method %s is no hook point (have %s)", t, name, strings.Join(hookNames(), ", "))
			}
			if !t.Implements(iface) {
				return fmt.Errorf("model: hook %s: method %s is %s, not %s's %s", t, name, withoutReceiver(t.Method(j).Type), iface, iface.Method(0).Type)
			}
		}
		if !implementsAny(t) {
			if t.Kind() != reflect.Pointer && implementsAny(reflect.PointerTo(t)) {
				return fmt.Errorf("model: hook %s implements no hook interface; *%s does (pass a pointer)", t, t)
			}
			return fmt.Errorf("model: hook %s implements no hook interface (their methods: %s)", t, strings.Join(hookNames(), ", "))
		}
	}
	return nil
}

// withoutReceiver is a method's type as its interface would declare it.
func withoutReceiver(f reflect.Type) reflect.Type {
	in := make([]reflect.Type, f.NumIn()-1)
	for i := range in {
		in[i] = f.In(i + 1)
	}
	out := make([]reflect.Type, f.NumOut())
	for i := range out {
		out[i] = f.Out(i)
	}
	return reflect.FuncOf(in, out, f.IsVariadic())
}

func implementsAny(t reflect.Type) bool {
	for _, iface := range hookPoints {
		if t.Implements(iface) {
			return true
		}
	}
	return false
}

// hookNames lists the hook interfaces' methods, sorted.
func hookNames() []string {
	var out []string
	for name := range hookPoints {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Ctx describes the forward pass a hook is called in.
type Ctx struct {
	Graph  *nn.Graph
	Config Config
	B, T   int // batch and real tokens per sequence
	N      int // positions per sequence, virtual ones included (set after input hooks)
}

// InputHook rewrites the embedded input [B·T, d], typically by putting P
// virtual tokens in front of every sequence (prompt tuning); it returns
// the new input [B·(P+T), d] and P. Positions are embedded after it, and
// the virtual positions are dropped before the output head.
type InputHook interface {
	HookInput(c *Ctx, x *Node) (*Node, int, error)
}

// LinearInputHook rewrites the input of the named linear layer (IA3's
// scaling of the MLP activation).
type LinearInputHook interface {
	HookLinearInput(c *Ctx, name string, x *Node) (*Node, error)
}

// LinearHook rewrites the output y of the named linear layer given its
// input x (LoRA adds a low-rank update, IA3 rescales keys and values).
type LinearHook interface {
	HookLinear(c *Ctx, name string, x, y *Node) (*Node, error)
}

// PrefixHook supplies P key and value rows ([P, d] each) that every query of
// the layer attends to (prefix tuning, P-tuning v2).
type PrefixHook interface {
	HookPrefix(c *Ctx, layer int) (k, v *Node, err error)
}

// BlockHook rewrites the output of a block's attention ("attn") or MLP
// ("mlp") branch before it joins the residual stream (Houlsby adapters).
type BlockHook interface {
	HookBlock(c *Ctx, layer int, branch string, h *Node) (*Node, error)
}

// HiddenHook observes the hidden state after each block (side networks,
// parallel adapters, activation caches).
type HiddenHook interface {
	HookHidden(c *Ctx, layer int, h *Node) error
}

// FinalHook rewrites the last block's output before the final LayerNorm
// and the head (a side network's output joining the backbone's, as
// parallel adapters do).
type FinalHook interface {
	HookFinal(c *Ctx, h *Node) (*Node, error)
}

// LossHook rewrites a training pass's scalar loss, typically adding a
// regulariser of the method's own weights (AdaLoRA's orthogonality
// penalty, through nn.AddPenalty). BuildLM calls it once the loss is
// built; evaluation programs, which compute no loss, never do.
type LossHook interface {
	HookLoss(c *Ctx, loss *Node) (*Node, error)
}

// StepHook is told of each optimiser step once it is taken, before the
// next forward pass: a method that changes its weights between steps from
// their values and gradients (AdaLoRA's rank allocation) does it here.
// The trainer calls it with the step's 0-based index, the number of steps
// its schedule plans (0 when it plans none), and the step's gradients:
// grad(p) is the gradient of loss with respect to a trained weight p as
// the last pass computed it, before clipping (nil for a weight the pass did
// not train). The hook reads and may change the weights' host values
// (SetValues); when it reports a change the trainer copies the trained
// weights back to its device.
type StepHook interface {
	HookStep(step, total int, grad func(*nn.Param) ([]float64, error)) (changed bool, err error)
}
