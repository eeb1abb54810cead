package reports

import "sort"

// Costs the efficiency figures plot accuracy against.
const (
	costMemory = "memory" // peak Go heap of the trial where every point has one, else peak resident memory, bytes
	costParams = "params" // trainable parameters
)

// effPoint is one configuration on an efficiency plot.
type effPoint struct {
	Group  *group
	Cost   float64
	Acc    float64 // mean test accuracy over seeds
	Pareto bool
}

// frontier is one task's accuracy against one cost.
type frontier struct {
	taskKey
	Cost     string
	DataSize int        // the summary's data size, where the points are
	Points   []effPoint // every configuration, in group order
	// Front is the Pareto front, by increasing cost: the configurations no
	// other configuration matches or beats in accuracy at no more cost
	// while beating it in one of the two.
	Front []effPoint
	// Heap tells, for costMemory, that the cost is the peak Go heap: what
	// the methods' own memory moves (the account holds it within 0.9-1.3x),
	// where resident memory adds the runtime's and the libraries' fixed
	// share on top, which piles the methods up at one value.
	Heap bool
}

// efficiency places every configuration of each task at the summary's data
// size by its cost (costMemory or costParams) and mean test accuracy, and
// finds the Pareto front (low cost, high accuracy), as HF PEFT's method
// comparison ranks runs. Configurations without a measured cost are left
// out, and so are tasks with fewer than two configurations.
func efficiency(groups []*group, sums []taskSummary, cost string) []frontier {
	var out []frontier
	for _, s := range sums {
		f := frontier{taskKey: s.taskKey, Cost: cost, DataSize: s.DataSize, Heap: cost == costMemory}
		for _, g := range groups {
			if g.Key() == s.taskKey && g.DataSize == s.DataSize && g.PeakHeapBytes <= 0 {
				f.Heap = false // some result predates heap sampling: resident memory for all
			}
		}
		for _, g := range groups {
			if g.Key() != s.taskKey || g.DataSize != s.DataSize {
				continue
			}
			c := costOf(g, cost, f.Heap)
			if c <= 0 {
				continue
			}
			f.Points = append(f.Points, effPoint{Group: g, Cost: c, Acc: g.Test.Mean})
		}
		if len(f.Points) < 2 {
			continue
		}
		markPareto(f.Points)
		for _, p := range f.Points {
			if p.Pareto {
				f.Front = append(f.Front, p)
			}
		}
		sort.SliceStable(f.Front, func(i, j int) bool {
			if f.Front[i].Cost != f.Front[j].Cost {
				return f.Front[i].Cost < f.Front[j].Cost
			}
			return f.Front[i].Acc > f.Front[j].Acc
		})
		out = append(out, f)
	}
	return out
}

func costOf(g *group, cost string, heap bool) float64 {
	switch {
	case cost == costMemory && heap:
		return g.PeakHeapBytes
	case cost == costMemory:
		return g.PeakMemoryBytes
	}
	return float64(g.TrainableParams)
}

// markPareto sets Pareto on the points no other point dominates.
func markPareto(ps []effPoint) {
	for i := range ps {
		ps[i].Pareto = true
		for j := range ps {
			if i != j && dominates(ps[j], ps[i]) {
				ps[i].Pareto = false
				break
			}
		}
	}
}

func dominates(a, b effPoint) bool {
	return a.Cost <= b.Cost && a.Acc >= b.Acc && (a.Cost < b.Cost || a.Acc > b.Acc)
}
