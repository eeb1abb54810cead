// Package model is peftbench's base language model: a decoder of pre-norm
// blocks in two families, GPT-2's (LayerNorm, learned positions, GELU MLP)
// and Llama's (RMSNorm, rotary positions, grouped-query attention, SwiGLU
// MLP; Qwen2 adds q/k/v biases), built on the engine in nn, with named
// layers and hook points that fine-tuning methods attach to, and
// checkpoints in Hugging Face's layouts (config.json + model.safetensors +
// tokenizer; hf.go maps the tensor names).
//
// Read it top to bottom as the forward pass: Build embeds tokens (and, for
// GPT-2, positions), runs each block (attention, then MLP, each in a
// residual branch), normalises and projects onto the vocabulary.
package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"github.com/peftbench/peftbench/nn"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Config is the architecture, with GPT-2's config.json field names; the
// fields after DFF describe the Llama family (Llama, Qwen2, SmolLM2) and
// are zero for GPT-2.
type Config struct {
	Vocab   int `json:"vocab_size"`
	Context int `json:"n_positions"`
	DModel  int `json:"n_embd"`
	Layers  int `json:"n_layer"`
	Heads   int `json:"n_head"`
	DFF     int `json:"n_inner"`

	Family      Family       `json:"-"`
	KVHeads     int          `json:"-"` // key and value heads (grouped-query attention); 0: Heads
	NormEps     float64      `json:"-"` // Llama's RMSNorm epsilon (0: 1e-5); GPT-2's LayerNorm always takes 1e-5
	RopeTheta   float64      `json:"-"` // rotary embeddings' base (Llama)
	RopeScaling *RopeScaling `json:"-"` // Llama 3's long-context frequencies; nil: none
	UntiedHead  bool         `json:"-"` // the head has its own weights (lm_head) rather than the embedding's
	QKVBias     bool         `json:"-"` // q, k and v have biases (Qwen2)
	// HeadDim is the width of an attention head when it is not
	// DModel/Heads (Qwen3's explicit head_dim); 0: DModel/Heads.
	HeadDim int `json:"-"`
	// QKNorm: RMSNorm on each head of q and k before the rotation, with a
	// gain of HeadDim (Qwen3's q_norm, k_norm).
	QKNorm bool `json:"-"`
	// SlidingWindow, when positive, limits each query to the keys of the
	// last SlidingWindow positions (Mistral's sliding_window), in the
	// layers from WindowFrom on.
	SlidingWindow int `json:"-"`
	// WindowFrom is the first layer the sliding window applies to: Qwen2's
	// and Qwen3's max_window_layers, the layers below it attending to
	// every key; 0: every layer (Mistral).
	WindowFrom int `json:"-"`
}

// Window is layer i's sliding window; 0: none.
func (c Config) Window(i int) int {
	if i < c.WindowFrom {
		return 0
	}
	return c.SlidingWindow
}

// Family is an architecture family: how a block is built.
type Family string

const (
	// GPT2 blocks: LayerNorm, learned positions, GELU MLP (q, k and v fused
	// in its checkpoints).
	GPT2 Family = ""
	// Llama blocks: RMSNorm, rotary positions, grouped-query attention,
	// SwiGLU MLP, no biases (Qwen2: on q, k and v).
	Llama Family = "llama"
)

func (f Family) String() string {
	if f == GPT2 {
		return "gpt2"
	}
	return string(f)
}

// RopeScaling is config.json's rope_scaling for Llama 3 (rope_type
// "llama3"), which stretches the low rotary frequencies for long contexts.
type RopeScaling struct {
	RopeType                      string  `json:"rope_type"`
	LegacyType                    string  `json:"type"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings"`
}

// Type is the scaling's type, under either field name HF has used.
func (r RopeScaling) Type() string {
	if r.RopeType != "" {
		return r.RopeType
	}
	return r.LegacyType
}

// KV is the number of key and value heads.
func (c Config) KV() int {
	if c.KVHeads > 0 {
		return c.KVHeads
	}
	return c.Heads
}

// Dh is the width of an attention head.
func (c Config) Dh() int {
	if c.HeadDim > 0 {
		return c.HeadDim
	}
	return c.DModel / c.Heads
}

// DKV is the width of the key and value projections.
func (c Config) DKV() int { return c.KV() * c.Dh() }

