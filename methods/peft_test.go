package methods

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"maps"

	"github.com/nlpodyssey/safetensors"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// Adapters in PEFT's format beyond the reference's LoRA: IA3 and prompt
// tuning with the names and shapes PEFT documents, and LoRA where the
// export has to reshape (q and v with their own A in GPT-2's fused c_attn;
// every Llama linear). Each is read back from its file and applied by a
// small importer written from PEFT's format alone, which must give the
// logits of the method that wrote it. With PEFTBENCH_PEFT_OUT set, the same
// adapters are written out, with the logits computed here, for
// model/hfref/check_adapters.py to apply in PyTorch
// (.ci/peft-reference.sh).

// peftCase is one adapter on a model/hfref fixture.
type peftCase struct {
	name, fixture, method string
	raw                   map[string]any
	// want: adapter_config.json fields and every tensor's shape.
	cfg     map[string]any
	tensors map[string][]int
}

// Fixture shapes (model/hfref/README.md): both have d_model 32 and 2 layers
// of 4 heads; GPT-2's MLP is 128 wide, Llama's and Qwen2's 64, with 2
// key/value heads of 8 (k and v 16 wide).
const fixtureLayers = 2

// perLayer lists a tensor's shape under every layer's module path.
func perLayer(want map[string][]int, format string, shape ...int) map[string][]int {
	for i := range fixtureLayers {
		want[fmt.Sprintf(format, i)] = shape
	}
	return want
}

