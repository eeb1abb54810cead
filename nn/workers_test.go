package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/tensor"
)

// The tests here check that results are bit-identical whatever the number
// of workers, at shapes above every split threshold (products of hundreds
// to thousands of rows, row kernels over thousands of rows), with the pool
// at 1, 2 and 3 workers and with the pool busy (another split holding its
// lock, as a second trainer in the same process does).

// poolSetting is one way of running the kernels.
type poolSetting struct {
	name    string
	workers int
	busy    bool // the pool's lock is held: every split must run serially
}

var poolSettings = []poolSetting{{"1 worker", 1, false}, {"2 workers", 2, false}, {"3 workers", 3, false}, {"3 workers, pool busy", 3, true}}

// withPool runs f with the kernels split across a pool of s.workers,
// restoring the process's pool afterwards.
func withPool(s poolSetting, f func()) {
	saved := workers
	defer func() { workers = saved }()
	workers = newPool(s.workers)
	if s.busy {
		workers.mu.Lock()
		defer workers.mu.Unlock()
	}
	f()
}

// sameBits reports the first element where got and want differ in their
// float32 bits.
func sameBits(got, want []float32) (int, bool) {
	if len(got) != len(want) {
		return -1, false
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return i, false
		}
	}
	return 0, true
}

// recorder is a spanner that keeps the ranges it was given.
type recorder struct{ ranges chan [2]int }

func (r *recorder) span(_, lo, hi int) { r.ranges <- [2]int{lo, hi} }

// The ranges a split hands out depend on (n, grain) alone.
func TestSplitRangesDoNotDependOnWorkers(t *testing.T) {
	for _, c := range [][2]int{{1 << 20, 1 << 14}, {1024, rowGrain(128)}, {4096, rowGrain(512)}, {128, 1}, {512, 16}, {64, 1}, {1000, 7}, {10, 100}} {
		n, grain := c[0], c[1]
		var want [][2]int
		for _, s := range poolSettings {
			r := &recorder{ranges: make(chan [2]int, n+1)}
			withPool(s, func() { parallel(n, grain, r) })
			close(r.ranges)
			var got [][2]int
			for rg := range r.ranges {
				got = append(got, rg)
			}
			slices.SortFunc(got, func(a, b [2]int) int { return a[0] - b[0] })
			if want == nil {
				want = got
				continue
			}
			if !slices.Equal(got, want) {
				t.Fatalf("parallel(%d, %d): ranges %v with %s, %v with %s", n, grain, got, s.name, want, poolSettings[0].name)
			}
		}
	}
}

// Products large enough to be split give the same bits whatever the
// number of workers, for every transpose and for row counts that are not
// a multiple of any block size.
func TestGemmDoesNotDependOnWorkers(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	for _, sh := range [][3]int{{1024, 128, 512}, {1024, 512, 128}, {1024, 64, 256}, {128, 512, 1024}, {1000, 96, 200}, {777, 130, 70}, {4096, 64, 64}, {96, 200, 300}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			a, b, c0 := randn(m*k), randn(k*n), randn(m*n)
			var want []float32
			for _, s := range poolSettings {
				c := slices.Clone(c0)
				withPool(s, func() { gemm(tr[0], tr[1], m, n, k, 0.75, a, b, 1, c) })
				if want == nil {
					want = c
					checkGemm(t, tr[0], tr[1], m, n, k, 0.75, a, b, 1, c0, c)
					continue
				}
				if i, ok := sameBits(c, want); !ok {
					t.Fatalf("gemm %d×%d×%d transA %v transB %v: C[%d] = %v with %s, %v with %s",
						m, n, k, tr[0], tr[1], i, c[i], s.name, want[i], poolSettings[0].name)
				}
			}
		}
	}
}

