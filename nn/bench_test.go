package nn

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// The benchmarks split their kernels across GOMAXPROCS workers, so that
// -cpu 1,2 compares one worker with two.
func benchPool(b *testing.B) {
	saved := workers
	workers = newPool(runtime.GOMAXPROCS(0))
	b.Cleanup(func() { workers = saved })
}

func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		m, n, k        int
		transA, transB bool
	}{
		{1024, 512, 128, false, false}, // x·W1 at 16×64 tokens
		{1024, 128, 512, false, false}, // h·W2
		{1024, 128, 512, false, true},  // dh·W2ᵀ
		{128, 512, 1024, true, false},  // xᵀ·dh: a weight gradient
		{2048, 768, 768, false, false}, // a GPT-2 small projection at 8×256 tokens
		{256, 256, 256, false, false},
	} {
		b.Run(fmt.Sprintf("%dx%dx%d/tA=%v,tB=%v", c.m, c.n, c.k, c.transA, c.transB), func(b *testing.B) {
			benchPool(b)
			a, w, y := make([]float32, c.m*c.k), make([]float32, c.k*c.n), make([]float32, c.m*c.n)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			b.SetBytes(0)
			b.ResetTimer()
			for range b.N {
				gemm(c.transA, c.transB, c.m, c.n, c.k, 1, a, w, 0, y)
			}
			b.ReportMetric(2*float64(c.m*c.n*c.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

// BenchmarkStep is one run (forward and backward) and AdamW update of the
// one-block transformer of bigProgram.
func BenchmarkStep(b *testing.B) {
	benchPool(b)
	p := bigProgram(b)
	opt := NewAdamW(0.01)
	must(b, p.Run())
	b.ResetTimer()
	for range b.N {
		must(b, p.Run())
		opt.Step(p, 1e-6)
	}
}
