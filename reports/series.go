package reports

import (
	"sort"
	"strconv"

	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/trial/aggregate"
)

// point is one position on a curve: the best configuration at X.
type point struct {
	X float64
	// Label names X on the axis: the hyper-parameter value or data size;
	// for a full training split "N (all)", or "all" where N is unknown.
	Label string
	Acc   aggregate.Stat // test accuracy over seeds
	Best  *group
}

// methodCurve is one curve: a method on a task.
type methodCurve struct {
	taskKey
	Method string
	// Augment is the augmentation of the curve's configurations ("" for
	// none; config.Augment).
	Augment string
	Points  []point // by increasing X
	// Versus is, on a curve against a method's size, the reference method
	// (display.Reference: full fine-tuning) on the same task at the same
	// data size, at its best configuration; nil where it has none.
	Versus *versus
}

// versus is a method's accuracy that a curve is set against.
type versus struct {
	Method string
	Acc    aggregate.Stat
}

// paramSeries gives, for every task and each method that param sizes
// (its headline, methods/display: LoRA's "rank", prompt and prefix
// tuning's "length"), test accuracy against param. At each value the best configuration over the
// other hyper-parameters and the learning rate is taken, as in the summary,
// at the data size of the method's summary row. Curves with fewer than two
// values are left out. Each curve carries the reference method's accuracy
// at the same data size (Versus), chosen as the summary chooses.
func paramSeries(groups []*group, sums []taskSummary, param string) []methodCurve {
	methods := display.WithHeadline(param)
	var out []methodCurve
	for _, s := range sums {
		for _, row := range s.Rows {
			if !contains(methods, row.Method) {
				continue
			}
			gs := filter(groups, func(g *group) bool {
				return g.Key() == s.taskKey && g.Method == row.Method && g.DataSize == row.Best.DataSize
			})
			byValue := map[float64][]*group{}
			for _, g := range gs {
				if v, ok := numfmt.Number(g.MethodParams[param]); ok {
					byValue[v] = append(byValue[v], g)
				}
			}
			if len(byValue) < 2 {
				continue
			}
			ser := methodCurve{taskKey: s.taskKey, Method: row.Method}
			if ref := display.Reference(); ref != "" {
				if cands := filter(groups, func(g *group) bool {
					return g.Key() == s.taskKey && g.Method == ref && g.DataSize == row.Best.DataSize
				}); len(cands) > 0 {
					ser.Versus = &versus{Method: ref, Acc: best(cands).Test}
				}
			}
			for v, cands := range byValue {
				b := best(cands)
				ser.Points = append(ser.Points, point{X: v, Label: strconv.FormatFloat(v, 'g', -1, 64), Acc: b.Test, Best: b})
			}
			sortPoints(ser.Points)
			out = append(out, ser)
		}
	}
	return out
}

// dataSizeSeries gives learning curves: for every task and method (and
// each augmentation of it among groups), test accuracy against the number
// of training examples, at each data size the best configuration over
// hyper-parameters and learning rate. Data size "all" is placed at the
// task's training split size when Inputs knows it, else at twice the
// task's largest explicit size. A size above the split's is placed at the
// split's size, as the trial could use no more. Curves with fewer than two
// sizes are left out.
func dataSizeSeries(groups []*group, in inputs) []methodCurve {
	var out []methodCurve
	for _, k := range taskKeys(groups) {
		gs := filter(groups, func(g *group) bool { return g.Key() == k })
		allAt, allLabel := float64(in.Examples(k.Task, 0)), "all"
		if allAt > 0 {
			allLabel = strconv.FormatFloat(allAt, 'f', -1, 64) + " (all)"
		} else {
			for _, g := range gs {
				allAt = max(allAt, 2*float64(g.DataSize))
			}
		}
		for _, m := range methodList(gs) {
			for _, aug := range augmentList(filter(gs, func(g *group) bool { return g.Method == m })) {
				bySize := map[int][]*group{}
				for _, g := range gs {
					if g.Method == m && g.Augment == aug {
						bySize[g.DataSize] = append(bySize[g.DataSize], g)
					}
				}
				if len(bySize) < 2 {
					continue
				}
				ser := methodCurve{taskKey: k, Method: m, Augment: aug}
				for n, cands := range bySize {
					b := best(cands)
					p := point{X: float64(in.Examples(k.Task, n)), Label: strconv.Itoa(n), Acc: b.Test, Best: b}
					if n == 0 {
						p.X, p.Label = allAt, allLabel
					}
					ser.Points = append(ser.Points, p)
				}
				sortPoints(ser.Points)
				out = append(out, ser)
			}
		}
	}
	return out
}

func sortPoints(ps []point) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].X != ps[j].X {
			return ps[i].X < ps[j].X
		}
		return sizeLess(ps[i].Best.DataSize, ps[j].Best.DataSize)
	})
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
