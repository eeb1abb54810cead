package methods

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// prefix is prefix tuning (Li & Liang, 2021, arXiv 2101.00190) in the
// deep form of P-tuning v2 (Liu et al., 2022, arXiv 2110.07602): every
// layer's attention gains L trainable key and value vectors that every
// query attends to, as if L virtual tokens preceded the input in each
// layer separately. Unlike prompt tuning it steers every layer directly,
// not only through the input, and it takes up no positions: the prefix
// rows enter attention after the key and value projections, so a sequence
// keeps the whole context. Only the prefix trains.
//
// With projection, the prefix is produced by a small MLP from an L×d
// embedding, as Li & Liang do to stabilise training (they found optimising
// the prefix directly sensitive to the learning rate and initialisation)
// and as HF PEFT's prefix_projection does: E [L, d] → Linear(d, hidden) →
// tanh → Linear(hidden, 2·layers·d). The last layer is held as 2·layers
// separate Linear(hidden, d) heads, one per layer and per key or value:
// the same function and parameter count as one wide layer split into
// column blocks, without a slicing op. After training the MLP could be
// evaluated once and thrown away; it is kept here so adapter files hold
// what trained.
type prefix struct{}

func init() { Register(prefix{}) }

func (prefix) Name() string { return "prefix" }
func (prefix) Doc() string {
	return "prefix tuning: L trainable key and value vectors in every attention layer, optionally from an MLP"
}

// DefaultLR is tuned on the shipped tiny model by a short probe (64 examples,
// 40 steps of 8, spam and sentiment): a prefix acts on every layer but starts
// far from useful keys and values; 1e-2 barely moved the loss in 40 steps.
func (prefix) DefaultLR() float64 { return 3e-2 }

func (prefix) Params() []Spec {
	return []Spec{
		{Name: "length", Kind: Int, Default: 8, Min: 1, Max: math.Inf(1), Doc: "prefix length L: key and value rows per layer"},
		{Name: "projection", Kind: Bool, Default: false, Doc: "produce the prefix with an MLP from an L×d embedding (Li & Liang's reparameterisation)"},
		{Name: "hidden", Kind: Int, Default: 64, Min: 1, Max: math.Inf(1), Doc: "width of the reparameterisation MLP (with projection)"},
	}
}

// prefixHook supplies each layer's prefix, either stored (keys, values)
// or computed by the MLP (emb, fc, heads).
type prefixHook struct {
	keys, values []*nn.Param // [L, d] per layer

	emb          *nn.Param   // [L, d]
	fcW, fcB     *nn.Param   // [d, hidden], [hidden]
	headW, headB []*nn.Param // per layer: key head at 2i, value head at 2i+1; [hidden, d], [d]

	// hidden caches tanh(E·W + b) per graph: Build asks for the prefix
	// layer by layer, and the MLP's first layer is shared by all of them.
	// An entry lives as long as the hook, which is as long as the trainer
	// holding the same graphs.
	mu     sync.Mutex
	hidden map[*nn.Graph]*model.Node
}

func (prefix) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	L, ctx := v.Int("length"), m.Config.Context
	if L >= ctx {
		// The prefix takes no positions, but a prefix as long as the
		// context would outweigh every real token in attention; the cap
		// matches prompt tuning's so both sweep the same lengths.
		return nil, fmt.Errorf("field \"length\": a prefix of %d is not shorter than the context of %d", L, ctx)
	}
	d, dkv, layers := m.Config.DModel, m.Config.DKV(), m.Config.Layers
	rng := rand.New(rand.NewPCG(seed, 0x9f1))
	h := &prefixHook{}
	var own []*nn.Param
	if !v.Bool("projection") {
		// N(0, 0.02), the scale of GPT-2's weights: small prefixes start
		// close to the base model and grow as training needs.
		for i := range layers {
			k := newOwn(m, fmt.Sprintf("prefix.h.%d.key", i), L, dkv)
			val := newOwn(m, fmt.Sprintf("prefix.h.%d.value", i), L, dkv)
			normalInit(k, rng, 0.02)
			normalInit(val, rng, 0.02)
			h.keys, h.values = append(h.keys, k), append(h.values, val)
			own = append(own, k, val)
		}
	} else {
		// PyTorch's defaults, which HF PEFT's prefix encoder gets: the
		// embedding N(0, 1), each Linear's weight and bias U(±1/√in).
		hid := v.Int("hidden")
		h.emb = newOwn(m, "prefix.embedding", L, d)
		h.fcW, h.fcB = newOwn(m, "prefix.mlp.fc.weight", d, hid), newOwn(m, "prefix.mlp.fc.bias", hid)
		normalInit(h.emb, rng, 1)
		uniformInit(h.fcW, rng, d)
		uniformInit(h.fcB, rng, d)
		own = append(own, h.emb, h.fcW, h.fcB)
		for i := range layers {
			for _, kv := range []string{"key", "value"} {
				w := newOwn(m, fmt.Sprintf("prefix.h.%d.%s.weight", i, kv), hid, dkv)
				b := newOwn(m, fmt.Sprintf("prefix.h.%d.%s.bias", i, kv), dkv)
				uniformInit(w, rng, hid)
				uniformInit(b, rng, hid)
				h.headW, h.headB = append(h.headW, w), append(h.headB, b)
				own = append(own, w, b)
			}
		}
		h.hidden = map[*nn.Graph]*model.Node{}
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own}, nil
}

