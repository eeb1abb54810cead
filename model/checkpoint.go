package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/nlpodyssey/safetensors"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// Checkpoint file names, as Hugging Face lays out a GPT-2 model.
const (
	ConfigFile  = "config.json"
	WeightsFile = "model.safetensors"
)

// hfConfig is a GPT-2 model's config.json: the architecture plus the
// fixed choices of the family, so GPT-2 tooling reads it as a GPT-2
// config.
type hfConfig struct {
	Config
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
	Activation    string   `json:"activation_function"`
	LNEps         float64  `json:"layer_norm_epsilon"`
	TieEmbeddings bool     `json:"tie_word_embeddings"`
}

// llamaConfig is a Llama-family model's config.json, with the fields
// transformers' LlamaConfig and Qwen2Config read.
type llamaConfig struct {
	Architectures []string     `json:"architectures"`
	ModelType     string       `json:"model_type"`
	Vocab         int          `json:"vocab_size"`
	Hidden        int          `json:"hidden_size"`
	Intermediate  int          `json:"intermediate_size"`
	Layers        int          `json:"num_hidden_layers"`
	Heads         int          `json:"num_attention_heads"`
	KVHeads       int          `json:"num_key_value_heads"`
	MaxPositions  int          `json:"max_position_embeddings"`
	RMSEps        float64      `json:"rms_norm_eps"`
	RopeTheta     float64      `json:"rope_theta"`
	RopeScaling   *RopeScaling `json:"rope_scaling"`
	HiddenAct     string       `json:"hidden_act"`
	TieEmbeddings bool         `json:"tie_word_embeddings"`
	HeadDim       int          `json:"head_dim,omitempty"`       // Qwen3, or a head width other than hidden/heads
	SlidingWindow int          `json:"sliding_window,omitempty"` // Mistral, Qwen2 and Qwen3 with use_sliding_window
	// Qwen2 and Qwen3: the window is used from layer max_window_layers on.
	UseSlidingWindow bool `json:"use_sliding_window,omitempty"`
	MaxWindowLayers  *int `json:"max_window_layers,omitempty"`
}

// Save writes config.json and model.safetensors into dir in the layout of
// Hugging Face's checkpoints of the model's architecture (GPT-2: fused
// c_attn and GPT2LMHeadModel's tensor names; Llama, Qwen2, Qwen3 and
// Mistral: torch's
// [out, in] linears under LlamaForCausalLM's names), so transformers
// loads it.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c := m.Config
	var cfg any = hfConfig{c, "gpt2", []string{"GPT2LMHeadModel"}, "gelu_new", 1e-5, !c.UntiedHead}
	if c.Family == Llama {
		arch, typ := "LlamaForCausalLM", "llama"
		switch {
		case c.QKVBias:
			arch, typ = "Qwen2ForCausalLM", "qwen2"
		case c.QKNorm:
			arch, typ = "Qwen3ForCausalLM", "qwen3"
		case c.SlidingWindow > 0:
			arch, typ = "MistralForCausalLM", "mistral"
		}
		lc := llamaConfig{[]string{arch}, typ, c.Vocab, c.DModel, c.DFF, c.Layers, c.Heads, c.KV(), c.Context,
			c.normEps(), c.RopeTheta, c.RopeScaling, "silu", !c.UntiedHead, c.HeadDim, c.SlidingWindow, false, nil}
		if c.SlidingWindow > 0 && typ != "mistral" {
			from := c.WindowFrom
			lc.UseSlidingWindow, lc.MaxWindowLayers = true, &from
		} else if c.WindowFrom > 0 {
			return fmt.Errorf("model: a sliding window from layer %d is Qwen2's or Qwen3's, and this model is neither (Mistral's window applies to every layer)", c.WindowFrom)
		}
		cfg = lc
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, ConfigFile), append(raw, '\n')); err != nil {
		return err
	}
	data, err := EncodeSafetensors(hfTensors(m), map[string]string{"format": "pt"})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, WeightsFile), data)
}

// EncodeSafetensors serialises parameters as float32 safetensors.
func EncodeSafetensors(params []*nn.Param, meta map[string]string) ([]byte, error) {
	views := map[string]safetensors.TensorView{}
	for _, p := range params {
		vals := nn.Float64s(p.Value)
		buf := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(v)))
		}
		shape := make([]uint64, 0, 2)
		for _, s := range p.Value.Shape() {
			shape = append(shape, uint64(s))
		}
		tv, err := safetensors.NewTensorView(safetensors.F32, shape, buf)
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", p.Name, err)
		}
		views[p.Name] = tv
	}
	return safetensors.Serialize(views, meta)
}

// DecodeSafetensors copies the tensors of a safetensors file into params,
// which must all be present with the same shapes.
func DecodeSafetensors(file string, data []byte, params []*nn.Param) error {
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return fmt.Errorf("model: %s: %w", file, err)
	}
	for _, p := range params {
		tv, ok := st.Tensor(p.Name)
		if !ok {
			return fmt.Errorf("model: %s: tensor %q is missing", file, p.Name)
		}
		if tv.DType() != safetensors.F32 {
			return fmt.Errorf("model: %s: tensor %q is %v, want F32", file, p.Name, tv.DType())
		}
		want := p.Value.Shape()
		got := tv.Shape()
		same := len(got) == len(want)
		for i := 0; same && i < len(got); i++ {
			same = int(got[i]) == want[i]
		}
		if !same {
			return fmt.Errorf("model: %s: tensor %q has shape %v, want %v", file, p.Name, got, want)
		}
		raw := tv.Data()
		for i := 0; i < p.Size(); i++ {
			v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			if p.Value.Dtype() == tensor.Float64 {
				p.F64()[i] = float64(v)
			} else {
				p.F32()[i] = v
			}
		}
	}
	if st.Len() != len(params) {
		return fmt.Errorf("model: %s: holds %d tensors, the model has %d", file, st.Len(), len(params))
	}
	return nil
}

// Load reads a checkpoint directory: one Save wrote, or a Hugging Face
// model folder of a supported architecture (Architectures).
func Load(dir string) (*Model, error) { return LoadFS(os.DirFS(dir), ".") }

// LoadFS reads a checkpoint from a file system (the embedded zoo, or a
// directory).
func LoadFS(fsys fs.FS, dir string) (*Model, error) {
	cfgPath := filepath.ToSlash(filepath.Join(dir, ConfigFile))
	raw, err := fs.ReadFile(fsys, cfgPath)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	cfg, err := parseConfig(cfgPath, raw)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, tensor.Float32, 0)
	if err != nil {
		return nil, err
	}
	tensors, err := readTensors(fsys, dir)
	if err != nil {
		return nil, err
	}
	return m, loadTensors(m, tensors)
}
