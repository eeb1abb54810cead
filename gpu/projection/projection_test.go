package projection

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/gpu"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/trial"
	"gorgonia.org/tensor"
)

// The parameter counts the model cards and HF report for each
// architecture.
func TestArchParamCounts(t *testing.T) {
	for _, c := range []struct {
		a    Arch
		want int64
	}{
		{GPT2XL, 1_557_611_200},     // HF gpt2-xl, position table included
		{Llama2_7B, 6_738_415_616},  // meta-llama/Llama-2-7b-hf
		{Llama3_8B, 8_030_261_248},  // meta-llama/Meta-Llama-3-8B
		{Llama32_3B, 3_212_749_824}, // meta-llama/Llama-3.2-3B; HF PEFT's full fine-tuning run logs this count
		{Qwen3_06B, 596_049_920},    // Qwen/Qwen3-0.6B: q 1,024→2,048, q_norm and k_norm of 128
	} {
		if err := c.a.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := c.a.NumParams(); got != c.want {
			t.Errorf("%s: %d parameters, want %d", c.a.Name, got, c.want)
		}
	}
}

// The per-block estimate reduces to Korthikanti et al.'s
// s·b·h·(34 + 5·a·s/h) bytes for their setting: 16-bit activations,
// dropout, eager attention, d_ff = 4h, no GQA.
func TestBlockActivationsMatchKorthikanti(t *testing.T) {
	for _, c := range []struct{ h, a, s, b int }{{1600, 25, 1024, 1}, {1600, 25, 512, 3}, {12288, 96, 2048, 1}, {8, 2, 12, 5}} {
		arch := Arch{Name: "gpt3-like", Layers: 1, DModel: c.h, Heads: c.a, KVHeads: c.a, DFF: 4 * c.h, Vocab: 10, Context: c.s,
			MLP: GELU, Norm: LayerNorm, Bias: true, Dropout: true}
		s, b, h, a := int64(c.s), int64(c.b), int64(c.h), int64(c.a)
		want := 34*s*b*h + 5*a*s*s*b // s·b·h·(34 + 5·a·s/h)
		if got := arch.blockActivationBytes(c.b, c.s, c.s, 2, Eager); got != want {
			t.Errorf("%+v: %d bytes per block, Korthikanti %d", c, got, want)
		}
	}
}

// Llama-2-7B, full fine-tuning, one sequence of 512 tokens, by hand.
func TestLlama2FullFineTuningByHand(t *testing.T) {
	const P = 6_738_415_616 // parameters: 2·32000·4096 (embedding, untied head) + 32·202,383,360 + 4096
	// One block, bf16 (2 B), b·s = 512 tokens, d = 4096, f = 11008, 32
	// heads, d_kv = d (no GQA), fused attention, no dropout:
	//   two RMSNorm inputs      2·2·512·4096  =  8,388,608
	//   attention input           2·512·4096  =  4,194,304
	//   Q                         2·512·4096  =  4,194,304
	//   K and V                 2·2·512·4096  =  8,388,608
	//   o_proj input              2·512·4096  =  4,194,304
	//   MLP input                 2·512·4096  =  4,194,304
	//   gate, up, SiLU, product 4·2·512·11008 = 45,088,768
	//   log-sum-exp (fp32)          4·32·512  =     65,536
	//                                    sum  = 78,708,736
	const block = 78_708_736
	const activations = 32*block + 2*2*512*4096  // + final norm input and output = 2,527,068,160
	const logits = 512 * 32000 * (2 + 4 + 4 + 4) // bf16 logits, fp32 log-softmax, two fp32 gradients = 229,376,000

	for _, c := range []struct {
		pr                            Precision
		weights, master, grads, optim int64
	}{
		// bf16 throughout, AdamW state in bf16: 8 B per parameter.
		{BF16, 2 * P, 0, 2 * P, 4 * P},
		// bf16 weights, fp32 master, fp32 gradients, fp32 m and v: 18 B.
		{MixedMaster, 2 * P, 4 * P, 4 * P, 8 * P},
	} {
		p, err := ProjectWith(Llama2_7B, "full", nil, Options{Batch: 1, Seq: 512, Precision: c.pr})
		if err != nil {
			t.Fatal(err)
		}
		want := c.weights + c.master + c.grads + c.optim + activations + logits + CUDAOverheadBytes
		for _, f := range []struct {
			name      string
			got, want int64
		}{
			{"trainable", p.TrainableParams, P},
			{"weights", p.WeightsBytes, c.weights},
			{"master", p.MasterWeightsBytes, c.master},
			{"gradients", p.GradientsBytes, c.grads},
			{"optimizer", p.OptimizerBytes, c.optim},
			{"activations", p.ActivationsBytes, activations},
			{"logits", p.LogitsBytes, logits},
			{"total", p.TotalBytes, want},
		} {
			if f.got != f.want {
				t.Errorf("%s %s: %d, by hand %d", c.pr.Name, f.name, f.got, f.want)
			}
		}
		t.Logf("%v", p)
	}
	// bf16: 13,476,831,232 + 13,476,831,232 + 26,953,662,464 + 2,527,068,160
	// + 229,376,000 + 1,073,741,824 = 57,737,510,912 bytes.
	p, _ := Project(Llama2_7B, "full", nil, 1, 512)
	if p.TotalBytes != 57_737_510_912 {
		t.Errorf("bf16 total %d, by hand 57,737,510,912", p.TotalBytes)
	}
}

