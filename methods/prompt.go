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

// prompt is prompt tuning (Lester et al., 2021, arXiv 2104.08691): L
// trainable "soft prompt" vectors in the model's embedding space are put in
// front of every input sequence, and only they train. The model, its
// token embedding included, stays frozen, so one model serves every task
// with a task's prompt of L·d_model numbers.
//
// The virtual tokens take up positions: they get the position embeddings
// 0..L−1 and the real tokens L..L+T−1, so a sequence can hold at most
// context − L real tokens.
type prompt struct{}

func init() { Register(prompt{}) }

func (prompt) Name() string { return "prompt" }
func (prompt) Doc() string {
	return "prompt tuning: L trainable virtual token embeddings prepended to every input"
}

// DefaultLR is tuned on the shipped tiny model by a short probe (64 examples,
// 40 steps of 8, spam and sentiment): virtual embeddings act only through the
// input of a frozen network and move slowly: even at 1e-1 prompt tuning lags,
// as Lester et al. report for small models.
func (prompt) DefaultLR() float64 { return 1e-1 }

// The default length of 4 leaves room for real tokens on the smallest
// contexts; Lester et al. use 100 virtual tokens and see little gain past
// 20 on large models, and a sweep raises it where the context allows.
func (prompt) Params() []Spec {
	return []Spec{
		{Name: "length", Kind: Int, Default: 4, Min: 1, Max: math.Inf(1), Doc: "virtual tokens L; a sequence then holds at most context − L real tokens"},
		{Name: "init", Kind: String, Default: "vocab", Choices: []string{"random", "vocab", "text"},
			Doc: "vocab: embeddings of tokens sampled from the vocabulary; random: N(0, 0.02); text: embeddings of init_text's tokens"},
		{Name: "init_text", Kind: String, Default: "Classify this text:", Doc: "text whose token embeddings start the prompt when init is text (repeated or cut to L tokens)"},
	}
}

// promptHook puts the virtual tokens in front of every sequence.
type promptHook struct{ emb *nn.Param }

func (prompt) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	L, ctx := v.Int("length"), m.Config.Context
	if L >= ctx {
		return nil, fmt.Errorf("field \"length\": %d virtual tokens leave no position for real tokens in the context of %d", L, ctx)
	}
	ids, err := promptInitIDs(base, v, seed)
	if err != nil {
		return nil, err
	}
	emb := newOwn(m, "prompt_embeddings", L, m.Config.DModel)
	if ids == nil {
		// Random: the scale of GPT-2's token embeddings at initialisation.
		normalInit(emb, rand.New(rand.NewPCG(seed, 0x9a0)), 0.02)
	} else {
		wte, d := nn.Float64s(m.Param("wte.weight").Value), m.Config.DModel
		vals := make([]float64, 0, L*d)
		for _, id := range ids {
			vals = append(vals, wte[id*d:(id+1)*d]...)
		}
		SetValues(emb, vals)
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{&promptHook{emb: emb}}, Own: []*nn.Param{emb}, Positions: L}, nil
}

// promptInitIDs picks the L tokens whose embeddings start the prompt, or
// nil for a random start.
//
// vocab is Lester et al.'s sampled-vocabulary initialisation (HF PEFT's
// SAMPLE_VOCAB; they sample T5's 5,000 most common tokens, we sample the
// whole vocabulary, whose frequencies the model does not carry): starting from real embeddings keeps the prompt where the
// frozen network expects its inputs, which they find trains faster and
// more reliably than random vectors, whose scale the model has never seen.
// The tokens are drawn without replacement while the vocabulary allows,
// so no two virtual tokens start equal.
//
// text is their class-label/text initialisation (HF PEFT's TEXT): the
// tokens of a task description, repeated or cut to L as HF PEFT does.
func promptInitIDs(base *model.Base, v Values, seed uint64) ([]int, error) {
	L, vocab := v.Int("length"), base.Model.Config.Vocab
	switch v.String("init") {
	case "vocab":
		rng := rand.New(rand.NewPCG(seed, 0x90c))
		if L <= vocab {
			return rng.Perm(vocab)[:L], nil
		}
		ids := make([]int, L)
		for i := range ids {
			ids[i] = rng.IntN(vocab)
		}
		return ids, nil
	case "text":
		text := v.String("init_text")
		if base.Tokenizer == nil {
			return nil, fmt.Errorf("field \"init_text\": init \"text\" needs the base model's tokenizer, and this base has none")
		}
		toks := base.Tokenizer.Encode(text)
		if len(toks) == 0 {
			return nil, fmt.Errorf("field \"init_text\": %q has no tokens to start the prompt from", text)
		}
		ids := make([]int, L)
		for i := range ids {
			ids[i] = toks[i%len(toks)]
			if ids[i] < 0 || ids[i] >= vocab {
				return nil, fmt.Errorf("field \"init_text\": token %d is outside the model's vocabulary of %d", ids[i], vocab)
			}
		}
		return ids, nil
	}
	return nil, nil
}

func (h *promptHook) HookInput(c *model.Ctx, x *model.Node) (*model.Node, int, error) {
	y, err := nn.PrependRows(c.Graph.Param(h.emb), x, c.B)
	if err != nil {
		return nil, 0, err
	}
	return y, h.emb.Value.Shape()[0], nil
}

// Footprint: L·d_model weights; the gradient reaches the input, so every
// block keeps its activations, over L more positions.
func (prompt) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	lp := v.Int("length")
	if lp >= a.Context {
		return nil, fmt.Errorf("field \"length\": %d virtual tokens leave no position for real tokens in the context of %d", lp, a.Context)
	}
	return &Footprint{Added: int64(lp) * int64(a.DModel), SeqExtra: lp, Modules: []string{"prompt embeddings"},
		Notes: []string{fmt.Sprintf("prompt: the gradient reaches the input, so every block keeps its activations, over %d more positions; logits over every position, as HF PEFT computes them", lp)}}, nil
}

// Display: orange, a star.
func (prompt) Display() display.Style {
	return display.Style{Order: 80, Color: color.RGBA{0xe6, 0x9f, 0x00, 0xff}, Marker: display.Star}
}

// PEFT writes prompt tuning as HF PEFT keys it: the virtual tokens'
// embeddings, [L, d_model], as prompt_embeddings, which PeftModel puts in
// front of the input embeddings exactly as HookInput does here. The
// init is written as RANDOM whatever started the prompt: the file holds the
// trained embeddings, which PEFT loads over any initialisation, and TEXT
// would make PEFT ask for a tokenizer it does not need.
func (prompt) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	emb := a.Hooks[0].(*promptHook).emb
	s := emb.Value.Shape()
	// num_transformer_submodules is 1: a decoder-only model has one
	// transformer to put virtual tokens in front of (an encoder-decoder two).
	cfg := map[string]any{
		"peft_type": "PROMPT_TUNING", "num_virtual_tokens": s[0], "token_dim": s[1], "num_transformer_submodules": 1,
		"num_attention_heads": m.Config.Heads, "num_layers": m.Config.Layers,
		"prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": nil, "tokenizer_name_or_path": nil,
	}
	return cfg, map[string]PEFTTensor{"prompt_embeddings": {Shape: []int{s[0], s[1]}, Values: nn.Float64s(emb.Value)}}, nil
}
