package methods

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// LoRA's options (rsLoRA, LoRA+, PiSSA and OLoRA initialisations), each
// through the checks every method has.

// loraOptionCases are option settings the generic checks run on.
var loraOptionCases = map[string]map[string]any{
	"rslora":   {"rank": 2, "rslora": true, "targets": "q,v,fc"},
	"lora+":    {"rank": 2, "lr_ratio": 16.0},
	"pissa":    {"rank": 2, "init": "pissa", "targets": "q,v,fc,proj"},
	"olora":    {"rank": 2, "init": "olora", "targets": "q,k,o,proj"},
	"pissa-rs": {"rank": 1, "init": "pissa", "rslora": true},
}

// The options are late: a trial's spec holds them only away from their
// defaults, so LoRA trials recorded before them keep their ids.
func TestLoRAOptionsLeaveTrialParamsAlone(t *testing.T) {
	m, _ := Get("lora")
	v, err := Resolve(m, map[string]any{"rank": 4})
	if err != nil {
		t.Fatal(err)
	}
	got := TrialParams(m, v)
	if want := (map[string]any{"rank": 4, "alpha": 16.0, "dropout": 0.0, "targets": []string{"q", "v"}}); !cmp.Equal(got, want) {
		t.Errorf("default options: trial params %v, want %v", got, want)
	}
	v, _ = Resolve(m, map[string]any{"rslora": true, "init": "olora", "lr_ratio": 16})
	got = TrialParams(m, v)
	if got["rslora"] != true || got["init"] != "olora" || got["lr_ratio"] != 16.0 {
		t.Errorf("set options missing from trial params %v", got)
	}
	if back, err := Resolve(m, got); err != nil || !cmp.Equal(back, v) {
		t.Errorf("trial params do not resolve back: %v, %v", back, err)
	}
}

func TestLoRAOptionsGradient(t *testing.T) {
	for name, raw := range loraOptionCases {
		for _, arch := range architectures {
			t.Run(name+"/"+arch.name, func(t *testing.T) {
				base := newBase(t, arch.cfg, tensor.Float64)
				checkGradient(t, base, attach(t, base, "lora", raw), 1)
			})
		}
	}
}

