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
	for _, x := range []float32{-20, -3, -0.5, 0, 0.3, 2, 8.9, 12} {
		if d := math.Abs(float64(tanh(x)) - math.Tanh(float64(x))); d > 3e-7 {
			t.Errorf("tanh(%g) off by %g", x, d)
		}
	}
}
