package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// randParam makes a float64 parameter with values in [-scale, scale].
func randParam(rng *rand.Rand, name string, trainable bool, scale float64, shape ...int) *Param {
	p := NewParam(name, tensor.Float64, shape...)
	for i := range p.F64() {
		p.F64()[i] = (2*rng.Float64() - 1) * scale
	}
	p.Trainable = trainable
	return p
}

// headLoss turns any matrix y [N, d] into a scalar through a dense layer to
// 7 classes and the masked cross-entropy, so every op is checked through
// the loss the models train on.
func headLoss(t *testing.T, g *Graph, rng *rand.Rand, y *G.Node) *G.Node {
	t.Helper()
	n, d := y.Shape()[0], y.Shape()[1]
	const classes = 7
	w := g.Param(randParam(rng, "head.w", true, 0.5, d, classes))
	b := g.Param(randParam(rng, "head.b", true, 0.5, classes))
	logits, err := Linear(y, w, b)
	if err != nil {
		t.Fatal(err)
	}
	tg, mask := g.IntInput("targets", n), g.FloatInput("mask", n)
	ids, ws := make([]int, n), make([]float64, n)
	for i := range ids {
		ids[i] = rng.IntN(classes)
		ws[i] = float64(rng.IntN(3)) // zero weights exercise the mask
	}
	ws[0] = 1
	tg.SetInts(ids)
	mask.SetFloats(ws)
	loss, err := CrossEntropy(logits, tg.Node, mask.Node)
	if err != nil {
		t.Fatal(err)
	}
	return loss
}

