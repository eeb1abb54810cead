package projection

import (
	"math"
	"testing"

	"github.com/peftbench/peftbench/gpu"
)

// HF PEFT's method comparison (github.com/huggingface/peft,
// method_comparison/MetaMathQA) trains Llama-3.2-3B on MetaMathQA with
// batch size 4, max_seq_length 768, dtype bfloat16, use_amp false,
// PyTorch AdamW, default attention (SDPA), no gradient checkpointing;
// LoRA is r 32, alpha 64, dropout 0, targets null (PEFT's Llama default,
// q_proj and v_proj), with autocast_adapter_dtype true (fp32 adapters).
// Its peak is the largest torch.cuda.memory_reserved() after a step, so it
// excludes the CUDA context and includes the caching allocator's slack.
//
// The results files (transformers 4.52.4, torch 2.7.1, an L40S) give
// accelerator_memory_max 22,273,851,392 bytes for
// lora--llama-3.2-3B-rank32 and 37,241,225,216 for
// full-finetuning--llama-3.2-3B-lr_0.00001, and trainable parameter counts
// of 9,175,040 and 3,212,749,824. Rounded figures of ≈ 20.8 GB and
// ≈ 36.2 GB are also quoted for these two runs (their source is not kept
// in this repository); they are held to the same band.
//
// The peak comes from the longest batch: sequences are bucketed by length
// and padded to the longest in the batch, and the data are filtered so
// that query and answer fit 768 tokens, so the projection takes 4 × 768.
// Most batches are far shorter (the runs average 210 tokens per sample),
// which is why their mean reserved memory is much lower.
const (
	peftLoRAMaxBytes = 22_273_851_392
	peftFullMaxBytes = 37_241_225_216
	quotedLoRABytes  = 20.8e9
	quotedFullBytes  = 36.2e9

	publishedBand = 0.35 // the projection must lie within ±35%
)

func TestProjectionAgainstHFPEFT(t *testing.T) {
	for _, c := range []struct {
		name      string
		method    string
		params    map[string]any
		trainable int64
		published []float64
	}{
		{"LoRA r32", "lora", map[string]any{"rank": 32, "alpha": 64, "dropout": 0.0, "targets": "q,v"}, 9_175_040,
			[]float64{peftLoRAMaxBytes, quotedLoRABytes}},
		{"full fine-tuning", "full", nil, 3_212_749_824,
			[]float64{peftFullMaxBytes, quotedFullBytes}},
	} {
		p, err := Project(Llama32_3B, c.method, c.params, 4, 768)
		if err != nil {
			t.Fatal(err)
		}
		if p.TrainableParams != c.trainable {
			t.Errorf("%s: %d trainable, HF PEFT logs %d", c.name, p.TrainableParams, c.trainable)
		}
		got := float64(p.TensorBytes()) // PyTorch's statistics leave out the CUDA context
		t.Logf("%s: %v", c.name, p)
		for _, pub := range c.published {
			ratio := got / pub
			t.Logf("%s: projected %.2f GB (%.2f GiB) without CUDA overhead vs published %.2f GB: %.3f× (%+.1f%%)",
				c.name, got/1e9, got/gpu.GiB, pub/1e9, ratio, 100*(ratio-1))
			if math.Abs(ratio-1) > publishedBand {
				t.Errorf("%s: projected %.2f GB is %.0f%% off the published %.2f GB, outside ±%.0f%%",
					c.name, got/1e9, 100*(ratio-1), pub/1e9, 100*publishedBand)
			}
		}
	}
	// The order matters as much as the level: full fine-tuning costs more
	// than LoRA by about what HF PEFT measured.
	lora, _ := Project(Llama32_3B, "lora", map[string]any{"rank": 32, "alpha": 64}, 4, 768)
	full, _ := Project(Llama32_3B, "full", nil, 4, 768)
	gap, pubGap := float64(full.TotalBytes-lora.TotalBytes), float64(peftFullMaxBytes-peftLoRAMaxBytes)
	t.Logf("full − LoRA: projected %.2f GB, published %.2f GB", gap/1e9, pubGap/1e9)
	if gap <= 0 || math.Abs(gap/pubGap-1) > 0.5 {
		t.Errorf("full − LoRA: projected %.2f GB, published %.2f GB", gap/1e9, pubGap/1e9)
	}
}
