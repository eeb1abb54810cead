package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gorgonia.org/tensor"
)

// Pair is one fine-tuning example as token ids: the prompt, and the
// continuation the loss scores (a verbalizer or an answer).
type Pair struct {
	Prompt, Target []int
}

// lengthBucket rounds sequence lengths up so that a handful of compiled
// programs serve every batch.
const lengthBucket = 32

// PairBatch packs pairs into one right-padded batch of B rows. Each row is
// prompt+target shifted by one, scoring only the target tokens. Prompts
// too long for maxLen lose their beginning: the end of a prompt is where
// the question is asked. Rows beyond len(pairs) are padding.
func PairBatch(pairs []Pair, B, maxLen int) (Batch, error) {
	if len(pairs) == 0 || len(pairs) > B {
		return Batch{}, fmt.Errorf("train: %d pairs for a batch of %d", len(pairs), B)
	}
	longest := 0
	for _, p := range pairs {
		if len(p.Target) == 0 || len(p.Target) >= maxLen {
			return Batch{}, fmt.Errorf("train: a target of %d tokens does not fit %d positions", len(p.Target), maxLen)
		}
		longest = max(longest, min(len(p.Prompt)+len(p.Target)-1, maxLen))
	}
	T := min(maxLen, (longest+lengthBucket-1)/lengthBucket*lengthBucket)
	b := Batch{B: B, T: T, IDs: make([]int, B*T), Targets: make([]int, B*T), Mask: make([]float64, B*T)}
	for i := range b.Targets {
		b.Targets[i] = -1
	}
	for r, p := range pairs {
		seq := append(append([]int(nil), p.Prompt...), p.Target...)
		if over := len(seq) - 1 - T; over > 0 {
			seq = seq[over:]
		}
		b.Real += len(seq) - 1
		first := len(seq) - len(p.Target) // index in seq of the first target token
		for j := 0; j+1 < len(seq); j++ {
			b.IDs[r*T+j], b.Targets[r*T+j] = seq[j], seq[j+1]
			if j+1 >= first {
				b.Mask[r*T+j] = 1
			}
		}
	}
	return b, nil
}

// FineTune trains on pairs for the given number of epochs, B pairs a step,
// shuffling each epoch with the seed. It returns the mean loss of each
// epoch.
func FineTune(t *Trainer, pairs []Pair, B, maxLen, epochs int, seed uint64) ([]float64, error) {
	rng := rand.New(rand.NewPCG(seed, 0xf1e))
	order := make([]int, len(pairs))
	for i := range order {
		order[i] = i
	}
	if t.Cache != nil {
		if err := t.Model.BesideBackbone(t.Hooks...); err != nil {
			return nil, fmt.Errorf("train: no activation cache: %w", err)
		}
		if t.dtype() != tensor.Float32 {
			return nil, fmt.Errorf("train: the activation cache holds float32 block outputs; this model is %v", t.dtype())
		}
		if err := t.Cache.check(pairs, t.Model.Config.Layers, t.Model.Config.DModel, maxLen); err != nil {
			return nil, err
		}
	}
	var curve []float64
	for e := 0; e < epochs; e++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var sum float64
		steps := 0
		for s := 0; s < len(order); s += B {
			idx := order[s:min(s+B, len(order))]
			chunk := make([]Pair, 0, B)
			for _, i := range idx {
				chunk = append(chunk, pairs[i])
			}
			b, err := PairBatch(chunk, B, maxLen)
			if err != nil {
				return nil, err
			}
			var loss float64
			if t.Cache == nil {
				loss, err = t.Step(b)
			} else {
				rows := &cacheRows{idx: idx, n: make([]int, len(chunk))}
				for r, p := range chunk {
					rows.n[r] = realPositions(p, b.T)
				}
				ps := filling
				if t.Cache.has(idx) {
					ps = cached
				}
				loss, err = t.step(b, ps, rows)
			}
			if err != nil {
				return nil, err
			}
			sum += loss
			steps++
		}
		curve = append(curve, sum/float64(steps))
	}
	if err := t.Pull(); err != nil { // the host copies are the trained weights from here on
		return nil, err
	}
	return curve, nil
}

