package nn

import (
	"math"
	"testing"
)

func TestExp32MatchesMathExp(t *testing.T) {
	worst := 0.0
	for x := -103.0; x < 88.7; x += 0.0137 {
		got := float64(exp32(float32(x)))
		want := math.Exp(float64(float32(x)))
		if want < 1e-37 { // subnormals: absolute error
			if math.Abs(got-want) > 1e-44 {
				t.Fatalf("exp32(%g) = %g, want %g", x, got, want)
			}
			continue
		}
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Fatalf("worst relative error %.3g", worst)
	}
	if !math.IsInf(float64(exp32(100)), 1) || exp32(-200) != 0 {
		t.Fatal("overflow or underflow handled wrongly")
	}
	worst = 0
	for x := -12.0; x < 12; x += 0.00037 {
		want := math.Tanh(float64(float32(x)))
		worst = math.Max(worst, math.Abs(float64(tanh32(float32(x)))-want)/math.Max(math.Abs(want), 1e-30))
	}
	if worst > 4e-7 || tanh32(0) != 0 || tanh32(-30) != -1 || tanh32(30) != 1 {
		t.Fatalf("tanh32: worst relative error %.3g", worst)
	}
}
