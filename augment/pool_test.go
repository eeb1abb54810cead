package augment

import (
	"slices"
	"testing"

	"github.com/peftbench/peftbench/tasks"
)

// The pool teacher hands out unused training examples that are not seed
// examples: the nearest to each error by TF-IDF cosine, or random ones
// for the control, each at most once.
func TestPool(t *testing.T) {
	spam, err := tasks.Load("spam")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := spam.Train(16, 1)
	if err != nil {
		t.Fatal(err)
	}
	inSeed := map[string]bool{}
	for _, e := range seed {
		inSeed[e.ID] = true
	}
	p, err := NewPool(spam, seed, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	failed := seed[:3]
	got, cost, err := p.Write(failed, 4)
	if err != nil || len(got) != 12 || cost.Asked != 12 || cost.Written != 12 {
		t.Fatalf("%d examples, cost %+v, %v", len(got), cost, err)
	}
	// The first failed example's four are the four nearest of the pool, by
	// a brute-force ranking.
	v := tfidf(failed[0].Text, p.idf)
	var sims []float64
	for _, d := range p.vecs {
		sims = append(sims, cosine(v, d))
	}
	ranked := slices.Clone(sims)
	slices.Sort(ranked)
	slices.Reverse(ranked)
	for i, e := range got[:4] {
		j := slices.IndexFunc(p.docs, func(d tasks.Example) bool { return d.ID == e.ID })
		if sims[j] != ranked[i] {
			t.Errorf("pick %d has similarity %v, the %d-th best is %v", i, sims[j], i, ranked[i])
		}
	}
	seen := map[string]bool{}
	for _, e := range got {
		if inSeed[e.ID] || seen[e.ID] || e.Label < 0 || e.Prompt == "" {
			t.Errorf("example %s: in seed %v, twice %v, label %d", e.ID, inSeed[e.ID], seen[e.ID], e.Label)
		}
		seen[e.ID] = true
	}
	again, _, _ := p.Write(failed[:1], 4)
	for _, e := range again {
		if seen[e.ID] {
			t.Errorf("%s handed out twice", e.ID)
		}
	}

	r1, _ := NewPool(spam, seed, true, 7)
	r2, _ := NewPool(spam, seed, true, 7)
	a, _, _ := r1.Write(failed, 5)
	b, _, _ := r2.Write(failed, 5)
	if len(a) != 15 || !slices.Equal(a, b) {
		t.Errorf("random draws: %d examples, reproducible %v", len(a), slices.Equal(a, b))
	}
	nearestIDs := map[string]bool{}
	for _, e := range got {
		nearestIDs[e.ID] = true
	}
	overlap := 0
	for _, e := range a {
		if inSeed[e.ID] {
			t.Errorf("random pick %s is a seed example", e.ID)
		}
		if nearestIDs[e.ID] {
			overlap++
		}
	}
	if overlap > 3 {
		t.Errorf("random picks share %d of 15 with the nearest: not random", overlap)
	}
}

// The generator writes k problems of each failed problem's shape, and
// new ones at each call.
func TestGenerator(t *testing.T) {
	arith, err := tasks.Load("arith")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := arith.Train(8, 1)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGenerator(arith, 1)
	if err != nil {
		t.Fatal(err)
	}
	first, cost, err := g.Write(seed[:4], 3)
	if err != nil || len(first) != 12 || cost.Asked != 12 || cost.Written != 12 {
		t.Fatalf("%d problems, cost %+v, %v", len(first), cost, err)
	}
	for i, e := range first {
		want, _ := tasks.ArithShape(seed[i/3].Text)
		if got, _ := tasks.ArithShape(e.Text); got != want || e.Answer == "" {
			t.Errorf("problem %q (answer %q) has shape %q, want %q", e.Text, e.Answer, got, want)
		}
	}
	second, _, _ := g.Write(seed[:4], 3)
	if slices.Equal(first, second) {
		t.Error("a second call wrote the same problems")
	}
	if _, err := NewGenerator(mustLoad(t, "spam"), 1); err == nil {
		t.Error("a generator for spam")
	}
}

func mustLoad(t *testing.T, name string) *tasks.Task {
	t.Helper()
	task, err := tasks.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return task
}