// smallShape is the test shape the methods use.
var smallShape = model.Config{Vocab: 11, Context: 12, DModel: 8, Layers: 2, Heads: 2, DFF: 12}

// On a peftbench model's own shape, the projection counts what the methods
// train, parameter for parameter, and both equal the closed forms.
func TestTrainableMatchesMethods(t *testing.T) {
	c := smallShape
	d, L, f, V, ctx := c.DModel, c.Layers, c.DFF, c.Vocab, c.Context
	lora := func(r int, targets string) int { // r·(d_in + d_out) per targeted linear
		per := map[string]int{"q": r * (d + d), "k": r * (d + d), "v": r * (d + d), "o": r * (d + d), "fc": r * (d + f), "proj": r * (f + d)}
		n := 0
		for _, t := range strings.Split(targets, ",") {
			n += L * per[t]
		}
		return n
	}
	dout := map[string]int{"q": d, "k": d, "v": d, "o": d, "fc": f, "proj": d}
	dora := func(r int, targets string) int { // lora + d_out per target
		n := lora(r, targets)
		for _, t := range strings.Split(targets, ",") {
			n += L * dout[t]
		}
		return n
	}
	full := V*d + ctx*d + L*(4*(d*d+d)+d*f+f+f*d+d+4*d) + 2*d
	cases := []struct {
		method string
		params map[string]any
		want   int
	}{
		{"full", nil, full},
		{"scratch", nil, full},
		{"lora", nil, lora(8, "q,v")},
		{"lora", map[string]any{"rank": 2, "targets": "q,k,v,o,fc,proj"}, lora(2, "q,k,v,o,fc,proj")},
		{"lora", map[string]any{"rank": 4, "targets": []any{"fc", "proj"}, "dropout": 0.1}, lora(4, "fc,proj")},
		{"lora", map[string]any{"rank": 3, "targets": "h.1.attn.*"}, lora(3, "q,k,v,o") / L},
		{"dora", nil, dora(8, "q,v")},
		{"dora", map[string]any{"rank": 2, "targets": "q,k,v,o,fc,proj"}, dora(2, "q,k,v,o,fc,proj")},
		{"prompt", nil, 4 * d},
		{"prompt", map[string]any{"length": 7, "init": "random"}, 7 * d},
		// P-tuning: E [L, d] and the encoder d → h → h → d with biases; h
		// is d by default.
		{"ptuning", nil, 4*d + (d*d + d) + (d*d + d) + (d*d + d)},
		{"ptuning", map[string]any{"length": 3, "encoder_hidden_size": 5}, 3*d + (d*5 + 5) + (5*5 + 5) + (5*d + d)},
		{"prefix", nil, 2 * L * 8 * d},
		{"prefix", map[string]any{"length": 3}, 2 * L * 3 * d},
		{"prefix", map[string]any{"length": 3, "projection": true, "hidden": 5}, 3*d + (d*5 + 5) + 2*L*(5*d+d)},
		{"ia3", nil, L * (2*d + f)},
		{"ia3", map[string]any{"targets": "k,v"}, L * 2 * d},
		{"ia3", map[string]any{"targets": "ff"}, L * f},
		{"bitfit", nil, L*(7*d+f) + d},
		{"bitfit", map[string]any{"biases": "linear"}, L * (5*d + f)},
		{"bitfit", map[string]any{"biases": "attention"}, L * 4 * d},
		{"bitfit", map[string]any{"biases": "mlp"}, L * (f + d)},
		{"bitfit", map[string]any{"biases": "layernorm"}, L*2*d + d},
		{"adapter", nil, L * 2 * (2*d*16 + 16 + d)},
		{"adapter", map[string]any{"bottleneck": 3, "placement": "mlp"}, L * (2*d*3 + 3 + d)},
		{"adapter", map[string]any{"bottleneck": 5, "placement": "attn"}, L * (2*d*5 + 5 + d)},
		{"vera", nil, L * (256 + 2*d)}, // q and v share c_attn's d
		{"vera", map[string]any{"rank": 3, "targets": "fc,proj"}, L * (2*3 + f + d)},
		// AdaLoRA: init_r·(in + out + 1) per target (P, λ, Q), whatever
		// the budget masks.
		{"adalora", nil, L * 2 * 12 * (d + d + 1)},
		{"adalora", map[string]any{"init_r": 4, "rank": 2, "targets": "fc,proj"}, L * 4 * ((d + f + 1) + (f + d + 1))},
		{"loha", nil, L * 2 * 2 * 8 * (d + d)}, // 2r·(in + out) on q and v
		{"loha", map[string]any{"rank": 3, "targets": "fc,proj"}, L * 2 * 2 * 3 * (d + f)},
		{"lokr", nil, L * 2 * (2*2 + 4*4)}, // 8 = 2·4: W1 [2, 2], W2 [4, 4] whole at r = 8
		// fc 8→12 and proj 12→8 split as 2·4 and 3·4, W1 and W2 each a
		// rank-1 pair: (3 + 2) + (4 + 4) apiece.
		{"lokr", map[string]any{"rank": 1, "decompose_both": true, "targets": "fc,proj"}, L * 2 * (5 + 8)},
		// OFT: in·(b−1)/2 per layer, r = in/b blocks of b(b−1)/2; b = 32
		// is above d = 8, so one block of the whole width.
		{"oft", nil, L * 2 * d * (d - 1) / 2},
		{"oft", map[string]any{"oft_block_size": 4, "targets": "fc,proj"}, L * (d*3/2 + f*3/2)},
		{"oft", map[string]any{"r": 3, "oft_block_size": 0, "targets": "proj"}, L * 3 * 6},
		{"lntuning", nil, L*4*d + 2*d},
		{"lntuning", map[string]any{"norms": "final"}, 2 * d},
		{"pac", nil, L * (2*d*16 + 16 + d)},
		{"pac", map[string]any{"bottleneck": 3, "cache_mb": 0}, L * (2*d*3 + 3 + d)},
	}
	arch := FromModelConfig(c)
	seen := map[string]bool{}
	for _, tc := range cases {
		name := fmt.Sprintf("%s%v", tc.method, tc.params)
		seen[tc.method] = true
		m, err := model.New(c, tensor.Float32, 1)
		if err != nil {
			t.Fatal(err)
		}
		a, err := methods.Attach(&model.Base{Model: m}, tc.method, tc.params, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := Project(arch, tc.method, tc.params, 2, 4)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := a.NumTrainable(m); got != tc.want {
			t.Errorf("%s: the method trains %d, the closed form says %d", name, got, tc.want)
		}
		if p.TrainableParams != int64(tc.want) {
			t.Errorf("%s: projected %d trainable, the closed form says %d", name, p.TrainableParams, tc.want)
		}
		if tc.method == "full" && p.TotalParams != int64(m.NumParams()) {
			t.Errorf("model has %d parameters, projection %d", m.NumParams(), p.TotalParams)
		}
	}
	for _, name := range methods.Names() {
		// Zero-shot trains nothing, so there is no training to project.
		if !seen[name] && name != trial.ZeroShot {
			t.Errorf("method %s has no consistency case", name)
		}
	}
}

// How peftbench's names land on a Llama: fc is gate_proj and up_proj,
// proj is down_proj, k and v are d_kv wide under GQA, IA3's ff scales the
// input of down_proj, and BitFit finds nothing to train.
func TestLlamaMapping(t *testing.T) {
	a := Llama3_8B
	d, f, kv, L := int64(4096), int64(14336), int64(1024), int64(32)
	check := func(method string, params map[string]any, want int64, modules ...string) *Projection {
		t.Helper()
		p, err := Project(a, method, params, 1, 128)
		if err != nil {
			t.Fatal(err)
		}
		if p.TrainableParams != want {
			t.Errorf("%s %v: %d trainable, want %d", method, params, p.TrainableParams, want)
		}
		if modules != nil && strings.Join(p.TrainedModules, ",") != strings.Join(modules, ",") {
			t.Errorf("%s %v: modules %v, want %v", method, params, p.TrainedModules, modules)
		}
		return p
	}
	check("lora", map[string]any{"rank": 16}, L*16*((d+d)+(d+kv)), "q_proj", "v_proj")
	check("lora", map[string]any{"rank": 8, "targets": "fc"}, L*2*8*(d+f), "gate_proj", "up_proj")
	check("lora", map[string]any{"rank": 8, "targets": "proj"}, L*8*(f+d), "down_proj")
	check("dora", map[string]any{"rank": 8, "targets": "k,fc"}, L*(8*(d+kv)+kv+2*(8*(d+f)+f)), "k_proj", "gate_proj", "up_proj")
	// LoHa: 2r·(in + out). LoKr at r = 8: 4096 = 64·64 and 1024 = 32·32,
	// W1 whole ([64, 64] on q, [32, 64] on v), W2 a rank-8 pair since
	// 8 < 64/2.
	// AdaLoRA: init_r·(in + out + 1), init_r = 12.
	check("adalora", nil, L*12*((d+d+1)+(d+kv+1)), "q_proj", "v_proj")
	check("adalora", map[string]any{"init_r": 6, "rank": 4, "targets": "proj"}, L*6*(f+d+1), "down_proj")
	check("loha", nil, L*2*8*((d+d)+(d+kv)), "q_proj", "v_proj")
	check("lokr", nil, L*((64*64+8*(64+64))+(32*64+8*(32+64))), "q_proj", "v_proj")
	// OFT at PEFT's default b = 32: q_proj and v_proj both read d, in·(b−1)/2.
	check("oft", nil, L*2*d*31/2, "q_proj", "v_proj")
	check("oft", map[string]any{"oft_block_size": 64, "targets": "proj"}, L*f*63/2, "down_proj")
	check("ia3", nil, L*(2*kv+f), "k_proj output", "v_proj output", "down_proj input")
	check("prefix", map[string]any{"length": 10}, 2*L*10*kv)
	check("adapter", map[string]any{"bottleneck": 64}, L*2*(2*d*64+64+d))
	p := check("bitfit", nil, 0)
	if p.BackwardLayers != 0 || p.GradientsBytes != 0 || !strings.Contains(strings.Join(p.Notes, "\n"), "trains nothing") {
		t.Errorf("bitfit on a bias-free model: %d backward layers, %d gradient bytes, notes %q", p.BackwardLayers, p.GradientsBytes, p.Notes)
	}
	// GPT-2 XL has biases and LayerNorm biases: BitFit's closed form.
	g := GPT2XL
	gd, gf, gL := int64(g.DModel), int64(g.DFF), int64(g.Layers)
	p, err := Project(g, "bitfit", nil, 1, 128)
	if err != nil {
		t.Fatal(err)
	}
	if p.TrainableParams != gL*(7*gd+gf)+gd {
		t.Errorf("gpt2-xl bitfit: %d, want %d", p.TrainableParams, gL*(7*gd+gf)+gd)
	}
}

// LoRA on the top block only keeps one block's activations; LoRA on all
// blocks and prompt tuning keep all of them.
func TestBackwardDepth(t *testing.T) {
	a := Llama2_7B
	top, _ := Project(a, "lora", map[string]any{"targets": "h.31.attn.q"}, 2, 256)
	all, _ := Project(a, "lora", map[string]any{"targets": "q"}, 2, 256)
	prompt, _ := Project(a, "prompt", map[string]any{"length": 20}, 2, 256)
	full, _ := Project(a, "full", nil, 2, 256)
	if top.BackwardLayers != 1 || all.BackwardLayers != 32 || prompt.BackwardLayers != 32 || full.BackwardLayers != 32 {
		t.Errorf("backward layers: top %d, all %d, prompt %d, full %d", top.BackwardLayers, all.BackwardLayers, prompt.BackwardLayers, full.BackwardLayers)
	}
	if !(top.ActivationsBytes < all.ActivationsBytes && full.ActivationsBytes < prompt.ActivationsBytes) {
		t.Errorf("activations: top %d, all %d, full %d, prompt %d", top.ActivationsBytes, all.ActivationsBytes, full.ActivationsBytes, prompt.ActivationsBytes)
	}
	// P-tuning's encoder sits before the first block, as prompt tuning's
	// embeddings do: every block keeps its activations. Its MLP is
	// d_model wide by default: L·d + 3·(d² + d).
	pt, err := Project(a, "ptuning", map[string]any{"length": 20}, 2, 256)
	if err != nil {
		t.Fatal(err)
	}
	if d := int64(a.DModel); pt.BackwardLayers != 32 || pt.TrainableParams != 20*d+3*(d*d+d) {
		t.Errorf("ptuning: %d backward layers, %d trainable, want 32 and %d", pt.BackwardLayers, pt.TrainableParams, 20*d+3*(d*d+d))
	}
	ck, _ := ProjectWith(a, "full", nil, Options{Batch: 2, Seq: 256, Checkpointing: true})
	eager, _ := ProjectWith(a, "full", nil, Options{Batch: 2, Seq: 256, Attention: Eager})
	if !(ck.ActivationsBytes < full.ActivationsBytes && full.ActivationsBytes < eager.ActivationsBytes) {
		t.Errorf("activations: checkpointed %d, fused %d, eager %d", ck.ActivationsBytes, full.ActivationsBytes, eager.ActivationsBytes)
	}
}

func TestProjectionErrors(t *testing.T) {
	for _, c := range []struct {
		a      Arch
		method string
		params map[string]any
		batch  int
		seq    int
		want   string
	}{
		{Llama2_7B, "nope", nil, 1, 8, "unknown method"},
		{Llama2_7B, "lora", map[string]any{"rank": 0}, 1, 8, "rank"},
		{Llama2_7B, "lora", map[string]any{"targets": "attn.z"}, 1, 8, "matches no linear layer"},
		{Llama3_8B, "lora", map[string]any{"rank": 2048, "targets": "k"}, 1, 8, "exceeds the smaller side"},
		{GPT2XL, "prompt", map[string]any{"length": 10}, 1, 1020, "exceed the context"},
		{GPT2XL, "full", nil, 0, 8, "at least 1"},
		{Arch{Name: "broken"}, "full", nil, 1, 8, "must be at least 1"},
	} {
		_, err := Project(c.a, c.method, c.params, c.batch, c.seq)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s %v: error %v, want one saying %q", c.a.Name, c.method, c.params, err, c.want)
		}
	}
}

