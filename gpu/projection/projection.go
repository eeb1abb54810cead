// Package projection projects a method's GPU memory onto large models
// (GPT-2 XL, Llama-2-7B, Llama-3-8B, Llama-3.2-3B): trainable parameters
// and a breakdown of weights, gradients, optimizer state, activations and
// logits, every figure named projected_* and checked against published
// measurements. It is separate from package gpu so that readers of result
// files need not link the engine.
package projection

import (
	"fmt"

	"github.com/peftbench/peftbench/gpu"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
)

// MLPKind is a block's feed-forward form.
type MLPKind string

// NormKind is a block's normalisation.
type NormKind string

const (
	// GELU is GPT-2's MLP: fc [d, f], GELU, proj [f, d].
	GELU MLPKind = "gelu"
	// SwiGLU is Llama's MLP: down_proj(silu(gate_proj(x)) ∘ up_proj(x)),
	// gate and up [d, f], down [f, d].
	SwiGLU MLPKind = "swiglu"

	// LayerNorm has a weight and a bias.
	LayerNorm NormKind = "layernorm"
	// RMSNorm has a weight only.
	RMSNorm NormKind = "rmsnorm"
)

// Arch is the shape of a decoder-only transformer: pre-norm blocks of
// attention and MLP, token embedding, final norm and a vocabulary head.
type Arch struct {
	Name    string `json:"name"`
	Layers  int    `json:"layers"`
	DModel  int    `json:"d_model"`
	Heads   int    `json:"heads"`
	KVHeads int    `json:"kv_heads"` // Heads, or fewer with grouped-query attention
	DFF     int    `json:"d_ff"`
	Vocab   int    `json:"vocab"`
	Context int    `json:"context"`

	MLP  MLPKind  `json:"mlp"`
	Norm NormKind `json:"norm"`
	// Bias: every linear layer has a bias.
	Bias bool `json:"bias"`
	// TiedHead: the vocabulary head is the token embedding.
	TiedHead bool `json:"tied_head"`
	// LearnedPositions: a position embedding table of Context rows (GPT-2);
	// rotary positions (Llama) have no parameters.
	LearnedPositions bool `json:"learned_positions"`
	// Dropout: training applies dropout (GPT-2's 0.1), whose masks the
	// backward pass keeps. Llama trains without.
	Dropout bool `json:"dropout"`
	// HeadDim is the width of an attention head when it is not
	// d_model/heads (Qwen3's head_dim): q and the attention output are
	// then heads·head_dim wide. 0: d_model/heads.
	HeadDim int `json:"head_dim,omitempty"`
	// QKNorm: an RMSNorm of head_dim on each head of q and k (Qwen3).
	QKNorm bool `json:"qk_norm,omitempty"`
}

// The architectures of the projection, with their published configs.
var (
	// GPT2XL is GPT-2 XL (1.5B), HF "gpt2-xl".
	GPT2XL = Arch{Name: "gpt2-xl", Layers: 48, DModel: 1600, Heads: 25, KVHeads: 25, DFF: 6400, Vocab: 50257, Context: 1024,
		MLP: GELU, Norm: LayerNorm, Bias: true, TiedHead: true, LearnedPositions: true, Dropout: true}
	// Llama2_7B is Llama-2-7B, HF "meta-llama/Llama-2-7b-hf".
	Llama2_7B = Arch{Name: "llama-2-7b", Layers: 32, DModel: 4096, Heads: 32, KVHeads: 32, DFF: 11008, Vocab: 32000, Context: 4096,
		MLP: SwiGLU, Norm: RMSNorm}
	// Llama3_8B is Llama-3-8B, HF "meta-llama/Meta-Llama-3-8B".
	Llama3_8B = Arch{Name: "llama-3-8b", Layers: 32, DModel: 4096, Heads: 32, KVHeads: 8, DFF: 14336, Vocab: 128256, Context: 8192,
		MLP: SwiGLU, Norm: RMSNorm}
	// Llama32_3B is Llama-3.2-3B, HF "meta-llama/Llama-3.2-3B".
	Llama32_3B = Arch{Name: "llama-3.2-3b", Layers: 28, DModel: 3072, Heads: 24, KVHeads: 8, DFF: 8192, Vocab: 128256, Context: 131072,
		MLP: SwiGLU, Norm: RMSNorm, TiedHead: true}
	// Qwen3_06B is Qwen3-0.6B, HF "Qwen/Qwen3-0.6B": heads of 128 on a
	// d_model of 1,024, so q is 2,048 wide.
	Qwen3_06B = Arch{Name: "qwen3-0.6b", Layers: 28, DModel: 1024, Heads: 16, KVHeads: 8, DFF: 3072, Vocab: 151936, Context: 40960,
		MLP: SwiGLU, Norm: RMSNorm, TiedHead: true, HeadDim: 128, QKNorm: true}
)

