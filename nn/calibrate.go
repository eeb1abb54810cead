package nn

import (
	"time"
)

// CalibrateGFLOPS measures the GFLOP/s of a fixed float32 matrix product
// (512×512 by 512×512) through the BLAS in use, repeated for at least the
// given duration. Results carry it so throughput can be compared across
// machines: tokens/s per calibrated GFLOP/s, and model-FLOPs utilisation.
func CalibrateGFLOPS(d time.Duration) float64 {
	const n = 512
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7)*0.25, float32(i%5)*0.5
	}
	gemm(false, false, n, n, n, 1, a, b, 0, c) // warm-up: threads, caches
	start, reps := time.Now(), 0
	for time.Since(start) < d || reps == 0 {
		gemm(false, false, n, n, n, 1, a, b, 0, c)
		reps++
	}
	return 2 * n * n * n * float64(reps) / time.Since(start).Seconds() / 1e9
}
