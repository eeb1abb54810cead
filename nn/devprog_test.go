package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/peftbench/peftbench/nn/device"
	"github.com/peftbench/peftbench/nn/device/devicetest"
)

// The device tests run every op's kernels, forward and backward, on the
// OpenCL device (pocl in CI) and hold them to the CPU engine. They skip,
// saying why, where no OpenCL platform is installed.

func openDevice(t testing.TB) device.Device { return devicetest.Open(t) }

// devCase builds a graph whose loss is a masked cross-entropy over the
// output of the ops under test, every weight trainable, so a program runs
// each op's forward and backward kernels.
type devCase struct {
	name  string
	build func(b *devBuilder) (*G.Node, error) // the logits [N, V]
}

// devPenalties are one-element terms AddPenalty adds to the loss of the
// case of that name.
var devPenalties = map[string]func(b *devBuilder) (*G.Node, error){
	"penalty": func(b *devBuilder) (*G.Node, error) { // ‖p‖ as a vector of one, as AdaLoRA's penalty ends
		n, err := ColNorm(b.param("p", 1, 0, 9, 1))
		if err != nil {
			return nil, err
		}
		return Scale(n, 0.5)
	},
}

type devBuilder struct {
	t   testing.TB
	g   *Graph
	rng *rand.Rand
}

// param adds a trainable weight of normal values times sd plus shift.
func (b *devBuilder) param(name string, sd, shift float64, shape ...int) *G.Node {
	p := NewParam(name, tensor.Float32, shape...)
	for i := range p.F32() {
		p.F32()[i] = float32(b.rng.NormFloat64()*sd + shift)
	}
	p.Trainable = true
	return b.g.Param(p)
}

// ids adds an integer input of n ids below v, with repeats.
func (b *devBuilder) ids(name string, n, v int) *Input {
	in := b.g.IntInput(name, n)
	ids := make([]int, n)
	for i := range ids {
		ids[i] = b.rng.IntN(v)
	}
	in.SetInts(ids)
	return in
}

func attnCase(name string, s AttnShape, dh int, rope, gelu bool) devCase {
	return devCase{name, func(b *devBuilder) (*G.Node, error) {
		kv := s.kvHeads() * dh
		q := b.param("q", 1, 0, s.B*s.T, s.H*dh)
		k := b.param("k", 1, 0, s.B*s.T, kv)
		v := b.param("v", 1, 0, s.B*s.T, kv)
		var err error
		if rope {
			tab, err := NewRoPETable(tensor.Float32, dh, 10000, nil, 64)
			if err != nil {
				return nil, err
			}
			if q, err = RoPE(q, RoPEShape{s.B, s.T, s.H, 3}, tab); err != nil {
				return nil, err
			}
			if k, err = RoPE(k, RoPEShape{s.B, s.T, s.kvHeads(), 3}, tab); err != nil {
				return nil, err
			}
		}
		if P := s.S - s.T; P > 0 { // prefix tuning's keys and values
			if k, err = PrependRows(b.param("pk", 1, 0, P, kv), k, s.B); err != nil {
				return nil, err
			}
			if v, err = PrependRows(b.param("pv", 1, 0, P, kv), v, s.B); err != nil {
				return nil, err
			}
		}
		p, err := AttnProbs(q, k, s)
		if err != nil {
			return nil, err
		}
		y, err := AttnMix(p, v, s)
		if err != nil {
			return nil, err
		}
		if gelu {
			if y, err = GELU(y); err != nil {
				return nil, err
			}
		}
		return MatMul(y, b.param("wo", 0.5, 0, s.H*dh, 11), false, false)
	}}
}

