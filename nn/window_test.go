package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// Sliding-window attention: query t's probabilities are the softmax of
// its scores over the Window keys ending at its own (prefix keys counting
// as the positions before the sequence), exactly zero elsewhere.
func TestSlidingWindowProbabilities(t *testing.T) {
	for _, s := range []AttnShape{{B: 2, T: 7, S: 7, H: 2, KVH: 1, Window: 3}, {B: 1, T: 5, S: 7, H: 2, Window: 4}, {B: 1, T: 4, S: 4, H: 1, Window: 9}} {
		dh := 3
		rng := rand.New(rand.NewPCG(11, uint64(s.Window)))
		q := randParam(rng, "q", false, 1.5, s.B*s.T, s.H*dh)
		k := randParam(rng, "k", false, 1.5, s.B*s.S, s.kvHeads()*dh)
		v := randParam(rng, "v", false, 1, s.B*s.S, s.kvHeads()*dh)
		g := NewGraph(tensor.Float64)
		probs, _ := attnGraph(t, g, s, q, k, v)
		p, err := Compile(g, nil, probs)
		must(t, err)
		must(t, p.Run())
		got := Float64s(p.Value(probs))
		group := s.H / s.kvHeads()
		for b := 0; b < s.B; b++ {
			for h := 0; h < s.H; h++ {
				for i := 0; i < s.T; i++ {
					pos := s.S - s.T + i // the query's position among the keys
					want := make([]float64, s.S)
					sum := 0.0
					for j := 0; j < s.S; j++ {
						if j > pos || pos-j >= s.Window {
							continue
						}
						dot := 0.0
						for c := 0; c < dh; c++ {
							dot += q.F64()[(b*s.T+i)*s.H*dh+h*dh+c] * k.F64()[(b*s.S+j)*s.kvHeads()*dh+h/group*dh+c]
						}
						want[j] = math.Exp(dot / math.Sqrt(float64(dh)))
						sum += want[j]
					}
					row := got[((b*s.H+h)*s.T+i)*s.S:][:s.S]
					for j := range want {
						if w := want[j] / sum; math.Abs(row[j]-w) > 1e-12 || (w == 0) != (row[j] == 0) {
							t.Fatalf("%+v: b%d h%d query %d key %d: %v, want %v", s, b, h, i, j, row[j], w)
						}
					}
				}
			}
		}
	}
}

func TestSlidingWindowGradient(t *testing.T) {
	for _, s := range []AttnShape{{B: 2, T: 6, S: 6, H: 4, KVH: 2, Window: 3}, {B: 1, T: 4, S: 6, H: 2, Window: 2}} {
		rng := rand.New(rand.NewPCG(13, uint64(s.Window)))
		g := NewGraph(tensor.Float64)
		y := gqaGraph(s, 2)(t, g, rng)
		gradCheckProbes(t, g, lossOf(t, g, rng, y), rng, 0)
	}
}
