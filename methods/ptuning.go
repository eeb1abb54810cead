package methods

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// ptuning is P-tuning (Liu et al., 2021, "GPT Understands, Too", arXiv
// 2103.10385) as HF PEFT's P_TUNING builds it (PromptEncoder, the MLP
// reparameterisation, PEFT's default): L virtual tokens are put in front
// of every input, at the same place as prompt tuning's, but they are not
// trained directly: an embedding E [L, d_model] is passed through a prompt
// encoder,
//
//	P = ReLU(ReLU(E·W₀ + b₀)·W₂ + b₂)·W₄ + b₄
//
// W₀ [d, h], W₂ [h, h], W₄ [h, d] (PEFT's mlp_head.0, .2 and .4:
// Linear–ReLU–Linear–ReLU–Linear), and P is what the model sees. Liu et
// al. found that making the prompts depend on each other through an
// encoder trains more stably than free embeddings. Only E and the MLP
// train; the model stays frozen.
//
// PEFT's other encoder settings are read as PEFT's MLP reads them (they
// are PEFT field names, checked but setting nothing here, see
// peftFields): encoder_num_layers is ignored by PEFT's MLP, which always
// has two hidden layers (PEFT warns), so only 2 is accepted, lest a sweep
// over it run one configuration several times; encoder_dropout is the
// LSTM's alone, so only 0; encoder_reparameterization_type LSTM is
// refused: the engine has no LSTM op.
//
// The virtual tokens take positions, as prompt tuning's do: a sequence
// holds at most context − L real tokens.
type ptuning struct{}

func init() { Register(ptuning{}) }

func (ptuning) Name() string { return "ptuning" }
func (ptuning) Doc() string {
	return "P-tuning: L virtual token embeddings produced by a trained MLP prompt encoder, prepended to every input"
}

// DefaultLR is not probed: the virtual tokens come out of an MLP, as a
// projected prefix's do, and Adam moves each of its three layers by about
// the rate, so the output moves further per step than a free embedding's:
// the prefix's 3e-2 rather than prompt tuning's 1e-1.
func (ptuning) DefaultLR() float64 { return 3e-2 }

// The default length is prompt tuning's, so both sweep the same lengths.
func (ptuning) Params() []Spec {
	return []Spec{
		{Name: "length", Kind: Int, Default: 4, Min: 1, Max: math.Inf(1), Doc: "virtual tokens L; a sequence then holds at most context − L real tokens"},
		{Name: "encoder_hidden_size", Kind: Int, Default: 0, Min: 0, Max: math.Inf(1), Doc: "width h of the prompt encoder's two hidden layers; 0: d_model, PEFT's default"},
	}
}

// ptuningHook computes the virtual tokens from the encoder and puts them
// in front of every sequence.
type ptuningHook struct {
	emb *nn.Param    // E [L, d]
	w   [3]*nn.Param // [d, h], [h, h], [h, d], stored [in, out]
	b   [3]*nn.Param // [h], [h], [d]
}

// ptuningHidden is the encoder's width for the model: encoder_hidden_size,
// or d_model for 0 (PEFT sets a null encoder_hidden_size to token_dim).
func ptuningHidden(v Values, dModel int) int {
	if h := v.Int("encoder_hidden_size"); h > 0 {
		return h
	}
	return dModel
}

func (ptuning) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	L, ctx, d := v.Int("length"), m.Config.Context, m.Config.DModel
	if L >= ctx {
		return nil, fmt.Errorf("field \"length\": %d virtual tokens leave no position for real tokens in the context of %d", L, ctx)
	}
	h := ptuningHidden(v, d)
	// PyTorch's defaults, which PEFT's PromptEncoder gets: the embedding
	// N(0, 1), each Linear's weight and bias U(±1/√in).
	rng := rand.New(rand.NewPCG(seed, 0x97e))
	hk := &ptuningHook{emb: newOwn(m, "prompt_encoder.embedding.weight", L, d)}
	normalInit(hk.emb, rng, 1)
	own := []*nn.Param{hk.emb}
	dims := [3][2]int{{d, h}, {h, h}, {h, d}}
	for i, io := range dims {
		hk.w[i] = newOwn(m, fmt.Sprintf("prompt_encoder.mlp_head.%d.weight", 2*i), io[0], io[1])
		hk.b[i] = newOwn(m, fmt.Sprintf("prompt_encoder.mlp_head.%d.bias", 2*i), io[1])
		uniformInit(hk.w[i], rng, io[0])
		uniformInit(hk.b[i], rng, io[0])
		own = append(own, hk.w[i], hk.b[i])
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{hk}, Own: own, Positions: L}, nil
}

