package stats_test

import (
	"fmt"

	"github.com/peftbench/peftbench/stats"
)

func ExampleCompare() {
	// Two classifiers, one seed each, on the same 200 examples: both right
	// on the first 120, A alone on the next 30, B alone on the last 12.
	a := make([]bool, 200)
	b := make([]bool, 200)
	for i := range 200 {
		a[i] = i < 150
		b[i] = i < 120 || i >= 188
	}
	c, err := stats.Compare(stats.Outcomes{a}, stats.Outcomes{b})
	if err != nil {
		panic(err)
	}
	fmt.Printf("accuracy %.3f vs %.3f, diff %+.3f [%+.3f, %+.3f]\n", c.AccA, c.AccB, c.Diff, c.Lo, c.Hi)
	fmt.Printf("%s: %d vs %d discordant, p = %.4f, significant: %v\n", c.Test, c.OnlyA, c.OnlyB, c.P, c.P < stats.Alpha)
	// Output:
	// accuracy 0.750 vs 0.660, diff +0.090 [+0.028, +0.152]
	// McNemar exact: 30 vs 12 discordant, p = 0.0079, significant: true
}

func ExampleHolm() {
	// Four comparisons in one report: only the adjusted p-values are held
	// against Alpha.
	for _, p := range stats.Holm([]float64{0.01, 0.04, 0.03, 0.005}) {
		fmt.Printf("%.2f ", p)
	}
	fmt.Println()
	// Output: 0.03 0.06 0.06 0.02
}
