package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/peftbench/peftbench/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure formats: PNG for the Markdown page, SVG for papers.
var figureFormats = []string{"png", "svg"}

// pngDPI is the resolution of the PNG figures.
const pngDPI = 150

// figure is one image: plots side by side and a legend on their right.
type figure struct {
	Name    string // file name without extension, e.g. "fig-rank"
	Alt     string // alternative text for the page
	Panels  []*plot.Plot
	Legend  plot.Legend
	entries int // legend entries
	// errorBars, pointLabels and offAxis count the error bars, the
	// labelled points and the points marked off the axis, for tests.
	errorBars, pointLabels, offAxis int
	Width                           vg.Length
	Height                          vg.Length
}

// newFigure returns a figure 7.5 by 4.5 inches (1125 by 675 pixels as
// PNG), made taller where the legend needs it.
func newFigure(name, alt string, panels ...*plot.Plot) *figure {
	return &figure{Name: name, Alt: alt, Panels: panels, Legend: newLegend(), Width: 7.5 * vg.Inch, Height: 4.5 * vg.Inch}
}

// addLegend adds a legend entry.
func (f *figure) addLegend(label string, thumbs ...plot.Thumbnailer) {
	f.Legend.Add(label, thumbs...)
	f.entries++
}

// Files are the figure's file names, one per format.
func (f *figure) Files() []string {
	out := make([]string, len(figureFormats))
	for i, ext := range figureFormats {
		out[i] = f.Name + "." + ext
	}
	return out
}

// draw lays the figure out on c: the legend in a column on the right, the
// panels aligned in the rest.
func (f *figure) draw(c vg.CanvasSizer) {
	dc := draw.New(c)
	dc.FillPolygon(color.White, []vg.Point{dc.Min, {X: dc.Max.X, Y: dc.Min.Y}, dc.Max, {X: dc.Min.X, Y: dc.Max.Y}})
	area := dc
	if f.entries > 0 {
		pad := vg.Points(10)
		r := f.Legend.Rectangle(dc)
		lw := r.Max.X - r.Min.X + 2*pad
		area = draw.Crop(dc, 0, -lw, 0, 0)
		f.Legend.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-lw+pad, -pad, pad, -vg.Points(36)))
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(f.Panels), PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(6), PadX: vg.Points(30)}
	canvases := plot.Align([][]*plot.Plot{f.Panels}, tiles, area)
	for i, p := range f.Panels {
		p.Draw(canvases[0][i])
	}
}

// height grows the figure to fit a long legend.
func (f *figure) height() vg.Length {
	l := f.Legend
	need := vg.Points(60)
	if f.entries > 0 {
		r := l.Rectangle(draw.New(vgimg.New(f.Width, f.Height)))
		need += r.Max.Y - r.Min.Y
	}
	return max(f.Height, need)
}

// encode renders the figure in format ("png" or "svg").
func (f *figure) encode(format string) ([]byte, error) {
	h := f.height()
	var buf bytes.Buffer
	switch format {
	case "png":
		c := vgimg.NewWith(vgimg.UseWH(f.Width, h), vgimg.UseDPI(pngDPI))
		f.draw(c)
		if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
			return nil, err
		}
	case "svg":
		c := vgsvg.New(f.Width, h)
		f.draw(c)
		if _, err := c.WriteTo(&buf); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("reports: unknown figure format %q", format)
	}
	return buf.Bytes(), nil
}

// write renders the figure into dir in every format, each file atomically.
func (f *figure) write(dir string) (err error) {
	defer func() {
		// gonum/plot reports some drawing problems by panicking.
		if r := recover(); r != nil {
			err = fmt.Errorf("reports: drawing %s: %v", f.Name, r)
		}
	}()
	for _, ext := range figureFormats {
		b, err := f.encode(ext)
		if err != nil {
			return fmt.Errorf("reports: drawing %s: %w", f.Name, err)
		}
		if err := writeFile(filepath.Join(dir, f.Name+"."+ext), b); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes a report file atomically, readable by all: a report is
// for sharing.
func writeFile(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}

// padLinear widens a linear axis by frac of its range on each side (at
// least min), so that markers and error bars at the ends stay inside.
func padLinear(ax *plot.Axis, frac, min float64) {
	d := max((ax.Max-ax.Min)*frac, min)
	ax.Min -= d
	ax.Max += d
}

// logAxis makes ax logarithmic with the given ticks (nice 1-2-5 ticks
// labelled by format when ticks is nil) and pads it by a factor at each
// end.
func logAxis(ax *plot.Axis, ticks []plot.Tick, format func(float64) string, factor float64) {
	ax.Scale = plot.LogScale{}
	ax.Min, ax.Max = ax.Min/factor, ax.Max*factor
	if ticks == nil {
		ticks = niceLogTicks(ax.Min, ax.Max, format)
	}
	ax.Tick.Marker = plot.ConstantTicks(ticks)
}

// valueTicks labels exactly the given values.
func valueTicks(values []float64, labels []string) []plot.Tick {
	type vl struct {
		v float64
		l string
	}
	seen := map[float64]bool{}
	var vs []vl
	for i, v := range values {
		if !seen[v] {
			seen[v] = true
			vs = append(vs, vl{v, labels[i]})
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].v < vs[j].v })
	out := make([]plot.Tick, len(vs))
	for i, x := range vs {
		out[i] = plot.Tick{Value: x.v, Label: x.l}
	}
	return out
}

// niceLogTicks labels round numbers on a log axis over [lo, hi]: powers of
// ten when the range holds three or more, else 1-2-5 or 1-2-3-5-7 times
// powers of ten, whichever first gives three labels (or the most labels,
// when none does); with fewer than two, lo and hi are labelled.
func niceLogTicks(lo, hi float64, format func(float64) string) []plot.Tick {
	if lo <= 0 || hi <= 0 || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	var best []plot.Tick
	for _, mantissas := range [][]float64{{1}, {1, 2, 5}, {1, 2, 3, 5, 7}} {
		var ticks []plot.Tick
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			for _, m := range mantissas {
				if v := m * math.Pow(10, e); v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
					ticks = append(ticks, plot.Tick{Value: v, Label: format(v)})
				}
			}
		}
		if len(ticks) >= 3 {
			return ticks
		}
		if len(ticks) > len(best) {
			best = ticks
		}
	}
	if len(best) >= 2 {
		return best
	}
	best = []plot.Tick{{Value: lo, Label: format(lo)}}
	if hi != lo {
		best = append(best, plot.Tick{Value: hi, Label: format(hi)})
	}
	return best
}

// niceLinearTicks labels about n round values (steps of 1, 2, 2.5 or 5
// times a power of ten) over [lo, hi].
func niceLinearTicks(lo, hi float64, n int) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * p
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		v = roundSig(v, 12)
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// roundTicks is a plot.Ticker of niceLinearTicks.
type roundTicks struct{ n int }

func (r roundTicks) Ticks(lo, hi float64) []plot.Tick { return niceLinearTicks(lo, hi, r.n) }

// humanCount writes a count with k, M or G: 1090000 → "1.09M".
func humanCount(v float64) string {
	for _, u := range []struct {
		div float64
		sfx string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= u.div {
			return strconv.FormatFloat(roundSig(v/u.div, 3), 'f', -1, 64) + u.sfx
		}
	}
	return strconv.FormatFloat(roundSig(v, 3), 'f', -1, 64)
}

// roundSig rounds v to n significant digits.
func roundSig(v float64, n int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, float64(n)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}