// The blocks of a product cover the longer side of C, at most
// gemmMaxBlocks of them, each but the last a multiple of gemmAlign.
func TestGemmBlocks(t *testing.T) {
	for _, sh := range [][3]int{{1024, 128, 512}, {128, 512, 1024}, {1000, 96, 200}, {777, 130, 70}, {64, 128, 64}, {63, 1024, 1024}, {63, 63, 1 << 20}, {100, 10, 10}, {16384, 768, 768}, {1, 1 << 20, 1}} {
		m, n, k := sh[0], sh[1], sh[2]
		byCols, size, blocks := gemmBlocks(m, n, k)
		l := m
		if byCols {
			l = n
		}
		if blocks < 1 || blocks > gemmMaxBlocks || size*(blocks-1) >= l || size*blocks < l || blocks > 1 && (size%gemmAlign != 0 || l < max(m, n)) {
			t.Errorf("gemmBlocks(%d, %d, %d) = %v, %d, %d", m, n, k, byCols, size, blocks)
		}
	}
	for _, c := range []struct {
		m, n, k, size, blocks int
		byCols                bool
	}{{1024, 128, 512, 256, 4, false}, {2048, 768, 768, 256, 8, false}, {128, 512, 1024, 128, 4, true}, {128, 128, 1024, 32, 4, false}, {96, 200, 300, 64, 4, true}} {
		if byCols, size, blocks := gemmBlocks(c.m, c.n, c.k); byCols != c.byCols || size != c.size || blocks != c.blocks {
			t.Errorf("gemmBlocks(%d, %d, %d) = %v, %d, %d; want %v, %d, %d", c.m, c.n, c.k, byCols, size, blocks, c.byCols, c.size, c.blocks)
		}
	}
}

// checkGemm compares c, the product gemm computed from c0, with the
// product computed in float64.
func checkGemm(t *testing.T, transA, transB bool, m, n, k int, alpha float32, a, b []float32, beta float32, c0, c []float32) {
	t.Helper()
	for i := range m {
		if i%5 != 0 && i != m-1 { // every block of rows, not every row
			continue
		}
		for j := range n {
			var s, abs float64
			for l := range k {
				ai, bj := a[i*k+l], b[l*n+j]
				if transA {
					ai = a[l*m+i]
				}
				if transB {
					bj = b[j*k+l]
				}
				s += float64(ai) * float64(bj)
				abs += math.Abs(float64(ai) * float64(bj))
			}
			want := float64(alpha)*s + float64(beta)*float64(c0[i*n+j])
			if math.Abs(float64(c[i*n+j])-want) > 1e-5*(abs+math.Abs(float64(c0[i*n+j]))) {
				t.Fatalf("gemm %d×%d×%d transA %v transB %v: C[%d, %d] = %v, want %v", m, n, k, transA, transB, i, j, c[i*n+j], want)
			}
		}
	}
}

// stepResult is what a training step produces: the loss, every gradient
// and every parameter after one AdamW update.
type stepResult struct {
	loss   float64
	names  []string
	grads  [][]float32
	params [][]float32
}