// FromModelConfig is the Arch of a model this harness builds: GPT-2 style
// (LayerNorm, biases, GELU MLP, learned positions, tied head) or Llama
// style (RMSNorm, no biases, SwiGLU MLP, rotary positions), without
// dropout. Qwen2's biases on q, k and v are left out of the projection:
// they are 0.01% of its weights.
func FromModelConfig(c model.Config) Arch {
	a := Arch{Name: fmt.Sprintf("peftbench(d=%d,L=%d,f=%d,V=%d)", c.DModel, c.Layers, c.DFF, c.Vocab),
		Layers: c.Layers, DModel: c.DModel, Heads: c.Heads, KVHeads: c.KV(), DFF: c.DFF, Vocab: c.Vocab, Context: c.Context,
		MLP: GELU, Norm: LayerNorm, Bias: true, TiedHead: !c.UntiedHead, LearnedPositions: true, HeadDim: c.HeadDim, QKNorm: c.QKNorm}
	if c.Family == model.Llama {
		a.MLP, a.Norm, a.Bias, a.LearnedPositions = SwiGLU, RMSNorm, false, false
	}
	return a
}

// Validate reports the first field that does not describe a model.
func (a Arch) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"layers", a.Layers}, {"d_model", a.DModel}, {"heads", a.Heads}, {"kv_heads", a.KVHeads}, {"d_ff", a.DFF}, {"vocab", a.Vocab}, {"context", a.Context}} {
		if f.v < 1 {
			return fmt.Errorf("projection: arch %s: field %q is %d, must be at least 1", a.Name, f.name, f.v)
		}
	}
	if a.HeadDim < 0 {
		return fmt.Errorf("projection: arch %s: field \"head_dim\" is %d, must not be negative", a.Name, a.HeadDim)
	}
	if (a.HeadDim == 0 && a.DModel%a.Heads != 0) || a.Heads%a.KVHeads != 0 {
		return fmt.Errorf("projection: arch %s: d_model %d, heads %d and kv_heads %d do not divide", a.Name, a.DModel, a.Heads, a.KVHeads)
	}
	if a.MLP != GELU && a.MLP != SwiGLU {
		return fmt.Errorf("projection: arch %s: unknown mlp %q", a.Name, a.MLP)
	}
	if a.Norm != LayerNorm && a.Norm != RMSNorm {
		return fmt.Errorf("projection: arch %s: unknown norm %q", a.Name, a.Norm)
	}
	return nil
}

// headDim is the width of one attention head.
func (a Arch) headDim() int {
	if a.HeadDim > 0 {
		return a.HeadDim
	}
	return a.DModel / a.Heads
}

// DQ is the width of the query projection and of the attention output:
// heads·head_dim, d_model unless head_dim says otherwise.
func (a Arch) DQ() int { return a.Heads * a.headDim() }

// DKV is the width of the key and value projections: kv_heads·head_dim,
// d_model without grouped-query attention or an explicit head_dim.
func (a Arch) DKV() int { return a.KVHeads * a.headDim() }

// normParams is one norm's parameter count.
func (a Arch) normParams() int64 {
	if a.Norm == LayerNorm {
		return 2 * int64(a.DModel)
	}
	return int64(a.DModel)
}

// NumParams counts the model's weights, a tied head once.
func (a Arch) NumParams() int64 {
	d, V := int64(a.DModel), int64(a.Vocab)
	n := V * d
	if a.LearnedPositions {
		n += int64(a.Context) * d
	}
	if !a.TiedHead {
		n += V * d
	}
	var layer int64
	for _, l := range a.blockLinears() {
		layer += int64(l.in) * int64(l.out)
		if a.Bias {
			layer += int64(l.out)
		}
	}
	layer += 2 * a.normParams()
	if a.QKNorm {
		layer += 2 * int64(a.headDim())
	}
	return n + int64(a.Layers)*layer + a.normParams()
}