// PiSSA and OLoRA move part of W into the adapter: the model at start, and
// merged at start, is the base model; after steps, the (changed) base
// weights are untouched and merging and unmerging still work.
func TestLoRAInitKeepsTheModel(t *testing.T) {
	for _, init := range []string{"pissa", "olora"} {
		for _, arch := range architectures {
			t.Run(init+"/"+arch.name, func(t *testing.T) {
				base := newBase(t, arch.cfg, tensor.Float64)
				orig := map[string][]float64{}
				for _, p := range base.Model.Params {
					orig[p.Name] = nn.Float64s(p.Value)
				}
				plain := logits(t, base.Model)
				a := attach(t, base, "lora", map[string]any{"rank": 2, "init": init, "targets": "q,v,fc"})
				changed := false
				for _, p := range base.Model.Params {
					changed = changed || !cmp.Equal(orig[p.Name], nn.Float64s(p.Value))
				}
				if !changed {
					t.Fatal("no base weight changed")
				}
				if d := maxDiff(plain, logits(t, base.Model, a.Hooks...)); d > 1e-12 {
					t.Errorf("at start the adapted model differs from the base by %.3g", d)
				}
				if err := a.Merger.Merge(); err != nil {
					t.Fatal(err)
				}
				for _, p := range base.Model.Params {
					if d := maxDiff(orig[p.Name], nn.Float64s(p.Value)); d > 1e-13 {
						t.Errorf("merged at start, %s differs from the base by %.3g", p.Name, d)
					}
				}
				if err := a.Merger.Unmerge(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	eachArchitecture(t, []string{"lora"}, func(t *testing.T, cfg model.Config, _ string) {
		for name, raw := range loraOptionCases {
			base := newBase(t, cfg, tensor.Float32)
			a := attach(t, base, "lora", raw)
			before := map[*nn.Param][]float32{}
			for _, p := range base.Model.Params {
				before[p] = append([]float32(nil), p.F32()...)
			}
			trainSteps(t, base, a, 3, 2)
			for p, was := range before {
				if !cmp.Equal(was, p.F32()) {
					t.Fatalf("%s: frozen %s changed", name, p.Name)
				}
			}
			perturb(a, base.Model, rand.New(rand.NewPCG(3, 3)))
			adapted := logits(t, base.Model, a.Hooks...)
			if err := a.Merger.Merge(); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(adapted, logits(t, base.Model)); d > 1e-4 {
				t.Errorf("%s: merged model differs from the adapted one by %.3g", name, d)
			}
			if err := a.Merger.Unmerge(); err != nil {
				t.Fatal(err)
			}
			for p, was := range before {
				if !cmp.Equal(was, p.F32()) {
					t.Fatalf("%s: %s not restored bit for bit", name, p.Name)
				}
			}
		}
	})
}

// The options change no count: r·(in + out) per adapted layer.
func TestLoRAOptionsCount(t *testing.T) {
	formulas := map[string]func(c model.Config) int{
		"rslora":   func(c model.Config) int { return c.Layers * 2 * (2*c.DModel + 2*c.DModel + c.DModel + c.DFF) },
		"lora+":    func(c model.Config) int { return c.Layers * 2 * 4 * c.DModel },
		"pissa":    func(c model.Config) int { return c.Layers * 2 * (4*c.DModel + 2*(c.DModel+c.DFF)) },
		"olora":    func(c model.Config) int { return c.Layers * 2 * (6*c.DModel + c.DFF + c.DModel) },
		"pissa-rs": func(c model.Config) int { return c.Layers * 1 * 4 * c.DModel },
	}
	for name, raw := range loraOptionCases {
		checkCount(t, "lora", raw, formulas[name])
	}
}

// LoRA+ sets B's learning rate to lr_ratio times A's: after one AdamW step
// from B = 0 (where Adam moves each weight by about lr·sign(g)), B has
// moved 4 times as far as with no ratio, and A (whose gradient is zero
// while B is) the same.
func TestLoRAPlusRatio(t *testing.T) {
	moved := map[float64][]float64{}
	var aMoved [][]float64
	for _, ratio := range []float64{1, 4} {
		base := newBase(t, shapeA, tensor.Float64)
		a := attach(t, base, "lora", map[string]any{"rank": 2, "lr_ratio": ratio})
		for _, p := range a.Own {
			want := 0.0
			if ratio != 1 && p.Value.Shape()[0] == 2 { // B is [r, out]
				want = ratio
			}
			if p.LRScale != want {
				t.Fatalf("ratio %g: %s has LRScale %g, want %g", ratio, p.Name, p.LRScale, want)
			}
		}
		trainSteps(t, base, a, 1, 5)
		var bs, as []float64
		for _, p := range a.Own {
			if p.Value.Shape()[0] == 2 {
				bs = append(bs, nn.Float64s(p.Value)...)
			} else {
				as = append(as, nn.Float64s(p.Value)...)
			}
		}
		moved[ratio] = bs
		aMoved = append(aMoved, as)
	}
	for i, b1 := range moved[1] {
		if b1 == 0 || math.Abs(moved[4][i]/b1-4) > 1e-6 {
			t.Fatalf("B[%d] moved %.6g with ratio 4, %.6g without", i, moved[4][i], b1)
		}
	}
	if d := maxDiff(aMoved[0], aMoved[1]); d != 0 {
		t.Errorf("A moved differently with the ratio (by %.3g)", d)
	}
}

// rsLoRA, PiSSA and OLoRA on hand-computed cases, in the papers' [out, in]
// layout (this package stores transposes; see TestLoRAOutputByHand).
func TestLoRAOptionsByHand(t *testing.T) {
	// rsLoRA: rank 2, alpha 1, so the scale is 1/√2 rather than 1/2. The
	// second case of TestLoRAOutputByHand: x·W₀ᵀ = (5, 2), (1, −1) and
	// x·Aᵀ·Bᵀ = (6, −1), (4, −3).
	t.Run("rslora", func(t *testing.T) {
		base := newBase(t, tiny, tensor.Float64)
		a := attach(t, base, "lora", map[string]any{"targets": "h.1.attn.v", "rank": 2, "alpha": 1.0, "rslora": true})
		setLowRank(t, base.Model, a, "h.1.attn.v", [][]float64{{1, 2}, {0, 1}}, []float64{0, 0},
			[][]float64{{1, 0}, {1, 1}}, [][]float64{{0, 2}, {-1, 0}})
		s := 1 / math.Sqrt2
		want := [][]float64{{5 + 6*s, 2 - s}, {1 + 4*s, -1 - 3*s}}
		checkRows(t, "rsLoRA's output", throughLinear(t, base.Model, "h.1.attn.v", [][]float64{{1, 2}, {3, -1}}, a.Hooks...), want)
	})
	// Each case sets W₀ before attaching (the initialisation reads it) and
	// checks B·A, W₀'s residual and |B| (the factors' common sign is the
	// factorisation's choice).
	for _, tc := range []struct {
		init         string
		alpha        float64
		w0           [][]float64 // [out, in]
		ba, residual [][]float64 // s·B·A and W₀ − s·B·A
		absB, absA   []float64   // |B| [out], |A| [in] (rank 1)
	}{{
		// W₀ = diag(3, 1): the top singular triplet is (3, e₁, e₁), so
		// s·B·A = diag(3, 0), and with s = 1/4, A = √(3/s)·e₁ᵀ = (√12, 0).
		init: "pissa", alpha: 0.25, w0: [][]float64{{3, 0}, {0, 1}},
		ba: [][]float64{{3, 0}, {0, 0}}, residual: [][]float64{{0, 0}, {0, 1}},
		absB: []float64{math.Sqrt(12), 0}, absA: []float64{math.Sqrt(12), 0},
	}, {
		// W₀ = [[3, 1], [4, 2]] = Q·R with Q's first column (0.6, 0.8)
		// and R's first row (5, 2.2): B = (0.6, 0.8)ᵀ, A = (5, 2.2) and
		// with s = 1, B·A = [[3, 1.32], [4, 1.76]].
		init: "olora", alpha: 1, w0: [][]float64{{3, 1}, {4, 2}},
		ba: [][]float64{{3, 1.32}, {4, 1.76}}, residual: [][]float64{{0, -0.32}, {0, 0.24}},
		absB: []float64{0.6, 0.8}, absA: []float64{5, 2.2},
	}} {
		t.Run(tc.init, func(t *testing.T) {
			base := newBase(t, tiny, tensor.Float64)
			m := base.Model
			setRows(t, m.Param("h.0.attn.q.weight"), transpose(tc.w0)...)
			a := attach(t, base, "lora", map[string]any{"targets": "h.0.attn.q", "rank": 1, "alpha": tc.alpha, "init": tc.init})
			rowsOf := func(p *nn.Param) [][]float64 {
				v, s := nn.Float64s(p.Value), p.Value.Shape()
				out := make([][]float64, s[0])
				for i := range out {
					out[i] = v[i*s[1] : (i+1)*s[1]]
				}
				return out
			}
			lowA := transpose(rowsOf(weight(t, m, a, "h.0.attn.q.lora_A"))) // [1, in]
			lowB := transpose(rowsOf(weight(t, m, a, "h.0.attn.q.lora_B"))) // [out, 1]
			ba := matMul(lowB, lowA)
			for i := range ba {
				for j := range ba[i] {
					ba[i][j] *= tc.alpha
				}
			}
			checkRowsTol(t, "s·B·A", ba, tc.ba)
			checkRowsTol(t, "the residual base weight", transpose(rowsOf(m.Param("h.0.attn.q.weight"))), tc.residual)
			abs := func(v []float64) []float64 {
				out := make([]float64, len(v))
				for i, x := range v {
					out[i] = math.Abs(x)
				}
				return out
			}
			checkRowsTol(t, "|B|", [][]float64{abs(transpose(lowB)[0])}, [][]float64{tc.absB})
			checkRowsTol(t, "|A|", [][]float64{abs(lowA[0])}, [][]float64{tc.absA})
		})
	}
}

// checkRowsTol is checkRows for values that come out of a factorisation,
// exact to a few ulps of their size.
func checkRowsTol(t *testing.T, what string, got, want [][]float64) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = len(got[i]) == len(want[i]) && maxDiff(got[i], want[i]) <= 1e-12
	}
	if !ok {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}