// DQ is the width of the query projection and of the attention output.
func (c Config) DQ() int { return c.Heads * c.Dh() }

func (c Config) normEps() float64 {
	if c.NormEps > 0 {
		return c.NormEps
	}
	return 1e-5
}

// Validate reports the first field that cannot build a model.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", c.Vocab}, {"n_positions", c.Context}, {"n_embd", c.DModel}, {"n_layer", c.Layers}, {"n_head", c.Heads}, {"n_inner", c.DFF}} {
		if f.v < 1 {
			return fmt.Errorf("model: config field %q is %d, must be at least 1", f.name, f.v)
		}
	}
	if c.HeadDim < 0 || c.SlidingWindow < 0 {
		return fmt.Errorf("model: config fields \"head_dim\" (%d) and \"sliding_window\" (%d) must not be negative", c.HeadDim, c.SlidingWindow)
	}
	if c.WindowFrom < 0 || (c.WindowFrom > 0 && (c.SlidingWindow == 0 || c.WindowFrom >= c.Layers)) {
		return fmt.Errorf("model: config field \"max_window_layers\" (%d) must name a layer of the %d that a sliding window (%d) applies from", c.WindowFrom, c.Layers, c.SlidingWindow)
	}
	if c.HeadDim == 0 && c.DModel%c.Heads != 0 {
		return fmt.Errorf("model: config field \"n_embd\" (%d) is not a multiple of \"n_head\" (%d)", c.DModel, c.Heads)
	}
	if c.KVHeads < 0 || c.Heads%c.KV() != 0 {
		return fmt.Errorf("model: config field \"num_key_value_heads\" (%d) does not divide \"num_attention_heads\" (%d)", c.KVHeads, c.Heads)
	}
	if c.Family == Llama && c.Dh()%2 != 0 {
		return fmt.Errorf("model: rotary embeddings need an even head width, not %d", c.Dh())
	}
	return nil
}

// Model is a set of named parameters in one dtype. Building a graph never
// copies them: every graph of every shape shares the same tensors.
type Model struct {
	Config Config
	Params []*nn.Param // in a fixed order: embeddings, blocks, final norm, head
	byName map[string]*nn.Param

	ropeMu sync.Mutex
	rope   *nn.RoPETable // the rotations of the longest sequence built so far (Llama)
}

// LinearNames lists the linear layers of block i, in model order.
func (c Config) LinearNames(i int) []string {
	p := fmt.Sprintf("h.%d.", i)
	if c.Family == Llama {
		return []string{p + "attn.q", p + "attn.k", p + "attn.v", p + "attn.o", p + "mlp.gate", p + "mlp.up", p + "mlp.down"}
	}
	return []string{p + "attn.q", p + "attn.k", p + "attn.v", p + "attn.o", p + "mlp.fc", p + "mlp.proj"}
}

// MLPOut is the name of block i's linear layer that takes the MLP's
// activation back to the residual stream (GPT-2's c_proj, Llama's
// down_proj).
func (c Config) MLPOut(i int) string {
	if c.Family == Llama {
		return fmt.Sprintf("h.%d.mlp.down", i)
	}
	return fmt.Sprintf("h.%d.mlp.proj", i)
}