// linear is one linear layer of a block.
type linear struct {
	ours    string // the peftbench layer it answers to: attn.q … mlp.proj
	module  string // the architecture's own name
	in, out int
}

// blockLinears lists a block's linear layers, with peftbench's names in
// the architecture's family (model.Config.LinearNames): q, k, v, o are
// q_proj, k_proj, v_proj, o_proj; a SwiGLU MLP's gate, up and down are
// gate_proj, up_proj and down_proj.
func (a Arch) blockLinears() []linear {
	d, f, q, kv := a.DModel, a.DFF, a.DQ(), a.DKV()
	if a.MLP == SwiGLU {
		return []linear{
			{"attn.q", "q_proj", d, q}, {"attn.k", "k_proj", d, kv}, {"attn.v", "v_proj", d, kv}, {"attn.o", "o_proj", q, d},
			{"mlp.gate", "gate_proj", d, f}, {"mlp.up", "up_proj", d, f}, {"mlp.down", "down_proj", f, d},
		}
	}
	return []linear{
		{"attn.q", "attn.q", d, q}, {"attn.k", "attn.k", d, kv}, {"attn.v", "attn.v", d, kv}, {"attn.o", "attn.o", q, d},
		{"mlp.fc", "mlp.fc", d, f}, {"mlp.proj", "mlp.proj", f, d},
	}
}

// ParamBytes is what one trainable parameter costs.
type ParamBytes struct {
	Weight    int `json:"weight"`    // the copy the forward pass reads
	Master    int `json:"master"`    // a higher-precision copy the optimizer updates, if any
	Grad      int `json:"grad"`      // its gradient
	Optimizer int `json:"optimizer"` // optimizer state: AdamW's two moments
}

// Total is the bytes per parameter.
func (p ParamBytes) Total() int { return p.Weight + p.Master + p.Grad + p.Optimizer }

// Precision is a mixed-precision recipe: bytes per frozen weight, per
// trainable model weight (full fine-tuning, BitFit), per weight a method
// adds (LoRA's A and B, prompts, adapters), and per stored activation.
type Precision struct {
	Name       string     `json:"name"`
	Frozen     int        `json:"frozen"`
	Base       ParamBytes `json:"base"`
	Added      ParamBytes `json:"added"`
	Activation int        `json:"activation"`
	Doc        string     `json:"-"`
}

var (
	// BF16 is the default and the common HF/PEFT setup, the one HF PEFT's
	// method comparison uses (dtype bfloat16, use_amp false, PyTorch
	// AdamW): the model is loaded in bf16 and trained without autocast or
	// master copies. Every model weight is bf16 (2 B); a trainable one has
	// a bf16 gradient (2 B) and bf16 AdamW moments (2 × 2 B), since
	// PyTorch's AdamW keeps its state in the parameter's dtype: 8 B per
	// fully fine-tuned parameter. PEFT upcasts the weights a method adds to
	// fp32 (autocast_adapter_dtype=True), so they cost 4 B + 4 B gradient
	// + 2 × 4 B moments = 16 B. Activations are bf16.
	BF16 = Precision{Name: "bf16", Frozen: 2,
		Base:       ParamBytes{Weight: 2, Grad: 2, Optimizer: 4},
		Added:      ParamBytes{Weight: 4, Grad: 4, Optimizer: 8},
		Activation: 2,
		Doc:        "bf16 weights; trainable model weights: bf16 grad + bf16 AdamW m, v (8 B/param); method weights fp32 with fp32 grad and m, v (16 B/param); bf16 activations"}
	// MixedMaster is mixed precision with fp32 master weights, the
	// Megatron-LM/DeepSpeed accounting: bf16 weights for the forward pass
	// (2 B), an fp32 master copy (4 B), fp32 gradients (4 B) and fp32 AdamW
	// moments (8 B): 18 B per trainable parameter, added or not. Frozen
	// weights stay bf16; activations are bf16.
	// BF16FP32Adam keeps bf16 weights and gradients but fp32 AdamW moments
	// (2 + 2 + 8 = 12 B per trainable model weight): the setup trial
	// results project to, as people fine-tuning on GPUs commonly keep
	// optimizer state in fp32. Method weights are fp32 throughout (16 B).
	BF16FP32Adam = Precision{Name: "bf16-fp32-adam", Frozen: 2,
		Base:       ParamBytes{Weight: 2, Grad: 2, Optimizer: 8},
		Added:      ParamBytes{Weight: 4, Grad: 4, Optimizer: 8},
		Activation: 2,
		Doc:        "bf16 weights and grads, fp32 AdamW m, v for trainable model weights (12 B/param); method weights fp32 with fp32 grad and m, v (16 B/param); bf16 activations"}
	MixedMaster = Precision{Name: "mixed-fp32-master", Frozen: 2,
		Base:       ParamBytes{Weight: 2, Master: 4, Grad: 4, Optimizer: 8},
		Added:      ParamBytes{Weight: 2, Master: 4, Grad: 4, Optimizer: 8},
		Activation: 2,
		Doc:        "bf16 weights + fp32 master, fp32 grad, fp32 AdamW m, v for every trainable param (18 B/param); bf16 activations"}
)

