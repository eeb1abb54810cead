package model

// TrainFLOPsPerToken counts the floating-point operations of the matrix
// products in one training step, per token of sequences of length T, as
// model-FLOPs utilisation conventionally does (Chowdhery et al., 2022,
// appendix B: 6N + 12·L·d·T for full training). The forward pass costs 2
// per weight of every linear layer and the tied head, plus 4·T·d per layer
// for Q·Kᵀ and P·V; the backward pass costs as much again to reach the
// inputs (every method here needs gradients through the whole stack),
// twice the attention forward for its four products, and 2 per trainable
// matrix weight for the weight gradients, which frozen weights skip.
// A Llama block's keys and values are narrower with grouped-query
// attention, and its MLP has three matrices; q and the attention output
// are heads·head_dim wide (Qwen3's explicit head_dim).
func (c Config) TrainFLOPsPerToken(T, trainableMatrixParams int) float64 {
	d, dq, dkv, f, l := float64(c.DModel), float64(c.DQ()), float64(c.DKV()), float64(c.DFF), float64(c.Layers)
	mlp := 2.0
	if c.Family == Llama {
		mlp = 3
	}
	n := l*(2*d*dq+2*d*dkv+mlp*d*f) + float64(c.Vocab)*d
	attn := 4 * l * float64(T) * dq // a sliding window shorter than T makes this an upper bound
	return (2*n + attn) + (2*n + 2*attn) + 2*float64(trainableMatrixParams)
}
