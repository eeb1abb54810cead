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
	lm := &LM{Forward: f, Targets: g.IntInput("targets", B*T), Mask: g.FloatInput("mask", B*T)}
	lm.Loss, err = nn.CrossEntropy(f.Logits, lm.Targets.Node, lm.Mask.Node)
	return lm, err
}
