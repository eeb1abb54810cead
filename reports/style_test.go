package reports

import (
	"image/color"
	"testing"

	// The methods register their styles (package display) when linked, as
	// in the harness; the report tests expect them.
	_ "github.com/peftbench/peftbench/methods"
)

// A method outside the palette keeps the colour it had before the hash
// moved to internal/detrand (values computed with hash/fnv's 32-bit
// FNV-1a). Names of registered methods (vera and lokr are now) take their own style.
func TestMethodColourFallbackPinned(t *testing.T) {
	grey, purple, brown, green := color.RGBA{136, 136, 136, 255}, color.RGBA{106, 61, 154, 255}, color.RGBA{177, 89, 40, 255}, color.RGBA{27, 158, 119, 255}
	for name, want := range map[string]color.RGBA{"llm2llm": purple, "x": green, "a": grey, "c": brown, "oft": grey} {
		if got := methodColor(name); got != want {
			t.Errorf("methodColor(%q) = %v, want %v", name, got, want)
		}
	}
}