func peftCases() []peftCase {
	gpt2 := func(suffix string, shape ...int) map[string][]int {
		return perLayer(map[string][]int{}, "transformer.h.%d."+suffix, shape...)
	}
	llama := func(want map[string][]int, suffix string, shape ...int) map[string][]int {
		return perLayer(want, "model.layers.%d."+suffix, shape...)
	}
	llamaLoRA := map[string][]int{}
	for _, mod := range []struct {
		name    string
		in, out int
	}{{"self_attn.q_proj", 32, 32}, {"self_attn.k_proj", 32, 16}, {"self_attn.v_proj", 32, 16}, {"self_attn.o_proj", 32, 32},
		{"mlp.gate_proj", 32, 64}, {"mlp.up_proj", 32, 64}, {"mlp.down_proj", 64, 32}} {
		llama(llamaLoRA, mod.name+".lora_A.weight", 2, mod.in)
		llama(llamaLoRA, mod.name+".lora_B.weight", mod.out, 2)
	}
	llamaLoHa, llamaLoKr := map[string][]int{}, map[string][]int{}
	for _, mod := range []struct {
		name         string
		in, out      int
		w1, w2a, w2b []int
	}{{"self_attn.q_proj", 32, 32, []int{4, 4}, []int{8, 2}, []int{2, 8}}, {"self_attn.k_proj", 32, 16, []int{4, 4}, []int{4, 2}, []int{2, 8}},
		{"self_attn.v_proj", 32, 16, []int{4, 4}, []int{4, 2}, []int{2, 8}}, {"self_attn.o_proj", 32, 32, []int{4, 4}, []int{8, 2}, []int{2, 8}},
		{"mlp.gate_proj", 32, 64, []int{8, 4}, []int{8, 2}, []int{2, 8}}, {"mlp.up_proj", 32, 64, []int{8, 4}, []int{8, 2}, []int{2, 8}},
		{"mlp.down_proj", 64, 32, []int{4, 8}, []int{8, 2}, []int{2, 8}}} {
		for _, w := range []string{"1", "2"} {
			llama(llamaLoHa, mod.name+".hada_w"+w+"_a", mod.out, 2)
			llama(llamaLoHa, mod.name+".hada_w"+w+"_b", 2, mod.in)
		}
		llama(llamaLoKr, mod.name+".lokr_w1", mod.w1...)
		llama(llamaLoKr, mod.name+".lokr_w2_a", mod.w2a...)
		llama(llamaLoKr, mod.name+".lokr_w2_b", mod.w2b...)
	}
	llamaOFT := map[string][]int{}
	for _, mod := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj"} {
		llama(llamaOFT, mod+".oft_R.weight", 4, 28) // 32 inputs: 4 blocks of 8, 8·7/2 each
	}
	llama(llamaOFT, "mlp.down_proj.oft_R.weight", 8, 28)
	gpt2IA3 := gpt2("attn.c_attn.ia3_l.weight", 96, 1)
	perLayer(gpt2IA3, "transformer.h.%d.mlp.c_proj.ia3_l.weight", 1, 128)
	llamaIA3 := llama(map[string][]int{}, "self_attn.k_proj.ia3_l.weight", 16, 1)
	llama(llamaIA3, "self_attn.v_proj.ia3_l.weight", 16, 1)
	llama(llamaIA3, "mlp.down_proj.ia3_l.weight", 1, 64)
	gpt2LoRA := gpt2("attn.c_attn.lora_A.weight", 6, 32)
	perLayer(gpt2LoRA, "transformer.h.%d.attn.c_attn.lora_B.weight", 96, 6)
	prompt := func(heads int) map[string]any {
		return map[string]any{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 5, "token_dim": 32, "num_transformer_submodules": 1,
			"num_attention_heads": heads, "num_layers": 2, "prompt_tuning_init": "RANDOM"}
	}
	// P-tuning's file: the encoder's output as prompt_embeddings, with the
	// encoder's fields (hidden: its width as written, d_model by default).
	ptuning := func(L, hidden int) map[string]any {
		return map[string]any{"peft_type": "P_TUNING", "num_virtual_tokens": L, "token_dim": 32, "num_transformer_submodules": 1,
			"num_attention_heads": 4, "num_layers": 2, "encoder_reparameterization_type": "MLP", "encoder_hidden_size": hidden,
			"encoder_num_layers": 2, "encoder_dropout": 0}
	}
	ia3Llama := map[string]any{"peft_type": "IA3", "target_modules": []string{"down_proj", "k_proj", "v_proj"},
		"feedforward_modules": []string{"down_proj"}, "fan_in_fan_out": false, "init_ia3_weights": true, "modules_to_save": nil}
	return []peftCase{
		// q and v each with their own A: stacked into c_attn, ranks adding
		// up (2·3) and lora_alpha with them, so lora_alpha/r stays 6/3.
		// c_attn's rank and lora_alpha in rank_pattern and alpha_pattern,
		// so lora_alpha/r stays 6/3 there.
		{name: "lora-gpt2-qv", fixture: "gpt2", method: "lora", raw: map[string]any{"rank": 3, "alpha": 6.0, "targets": "q,v"},
			cfg: map[string]any{"peft_type": "LORA", "r": 3, "lora_alpha": 6, "target_modules": []string{"c_attn"}, "fan_in_fan_out": true,
				"bias": "none", "use_rslora": false, "use_dora": false, "init_lora_weights": true,
				"rank_pattern": map[string]any{"c_attn": 6}, "alpha_pattern": map[string]any{"c_attn": 12}},
			tensors: gpt2LoRA},
		// With the MLP's c_fc beside: it keeps rank 3, no padding to 6.
		{name: "lora-gpt2-qv-fc", fixture: "gpt2", method: "lora", raw: map[string]any{"rank": 3, "alpha": 6.0, "targets": "q,v,fc"},
			cfg: map[string]any{"peft_type": "LORA", "r": 3, "lora_alpha": 6, "target_modules": []string{"c_attn", "c_fc"},
				"rank_pattern": map[string]any{"c_attn": 6}, "alpha_pattern": map[string]any{"c_attn": 12}},
			tensors: perLayer(perLayer(maps.Clone(gpt2LoRA), "transformer.h.%d.mlp.c_fc.lora_A.weight", 3, 32), "transformer.h.%d.mlp.c_fc.lora_B.weight", 128, 3)},
		// rsLoRA: c_attn's rank 4 keeps the scale 2/√2 with lora_alpha 2√2.
		{name: "lora-gpt2-rslora", fixture: "gpt2", method: "lora", raw: map[string]any{"rank": 2, "alpha": 2.0, "targets": "q,v", "rslora": true},
			cfg: map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 2, "use_rslora": true,
				"rank_pattern": map[string]any{"c_attn": 4}, "alpha_pattern": map[string]any{"c_attn": 2 * math.Sqrt2}},
			tensors: perLayer(gpt2("attn.c_attn.lora_A.weight", 4, 32), "transformer.h.%d.attn.c_attn.lora_B.weight", 96, 4)},
		// PiSSA and OLoRA as PEFT converts them for the unchanged base:
		// rank 2r, lora_alpha 2·alpha, init_lora_weights true.
		{name: "lora-llama-pissa", fixture: "llama", method: "lora", raw: map[string]any{"rank": 1, "alpha": 3.0, "targets": "q,k,v,o,gate,up,down", "init": "pissa"},
			cfg: map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 6, "init_lora_weights": true, "rank_pattern": map[string]any{},
				"target_modules": []string{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}},
			tensors: llamaLoRA},
		{name: "lora-gpt2-olora", fixture: "gpt2", method: "lora", raw: map[string]any{"rank": 2, "alpha": 4.0, "targets": "fc,proj", "init": "olora", "rslora": true},
			cfg: map[string]any{"peft_type": "LORA", "r": 4, "lora_alpha": 4 * math.Sqrt2, "use_rslora": true, "init_lora_weights": true,
				"target_modules": []string{"c_fc", "mlp.c_proj"}, "rank_pattern": map[string]any{}},
			tensors: perLayer(perLayer(perLayer(gpt2("mlp.c_fc.lora_A.weight", 4, 32), "transformer.h.%d.mlp.c_fc.lora_B.weight", 128, 4),
				"transformer.h.%d.mlp.c_proj.lora_A.weight", 4, 128), "transformer.h.%d.mlp.c_proj.lora_B.weight", 32, 4)},
		{name: "lora-llama-all", fixture: "llama", method: "lora", raw: map[string]any{"rank": 2, "alpha": 3.0, "targets": "q,k,v,o,gate,up,down"},
			cfg: map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 3, "fan_in_fan_out": false,
				"target_modules": []string{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}},
			tensors: llamaLoRA},
		{name: "ia3-gpt2", fixture: "gpt2", method: "ia3", raw: map[string]any{},
			cfg: map[string]any{"peft_type": "IA3", "target_modules": []string{"c_attn", "mlp.c_proj"}, "feedforward_modules": []string{"mlp.c_proj"},
				"fan_in_fan_out": true, "init_ia3_weights": true, "modules_to_save": nil},
			tensors: gpt2IA3},
		// k alone: c_attn's vector is one on q and v, and no module is a
		// feed-forward one (an empty list, not null).
		{name: "ia3-gpt2-k", fixture: "gpt2", method: "ia3", raw: map[string]any{"targets": "k"},
			cfg:     map[string]any{"peft_type": "IA3", "target_modules": []string{"c_attn"}, "feedforward_modules": []string{}, "fan_in_fan_out": true},
			tensors: gpt2("attn.c_attn.ia3_l.weight", 96, 1)},
		{name: "ia3-llama", fixture: "llama", method: "ia3", raw: map[string]any{}, cfg: ia3Llama, tensors: llamaIA3},
		// Qwen2's k and v have biases, which PEFT's output scaling scales too.
		{name: "ia3-qwen2", fixture: "qwen2", method: "ia3", raw: map[string]any{}, cfg: ia3Llama, tensors: llamaIA3},
		// DoRA: LoRA's tensors and use_dora, c_attn's magnitude over all
		// 96 outputs.
		{name: "dora-gpt2-qv", fixture: "gpt2", method: "dora", raw: map[string]any{"rank": 2, "alpha": 4.0, "targets": "q,v"},
			cfg: map[string]any{"peft_type": "LORA", "use_dora": true, "r": 2, "lora_alpha": 4, "target_modules": []string{"c_attn"},
				"rank_pattern": map[string]any{"c_attn": 4}, "alpha_pattern": map[string]any{"c_attn": 8}},
			tensors: perLayer(perLayer(gpt2("attn.c_attn.lora_A.weight", 4, 32), "transformer.h.%d.attn.c_attn.lora_B.weight", 96, 4),
				"transformer.h.%d.attn.c_attn.lora_magnitude_vector", 96)},
		{name: "dora-llama", fixture: "llama", method: "dora", raw: map[string]any{"rank": 2, "alpha": 3.0, "targets": "v,down"},
			cfg: map[string]any{"peft_type": "LORA", "use_dora": true, "r": 2, "lora_alpha": 3, "target_modules": []string{"down_proj", "v_proj"}},
			tensors: perLayer(perLayer(perLayer(perLayer(perLayer(perLayer(map[string][]int{},
				"model.layers.%d.self_attn.v_proj.lora_A.weight", 2, 32), "model.layers.%d.self_attn.v_proj.lora_B.weight", 16, 2),
				"model.layers.%d.self_attn.v_proj.lora_magnitude_vector", 16), "model.layers.%d.mlp.down_proj.lora_A.weight", 2, 64),
				"model.layers.%d.mlp.down_proj.lora_B.weight", 32, 2), "model.layers.%d.mlp.down_proj.lora_magnitude_vector", 32)},
		// q and v: c_attn's one d, its b 96 wide; B's rows run to 96.
		{name: "vera-gpt2", fixture: "gpt2", method: "vera", raw: map[string]any{"rank": 6, "targets": "q,v,fc"},
			cfg: map[string]any{"peft_type": "VERA", "r": 6, "target_modules": []string{"c_attn", "c_fc"}, "save_projection": true,
				"d_initial": 0.1, "fan_in_fan_out": true, "bias": "none"},
			tensors: perLayer(perLayer(perLayer(perLayer(map[string][]int{"base_model.vera_A": {6, 32}, "base_model.vera_B": {128, 6}},
				"transformer.h.%d.attn.c_attn.vera_lambda_b", 96), "transformer.h.%d.attn.c_attn.vera_lambda_d", 6),
				"transformer.h.%d.mlp.c_fc.vera_lambda_b", 128), "transformer.h.%d.mlp.c_fc.vera_lambda_d", 6)},
		{name: "vera-llama", fixture: "llama", method: "vera", raw: map[string]any{"rank": 40, "targets": "k,o,down"},
			cfg: map[string]any{"peft_type": "VERA", "r": 40, "target_modules": []string{"down_proj", "k_proj", "o_proj"}, "fan_in_fan_out": false},
			tensors: perLayer(perLayer(perLayer(perLayer(perLayer(perLayer(map[string][]int{"base_model.vera_A": {40, 64}, "base_model.vera_B": {32, 40}},
				"model.layers.%d.self_attn.k_proj.vera_lambda_b", 16), "model.layers.%d.self_attn.k_proj.vera_lambda_d", 40),
				"model.layers.%d.self_attn.o_proj.vera_lambda_b", 32), "model.layers.%d.self_attn.o_proj.vera_lambda_d", 40),
				"model.layers.%d.mlp.down_proj.vera_lambda_b", 32), "model.layers.%d.mlp.down_proj.vera_lambda_d", 40)},
		// LoHa and LoKr on every Llama linear: PEFT's [out, in] layout as
		// stored. LoKr splits 32 = 4·8, 16 = 4·4 and 64 = 8·8; at r = 2 its
		// W2 is a rank-2 pair (2 < 8/2) and W1 whole.
		{name: "loha-llama", fixture: "llama", method: "loha", raw: map[string]any{"rank": 2, "alpha": 3.0, "targets": "q,k,v,o,gate,up,down"},
			cfg: map[string]any{"peft_type": "LOHA", "r": 2, "alpha": 3, "rank_dropout": 0, "module_dropout": 0, "init_weights": true,
				"use_effective_conv2d": false, "rank_pattern": map[string]any{}, "alpha_pattern": map[string]any{},
				"target_modules": []string{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}},
			tensors: llamaLoHa},
		{name: "lokr-llama", fixture: "llama", method: "lokr", raw: map[string]any{"rank": 2, "alpha": 3.0, "targets": "q,k,v,o,gate,up,down"},
			cfg: map[string]any{"peft_type": "LOKR", "r": 2, "alpha": 3, "decompose_both": false, "decompose_factor": -1, "rank_dropout": 0,
				"module_dropout": 0, "init_weights": true, "rank_dropout_scale": false,
				"target_modules": []string{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}},
			tensors: llamaLoKr},
		// OFT on every Llama linear at b = 8; and at r = 2 blocks (of 16
		// on q's and v's 32 inputs) with seven Neumann terms.
		{name: "oft-llama", fixture: "llama", method: "oft", raw: map[string]any{"oft_block_size": 8, "targets": "q,k,v,o,gate,up,down"},
			cfg: map[string]any{"peft_type": "OFT", "r": 0, "oft_block_size": 8, "module_dropout": 0, "coft": false, "eps": 6e-5,
				"block_share": false, "use_cayley_neumann": true, "num_cayley_neumann_terms": 5, "init_weights": true, "bias": "none",
				"fan_in_fan_out": false, "target_modules": []string{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}},
			tensors: llamaOFT},
		{name: "oft-llama-r", fixture: "llama", method: "oft", raw: map[string]any{"r": 2, "oft_block_size": 0, "num_cayley_neumann_terms": 7, "targets": "q,v"},
			cfg:     map[string]any{"peft_type": "OFT", "r": 2, "oft_block_size": 0, "num_cayley_neumann_terms": 7, "target_modules": []string{"q_proj", "v_proj"}},
			tensors: llama(llama(map[string][]int{}, "self_attn.q_proj.oft_R.weight", 2, 120), "self_attn.v_proj.oft_R.weight", 2, 120)},
		// AdaLoRA before any masking: every init_r triplet, lora_A [r, in],
		// lora_E [r, 1], lora_B [out, r] (ParameterDict entries: no
		// .weight), rank_pattern null; on GPT-2 the MLP's unfused Conv1Ds.
		{name: "adalora-llama", fixture: "llama", method: "adalora", raw: map[string]any{"init_r": 3, "rank": 2, "alpha": 3.0, "targets": "q,v,down"},
			cfg: map[string]any{"peft_type": "ADALORA", "init_r": 3, "target_r": 2, "lora_alpha": 3, "rank_pattern": nil,
				"fan_in_fan_out": false, "target_modules": []string{"down_proj", "q_proj", "v_proj"}},
			tensors: llama(llama(llama(llama(llama(llama(llama(llama(llama(map[string][]int{},
				"self_attn.q_proj.lora_A", 3, 32), "self_attn.q_proj.lora_E", 3, 1), "self_attn.q_proj.lora_B", 32, 3),
				"self_attn.v_proj.lora_A", 3, 32), "self_attn.v_proj.lora_E", 3, 1), "self_attn.v_proj.lora_B", 16, 3),
				"mlp.down_proj.lora_A", 3, 64), "mlp.down_proj.lora_E", 3, 1), "mlp.down_proj.lora_B", 32, 3)},
		{name: "adalora-gpt2-mlp", fixture: "gpt2", method: "adalora", raw: map[string]any{"init_r": 2, "rank": 1, "targets": "fc,proj"},
			cfg: map[string]any{"peft_type": "ADALORA", "init_r": 2, "target_r": 1, "lora_alpha": 8, "fan_in_fan_out": true,
				"target_modules": []string{"c_fc", "mlp.c_proj"}},
			tensors: perLayer(perLayer(perLayer(perLayer(perLayer(perLayer(map[string][]int{},
				"transformer.h.%d.mlp.c_fc.lora_A", 2, 32), "transformer.h.%d.mlp.c_fc.lora_E", 2, 1), "transformer.h.%d.mlp.c_fc.lora_B", 128, 2),
				"transformer.h.%d.mlp.c_proj.lora_A", 2, 128), "transformer.h.%d.mlp.c_proj.lora_E", 2, 1), "transformer.h.%d.mlp.c_proj.lora_B", 32, 2)},
		// r = 4 ≥ 8/2: W2 whole, [8, 8] on q, [4, 8] on v.
		{name: "lokr-llama-whole", fixture: "llama", method: "lokr", raw: map[string]any{"rank": 4, "targets": "q,v"},
			cfg: map[string]any{"peft_type": "LOKR", "r": 4, "alpha": 8, "target_modules": []string{"q_proj", "v_proj"}},
			tensors: llama(llama(llama(llama(map[string][]int{}, "self_attn.q_proj.lokr_w1", 4, 4), "self_attn.q_proj.lokr_w2", 8, 8),
				"self_attn.v_proj.lokr_w1", 4, 4), "self_attn.v_proj.lokr_w2", 4, 8)},
		// decompose_factor 16 splits 32 = 16·2 and 64 = 16·4, the factor
		// first; decompose_both at r = 1 < 16/2 makes W1 a pair; W2 is
		// whole on o_proj (1 ≥ 2/2), a pair on down_proj (1 < 4/2).
		{name: "lokr-llama-both", fixture: "llama", method: "lokr", raw: map[string]any{"rank": 1, "decompose_both": true, "decompose_factor": 16, "targets": "o,down"},
			cfg: map[string]any{"peft_type": "LOKR", "r": 1, "decompose_both": true, "decompose_factor": 16, "target_modules": []string{"down_proj", "o_proj"}},
			tensors: llama(llama(llama(llama(llama(llama(llama(map[string][]int{},
				"self_attn.o_proj.lokr_w1_a", 16, 1), "self_attn.o_proj.lokr_w1_b", 1, 16), "self_attn.o_proj.lokr_w2", 2, 2),
				"mlp.down_proj.lokr_w1_a", 16, 1), "mlp.down_proj.lokr_w1_b", 1, 16), "mlp.down_proj.lokr_w2_a", 2, 1), "mlp.down_proj.lokr_w2_b", 1, 4)},
		{name: "lntuning-gpt2", fixture: "gpt2", method: "lntuning", raw: map[string]any{},
			cfg: map[string]any{"peft_type": "LN_TUNING", "modules_to_save": nil,
				"target_modules": []string{"transformer.h.0.ln_1", "transformer.h.0.ln_2", "transformer.h.1.ln_1", "transformer.h.1.ln_2", "transformer.ln_f"}},
			tensors: lnTensors("transformer.h.%d.ln_1", "transformer.h.%d.ln_2", "transformer.ln_f", true)},
		{name: "lntuning-llama", fixture: "llama", method: "lntuning", raw: map[string]any{"norms": "blocks"},
			cfg: map[string]any{"peft_type": "LN_TUNING",
				"target_modules": []string{"model.layers.0.input_layernorm", "model.layers.0.post_attention_layernorm", "model.layers.1.input_layernorm", "model.layers.1.post_attention_layernorm"}},
			tensors: lnTensors("model.layers.%d.input_layernorm", "model.layers.%d.post_attention_layernorm", "", false)},
		// Prefix tuning as PEFT's PREFIX_TUNING: per virtual token, each
		// layer's key then value, 16 wide (2 key/value heads of 8): 2·2·16.
		// With projection the MLP's outputs are written (llama3: rope
		// scaling's frequencies turn the keys).
		{name: "prefix-llama", fixture: "llama", method: "prefix", raw: map[string]any{"length": 3},
			cfg: prefixCfg(3), tensors: map[string][]int{"prompt_embeddings": {3, 64}}},
		{name: "prefix-llama3-projection", fixture: "llama3", method: "prefix", raw: map[string]any{"length": 4, "projection": true, "hidden": 8},
			cfg: prefixCfg(4), tensors: map[string][]int{"prompt_embeddings": {4, 64}}},
		{name: "prompt-gpt2", fixture: "gpt2", method: "prompt", raw: map[string]any{"length": 5, "init": "random"},
			cfg: prompt(4), tensors: map[string][]int{"prompt_embeddings": {5, 32}}},
		{name: "prompt-llama", fixture: "llama", method: "prompt", raw: map[string]any{"length": 5, "init": "random"},
			cfg: prompt(4), tensors: map[string][]int{"prompt_embeddings": {5, 32}}},
		{name: "ptuning-gpt2", fixture: "gpt2", method: "ptuning", raw: map[string]any{"length": 3, "encoder_hidden_size": 8},
			cfg: ptuning(3, 8), tensors: map[string][]int{"prompt_embeddings": {3, 32}}},
		{name: "ptuning-llama", fixture: "llama", method: "ptuning", raw: map[string]any{"length": 4},
			cfg: ptuning(4, 32), tensors: map[string][]int{"prompt_embeddings": {4, 32}}},
	}
}

