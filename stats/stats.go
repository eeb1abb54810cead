// Package stats holds paired significance tests for classifiers evaluated on
// the same test examples: whether one configuration's accuracy really differs
// from another's, given per-example outcomes over one or more training seeds,
// with Holm's correction for reports and regression checks that make many
// comparisons at once.
package stats

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Alpha is the family-wise error rate reports use.
const Alpha = 0.05

// Outcomes is one configuration's per-example correctness on one split:
// Right[s][i] is whether seed s got example i right. Every seed covers
// the same examples in the same order.
type Outcomes [][]bool

// Test names.
const (
	McNemar = "McNemar exact"              // both sides one seed
	Paired  = "paired z, seeds + examples" // otherwise
)

// Comparison is the result of Compare.
type Comparison struct {
	N              int     // paired examples
	SeedsA, SeedsB int     // seeds on each side
	AccA, AccB     float64 // accuracy, mean over seeds
	Diff           float64 // AccA − AccB
	Lo, Hi         float64 // 95% confidence interval of Diff
	SE             float64 // standard error of Diff (examples and seeds)
	P              float64 // two-sided p-value, unadjusted
	Test           string  // McNemar or Paired
	// OnlyA and OnlyB count the examples that A's seeds get right more
	// often than B's, and the reverse (for one seed each: McNemar's
	// discordant pairs b and c).
	OnlyA, OnlyB int
}

// examples checks that o is rectangular and non-empty and returns its number
// of examples.
func (o Outcomes) examples(side string) (int, error) {
	if len(o) == 0 {
		return 0, fmt.Errorf("stats: %s has no seeds", side)
	}
	n := len(o[0])
	if n == 0 {
		return 0, fmt.Errorf("stats: %s has no examples", side)
	}
	for s, row := range o {
		if len(row) != n {
			return 0, fmt.Errorf("stats: %s seed %d covers %d examples, seed 0 covers %d", side, s, len(row), n)
		}
	}
	return n, nil
}

// perExample returns the fraction of seeds right on each example and each
// seed's accuracy.
func (o Outcomes) perExample(n int) (frac, acc []float64) {
	frac = make([]float64, n)
	acc = make([]float64, len(o))
	for s, row := range o {
		right := 0
		for i, ok := range row {
			if ok {
				frac[i]++
				right++
			}
		}
		acc[s] = float64(right) / float64(n)
	}
	for i := range frac {
		frac[i] /= float64(len(o))
	}
	return frac, acc
}

// meanVar returns the mean and sample variance (n − 1 denominator) of xs;
// the variance is 0 for fewer than two values, as there is nothing to
// estimate it from.
func meanVar(xs []float64) (mean, v float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	return mean, v / float64(len(xs)-1)
}

// Compare tests A against B, paired by example.
//
// Each example contributes d_i = a_i − b_i, the difference in the fraction
// of seeds right. The variance of the mean difference adds the sampling of
// test examples, s²(d)/n, to that of training seeds, s²(seed accuracies)/S
// for each side with at least two seeds, so a method whose seeds disagree
// is not called better on the strength of one lucky run. This is, in
// closed form, the variance a paired bootstrap that resamples both test
// examples and seeds estimates; the interval and p-value take the
// difference as normal with that variance, as the bootstrap would. (A t
// distribution with Welch–Satterthwaite degrees of freedom is exact for
// normal seed spreads, but with two or three seeds its one or two degrees
// of freedom hide differences of fifteen points after any correction for
// many tests.) With one seed on each side the p-value is McNemar's exact
// test instead; the interval is the normal one either way. A single
// example gives no example variance, as a single seed gives no seed
// variance.
func Compare(a, b Outcomes) (Comparison, error) {
	na, err := a.examples("A")
	if err != nil {
		return Comparison{}, err
	}
	nb, err := b.examples("B")
	if err != nil {
		return Comparison{}, err
	}
	if na != nb {
		return Comparison{}, fmt.Errorf("stats: A covers %d examples, B covers %d", na, nb)
	}
	n := na
	fa, accA := a.perExample(n)
	fb, accB := b.perExample(n)
	c := Comparison{N: n, SeedsA: len(a), SeedsB: len(b)}

	d := make([]float64, n)
	for i := range d {
		d[i] = fa[i] - fb[i]
		switch {
		case d[i] > 0:
			c.OnlyA++
		case d[i] < 0:
			c.OnlyB++
		}
	}
	var vA, vB, ve float64
	c.AccA, vA = meanVar(accA)
	c.AccB, vB = meanVar(accB)
	c.Diff, ve = meanVar(d)
	total := ve/float64(n) + vA/float64(len(a)) + vB/float64(len(b))

	c.Test = Paired
	if total == 0 {
		// No variance anywhere: the difference is exactly what was seen.
		c.Lo, c.Hi = c.Diff, c.Diff
		c.P = 1
		if c.Diff != 0 {
			c.P = 0
		}
	} else {
		se := math.Sqrt(total)
		c.SE = se
		half := distuv.UnitNormal.Quantile(0.975) * se
		c.Lo, c.Hi = c.Diff-half, c.Diff+half
		c.P = math.Min(1, 2*distuv.UnitNormal.CDF(-math.Abs(c.Diff)/se))
	}
	if len(a) == 1 && len(b) == 1 {
		c.Test = McNemar
		c.P = McNemarExact(c.OnlyA, c.OnlyB)
	}
	return c, nil
}

