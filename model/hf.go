package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"strings"

	"github.com/nlpodyssey/safetensors"
	"github.com/peftbench/peftbench/nn"
	"github.com/x448/float16"
	"gorgonia.org/tensor"
)

// Hugging Face checkpoints: config.json and the weights of
// GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM
// and MistralForCausalLM, read into this
// package's layer names (LinearNames), computed in float32 whatever the
// file stores (F32, F16 or BF16).

// Architectures maps the config.json architectures this package builds to
// their family.
var Architectures = map[string]Family{
	"GPT2LMHeadModel":  GPT2,
	"LlamaForCausalLM": Llama,
	"Qwen2ForCausalLM": Llama, // Llama's, with biases on q, k and v
	// Llama's, with an RMSNorm on each head of q and k and head_dim given.
	"Qwen3ForCausalLM": Llama,
	// Llama's blocks, with sliding-window attention.
	"MistralForCausalLM": Llama,
}

func supported() string {
	var names []string
	for a := range Architectures {
		names = append(names, a)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// hfFields is the union of the config.json fields of the supported
// architectures; pointers tell a missing field from a zero.
type hfFields struct {
	Architectures []string `json:"architectures"`
	ModelType     string   `json:"model_type"`
	Vocab         int      `json:"vocab_size"`
	TieEmbeddings *bool    `json:"tie_word_embeddings"`
	// GPT-2
	Context    int      `json:"n_positions"`
	DModel     int      `json:"n_embd"`
	Layers     int      `json:"n_layer"`
	Heads      int      `json:"n_head"`
	DFF        *int     `json:"n_inner"`
	Activation string   `json:"activation_function"`
	LNEps      *float64 `json:"layer_norm_epsilon"`
	// Llama, Qwen2
	Hidden        int          `json:"hidden_size"`
	Intermediate  int          `json:"intermediate_size"`
	HiddenLayers  int          `json:"num_hidden_layers"`
	AttnHeads     int          `json:"num_attention_heads"`
	KVHeads       int          `json:"num_key_value_heads"`
	HeadDim       int          `json:"head_dim"`
	MaxPositions  int          `json:"max_position_embeddings"`
	RMSEps        *float64     `json:"rms_norm_eps"`
	RopeTheta     *float64     `json:"rope_theta"`
	RopeScaling   *RopeScaling `json:"rope_scaling"`
	HiddenAct     string       `json:"hidden_act"`
	AttentionBias bool         `json:"attention_bias"`
	MLPBias       bool         `json:"mlp_bias"`
	// Mistral, Qwen2, Qwen3
	SlidingWindow    *int     `json:"sliding_window"`
	UseSlidingWindow *bool    `json:"use_sliding_window"`
	MaxWindowLayers  *int     `json:"max_window_layers"`
	LayerTypes       []string `json:"layer_types"`
}

// parseConfig reads config.json into a Config, with a clear error for an
// architecture or a setting this package does not build.
func parseConfig(file string, raw []byte) (Config, error) {
	var f hfFields
	if err := json.Unmarshal(raw, &f); err != nil {
		return Config{}, fmt.Errorf("model: %s: %w", file, err)
	}
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("model: %s: field %q: %s", file, field, fmt.Sprintf(format, args...))
	}
	arch := "GPT2LMHeadModel" // this package's own checkpoints before they named it
	if len(f.Architectures) > 0 {
		arch = f.Architectures[0]
	}
	fam, ok := Architectures[arch]
	if !ok {
		return Config{}, bad("architectures", "%q is not supported (supported: %s)", arch, supported())
	}
	var c Config
	switch fam {
	case GPT2:
		c = Config{Vocab: f.Vocab, Context: f.Context, DModel: f.DModel, Layers: f.Layers, Heads: f.Heads, DFF: 4 * f.DModel}
		if f.DFF != nil {
			c.DFF = *f.DFF
		}
		if f.Activation != "" && f.Activation != "gelu_new" {
			return Config{}, bad("activation_function", "%q is not supported (GPT-2's gelu_new is)", f.Activation)
		}
		if f.LNEps != nil && *f.LNEps != 1e-5 {
			return Config{}, bad("layer_norm_epsilon", "%g is not supported (GPT-2's 1e-5 is)", *f.LNEps)
		}
		if f.TieEmbeddings != nil && !*f.TieEmbeddings {
			c.UntiedHead = true
		}
	case Llama:
		c = Config{Family: Llama, Vocab: f.Vocab, Context: f.MaxPositions, DModel: f.Hidden, Layers: f.HiddenLayers,
			Heads: f.AttnHeads, KVHeads: f.KVHeads, DFF: f.Intermediate, NormEps: 1e-6, RopeTheta: 10000,
			QKVBias: arch == "Qwen2ForCausalLM", UntiedHead: f.TieEmbeddings == nil || !*f.TieEmbeddings}
		if f.RMSEps != nil {
			c.NormEps = *f.RMSEps
		}
		if f.RopeTheta != nil {
			c.RopeTheta = *f.RopeTheta
		}
		if f.HiddenAct != "" && f.HiddenAct != "silu" {
			return Config{}, bad("hidden_act", "%q is not supported (SwiGLU with silu is)", f.HiddenAct)
		}
		if f.AttentionBias || f.MLPBias {
			return Config{}, bad(map[bool]string{true: "attention_bias", false: "mlp_bias"}[f.AttentionBias], "biases on every projection are not supported")
		}
		if f.HeadDim < 0 {
			return Config{}, bad("head_dim", "%d is negative", f.HeadDim)
		}
		if f.AttnHeads > 0 && f.HeadDim != 0 && f.HeadDim*f.AttnHeads != f.Hidden {
			c.HeadDim = f.HeadDim // q and the attention output are heads·head_dim wide
		}
		c.QKNorm = arch == "Qwen3ForCausalLM"
		// Mistral's sliding_window applies when set, to every layer; Qwen2's
		// and Qwen3's only with use_sliding_window, which their released
		// models leave off, and only to the layers from max_window_layers
		// on (transformers' default 28), or those layer_types makes
		// sliding_attention.
		if w := f.SlidingWindow; w != nil && *w > 0 {
			switch {
			case arch == "MistralForCausalLM":
				c.SlidingWindow = *w
			case f.UseSlidingWindow != nil && *f.UseSlidingWindow:
				from := 28
				if f.MaxWindowLayers != nil {
					from = *f.MaxWindowLayers
				}
				if from < 0 {
					return Config{}, bad("max_window_layers", "%d is negative", from)
				}
				if f.LayerTypes != nil {
					var err error
					if from, err = windowFrom(f.LayerTypes, f.HiddenLayers); err != nil {
						return Config{}, bad("layer_types", "%v", err)
					}
				}
				if from < f.HiddenLayers { // else no layer has the window
					c.SlidingWindow, c.WindowFrom = *w, from
				}
			}
		}
		if s := f.RopeScaling; s != nil {
			if t := s.Type(); t != "llama3" {
				return Config{}, bad("rope_scaling", "type %q is not supported (llama3 is, or none)", t)
			}
			c.RopeScaling = s
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

// hfSource says where a parameter's values lie in a Hugging Face
// checkpoint: a tensor, transposed (torch's Linear stores [out, in]; this
// package [in, out]) or a slice of its columns (GPT-2's fused c_attn holds
// q, k and v side by side).
type hfSource struct {
	name      string
	transpose bool
	col, cols int // the columns [col, col+cols) of the last dimension; cols 0: all
}

// hfSources maps every parameter of m to its tensor in a Hugging Face
// checkpoint of m's architecture, without the "transformer." or "model."
// prefixes (the reader strips them).
func hfSources(m *Model) map[string]hfSource {
	c := m.Config
	src := map[string]hfSource{}
	if c.Family == GPT2 {
		src["wte.weight"] = hfSource{name: "wte.weight"}
		src["wpe.weight"] = hfSource{name: "wpe.weight"}
		src["ln_f.weight"] = hfSource{name: "ln_f.weight"}
		src["ln_f.bias"] = hfSource{name: "ln_f.bias"}
		for i := 0; i < c.Layers; i++ {
			h := fmt.Sprintf("h.%d.", i)
			for _, n := range []string{"ln_1", "ln_2"} {
				src[h+n+".weight"] = hfSource{name: h + n + ".weight"}
				src[h+n+".bias"] = hfSource{name: h + n + ".bias"}
			}
			for j, n := range []string{"q", "k", "v"} {
				src[h+"attn."+n+".weight"] = hfSource{name: h + "attn.c_attn.weight", col: j * c.DModel, cols: c.DModel}
				src[h+"attn."+n+".bias"] = hfSource{name: h + "attn.c_attn.bias", col: j * c.DModel, cols: c.DModel}
			}
			for ours, theirs := range map[string]string{"attn.o": "attn.c_proj", "mlp.fc": "mlp.c_fc", "mlp.proj": "mlp.c_proj"} {
				src[h+ours+".weight"] = hfSource{name: h + theirs + ".weight"}
				src[h+ours+".bias"] = hfSource{name: h + theirs + ".bias"}
			}
		}
		if c.UntiedHead {
			src["lm_head.weight"] = hfSource{name: "lm_head.weight"}
		}
		return src
	}
	src["wte.weight"] = hfSource{name: "embed_tokens.weight"}
	src["ln_f.weight"] = hfSource{name: "norm.weight"}
	for i := 0; i < c.Layers; i++ {
		h, l := fmt.Sprintf("h.%d.", i), fmt.Sprintf("layers.%d.", i)
		src[h+"ln_1.weight"] = hfSource{name: l + "input_layernorm.weight"}
		src[h+"ln_2.weight"] = hfSource{name: l + "post_attention_layernorm.weight"}
		if c.QKNorm {
			src[h+"attn.q_norm.weight"] = hfSource{name: l + "self_attn.q_norm.weight"}
			src[h+"attn.k_norm.weight"] = hfSource{name: l + "self_attn.k_norm.weight"}
		}
		for ours, theirs := range hfModules {
			if p := m.Param(h + ours + ".weight"); p != nil {
				src[p.Name] = hfSource{name: l + theirs + ".weight", transpose: true}
			}
			if p := m.Param(h + ours + ".bias"); p != nil {
				src[p.Name] = hfSource{name: l + theirs + ".bias"}
			}
		}
	}
	if c.UntiedHead {
		src["lm_head.weight"] = hfSource{name: "lm_head.weight"}
	}
	return src
}

// hfModules maps a Llama block's layers to their Hugging Face modules.
var hfModules = map[string]string{
	"attn.q": "self_attn.q_proj", "attn.k": "self_attn.k_proj", "attn.v": "self_attn.v_proj", "attn.o": "self_attn.o_proj",
	"mlp.gate": "mlp.gate_proj", "mlp.up": "mlp.up_proj", "mlp.down": "mlp.down_proj",
}

// ignoredTensor says whether a checkpoint tensor is a buffer Hugging Face
// saves but this package recomputes (GPT-2's causal masks, rotary
// frequencies).
func ignoredTensor(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") || strings.HasSuffix(name, "rotary_emb.inv_freq")
}

// storedTensor is one tensor of a checkpoint and the file it is in.
type storedTensor struct {
	file string
	tv   safetensors.TensorView
}

// readTensors reads every tensor of a checkpoint (model.safetensors, or
// the shards an index names), keyed by name with the "transformer." or
// "model." prefix of HF's *LMHeadModel/*ForCausalLM state dicts removed.
func readTensors(fsys fs.FS, dir string) (map[string]storedTensor, error) {
	files, err := weightFiles(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", dir, err)
	}
	out := map[string]storedTensor{}
	for _, f := range files {
		if f == ShardIndexFile {
			continue
		}
		p := path.Join(dir, f)
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		st, err := safetensors.Deserialize(data)
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", p, err)
		}
		for _, nt := range st.Tensors() {
			name := strings.TrimPrefix(strings.TrimPrefix(nt.Name, "transformer."), "model.")
			if prev, dup := out[name]; dup {
				return nil, fmt.Errorf("model: tensor %q is in both %s and %s", nt.Name, prev.file, p)
			}
			out[name] = storedTensor{file: p, tv: nt.TensorView}
		}
	}
	return out, nil
}

// reader returns a function reading element i of a stored tensor as
// float32, straight from the file's bytes: a checkpoint's tensors are
// converted into the parameters without an intermediate copy.
func (s storedTensor) reader(name string) (func(i int) float32, error) {
	raw := s.tv.Data()
	switch s.tv.DType() {
	case safetensors.F32:
		return func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])) }, nil
	case safetensors.F16:
		return func(i int) float32 { return float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32() }, nil
	case safetensors.BF16: // the top half of a float32
		return func(i int) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16) }, nil
	}
	return nil, fmt.Errorf("model: %s: tensor %q is %v (F32, F16 and BF16 are supported)", s.file, name, s.tv.DType())
}

