package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// hfFixtures are tiny random Hugging Face checkpoints with the exact
// tensor names of each architecture, and the logits an independent
// PyTorch reference computes from them (model/hfref).
var hfFixtures = []string{"gpt2", "llama", "llama3", "qwen2", "qwen3", "mistral", "llama-sharded"}

type hfExpected struct {
	InputIDs [][]int       `json:"input_ids"`
	Logits   [][][]float64 `json:"logits"`
	Loss     float64       `json:"loss"`
}

func readExpected(t *testing.T, dir string) hfExpected {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e hfExpected
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// logitsOf runs m's forward pass on the sequences and returns its logits,
// [B·T][vocab], and the next-token loss over all but the last position.
func logitsOf(t *testing.T, m *Model, ids [][]int) ([]float64, float64) {
	t.Helper()
	B, T := len(ids), len(ids[0])
	g := nn.NewGraph(m.Params[0].Value.Dtype())
	lm, err := m.BuildLM(g, B, T)
	if err != nil {
		t.Fatal(err)
	}
	p, err := nn.Compile(g, nil, lm.Logits, lm.Loss)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	flat, tg, mask := make([]int, B*T), make([]int, B*T), make([]float64, B*T)
	for b := range ids {
		for i, id := range ids[b] {
			flat[b*T+i] = id
			if i+1 < T {
				tg[b*T+i], mask[b*T+i] = ids[b][i+1], 1
			}
		}
	}
	lm.IDs.SetInts(flat)
	lm.Targets.SetInts(tg)
	lm.Mask.SetFloats(mask)
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	return nn.Float64s(p.Value(lm.Logits)), nn.Float64s(p.Value(lm.Loss))[0]
}

func TestHFCheckpointsMatchReference(t *testing.T) {
	for _, name := range hfFixtures {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("hfref", "testdata", name)
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := readExpected(t, dir)
			got, loss := logitsOf(t, m, want.InputIDs)
			worst := 0.0
			for b, seq := range want.Logits {
				for i, row := range seq {
					for v, x := range row {
						worst = max(worst, math.Abs(got[(b*len(seq)+i)*len(row)+v]-x))
					}
				}
			}
			t.Logf("%s: largest logit difference %.2e, loss %.6f vs %.6f", name, worst, loss, want.Loss)
			if worst > 1e-4 {
				t.Errorf("logits differ from the reference by up to %.2e (limit 1e-4)", worst)
			}
			if math.Abs(loss-want.Loss) > 1e-4 {
				t.Errorf("loss %.7f, reference %.7f", loss, want.Loss)
			}
		})
	}
}

