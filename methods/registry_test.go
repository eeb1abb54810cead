package methods

import (
	"image/color"
	"testing"

	"github.com/peftbench/peftbench/methods/display"
)

// Every method states its part of the projection (zero-shot trains nothing
// and has none) and a style, and no two methods share a colour, a marker
// (an undeclared marker is the circle) or a place.
func TestEveryMethodProjectsAndHasAStyle(t *testing.T) {
	colours, orders, marks := map[color.RGBA]string{}, map[int]string{}, map[display.Marker]string{}
	for _, name := range Names() {
		m, _ := Get(name)
		if _, ok := m.(Projector); !ok && name != display.ZeroShot {
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
		mark := s.Marker
		if mark == "" {
			mark = display.Circle
		}
		if other, dup := marks[mark]; dup {
			t.Errorf("%s and %s share the marker %s", name, other, mark)
		}
		marks[mark] = name
		if s.Color == (color.RGBA{}) {
			continue
		}
		if other, dup := colours[s.Color]; dup {
			t.Errorf("%s and %s share the colour %v", name, other, s.Color)
		}
		colours[s.Color] = name
	}
	if got := display.Styled(); len(got) < 2 || got[0] != "full" || got[len(got)-1] != display.ZeroShot {
		t.Errorf("styled methods in order: %v, want full first and zero-shot last", got)
	}
}

// display's declarations, which readers of results consult without
// linking this package, agree with the registry: every declared method is
// registered, a headline is one of its numeric hyper-parameters, and a
// method with a hyper-parameter that sizes other methods (a new method's
// "rank") declares its headline. Only the untrained control trains
// nothing; an unpretrained one starts from its method's learning rate.
func TestDeclarationsMatchTheRegistry(t *testing.T) {
	headlines := map[string]bool{}
	for _, d := range display.Declarations() {
		m, err := Get(d.Name)
		if err != nil {
			t.Errorf("%s is declared but not registered", d.Name)
			continue
		}
		if d.Headline != "" {
			headlines[d.Headline] = true
			if s, ok := spec(m, d.Headline); !ok || (s.Kind != Int && s.Kind != Float) {
				t.Errorf("%s: headline %q is not one of its numeric hyper-parameters", d.Name, d.Headline)
			}
		}
		if d.Role == display.Unpretrained {
			of, err := Get(d.Of)
			if err != nil || of.DefaultLR() != m.DefaultLR() {
				t.Errorf("%s controls for %q: not registered, or another default rate", d.Name, d.Of)
			}
		}
	}
	for _, name := range Names() {
		m, _ := Get(name)
		d := display.Declared(name)
		if untrained := d.Role == display.Untrained; untrained != (m.DefaultLR() == 0) || (untrained && len(m.Params()) > 0) {
			t.Errorf("%s: role %d, default rate %g, %d hyper-parameters", name, d.Role, m.DefaultLR(), len(m.Params()))
		}
		if d.Headline != "" {
			continue
		}
		for _, s := range m.Params() {
			if headlines[s.Name] {
				t.Errorf("%s has %q but declares no headline (methods/display's declarations)", name, s.Name)
			}
		}
	}
}

func spec(m Method, name string) (Spec, bool) {
	for _, s := range m.Params() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}
