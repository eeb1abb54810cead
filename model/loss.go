package model

import (
	"github.com/peftbench/peftbench/nn"
)

// LM is a forward pass with the next-token loss attached: the loss is the
// cross-entropy of Targets under the logits, weighted by Mask, so
// pre-training scores every token and fine-tuning only the answer.
type LM struct {
	*Forward
	Targets *nn.Input
	Mask    *nn.Input
	Loss    *Node
}

// BuildLM builds the forward pass for B×T tokens and its masked loss.
func (m *Model) BuildLM(g *nn.Graph, B, T int, hooks ...Hook) (*LM, error) {
	f, err := m.Build(g, B, T, hooks...)
	if err != nil {
		return nil, err
	}
	return withLoss(f, m.Config, hooks)
}

// BuildLMFromHidden is BuildFromHidden with the masked loss attached.
func (m *Model) BuildLMFromHidden(g *nn.Graph, B, T int, hooks ...Hook) (*LM, []*nn.Input, error) {
	f, in, err := m.BuildFromHidden(g, B, T, hooks...)
	if err != nil {
		return nil, nil, err
	}
	lm, err := withLoss(f, m.Config, hooks)
	return lm, in, err
}

// withLoss attaches the masked cross-entropy, then lets every LossHook
// rewrite it, in the order the hooks were given.
func withLoss(f *Forward, cfg Config, hooks []Hook) (*LM, error) {
	g, n := f.Graph, f.B*f.T
	lm := &LM{Forward: f, Targets: g.IntInput("targets", n), Mask: g.FloatInput("mask", n)}
	var err error
	if lm.Loss, err = nn.CrossEntropy(f.Logits, lm.Targets.Node, lm.Mask.Node); err != nil {
		return nil, err
	}
	c := &Ctx{Graph: g, Config: cfg, B: f.B, T: f.T, N: f.Virtual + f.T}
	for _, h := range hooks {
		if lh, ok := h.(LossHook); ok {
			if lm.Loss, err = lh.HookLoss(c, lm.Loss); err != nil {
				return nil, err
			}
		}
	}
	return lm, nil
}