// New returns a model with GPT-2's initialisation: weights N(0, 0.02), the
// projections back into the residual stream scaled by 1/√(2·layers)
// (Radford et al., 2019), biases zero, norm gains one. A Llama-family
// model gets the same (its checkpoints are loaded, not trained here).
func New(cfg Config, dt tensor.Dtype, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, byName: map[string]*nn.Param{}}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	normal := func(p *nn.Param, std float64) {
		switch d := p.Value.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = float32(rng.NormFloat64() * std)
			}
		case []float64:
			for i := range d {
				d[i] = rng.NormFloat64() * std
			}
		}
	}
	ones := func(p *nn.Param) {
		for i := 0; i < p.Size(); i++ {
			p.Value.Set(i, one(dt))
		}
	}
	add := func(name string, shape ...int) *nn.Param {
		p := nn.NewParam(name, dt, shape...)
		p.Trainable = true
		m.Params = append(m.Params, p)
		m.byName[name] = p
		return p
	}
	llama := cfg.Family == Llama
	d, dq, dkv, residualStd := cfg.DModel, cfg.DQ(), cfg.DKV(), 0.02/math.Sqrt(2*float64(cfg.Layers))
	norm := func(name string) {
		ones(add(name+".weight", d))
		if !llama {
			add(name+".bias", d)
		}
	}
	normal(add("wte.weight", cfg.Vocab, d), 0.02)
	if !llama {
		normal(add("wpe.weight", cfg.Context, d), 0.01)
	}
	for i := 0; i < cfg.Layers; i++ {
		h := fmt.Sprintf("h.%d.", i)
		norm(h + "ln_1")
		for _, name := range cfg.LinearNames(i) {
			in, out, std := d, d, 0.02
			switch strings.TrimPrefix(name, h) {
			case "attn.q":
				out = dq
			case "attn.k", "attn.v":
				out = dkv
			case "mlp.fc", "mlp.gate", "mlp.up":
				out = cfg.DFF
			case "mlp.proj", "mlp.down":
				in, std = cfg.DFF, residualStd
			case "attn.o":
				in, std = dq, residualStd
			}
			normal(add(name+".weight", in, out), std)
			switch strings.TrimPrefix(name, h) {
			case "attn.q", "attn.k", "attn.v":
				if !llama || cfg.QKVBias {
					add(name+".bias", out)
				}
			default:
				if !llama {
					add(name+".bias", out)
				}
			}
		}
		if cfg.QKNorm {
			ones(add(h+"attn.q_norm.weight", cfg.Dh()))
			ones(add(h+"attn.k_norm.weight", cfg.Dh()))
		}
		norm(h + "ln_2")
	}
	norm("ln_f")
	if cfg.UntiedHead {
		normal(add("lm_head.weight", cfg.Vocab, d), 0.02)
	}
	return m, nil
}

func one(dt tensor.Dtype) any {
	if dt == tensor.Float64 {
		return 1.0
	}
	return float32(1)
}

// Param returns the parameter with the given name, or nil.
func (m *Model) Param(name string) *nn.Param { return m.byName[name] }

// Names lists parameter names in sorted order.
func (m *Model) Names() []string {
	names := make([]string, 0, len(m.byName))
	for n := range m.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NumParams counts the model's own weights (the tied head counts once).
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += p.Size()
	}
	return n
}

// SetTrainable marks every model weight trainable or frozen.
func (m *Model) SetTrainable(on bool) {
	for _, p := range m.Params {
		p.Trainable = on
	}
}

// Forward is one built forward pass: its inputs and the nodes hooks and
// losses read.
type Forward struct {
	Graph   *nn.Graph
	B, T    int       // batch and real sequence length
	Virtual int       // positions an input hook put in front of each sequence
	IDs     *nn.Input // token ids, B·T
	Pos     *nn.Input // GPT-2's position ids, B·(Virtual+T), filled by Build; nil for Llama, whose positions rotate q and k
	Hidden  []*G.Node // output of every block, [B·(Virtual+T), d]
	Final   *G.Node   // after the final norm, virtual positions dropped: [B·T, d]
	Logits  *G.Node   // [B·T, vocab]
}

// Build adds the forward pass for B sequences of T tokens to g, with the
// given hooks attached; hooks that CheckHooks rejects are an error.
func (m *Model) Build(g *nn.Graph, B, T int, hooks ...Hook) (*Forward, error) {
	if err := CheckHooks(hooks...); err != nil {
		return nil, err
	}
	f := &Forward{Graph: g, B: B, T: T, IDs: g.IntInput("ids", B*T)}
	c := &Ctx{Graph: g, B: B, T: T, Config: m.Config}
	x, err := nn.Embedding(f.IDs.Node, g.Param(m.Param("wte.weight")))
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		if ih, ok := h.(InputHook); ok {
			var p int
			if x, p, err = ih.HookInput(c, x); err != nil {
				return nil, err
			}
			f.Virtual += p
		}
	}
	n := f.Virtual + T
	if n > m.Config.Context {
		return nil, fmt.Errorf("model: %d positions (%d virtual + %d tokens) exceed the context of %d", n, f.Virtual, T, m.Config.Context)
	}
	c.N = n
	if m.Config.Family == GPT2 { // learned positions; Llama rotates q and k instead
		f.Pos = g.IntInput("pos", B*n)
		pos := make([]int, B*n)
		for i := range pos {
			pos[i] = i % n
		}
		f.Pos.SetInts(pos)
		pe, err := nn.Embedding(f.Pos.Node, g.Param(m.Param("wpe.weight")))
		if err != nil {
			return nil, err
		}
		if x, err = nn.Add(x, pe); err != nil {
			return nil, err
		}
	}
	for i := 0; i < m.Config.Layers; i++ {
		if x, err = m.block(c, i, x, hooks); err != nil {
			return nil, fmt.Errorf("model: block %d: %w", i, err)
		}
		f.Hidden = append(f.Hidden, x)
		for _, h := range hooks {
			if hh, ok := h.(HiddenHook); ok {
				if err := hh.HookHidden(c, i, x); err != nil {
					return nil, err
				}
			}
		}
	}
	return f, m.head(c, f, x, hooks)
}

