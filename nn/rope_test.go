package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The inverse frequencies and angles at values worked out by hand.
func TestRoPETableValues(t *testing.T) {
	tab, err := NewRoPETable(tensor.Float64, 4, 10000, nil, 8)
	must(t, err)
	// theta^(−2j/dh) for dh 4: 10000⁰ = 1 and 10000^(−1/2) = 0.01.
	nearAll(t, "inv_freq", tab.InvFreq, []float64{1, 0.01}, 1e-15)
	cos, sin := tab.cos.([]float64), tab.sin.([]float64)
	// Position 1: angles 1 and 0.01; position 3: 3 and 0.03.
	nearAll(t, "cos(1·f)", cos[2:4], []float64{0.5403023058681398, 0.9999500004166653}, 1e-15)
	nearAll(t, "sin(1·f)", sin[2:4], []float64{0.8414709848078965, 0.009999833334166664}, 1e-15)
	nearAll(t, "cos(3·f)", cos[6:8], []float64{-0.9899924966004454, 0.9995500337489875}, 1e-15)
	nearAll(t, "sin(3·f)", sin[6:8], []float64{0.1411200080598672, 0.02999550020249566}, 1e-15)

	// Llama 3 scaling with factor 8, low_freq_factor 1, high_freq_factor 4.
	// The wavelengths are 2π ≈ 6.28 and 200π ≈ 628.3.
	scaled := func(orig int) []float64 {
		tab, err := NewRoPETable(tensor.Float64, 4, 10000, &RoPEScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: orig}, 8)
		must(t, err)
		return tab.InvFreq
	}
	// orig 256: long wavelengths are over 256, short under 64. 628.3 is
	// long (0.01/8); 6.28 short (kept).
	nearAll(t, "llama3 orig 256", scaled(256), []float64{1, 0.00125}, 1e-15)
	// orig 1024: long over 1024, short under 256; 628.3 is between:
	// smooth = (1024/628.3 − 1)/(4 − 1) = 0.2099155, and
	// 0.01·((1 − smooth)/8 + smooth) = 0.00308676.
	nearAll(t, "llama3 orig 1024", scaled(1024), []float64{1, 0.003086760967011274}, 1e-15)
	// A longer original context keeps 628.3 as it is (short under 1024).
	nearAll(t, "llama3 orig 4096", scaled(4096), []float64{1, 0.01}, 1e-15)

	// Float32 tables hold the float64 angles rounded once.
	tab32, err := NewRoPETable(tensor.Float32, 4, 10000, nil, 8)
	must(t, err)
	if c := tab32.cos.([]float32)[2]; c != float32(0.5403023058681398) {
		t.Errorf("float32 cos(1) = %v", c)
	}
}

// HF's Llama 3.1 frequencies (head_dim 128, rope_theta 500000, factor 8,
// low 1, high 4, original context 8192): every band of the formula
// appears, and the scaled frequencies move monotonically from kept to
// divided by factor.
func TestRoPELlama3Bands(t *testing.T) {
	sc := &RoPEScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	plain, err := NewRoPETable(tensor.Float32, 128, 500000, nil, 1)
	must(t, err)
	tab, err := NewRoPETable(tensor.Float32, 128, 500000, sc, 1)
	must(t, err)
	var kept, divided, between int
	for j, f := range plain.InvFreq {
		r := tab.InvFreq[j] / f
		switch w := 2 * math.Pi / f; {
		case w < 2048:
			kept++
			if r != 1 {
				t.Errorf("j %d, wavelength %.0f: ratio %v, want 1", j, w, r)
			}
		case w > 8192:
			divided++
			if math.Abs(r-0.125) > 1e-15 {
				t.Errorf("j %d, wavelength %.0f: ratio %v, want 1/8", j, w, r)
			}
		default:
			between++
			if !(r < 1 && r > 0.125) {
				t.Errorf("j %d, wavelength %.0f: ratio %v, want within (1/8, 1)", j, w, r)
			}
		}
		if j > 0 && tab.InvFreq[j] > tab.InvFreq[j-1] {
			t.Errorf("scaled frequencies rise at %d", j)
		}
	}
	if kept == 0 || divided == 0 || between == 0 {
		t.Errorf("bands: %d kept, %d divided, %d between", kept, divided, between)
	}
}

// ropeRef is HF's apply_rotary_pos_emb for one matrix, written out in
// float64: x·cat(cos, cos) + rotate_half(x)·cat(sin, sin), with
// rotate_half(x) = cat(−x₂, x₁) per head, the angles computed afresh.
func ropeRef(x []float64, s RoPEShape, dh int, inv []float64) []float64 {
	d, half := s.H*dh, dh/2
	y := make([]float64, len(x))
	for r := 0; r < s.B*s.T; r++ {
		pos := float64(s.Start + r%s.T)
		for h := 0; h < s.H; h++ {
			head := x[r*d+h*dh : r*d+(h+1)*dh]
			for i := 0; i < dh; i++ {
				angle := pos * inv[i%half]
				var rot float64 // rotate_half(x)[i]
				if i < half {
					rot = -head[i+half]
				} else {
					rot = head[i-half]
				}
				y[r*d+h*dh+i] = head[i]*math.Cos(angle) + rot*math.Sin(angle)
			}
		}
	}
	return y
}

