package reports

import (
	"image/color"
	"math"

	"github.com/peftbench/peftbench/internal/detrand"
	"github.com/peftbench/peftbench/methods/display"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// extraColors are for methods that declare no colour (package display),
// picked by the project's hash of the name (internal/detrand) so that they
// too keep their colour from figure to figure.
var extraColors = []color.RGBA{
	{0x88, 0x88, 0x88, 0xff}, {0x6a, 0x3d, 0x9a, 0xff}, {0xb1, 0x59, 0x28, 0xff}, {0x1b, 0x9e, 0x77, 0xff},
}

// methodColor is the method's colour in every figure: the one its style
// declares, or one of extraColors.
func methodColor(method string) color.RGBA {
	if s, ok := display.Lookup(method); ok && s.Color != (color.RGBA{}) {
		return s.Color
	}
	return extraColors[detrand.Hash(method)%uint64(len(extraColors))]
}

// markers draw the shapes of package display, for print in grey: solid
// shapes edged in white, so that they stand out from lines, error bars and
// each other, open shapes as thick outlines around white, and thick
// crosses.
var markers = map[display.Marker]draw.GlyphDrawer{
	display.Square:        marker{fill: square},
	display.Circle:        marker{fill: polygon(24, 1, 0)},
	display.Diamond:       marker{fill: []vg.Point{{X: 0, Y: 1.25}, {X: 1.1, Y: 0}, {X: 0, Y: -1.25}, {X: -1.1, Y: 0}}},
	display.TriangleDown:  marker{fill: []vg.Point{{X: 0, Y: -1.2}, {X: 1.05, Y: 0.6}, {X: -1.05, Y: 0.6}}},
	display.TriangleUp:    marker{fill: []vg.Point{{X: 0, Y: 1.2}, {X: 1.05, Y: -0.6}, {X: -1.05, Y: -0.6}}},
	display.TriangleLeft:  marker{fill: []vg.Point{{X: -1.2, Y: 0}, {X: 0.6, Y: 1.05}, {X: 0.6, Y: -1.05}}},
	display.TriangleRight: marker{fill: []vg.Point{{X: 1.2, Y: 0}, {X: -0.6, Y: -1.05}, {X: -0.6, Y: 1.05}}},
	display.Pentagon:      marker{fill: polygon(5, 1.1, math.Pi/2)},
	display.Hexagon:       marker{fill: polygon(6, 1.05, math.Pi/6)},
	display.Cross:         marker{stroke: [][2]vg.Point{{{X: -0.9, Y: -0.9}, {X: 0.9, Y: 0.9}}, {{X: -0.9, Y: 0.9}, {X: 0.9, Y: -0.9}}}},
	display.Star:          marker{fill: star(5, 1.4, 0.6)},
	display.Plus:          marker{stroke: [][2]vg.Point{{{X: -1, Y: 0}, {X: 1, Y: 0}}, {{X: 0, Y: -1}, {X: 0, Y: 1}}}},
	display.Asterisk:      marker{stroke: spokes(3, 1.1), thin: true},
	display.OpenCircle:    marker{fill: polygon(24, 0.9, 0), open: true},
	display.OpenSquare:    marker{fill: []vg.Point{{X: -0.8, Y: -0.8}, {X: 0.8, Y: -0.8}, {X: 0.8, Y: 0.8}, {X: -0.8, Y: 0.8}}, open: true},
	display.OpenDiamond:   marker{fill: []vg.Point{{X: 0, Y: 1.15}, {X: 1.0, Y: 0}, {X: 0, Y: -1.15}, {X: -1.0, Y: 0}}, open: true},
	display.OpenStar:      marker{fill: star(5, 1.3, 0.55), open: true},
	display.OpenTriangle:  marker{fill: []vg.Point{{X: 0, Y: 1.2}, {X: 1.05, Y: -0.6}, {X: -1.05, Y: -0.6}}, open: true},
}

var square = []vg.Point{{X: -0.85, Y: -0.85}, {X: 0.85, Y: -0.85}, {X: 0.85, Y: 0.85}, {X: -0.85, Y: 0.85}}

// spokes are n strokes of half-length r through the centre, one upright.
func spokes(n int, r float64) [][2]vg.Point {
	out := make([][2]vg.Point, n)
	for i := range out {
		a := math.Pi/2 + math.Pi*float64(i)/float64(n)
		x, y := vg.Length(r*math.Cos(a)), vg.Length(r*math.Sin(a))
		out[i] = [2]vg.Point{{X: -x, Y: -y}, {X: x, Y: y}}
	}
	return out
}

// polygon is a regular n-gon of radius r turned by phase.
func polygon(n int, r, phase float64) []vg.Point {
	out := make([]vg.Point, n)
	for i := range out {
		a := phase + 2*math.Pi*float64(i)/float64(n)
		out[i] = vg.Point{X: vg.Length(r * math.Cos(a)), Y: vg.Length(r * math.Sin(a))}
	}
	return out
}

// star is an n-pointed star with outer and inner radii, a point upwards.
func star(n int, outer, inner float64) []vg.Point {
	out := make([]vg.Point, 2*n)
	for i := range out {
		r := outer
		if i%2 == 1 {
			r = inner
		}
		a := math.Pi/2 + math.Pi*float64(i)/float64(n)
		out[i] = vg.Point{X: vg.Length(r * math.Cos(a)), Y: vg.Length(r * math.Sin(a))}
	}
	return out
}

// marker is a glyph drawn from unit-radius coordinates: a filled polygon
// (open: white, outlined in the colour), or thick strokes (thin: less
// thick, for strokes that cross at the centre).
type marker struct {
	fill   []vg.Point
	open   bool
	stroke [][2]vg.Point
	thin   bool
}

// DrawGlyph implements draw.GlyphDrawer.
func (m marker) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	at := func(u vg.Point) vg.Point { return vg.Point{X: pt.X + u.X*sty.Radius, Y: pt.Y + u.Y*sty.Radius} }
	if len(m.fill) > 0 {
		var p vg.Path
		p.Move(at(m.fill[0]))
		for _, u := range m.fill[1:] {
			p.Line(at(u))
		}
		p.Close()
		if m.open {
			c.SetColor(color.White)
			c.Fill(p)
			c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: sty.Radius * 0.4})
		} else {
			c.SetColor(sty.Color)
			c.Fill(p)
			c.SetLineStyle(draw.LineStyle{Color: color.White, Width: vg.Points(0.6)})
		}
		c.Stroke(p)
	}
	width := sty.Radius * 0.5
	if m.thin {
		width = sty.Radius * 0.38
	}
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: width})
	for _, seg := range m.stroke {
		var p vg.Path
		p.Move(at(seg[0]))
		p.Line(at(seg[1]))
		c.Stroke(p)
	}
}