func (h *prefixHook) HookPrefix(c *model.Ctx, layer int) (k, v *model.Node, err error) {
	g := c.Graph
	if h.emb == nil {
		return g.Param(h.keys[layer]), g.Param(h.values[layer]), nil
	}
	hid, err := h.hiddenOf(g)
	if err != nil {
		return nil, nil, err
	}
	if k, err = nn.Linear(hid, g.Param(h.headW[2*layer]), g.Param(h.headB[2*layer])); err != nil {
		return nil, nil, err
	}
	v, err = nn.Linear(hid, g.Param(h.headW[2*layer+1]), g.Param(h.headB[2*layer+1]))
	return k, v, err
}

// hiddenOf returns tanh(E·W + b) [L, hidden] in g, building it on the
// first layer's call.
func (h *prefixHook) hiddenOf(g *nn.Graph) (*model.Node, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n, ok := h.hidden[g]; ok {
		return n, nil
	}
	z, err := nn.Linear(g.Param(h.emb), g.Param(h.fcW), g.Param(h.fcB))
	if err != nil {
		return nil, err
	}
	n, err := nn.Tanh(z)
	if err != nil {
		return nil, err
	}
	h.hidden[g] = n
	return n, nil
}

// Footprint: 2·layers·L·d_kv weights, or with projection L·d + d·h + h +
// 2·layers·(h·d_kv + d_kv) and the MLP's hidden values (before and after
// tanh) and output kept once per step; every block attends over L more
// keys and values and keeps its activations.
func (prefix) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	lp := v.Int("length")
	if lp >= a.Context {
		return nil, fmt.Errorf("field \"length\": a prefix of %d is not shorter than the context of %d", lp, a.Context)
	}
	L, d, dkv, LP := int64(a.Layers), int64(a.DModel), int64(a.DKV), int64(lp)
	fp := &Footprint{KVExtra: lp, Modules: []string{"prefix keys and values"}}
	if v.Bool("projection") {
		h := int64(v.Int("hidden"))
		fp.Added = LP*d + d*h + h + L*2*(h*dkv+dkv)
		fp.Global = LP * (2*h + 2*L*dkv) * a.AddedBytes // the MLP's hidden before and after tanh, and its output
	} else {
		fp.Added = 2 * L * LP * dkv
	}
	fp.Notes = []string{fmt.Sprintf("prefix: %d key/value rows, d_kv = %d wide, in every block; every block keeps its activations", lp, dkv)}
	return fp, nil
}

// Display: vermillion, a cross (×).
func (prefix) Display() display.Style {
	return display.Style{Order: 70, Color: color.RGBA{0xd5, 0x5e, 0x00, 0xff}, Marker: display.Cross}
}

// errPrefixGPT2 says why GPT-2's prefix has no PEFT file: PEFT hands the
// prefix to the model as its cache of P past tokens, so the real tokens
// take GPT-2's learned positions P … P+T−1, where this package's prefix,
// which takes no positions, leaves them at 0 … T−1. No prefix makes up for
// other position embeddings, so the logits would differ.
var errPrefixGPT2 = fmt.Errorf("%w for GPT-2's prefix: PEFT's prefix, a cache of past tokens, moves the real tokens to learned positions P … P+T−1, which this package's prefix does not", ErrNoPEFT)

// prefixPEFTCheck refuses the models whose prefix PEFT's format cannot
// hold: GPT-2 (errPrefixGPT2) and sliding-window attention, whose window
// PEFT measures from the cached prefix's positions.
func prefixPEFTCheck(m *model.Model) error {
	if m.Config.Family != model.Llama {
		return errPrefixGPT2
	}
	for i := range m.Config.Layers {
		if w := m.Config.Window(i); w > 0 {
			return fmt.Errorf("%w for a prefix with sliding-window attention (window %d in layer %d): PEFT's window counts the cached prefix's positions, this package's does not", ErrNoPEFT, w, i)
		}
	}
	return nil
}