func checkGraph(t *testing.T, g *Graph, loss *G.Node, rng *rand.Rand) {
	t.Helper()
	p, err := Compile(g, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	worst, where, err := GradCheck(p, 0, rng)
	if err != nil {
		t.Fatal(err)
	}
	if worst > 1e-4 {
		t.Errorf("max relative error %.3g at %s", worst, where)
	}
	t.Logf("max relative error %.3g", worst)
}

func TestGradients(t *testing.T) {
	attn := AttnShape{B: 2, T: 3, S: 5, H: 2} // a 2-key prefix and causal masking
	cases := []struct {
		name  string
		build func(g *Graph, rng *rand.Rand) (*G.Node, error)
	}{
		{"MatMul", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return MatMul(g.Param(randParam(rng, "a", true, 1, 4, 3)), g.Param(randParam(rng, "b", true, 1, 3, 5)), false, false)
		}},
		{"MatMulTransB", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return MatMul(g.Param(randParam(rng, "a", true, 1, 4, 3)), g.Param(randParam(rng, "b", true, 1, 5, 3)), false, true)
		}},
		{"MatMulTransA", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return MatMul(g.Param(randParam(rng, "a", true, 1, 3, 4)), g.Param(randParam(rng, "b", true, 1, 3, 5)), true, false)
		}},
		{"MatMulTransAB", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return MatMul(g.Param(randParam(rng, "a", true, 1, 3, 4)), g.Param(randParam(rng, "b", true, 1, 5, 3)), true, true)
		}},
		{"Linear", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return Linear(g.Param(randParam(rng, "x", true, 1, 4, 3)), g.Param(randParam(rng, "w", true, 1, 3, 5)), g.Param(randParam(rng, "b", true, 1, 5)))
		}},
		{"Add", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return Add(g.Param(randParam(rng, "a", true, 1, 4, 3)), g.Param(randParam(rng, "b", true, 1, 4, 3)))
		}},
		{"LayerNorm", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return LayerNorm(g.Param(randParam(rng, "x", true, 2, 4, 6)), g.Param(randParam(rng, "gamma", true, 1, 6)), g.Param(randParam(rng, "beta", true, 1, 6)))
		}},
		{"GELU", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return GELU(g.Param(randParam(rng, "x", true, 3, 4, 5)))
		}},
		{"Embedding", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			ids := g.IntInput("ids", 6)
			ids.SetInts([]int{3, 0, 3, 1, 4, 3}) // repeats must accumulate
			return Embedding(ids.Node, g.Param(randParam(rng, "table", true, 1, 5, 4)))
		}},
		{"AttnProbs", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			q := g.Param(randParam(rng, "q", true, 1.5, attn.B*attn.T, 4))
			k := g.Param(randParam(rng, "k", true, 1.5, attn.B*attn.S, 4))
			return AttnProbs(q, k, attn)
		}},
		{"AttnMix", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			p := g.Param(randParam(rng, "p", true, 1, attn.B*attn.H*attn.T, attn.S))
			v := g.Param(randParam(rng, "v", true, 1, attn.B*attn.S, 4))
			return AttnMix(p, v, attn)
		}},
		{"Attention", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			q := g.Param(randParam(rng, "q", true, 1.5, attn.B*attn.T, 4))
			k := g.Param(randParam(rng, "k", true, 1.5, attn.B*attn.S, 4))
			v := g.Param(randParam(rng, "v", true, 1, attn.B*attn.S, 4))
			p, err := AttnProbs(q, k, attn)
			if err != nil {
				return nil, err
			}
			return AttnMix(p, v, attn)
		}},
		{"PrependRows", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return PrependRows(g.Param(randParam(rng, "prefix", true, 1, 2, 3)), g.Param(randParam(rng, "x", true, 1, 6, 3)), 3)
		}},
		{"Scale", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return Scale(g.Param(randParam(rng, "x", true, 1, 3, 4)), -2.5)
		}},
		{"Mul", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return Mul(g.Param(randParam(rng, "a", true, 1, 3, 4)), g.Param(randParam(rng, "b", true, 1, 3, 4)))
		}},
		{"Div", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			b := randParam(rng, "b", true, 1, 3, 4)
			for i, v := range b.F64() { // keep the denominator away from zero
				b.F64()[i] = math.Copysign(0.5+math.Abs(v), v)
			}
			return Div(g.Param(randParam(rng, "a", true, 1, 3, 4)), g.Param(b))
		}},
		{"ScaleColumns", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return ScaleColumns(g.Param(randParam(rng, "x", true, 1, 3, 4)), g.Param(randParam(rng, "s", true, 1, 4)))
		}},
		{"ColNorm", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			n, err := ColNorm(g.Param(randParam(rng, "w", true, 1, 5, 3)))
			if err != nil {
				return nil, err
			}
			// A vector output: spread it over rows for the head.
			return ScaleColumns(g.Param(randParam(rng, "x", false, 1, 2, 3)), n)
		}},
		{"Tanh", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return Tanh(g.Param(randParam(rng, "x", true, 2, 3, 4)))
		}},
		{"ReLU", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			x := randParam(rng, "x", true, 1, 3, 4)
			for i, v := range x.F64() { // away from the kink, where finite differences straddle it
				x.F64()[i] = math.Copysign(0.1+math.Abs(v), v)
			}
			return ReLU(g.Param(x))
		}},
		{"Dropout", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			y, err := Dropout(g.Param(randParam(rng, "x", true, 1, 6, 5)), 0.4, 3)
			if err == nil {
				y.Op().(*dropoutOp).hold = true
			}
			return y, err
		}},
		{"DropLeadingRows", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return DropLeadingRows(g.Param(randParam(rng, "x", true, 1, 8, 3)), 2, 1)
		}},
		{"RMSNorm", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return RMSNorm(g.Param(randParam(rng, "x", true, 2, 4, 6)), g.Param(randParam(rng, "gamma", true, 1, 6)), 1e-5)
		}},
		{"RoPE", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			tab, err := NewRoPETable(tensor.Float64, 4, 10000, &RoPEScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 1024}, 6)
			if err != nil {
				return nil, err
			}
			return RoPE(g.Param(randParam(rng, "x", true, 1, 2*3, 2*4)), RoPEShape{B: 2, T: 3, H: 2, Start: 2}, tab)
		}},
		{"SiLU", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			return SiLU(g.Param(randParam(rng, "x", true, 3, 4, 5)))
		}},
		{"AttnProbsGQA", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			s := AttnShape{B: 2, T: 3, S: 5, H: 4, KVH: 2}
			q := g.Param(randParam(rng, "q", true, 1.5, s.B*s.T, 8))
			k := g.Param(randParam(rng, "k", true, 1.5, s.B*s.S, 4))
			return AttnProbs(q, k, s)
		}},
		{"AttnMixGQA", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			s := AttnShape{B: 2, T: 3, S: 5, H: 4, KVH: 2}
			p := g.Param(randParam(rng, "p", true, 1, s.B*s.H*s.T, s.S))
			v := g.Param(randParam(rng, "v", true, 1, s.B*s.S, 4))
			return AttnMix(p, v, s)
		}},
		{"AttentionGQA", func(g *Graph, rng *rand.Rand) (*G.Node, error) {
			s := AttnShape{B: 2, T: 3, S: 5, H: 4, KVH: 2}
			q := g.Param(randParam(rng, "q", true, 1.5, s.B*s.T, 8))
			k := g.Param(randParam(rng, "k", true, 1.5, s.B*s.S, 4))
			v := g.Param(randParam(rng, "v", true, 1, s.B*s.S, 4))
			p, err := AttnProbs(q, k, s)
			if err != nil {
				return nil, err
			}
			return AttnMix(p, v, s)
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			g := NewGraph(tensor.Float64)
			y, err := c.build(g, rng)
			if err != nil {
				t.Fatal(err)
			}
			checkGraph(t, g, headLoss(t, g, rng, y), rng)
		})
	}
}

