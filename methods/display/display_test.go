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

// The declarations are well-formed: one per name, controls sized by
// nothing, an Unpretrained control naming the method it controls for,
// and a headline with its symbol.
func TestDeclarations(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Declarations() {
		if d.Name == "" || seen[d.Name] {
			t.Errorf("%q: empty or declared twice", d.Name)
		}
		seen[d.Name] = true
		if (d.Headline == "") != (d.Symbol == "") {
			t.Errorf("%s: headline %q with symbol %q", d.Name, d.Headline, d.Symbol)
		}
		if d.Role != Method && d.Headline != "" {
			t.Errorf("control %s has a headline", d.Name)
		}
		if (d.Role == Unpretrained) != (d.Of != "") || (d.Of != "" && Declared(d.Of).Role != Method) {
			t.Errorf("%s (role %d) is a control of %q", d.Name, d.Role, d.Of)
		}
	}
	if got := Controls(); !slices.Equal(got, []string{ZeroShot, Scratch}) {
		t.Errorf("Controls() = %v", got)
	}
	if !IsControl(Scratch) || IsControl("lora") || IsControl("no such method") {
		t.Error("IsControl")
	}
	if d := Declared("no such method"); d.Role != Method || d.Headline != "" || d.Name != "no such method" {
		t.Errorf("an undeclared method: %+v", d)
	}
	if got := WithHeadline("length"); !slices.Equal(got, []string{"prompt", "ptuning", "prefix"}) {
		t.Errorf("WithHeadline(length) = %v, want prompt first, as report titles name them", got)
	}
	if got := Reference(); got != Declared(Scratch).Of || got == "" || IsControl(got) {
		t.Errorf("Reference() = %q, want the method scratch controls for", got)
	}
	if got := WithHeadline(""); got != nil {
		t.Errorf("WithHeadline(\"\") = %v", got)
	}
}
