package numfmt

import (
	"encoding/json"
	"math"
	"testing"
)

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 12: "12", 950: "950", 999: "999", 1000: "1,000", 3500: "3,500", 100000: "100,000",
		1098192: "1,098,192", 1234567: "1,234,567", 12345.6: "12,346", -1234: "-1,234", -123: "-123", -0.4: "0",
		math.NaN(): "—", math.Inf(1): "—",
	} {
		if got := Thousands(v); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestGiB(t *testing.T) {
	if got := GiB(3 << 29); got != "1.50 GiB" {
		t.Errorf("GiB(1.5 GiB) = %q", got)
	}
}

func TestNumber(t *testing.T) {
	for _, v := range []any{8, int64(8), uint64(8), 8.0, float32(8), json.Number("8")} {
		if f, ok := Number(v); !ok || f != 8 {
			t.Errorf("Number(%T %v) = %v, %v", v, v, f, ok)
		}
	}
	for _, v := range []any{"8", nil, true, []any{8}, json.Number("x")} {
		if _, ok := Number(v); ok {
			t.Errorf("Number(%T %v) is a number", v, v)
		}
	}
}
