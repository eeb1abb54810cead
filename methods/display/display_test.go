package display

import (
	"slices"
	"testing"
)

func TestRegisterOrderAndMarkers(t *testing.T) {
	Register("b", Style{Order: 2, Marker: Star})
	Register("a", Style{Order: 2})
	Register("c", Style{Order: 1})
	defer func() {
		for _, m := range []string{"a", "b", "c"} {
			Unregister(m)
		}
	}()
	if got := Styled(); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("Styled() = %v, want [c a b]: by order, ties by name", got)
	}
	if s, ok := Lookup("b"); !ok || s.Marker != Star {
		t.Errorf("Lookup(b) = %+v, %v", s, ok)
	}
	if _, ok := Lookup("d"); ok {
		t.Error("a method with no style has one")
	}
	for _, bad := range []func(){
		func() { Register("a", Style{}) },               // twice
		func() { Register("e", Style{Marker: "blob"}) }, // no such marker
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Register did not panic")
				}
			}()
			bad()
		}()
	}
}
