package methods

import "github.com/peftbench/peftbench/model"

// A method's part of the GPU memory projection (package gpu/projection):
// what it trains on a large model and what it keeps for the backward pass.
// A method implements Projector in its own file; the projection knows no
// method by name.

// Projector is implemented by a method whose training can be projected
// onto large models. A method without it fails projection, and so every
// trained trial of it.
type Projector interface {
	// Footprint says what the method, with hyper-parameters v, trains on
	// the architecture a and what it adds to the backward pass.
	Footprint(a ProjectionArch, v Values) (*Footprint, error)
}

// ProjectionArch is the large model a projection asks a method about: a
// decoder-only transformer of pre-norm blocks, with peftbench's layer
// names mapped onto the architecture's own (Linears).
type ProjectionArch struct {
	Name    string
	Layers  int
	DModel  int
	DFF     int
	DKV     int // width of the key and value projections (d_model, or less with grouped-query attention)
	Context int
	// SwiGLU is Llama's MLP (gate_proj, up_proj, down_proj); otherwise
	// GPT-2's GELU MLP.
	SwiGLU bool
	// Source is the family of the model the method's settings were
	// written for: its target names are resolved as they were there, then
	// mapped onto this architecture's layers (projectedTargets).
	Source model.Family
	// Norm is "layernorm" (weight and bias) or "rmsnorm" (weight only).
	Norm string
	// Bias: every linear layer has a bias.
	Bias bool
	// NumParams counts the model's weights, a tied head once.
	NumParams int64
	// Linears are one block's linear layers.
	Linears []ProjectedLinear
	// ActivationBytes is the size of a stored activation; AddedBytes that
	// of a weight the method adds (what its own activations are kept in).
	ActivationBytes, AddedBytes int64
}

// ProjectedLinear is one linear layer of a block: its peftbench name in
// the architecture's family (attn.q … mlp.proj for GPT-2, mlp.gate,
// mlp.up and mlp.down for a SwiGLU MLP), the architecture's own module
// name, and its widths.
type ProjectedLinear struct {
	Ours, Module string
	In, Out      int
}

// Footprint is what a method trains on a projected architecture and what
// it keeps for the backward pass.
type Footprint struct {
	// TrainBase counts the model weights that train (full fine-tuning,
	// BitFit); Added the weights the method adds.
	TrainBase, Added int64
	// Modules name the architecture's layers the method adapts (q_proj,
	// v_proj, …) or what else trains.
	Modules []string
	// First is the earliest block with something trainable in or below it
	// (Layers: none): the backward pass runs from the top down to it, and
	// those blocks keep their activations.
	First int
	// SeqExtra is virtual tokens put in front of every sequence (prompt
	// tuning); KVExtra key and value rows put in front in every layer
	// (prefix tuning).
	SeqExtra, KVExtra int
	// PerToken[i] is the method's own activation bytes per token in block
	// i (nil: none; otherwise one entry per block); Global the bytes it
	// keeps independent of the batch.
	PerToken []int64
	Global   int64
	// Notes state the method's assumptions for the projection's notes.
	Notes []string
	// Skipped says which of the method's targets the architecture lacks,
	// and so were left out.
	Skipped []string
}
