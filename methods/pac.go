package methods

import (
	"fmt"
	"image/color"
	"math/rand/v2"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// pac is the Parallel Adapters of Pluto and Charon (Ouyang, Ye et al.,
// 2024, arXiv 2408.10746): a chain of small adapters beside the frozen
// backbone. Adapter i reads block i's output h_i together with the chain
// so far, a_i = a_{i−1} + act((h_i + a_{i−1})·W_down_i + b_down_i)·W_up_i +
// b_up_i (a_{−1} = 0), and the last a joins the backbone's final hidden
// state before the final LayerNorm and the head. The adapters only read
// the backbone: no trainable weight lies in or under a block, so the
// backward pass never runs through the backbone (the engine
// differentiates only towards trainable weights), and the backbone's
// hidden states for a training example are the same in every epoch: an
// activation cache (cache_mb) keeps them from the first epoch, and later
// epochs run only the adapters and the head.
//
// W_up and b_up start at zero, so the adapted model starts as the base
// model exactly; W_down is Kaiming-uniform, as for adapters.
type pac struct{}

func init() { Register(pac{}) }

func (pac) Name() string { return "pac" }
func (pac) Doc() string {
	return "Pluto and Charon's parallel adapters: a chain of bottleneck adapters beside the frozen backbone, reading every block's output, added to the final hidden state; no backward pass through the backbone"
}

// DefaultLR: as adapters' (a bottleneck MLP whose up-projection starts at
// zero).
func (pac) DefaultLR() float64 { return 3e-3 }

func (pac) Params() []Spec {
	return []Spec{
		{Name: "bottleneck", Kind: Int, Default: 16, Min: 1, Max: 4096, Doc: "width m of each parallel adapter's hidden layer"},
		{Name: "cache_mb", Kind: Int, Default: 1024, Min: 0, Max: 1 << 20,
			Doc: "limit of the activation cache (MiB): the backbone's block outputs from the first epoch feed the later ones; 0 runs the backbone every epoch"},
	}
}

// pacHook builds the adapter chain. HookHidden collects each block's
// output while a forward pass is built; HookFinal then builds the chain on
// them. Builds run one at a time, so one slice serves.
type pacHook struct {
	layers []*adapterLayer
	hidden []*model.Node
}

func (pac) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	d, r := m.Config.DModel, v.Int("bottleneck")
	rng := rand.New(rand.NewPCG(seed, 0x9ac))
	h := &pacHook{}
	var own []*nn.Param
	for i := range m.Config.Layers {
		l := newAdapterLayer(m, fmt.Sprintf("pac.%d.adapter", i), d, r, rng)
		h.layers = append(h.layers, l)
		own = append(own, l.down, l.downB, l.up, l.upB)
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own, CacheLimit: int64(v.Int("cache_mb")) << 20}, nil
}

func (h *pacHook) HookHidden(c *model.Ctx, layer int, x *model.Node) error {
	if layer == 0 {
		h.hidden = h.hidden[:0]
	}
	h.hidden = append(h.hidden, x)
	return nil
}

func (h *pacHook) HookFinal(c *model.Ctx, x *model.Node) (*model.Node, error) {
	if len(h.hidden) != len(h.layers) {
		return nil, fmt.Errorf("pac: saw %d block outputs for %d adapters", len(h.hidden), len(h.layers))
	}
	g := c.Graph
	var a *model.Node
	for i, l := range h.layers {
		in := h.hidden[i]
		var err error
		if a != nil {
			if in, err = nn.Add(in, a); err != nil {
				return nil, err
			}
		}
		z, err := l.apply(g, in)
		if err != nil {
			return nil, err
		}
		if a == nil {
			a = z
		} else if a, err = nn.Add(a, z); err != nil {
			return nil, err
		}
	}
	h.hidden = h.hidden[:0]
	return nn.Add(x, a)
}

// Footprint: layers·(2·d·m + m + d) weights; no block keeps activations
// for a backward pass (First = Layers); each adapter keeps its input and
// its bottleneck before and after the activation.
func (pac) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	d, m := int64(a.DModel), int64(v.Int("bottleneck"))
	fp := &Footprint{Added: int64(a.Layers) * (2*d*m + m + d), First: a.Layers, PerToken: make([]int64, a.Layers),
		Modules: []string{"parallel adapters beside every block"}}
	for i := range fp.PerToken {
		fp.PerToken[i] = (d + 2*m) * a.AddedBytes
	}
	return fp, nil
}

// Display: olive, a pentagon.
func (pac) Display() display.Style {
	return display.Style{Order: 45, Color: color.RGBA{0x80, 0x80, 0x00, 0xff}, Marker: display.Pentagon}
}