// head finishes a forward pass from the last block's output x: final
// hooks, the final norm, virtual positions dropped, the output head.
func (m *Model) head(c *Ctx, f *Forward, x *G.Node, hooks []Hook) error {
	var err error
	for _, h := range hooks {
		if fh, ok := h.(FinalHook); ok {
			if x, err = fh.HookFinal(c, x); err != nil {
				return err
			}
		}
	}
	g := c.Graph
	if x, err = m.norm(g, "ln_f", x); err != nil {
		return err
	}
	if f.Virtual > 0 {
		if x, err = nn.DropLeadingRows(x, f.B, f.Virtual); err != nil {
			return err
		}
	}
	f.Final = x
	f.Logits, err = m.Logits(g, x)
	return err
}

// HeadWeight is the output head's weight, [vocab, d]: lm_head when the
// model has its own, else the token embedding (a tied head).
func (m *Model) HeadWeight() *nn.Param {
	if m.Config.UntiedHead {
		return m.Param("lm_head.weight")
	}
	return m.Param("wte.weight")
}

// Logits is the output head on final hidden states x, [n, d] -> [n, vocab].
// Every program that produces logits goes through it, so a model's own
// head is never mistaken for the embedding.
func (m *Model) Logits(g *nn.Graph, x *G.Node) (*G.Node, error) {
	return nn.MatMul(x, g.Param(m.HeadWeight()), false, true)
}

// BesideBackbone says whether the backbone's block outputs are fixed
// under training with these hooks: every model weight in or under a block
// frozen, and no hook that changes what a block computes (input, linear,
// prefix or block hooks). Only then may they come from a cache.
func (m *Model) BesideBackbone(hooks ...Hook) error {
	if err := CheckHooks(hooks...); err != nil {
		return err
	}
	for _, h := range hooks {
		switch h.(type) {
		case InputHook, LinearInputHook, LinearHook, PrefixHook, BlockHook:
			return fmt.Errorf("model: hook %T changes the backbone, so its block outputs cannot come from a cache", h)
		}
	}
	for _, p := range m.Params {
		if p.Trainable && p.Name != "ln_f.weight" && p.Name != "ln_f.bias" && p.Name != "lm_head.weight" {
			return fmt.Errorf("model: %s trains, so the block outputs change and cannot come from a cache", p.Name)
		}
	}
	return nil
}