// Classify scores every label continuation after every prompt, as
// lm-evaluation-harness ranks multiple-choice answers, and returns the
// index of the most likely label per prompt with the total
// log-likelihoods. When every label is a single token, one forward pass
// per prompt scores them all.
func Classify(t *Trainer, prompts, labels [][]int, B, maxLen int) ([]int, [][]float64, error) {
	// Batches of similar lengths pad less: score in order of length, then
	// put the scores back in the caller's order.
	order := make([]int, len(prompts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return len(prompts[order[i]]) < len(prompts[order[j]]) })
	sorted := make([][]int, len(prompts))
	for i, o := range order {
		sorted[i] = prompts[o]
	}
	var byLength [][]float64
	var err error
	if singleTokens(labels) {
		byLength, err = scoreNextToken(t, sorted, labels, B, maxLen)
	} else {
		byLength, err = scoreContinuations(t, sorted, labels, B, maxLen)
	}
	if err != nil {
		return nil, nil, err
	}
	scores := make([][]float64, len(prompts))
	for i, o := range order {
		scores[o] = byLength[i]
	}
	preds := make([]int, len(prompts))
	for i, row := range scores {
		best := math.Inf(-1)
		for l, v := range row {
			if v > best {
				best, preds[i] = v, l
			}
		}
	}
	return preds, scores, nil
}

func singleTokens(labels [][]int) bool {
	for _, l := range labels {
		if len(l) != 1 {
			return false
		}
	}
	return true
}

// scoreNextToken reads log p(label | prompt) for single-token labels from
// the next-token distribution after each prompt.
func scoreNextToken(t *Trainer, prompts, labels [][]int, B, maxLen int) ([][]float64, error) {
	scores := make([][]float64, len(prompts))
	for s := 0; s < len(prompts); s += B {
		chunk := prompts[s:min(s+B, len(prompts))]
		pairs := make([]Pair, len(chunk))
		for i, p := range chunk {
			pairs[i] = Pair{p, labels[0]}
		}
		b, err := PairBatch(pairs, B, maxLen)
		if err != nil {
			return nil, err
		}
		positions := make([]int, len(chunk))
		for r := range chunk {
			for k := r * b.T; k < (r+1)*b.T; k++ {
				if b.Mask[k] != 0 { // the position that predicts the label
					positions[r] = k
					break
				}
			}
		}
		rows, err := t.Logits(b, positions)
		if err != nil {
			return nil, err
		}
		for r, logits := range rows {
			lse := logSumExp(logits)
			scores[s+r] = make([]float64, len(labels))
			for l, tok := range labels {
				scores[s+r][l] = logits[tok[0]] - lse
			}
		}
	}
	return scores, nil
}

func logSumExp(xs []float64) float64 {
	mx := math.Inf(-1)
	for _, x := range xs {
		mx = math.Max(mx, x)
	}
	var s float64
	for _, x := range xs {
		s += math.Exp(x - mx)
	}
	return mx + math.Log(s)
}

// scoreContinuations sums the log-likelihood of each label's tokens after
// each prompt, one sequence per (prompt, label).
func scoreContinuations(t *Trainer, prompts, labels [][]int, B, maxLen int) ([][]float64, error) {
	type job struct{ ex, label int }
	var jobs []job
	for i := range prompts {
		for l := range labels {
			jobs = append(jobs, job{i, l})
		}
	}
	scores := make([][]float64, len(prompts))
	for i := range scores {
		scores[i] = make([]float64, len(labels))
	}
	for s := 0; s < len(jobs); s += B {
		chunk := jobs[s:min(s+B, len(jobs))]
		pairs := make([]Pair, len(chunk))
		for i, j := range chunk {
			pairs[i] = Pair{prompts[j.ex], labels[j.label]}
		}
		b, err := PairBatch(pairs, B, maxLen)
		if err != nil {
			return nil, err
		}
		lp, err := t.LogProbs(b)
		if err != nil {
			return nil, err
		}
		for r, j := range chunk {
			var sum float64
			for k := r * b.T; k < (r+1)*b.T; k++ {
				sum += b.Mask[k] * lp[k]
			}
			scores[j.ex][j.label] = sum
		}
	}
	return scores, nil
}
