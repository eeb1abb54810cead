// Package numfmt reads and writes numbers as the harness shows them:
// digits in groups of three, bytes in GiB, and numeric hyper-parameter
// values as YAML and JSON decoding leave them. It imports nothing of the
// project, so every layer may use it.
package numfmt

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Thousands rounds v and groups its digits: 12345.6 → "12,346"; "—" for
// NaN or an infinity.
func Thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatInt(int64(math.Round(math.Abs(v))), 10)
	var b strings.Builder
	if v < 0 && math.Round(v) != 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// GiB writes b bytes in GiB (2³⁰ bytes) to two decimals: "1.50 GiB".
func GiB(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }

// Number reads a numeric value as YAML or JSON decoding leaves it (int,
// int64, uint64, float32, float64, json.Number); false for anything
// else.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}
