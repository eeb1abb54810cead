package model

import (
	"github.com/peftbench/peftbench/nn"
	G "gorgonia.org/gorgonia"
)

// Node is a value in a forward pass.
type Node = G.Node

// Hook is anything a fine-tuning method attaches to a forward pass. A hook
// implements any of the interfaces below; Build calls each at its point,
// in the order the hooks were given. Hooks add their own parameters with
// Ctx.Graph.Param, so the model's code never changes for a method.
type Hook any

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