// Attention is how attention is computed, which decides whether the
// attention probabilities are stored.
type Attention string

const (
	// Fused attention (FlashAttention, PyTorch SDPA's flash and
	// memory-efficient kernels; HF transformers' default "sdpa") keeps
	// only the output and an fp32 log-sum-exp per row and head, and
	// recomputes the probabilities in the backward pass.
	Fused Attention = "fused"
	// Eager attention keeps the softmax probabilities (and, with dropout,
	// the mask and dropped probabilities): the a·s² term of Korthikanti et
	// al.
	Eager Attention = "eager"
)

// CUDAOverheadBytes is the memory a training process holds on the GPU
// beyond its tensors: the CUDA context with its kernel images (about 0.3
// to 0.6 GiB with CUDA's lazy module loading), cuBLAS/cuDNN handles and
// workspaces, NCCL when loaded. It varies by driver, GPU and library
// versions; we state 1 GiB. PyTorch's memory statistics
// (torch.cuda.max_memory_reserved) do not include the context, so it is
// left out where a projection is compared with them.
const CUDAOverheadBytes int64 = 1 << 30

// Options are the settings of a projection beyond method and batch shape.
type Options struct {
	Batch int // sequences per step
	Seq   int // tokens per sequence (padded length of the longest)
	// Precision is BF16 when zero.
	Precision Precision
	// Attention is Fused when empty.
	Attention Attention
	// Checkpointing is activation (gradient) checkpointing per block: the
	// forward pass keeps only each block's input and the backward pass
	// recomputes one block at a time.
	Checkpointing bool
	// Source is the family of the model the method's settings name layers
	// of (GPT-2 when zero): a trial on a Llama folder targets gate_proj,
	// which the projection maps onto GPT-2's mlp.fc.
	Source model.Family
}

// Inputs are what a projection was asked.
type Inputs struct {
	Arch          string         `json:"arch"`
	Method        string         `json:"method"`
	Params        map[string]any `json:"method_params"` // resolved: every hyper-parameter but late ones at their defaults
	Batch         int            `json:"batch"`
	Seq           int            `json:"seq"`
	Precision     string         `json:"precision"`
	Attention     Attention      `json:"attention"`
	Checkpointing bool           `json:"checkpointing"`
}