var devCases = []devCase{
	{"linear", func(b *devBuilder) (*G.Node, error) {
		return Linear(b.param("x", 1, 0, 12, 9), b.param("w", 0.5, 0, 9, 13), b.param("b", 1, 0, 13))
	}},
	{"matmul", func(b *devBuilder) (*G.Node, error) {
		// every transpose: Aᵀ·Bᵀ, then (·)·B, Aᵀ·(·), (·)·Bᵀ
		y, err := MatMul(b.param("a", 1, 0, 6, 10), b.param("b", 1, 0, 7, 6), true, true)
		if err != nil {
			return nil, err
		}
		if y, err = MatMul(y, b.param("c", 0.5, 0, 7, 8), false, false); err != nil {
			return nil, err
		}
		if y, err = MatMul(b.param("d", 0.5, 0, 10, 9), y, true, false); err != nil {
			return nil, err
		}
		return MatMul(y, b.param("e", 0.5, 0, 12, 8), false, true)
	}},
	{"layernorm+gelu", func(b *devBuilder) (*G.Node, error) {
		y, err := LayerNorm(b.param("x", 2, 0.5, 10, 300), b.param("g", 0.2, 1, 300), b.param("b", 0.2, 0, 300))
		if err != nil {
			return nil, err
		}
		if y, err = GELU(y); err != nil {
			return nil, err
		}
		return MatMul(y, b.param("w", 0.1, 0, 300, 17), false, false)
	}},
	{"rmsnorm+silu+mul", func(b *devBuilder) (*G.Node, error) {
		y, err := RMSNorm(b.param("x", 2, 0.5, 10, 300), b.param("g", 0.2, 1, 300), 1e-6)
		if err != nil {
			return nil, err
		}
		gate, err := MatMul(y, b.param("wg", 0.1, 0, 300, 24), false, false)
		if err != nil {
			return nil, err
		}
		up, err := MatMul(y, b.param("wu", 0.1, 0, 300, 24), false, false)
		if err != nil {
			return nil, err
		}
		if gate, err = SiLU(gate); err != nil {
			return nil, err
		}
		return Mul(gate, up)
	}},
	{"elementwise", func(b *devBuilder) (*G.Node, error) {
		x := b.param("x", 1, 0, 8, 20)
		t, err := Tanh(x)
		if err != nil {
			return nil, err
		}
		s, err := Scale(t, 0.75)
		if err != nil {
			return nil, err
		}
		q, err := Div(s, b.param("den", 0.1, 2, 8, 20))
		if err != nil {
			return nil, err
		}
		return Add(q, x) // x read twice: gradient sums
	}},
	{"relu", func(b *devBuilder) (*G.Node, error) {
		x := b.param("x", 1, 0, 8, 20)
		r, err := ReLU(x)
		if err != nil {
			return nil, err
		}
		return Add(r, x) // x read twice: gradient sums
	}},
	{"dora-columns", func(b *devBuilder) (*G.Node, error) {
		w := b.param("w", 1, 0, 16, 12)
		n, err := ColNorm(w)
		if err != nil {
			return nil, err
		}
		r, err := Div(b.param("m", 0.1, 1, 12), n)
		if err != nil {
			return nil, err
		}
		y, err := MatMul(b.param("x", 1, 0, 9, 16), w, false, false)
		if err != nil {
			return nil, err
		}
		return ScaleColumns(y, r)
	}},
	{"embedding", func(b *devBuilder) (*G.Node, error) {
		ids := b.ids("ids", 40, 7)
		e, err := Embedding(ids.Node, b.param("table", 1, 0, 7, 10))
		if err != nil {
			return nil, err
		}
		return MatMul(e, b.param("w", 0.5, 0, 10, 9), false, false)
	}},
	{"prompt-rows", func(b *devBuilder) (*G.Node, error) {
		x, err := PrependRows(b.param("prompt", 1, 0, 3, 10), b.param("x", 1, 0, 2*5, 10), 2)
		if err != nil {
			return nil, err
		}
		if x, err = GELU(x); err != nil {
			return nil, err
		}
		if x, err = DropLeadingRows(x, 2, 3); err != nil {
			return nil, err
		}
		return MatMul(x, b.param("w", 0.5, 0, 10, 9), false, false)
	}},
	{"dropout", func(b *devBuilder) (*G.Node, error) {
		x, err := Dropout(b.param("x", 1, 0, 12, 30), 0.25, 7)
		if err != nil {
			return nil, err
		}
		return MatMul(x, b.param("w", 0.5, 0, 30, 9), false, false)
	}},
	attnCase("attention-gpt2", AttnShape{B: 2, T: 6, S: 6, H: 4}, 8, false, true),
	attnCase("attention-gqa-rope", AttnShape{B: 2, T: 6, S: 6, H: 4, KVH: 2}, 8, true, false),
	attnCase("attention-prefix", AttnShape{B: 2, T: 5, S: 8, H: 2, KVH: 1}, 8, false, false),
	// Mistral's sliding window, with and without a prefix's keys before
	// the sequence.
	attnCase("attention-window", AttnShape{B: 2, T: 7, S: 7, H: 2, KVH: 1, Window: 3}, 8, false, false),
	attnCase("attention-window-prefix", AttnShape{B: 2, T: 5, S: 8, H: 2, KVH: 2, Window: 4}, 8, false, false),
	// Qwen3's RMSNorm on each head of a row.
	{"rmsnorm-heads", func(b *devBuilder) (*G.Node, error) {
		y, err := RMSNormHeads(b.param("x", 2, 0.5, 10, 4*16), b.param("g", 0.2, 1, 16), 1e-6)
		if err != nil {
			return nil, err
		}
		return MatMul(y, b.param("w", 0.1, 0, 4*16, 17), false, false)
	}},
	{"penalty", func(b *devBuilder) (*G.Node, error) {
		return MatMul(b.param("x", 1, 0, 6, 5), b.param("w", 0.5, 0, 5, 7), false, false)
	}},
}

