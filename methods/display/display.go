// Package display is what readers of results know of each method without
// linking it: how reports show it (its place in tables and legends, its
// colour and its marker shape in figures) and what it is (a method or one
// of the controls, and the hyper-parameter that sizes it: declare.go).
// A method declares its own style in its file (methods.Displayed) and
// methods.Register records it here. The package links no engine, so
// reports read it without the training code; a program that never links
// package methods has no styles, and every method then takes the
// fallbacks. The declarations of what a method is hold in every program.
//
// Colours come from the Okabe–Ito palette, safe for colour-blind readers,
// with brown in place of its yellow (hard to see on white) and grey for
// the scratch control. A new method takes a colour and a marker no other
// method uses (methods' tests check), or declares none and gets a colour
// picked by a hash of its name and the circle.
package display

import (
	"fmt"
	"image/color"
	"sort"
	"sync"
)

// Marker names a marker shape that reports draw.
type Marker string

// The marker shapes: solid ones are edged in white, open ones are thick
// outlines around white, crosses are thick strokes.
const (
	Square        Marker = "square"
	Circle        Marker = "circle" // also the shape of a method that declares none
	Diamond       Marker = "diamond"
	TriangleDown  Marker = "triangle-down"
	TriangleUp    Marker = "triangle-up"
	TriangleLeft  Marker = "triangle-left"
	TriangleRight Marker = "triangle-right"
	Pentagon      Marker = "pentagon"
	Hexagon       Marker = "hexagon"
	Cross         Marker = "cross" // ×
	Star          Marker = "star"
	Plus          Marker = "plus"     // +
	Asterisk      Marker = "asterisk" // six strokes
	OpenCircle    Marker = "open-circle"
	OpenSquare    Marker = "open-square"
	OpenDiamond   Marker = "open-diamond"
	OpenStar      Marker = "open-star"
	OpenTriangle  Marker = "open-triangle"
)

// Markers lists every shape.
func Markers() []Marker {
	return []Marker{Square, Circle, Diamond, TriangleDown, TriangleUp, TriangleLeft, TriangleRight, Pentagon, Hexagon,
		Cross, Star, Plus, Asterisk, OpenCircle, OpenSquare, OpenDiamond, OpenStar, OpenTriangle}
}

// Style is how reports show one method.
type Style struct {
	// Order places the method in tables and legends: lower first. Methods
	// without a style come after every method with one, by name.
	Order int
	// Color is the method's colour in every figure; the zero value leaves
	// the choice to the report (a colour picked by a hash of the name).
	Color color.RGBA
	// Marker is its marker shape; empty means Circle.
	Marker Marker
}

var (
	mu     sync.RWMutex
	styles = map[string]Style{}
)

// Register records a method's style; it panics on a second style for one
// method or an unknown marker (programming errors caught at init).
func Register(method string, s Style) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := styles[method]; dup {
		panic("display: duplicate style for " + method)
	}
	if s.Marker != "" && !known(s.Marker) {
		panic(fmt.Sprintf("display: %s: unknown marker %q (have %v)", method, s.Marker, Markers()))
	}
	styles[method] = s
}

// Unregister drops a method's style (for tests that register a throwaway
// method).
func Unregister(method string) {
	mu.Lock()
	defer mu.Unlock()
	delete(styles, method)
}

// Lookup returns the method's style, if it declared one.
func Lookup(method string) (Style, bool) {
	mu.RLock()
	defer mu.RUnlock()
	s, ok := styles[method]
	return s, ok
}

// Styled lists the methods with a style, in their order (ties by name).
func Styled() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(styles))
	for m := range styles {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := styles[out[i]], styles[out[j]]
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return out[i] < out[j]
	})
	return out
}

func known(m Marker) bool {
	for _, k := range Markers() {
		if k == m {
			return true
		}
	}
	return false
}
