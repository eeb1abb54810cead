package bench

import (
	"os"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
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

// TestAllocationPerStepUnderOnePercent holds the engine's target: after
// warm-up a training step allocates less than 1% of the weights' bytes.
func TestAllocationPerStepUnderOnePercent(t *testing.T) {
	if nn.BLAS() != "openblas" {
		t.Skip("gonum's pure-Go gemm allocates its own work space on every call; the target is for the OpenBLAS build (./run.sh test runs it)")
	}
	for _, c := range Cases() {
		if c.Model != "" && testing.Short() {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			s, err := Prepare(c)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Measure(2, 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.0f bytes per step, weights %d bytes, %.0f tokens/s", c.Name, r.AllocPerStep, r.WeightBytes, r.TokensPerSec)
			if r.AllocPerStep >= 0.01*float64(r.WeightBytes) {
				t.Fatalf("%.0f bytes allocated per step, limit %.0f", r.AllocPerStep, 0.01*float64(r.WeightBytes))
			}
		})
	}
}

// TestLargeCasesAreRealSize checks the large cases' shapes against the
// models they stand for (GPT-2 small: 124,439,808 parameters;
// SmolLM2-135M: 134,515,008) and that none of them runs by default.
func TestLargeCasesAreRealSize(t *testing.T) {
	for _, c := range Cases() {
		if c.Large {
			t.Errorf("default case %s is large", c.Name)
		}
	}
	if testing.Short() {
		t.Skip("builds two models of 125M parameters")
	}
	want := map[string]int{"gpt2-124m/lora-r8": 124439808, "smollm2-135m/lora-r8": 134515008}
	for _, c := range LargeCases() {
		if !c.Large || c.Batch*c.Length == 0 {
			t.Errorf("%s: %+v", c.Name, c)
		}
		m, err := model.New(c.Config, tensor.Float32, Seed)
		if err != nil {
			t.Fatal(err)
		}
		if n := m.NumParams(); n != want[c.Name] {
			t.Errorf("%s: %d parameters, want %d", c.Name, n, want[c.Name])
		}
	}
}

// TestMemoryIsMeasured checks that a measurement reports the peaks of the
// heap and of the resident set (Linux: the resident set from /proc).
func TestMemoryIsMeasured(t *testing.T) {
	s, err := Prepare(Cases()[3]) // fieldnotes/lora-r8
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Measure(1, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.PeakHeapBytes < r.WeightBytes {
		t.Errorf("peak heap %d bytes, below the weights' %d", r.PeakHeapBytes, r.WeightBytes)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && r.PeakRSSBytes < r.PeakHeapBytes/2 {
		t.Errorf("peak resident set %d bytes, peak heap %d", r.PeakRSSBytes, r.PeakHeapBytes)
	}
	s.Release()
}