// The attention probabilities are a causal distribution: rows sum to one and
// no query sees a key after its own position (beyond the prefix).
// TestAddPenaltyGradient checks AddPenalty's value and, by finite
// differences, the gradient through it to the penalty's weights and the
// loss's.
func TestAddPenaltyGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	g := NewGraph(tensor.Float64)
	x := g.Param(randParam(rng, "x", true, 1, 4, 3))
	loss := headLoss(t, g, rng, x)
	p := randParam(rng, "p", true, 1, 5, 1)
	n, err := ColNorm(g.Param(p))
	if err != nil {
		t.Fatal(err)
	}
	if n, err = Scale(n, 0.5); err != nil {
		t.Fatal(err)
	}
	total, err := AddPenalty(loss, n)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(g, total, loss)
	if err != nil {
		t.Fatal(err)
	}
	if err := prog.Run(); err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, v := range p.F64() {
		want += v * v
	}
	want = scalar(prog.Value(loss)) + 0.5*math.Sqrt(want)
	if got := prog.LossValue(); math.Abs(got-want) > 1e-12 {
		t.Errorf("loss with penalty %v, want %v", got, want)
	}
	prog.Close()
	checkGraph(t, g, total, rng)
	if _, err := AddPenalty(loss, x); err == nil {
		t.Error("AddPenalty took a 4×3 penalty")
	}
}

func TestAttnProbsCausal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := AttnShape{B: 2, T: 4, S: 6, H: 2}
	g := NewGraph(tensor.Float64)
	q := g.Param(randParam(rng, "q", false, 30, s.B*s.T, 4)) // large scores: stability
	k := g.Param(randParam(rng, "k", false, 30, s.B*s.S, 4))
	p, err := AttnProbs(q, k, s)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(g, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := prog.Run(); err != nil {
		t.Fatal(err)
	}
	probs := Float64s(prog.Value(p))
	for r := 0; r < s.B*s.H*s.T; r++ {
		t0 := r % s.T
		var sum float64
		for j := 0; j < s.S; j++ {
			v := probs[r*s.S+j]
			if j >= s.visible(t0) && v != 0 {
				t.Fatalf("row %d (t=%d) attends to future key %d: %g", r, t0, j, v)
			}
			if v != v {
				t.Fatalf("row %d is NaN", r)
			}
			sum += v
		}
		if d := sum - 1; d > 1e-12 || d < -1e-12 {
			t.Fatalf("row %d sums to %v", r, sum)
		}
	}
}

func TestCrossEntropyErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name    string
		targets []int
		mask    []float64
	}{
		{"target out of range", []int{0, 9}, []float64{1, 1}},
		{"empty mask", []int{0, 1}, []float64{0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := NewGraph(tensor.Float64)
			logits := g.Param(randParam(rng, "logits", true, 1, 2, 3))
			tg, m := g.IntInput("t", 2), g.FloatInput("m", 2)
			tg.SetInts(c.targets)
			m.SetFloats(c.mask)
			loss, err := CrossEntropy(logits, tg.Node, m.Node)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(g, loss)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

// halfAddOp is Add with a backward pass that forgets its second input: the
// check below must catch it, or the gradient checks prove nothing.
type halfAddOp struct{ addOp }

func (op *halfAddOp) DiffWRT(int) []bool { return []bool{true, false} }

func TestGradCheckCatchesWrongBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := NewGraph(tensor.Float64)
	x := g.Param(randParam(rng, "x", true, 1, 3, 4))
	y, err := G.ApplyOp(&halfAddOp{addOp{opBase: opBase{"HalfAdd"}}}, x, x)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(g, headLoss(t, g, rng, y))
	if err != nil {
		t.Fatal(err)
	}
	worst, _, err := GradCheck(p, 0, rng)
	if err != nil {
		t.Fatal(err)
	}
	if worst < 0.1 {
		t.Fatalf("a backward pass off by half passed the check (error %.3g)", worst)
	}
}
