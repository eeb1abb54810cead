// Package model is peftbench's base language model: a GPT-2-style decoder
// (pre-LayerNorm blocks, learned positions, output head tied to the token
// embedding) built on the engine in nn, with named layers and hook points
// that fine-tuning methods attach to, and checkpoints in the layout of
// Hugging Face's GPT-2 (config.json + model.safetensors + tokenizer).
//
// Read it top to bottom as the forward pass: Build embeds tokens and
// positions, runs each block (attention, then MLP, each in a residual
// branch), normalises and projects onto the vocabulary.
package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/peftbench/peftbench/nn"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Config is the architecture, with GPT-2's config.json field names.
type Config struct {
	Vocab   int `json:"vocab_size"`
	Context int `json:"n_positions"`
	DModel  int `json:"n_embd"`
	Layers  int `json:"n_layer"`
	Heads   int `json:"n_head"`
	DFF     int `json:"n_inner"`
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
	if c.DModel%c.Heads != 0 {
		return fmt.Errorf("model: config field \"n_embd\" (%d) is not a multiple of \"n_head\" (%d)", c.DModel, c.Heads)
	}
	return nil
}

// Model is a set of named parameters in one dtype. Building a graph never
// copies them: every graph of every shape shares the same tensors.
type Model struct {
	Config Config
	Params []*nn.Param // in a fixed order: embeddings, blocks, final norm
	byName map[string]*nn.Param
}

// LinearNames lists the linear layers of block i, in HF GPT-2 style.
func LinearNames(i int) []string {
	p := fmt.Sprintf("h.%d.", i)
	return []string{p + "attn.q", p + "attn.k", p + "attn.v", p + "attn.o", p + "mlp.fc", p + "mlp.proj"}
}

// New returns a model with GPT-2's initialisation: weights N(0, 0.02), the
// projections back into the residual stream scaled by 1/√(2·layers)
// (Radford et al., 2019), biases zero, LayerNorm gains one.
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
	d, residualStd := cfg.DModel, 0.02/math.Sqrt(2*float64(cfg.Layers))
	normal(add("wte.weight", cfg.Vocab, d), 0.02)
	normal(add("wpe.weight", cfg.Context, d), 0.01)
	for i := 0; i < cfg.Layers; i++ {
		h := fmt.Sprintf("h.%d.", i)
		ones(add(h+"ln_1.weight", d))
		add(h+"ln_1.bias", d)
		for _, name := range LinearNames(i) {
			in, out, std := d, d, 0.02
			switch {
			case name == h+"mlp.fc":
				out = cfg.DFF
			case name == h+"mlp.proj":
				in, std = cfg.DFF, residualStd
			case name == h+"attn.o":
				std = residualStd
			}
			normal(add(name+".weight", in, out), std)
			add(name+".bias", out)
		}
		ones(add(h+"ln_2.weight", d))
		add(h+"ln_2.bias", d)
	}
	ones(add("ln_f.weight", d))
	add("ln_f.bias", d)
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
	Pos     *nn.Input // position ids, B·(Virtual+T); filled by Build
	Hidden  []*G.Node // output of every block, [B·(Virtual+T), d]
	Final   *G.Node   // after the final LayerNorm, virtual positions dropped: [B·T, d]
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
// hooks, the final LayerNorm, virtual positions dropped, the output head.
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
	if x, err = m.layerNorm(g, "ln_f", x); err != nil {
		return err
	}
	if f.Virtual > 0 {
		if x, err = nn.DropLeadingRows(x, f.B, f.Virtual); err != nil {
			return err
		}
	}
	f.Final = x
	f.Logits, err = nn.MatMul(x, g.Param(m.Param("wte.weight")), false, true)
	return err
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
		if p.Trainable && p.Name != "ln_f.weight" && p.Name != "ln_f.bias" {
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

// block is one pre-LayerNorm transformer block.
func (m *Model) block(c *Ctx, i int, x *G.Node, hooks []Hook) (*G.Node, error) {
	h := fmt.Sprintf("h.%d.", i)
	a, err := m.layerNorm(c.Graph, h+"ln_1", x)
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
	f, err := m.layerNorm(c.Graph, h+"ln_2", x)
	if err != nil {
		return nil, err
	}
	if f, err = m.linear(c, h+"mlp.fc", f, hooks); err != nil {
		return nil, err
	}
	if f, err = nn.GELU(f); err != nil {
		return nil, err
	}
	if f, err = m.linear(c, h+"mlp.proj", f, hooks); err != nil {
		return nil, err
	}
	if f, err = blockHooks(c, hooks, i, "mlp", f); err != nil {
		return nil, err
	}
	return nn.Add(x, f)
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
	shape := nn.AttnShape{B: c.B, T: c.N, S: c.N, H: m.Config.Heads}
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
	y, err := nn.Linear(x, c.Graph.Param(m.Param(name+".weight")), c.Graph.Param(m.Param(name+".bias")))
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

func (m *Model) layerNorm(g *nn.Graph, name string, x *G.Node) (*G.Node, error) {
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
