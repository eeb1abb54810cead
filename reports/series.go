package reports

import (
	"sort"
	"strconv"
)

// Point is one position on a curve: the best configuration at X.
type Point struct {
	X float64
	// Label names X on the axis: the hyper-parameter value or data size;
	// for a full training split "N (all)", or "all" where N is unknown.
	Label string
	Acc   Stat // test accuracy over seeds
	Best  *Group
}

// Series is one curve: a method on a task.
type Series struct {
	TaskKey
	Method string
	Points []Point // by increasing X
}

// ParamSeries gives, for every task and each of methods, test accuracy
// against the numeric hyper-parameter param (LoRA's "rank", prompt and
// prefix tuning's "length"). At each value the best configuration over the
// other hyper-parameters and the learning rate is taken, as in the summary,
// at the data size of the method's summary row. Series with fewer than two
// values are left out.
func ParamSeries(groups []*Group, sums []TaskSummary, methods []string, param string) []Series {
	var out []Series
	for _, s := range sums {
		for _, row := range s.Rows {
			if !contains(methods, row.Method) {
				continue
			}
			gs := filter(groups, func(g *Group) bool {
				return g.Key() == s.TaskKey && g.Method == row.Method && g.DataSize == row.Best.DataSize
			})
			byValue := map[float64][]*Group{}
			for _, g := range gs {
				if v, ok := Number(g.MethodParams[param]); ok {
					byValue[v] = append(byValue[v], g)
				}
			}
			if len(byValue) < 2 {
				continue
			}
			ser := Series{TaskKey: s.TaskKey, Method: row.Method}
			for v, cands := range byValue {
				b := Best(cands)
				ser.Points = append(ser.Points, Point{X: v, Label: strconv.FormatFloat(v, 'g', -1, 64), Acc: b.Test, Best: b})
			}
			sortPoints(ser.Points)
			out = append(out, ser)
		}
	}
	return out
}

// DataSizeSeries gives learning curves: for every task and method, test
// accuracy against the number of training examples, at each data size the
// best configuration over hyper-parameters and learning rate. Data size
// "all" is placed at the task's training split size when Inputs knows it,
// else at twice the task's largest explicit size. A size above the split's
// is placed at the split's size, as the trial could use no more. Series with fewer than
// two sizes are left out.
func DataSizeSeries(groups []*Group, in Inputs) []Series {
	var out []Series
	for _, k := range TaskKeys(groups) {
		gs := filter(groups, func(g *Group) bool { return g.Key() == k })
		allAt, allLabel := float64(in.Examples(k.Task, 0)), "all"
		if allAt > 0 {
			allLabel = strconv.FormatFloat(allAt, 'f', -1, 64) + " (all)"
		} else {
			for _, g := range gs {
				allAt = max(allAt, 2*float64(g.DataSize))
			}
		}
		for _, m := range Methods(gs) {
			bySize := map[int][]*Group{}
			for _, g := range gs {
				if g.Method == m {
					bySize[g.DataSize] = append(bySize[g.DataSize], g)
				}
			}
			if len(bySize) < 2 {
				continue
			}
			ser := Series{TaskKey: k, Method: m}
			for n, cands := range bySize {
				b := Best(cands)
				p := Point{X: float64(in.Examples(k.Task, n)), Label: strconv.Itoa(n), Acc: b.Test, Best: b}
				if n == 0 {
					p.X, p.Label = allAt, allLabel
				}
				ser.Points = append(ser.Points, p)
			}
			sortPoints(ser.Points)
			out = append(out, ser)
		}
	}
	return out
}

func sortPoints(ps []Point) {
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