// Every projected quantity is named projected_* in JSON.
func TestProjectionJSONNames(t *testing.T) {
	p, err := Project(Llama32_3B, "lora", map[string]any{"rank": 32}, 4, 768)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for k := range fields {
		if k != "inputs" && !strings.HasPrefix(k, "projected_") {
			t.Errorf("JSON field %q is not named projected_*", k)
		}
	}
	for _, k := range []string{"projected_trainable_params", "projected_weights_bytes", "projected_gradients_bytes",
		"projected_optimizer_bytes", "projected_activations_bytes", "projected_total_bytes", "projected_cuda_overhead_bytes"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
}

func TestFits(t *testing.T) {
	p, err := Project(Llama2_7B, "full", nil, 1, 512) // 53.8 GiB
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range p.Fits(nil) {
		names = append(names, g.Name)
	}
	if got, want := strings.Join(names, ", "), "H100 SXM 80GB, H100 PCIe 80GB, H200 141GB, A100 80GB"; got != want {
		t.Errorf("fits on %s, want %s", got, want)
	}
	lora, _ := Project(Llama2_7B, "lora", map[string]any{"rank": 16}, 1, 512)
	small, _ := gpu.Lookup("RTX 4090 24GB")
	if len(lora.Fits([]gpu.GPU{small})) != 1 {
		t.Errorf("LoRA on Llama-2-7B (%v) should fit a 24 GB card", lora)
	}
}

// LoRA's targets are resolved in the family of the model they were
// written for and mapped onto each projected architecture: a Llama
// folder's gate_proj, up_proj and down_proj are GPT-2 XL's c_fc (counted
// once) and c_proj, and stay themselves on Llama-2-7B; GPT-2's fc is
// Llama's gate and up. A target the projected depth lacks is skipped and
// named.
func TestLoRATargetsAcrossFamilies(t *testing.T) {
	const r = 8
	d, f := int64(1600), int64(6400)       // GPT-2 XL
	ld, lf := int64(4096), int64(11008)    // Llama-2-7B
	gptMLP := 48 * r * ((d + f) + (f + d)) // c_fc and mlp.c_proj
	for _, c := range []struct {
		arch    Arch
		source  model.Family
		targets string
		want    int64
		modules []string
		skipped int
	}{
		{GPT2XL, model.Llama, "gate_proj,up_proj,down_proj", gptMLP, []string{"mlp.fc", "mlp.proj"}, 0},
		{GPT2XL, model.Llama, "gate_proj", 48 * r * (d + f), []string{"mlp.fc"}, 0},
		{Llama2_7B, model.Llama, "gate_proj,up_proj,down_proj", 32 * r * 3 * (ld + lf), []string{"gate_proj", "up_proj", "down_proj"}, 0},
		{Llama2_7B, model.Llama, "up_proj", 32 * r * (ld + lf), []string{"up_proj"}, 0},
		{Llama2_7B, model.GPT2, "fc", 32 * r * 2 * (ld + lf), []string{"gate_proj", "up_proj"}, 0},
		{Llama2_7B, model.GPT2, "c_fc,mlp.c_proj", 32 * r * 3 * (ld + lf), []string{"gate_proj", "up_proj", "down_proj"}, 0},
		{Llama2_7B, model.Llama, "q_proj,h.40.attn.v", 32 * r * (ld + ld), []string{"q_proj"}, 1},
	} {
		p, err := ProjectWith(c.arch, "lora", map[string]any{"rank": r, "targets": c.targets}, Options{Batch: 1, Seq: 16, Source: c.source})
		if err != nil {
			t.Errorf("%s from %s, %s: %v", c.arch.Name, c.source, c.targets, err)
			continue
		}
		if p.AddedParams != c.want || strings.Join(p.TrainedModules, ",") != strings.Join(c.modules, ",") || len(p.SkippedTargets) != c.skipped {
			t.Errorf("%s from %s, %s: %d added params on %v, skipped %q; want %d on %v, %d skipped",
				c.arch.Name, c.source, c.targets, p.AddedParams, p.TrainedModules, p.SkippedTargets, c.want, c.modules, c.skipped)
		}
	}
	if _, err := ProjectWith(Llama2_7B, "lora", map[string]any{"targets": "h.40.attn.v"}, Options{Batch: 1, Seq: 16, Source: model.Llama}); err == nil ||
		!strings.Contains(err.Error(), "h.40.attn.v") {
		t.Errorf("every target beyond the projected depth: error %v, want one naming h.40.attn.v", err)
	}
}

// On a model whose heads are not d_model/heads wide (Qwen3's head_dim),
// with q and k normed per head, the projection counts what the model
// builds: q and o are heads·head_dim on one side, and a method on them
// trains what it trains on the model.
func TestHeadDimMatchesTheModel(t *testing.T) {
	c := model.Config{Family: model.Llama, Vocab: 19, Context: 16, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 6, QKNorm: true,
		DFF: 24, RopeTheta: 1e6, NormEps: 1e-6}
	arch := FromModelConfig(c)
	if err := arch.Validate(); err != nil {
		t.Fatal(err)
	}
	if arch.DQ() != 24 || arch.DKV() != 12 {
		t.Fatalf("q %d and k/v %d wide, want 24 and 12", arch.DQ(), arch.DKV())
	}
	for _, tc := range []struct {
		method string
		params map[string]any
	}{{"full", nil}, {"lora", map[string]any{"rank": 2, "targets": "q,k,v,o"}}, {"ia3", nil}, {"lntuning", map[string]any{"norms": "final"}}} {
		m, err := model.New(c, tensor.Float32, 1)
		if err != nil {
			t.Fatal(err)
		}
		a, err := methods.Attach(&model.Base{Model: m}, tc.method, tc.params, 1)
		if err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		p, err := Project(arch, tc.method, tc.params, 2, 4)
		if err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		if p.TotalParams != int64(m.NumParams()) {
			t.Errorf("%s: model has %d parameters, projection %d", tc.method, m.NumParams(), p.TotalParams)
		}
		if got := a.NumTrainable(m); p.TrainableParams != int64(got) {
			t.Errorf("%s: the method trains %d, projected %d", tc.method, got, p.TrainableParams)
		}
	}
}
