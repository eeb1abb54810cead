package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// twoLayer builds loss = CE(GELU(LN(x)·W1)·W2) on a fixed batch: enough
// ops, reuse and parallel kernels to exercise the planner and the workers.
func twoLayer(t *testing.T, dt tensor.Dtype) (*Program, []*Param) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(p *Param) *Param {
		for i := 0; i < p.Size(); i++ {
			v := rng.NormFloat64() * 0.5
			if dt == tensor.Float64 {
				p.F64()[i] = v
			} else {
				p.F32()[i] = float32(v)
			}
		}
		p.Trainable = true
		return p
	}
	const n, d, h, v = 96, 32, 64, 40
	x, g, b := fill(NewParam("x", dt, n, d)), fill(NewParam("g", dt, d)), fill(NewParam("b", dt, d))
	w1, w2 := fill(NewParam("w1", dt, d, h)), fill(NewParam("w2", dt, h, v))
	gr := NewGraph(dt)
	ln, err := LayerNorm(gr.Param(x), gr.Param(g), gr.Param(b))
	must(t, err)
	a, err := MatMul(ln, gr.Param(w1), false, false)
	must(t, err)
	a, err = GELU(a)
	must(t, err)
	logits, err := MatMul(a, gr.Param(w2), false, false)
	must(t, err)
	targets, mask := gr.IntInput("t", n), gr.FloatInput("m", n)
	ids, weights := make([]int, n), make([]float64, n)
	for i := range ids {
		ids[i], weights[i] = (i*7)%v, float64(i%3)
	}
	targets.SetInts(ids)
	mask.SetFloats(weights)
	loss, err := CrossEntropy(logits, targets.Node, mask.Node)
	must(t, err)
	p, err := Compile(gr, loss)
	must(t, err)
	return p, []*Param{x, g, b, w1, w2}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPlannedBuffersAreReusedAndRunsRepeat(t *testing.T) {
	p, _ := twoLayer(t, tensor.Float32)
	if p.PlannedBytes() >= p.ValueBytes() {
		t.Fatalf("planned %d bytes, values %d: no buffer was reused", p.PlannedBytes(), p.ValueBytes())
	}
	must(t, p.Run())
	first, grad := p.LossValue(), p.Grad(3)
	must(t, p.Run())
	if p.LossValue() != first {
		t.Fatalf("second run: loss %v, first %v", p.LossValue(), first)
	}
	for i, g := range p.Grad(3) {
		if g != grad[i] {
			t.Fatalf("second run: gradient %d is %v, first %v", i, g, grad[i])
		}
	}
	if a := testing.AllocsPerRun(5, func() { must(t, p.Run()) }); a != 0 {
		t.Fatalf("a run allocates %v times", a)
	}
}

func TestWorkersDoNotChangeResults(t *testing.T) {
	results := func() (float64, [][]float64) {
		p, _ := twoLayer(t, tensor.Float32)
		must(t, p.Run())
		var grads [][]float64
		for i := range p.Params {
			grads = append(grads, p.Grad(i))
		}
		return p.LossValue(), grads
	}
	saved := workers
	defer func() { workers = saved }()
	workers = newPool(1)
	loss1, grads1 := results()
	workers = newPool(3)
	loss3, grads3 := results()
	if loss1 != loss3 {
		t.Fatalf("loss %v with one worker, %v with three", loss1, loss3)
	}
	for i := range grads1 {
		for j := range grads1[i] {
			if grads1[i][j] != grads3[i][j] {
				t.Fatalf("gradient %d[%d]: %v with one worker, %v with three", i, j, grads1[i][j], grads3[i][j])
			}
		}
	}
}

func TestProgramGradientsMatchFiniteDifferences(t *testing.T) {
	p, _ := twoLayer(t, tensor.Float64)
	worst, where, err := GradCheck(p, 20, rand.New(rand.NewPCG(1, 2)))
	must(t, err)
	if worst > 1e-4 {
		t.Fatalf("relative error %.3g at %s", worst, where)
	}
}

func TestVectorKernelsMatchFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 1003
	x, g, y, dy := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], g[i] = float32(rng.NormFloat64()*4), float32(rng.NormFloat64())
	}
	geluF32(x, nil, y)
	geluF32(x, g, dy)
	for i, u := range x {
		xf := float64(u)
		th := math.Tanh(geluC * (xf + geluK*xf*xf*xf))
		want := 0.5 * xf * (1 + th)
		wantD := float64(g[i]) * (0.5*(1+th) + 0.5*xf*(1-th*th)*geluC*(1+3*geluK*xf*xf))
		if math.Abs(float64(y[i])-want) > 1e-6*math.Max(1, math.Abs(want)) || math.Abs(float64(dy[i])-wantD) > 1e-5*math.Max(1, math.Abs(wantD)) {
			t.Fatalf("gelu(%v) = %v, %v; want %v, %v", u, y[i], dy[i], want, wantD)
		}
	}
	mx := maxF32(x)
	sum := expF32(x, y, mx, 0.5)
	var want float64
	for i, u := range x {
		e := math.Exp(float64(u - mx)) // the kernel subtracts in float32
		want += e
		if math.Abs(float64(y[i])-0.5*e) > 4e-6*0.5*e+1e-30 { // the vectorised exp is within 4e-6
			t.Fatalf("exp(%v − max) · 0.5 = %v, want %v", u, y[i], 0.5*e)
		}
	}
	if math.Abs(sum-want) > 1e-5*want || mx != slicesMax(x) {
		t.Fatalf("sum %v, want %v; max %v", sum, want, mx)
	}
}