// saved is a random model of config c saved into a fresh folder, and its
// weights file as read back.
func saved(t *testing.T, c Config) (*Model, string, safetensors.SafeTensors) {
	t.Helper()
	m, err := New(c, tensor.Float32, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m, dir, st
}

// A GPT-2 model saved here loads back the same, and its file holds exactly
// the tensors of Hugging Face's GPT-2 checkpoint, named and shaped as
// GPT2LMHeadModel loads them.
func TestSaveWritesHFGPT2(t *testing.T) {
	m, dir, st := saved(t, small)
	d, f, V, P := small.DModel, small.DFF, small.Vocab, small.Context
	want := map[string][]uint64{"wte.weight": {uint64(V), uint64(d)}, "wpe.weight": {uint64(P), uint64(d)},
		"ln_f.weight": {uint64(d)}, "ln_f.bias": {uint64(d)}}
	for i := 0; i < small.Layers; i++ {
		h := "h." + string(rune('0'+i)) + "."
		for k, s := range map[string][]uint64{
			"ln_1.weight": {uint64(d)}, "ln_1.bias": {uint64(d)}, "ln_2.weight": {uint64(d)}, "ln_2.bias": {uint64(d)},
			"attn.c_attn.weight": {uint64(d), uint64(3 * d)}, "attn.c_attn.bias": {uint64(3 * d)},
			"attn.c_proj.weight": {uint64(d), uint64(d)}, "attn.c_proj.bias": {uint64(d)},
			"mlp.c_fc.weight": {uint64(d), uint64(f)}, "mlp.c_fc.bias": {uint64(f)},
			"mlp.c_proj.weight": {uint64(f), uint64(d)}, "mlp.c_proj.bias": {uint64(d)},
		} {
			want[h+k] = s
		}
	}
	if st.Len() != len(want) {
		t.Errorf("file holds %d tensors, want %d: %v", st.Len(), len(want), st.Names())
	}
	for name, shape := range want {
		tv, ok := st.Tensor(name)
		if !ok {
			t.Errorf("no tensor %q", name)
			continue
		}
		if got := tv.Shape(); len(got) != len(shape) || got[0] != shape[0] || got[len(got)-1] != shape[len(shape)-1] {
			t.Errorf("%s: shape %v, want %v", name, got, shape)
		}
	}
	// c_attn holds q, k and v side by side: row 1 of k starts d columns in.
	ca, _ := st.Tensor("h.0.attn.c_attn.weight")
	k := m.Param("h.0.attn.k.weight").F32()
	if got := math.Float32frombits(uint32(ca.Data()[4*(3*d+d)]) | uint32(ca.Data()[4*(3*d+d)+1])<<8 | uint32(ca.Data()[4*(3*d+d)+2])<<16 | uint32(ca.Data()[4*(3*d+d)+3])<<24); got != k[d] {
		t.Errorf("c_attn[1, d] = %v, want k[1, 0] = %v", got, k[d])
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params {
		q := back.Param(p.Name)
		for i, v := range p.F32() {
			if q.F32()[i] != v {
				t.Fatalf("%s[%d]: %v after a round trip, want %v", p.Name, i, q.F32()[i], v)
			}
		}
	}
}

func TestHFConfigErrors(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{`{"architectures": ["GemmaForCausalLM"]}`, `"architectures": "GemmaForCausalLM" is not supported (supported: GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)`},
		{`{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 2, "sliding_window": 4, "use_sliding_window": true, "layer_types": ["sliding_attention", "full_attention"]}`, `"layer_types": layer 1 has full attention after sliding-window layer 0`},
		{`{"architectures": ["Qwen3ForCausalLM"], "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 2, "sliding_window": 4, "use_sliding_window": true, "max_window_layers": -1}`, `"max_window_layers": -1 is negative`},
		{`{"architectures": ["GPT2LMHeadModel"], "activation_function": "relu", "n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 5, "n_positions": 4}`, `"activation_function": "relu" is not supported`},
		{`{"architectures": ["LlamaForCausalLM"], "hidden_act": "gelu", "hidden_size": 8}`, `"hidden_act": "gelu" is not supported`},
		{`{"architectures": ["LlamaForCausalLM"], "rope_scaling": {"rope_type": "yarn", "factor": 4}, "hidden_size": 8, "num_attention_heads": 2}`, `"rope_scaling": type "yarn" is not supported`},
		{`{"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 3, "vocab_size": 5, "max_position_embeddings": 8}`, `"num_key_value_heads" (3) does not divide`},
	} {
		_, err := parseConfig("dir/config.json", []byte(c.config))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("%s: error %v, want one naming config.json and %q", c.config, err, c.want)
		}
	}
}

// A checkpoint whose tensors the config does not describe, or that lacks
// one, is refused with the tensor's name.
func TestHFTensorsMustMatchConfig(t *testing.T) {
	src := filepath.Join("hfref", "testdata", "llama")
	dir := t.TempDir()
	for _, f := range []string{"model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	c["num_hidden_layers"] = 1 // the file has two
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "layers.1.") {
		t.Errorf("a 1-layer config over a 2-layer file: error %v, want the left-over layer-1 tensors named", err)
	}
	c["num_hidden_layers"] = 3
	b, _ = json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `no tensor "layers.2.`) {
		t.Errorf("a 3-layer config over a 2-layer file: error %v, want the missing layer-2 tensor named", err)
	}
}