// prefixCfg is PREFIX_TUNING's config for L virtual tokens on the Llama
// fixtures: token_dim and num_attention_heads are the key/value width and
// heads, as PEFT sets them for grouped queries.
func prefixCfg(L int) map[string]any {
	return map[string]any{"peft_type": "PREFIX_TUNING", "num_virtual_tokens": L, "token_dim": 16, "num_layers": 2,
		"num_attention_heads": 2, "num_transformer_submodules": 1, "prefix_projection": false, "encoder_hidden_size": nil}
}

// lnTensors are LN tuning's tensors for two per-layer norms and a final
// one ("": not tuned), the fixtures being 32 wide.
func lnTensors(first, second, final string, bias bool) map[string][]int {
	want := map[string][]int{}
	fields := []string{"weight"}
	if bias {
		fields = append(fields, "bias")
	}
	for _, f := range fields {
		perLayer(want, first+".ln_tuning_layers."+f, 32)
		perLayer(want, second+".ln_tuning_layers."+f, 32)
		if final != "" {
			want[final+".ln_tuning_layers."+f] = []int{32}
		}
	}
	return want
}

// peftAttach attaches the case's method to a float64 copy of its fixture
// and gives every weight of the method a random value away from its
// initialisation (B non-zero, scales off one), rounded to float32 so that
// the F32 adapter file holds exactly the weights the logits are computed
// with.
func peftAttach(t *testing.T, c peftCase, seed uint64) (*model.Model, *Attached) {
	t.Helper()
	m := float64Copy(t, fixtureDir(c.fixture))
	a, err := Attach(&model.Base{Name: c.fixture, Model: m}, c.method, c.raw, seed)
	if err != nil {
		t.Fatal(err)
	}
	mean, std := 0.0, 0.2
	switch c.method {
	case "ia3":
		mean, std = 1, 0.3
	case "prompt", "ptuning":
		std = 0.3 // the fixtures' embedding scale (P-tuning: its encoder's output near it)
	case "lntuning":
		mean, std = 1, 0.3 // gains about one (biases too: any value does)
	case "vera":
		std = 1 // d and b: the shared matrices' entries are small
	case "loha", "lokr":
		std = 0.5 // products of factors: at 0.2 they barely move the logits
	case "oft":
		std = 0.1 // |S| near 0.2·√b: the series still near a rotation
	}
	rng := rand.New(rand.NewPCG(seed, 0x9ef7))
	for _, p := range a.Own {
		if !p.Trainable { // VeRA's frozen shared matrices
			SetValues(p, roundedF32(nn.Float64s(p.Value)))
			continue
		}
		vals := make([]float64, p.Size())
		for i := range vals {
			vals[i] = float64(float32(mean + std*rng.NormFloat64()))
		}
		SetValues(p, vals)
	}
	// A stored prefix's keys are written turned by L rotary positions
	// (prefix.PEFT): they are set to float32 values turned back, so that
	// the file holds float32 values exactly and LoadPEFT, turning them
	// back again, gives these keys to float64's rounding.
	if len(a.Hooks) > 0 {
		if h, ok := a.Hooks[0].(*prefixHook); ok && h.emb == nil {
			freq, err := m.RotaryFrequencies()
			if err != nil {
				t.Fatal(err)
			}
			L, dkv := a.Values.Int("length"), m.Config.DKV()
			for _, k := range h.keys {
				SetValues(k, rotateRows(nn.Float64s(k.Value), L, dkv, freq, -float64(L)))
			}
		}
	}
	// VeRA's layers compute with copies of the shared matrices' corners,
	// which must be the rounded values the file holds too.
	if len(a.Hooks) > 0 {
		if h, ok := a.Hooks[0].(*veraHook); ok {
			for _, l := range h.layers {
				SetValues(l.a, roundedF32(nn.Float64s(l.a.Value)))
				SetValues(l.b, roundedF32(nn.Float64s(l.b.Value)))
			}
		}
	}
	return m, a
}

