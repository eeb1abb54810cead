package bench

import (
	"testing"
)

// BenchmarkCases runs every default case; -cpuprofile and -memprofile
// show where a step's time and allocations go.
func BenchmarkCases(b *testing.B) {
	for _, c := range Cases() {
		b.Run(c.Name, func(b *testing.B) {
			s, err := Prepare(c)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Measure(2, 1, 0); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			r, err := s.Measure(0, b.N, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.TokensPerSec, "tokens/s")
			b.ReportMetric(r.AllocPerStep, "B/step")
		})
	}
}
