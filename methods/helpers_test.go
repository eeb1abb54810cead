package methods

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// fingerprint is an FNV-1a 64 hash of parameters' values as float64 bits,
// to pin them exactly.
func fingerprint(ps ...*nn.Param) uint64 {
	h := uint64(14695981039346656037)
	for _, p := range ps {
		for _, v := range nn.Float64s(p.Value) {
			b := math.Float64bits(v)
			for range 8 {
				h = (h ^ (b & 0xff)) * 1099511628211
				b >>= 8
			}
		}
	}
	return h
}

// What methods draw at attach, the dropout streams of their layers and
// what merging computes must not move: trial results depend on them. The
// values were computed before the helpers moved to helpers.go (LoHa's and
// LoKr's when they were added).
func TestInitialisationAndMergePinned(t *testing.T) {
	for _, c := range []struct {
		name string
		want uint64
	}{{"h.0.attn.q", 0xb0ea8c9689ac546b}, {"h.3.mlp.fc", 0xfc0956b36caa4a2e}} {
		if got := dropoutSeed(0, c.name); got != c.want {
			t.Errorf("dropout seed of %q = %#x, want %#x", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		dt          tensor.Dtype
		method      string
		raw         map[string]any
		own, merged uint64
	}{
		{tensor.Float32, "lora", map[string]any{"rank": 2, "targets": "q,v,fc"}, 0xe8b4086175cd0773, 0x17965337db0a5b89},
		{tensor.Float32, "dora", map[string]any{"rank": 2, "targets": "q,v,fc"}, 0xafd49a64ac4c6658, 0xf77b85385cc91469},
		{tensor.Float32, "prompt", map[string]any{"length": 3, "init": "random"}, 0x466664618ebacbe8, 0},
		{tensor.Float32, "prompt", map[string]any{"length": 3}, 0x3cf44333691657ba, 0},
		{tensor.Float32, "prefix", nil, 0x109bee37303db743, 0},
		{tensor.Float32, "prefix", map[string]any{"projection": true, "hidden": 5}, 0xc3b6a0d763c1ed83, 0},
		{tensor.Float32, "adapter", nil, 0xdd525750ed3b6cc4, 0},
		{tensor.Float32, "ia3", nil, 0xbd82a2d1757f6e65, 0x67362b23e55b4aca},
		{tensor.Float32, "bitfit", nil, 0x3e70b835e05ebda5, 0},
		{tensor.Float32, "scratch", nil, 0x885def56e6aae691, 0},
		{tensor.Float32, "loha", map[string]any{"rank": 2, "targets": "q,v,fc"}, 0xe10394bbd0faf1dc, 0xa65007816c5828bc},
		{tensor.Float32, "lokr", map[string]any{"rank": 1, "decompose_both": true, "targets": "q,v,fc"}, 0x0d3582f12dc268ad, 0x8aa2dfb4e6075a32},
		{tensor.Float64, "lora", map[string]any{"rank": 2, "targets": "q,v,fc"}, 0xf0bfceb87f80d80a, 0x55b4810ea05b7209},
		{tensor.Float64, "dora", map[string]any{"rank": 2, "targets": "q,v,fc"}, 0x95763149520aa72f, 0x958f91638a4f589e},
		{tensor.Float64, "prompt", map[string]any{"length": 3, "init": "random"}, 0xc67830269f914342, 0},
		{tensor.Float64, "prompt", map[string]any{"length": 3}, 0x8683d9e65feeaab8, 0},
		{tensor.Float64, "prefix", nil, 0xff613ee934d77180, 0},
		{tensor.Float64, "prefix", map[string]any{"projection": true, "hidden": 5}, 0x6db57c8137a87317, 0},
		{tensor.Float64, "adapter", nil, 0x3939cc6e016022ce, 0},
		{tensor.Float64, "ia3", nil, 0xbd82a2d1757f6e65, 0x56c4ce4720b78399},
		{tensor.Float64, "bitfit", nil, 0x3e70b835e05ebda5, 0},
		{tensor.Float64, "scratch", nil, 0x794013c1a79296c0, 0},
		{tensor.Float64, "loha", map[string]any{"rank": 2, "targets": "q,v,fc"}, 0x43ffa2ba70521bab, 0xe7eda3e0aa7c76cc},
		{tensor.Float64, "lokr", map[string]any{"rank": 1, "decompose_both": true, "targets": "q,v,fc"}, 0x9bd989e5d4323527, 0x0549610d67bea244},
	} {
		base := newBase(t, shapeB, c.dt)
		a := attach(t, base, c.method, c.raw)
		if got := fingerprint(a.Own...); got != c.own {
			t.Errorf("%v %s %v: initial weights %#x, want %#x", c.dt, c.method, c.raw, got, c.own)
		}
		if a.Merger == nil {
			continue
		}
		perturb(a, base.Model, rand.New(rand.NewPCG(4, 4)))
		if err := a.Merger.Merge(); err != nil {
			t.Fatal(err)
		}
		if got := fingerprint(append(append([]*nn.Param{}, base.Model.Params...), a.Own...)...); got != c.merged {
			t.Errorf("%v %s %v: merged weights %#x, want %#x", c.dt, c.method, c.raw, got, c.merged)
		}
	}
}

// badHook meant to be a model.LinearHook but lost the input argument.
type badHook struct{}

func (badHook) HookLinear(c *model.Ctx, name string, y *model.Node) (*model.Node, error) {
	return y, nil
}

// mistyped is a method whose hook would compile and do nothing.
type mistyped struct{ full }

func (mistyped) Name() string { return "test-mistyped" }
func (mistyped) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	return &Attached{Hooks: []model.Hook{badHook{}}}, nil
}

func TestAttachRejectsMistypedHook(t *testing.T) {
	Register(mistyped{})
	defer Unregister("test-mistyped")
	_, err := Attach(newBase(t, shapeA, tensor.Float32), "test-mistyped", nil, 1)
	if err == nil || !strings.Contains(err.Error(), "methods.badHook") || !strings.Contains(err.Error(), "HookLinear") {
		t.Fatalf("Attach: %v, want an error naming methods.badHook and HookLinear", err)
	}
}
