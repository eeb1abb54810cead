package methods

import (
	"fmt"
	"image/color"
	"math/rand/v2"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// adapter is the bottleneck adapter of Houlsby et al. (2019, arXiv
// 1902.00751): after the attention and/or the MLP branch of every block,
// before the branch joins the residual stream, the branch output h passes
// through a small residual network,
//
//	h → h + act(h·W_down + b_down)·W_up + b_up,
//
// with W_down [d, m], W_up [m, d] and a bottleneck m ≪ d. The model stays
// frozen; only the adapters train. Houlsby places two adapters per block;
// placement "mlp" keeps only the one after the MLP, the placement Pfeiffer
// et al. (2021, arXiv 2005.00247) found to match it at half the cost.
//
// The activation is GPT-2's GELU, the only nonlinearity the engine has
// besides tanh; there is no "activation" hyper-parameter until another one
// exists.
//
// Adapters do not merge: the nonlinearity keeps them out of the base
// weights, so they cost inference time, unlike LoRA.
type adapter struct{}

func init() { Register(adapter{}) }

func (adapter) Name() string { return "adapter" }
func (adapter) Doc() string {
	return "Houlsby adapters: a bottleneck MLP with a residual connection after the attention and/or MLP branch of every block"
}

// DefaultLR is tuned on the shipped tiny model by a short probe (64 examples,
// 40 steps of 8, spam and sentiment): the up-projection starts at zero; 3e-3
// learns the label tokens within 40 steps without diverging.
func (adapter) DefaultLR() float64 { return 3e-3 }

func (adapter) Params() []Spec {
	return []Spec{
		{Name: "bottleneck", Kind: Int, Default: 16, Min: 1, Max: 4096, Doc: "width m of the adapter's hidden layer"},
		{Name: "placement", Kind: String, Default: "both", Choices: []string{"both", "attn", "mlp"},
			Doc: "where adapters go: after both branches of each block (Houlsby), after the attention branch only, or after the MLP branch only (Pfeiffer)"},
	}
}

// adapterLayer is one adapter's weights.
type adapterLayer struct {
	down, downB, up, upB *nn.Param
}

// adapterHook applies the adapters to the branch outputs; layers[i] maps
// a branch ("attn" or "mlp") of block i to its adapter.
type adapterHook struct {
	layers []map[string]*adapterLayer
}

func (adapter) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	h, own, err := newAdapters(base.Model, v, seed)
	if err != nil {
		return nil, err
	}
	base.Model.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own}, nil
}

// newAdapters creates the adapters of every block. W_up and b_up start at
// zero, so the adapted model starts as the base model exactly (Houlsby et
// al. initialise near the identity with small Gaussian weights in both
// projections; a zero up-projection makes the identity exact, as LoRA's
// zero B does). W_down must not be zero as well: with both projections
// zero, neither weight matrix ever receives a gradient and only b_up
// trains. It is drawn from U(−1/√d, 1/√d), the Kaiming-uniform
// initialisation LoRA's A uses here. Biases start at zero.
func newAdapters(m *model.Model, v Values, seed uint64) (*adapterHook, []*nn.Param, error) {
	var branches []string
	switch p := v.String("placement"); p {
	case "both":
		branches = []string{"attn", "mlp"}
	case "attn", "mlp":
		branches = []string{p}
	default:
		return nil, nil, fmt.Errorf("field \"placement\": unknown placement %q", p)
	}
	d, r := m.Config.DModel, v.Int("bottleneck")
	rng := rand.New(rand.NewPCG(seed, 0xada))
	h := &adapterHook{layers: make([]map[string]*adapterLayer, m.Config.Layers)}
	var own []*nn.Param
	for i := range m.Config.Layers {
		h.layers[i] = map[string]*adapterLayer{}
		for _, br := range branches {
			l := newAdapterLayer(m, fmt.Sprintf("h.%d.%s.adapter", i, br), d, r, rng)
			h.layers[i][br] = l
			own = append(own, l.down, l.downB, l.up, l.upB)
		}
	}
	return h, own, nil
}

// newAdapterLayer makes one bottleneck adapter named name (…_down.weight,
// …): W_down Kaiming-uniform from rng, the rest zero.
func newAdapterLayer(m *model.Model, name string, d, r int, rng *rand.Rand) *adapterLayer {
	l := &adapterLayer{
		down:  newOwn(m, name+"_down.weight", d, r),
		downB: newOwn(m, name+"_down.bias", r),
		up:    newOwn(m, name+"_up.weight", r, d),
		upB:   newOwn(m, name+"_up.bias", d),
	}
	uniformInit(l.down, rng, d)
	return l
}

// apply is the adapter's update act(x·W_down + b_down)·W_up + b_up, without
// the residual.
func (l *adapterLayer) apply(g *nn.Graph, x *model.Node) (*model.Node, error) {
	z, err := nn.Linear(x, g.Param(l.down), g.Param(l.downB))
	if err != nil {
		return nil, err
	}
	if z, err = nn.GELU(z); err != nil {
		return nil, err
	}
	return nn.Linear(z, g.Param(l.up), g.Param(l.upB))
}

func (h *adapterHook) HookBlock(c *model.Ctx, layer int, branch string, x *model.Node) (*model.Node, error) {
	if layer >= len(h.layers) {
		return x, nil
	}
	l, ok := h.layers[layer][branch]
	if !ok {
		return x, nil
	}
	z, err := l.apply(c.Graph, x)
	if err != nil {
		return nil, err
	}
	return nn.Add(x, z)
}

// Footprint: layers·branches·(2·d·m + m + d) weights; every block keeps
// each adapter's input and its bottleneck before and after the activation.
func (adapter) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	d, m := int64(a.DModel), int64(v.Int("bottleneck"))
	branches := int64(1)
	if v.String("placement") == "both" {
		branches = 2
	}
	fp := &Footprint{Added: int64(a.Layers) * branches * (2*d*m + m + d), PerToken: make([]int64, a.Layers),
		Modules: []string{"adapters after " + v.String("placement")}}
	for i := range fp.PerToken {
		fp.PerToken[i] = branches * (d + 2*m) * a.AddedBytes // input, bottleneck before and after the activation
	}
	return fp, nil
}

// Display: brown, a downward triangle.
func (adapter) Display() display.Style {
	return display.Style{Order: 40, Color: color.RGBA{0x8c, 0x56, 0x4b, 0xff}, Marker: display.TriangleDown}
}