// devCaseNamed is the case of devCases called name.
func devCaseNamed(t testing.TB, name string) devCase {
	for _, c := range devCases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no device case %q", name)
	return devCase{}
}

// compileCase builds c's program on the CPU with the logits' token
// log-probabilities as an output beside the loss.
func compileCase(t testing.TB, c devCase, seed uint64) (*Program, *G.Node) {
	b := &devBuilder{t: t, g: NewGraph(tensor.Float32), rng: rand.New(rand.NewPCG(seed, 1))}
	logits, err := c.build(b)
	if err != nil {
		t.Fatal(err)
	}
	n, v := logits.Shape()[0], logits.Shape()[1]
	targets := b.ids("targets", n, v)
	mask := b.g.FloatInput("mask", n)
	w := make([]float64, n)
	for i := range w {
		w[i] = float64(i % 3) // some rows out, some weighted twice
	}
	mask.SetFloats(w)
	loss, err := CrossEntropy(logits, targets.Node, mask.Node)
	if err != nil {
		t.Fatal(err)
	}
	if penalty := devPenalties[c.name]; penalty != nil {
		pen, err := penalty(b)
		if err != nil {
			t.Fatal(err)
		}
		if loss, err = AddPenalty(loss, pen); err != nil {
			t.Fatal(err)
		}
	}
	lp, err := TokenLogProbs(logits, targets.Node)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(b.g, loss, lp)
	if err != nil {
		t.Fatal(err)
	}
	return p, lp
}

// devClose reports the worst error of got against want relative to the
// largest magnitude of want: the kernels' float32 sums run in other
// orders than the CPU's, so elements near zero carry the rounding of the
// whole row.
func devClose(got []float32, want []float64) (float64, int) {
	scale := 1e-30
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	worst, at := 0.0, -1
	for i := range want {
		if e := math.Abs(float64(got[i])-want[i]) / scale; e > worst || math.IsNaN(e) {
			worst, at = e, i
		}
	}
	return worst, at
}

// deviceOpTypes are the engine's op types, each of which must run in
// some case of TestDeviceOpsMatchCPU.
var deviceOpTypes = []string{"add", "scale", "binary", "scaleColumns", "colSum", "colNorm", "tanh", "gelu", "silu",
	"matMul", "linear", "layerNorm", "layerNormGrad", "rmsNorm", "rmsNormGrad", "rope", "embedding", "embeddingGrad",
	"crossEntropy", "crossEntropyGrad", "tokenLogProb", "attnProbs", "attnProbsGrad", "attnMix", "attnMixGrad",
	"dropout", "dropoutGrad", "prependRows", "splitRows", "addPenalty", "scalarVec"}

func TestDeviceOpsMatchCPU(t *testing.T) {
	dev := openDevice(t)
	const tol = 1e-5
	seen := map[string]bool{}
	defer func() {
		for _, op := range deviceOpTypes {
			if !seen["*nn."+op+"Op"] {
				t.Errorf("no case runs %sOp", op)
			}
		}
	}()
	for _, c := range devCases {
		t.Run(c.name, func(t *testing.T) {
			p, lp := compileCase(t, c, 5)
			for _, st := range p.steps {
				seen[fmt.Sprintf("%T", st.op)] = true
			}
			if c.name == "dropout" { // both runs must use one mask
				for _, st := range p.steps {
					if op, ok := st.op.(*dropoutOp); ok {
						defer func() { op.hold = false }()
						op.hold = true
					}
				}
			}
			must(t, p.Run())
			w := NewDeviceWeights(dev)
			defer w.Close()
			dp, err := p.OnDevice(w)
			must(t, err)
			defer dp.Close()
			must(t, dp.Run())
			loss, err := dp.LossValue()
			must(t, err)
			if e := math.Abs(loss-p.LossValue()) / math.Abs(p.LossValue()); e > tol {
				t.Errorf("loss %v on the device, %v on the CPU (relative error %.2g)", loss, p.LossValue(), e)
			}
			got, err := dp.Read(lp)
			must(t, err)
			if e, at := devClose(got, Float64s(p.Value(lp))); e > tol {
				t.Errorf("token log-probs: error %.2g at %d", e, at)
			}
			for i, prm := range p.Params {
				g, err := dp.Read(p.Grads[i])
				must(t, err)
				if e, at := devClose(g, p.Grad(i)); e > tol {
					t.Errorf("gradient of %s: error %.2g at %d (device %v, CPU %v)", prm.Name, e, at, g[at], p.Grad(i)[at])
				}
			}
			t.Logf("%d steps, %d parameters, loss %.6f", len(p.steps), len(p.Params), loss)
		})
	}
}

