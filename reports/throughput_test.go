package reports

import (
	"strings"
	"testing"

	"github.com/peftbench/peftbench/trial/aggregate"
)

// A bar of one seed has no spread: it draws no error bar, and the figure
// does not say ± std where no bar has one; where only some bars have one
// seed, the legend says why they have no bar.
func TestThroughputFigureOneSeed(t *testing.T) {
	nm := newNaming([]taskKey{{"tiny", "spam"}})
	row := func(method string, tps ...float64) throughputRow {
		return throughputRow{taskKey: taskKey{"tiny", "spam"}, Method: method, TokensPerSec: aggregate.StatOf(tps)}
	}
	for _, c := range []struct {
		name    string
		rows    []throughputRow
		bars    int
		std     bool
		entries int
	}{
		{"one seed", []throughputRow{row("full", 4000), row("lora", 5000)}, 0, false, 2},
		{"two seeds", []throughputRow{row("full", 4000, 4100), row("lora", 5000, 5200)}, 2, true, 2},
		{"mixed", []throughputRow{row("full", 4000, 4100), row("lora", 5000)}, 1, true, 3},
	} {
		f, err := throughputFigure(c.rows, nm)
		if err != nil {
			t.Fatal(err)
		}
		y := f.Panels[0].Y.Label.Text
		if f.errorBars != c.bars || strings.Contains(y, "std") != c.std || f.entries != c.entries {
			t.Errorf("%s: %d error bars, y label %q, %d legend entries; want %d bars, std named %v, %d entries",
				c.name, f.errorBars, y, f.entries, c.bars, c.std, c.entries)
		}
		if !c.std && !strings.Contains(y, "one seed") {
			t.Errorf("%s: y label %q does not say one seed", c.name, y)
		}
	}
}