// Projection is the projected cost of training a method on an
// architecture. Every projected quantity's JSON name starts with
// "projected_". Bytes are bytes (GiB = 2³⁰ where printed).
type Projection struct {
	Inputs Inputs `json:"inputs"`

	TotalParams int64 `json:"projected_total_params"` // the model's weights
	// TrainableParams = TrainableBaseParams + AddedParams: what receives
	// gradients.
	TrainableParams     int64 `json:"projected_trainable_params"`
	TrainableBaseParams int64 `json:"projected_trainable_base_params"` // model weights that train (full, BitFit)
	AddedParams         int64 `json:"projected_added_params"`          // weights the method adds
	// TrainedModules names the architecture's layers a LoRA-like method
	// adapts (q_proj, v_proj, …), or what else trains.
	TrainedModules []string `json:"projected_trained_modules,omitempty"`
	// SkippedTargets are the method's targets this architecture lacks.
	SkippedTargets []string `json:"projected_skipped_targets,omitempty"`
	// BackwardLayers is how many blocks the backward pass runs through:
	// from the earliest block with something trainable in or below it to
	// the last.
	BackwardLayers int `json:"projected_backward_layers"`

	WeightsBytes       int64 `json:"projected_weights_bytes"`        // model weights, plus the method's
	MasterWeightsBytes int64 `json:"projected_master_weights_bytes"` // fp32 master copies, if the precision keeps them
	GradientsBytes     int64 `json:"projected_gradients_bytes"`
	OptimizerBytes     int64 `json:"projected_optimizer_bytes"`
	ActivationsBytes   int64 `json:"projected_activations_bytes"` // kept for the backward pass: blocks, method, final norm
	LogitsBytes        int64 `json:"projected_logits_bytes"`      // the vocabulary logits and the loss at their peak
	OverheadBytes      int64 `json:"projected_cuda_overhead_bytes"`
	TotalBytes         int64 `json:"projected_total_bytes"`

	// Notes state the assumptions behind these numbers.
	Notes []string `json:"projected_notes"`
}

// TensorBytes is the total less the CUDA overhead: what PyTorch's
// allocator statistics would show.
func (p *Projection) TensorBytes() int64 { return p.TotalBytes - p.OverheadBytes }

// Fits lists the GPUs (the catalogue when gpus is nil) whose memory holds
// the projected total.
func (p *Projection) Fits(gpus []gpu.GPU) []gpu.GPU {
	if gpus == nil {
		gpus = gpu.Catalogue()
	}
	var out []gpu.GPU
	for _, g := range gpus {
		if g.MemoryBytes >= p.TotalBytes {
			out = append(out, g)
		}
	}
	return out
}

// String is a one-line summary, sizes in GiB.
func (p *Projection) String() string {
	g := func(b int64) string { return fmt.Sprintf("%.2f", float64(b)/gpu.GiB) }
	return fmt.Sprintf("%s %s b=%d s=%d %s: %d trainable of %d; GiB: weights %s + master %s + grads %s + optimizer %s + activations %s + logits %s + overhead %s = %s",
		p.Inputs.Arch, p.Inputs.Method, p.Inputs.Batch, p.Inputs.Seq, p.Inputs.Precision, p.TrainableParams, p.TotalParams,
		g(p.WeightsBytes), g(p.MasterWeightsBytes), g(p.GradientsBytes), g(p.OptimizerBytes), g(p.ActivationsBytes), g(p.LogitsBytes), g(p.OverheadBytes), g(p.TotalBytes))
}

// Project projects training method (with hyper-parameters as a trial spec
// holds them; missing ones take the method's defaults) on a, with batch
// sequences of seq tokens, in BF16 with fused attention.
func Project(a Arch, method string, params map[string]any, batch, seq int) (*Projection, error) {
	return ProjectWith(a, method, params, Options{Batch: batch, Seq: seq})
}

