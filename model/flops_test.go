package model

import "testing"

// A step's FLOPs count each block's matrices as they are: GPT-2's four
// d×d and two d×d_ff; Llama's q and o d×d, k and v d×d_kv (grouped-query
// attention), gate, up and down d×d_ff; and the head, tied or not.
func TestTrainFLOPsCountTheMatrices(t *testing.T) {
	attn := 4 * 2 * 8 * 32.0
	gpt2 := Config{Vocab: 64, Context: 16, DModel: 32, Layers: 2, Heads: 4, DFF: 48}
	n := 2.0*(4*32*32+2*32*48) + 64*32
	if got, want := gpt2.TrainFLOPsPerToken(8, 100), 4*n+3*attn+200; got != want {
		t.Errorf("GPT-2: %v FLOPs per token, want %v", got, want)
	}
	llama := Config{Family: Llama, Vocab: 64, Context: 16, DModel: 32, Layers: 2, Heads: 4, KVHeads: 2, DFF: 48, RopeTheta: 1e4}
	for _, untied := range []bool{false, true} {
		llama.UntiedHead = untied
		n := 2.0*(2*32*32+2*32*16+3*32*48) + 64*32
		if got, want := llama.TrainFLOPsPerToken(8, 100), 4*n+3*attn+200; got != want {
			t.Errorf("Llama (untied %v): %v FLOPs per token, want %v", untied, got, want)
		}
	}
}