// TestDeviceRunsAreBitIdentical runs one program twice on the device: no
// reduction depends on the timing of threads.
func TestDeviceRunsAreBitIdentical(t *testing.T) {
	dev := openDevice(t)
	for _, c := range []devCase{devCaseNamed(t, "layernorm+gelu"), devCaseNamed(t, "embedding"), devCaseNamed(t, "attention-gqa-rope")} {
		p, _ := compileCase(t, c, 9)
		w := NewDeviceWeights(dev)
		dp, err := p.OnDevice(w)
		must(t, err)
		var first [][]float32
		for run := range 2 {
			must(t, dp.Run())
			for i := range p.Params {
				g, err := dp.Read(p.Grads[i])
				must(t, err)
				if run == 0 {
					first = append(first, g)
					continue
				}
				for j := range g {
					if math.Float32bits(g[j]) != math.Float32bits(first[i][j]) {
						t.Fatalf("%s: gradient of %s differs between runs at %d: %v, %v", c.name, p.Params[i].Name, j, first[i][j], g[j])
					}
				}
			}
		}
		dp.Close()
		w.Close()
	}
}

func TestDeviceProgramErrors(t *testing.T) {
	dev := openDevice(t)
	p, _ := compileCase(t, devCaseNamed(t, "embedding"), 3)
	w := NewDeviceWeights(dev)
	defer w.Close()
	dp, err := p.OnDevice(w)
	must(t, err)
	defer dp.Close()
	for _, in := range p.slots {
		if d, ok := in.value.(*tensor.Dense); ok && p.inputs[d] && d.Dtype() == tensor.Int && d.Shape()[0] == 40 {
			d.Ints()[4] = 99
		}
	}
	err = dp.Run()
	if err == nil || !containsAll(err.Error(), "id 99", "position 4") {
		t.Fatalf("an id outside the table: got %v", err)
	}
	// float64 programs stay on the CPU
	p64, _ := twoLayer(t, tensor.Float64)
	if _, err := p64.OnDevice(w); err == nil {
		t.Fatal("a float64 program compiled for a device")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// TestDeviceAdamWMatchesCPU takes three AdamW steps on the CPU and on
// the device from the same weights and the same gradients (the CPU
// program's, copied to the device: Adam's update of a gradient near zero
// amplifies any difference in it), with clipping: the weights agree within
// 1e-5 of their scale (the device keeps its moments in float32), and so
// do the gradient norms.
func TestDeviceAdamWMatchesCPU(t *testing.T) {
	dev := openDevice(t)
	p, params := twoLayer(t, tensor.Float32)
	params[len(params)-1].LRScale = 4 // one parameter at its own rate (LoRA+)
	w := NewDeviceWeights(dev)
	defer w.Close()
	dp, err := p.OnDevice(w) // copies the weights in
	must(t, err)
	defer dp.Close()
	cpu, gpu := NewAdamW(0.1), NewDeviceAdamW(NewAdamW(0.1), w)
	cpu.ClipNorm, gpu.ClipNorm = 5, 5
	defer gpu.Close()
	for s := range 3 {
		must(t, p.Run())
		for _, g := range p.Grads {
			v, _ := dp.view(g)
			must(t, dev.WriteFloats(v, dense[float32](p.Value(g))))
		}
		lr := 1e-2 * float64(s+1)
		dn, err := gpu.Step(dp, lr)
		must(t, err)
		cn := cpu.Step(p, lr)
		if math.Abs(dn-cn) > 1e-5*cn {
			t.Errorf("step %d: gradient norm %v on the device, %v on the CPU", s, dn, cn)
		}
		if s == 0 && cn <= 5 {
			t.Fatalf("the first gradient norm %v does not reach clipping; the test would not check it", cn)
		}
	}
	want := make([][]float64, len(params))
	for i, prm := range params {
		want[i] = Float64s(prm.Value)
	}
	must(t, w.Download(params))
	for i, prm := range params {
		got := prm.F32()
		if e, at := devClose(got, want[i]); e > 1e-5 {
			t.Errorf("%s after 3 steps: error %.2g at %d (device %v, CPU %v)", prm.Name, e, at, got[at], want[i][at])
		}
	}
}