func TestRoPEMatchesLoop(t *testing.T) {
	s := RoPEShape{B: 3, T: 5, H: 3, Start: 2}
	const dh = 8
	sc := &RoPEScaling{Type: "llama3", Factor: 4, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, scaling := range []*RoPEScaling{nil, sc} {
			rng := rand.New(rand.NewPCG(1, 2))
			tab, err := NewRoPETable(dt, dh, 10000, scaling, s.Start+s.T)
			must(t, err)
			x := randParamOf(rng, dt, "x", false, 2, s.B*s.T, s.H*dh)
			g := NewGraph(dt)
			y, err := RoPE(g.Param(x), s, tab)
			must(t, err)
			p := compileRun(t, g, y)
			want := ropeRef(Float64s(x.Value), s, dh, tab.InvFreq)
			tol := 1e-15
			if dt == tensor.Float32 {
				tol = 1e-6
			}
			nearAll(t, dt.String()+" RoPE", Float64s(p.Value(y)), want, tol)
		}
	}
}

func ropeGraph(s RoPEShape, dh int) buildFn {
	return func(t testing.TB, g *Graph, rng *rand.Rand) *G.Node {
		tab, err := NewRoPETable(g.Dtype, dh, 10000, nil, s.Start+s.T)
		must(t, err)
		y, err := RoPE(g.Param(randParamOf(rng, g.Dtype, "x", true, 1.5, s.B*s.T, s.H*dh)), s, tab)
		must(t, err)
		return y
	}
}

// The finite-difference check at a shape whose rows are split into
// several ranges, with sequences that start past position 0.
func TestRoPEGradientSplit(t *testing.T) {
	s, dh := RoPEShape{B: 4, T: 16, H: 8, Start: 3}, 64
	chunked(t, "rows", s.B*s.T, rowGrain(s.H*dh))
	rng := rand.New(rand.NewPCG(3, 4))
	g := NewGraph(tensor.Float64)
	y := ropeGraph(s, dh)(t, g, rng)
	gradCheckProbes(t, g, lossOf(t, g, rng, y), rng, 60)
}

// Rotating back by the negative angles (the backward op) restores x.
func TestRoPEInverseRestores(t *testing.T) {
	s, dh := RoPEShape{B: 2, T: 7, H: 2, Start: 1}, 6
	rng := rand.New(rand.NewPCG(9, 10))
	g := NewGraph(tensor.Float64)
	tab, err := NewRoPETable(tensor.Float64, dh, 500000, nil, 8)
	must(t, err)
	x := randParam(rng, "x", false, 1, s.B*s.T, s.H*dh)
	y, err := RoPE(g.Param(x), s, tab)
	must(t, err)
	back, err := G.ApplyOp(&ropeOp{opBase: opBase{"RoPEGradTest"}, RoPEShape: s, tab: tab, inv: true}, y)
	must(t, err)
	p := compileRun(t, g, back)
	nearAll(t, "inverse rotation", Float64s(p.Value(back)), x.F64(), 1e-15)
}

func TestRoPERunAllocatesNothing(t *testing.T) {
	s, dh := RoPEShape{B: 4, T: 32, H: 4, Start: 0}, 32
	chunked(t, "rows", s.B*s.T, rowGrain(s.H*dh))
	rng := rand.New(rand.NewPCG(5, 6))
	g := NewGraph(tensor.Float32)
	checkNoAllocs(t, g, ropeGraph(s, dh)(t, g, rng))
}

func TestRoPEDoesNotDependOnWorkers(t *testing.T) {
	s, dh := RoPEShape{B: 16, T: 64, H: 4, Start: 5}, 32
	chunked(t, "rows", s.B*s.T, rowGrain(s.H*dh))
	checkWorkersBits(t, ropeGraph(s, dh))
}

func TestRoPERejectsBadInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		name    string
		dh      int
		theta   float64
		scaling *RoPEScaling
	}{
		{"odd head dimension", 5, 10000, nil},
		{"zero theta", 4, 0, nil},
		{"unknown rope_type", 4, 10000, &RoPEScaling{Type: "yarn", Factor: 4}},
		{"high_freq_factor not above low", 4, 10000, &RoPEScaling{Type: "llama3", Factor: 8, LowFreqFactor: 4, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}},
	} {
		if _, err := NewRoPETable(tensor.Float64, c.dh, c.theta, c.scaling, 8); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	tab, err := NewRoPETable(tensor.Float64, 4, 10000, nil, 8)
	must(t, err)
	g := NewGraph(tensor.Float64)
	x := g.Param(randParam(rng, "x", false, 1, 2*4, 2*4))
	if _, err := RoPE(x, RoPEShape{B: 2, T: 4, H: 2, Start: 5}, tab); err == nil || !strings.Contains(err.Error(), "8 positions") {
		t.Errorf("positions 5..8 of a table of 8: error %v", err)
	}
	if _, err := RoPE(x, RoPEShape{B: 2, T: 4, H: 3}, tab); err == nil {
		t.Error("3 heads of 4 columns in rows of 8: no error")
	}
	tab32, err := NewRoPETable(tensor.Float32, 4, 10000, nil, 8)
	must(t, err)
	if _, err := RoPE(x, RoPEShape{B: 2, T: 4, H: 2}, tab32); err == nil {
		t.Error("a float32 table for a float64 graph: no error")
	}
}