// PEFT writes the prefix as HF PEFT's PREFIX_TUNING without projection:
// prompt_embeddings [L, layers·2·d_kv], virtual token p's row holding, for
// each layer i, its key (columns (2i)·d_kv …) and value ((2i+1)·d_kv …),
// each head after head, the layout PEFT's get_prompt reads back with
// view(L, 2·layers, kv_heads, d_h).permute and split(2). With projection
// the MLP's outputs are written, the key/values it computes, as PEFT
// itself saves a projected prefix (token_dim is d_kv and
// num_attention_heads the key/value heads, as PEFT sets them for grouped
// queries).
//
// PEFT hands the prefix to the model as a cache of L past tokens: the real
// tokens' queries are rotated as positions L … L+T−1, not 0 … T−1 as
// here, while cached keys are used as they are. Real keys move with the
// queries, and a rotation only ever sees the difference of two positions,
// so only the prefix keys need changing: each is written rotated by L
// positions, R(L)·k, for R(L+t)q · R(L)k = R(t)q · k. Llama's family only
// (prefixPEFTCheck).
func (prefix) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	if err := prefixPEFTCheck(m); err != nil {
		return nil, nil, err
	}
	h := a.Hooks[0].(*prefixHook)
	keys, values := h.effective()
	L, dkv, layers := a.Values.Int("length"), m.Config.DKV(), m.Config.Layers
	freq, err := m.RotaryFrequencies()
	if err != nil {
		return nil, nil, err
	}
	width := layers * 2 * dkv
	emb := make([]float64, L*width)
	for i := range layers {
		k := rotateRows(keys[i], L, dkv, freq, float64(L))
		for p := range L {
			copy(emb[p*width+2*i*dkv:], k[p*dkv:(p+1)*dkv])
			copy(emb[p*width+(2*i+1)*dkv:], values[i][p*dkv:(p+1)*dkv])
		}
	}
	cfg := map[string]any{
		"peft_type": "PREFIX_TUNING", "num_virtual_tokens": L, "token_dim": dkv, "num_layers": layers,
		"num_attention_heads": m.Config.KV(), "num_transformer_submodules": 1, "prefix_projection": false,
		"encoder_hidden_size": nil,
	}
	return cfg, map[string]PEFTTensor{"prompt_embeddings": {Shape: []int{L, width}, Values: emb}}, nil
}

// effective returns each layer's key and value rows, [L·d_kv] row-major,
// as attention sees them: stored, or computed by the MLP.
func (h *prefixHook) effective() (keys, values [][]float64) {
	if h.emb == nil {
		for i := range h.keys {
			keys, values = append(keys, nn.Float64s(h.keys[i].Value)), append(values, nn.Float64s(h.values[i].Value))
		}
		return keys, values
	}
	sh := h.fcW.Value.Shape()
	d, hid := sh[0], sh[1]
	e, w, b := nn.Float64s(h.emb.Value), nn.Float64s(h.fcW.Value), nn.Float64s(h.fcB.Value)
	L := len(e) / d
	z := make([]float64, L*hid) // tanh(E·W + b)
	for p := range L {
		for j := range hid {
			s := b[j]
			for c := range d {
				s += e[p*d+c] * w[c*hid+j]
			}
			z[p*hid+j] = math.Tanh(s)
		}
	}
	for n := range h.headW {
		hw, hb := nn.Float64s(h.headW[n].Value), nn.Float64s(h.headB[n].Value)
		dkv := len(hb)
		out := make([]float64, L*dkv)
		for p := range L {
			for c := range dkv {
				s := hb[c]
				for j := range hid {
					s += z[p*hid+j] * hw[j*dkv+c]
				}
				out[p*dkv+c] = s
			}
		}
		if n%2 == 0 {
			keys = append(keys, out)
		} else {
			values = append(values, out)
		}
	}
	return keys, values
}

// rotateRows returns rows [n, width] (width heads of 2·len(freq)) turned
// by pos positions of rotary embeddings, as Llama's apply_rotary_pos_emb
// turns a key: each head's (j, j + half) by pos·freq[j]. A negative pos
// turns them back.
func rotateRows(x []float64, n, width int, freq []float64, pos float64) []float64 {
	half := len(freq)
	out := make([]float64, len(x))
	for r := range n {
		for h := 0; h < width; h += 2 * half {
			row := x[r*width+h:]
			o := out[r*width+h:]
			for j, f := range freq {
				s, c := math.Sincos(pos * f)
				a, b := row[j], row[j+half]
				o[j], o[j+half] = a*c-b*s, b*c+a*s
			}
		}
	}
	return out
}
