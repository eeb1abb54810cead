package aggregate

import (
	"fmt"
	"math"
	"strings"

	"github.com/peftbench/peftbench/stats"
)

// Cells: how reports and the check write the numbers they share.

// PValue writes a p-value compactly: three decimals, two significant
// digits below 0.001, and a floor where the float runs out; "—" for NaN.
func PValue(p float64) string {
	switch {
	case math.IsNaN(p):
		return "—"
	case p < 1e-12:
		return "< 1e-12"
	case p < 0.001:
		return fmt.Sprintf("%.1e", p)
	}
	return fmt.Sprintf("%.3f", p)
}

// PText is a p-value in a sentence: "= 0.012", "= 2.0e-05", "< 1e-12".
func PText(p float64) string {
	s := PValue(p)
	if strings.HasPrefix(s, "<") {
		return s
	}
	return "= " + s
}

// Interval is a paired comparison's 95% interval in accuracy points,
// clipped to the differences accuracy allows (with two seeds whose
// accuracies disagree, a t interval can reach past ±100): "[6.1, 13.5]".
func Interval(c stats.Comparison) string {
	return fmt.Sprintf("[%.1f, %.1f]", 100*max(c.Lo, -1), 100*min(c.Hi, 1))
}

// MiB writes a byte count in MiB with one decimal, without the unit.
func MiB(b float64) string { return fmt.Sprintf("%.1f", b/(1<<20)) }
