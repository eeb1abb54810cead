package reports

import (
	"fmt"
	"image/color"
	"testing"

	"github.com/peftbench/peftbench/methods/display"

	// The methods register their styles (package display) when linked, as
	// in the harness; the report tests expect them.
	_ "github.com/peftbench/peftbench/methods"
)

// A method outside the palette keeps the colour it had before the hash
// moved to internal/detrand (values computed with hash/fnv's 32-bit
// FNV-1a). Names of registered methods (vera, lokr and oft are now) take their own style.
func TestMethodColourFallbackPinned(t *testing.T) {
	grey, purple, brown, green := color.RGBA{136, 136, 136, 255}, color.RGBA{106, 61, 154, 255}, color.RGBA{177, 89, 40, 255}, color.RGBA{27, 158, 119, 255}
	for name, want := range map[string]color.RGBA{"llm2llm": purple, "x": green, "a": grey, "c": brown} {
		if got := methodColor(name); got != want {
			t.Errorf("methodColor(%q) = %v, want %v", name, got, want)
		}
	}
}

// Every marker shape of package display has a drawing, and no two methods
// with a style are drawn alike: each has its own colour and its own shape.
func TestEveryMethodDrawnApart(t *testing.T) {
	for _, m := range display.Markers() {
		if markers[m] == nil {
			t.Errorf("marker %s has no drawing", m)
		}
	}
	shapes := map[string]string{}
	colours := map[color.RGBA]string{}
	for _, m := range display.Styled() {
		shape := fmt.Sprintf("%#v", methodGlyph(m).Shape)
		if other, dup := shapes[shape]; dup {
			t.Errorf("%s and %s are drawn with one marker", m, other)
		}
		shapes[shape] = m
		if other, dup := colours[methodColor(m)]; dup && display.Declared(m).Role == display.Method && display.Declared(other).Role == display.Method {
			t.Errorf("%s and %s are drawn in one colour", m, other)
		}
		colours[methodColor(m)] = m
	}
	if len(shapes) < 2 {
		t.Fatalf("%d styled methods: the methods are not linked", len(shapes))
	}
}
