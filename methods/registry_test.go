package methods

import (
	"image/color"
	"testing"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/trial"
)

// Every method states its part of the projection (zero-shot trains nothing
// and has none) and a style, and no two methods share a colour or a place.
func TestEveryMethodProjectsAndHasAStyle(t *testing.T) {
	colours, orders := map[color.RGBA]string{}, map[int]string{}
	for _, name := range Names() {
		m, _ := Get(name)
		if _, ok := m.(Projector); !ok && name != trial.ZeroShot {
			t.Errorf("%s implements no Projector: its trials cannot be projected", name)
		}
		s, ok := display.Lookup(name)
		if !ok {
			t.Errorf("%s has no style (Displayed)", name)
			continue
		}
		if other, dup := orders[s.Order]; dup {
			t.Errorf("%s and %s share the order %d", name, other, s.Order)
		}
		orders[s.Order] = name
		if s.Color == (color.RGBA{}) {
			continue
		}
		if other, dup := colours[s.Color]; dup {
			t.Errorf("%s and %s share the colour %v", name, other, s.Color)
		}
		colours[s.Color] = name
	}
	if got := display.Styled(); len(got) < 2 || got[0] != "full" || got[len(got)-1] != trial.ZeroShot {
		t.Errorf("styled methods in order: %v, want full first and zero-shot last", got)
	}
}