func slicesMax(x []float32) float32 {
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

// TestRowKernelsMatchFloat64 checks each float32 row kernel (vectorised C
// in the openblas build, Go otherwise) against the generic kernel in
// float64.
func TestRowKernelsMatchFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const rows, d = 37, 48
	r32 := func(n int, std float64) ([]float32, []float64) {
		a, b := make([]float32, n), make([]float64, n)
		for i := range a {
			a[i] = float32(rng.NormFloat64() * std)
			b[i] = float64(a[i])
		}
		return a, b
	}
	near := func(what string, got []float32, want []float64, tol float64) {
		t.Helper()
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
				t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	x32, x64 := r32(rows*d, 2)
	gm32, gm64 := r32(d, 1)
	bt32, bt64 := r32(d, 1)
	g32, g64 := r32(rows*d, 1)
	y32, y64 := make([]float32, rows*d), make([]float64, rows*d)
	s32, s64 := make([]float32, 2*rows), make([]float64, 2*rows)
	layerNormF32(x32, gm32, bt32, y32, s32, d)
	layerNormRange(x64, gm64, bt64, y64, s64, d)
	near("layernorm", y32, y64, 1e-5)
	near("stats", s32, s64, 1e-5)
	layerNormGradXF32(x32, gm32, g32, s32, y32, d)
	layerNormGradXRange(x64, gm64, g64, s64, y64, d)
	near("layernorm dx", y32, y64, 1e-4)
	dg32, dg64 := make([]float32, d), make([]float64, d)
	layerNormGradGammaF32(x32, g32, s32, dg32, d, 5, 40)
	layerNormGradGammaRange(x64, g64, s64, dg64, d, 5, 40)
	near("layernorm dgamma", dg32, dg64, 1e-4)
	colSumF32(x32, dg32, d, 3, 30)
	colSumRange(x64, dg64, d, 3, 30)
	near("colsum", dg32, dg64, 1e-5)

	p32, p64 := make([]float32, d), make([]float64, d)
	expF32(x32[:d], p32, maxF32(x32[:d]), 1)
	var sum float64
	for i := range p32 {
		sum += float64(p32[i])
	}
	for i := range p32 {
		p32[i] /= float32(sum)
		p64[i] = float64(p32[i])
	}
	ds32, ds64 := make([]float32, d), make([]float64, d)
	softmaxGradF32(p32, g32[:d], ds32, 0.25)
	softmaxGrad(p64, g64[:d], ds64, 0.25)
	near("softmax grad", ds32, ds64, 1e-6)

	w32, w64 := r32(d, 1)
	m1, v1 := make([]float64, d), make([]float64, d)
	m2, v2 := make([]float64, d), make([]float64, d)
	h := &adamStep{b1: 0.9, b2: 0.999, eps: 1e-8, lr: 1e-2, decay: 0.1, scale: 0.5, bc1: 0.1, bc2: 0.001}
	for range 3 {
		adamF32(w32, g32[:d], m1, v1, h)
		adamRange(w64, g64[:d], m2, v2, h)
	}
	near("adam", w32, w64, 1e-6)
}

// When a shared arena grows, programs bound to the old slabs let go of
// them: the process holds one generation of slabs, not one per size the
// arena went through, and an earlier program still runs (in the new slabs)
// with the same results.
func TestArenaGrowthLetsGoOfOldSlabs(t *testing.T) {
	arena := NewArena()
	rng := rand.New(rand.NewPCG(7, 8))
	w := randParam(rng, "w", false, 0.5, 64, 2000)
	build := func(n int) (*Program, *G.Node) {
		g := NewGraph(tensor.Float64)
		g.Arena = arena
		y, err := MatMul(g.Param(randParam(rng, "x", false, 0.5, n, 64)), g.Param(w), false, false)
		must(t, err)
		p, err := Compile(g, nil, y)
		must(t, err)
		return p, y
	}
	small, ys := build(1000) // 16 MB of output
	big, _ := build(3000)    // 48 MB
	live := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := live()
	must(t, small.Run())
	sample := func() []float64 { // a few values: a copy of all would fill the heap this test measures
		v := small.Value(ys).Data().([]float64)
		return []float64{v[0], v[len(v)/2], v[len(v)-1]}
	}
	first := sample()
	must(t, big.Run())
	grown := live() - before
	if slabs := uint64(arena.Bytes()); grown > slabs+slabs/8 {
		t.Errorf("after growing, the heap grew by %.1f MB for an arena of %.1f MB: an old slab is still held", float64(grown)/1e6, float64(slabs)/1e6)
	}
	must(t, small.Run())
	if again := sample(); !slices.Equal(first, again) {
		t.Error("a program rebound to the grown arena computes another result")
	}
	must(t, big.Close())
	must(t, small.Close())
	if len(arena.bound) != 0 {
		t.Errorf("closed programs still registered with the arena: %d", len(arena.bound))
	}
}

// A value read twice gets the sum of two gradients, which gorgonia's
// differentiation adds with its own op; the program runs the engine's Add
// there instead, so a run allocates nothing.
func TestGradientSumsRunInPlannedBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, w := NewParam("x", tensor.Float32, 8, 4), NewParam("w", tensor.Float32, 4, 6)
	for _, p := range []*Param{x, w} {
		for i := range p.F32() {
			p.F32()[i] = float32(rng.NormFloat64())
		}
		p.Trainable = true
	}
	g := NewGraph(tensor.Float32)
	y, err := MatMul(g.Param(x), g.Param(w), false, false)
	must(t, err)
	sq, err := Mul(y, y) // y has two readers
	must(t, err)
	tg, mask := g.IntInput("t", 8), g.FloatInput("m", 8)
	tg.SetInts([]int{0, 1, 2, 3, 4, 5, 0, 1})
	mask.SetFloats([]float64{1, 1, 1, 1, 1, 1, 1, 1})
	loss, err := CrossEntropy(sq, tg.Node, mask.Node)
	must(t, err)
	p, err := Compile(g, loss)
	must(t, err)
	defer p.Close()
	sums := 0
	for _, st := range p.steps {
		if _, ours := st.op.(*addOp); ours {
			sums++
		}
		if name := fmt.Sprintf("%T", st.op); strings.HasPrefix(name, "gorgonia.") {
			t.Errorf("step %s runs gorgonia's %s", st.name, name)
		}
	}
	if sums == 0 {
		t.Error("no gradient sum found: the graph no longer tests what it should")
	}
	must(t, p.Run())
	if n := testing.AllocsPerRun(10, func() { must(t, p.Run()) }); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}
