package tasks

import (
	"math"
	"testing"
)

func TestAccuracy(t *testing.T) {
	tests := []struct {
		pred, gold []int
		want       float64
	}{
		{[]int{0, 1, 1, 0}, []int{0, 1, 0, 0}, 0.75},
		{[]int{2, 2}, []int{0, 1}, 0},
		{nil, nil, 0},
		{[]int{-1, 1}, []int{1, 1}, 0.5},
	}
	for _, tc := range tests {
		if got := Accuracy(tc.pred, tc.gold); got != tc.want {
			t.Errorf("Accuracy(%v, %v) = %v, want %v", tc.pred, tc.gold, got, tc.want)
		}
	}
}

func TestMacroF1(t *testing.T) {
	tests := []struct {
		name       string
		pred, gold []int
		k          int
		want       float64
	}{
		// Class 0: TP 2, FP 1, FN 1 -> 4/6. Class 1: TP 1, FP 1, FN 1 -> 2/4.
		// Class 2: TP 0, FP 0, FN 0 and no support -> 0.
		{"by hand", []int{0, 0, 1, 0, 1}, []int{0, 0, 0, 1, 1}, 3, (4.0/6 + 2.0/4 + 0) / 3},
		{"perfect", []int{0, 1, 2}, []int{0, 1, 2}, 3, 1},
		// Always class 0 on 3x0, 1x1: class 0 F1 = 6/7, class 1 = 0.
		{"majority", []int{0, 0, 0, 0}, []int{0, 0, 0, 1}, 2, 3.0 / 7},
		// An abstention (-1) is a miss for the gold class only.
		{"abstain", []int{-1, 1}, []int{0, 1}, 2, (0 + 1.0) / 2},
		{"empty", nil, nil, 2, 0},
	}
	for _, tc := range tests {
		if got := MacroF1(tc.pred, tc.gold, tc.k); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: MacroF1 = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMetricLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Accuracy with mismatched lengths did not panic")
		}
	}()
	Accuracy([]int{1}, []int{1, 2})
}

func TestNormaliseAnswer(t *testing.T) {
	tests := []struct{ in, want string }{
		{" 42\nQuestion: next", "42"},
		{"42.", "42"},
		{"$1,200.00", "1200"},
		{"+7", "7"},
		{"-0", "0"},
		{"007", "7"},
		{"3.50", "3.5"},
		{".5", "0.5"},
		{"-12", "-12"},
		{"1,2", "1,2"},
		{"12,34", "12,34"},
		{"  Great  ", "great"},
		{`"Spam"!`, "spam"},
		{"The answer is 12", "the answer is 12"},
		{"", ""},
	}
	for _, tc := range tests {
		got := NormaliseAnswer(tc.in)
		if got != tc.want {
			t.Errorf("NormaliseAnswer(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := NormaliseAnswer(got); again != got {
			t.Errorf("NormaliseAnswer not idempotent on %q: %q", got, again)
		}
	}
}

func TestExactMatch(t *testing.T) {
	pred := []string{" 12\n", "13", "$1,000", "seven"}
	gold := []string{"12", "14", "1000", "7"}
	if got := ExactMatch(pred, gold); got != 0.5 {
		t.Errorf("ExactMatch = %v, want 0.5", got)
	}
}