// Llama and Qwen2 models saved here load back the same, under
// LlamaForCausalLM's and Qwen2ForCausalLM's tensor names and configs.
func TestSaveWritesHFLlama(t *testing.T) {
	for _, c := range []Config{
		{Family: Llama, Vocab: 19, Context: 16, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, DFF: 24, RopeTheta: 1e4, NormEps: 1e-5, UntiedHead: true},
		{Family: Llama, Vocab: 19, Context: 16, DModel: 16, Layers: 2, Heads: 2, KVHeads: 1, DFF: 24, RopeTheta: 1e6, NormEps: 1e-6, QKVBias: true,
			RopeScaling: &RopeScaling{RopeType: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8}},
		{Family: Llama, Vocab: 19, Context: 16, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 6, QKNorm: true, DFF: 24, RopeTheta: 1e6, NormEps: 1e-6},
		{Family: Llama, Vocab: 19, Context: 16, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, SlidingWindow: 3, DFF: 24, RopeTheta: 1e4, NormEps: 1e-5, UntiedHead: true},
		// Qwen2's window from layer 1 on, Qwen3's on every layer.
		{Family: Llama, Vocab: 19, Context: 16, DModel: 16, Layers: 2, Heads: 2, KVHeads: 1, DFF: 24, RopeTheta: 1e6, NormEps: 1e-6, QKVBias: true, SlidingWindow: 3, WindowFrom: 1},
		{Family: Llama, Vocab: 19, Context: 16, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 6, QKNorm: true, DFF: 24, RopeTheta: 1e6, NormEps: 1e-6, SlidingWindow: 2},
	} {
		m, dir, st := saved(t, c)
		if _, ok := st.Tensor("model.layers.1.self_attn.k_norm.weight"); ok != c.QKNorm {
			t.Errorf("k_norm present: %v, want %v", ok, c.QKNorm)
		}
		if q, _ := st.Tensor("model.layers.0.self_attn.q_proj.weight"); fmt.Sprint(q.Shape()) != fmt.Sprint([]uint64{uint64(c.DQ()), 16}) {
			t.Errorf("q_proj shape %v, want [%d 16]", q.Shape(), c.DQ())
		}
		for name, shape := range map[string][]uint64{
			"model.embed_tokens.weight": {19, 16}, "model.layers.1.self_attn.k_proj.weight": {uint64(c.DKV()), 16},
			"model.layers.0.mlp.down_proj.weight": {16, 24}, "model.norm.weight": {16},
		} {
			tv, ok := st.Tensor(name)
			if !ok || fmt.Sprint(tv.Shape()) != fmt.Sprint(shape) {
				t.Errorf("%v: tensor %q: present %v, shape %v, want %v", c.QKVBias, name, ok, tv.Shape(), shape)
			}
		}
		if _, ok := st.Tensor("lm_head.weight"); ok != c.UntiedHead {
			t.Errorf("lm_head.weight present: %v, want %v", ok, c.UntiedHead)
		}
		if _, ok := st.Tensor("model.layers.0.self_attn.q_proj.bias"); ok != c.QKVBias {
			t.Errorf("q_proj.bias present: %v, want %v", ok, c.QKVBias)
		}
		back, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Config, m.Config) {
			t.Errorf("config %+v after a round trip, want %+v", back.Config, m.Config)
		}
		ids := [][]int{{1, 5, 9, 18, 0, 3}}
		a, _ := logitsOf(t, m, ids)
		b, _ := logitsOf(t, back, ids)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("logits differ after a round trip")
		}
	}
}