// ProjectWith projects with explicit options.
//
// What a method trains and what it keeps come from the method itself: its
// Footprint (methods.Projector, in the method's own file) on the
// architecture's layers (see blockLinears for how peftbench's names map
// onto them). A method without one cannot be projected.
//
// Memory is the sum of the parts at the moment the loss's backward pass
// starts, when every kept activation is alive, plus gradients and optimizer
// state as if all were alive at once. That is an upper bound for full
// fine-tuning (PyTorch creates gradients as it frees activations, so the
// true peak lies between this sum and the sum without gradients) and close
// for PEFT methods, whose gradients are small.
//
// Activations per block follow Korthikanti et al. (2022, arXiv 2205.05198,
// section 4.1), s·b·h·(34 + 5·a·s/h) bytes for GPT-3's shape in 16-bit,
// generalised term by term: the two norm inputs, the attention input, Q,
// K and V (K and V d_kv wide, over the prefix too), the output
// projection's input, the MLP input, GELU's input and output (two f-wide
// tensors) or SwiGLU's gate, up, SiLU and product (four), dropout masks (1
// B) where the architecture trains with dropout, and the attention
// probabilities (eager) or a log-sum-exp per row and head (fused). The
// test holds the generalisation to the paper's formula.
//
// PEFT methods freeze the backbone but not the backward pass: gradients
// must flow from the loss down to the earliest trainable weight, so every
// block from there up keeps its activations (a footprint's First). Inputs
// of frozen linear layers are still counted, though a framework could drop
// those it only keeps for a weight gradient: the count errs high for PEFT
// methods. Each method's own tensors are added, per token and block and
// once per step, as its footprint states.
//
// The head and loss add the final norm's input and output and, per logit,
// the 16-bit logits, the fp32 log-softmax the loss keeps (HF upcasts
// logits to fp32 for the loss) and two fp32 gradients alive together in
// the loss's backward: activation bytes + 12 per logit.
func ProjectWith(a Arch, method string, params map[string]any, o Options) (*Projection, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if o.Batch < 1 || o.Seq < 1 {
		return nil, fmt.Errorf("projection: batch %d and sequence length %d must be at least 1", o.Batch, o.Seq)
	}
	if o.Precision.Name == "" {
		o.Precision = BF16
	}
	if o.Attention == "" {
		o.Attention = Fused
	}
	if o.Attention != Fused && o.Attention != Eager {
		return nil, fmt.Errorf("projection: unknown attention %q (have %s, %s)", o.Attention, Fused, Eager)
	}
	m, err := methods.Get(method)
	if err != nil {
		return nil, err
	}
	v, err := methods.Resolve(m, params)
	if err != nil {
		return nil, err
	}
	pl, err := a.plan(m, v, o.Precision, o.Source)
	if err != nil {
		return nil, fmt.Errorf("projection: %s on %s: %w", method, a.Name, err)
	}
	seq := o.Seq + pl.SeqExtra
	if seq > a.Context {
		return nil, fmt.Errorf("projection: %s on %s: %d positions (%d virtual + %d tokens) exceed the context of %d", method, a.Name, seq, pl.SeqExtra, o.Seq, a.Context)
	}

	pr := o.Precision
	p := &Projection{
		Inputs: Inputs{Arch: a.Name, Method: method, Params: methods.TrialParams(m, v), Batch: o.Batch, Seq: o.Seq,
			Precision: pr.Name, Attention: o.Attention, Checkpointing: o.Checkpointing},
		TotalParams:         a.NumParams(),
		TrainableBaseParams: pl.TrainBase,
		AddedParams:         pl.Added,
		TrainableParams:     pl.TrainBase + pl.Added,
		TrainedModules:      pl.Modules,
		SkippedTargets:      pl.Skipped,
		BackwardLayers:      a.Layers - pl.First,
	}
	b := func(n int64, bytes int) int64 { return n * int64(bytes) }
	frozen := p.TotalParams - pl.TrainBase
	p.WeightsBytes = b(frozen, pr.Frozen) + b(pl.TrainBase, pr.Base.Weight) + b(pl.Added, pr.Added.Weight)
	p.MasterWeightsBytes = b(pl.TrainBase, pr.Base.Master) + b(pl.Added, pr.Added.Master)
	p.GradientsBytes = b(pl.TrainBase, pr.Base.Grad) + b(pl.Added, pr.Added.Grad)
	p.OptimizerBytes = b(pl.TrainBase, pr.Base.Optimizer) + b(pl.Added, pr.Added.Optimizer)

	e := int64(pr.Activation)
	tokens := int64(o.Batch) * int64(seq)
	d := int64(a.DModel)
	var blocks, worst int64
	for i := pl.First; i < a.Layers; i++ {
		n := a.blockActivationBytes(o.Batch, seq, seq+pl.KVExtra, pr.Activation, o.Attention) + pl.PerToken[i]*tokens
		blocks += n
		worst = max(worst, n)
	}
	if o.Checkpointing && pl.First < a.Layers {
		// Each block's input, and one block's activations recomputed at a time.
		blocks = int64(a.Layers-pl.First)*e*tokens*d + worst
	}
	head := 2 * e * tokens * d // the final norm's input and output
	if a.Dropout {
		head += tokens * d // the embedding dropout mask
	}
	p.ActivationsBytes = blocks + pl.Global + head
	p.LogitsBytes = tokens * int64(a.Vocab) * (e + 12)
	p.OverheadBytes = CUDAOverheadBytes
	p.TotalBytes = p.WeightsBytes + p.MasterWeightsBytes + p.GradientsBytes + p.OptimizerBytes +
		p.ActivationsBytes + p.LogitsBytes + p.OverheadBytes

	p.Notes = append([]string{
		"precision " + pr.Name + ": " + pr.Doc,
		"optimizer AdamW: two moments per trainable parameter",
		fmt.Sprintf("activations: %s attention, %d of %d blocks in the backward pass%s; inputs of frozen linears counted (errs high for PEFT)",
			o.Attention, p.BackwardLayers, a.Layers, map[bool]string{true: ", checkpointed per block", false: ", no recomputation"}[o.Checkpointing]),
		fmt.Sprintf("logits: %d B per logit (16-bit logits, fp32 log-softmax, two fp32 gradients in the loss's backward)", e+12),
		"gradients, optimizer state and activations summed as if alive together (an upper bound for full fine-tuning)",
		fmt.Sprintf("CUDA overhead: %d MiB stated, outside PyTorch's allocator statistics", CUDAOverheadBytes>>20),
	}, pl.Notes...)
	return p, nil
}