// methodGlyph is the method's marker in its colour: the shape its style
// declares, or the circle.
func methodGlyph(method string) draw.GlyphStyle {
	shape := markers[display.Circle]
	if s, ok := display.Lookup(method); ok && s.Marker != "" {
		shape = markers[s.Marker]
	}
	return draw.GlyphStyle{Color: methodColor(method), Radius: vg.Points(4), Shape: shape}
}

// taskDashes tell tasks apart where one figure holds several: the i-th
// task of the report gets the i-th pattern.
var taskDashes = [][]vg.Length{
	nil,
	{vg.Points(6), vg.Points(3)},
	{vg.Points(1.5), vg.Points(2.5)},
	{vg.Points(8), vg.Points(3), vg.Points(1.5), vg.Points(3)},
	{vg.Points(12), vg.Points(4)},
}

func taskDash(i int) []vg.Length { return taskDashes[i%len(taskDashes)] }

func lineStyle(method string, dash []vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: methodColor(method), Width: vg.Points(1.8), Dashes: dash}
}

// Typography shared by every figure.
var (
	figFont   = font.Font{Typeface: "Liberation", Variant: "Sans"}
	titleSize = vg.Points(14)
	labelSize = vg.Points(12)
	tickSize  = vg.Points(10.5)
	legendPt  = vg.Points(11)
	// pointLabelSize is the size of labels beside points.
	pointLabelSize = vg.Points(9)
)

// newPlot returns a plot with the report's typography, title and axis
// labels, and a light grid.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(figFont, titleSize)
	p.Title.Padding = vg.Points(8)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = font.From(figFont, labelSize)
		ax.Tick.Label.Font = font.From(figFont, tickSize)
		ax.Padding = vg.Points(4)
	}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Y.Tick.Marker = roundTicks{6}
	return p
}

// newLegend returns an empty legend in the report's typography.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(figFont, legendPt)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(28)
	l.Padding = vg.Points(3)
	return l
}