// bigProgram compiles a one-block transformer on 16 sequences of 64
// tokens (1024 rows; width 128, 4 heads, MLP 512 with a rank-16 LoRA on its
// output projection, vocabulary 256): every product, row kernel, column
// sum, softmax, LayerNorm and the AdamW update of a step run above their
// split thresholds.
func bigProgram(t testing.TB) *Program {
	t.Helper()
	const B, T, D, F, H, V, R = 16, 64, 128, 512, 4, 256, 16
	const N = B * T
	rng := rand.New(rand.NewPCG(13, 14))
	var params []*Param
	param := func(name string, std, mean float64, shape ...int) *Param {
		p := NewParam(name, tensor.Float32, shape...)
		for i := range p.F32() {
			p.F32()[i] = float32(mean + rng.NormFloat64()*std)
		}
		p.Trainable = true
		params = append(params, p)
		return p
	}
	x := param("x", 1, 0, N, D)
	g1, b1 := param("ln1.g", 0.1, 1, D), param("ln1.b", 0.1, 0, D)
	wq, wk, wv := param("wq", 0.1, 0, D, D), param("wk", 0.1, 0, D, D), param("wv", 0.1, 0, D, D)
	wo, bo := param("wo", 0.1, 0, D, D), param("bo", 0.1, 0, D)
	g2, b2 := param("ln2.g", 0.1, 1, D), param("ln2.b", 0.1, 0, D)
	w1, c1 := param("w1", 0.1, 0, D, F), param("c1", 0.1, 0, F)
	w2, c2 := param("w2", 0.05, 0, F, D), param("c2", 0.1, 0, D)
	la, lb := param("lora.a", 0.05, 0, F, R), param("lora.b", 0.05, 0, R, D)
	wout := param("wout", 0.1, 0, D, V)

	gr := NewGraph(tensor.Float32)
	ln1, err := LayerNorm(gr.Param(x), gr.Param(g1), gr.Param(b1))
	must(t, err)
	q, err := MatMul(ln1, gr.Param(wq), false, false)
	must(t, err)
	k, err := MatMul(ln1, gr.Param(wk), false, false)
	must(t, err)
	v, err := MatMul(ln1, gr.Param(wv), false, false)
	must(t, err)
	shape := AttnShape{B: B, T: T, S: T, H: H}
	probs, err := AttnProbs(q, k, shape)
	must(t, err)
	mix, err := AttnMix(probs, v, shape)
	must(t, err)
	o, err := Linear(mix, gr.Param(wo), gr.Param(bo))
	must(t, err)
	r, err := Add(gr.Param(x), o)
	must(t, err)
	ln2, err := LayerNorm(r, gr.Param(g2), gr.Param(b2))
	must(t, err)
	h, err := Linear(ln2, gr.Param(w1), gr.Param(c1))
	must(t, err)
	h, err = GELU(h)
	must(t, err)
	y, err := Linear(h, gr.Param(w2), gr.Param(c2))
	must(t, err)
	z, err := MatMul(h, gr.Param(la), false, false)
	must(t, err)
	z, err = MatMul(z, gr.Param(lb), false, false)
	must(t, err)
	y, err = Add(y, z)
	must(t, err)
	r, err = Add(r, y)
	must(t, err)
	logits, err := MatMul(r, gr.Param(wout), false, false)
	must(t, err)
	targets, mask := gr.IntInput("t", N), gr.FloatInput("m", N)
	ids, weights := make([]int, N), make([]float64, N)
	for i := range ids {
		ids[i], weights[i] = (i*7+3)%V, float64(1+i%3)
	}
	targets.SetInts(ids)
	mask.SetFloats(weights)
	loss, err := CrossEntropy(logits, targets.Node, mask.Node)
	must(t, err)
	p, err := Compile(gr, loss)
	must(t, err)
	if len(p.Params) != len(params) {
		t.Fatalf("%d gradients for %d parameters", len(p.Params), len(params))
	}
	return p
}

// bigStep runs one training step of bigProgram.
func bigStep(t *testing.T) stepResult {
	t.Helper()
	p := bigProgram(t)
	must(t, p.Run())

	res := stepResult{loss: p.LossValue()}
	for i, prm := range p.Params {
		res.names = append(res.names, prm.Name)
		res.grads = append(res.grads, slices.Clone(dense[float32](p.Value(p.Grads[i]))))
	}
	NewAdamW(0.01).Step(p, 1e-3)
	for _, prm := range p.Params {
		res.params = append(res.params, slices.Clone(prm.F32()))
	}
	return res
}

// A training step gives the same loss, gradients and updated weights, bit
// for bit, whatever the number of workers.
func TestTrainingStepDoesNotDependOnWorkers(t *testing.T) {
	var want stepResult
	for _, s := range poolSettings {
		var got stepResult
		withPool(s, func() { got = bigStep(t) })
		if want.names == nil {
			want = got
			continue
		}
		var diffs []string
		if math.Float64bits(got.loss) != math.Float64bits(want.loss) {
			diffs = append(diffs, fmt.Sprintf("loss %.10g, %.10g with %s", got.loss, want.loss, poolSettings[0].name))
		}
		for i, name := range want.names {
			if j, ok := sameBits(got.grads[i], want.grads[i]); !ok {
				diffs = append(diffs, fmt.Sprintf("gradient of %s[%d] %v, %v with %s", name, j, got.grads[i][j], want.grads[i][j], poolSettings[0].name))
			}
			if j, ok := sameBits(got.params[i], want.params[i]); !ok {
				diffs = append(diffs, fmt.Sprintf("updated %s[%d] %v, %v with %s", name, j, got.params[i][j], want.params[i][j], poolSettings[0].name))
			}
		}
		if len(diffs) > 0 {
			t.Errorf("with %s, %d of %d values differ:", s.name, len(diffs), 1+2*len(want.names))
			for _, d := range diffs {
				t.Log("  ", d)
			}
		}
	}
}