// BuildFromHidden builds what follows the backbone for B sequences of T
// positions whose block outputs are inputs (an activation cache):
// Hidden[i] is block i's output, [B·T, d], and the hidden hooks see it as
// they would the block's. A method whose weights all lie beside the
// backbone (pac) computes exactly what it would on the whole pass. Hooks
// that change the backbone (input, linear, prefix or block hooks) are an
// error: the blocks do not run.
func (m *Model) BuildFromHidden(g *nn.Graph, B, T int, hooks ...Hook) (*Forward, []*nn.Input, error) {
	if err := m.BesideBackbone(hooks...); err != nil {
		return nil, nil, err
	}
	f := &Forward{Graph: g, B: B, T: T}
	c := &Ctx{Graph: g, B: B, T: T, N: T, Config: m.Config}
	var in []*nn.Input
	for i := 0; i < m.Config.Layers; i++ {
		h := g.MatrixInput(fmt.Sprintf("hidden.%d", i), B*T, m.Config.DModel)
		in = append(in, h)
		f.Hidden = append(f.Hidden, h.Node)
		for _, hk := range hooks {
			if hh, ok := hk.(HiddenHook); ok {
				if err := hh.HookHidden(c, i, h.Node); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return f, in, m.head(c, f, f.Hidden[len(f.Hidden)-1], hooks)
}

// block is one pre-norm transformer block.
func (m *Model) block(c *Ctx, i int, x *G.Node, hooks []Hook) (*G.Node, error) {
	h := fmt.Sprintf("h.%d.", i)
	a, err := m.norm(c.Graph, h+"ln_1", x)
	if err != nil {
		return nil, err
	}
	if a, err = m.attention(c, i, a, hooks); err != nil {
		return nil, err
	}
	if a, err = blockHooks(c, hooks, i, "attn", a); err != nil {
		return nil, err
	}
	if x, err = nn.Add(x, a); err != nil {
		return nil, err
	}
	f, err := m.norm(c.Graph, h+"ln_2", x)
	if err != nil {
		return nil, err
	}
	if f, err = m.mlp(c, h, f, hooks); err != nil {
		return nil, err
	}
	if f, err = blockHooks(c, hooks, i, "mlp", f); err != nil {
		return nil, err
	}
	return nn.Add(x, f)
}

// mlp is GPT-2's fc → GELU → proj, or Llama's SwiGLU:
// down(SiLU(gate(x)) ⊙ up(x)).
func (m *Model) mlp(c *Ctx, h string, x *G.Node, hooks []Hook) (*G.Node, error) {
	if m.Config.Family == Llama {
		g, err := m.linear(c, h+"mlp.gate", x, hooks)
		if err != nil {
			return nil, err
		}
		u, err := m.linear(c, h+"mlp.up", x, hooks)
		if err != nil {
			return nil, err
		}
		if g, err = nn.SiLU(g); err != nil {
			return nil, err
		}
		if g, err = nn.Mul(g, u); err != nil {
			return nil, err
		}
		return m.linear(c, h+"mlp.down", g, hooks)
	}
	f, err := m.linear(c, h+"mlp.fc", x, hooks)
	if err != nil {
		return nil, err
	}
	if f, err = nn.GELU(f); err != nil {
		return nil, err
	}
	return m.linear(c, h+"mlp.proj", f, hooks)
}

// attention is causal multi-head self-attention, with any key/value
// prefixes that hooks supply.
func (m *Model) attention(c *Ctx, i int, x *G.Node, hooks []Hook) (*G.Node, error) {
	h := fmt.Sprintf("h.%d.attn.", i)
	q, err := m.linear(c, h+"q", x, hooks)
	if err != nil {
		return nil, err
	}
	k, err := m.linear(c, h+"k", x, hooks)
	if err != nil {
		return nil, err
	}
	v, err := m.linear(c, h+"v", x, hooks)
	if err != nil {
		return nil, err
	}
	if m.Config.QKNorm { // Qwen3: each head of q and k normalised before the rotation
		if q, err = nn.RMSNormHeads(q, c.Graph.Param(m.Param(h+"q_norm.weight")), m.Config.normEps()); err != nil {
			return nil, err
		}
		if k, err = nn.RMSNormHeads(k, c.Graph.Param(m.Param(h+"k_norm.weight")), m.Config.normEps()); err != nil {
			return nil, err
		}
	}
	if m.Config.Family == Llama { // rotate the sequence's queries and keys; a prefix's keys stay as given
		if q, err = m.rotate(c, q, m.Config.Heads); err != nil {
			return nil, err
		}
		if k, err = m.rotate(c, k, m.Config.KV()); err != nil {
			return nil, err
		}
	}
	// A sliding window changes nothing until the keys outnumber it.
	shape := nn.AttnShape{B: c.B, T: c.N, S: c.N, H: m.Config.Heads, KVH: m.Config.KVHeads, Window: m.Config.Window(i)}
	for _, hk := range hooks {
		ph, ok := hk.(PrefixHook)
		if !ok {
			continue
		}
		pk, pv, err := ph.HookPrefix(c, i)
		if err != nil {
			return nil, err
		}
		if k, err = nn.PrependRows(pk, k, c.B); err != nil {
			return nil, err
		}
		if v, err = nn.PrependRows(pv, v, c.B); err != nil {
			return nil, err
		}
		shape.S += pk.Shape()[0]
	}
	p, err := nn.AttnProbs(q, k, shape)
	if err != nil {
		return nil, err
	}
	o, err := nn.AttnMix(p, v, shape)
	if err != nil {
		return nil, err
	}
	return m.linear(c, h+"o", o, hooks)
}

// linear applies the named layer, letting hooks rewrite its input and
// output.
func (m *Model) linear(c *Ctx, name string, x *G.Node, hooks []Hook) (*G.Node, error) {
	var err error
	for _, h := range hooks {
		if lh, ok := h.(LinearInputHook); ok {
			if x, err = lh.HookLinearInput(c, name, x); err != nil {
				return nil, err
			}
		}
	}
	var y *G.Node
	if b := m.Param(name + ".bias"); b != nil {
		y, err = nn.Linear(x, c.Graph.Param(m.Param(name+".weight")), c.Graph.Param(b))
	} else {
		y, err = nn.MatMul(x, c.Graph.Param(m.Param(name+".weight")), false, false)
	}
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		if lh, ok := h.(LinearHook); ok {
			if y, err = lh.HookLinear(c, name, x, y); err != nil {
				return nil, err
			}
		}
	}
	return y, nil
}

// rotate applies rotary position embeddings to x, [B·N, heads·dh]: the
// sequence's positions 0…N−1 (virtual tokens included, as learned
// positions count them).
func (m *Model) rotate(c *Ctx, x *G.Node, heads int) (*G.Node, error) {
	tab, err := m.ropeTable(c.Graph.Dtype, c.N)
	if err != nil {
		return nil, err
	}
	return nn.RoPE(x, nn.RoPEShape{B: c.B, T: c.N, H: heads}, tab)
}

// ropeTable is a rotation table covering n positions, shared by every
// graph: a table for the whole context of a long-context model would hold
// 10⁷ values for nothing, so it grows, by doubling, to the longest
// sequence built.
func (m *Model) ropeTable(dt tensor.Dtype, n int) (*nn.RoPETable, error) {
	m.ropeMu.Lock()
	defer m.ropeMu.Unlock()
	if t := m.rope; t != nil && t.MaxPos >= n && t.Dtype == dt {
		return t, nil
	}
	size := 256
	for size < n {
		size *= 2
	}
	t, err := m.newRopeTable(dt, min(size, m.Config.Context))
	if err != nil {
		return nil, err
	}
	m.rope = t
	return t, nil
}

func (m *Model) newRopeTable(dt tensor.Dtype, n int) (*nn.RoPETable, error) {
	var sc *nn.RoPEScaling
	if r := m.Config.RopeScaling; r != nil {
		sc = &nn.RoPEScaling{Type: r.Type(), Factor: r.Factor, LowFreqFactor: r.LowFreqFactor, HighFreqFactor: r.HighFreqFactor,
			OriginalMaxPositionEmbeddings: r.OriginalMaxPositionEmbeddings}
	}
	return nn.NewRoPETable(dt, m.Config.Dh(), m.Config.RopeTheta, sc, n)
}

// RotaryFrequencies are a Llama-family model's rotary inverse
// frequencies, rope scaling applied: position p turns the pair of a
// head's dimensions (j, j + Dh/2) by the angle p·f[j].
func (m *Model) RotaryFrequencies() ([]float64, error) {
	if m.Config.Family != Llama {
		return nil, fmt.Errorf("model: %s has no rotary embeddings", m.Config.Family)
	}
	t, err := m.newRopeTable(tensor.Float64, 1)
	if err != nil {
		return nil, err
	}
	return t.InvFreq, nil
}

// norm is GPT-2's LayerNorm or Llama's RMSNorm.
func (m *Model) norm(g *nn.Graph, name string, x *G.Node) (*G.Node, error) {
	if m.Config.Family == Llama {
		return nn.RMSNorm(x, g.Param(m.Param(name+".weight")), m.Config.normEps())
	}
	return nn.LayerNorm(x, g.Param(m.Param(name+".weight")), g.Param(m.Param(name+".bias")))
}

func blockHooks(c *Ctx, hooks []Hook, layer int, sub string, h *G.Node) (*G.Node, error) {
	var err error
	for _, hk := range hooks {
		if bh, ok := hk.(BlockHook); ok {
			if h, err = bh.HookBlock(c, layer, sub, h); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}