// Equivalence is the p-value of two one-sided tests (TOST) that the true
// difference lies within ±margin: the larger of the p-values against
// Diff ≤ −margin and against Diff ≥ margin, each from the normal
// distribution Compare's interval uses. Below α it supports "equivalent
// within the margin" at level α (the 1−2α interval lies inside ±margin);
// otherwise parity is not shown, whatever the two-sided test says. With
// one seed a side the standard error holds no seed spread, so a report
// should not rest parity on it.
func (c Comparison) Equivalence(margin float64) float64 {
	if c.SE == 0 {
		if math.Abs(c.Diff) < margin {
			return 0
		}
		return 1
	}
	lower := distuv.UnitNormal.Survival((c.Diff + margin) / c.SE) // against Diff ≤ −margin
	upper := distuv.UnitNormal.CDF((c.Diff - margin) / c.SE)      // against Diff ≥ margin
	return math.Max(lower, upper)
}

// McNemarExact is the two-sided exact McNemar p-value for discordant counts
// b and c: min(1, 2·P(X ≤ min(b,c))) with X ~ Binomial(b+c, 1/2); 1 when
// b+c = 0.
func McNemarExact(b, c int) float64 {
	if b < 0 || c < 0 {
		return math.NaN()
	}
	n := b + c
	k := min(b, c)
	if n == 0 || 2*k == n {
		return 1
	}
	// Sum the tail relative to its largest term, P(X = k) (k < n/2), going
	// down with P(X = j−1)/P(X = j) = j/(n−j+1); then scale by P(X = k) in
	// log space so that large n neither overflows nor loses precision.
	sum, term := 1.0, 1.0
	for j := k; j > 0; j-- {
		term *= float64(j) / float64(n-j+1)
		sum += term
		if term < 1e-17*sum {
			break
		}
	}
	lgN, _ := math.Lgamma(float64(n + 1))
	lgK, _ := math.Lgamma(float64(k + 1))
	lgNK, _ := math.Lgamma(float64(n - k + 1))
	logPk := lgN - lgK - lgNK - float64(n)*math.Ln2
	return math.Min(1, 2*sum*math.Exp(logPk))
}

// Holm returns Holm–Bonferroni adjusted p-values (step-down, made monotone,
// capped at 1), in the input order. NaN inputs stay NaN and do not count
// toward m.
func Holm(p []float64) []float64 {
	adj := make([]float64, len(p))
	var idx []int
	for i, x := range p {
		adj[i] = x
		if !math.IsNaN(x) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(i, j int) bool { return p[idx[i]] < p[idx[j]] })
	m := len(idx)
	running := 0.0
	for r, i := range idx {
		// The r-th smallest p-value is tested at α/(m−r); carrying the
		// maximum forward keeps a smaller raw p from getting a larger
		// adjusted one.
		running = math.Max(running, math.Min(1, float64(m-r)*p[i]))
		adj[i] = running
	}
	return adj
}