// blockActivationBytes is what one block keeps for its backward pass, for
// b sequences of s positions attending over S keys (S > s with a prefix).
func (a Arch) blockActivationBytes(b, s, S, e int, att Attention) int64 {
	B, sq, kv, E := int64(b), int64(s), int64(S), int64(e)
	d, f, dq, dkv, h := int64(a.DModel), int64(a.DFF), int64(a.DQ()), int64(a.DKV()), int64(a.Heads)
	sbd := B * sq * d
	n := 2 * E * sbd          // the two norms' inputs
	n += E * sbd              // attention input (q, k, v read it)
	n += E * B * sq * dq      // Q
	n += 2 * E * B * kv * dkv // K and V, with any prefix rows
	n += E * B * sq * dq      // the output projection's input (the attention output)
	n += E * sbd              // MLP input
	if a.MLP == SwiGLU {
		n += 4 * E * B * sq * f // gate, up, SiLU(gate), their product
	} else {
		n += 2 * E * B * sq * f // GELU input and output
	}
	if att == Eager {
		n += E * h * B * sq * kv // softmax probabilities
		if a.Dropout {
			n += h * B * sq * kv     // attention dropout mask
			n += E * h * B * sq * kv // dropped probabilities
		}
	} else {
		n += 4 * h * B * sq // fp32 log-sum-exp per row and head
	}
	if a.Dropout {
		n += 2 * sbd // residual dropout masks after attention and MLP
	}
	return n
}

// plan asks the method (methods.Projector, in the method's own file) what
// it trains on a and what it keeps.
func (a Arch) plan(m methods.Method, v methods.Values, pr Precision, source model.Family) (*methods.Footprint, error) {
	pj, ok := m.(methods.Projector)
	if !ok {
		return nil, fmt.Errorf("no projection for method %q", m.Name())
	}
	fp, err := pj.Footprint(a.forMethods(pr, source), v)
	if err != nil {
		return nil, err
	}
	if fp.PerToken == nil {
		fp.PerToken = make([]int64, a.Layers)
	}
	if len(fp.PerToken) != a.Layers || fp.First < 0 || fp.First > a.Layers {
		return nil, fmt.Errorf("method %q's footprint has %d per-token entries for %d blocks and first block %d", m.Name(), len(fp.PerToken), a.Layers, fp.First)
	}
	return fp, nil
}

// forMethods is what a method's Footprint is told about a.
func (a Arch) forMethods(pr Precision, source model.Family) methods.ProjectionArch {
	ls := a.blockLinears()
	linears := make([]methods.ProjectedLinear, len(ls))
	for i, l := range ls {
		linears[i] = methods.ProjectedLinear{Ours: l.ours, Module: l.module, In: l.in, Out: l.out}
	}
	return methods.ProjectionArch{Name: a.Name, Layers: a.Layers, DModel: a.DModel, DFF: a.DFF, DKV: a.DKV(), Context: a.Context,
		SwiGLU: a.MLP == SwiGLU, Source: source, Norm: string(a.Norm), Bias: a.Bias, NumParams: a.NumParams(), Linears: linears,
		ActivationBytes: int64(pr.Activation), AddedBytes: int64(pr.Added.Weight)}
}
