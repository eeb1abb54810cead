package augment

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// Pool is the teacher that "knows the task" as the unused rest of its
// training split: for each failed example it returns k unused examples
// with their gold labels, the k nearest to it (targeted), or, with Random,
// k drawn at random (the control that asks whether targeting the errors
// matters, or only the amount of data). Nearness is the cosine of TF-IDF
// word vectors: cheap, deterministic, and independent of the student. An
// example handed out once is used up.
type Pool struct {
	Random bool
	docs   []tasks.Example
	vecs   []map[string]float64
	used   []bool
	idf    func(string) float64
	rng    *rand.Rand
}

// NewPool makes a pool teacher from a task's training split, leaving out
// the seed examples (by ID); seed drives the random control.
func NewPool(t *tasks.Task, seedData []tasks.Example, random bool, seed uint64) (*Pool, error) {
	train, err := t.Split("train")
	if err != nil {
		return nil, err
	}
	inSeed := map[string]bool{}
	for _, e := range seedData {
		inSeed[e.ID] = true
	}
	p := &Pool{Random: random, rng: rand.New(rand.NewPCG(seed, 0x11a2))}
	for _, e := range train {
		if !inSeed[e.ID] {
			p.docs = append(p.docs, e)
		}
	}
	p.used = make([]bool, len(p.docs))
	// Document frequencies over the whole split, so a failed example's
	// words weigh as they do in the pool.
	df := map[string]float64{}
	for _, e := range train {
		for w := range counts(e.Text) {
			df[w]++
		}
	}
	idf := func(w string) float64 { return math.Log((1+float64(len(train)))/(1+df[w])) + 1 }
	p.vecs = make([]map[string]float64, len(p.docs))
	for i, e := range p.docs {
		p.vecs[i] = tfidf(e.Text, idf)
	}
	p.idf = idf
	return p, nil
}

func counts(text string) map[string]float64 {
	c := map[string]float64{}
	for _, w := range words(text) {
		c[w]++
	}
	return c
}

// tfidf is text's L2-normalised TF-IDF vector.
func tfidf(text string, idf func(string) float64) map[string]float64 {
	v := counts(text)
	norm := 0.0
	for w, n := range v {
		v[w] = n * idf(w)
		norm += v[w] * v[w]
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for w := range v {
			v[w] /= norm
		}
	}
	return v
}

func cosine(a, b map[string]float64) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	s := 0.0
	for w, x := range a {
		s += x * b[w]
	}
	return s
}

// Write returns, for each failed example, its k nearest unused pool
// examples (or k random ones); fewer when the pool runs out.
func (p *Pool) Write(failed []tasks.Example, k int) ([]tasks.Example, trial.Cost, error) {
	start := time.Now()
	cost := trial.Cost{Asked: len(failed) * k}
	var out []tasks.Example
	for _, f := range failed {
		var picks []int
		if p.Random {
			picks = p.random(k)
		} else {
			picks = p.nearest(tfidf(f.Text, p.idf), k)
		}
		for _, i := range picks {
			p.used[i] = true
			out = append(out, p.docs[i])
		}
	}
	cost.Written = len(out)
	cost.Seconds = time.Since(start).Seconds()
	return out, cost, nil
}

// nearest returns the k unused documents most similar to v, most similar
// first (ties to the earlier document).
func (p *Pool) nearest(v map[string]float64, k int) []int {
	type scored struct {
		i int
		s float64
	}
	var best []scored // sorted, at most k
	for i, d := range p.vecs {
		if p.used[i] {
			continue
		}
		s := cosine(v, d)
		if len(best) == k && s <= best[k-1].s {
			continue
		}
		j := len(best)
		if j < k {
			best = append(best, scored{})
		} else {
			j = k - 1
		}
		for j > 0 && best[j-1].s < s {
			best[j] = best[j-1]
			j--
		}
		best[j] = scored{i, s}
	}
	out := make([]int, len(best))
	for j, b := range best {
		out[j] = b.i
	}
	return out
}

// random returns k unused documents drawn uniformly.
func (p *Pool) random(k int) []int {
	var free []int
	for i, u := range p.used {
		if !u {
			free = append(free, i)
		}
	}
	var out []int
	for range min(k, len(free)) {
		j := p.rng.IntN(len(free))
		out = append(out, free[j])
		free[j] = free[len(free)-1]
		free = free[:len(free)-1]
	}
	return out
}
