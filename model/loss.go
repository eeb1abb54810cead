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
	return withLoss(f)
}

// BuildLMFromHidden is BuildFromHidden with the masked loss attached.
func (m *Model) BuildLMFromHidden(g *nn.Graph, B, T int, hooks ...Hook) (*LM, []*nn.Input, error) {
	f, in, err := m.BuildFromHidden(g, B, T, hooks...)
	if err != nil {
		return nil, nil, err
	}
	lm, err := withLoss(f)
	return lm, in, err
}

func withLoss(f *Forward) (*LM, error) {
	g, n := f.Graph, f.B*f.T
	lm := &LM{Forward: f, Targets: g.IntInput("targets", n), Mask: g.FloatInput("mask", n)}
	var err error
	lm.Loss, err = nn.CrossEntropy(f.Logits, lm.Targets.Node, lm.Mask.Node)
	return lm, err
}