// Qwen2's and Qwen3's sliding window, read as transformers reads it: only
// with use_sliding_window, and on the layers from max_window_layers on
// (default 28), or those layer_types names sliding_attention.
func TestQwenSlidingWindowConfig(t *testing.T) {
	for _, c := range []struct {
		fields       string
		window, from int
	}{
		{`"sliding_window": 4, "use_sliding_window": false, "max_window_layers": 0`, 0, 0},
		{`"sliding_window": 4, "max_window_layers": 0`, 0, 0},
		{`"sliding_window": 4, "use_sliding_window": true, "max_window_layers": 1`, 4, 1},
		{`"sliding_window": 4, "use_sliding_window": true, "max_window_layers": 0`, 4, 0},
		{`"sliding_window": 4, "use_sliding_window": true`, 0, 0}, // 28 ≥ the 3 layers
		{`"sliding_window": 4, "use_sliding_window": true, "max_window_layers": 3`, 0, 0},
		{`"sliding_window": null, "use_sliding_window": true, "max_window_layers": 0`, 0, 0},
		{`"sliding_window": 4, "use_sliding_window": true, "max_window_layers": 0, "layer_types": ["full_attention", "full_attention", "sliding_attention"]`, 4, 2},
		{`"sliding_window": 4, "use_sliding_window": true, "layer_types": ["full_attention", "full_attention", "full_attention"]`, 0, 0},
	} {
		for _, arch := range []string{"Qwen2ForCausalLM", "Qwen3ForCausalLM"} {
			raw := fmt.Sprintf(`{"architectures": [%q], "vocab_size": 11, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 3,
				"num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 16, %s}`, arch, c.fields)
			cfg, err := parseConfig("config.json", []byte(raw))
			if err != nil {
				t.Fatalf("%s {%s}: %v", arch, c.fields, err)
			}
			if cfg.SlidingWindow != c.window || cfg.WindowFrom != c.from {
				t.Errorf("%s {%s}: window %d from layer %d, want %d from %d", arch, c.fields, cfg.SlidingWindow, cfg.WindowFrom, c.window, c.from)
			}
		}
	}
}

// The window reaches exactly the layers from WindowFrom on: with layer 0's
// attention silenced (its output projection zero), a window from layer 1
// computes what a window on every layer does; with layer 1's silenced,
// what no window does; and both differ from the other setting once the
// sequence outgrows the window.
func TestSlidingWindowFromLayer(t *testing.T) {
	c := Config{Family: Llama, Vocab: 19, Context: 16, DModel: 16, Layers: 2, Heads: 2, KVHeads: 1, DFF: 24, RopeTheta: 1e4, NormEps: 1e-6,
		QKVBias: true, SlidingWindow: 2, WindowFrom: 1}
	ids := [][]int{{1, 5, 9, 18, 0, 3, 7, 7, 2, 11}}
	logits := func(c Config, silent string) []float64 {
		m, err := New(c, tensor.Float64, 5)
		if err != nil {
			t.Fatal(err)
		}
		clear(m.Param(silent).Value.Data().([]float64))
		out, _ := logitsOf(t, m, ids)
		return out
	}
	every, none := c, c
	every.WindowFrom = 0
	none.SlidingWindow, none.WindowFrom = 0, 0
	worst := func(a, b []float64) float64 {
		d := 0.0
		for i := range a {
			d = max(d, math.Abs(a[i]-b[i]))
		}
		return d
	}
	for _, k := range []struct {
		silent      string
		same, other Config
	}{{"h.0.attn.o.weight", every, none}, {"h.1.attn.o.weight", none, every}} {
		got := logits(c, k.silent)
		if d := worst(got, logits(k.same, k.silent)); d != 0 {
			t.Errorf("%s zero: a window from layer 1 differs by %.1e from window %d from layer %d", k.silent, d, k.same.SlidingWindow, k.same.WindowFrom)
		}
		if d := worst(got, logits(k.other, k.silent)); d < 1e-6 {
			t.Errorf("%s zero: a window from layer 1 is within %.1e of window %d from layer %d: the test cannot tell them apart", k.silent, d, k.other.SlidingWindow, k.other.WindowFrom)
		}
	}
}