// loadTensors fills m's parameters from a checkpoint's tensors: by this
// package's own names when the file uses them (the shipped models before
// they were written in HF's layout), else through hfSources. Every
// parameter must be found with its shape, and every tensor used or a known
// buffer: a tensor left over means the config does not describe the file.
func loadTensors(m *Model, tensors map[string]storedTensor) error {
	src := hfSources(m)
	if _, own := tensors["h.0.attn.q.weight"]; own || m.Config.Layers == 0 {
		src = map[string]hfSource{}
		for _, p := range m.Params {
			src[p.Name] = hfSource{name: p.Name}
		}
	}
	used := map[string]bool{}
	for _, p := range m.Params {
		s, ok := src[p.Name]
		t, found := tensors[s.name]
		if !ok || !found {
			return fmt.Errorf("model: checkpoint has no tensor %q (for %s)", s.name, p.Name)
		}
		used[s.name] = true
		at, err := t.reader(s.name)
		if err != nil {
			return err
		}
		shape := t.tv.Shape()
		rows, cols := 1, int(shape[len(shape)-1])
		if len(shape) == 2 {
			rows = int(shape[0])
		}
		want := p.Value.Shape()
		got := []int{rows, cols}
		if len(shape) == 1 {
			got = []int{cols}
		}
		if s.transpose {
			got = []int{cols, rows}
		}
		if s.cols > 0 {
			got[len(got)-1] = s.cols
		}
		if len(shape) > 2 || fmt.Sprint(got) != fmt.Sprint([]int(want)) || s.col+max(s.cols, 0) > cols {
			return fmt.Errorf("model: %s: tensor %q has shape %v, which does not give %s %v", t.file, s.name, shape, p.Name, want)
		}
		dst := p.F32()
		switch {
		case s.transpose:
			for r := 0; r < rows; r++ {
				for k := 0; k < cols; k++ {
					dst[k*rows+r] = at(r*cols + k)
				}
			}
		case s.cols > 0:
			for r := 0; r < rows; r++ {
				for k := 0; k < s.cols; k++ {
					dst[r*s.cols+k] = at(r*cols + s.col + k)
				}
			}
		default:
			for i := range dst {
				dst[i] = at(i)
			}
		}
	}
	var extra []string
	for name := range tensors {
		tied := name == "lm_head.weight" && !m.Config.UntiedHead
		if !used[name] && !ignoredTensor(name) && !tied {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("model: checkpoint holds tensors the config does not describe: %s", strings.Join(extra[:min(5, len(extra))], ", "))
	}
	return nil
}

// hfTensors lays m's parameters out as a Hugging Face checkpoint of its
// architecture: GPT-2's fused c_attn without the "transformer." prefix, as
// the official GPT-2 checkpoint names them; Llama's torch [out, in]
// linears under "model.", as LlamaForCausalLM's state dict names them.
func hfTensors(m *Model) []*nn.Param {
	src := hfSources(m)
	byName := map[string]*nn.Param{}
	var order []string
	for _, p := range m.Params {
		s := src[p.Name]
		vals := nn.Float64s(p.Value)
		shape := p.Value.Shape()
		out, ok := byName[s.name]
		if !ok { // checkpoints hold float32 (EncodeSafetensors)
			switch {
			case s.transpose:
				out = nn.NewParam(s.name, tensor.Float32, shape[1], shape[0])
			case s.cols > 0 && len(shape) == 2:
				out = nn.NewParam(s.name, tensor.Float32, shape[0], 3*shape[1])
			case s.cols > 0:
				out = nn.NewParam(s.name, tensor.Float32, 3*shape[0])
			default:
				out = nn.NewParam(s.name, tensor.Float32, shape...)
			}
			byName[s.name] = out
			order = append(order, s.name)
		}
		dst := out.F32()
		rows, cols := 1, shape[len(shape)-1]
		if len(shape) == 2 {
			rows = shape[0]
		}
		for r := 0; r < rows; r++ {
			for k := 0; k < cols; k++ {
				v := float32(vals[r*cols+k])
				switch {
				case s.transpose:
					dst[k*rows+r] = v
				case s.cols > 0:
					dst[r*3*cols+s.col+k] = v
				default:
					dst[r*cols+k] = v
				}
			}
		}
	}
	out := make([]*nn.Param, len(order))
	for i, n := range order {
		out[i] = byName[n]
		if m.Config.Family == Llama && n != "lm_head.weight" {
			out[i].Name = "model." + n
		}
	}
	return out
}

// HFModule names the Hugging Face module that holds linear layer name
// (h.0.attn.q) in a checkpoint of m's architecture, as PEFT keys it
// (transformer.h.0.attn.c_attn, model.layers.0.self_attn.q_proj), and
// where the layer's outputs lie in the module's: columns [col, col+width)
// of GPT-2's fused c_attn, or the whole output (width 0).
func HFModule(m *Model, name string) (module string, col, width int, err error) {
	s, ok := hfSources(m)[name+".weight"]
	if !ok || m.Param(name+".weight") == nil {
		return "", 0, 0, fmt.Errorf("model: no linear layer %q", name)
	}
	prefix := "transformer."
	if m.Config.Family == Llama {
		prefix = "model."
	}
	return prefix + strings.TrimSuffix(s.name, ".weight"), s.col, s.cols, nil
}

// windowFrom reads transformers' layer_types as the first layer of
// sliding-window attention (layers: none), which the layers after it must
// all have.
func windowFrom(types []string, layers int) (int, error) {
	if len(types) != layers {
		return 0, fmt.Errorf("%d layer types for %d layers", len(types), layers)
	}
	from := layers
	for i, t := range types {
		switch t {
		case "sliding_attention":
			from = min(from, i)
		case "full_attention":
			if from < i {
				return 0, fmt.Errorf("layer %d has full attention after sliding-window layer %d: a window from one layer on is supported", i, from)
			}
		default:
			return 0, fmt.Errorf("%q is not supported (full_attention and sliding_attention are)", t)
		}
	}
	return from, nil
}
