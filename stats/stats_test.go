package stats

import (
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// row returns n outcomes, right where right(i) holds.
func row(n int, right func(i int) bool) []bool {
	r := make([]bool, n)
	for i := range r {
		r[i] = right(i)
	}
	return r
}

// prefix is n outcomes right on exactly the first k examples.
func prefix(n, k int) []bool { return row(n, func(i int) bool { return i < k }) }

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestMcNemarExact(t *testing.T) {
	for _, tc := range []struct {
		b, c int
		want float64
	}{
		{0, 0, 1},
		{10, 2, 0.03857421875}, // 2·(1+12+66)/4096
		{2, 10, 0.03857421875},
		{5, 5, 1},
		{5, 6, 1},
		{0, 1, 1},
		{0, 20, 2 * math.Ldexp(1, -20)},
		{20, 0, 2 * math.Ldexp(1, -20)},
		{1, 9, 2 * 11.0 / 1024},
		{0, 1000, math.Ldexp(1, -999)},
	} {
		if got := McNemarExact(tc.b, tc.c); !near(got, tc.want, 1e-12) {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", tc.b, tc.c, got, tc.want)
		}
	}
}

// exactMcNemar computes the p-value with exact rational arithmetic.
func exactMcNemar(b, c int) float64 {
	n, k := b+c, min(b, c)
	sum, term := new(big.Int), big.NewInt(1) // term = C(n, j)
	for j := 0; j <= k; j++ {
		sum.Add(sum, term)
		term.Mul(term, big.NewInt(int64(n-j)))
		term.Quo(term, big.NewInt(int64(j+1)))
	}
	p := new(big.Rat).SetFrac(sum.Lsh(sum, 1), new(big.Int).Lsh(big.NewInt(1), uint(n)))
	f, _ := p.Float64()
	return math.Min(1, f)
}

func TestMcNemarExactAgainstRational(t *testing.T) {
	for _, bc := range [][2]int{{3, 4}, {7, 30}, {40, 60}, {100, 130}, {480, 520}, {1500, 1650}, {10, 3000}, {2500, 2500}} {
		for _, swap := range []bool{false, true} {
			b, c := bc[0], bc[1]
			if swap {
				b, c = c, b
			}
			got, want := McNemarExact(b, c), exactMcNemar(b, c)
			if !near(got, want, 1e-10) || (want > 0 && got == 0) {
				t.Errorf("McNemarExact(%d, %d) = %v, exact %v", b, c, got, want)
			}
		}
	}
}

func TestMcNemarExactHuge(t *testing.T) {
	// 2^-4999 underflows; the answer must still be a probability, not NaN.
	for _, bc := range [][2]int{{0, 1000}, {0, 5000}, {3, 100000}, {49000, 51000}} {
		p := McNemarExact(bc[0], bc[1])
		if math.IsNaN(p) || p < 0 || p > 1 {
			t.Errorf("McNemarExact(%d, %d) = %v", bc[0], bc[1], p)
		}
	}
	if p := McNemarExact(0, 1000); !(p > 0) {
		t.Errorf("McNemarExact(0, 1000) = %v, want tiny positive", p)
	}
}

func TestCompareIdentical(t *testing.T) {
	const n = 1000
	one := Outcomes{row(n, func(i int) bool { return i%3 != 0 })}
	three := Outcomes{
		row(n, func(i int) bool { return i%3 != 0 }),
		row(n, func(i int) bool { return i%4 != 0 }),
		row(n, func(i int) bool { return i%5 != 1 }),
	}
	for _, tc := range []struct {
		name string
		o    Outcomes
		test string
	}{{"one seed", one, McNemar}, {"three seeds", three, Paired}} {
		c, err := Compare(tc.o, tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.Diff != 0 || c.P != 1 || c.Lo > 0 || c.Hi < 0 || c.Test != tc.test || c.OnlyA != 0 || c.OnlyB != 0 {
			t.Errorf("%s: %+v, want Diff 0, P 1, interval around 0, test %q", tc.name, c, tc.test)
		}
	}
}

func TestCompareClearWin(t *testing.T) {
	const n = 1000
	a := Outcomes{prefix(n, 700)}
	b := Outcomes{prefix(n, 600)}
	c, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !near(c.Diff, 0.1, 1e-12) || c.P >= 1e-20 || c.Lo <= 0 || c.Test != McNemar || c.OnlyA != 100 || c.OnlyB != 0 {
		t.Errorf("%+v, want Diff 0.1, P < 1e-20, Lo > 0, McNemar, OnlyA 100", c)
	}
	if c.N != n || c.SeedsA != 1 || c.SeedsB != 1 || !near(c.AccA, 0.7, 1e-12) || !near(c.AccB, 0.6, 1e-12) {
		t.Errorf("%+v: wrong counts or accuracies", c)
	}
	// And the reverse is the mirror image.
	r, _ := Compare(b, a)
	if !near(r.Diff, -0.1, 1e-12) || r.P != c.P || r.OnlyB != 100 || !near(r.Hi, -c.Lo, 1e-12) {
		t.Errorf("reversed: %+v", r)
	}
}

func TestCompareTinyDifference(t *testing.T) {
	// Both right on 0..499; A alone on 500..602 (103), B alone on 603..702 (100).
	const n = 1000
	a := Outcomes{row(n, func(i int) bool { return i < 603 })}
	b := Outcomes{row(n, func(i int) bool { return i < 500 || (i >= 603 && i < 703) })}
	c, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if c.OnlyA != 103 || c.OnlyB != 100 || !near(c.Diff, 0.003, 1e-12) {
		t.Fatalf("%+v, want 103/100 discordant, Diff 0.003", c)
	}
	if c.P <= 0.05 || c.Lo > 0 || c.Hi < 0 {
		t.Errorf("%+v, want P > 0.05 and an interval containing 0", c)
	}
}

func TestCompareSeedSpread(t *testing.T) {
	const n = 1000
	b := Outcomes{prefix(n, 650), prefix(n, 660)}
	for _, tc := range []struct {
		name        string
		a           Outcomes
		diff        float64
		significant bool
	}{
		{"seeds disagree", Outcomes{prefix(n, 600), prefix(n, 900)}, 0.095, false},
		{"seeds agree", Outcomes{prefix(n, 750), prefix(n, 760)}, 0.1, true},
	} {
		c, err := Compare(tc.a, b)
		if err != nil {
			t.Fatal(err)
		}
		if !near(c.Diff, tc.diff, 1e-12) || c.Test != Paired {
			t.Errorf("%s: %+v, want Diff %v by %q", tc.name, c, tc.diff, Paired)
		}
		if got := c.P < Alpha; got != tc.significant {
			t.Errorf("%s: P = %v, significant %v, want %v", tc.name, c.P, got, tc.significant)
		}
		if got := c.Lo > 0; got != tc.significant {
			t.Errorf("%s: interval [%v, %v], excludes 0 %v, want %v", tc.name, c.Lo, c.Hi, got, tc.significant)
		}
	}
}

// TestComparePairedByHand checks a case small enough to work on paper.
//
//	A seeds: TTTF (0.75), TFTF (0.5)  → a = 1, .5, 1, 0
//	B seeds: TFFF (0.25), FFTF (0.25) → b = .5, 0, .5, 0
//	d = .5, .5, .5, 0: mean 0.375, s² = 0.0625, v_e = 0.0625/4 = 0.015625
//	v_A = s²(0.75, 0.5)/2 = 0.015625, v_B = 0
//	var = 0.03125, z = 0.375/√0.03125 = 2.1213
//
// The normal CDF through math.Erfc gives an independent check of the
// p-value; z_{0.975} = 1.959963984540054.
func TestComparePairedByHand(t *testing.T) {
	a := Outcomes{{true, true, true, false}, {true, false, true, false}}
	b := Outcomes{{true, false, false, false}, {false, false, true, false}}
	c, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	se := math.Sqrt(0.03125)
	want := Comparison{
		N: 4, SeedsA: 2, SeedsB: 2, AccA: 0.625, AccB: 0.25, Diff: 0.375,
		Lo: 0.375 - 1.959963984540054*se, Hi: 0.375 + 1.959963984540054*se,
		P: math.Erfc(0.375 / se / math.Sqrt2), Test: Paired, OnlyA: 3, OnlyB: 0,
	}
	if c.N != want.N || c.SeedsA != want.SeedsA || c.SeedsB != want.SeedsB || c.Test != want.Test ||
		c.OnlyA != want.OnlyA || c.OnlyB != want.OnlyB {
		t.Errorf("got %+v, want %+v", c, want)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"AccA", c.AccA, want.AccA}, {"AccB", c.AccB, want.AccB}, {"Diff", c.Diff, want.Diff},
		{"Lo", c.Lo, want.Lo}, {"Hi", c.Hi, want.Hi}, {"P", c.P, want.P},
	} {
		if !near(f.got, f.want, 1e-9) {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
}

func TestCompareNoVariance(t *testing.T) {
	// Two identical seeds a side and every example differing the same way:
	// nothing varies, so the observed difference stands exactly.
	a := Outcomes{prefix(10, 10), prefix(10, 10)}
	b := Outcomes{prefix(10, 0), prefix(10, 0)}
	c, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Diff != 1 || c.Lo != 1 || c.Hi != 1 || c.P != 0 {
		t.Errorf("%+v, want Diff = Lo = Hi = 1, P 0", c)
	}
}

func TestCompareErrors(t *testing.T) {
	ok := Outcomes{prefix(5, 2), prefix(5, 3)}
	for _, tc := range []struct {
		name string
		a, b Outcomes
	}{
		{"no seeds", Outcomes{}, ok},
		{"no examples", ok, Outcomes{{}}},
		{"ragged A", Outcomes{prefix(5, 2), prefix(4, 2)}, ok},
		{"ragged B", ok, Outcomes{prefix(5, 2), prefix(5, 1), prefix(6, 2)}},
		{"different examples", ok, Outcomes{prefix(6, 2)}},
	} {
		if _, err := Compare(tc.a, tc.b); err == nil || !strings.HasPrefix(err.Error(), "stats: ") {
			t.Errorf("%s: err = %v, want a stats: error", tc.name, err)
		}
	}
}

func TestHolm(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		p, want []float64
	}{
		{"textbook", []float64{0.01, 0.04, 0.03, 0.005}, []float64{0.03, 0.06, 0.06, 0.02}},
		{"NaN skipped", []float64{0.01, nan, 0.04}, []float64{0.02, nan, 0.04}},
		{"capped", []float64{0.5, 0.6, 0.2}, []float64{1, 1, 0.6}},
		{"single", []float64{0.3}, []float64{0.3}},
		{"empty", []float64{}, []float64{}},
	} {
		got := Holm(tc.p)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: Holm(%v) = %v", tc.name, tc.p, got)
		}
		for i := range got {
			if math.IsNaN(tc.want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(got[i]) && !near(got[i], tc.want[i], 1e-12)) {
				t.Errorf("%s: Holm(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
				break
			}
		}
	}
}

func TestHolmMonotone(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 100; trial++ {
		p := make([]float64, 1+rng.IntN(20))
		for i := range p {
			p[i] = rng.Float64() * rng.Float64() // many small ones
		}
		adj := Holm(p)
		idx := make([]int, len(p))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(i, j int) bool { return p[idx[i]] < p[idx[j]] })
		for r, i := range idx {
			if adj[i] < p[i] || adj[i] > 1 {
				t.Fatalf("Holm(%v)[%d] = %v outside [p, 1]", p, i, adj[i])
			}
			if r > 0 && adj[i] < adj[idx[r-1]] {
				t.Fatalf("Holm(%v) = %v not monotone in p", p, adj)
			}
		}
	}
}

// TOST by hand, and its duality with the 90% interval: equivalent at 5%
// exactly when Diff ± 1.645·SE lies inside the margin.
func TestEquivalence(t *testing.T) {
	for _, c := range []struct {
		diff, se, margin, want float64
	}{
		{0.01, 0.005, 0.02, 0.022750131948179}, // Φ(−2); the lower test's p is Φ(−6)
		{0, 0.02, 0.02, 0.158655253931457},     // Φ(−1) on both sides
		{-0.03, 0.01, 0.02, 0.841344746068543}, // outside the margin: Φ(1)
		{0.005, 0, 0.02, 0},                    // no variance: inside
		{0.03, 0, 0.02, 1},                     // no variance: outside
	} {
		got := Comparison{Diff: c.diff, SE: c.se}.Equivalence(c.margin)
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("diff %v ± %v within %v: p = %.15f, want %.15f", c.diff, c.se, c.margin, got, c.want)
		}
	}
	z := distuv.UnitNormal.Quantile(0.95)
	rng := rand.New(rand.NewPCG(3, 5))
	for range 1000 {
		c := Comparison{Diff: rng.Float64()*0.1 - 0.05, SE: rng.Float64() * 0.02}
		inside := math.Abs(c.Diff)+z*c.SE < 0.02
		if (c.Equivalence(0.02) < 0.05) != inside {
			t.Fatalf("diff %v se %v: TOST p %v, 90%% interval inside ±0.02: %v", c.Diff, c.SE, c.Equivalence(0.02), inside)
		}
	}
}