// HookInput builds the encoder, [L, d] → [L, h] → [L, h] → [L, d], and
// prepends its output to every sequence of x [B·T, d].
func (hk *ptuningHook) HookInput(c *model.Ctx, x *model.Node) (*model.Node, int, error) {
	g := c.Graph
	p := g.Param(hk.emb)
	var err error
	for i := range hk.w {
		if p, err = nn.Linear(p, g.Param(hk.w[i]), g.Param(hk.b[i])); err != nil {
			return nil, 0, err
		}
		if i < len(hk.w)-1 {
			if p, err = nn.ReLU(p); err != nil {
				return nil, 0, err
			}
		}
	}
	y, err := nn.PrependRows(p, x, c.B)
	if err != nil {
		return nil, 0, err
	}
	return y, hk.emb.Value.Shape()[0], nil
}

// prompt returns the encoder's output [L·d] row-major, in float64: the
// virtual tokens HookInput puts in front.
func (hk *ptuningHook) prompt() []float64 {
	x, n := nn.Float64s(hk.emb.Value), hk.emb.Value.Shape()[0]
	for i := range hk.w {
		s := hk.w[i].Value.Shape()
		in, out := s[0], s[1]
		y := matProduct(x, nn.Float64s(hk.w[i].Value), n, in, out)
		b := nn.Float64s(hk.b[i].Value)
		for r := range n {
			for j := range out {
				y[r*out+j] += b[j]
				if i < len(hk.w)-1 && y[r*out+j] < 0 {
					y[r*out+j] = 0
				}
			}
		}
		x = y
	}
	return x
}

// Footprint: L·d + d·h + h + h·h + h + h·d + d weights; the encoder's four
// hidden values [L, h] (before and after each ReLU) and its output [L, d]
// kept once per step; the gradient reaches the input, so every block keeps
// its activations, over L more positions.
func (ptuning) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	lp := v.Int("length")
	if lp >= a.Context {
		return nil, fmt.Errorf("field \"length\": %d virtual tokens leave no position for real tokens in the context of %d", lp, a.Context)
	}
	L, d, h := int64(lp), int64(a.DModel), int64(ptuningHidden(v, a.DModel))
	return &Footprint{
		Added:    L*d + (d*h + h) + (h*h + h) + (h*d + d),
		Global:   L * (4*h + d) * a.AddedBytes,
		SeqExtra: lp,
		Modules:  []string{"prompt encoder (embedding and MLP)"},
		Notes:    []string{fmt.Sprintf("ptuning: %d virtual tokens from an MLP %d wide; the gradient reaches the input, so every block keeps its activations, over %d more positions; logits over every position, as HF PEFT computes them", lp, h, lp)},
	}, nil
}

// Display: dark goldenrod, an open star: prompt tuning's kin.
func (ptuning) Display() display.Style {
	return display.Style{Order: 85, Color: color.RGBA{0xb8, 0x86, 0x0b, 0xff}, Marker: display.OpenStar}
}

// PEFT writes P-tuning as HF PEFT's save_pretrained does: PEFT saves a
// P_TUNING adapter trained with its encoder as prompt_embeddings alone,
// the encoder's output for the L virtual tokens
// (get_prompt_embedding_to_save), [L, d_model], and a PeftModel loaded
// from it (inference mode) builds no MLP and puts these rows in front of
// the input as they are. The encoder's fields describe the encoder that
// made them. So the file holds what the model sees, not what trained:
// read back (LoadPEFT) it is prompt tuning holding these embeddings, and
// the adapter file of Save keeps the encoder.
func (ptuning) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	hk := a.Hooks[0].(*ptuningHook)
	L, d := hk.emb.Value.Shape()[0], m.Config.DModel
	cfg := map[string]any{
		"peft_type": "P_TUNING", "num_virtual_tokens": L, "token_dim": d, "num_transformer_submodules": 1,
		"num_attention_heads": m.Config.Heads, "num_layers": m.Config.Layers,
		"encoder_reparameterization_type": "MLP", "encoder_hidden_size": hk.w[0].Value.Shape()[1],
		"encoder_num_layers": 2, "encoder_dropout": 0.0,
	}
	return cfg, map[string]PEFTTensor{"prompt_embeddings": {Shape: []int{L, d}, Values: hk.prompt()}}, nil
}