func roundedF32(v []float64) []float64 {
	for i, x := range v {
		v[i] = float64(float32(x))
	}
	return v
}

// fixtureIDs are the fixture's two input sequences.
func fixtureIDs(t *testing.T, fixture string) [][]int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir(fixture), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		InputIDs [][]int `json:"input_ids"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	return fx.InputIDs
}

// sequenceLogits runs equal-length sequences through m and returns the
// logits of their real tokens, [B][T][vocab].
func sequenceLogits(t *testing.T, m *model.Model, ids [][]int, hooks ...model.Hook) [][][]float64 {
	t.Helper()
	B, T, V := len(ids), len(ids[0]), m.Config.Vocab
	g := nn.NewGraph(m.Params[0].Value.Dtype())
	f, err := m.Build(g, B, T, hooks...)
	if err != nil {
		t.Fatal(err)
	}
	f.IDs.SetInts(slices.Concat(ids...))
	p, err := nn.Compile(g, nil, f.Logits)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	flat := nn.Float64s(p.Value(f.Logits))
	out := make([][][]float64, B)
	for b := range out {
		out[b] = make([][]float64, T)
		for i := range out[b] {
			out[b][i] = flat[(b*T+i)*V : (b*T+i+1)*V]
		}
	}
	return out
}

func worstDiff(a, b [][][]float64) float64 {
	d := 0.0
	for i := range a {
		for j := range a[i] {
			for k := range a[i][j] {
				d = max(d, math.Abs(a[i][j][k]-b[i][j][k]))
			}
		}
	}
	return d
}

// peftAdapter is an adapter folder read back: its config and its tensors
// widened from F32, keyed as stored.
type peftAdapter struct {
	cfg     map[string]any
	tensors map[string]PEFTTensor
}

func readPEFT(t *testing.T, dir string) peftAdapter {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, PEFTConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	ad := peftAdapter{tensors: map[string]PEFTTensor{}}
	if err := json.Unmarshal(raw, &ad.cfg); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, PEFTWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, nt := range st.Tensors() {
		if nt.TensorView.DType() != safetensors.F32 {
			t.Fatalf("%s is %v, want F32", nt.Name, nt.TensorView.DType())
		}
		var shape []int
		for _, d := range nt.TensorView.Shape() {
			shape = append(shape, int(d))
		}
		b := nt.TensorView.Data()
		vals := make([]float64, len(b)/4)
		for i := range vals {
			vals[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
		ad.tensors[nt.Name] = PEFTTensor{Shape: shape, Values: vals}
	}
	return ad
}

// savePEFT writes the attached method's adapter into a fresh folder and
// reads it back.
func savePEFT(t *testing.T, c peftCase, m *model.Model, a *Attached, dir string) peftAdapter {
	t.Helper()
	if err := a.SavePEFT(m, c.fixture, dir); err != nil {
		t.Fatal(err)
	}
	return readPEFT(t, dir)
}

// The config fields and tensor names and shapes PEFT documents for each
// method, with the values the method holds.
func TestPEFTFormat(t *testing.T) {
	for k, c := range peftCases() {
		t.Run(c.name, func(t *testing.T) {
			m, a := peftAttach(t, c, uint64(k)+1)
			ad := savePEFT(t, c, m, a, t.TempDir())
			want := map[string]any{"task_type": "CAUSAL_LM", "inference_mode": true, "base_model_name_or_path": c.fixture}
			for f, v := range c.cfg {
				want[f] = v
			}
			for f, v := range want {
				got, ok := ad.cfg[f]
				if !ok {
					t.Errorf("adapter_config.json has no %q (want %s)", f, jsonOf(v))
				} else if jsonOf(got) != jsonOf(v) {
					t.Errorf("adapter_config.json %q: %s, want %s", f, jsonOf(got), jsonOf(v))
				}
			}
			var names []string
			for n, tt := range ad.tensors {
				names = append(names, n)
				short := strings.TrimPrefix(n, "base_model.model.") // VeRA's shared matrices keep base_model.
				if c.method == "prompt" || c.method == "ptuning" || c.method == "prefix" {
					short = n // PEFT keys the prompt by itself
				}
				if w, ok := c.tensors[short]; !ok {
					t.Errorf("unexpected tensor %s", n)
				} else if !slices.Equal(tt.Shape, w) {
					t.Errorf("%s: shape %v, want %v", n, tt.Shape, w)
				}
			}
			if len(names) != len(c.tensors) {
				t.Errorf("%d tensors %v, want %d", len(names), slices.Sorted(slices.Values(names)), len(c.tensors))
			}
			checkPEFTValues(t, c, m, a, ad)
		})
	}
}

// checkPEFTValues compares the stored values of IA3 and prompt tuning with
// the method's weights: c_attn's vector is q | k | v with ones where a part
// is not scaled. (LoRA's reshaping is checked by its round trip.)
func checkPEFTValues(t *testing.T, c peftCase, m *model.Model, a *Attached, ad peftAdapter) {
	t.Helper()
	switch c.method {
	case "prompt":
		if got, want := ad.tensors["prompt_embeddings"].Values, nn.Float64s(a.Own[0].Value); !slices.Equal(got, want) {
			t.Errorf("prompt_embeddings differ from the prompt's embeddings")
		}
	case "ptuning":
		// The encoder's output, rounded to the file's float32.
		if got, want := ad.tensors["prompt_embeddings"].Values, roundedF32(a.Hooks[0].(*ptuningHook).prompt()); !slices.Equal(got, want) {
			t.Errorf("prompt_embeddings differ from the encoder's output")
		}
	case "ia3":
		h := a.Hooks[0].(*ia3Hook)
		for i := range m.Config.Layers {
			for _, name := range m.Config.LinearNames(i) {
				mod, col, width, err := model.HFModule(m, name)
				if err != nil {
					t.Fatal(err)
				}
				v, ok := ad.tensors["base_model.model."+mod+".ia3_l.weight"]
				if !ok {
					continue
				}
				want := ones(len(v.Values))
				if s := h.scales[name]; s != nil {
					l := nn.Float64s(s.l.Value)
					copy(want[col:], l)
				} else if width == 0 {
					t.Errorf("%s has a vector but %s is not scaled", mod, name)
					continue
				}
				if width > 0 {
					want = want[col : col+width]
					v.Values = v.Values[col : col+width]
				}
				if !slices.Equal(v.Values, want) {
					t.Errorf("%s: the vector's part for %s differs from its scales", mod, name)
				}
			}
		}
	case "lora":
		// q's and v's A differ, so c_attn's stacks them.
		h := a.Hooks[0].(*loraHook)
		if q, v := h.layers["h.0.attn.q"], h.layers["h.0.attn.v"]; q != nil && v != nil &&
			slices.Equal(nn.Float64s(q.a.Value), nn.Float64s(v.a.Value)) {
			t.Errorf("q's and v's A are equal: the stacked export is not exercised")
		}
	}
}

// Every adapter, written and read back, applied by importPEFT to a fresh
// copy of the base model, gives the logits of the method that wrote it.
func TestPEFTRoundTrip(t *testing.T) {
	for k, c := range peftCases() {
		t.Run(c.name, func(t *testing.T) {
			m, a := peftAttach(t, c, uint64(k)+1)
			ids := fixtureIDs(t, c.fixture)
			want := sequenceLogits(t, m, ids, a.Hooks...)
			base := sequenceLogits(t, float64Copy(t, fixtureDir(c.fixture)), ids) // the unchanged base (LN tuning trains m's own norms)
			ad := savePEFT(t, c, m, a, t.TempDir())
			fresh := float64Copy(t, fixtureDir(c.fixture))
			hooks := importPEFT(t, fresh, ad)
			got := sequenceLogits(t, fresh, ids, hooks...)
			moved, d := worstDiff(want, base), worstDiff(got, want)
			t.Logf("%s: the adapter moves the logits by up to %.3f; imported from its file, within %.1e", c.name, moved, d)
			if moved < 1e-2 {
				t.Errorf("the adapter moves the logits by only %.1e: a trivial adapter tests nothing", moved)
			}
			if d > 1e-6 {
				t.Errorf("logits of the imported adapter differ by %.2e (limit 1e-6)", d)
			}
		})
	}
}

// peftMatches says whether PEFT's list-valued target_modules (or
// feedforward_modules, matched by suffix) selects a module path.
func peftMatches(list any, path string, dotted bool) bool {
	xs, _ := list.([]any)
	for _, x := range xs {
		s := x.(string)
		if path == s || (dotted && strings.HasSuffix(path, "."+s)) || (!dotted && strings.HasSuffix(path, s)) {
			return true
		}
	}
	return false
}

// peftRank is a LoRA module's rank and lora_alpha: r and lora_alpha, or
// their rank_pattern and alpha_pattern entries whose key, as PEFT matches
// it, ends the module's path after a dot.
func peftRank(cfg map[string]any, mod string) (int, float64) {
	find := func(field string) (float64, bool) {
		pats, _ := cfg[field].(map[string]any)
		for key, v := range pats {
			if regexp.MustCompile(`^(.*\.)?(` + key + `)$`).MatchString(mod) {
				return v.(float64), true
			}
		}
		return 0, false
	}
	r, alpha := cfg["r"].(float64), cfg["lora_alpha"].(float64)
	if v, ok := find("rank_pattern"); ok {
		r = v
	}
	if v, ok := find("alpha_pattern"); ok {
		alpha = v
	}
	return int(r), alpha
}

// importPEFT applies an adapter to m from its files alone, as PEFT reads
// them: LoRA and IA3 are merged into m's weights (ΔW = (lora_alpha/r)·B·A;
// IA3's vector scales a module's output columns and bias, or a
// feed-forward module's input rows), through HFModule's map of PEFT's
// module paths; prompt tuning returns a prompt hook holding the stored
// embeddings. Every module target_modules selects must have its tensors,
// and every tensor must belong to one.
func importPEFT(t *testing.T, m *model.Model, ad peftAdapter) []model.Hook {
	t.Helper()
	used := map[string]bool{}
	get := func(key string) (PEFTTensor, bool) {
		v, ok := ad.tensors["base_model.model."+key]
		used["base_model.model."+key] = ok
		return v, ok
	}
	var hooks []model.Hook
	switch typ := ad.cfg["peft_type"]; typ {
	case "ADALORA":
		// PEFT's SVDLinear: W + (B·(A∘E))·lora_alpha/(ranknum + 1e-5), its
		// ranknum init_r (kept by resize_modules_by_rank_pattern), A [k, in],
		// E [k, 1] and B [out, k] with k a module's kept triplets.
		ranknum := ad.cfg["init_r"].(float64)
		scale := ad.cfg["lora_alpha"].(float64) / (ranknum + 1e-5)
		for i := range m.Config.Layers {
			for _, name := range m.Config.LinearNames(i) {
				mod, col, _, err := model.HFModule(m, name)
				if err != nil {
					t.Fatal(err)
				}
				A, okA := get(mod + ".lora_A")
				E, okE := get(mod + ".lora_E")
				B, okB := get(mod + ".lora_B")
				if !okA && !okE && !okB {
					continue
				}
				k := E.Shape[0]
				w := m.Param(name + ".weight")
				in, out := linearDims(m, name)
				if !okA || !okB || !slices.Equal(A.Shape, []int{k, in}) || !slices.Equal(E.Shape, []int{k, 1}) || B.Shape[1] != k {
					t.Fatalf("%s: lora_A %v, lora_E %v, lora_B %v", mod, A.Shape, E.Shape, B.Shape)
				}
				vals := nn.Float64s(w.Value)
				for x := range in {
					for o := range out {
						s := 0.0
						for j := range k {
							s += B.Values[(col+o)*k+j] * A.Values[j*in+x] * E.Values[j]
						}
						vals[x*out+o] += scale * s
					}
				}
				SetValues(w, vals)
			}
		}
	case "LORA", "IA3":
		for i := range m.Config.Layers {
			for _, name := range m.Config.LinearNames(i) {
				mod, col, width, err := model.HFModule(m, name)
				if err != nil {
					t.Fatal(err)
				}
				targeted := peftMatches(ad.cfg["target_modules"], mod, true)
				w := m.Param(name + ".weight")
				in, out := linearDims(m, name)
				vals := nn.Float64s(w.Value)
				if typ == "LORA" {
					A, okA := get(mod + ".lora_A.weight")
					B, okB := get(mod + ".lora_B.weight")
					if targeted != okA || targeted != okB {
						t.Fatalf("%s: targeted %v, but lora_A stored %v, lora_B %v", mod, targeted, okA, okB)
					}
					if !targeted {
						continue
					}
					r, alpha := peftRank(ad.cfg, mod)
					if A.Shape[0] != r || A.Shape[1] != in || B.Shape[1] != r {
						t.Fatalf("%s: lora_A %v, lora_B %v for r %v, %d inputs", mod, A.Shape, B.Shape, r, in)
					}
					scale := alpha / float64(r)
					if ad.cfg["use_rslora"] == true {
						scale = alpha / math.Sqrt(float64(r))
					}
					for x := range in {
						for o := range out {
							s := 0.0
							for j := range r {
								s += B.Values[(col+o)*r+j] * A.Values[j*in+x]
							}
							vals[x*out+o] += scale * s
						}
					}
					if ad.cfg["use_dora"] == true {
						// DoRA: each output's row of W + ΔW rescaled to its magnitude.
						mag, ok := get(mod + ".lora_magnitude_vector")
						if !ok {
							t.Fatalf("%s: use_dora without lora_magnitude_vector", mod)
						}
						for o := range out {
							n := 0.0
							for x := range in {
								n += vals[x*out+o] * vals[x*out+o]
							}
							for x := range in {
								vals[x*out+o] *= mag.Values[col+o] / math.Sqrt(n)
							}
						}
					}
					SetValues(w, vals)
					continue
				}
				l, ok := get(mod + ".ia3_l.weight")
				if targeted != ok {
					t.Fatalf("%s: targeted %v, but ia3_l stored %v", mod, targeted, ok)
				}
				if !targeted {
					continue
				}
				if peftMatches(ad.cfg["feedforward_modules"], mod, false) {
					if !slices.Equal(l.Shape, []int{1, in}) {
						t.Fatalf("%s: feed-forward ia3_l %v, want [1 %d]", mod, l.Shape, in)
					}
					for x := range in {
						for o := range out {
							vals[x*out+o] *= l.Values[x]
						}
					}
					SetValues(w, vals)
					continue
				}
				full := out
				if width > 0 {
					full = 3 * width
				}
				if !slices.Equal(l.Shape, []int{full, 1}) {
					t.Fatalf("%s: ia3_l %v, want [%d 1]", mod, l.Shape, full)
				}
				for x := range in {
					for o := range out {
						vals[x*out+o] *= l.Values[col+o]
					}
				}
				SetValues(w, vals)
				if b := m.Param(name + ".bias"); b != nil {
					bv := nn.Float64s(b.Value)
					for o := range bv {
						bv[o] *= l.Values[col+o]
					}
					SetValues(b, bv)
				}
			}
		}
	case "VERA":
		sa, okA := ad.tensors["base_model.vera_A"]
		sb, okB := ad.tensors["base_model.vera_B"]
		used["base_model.vera_A"], used["base_model.vera_B"] = okA, okB
		if !okA || !okB || ad.cfg["save_projection"] != true {
			t.Fatalf("VeRA without its projections (save_projection %v)", ad.cfg["save_projection"])
		}
		r := int(ad.cfg["r"].(float64))
		inMax, outMax := sa.Shape[1], sb.Shape[0]
		for i := range m.Config.Layers {
			for _, name := range m.Config.LinearNames(i) {
				mod, col, _, err := model.HFModule(m, name)
				if err != nil {
					t.Fatal(err)
				}
				targeted := peftMatches(ad.cfg["target_modules"], mod, true)
				lb, okb := get(mod + ".vera_lambda_b")
				ld, okd := get(mod + ".vera_lambda_d")
				if targeted != okb || targeted != okd {
					t.Fatalf("%s: targeted %v, but lambda_b stored %v, lambda_d %v", mod, targeted, okb, okd)
				}
				if !targeted {
					continue
				}
				w := m.Param(name + ".weight")
				in, out := linearDims(m, name)
				vals := nn.Float64s(w.Value)
				// ΔW[o, x] = b[o]·Σ_k B[o, k]·d[k]·A[k, x], o in the module's rows.
				for x := range in {
					for o := range out {
						s := 0.0
						for k := range r {
							s += sb.Values[(col+o)*r+k] * ld.Values[k] * sa.Values[k*inMax+x]
						}
						vals[x*out+o] += lb.Values[col+o] * s
					}
				}
				_ = outMax
				SetValues(w, vals)
			}
		}
	case "LOHA", "LOKR":
		// ΔW [out, in] = (alpha/r)·(W1a·W1b) ∘ (W2a·W2b) for LoHa,
		// (alpha/r)·W1 ⊗ W2 for LoKr, each factor whole or a pair, shapes
		// as stored.
		prefix := map[any]string{"LOHA": "hada_", "LOKR": "lokr_"}[typ]
		scale := ad.cfg["alpha"].(float64) / ad.cfg["r"].(float64)
		factor := func(mod, w string) (PEFTTensor, bool) {
			if t, ok := get(mod + "." + prefix + w); ok {
				return t, true
			}
			a, okA := get(mod + "." + prefix + w + "_a")
			b, okB := get(mod + "." + prefix + w + "_b")
			if !okA || !okB || a.Shape[1] != b.Shape[0] {
				return PEFTTensor{}, false
			}
			n, k, c := a.Shape[0], a.Shape[1], b.Shape[1]
			out := PEFTTensor{Shape: []int{n, c}, Values: make([]float64, n*c)}
			for i := range n {
				for j := range c {
					for p := range k {
						out.Values[i*c+j] += a.Values[i*k+p] * b.Values[p*c+j]
					}
				}
			}
			return out, true
		}
		for i := range m.Config.Layers {
			for _, name := range m.Config.LinearNames(i) {
				mod, _, _, err := model.HFModule(m, name)
				if err != nil {
					t.Fatal(err)
				}
				targeted := peftMatches(ad.cfg["target_modules"], mod, true)
				w1, ok1 := factor(mod, "w1")
				w2, ok2 := factor(mod, "w2")
				if targeted != ok1 || targeted != ok2 {
					t.Fatalf("%s: targeted %v, but w1 stored %v, w2 %v", mod, targeted, ok1, ok2)
				}
				if !targeted {
					continue
				}
				in, out := linearDims(m, name)
				delta := func(o, x int) float64 { // LoHa: the factors are [out, in]
					return w1.Values[o*in+x] * w2.Values[o*in+x]
				}
				if typ == "LOKR" {
					a, c, b, d := w1.Shape[0], w1.Shape[1], w2.Shape[0], w2.Shape[1]
					if a*b != out || c*d != in {
						t.Fatalf("%s: W1 %v ⊗ W2 %v does not make %d×%d", mod, w1.Shape, w2.Shape, out, in)
					}
					delta = func(o, x int) float64 { return w1.Values[(o/b)*c+x/d] * w2.Values[(o%b)*d+x%d] }
				} else if !slices.Equal(w1.Shape, []int{out, in}) || !slices.Equal(w2.Shape, []int{out, in}) {
					t.Fatalf("%s: W1a·W1b %v, W2a·W2b %v for %d×%d", mod, w1.Shape, w2.Shape, out, in)
				}
				w := m.Param(name + ".weight")
				vals := nn.Float64s(w.Value)
				for x := range in {
					for o := range out {
						vals[x*out+o] += scale * delta(o, x)
					}
				}
				SetValues(w, vals)
			}
		}
	case "OFT":
		// OFTRotationModule: S per block from the vector above the
		// diagonal (triu_indices order), minus its transpose; R by
		// _cayley_batch's Neumann loop; x → x·R before the layer, so W
		// ([in, out] here) becomes R·W.
		terms := int(ad.cfg["num_cayley_neumann_terms"].(float64))
		for i := range m.Config.Layers {
			for _, name := range m.Config.LinearNames(i) {
				mod, _, _, err := model.HFModule(m, name)
				if err != nil {
					t.Fatal(err)
				}
				targeted := peftMatches(ad.cfg["target_modules"], mod, true)
				q, ok := get(mod + ".oft_R.weight")
				if targeted != ok {
					t.Fatalf("%s: targeted %v, but oft_R stored %v", mod, targeted, ok)
				}
				if !targeted {
					continue
				}
				in, out := linearDims(m, name)
				r, n := q.Shape[0], q.Shape[1]
				b := in / r
				if b*(b-1)/2 != n || r*b != in {
					t.Fatalf("%s: oft_R %v for %d inputs", mod, q.Shape, in)
				}
				mul := func(x, y []float64) []float64 {
					z := make([]float64, b*b)
					for i := range b {
						for k := range b {
							for j := range b {
								z[i*b+j] += x[i*b+k] * y[k*b+j]
							}
						}
					}
					return z
				}
				w := m.Param(name + ".weight")
				vals := nn.Float64s(w.Value)
				merged := make([]float64, len(vals))
				for k := range r {
					S := make([]float64, b*b)
					l := 0
					for i := range b {
						for j := i + 1; j < b; j++ {
							S[i*b+j] += q.Values[k*n+l]
							S[j*b+i] -= q.Values[k*n+l]
							l++
						}
					}
					R := make([]float64, b*b)
					for i := range b {
						R[i*b+i] = 1
					}
					add := func(x []float64, c float64) {
						for i := range R {
							R[i] += c * x[i]
						}
					}
					if terms > 1 {
						add(S, 2)
						if terms > 2 {
							sq := mul(S, S)
							add(sq, 2)
							pow := sq
							for range max(terms-1-3, 0) {
								pow = mul(pow, S)
								add(pow, 2)
							}
							add(mul(pow, S), 1)
						}
					}
					for i := range b {
						for o := range out {
							for j := range b {
								merged[(k*b+i)*out+o] += R[i*b+j] * vals[(k*b+j)*out+o]
							}
						}
					}
				}
				SetValues(w, merged)
			}
		}
	case "LN_TUNING":
		for i := range m.Config.Layers + 1 {
			names := []string{fmt.Sprintf("h.%d.ln_1", i), fmt.Sprintf("h.%d.ln_2", i)}
			if i == m.Config.Layers {
				names = []string{"ln_f"}
			}
			for _, name := range names {
				mod, err := hfNorm(m, name)
				if err != nil {
					t.Fatal(err)
				}
				targeted := peftMatches(ad.cfg["target_modules"], mod, true)
				for _, f := range []string{".weight", ".bias"} {
					v, ok := get(mod + ".ln_tuning_layers" + f)
					p := m.Param(name + f)
					if p == nil {
						continue
					}
					if targeted != ok {
						t.Fatalf("%s: targeted %v, but %s stored %v", mod, targeted, f, ok)
					}
					if ok {
						SetValues(p, v.Values)
					}
				}
			}
		}
	case "PROMPT_TUNING", "P_TUNING":
		// P_TUNING in inference mode: the stored encoder output is the
		// prompt, as PEFT's get_prompt uses embedding.weight.
		p, ok := ad.tensors["prompt_embeddings"]
		used["prompt_embeddings"] = ok
		n := int(ad.cfg["num_virtual_tokens"].(float64))
		if !ok || !slices.Equal(p.Shape, []int{n, int(ad.cfg["token_dim"].(float64))}) || p.Shape[1] != m.Config.DModel {
			t.Fatalf("prompt_embeddings %v (stored %v) for %d virtual tokens of %v", p.Shape, ok, n, ad.cfg["token_dim"])
		}
		emb := nn.NewParam("prompt_embeddings", tensor.Float64, p.Shape...)
		SetValues(emb, p.Values)
		hooks = append(hooks, &promptHook{emb: emb})
	case "PREFIX_TUNING":
		// get_prompt: view(P, 2·num_layers, heads, token_dim/heads),
		// permute to [2·num_layers, heads, P, head_dim], split(2): layer
		// i's key is slice 2i, its value 2i+1. The model then runs the
		// real tokens at positions P … P+T−1 after P cached tokens whose
		// keys are used as given; this package's prefix runs them at
		// 0 … T−1, so each cached key is turned back by P positions
		// (Llama's rotation of (j, j + d_h/2) by position·freq[j], as a
		// complex number), which leaves every query·key product as PEFT
		// computes it.
		emb, ok := ad.tensors["prompt_embeddings"]
		used["prompt_embeddings"] = ok
		P, layers := int(ad.cfg["num_virtual_tokens"].(float64)), int(ad.cfg["num_layers"].(float64))
		tokenDim, heads := int(ad.cfg["token_dim"].(float64)), int(ad.cfg["num_attention_heads"].(float64))
		hd := tokenDim / heads
		if !ok || !slices.Equal(emb.Shape, []int{P, layers * 2 * tokenDim}) || layers != m.Config.Layers || tokenDim != m.Config.DKV() ||
			ad.cfg["prefix_projection"] != false || hd != m.Config.Dh() {
			t.Fatalf("prompt_embeddings %v (stored %v) for %d virtual tokens, %d layers of %d (%d heads), prefix_projection %v",
				emb.Shape, ok, P, layers, tokenDim, heads, ad.cfg["prefix_projection"])
		}
		freq, err := m.RotaryFrequencies()
		if err != nil {
			t.Fatal(err)
		}
		at := func(p, j, h, e int) float64 { // view(P, 2·layers, heads, hd)[p, j, h, e]
			return emb.Values[((p*2*layers+j)*heads+h)*hd+e]
		}
		ph := &prefixHook{}
		for i := range layers {
			k := nn.NewParam(fmt.Sprintf("peft.prefix.%d.key", i), tensor.Float64, P, tokenDim)
			v := nn.NewParam(fmt.Sprintf("peft.prefix.%d.value", i), tensor.Float64, P, tokenDim)
			kv, vv := make([]float64, P*tokenDim), make([]float64, P*tokenDim)
			for p := range P {
				for h := range heads {
					for e := range hd / 2 {
						z := complex(at(p, 2*i, h, e), at(p, 2*i, h, e+hd/2)) * cmplx.Exp(complex(0, -float64(P)*freq[e]))
						kv[p*tokenDim+h*hd+e], kv[p*tokenDim+h*hd+e+hd/2] = real(z), imag(z)
					}
					for e := range hd {
						vv[p*tokenDim+h*hd+e] = at(p, 2*i+1, h, e)
					}
				}
			}
			SetValues(k, kv)
			SetValues(v, vv)
			ph.keys, ph.values = append(ph.keys, k), append(ph.values, v)
		}
		hooks = append(hooks, ph)
	default:
		t.Fatalf("peft_type %v", typ)
	}
	for k := range ad.tensors {
		if !used[k] {
			t.Errorf("tensor %s belongs to no adapted module", k)
		}
	}
	return hooks
}

// With PEFTBENCH_PEFT_OUT=DIR, writes every case into DIR/<case>: the
// adapter, base (the fixture's name) and expected.json (the fixture's
// input_ids and the logits computed here with the adapter), which
// model/hfref/check_adapters.py recomputes in PyTorch from the files alone.
func TestPEFTReferenceAdapters(t *testing.T) {
	out := os.Getenv("PEFTBENCH_PEFT_OUT")
	if out == "" {
		t.Skip("PEFTBENCH_PEFT_OUT names no directory to write the adapters into (.ci/peft-reference.sh sets it)")
	}
	for k, c := range peftCases() {
		t.Run(c.name, func(t *testing.T) {
			m, a := peftAttach(t, c, uint64(k)+1)
			ids := fixtureIDs(t, c.fixture)
			dir := filepath.Join(out, c.name)
			if err := a.SavePEFT(m, c.fixture, dir); err != nil {
				t.Fatal(err)
			}
			exp, err := json.Marshal(map[string]any{"input_ids": ids, "logits": sequenceLogits(t, m, ids, a.Hooks...)})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "expected.json"), exp, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "base"), []byte(c.fixture+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}
