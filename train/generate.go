package train

import "fmt"

// Generate decodes greedily: each prompt is extended by up to maxNew most
// likely tokens, B prompts at a time, and done(tokens) may end a row early
// (at a stop string). Prompts too long for maxLen lose their beginning.
// It returns the new tokens of each prompt.
func Generate(t *Trainer, prompts [][]int, maxNew, B, maxLen int, done func([]int) bool) ([][]int, error) {
	if maxNew >= maxLen {
		return nil, fmt.Errorf("train: %d new tokens do not fit %d positions", maxNew, maxLen)
	}
	out := make([][]int, len(prompts))
	for s := 0; s < len(prompts); s += B {
		rows := prompts[s:min(s+B, len(prompts))]
		seqs := make([][]int, len(rows))
		for i, p := range rows {
			if over := len(p) + maxNew - maxLen; over > 0 {
				p = p[over:]
			}
			seqs[i] = append([]int(nil), p...)
		}
		active := make([]bool, len(rows))
		for i := range active {
			active[i] = true
		}
		for step := 0; step < maxNew; step++ {
			longest := 0
			for _, q := range seqs {
				longest = max(longest, len(q))
			}
			T := min(maxLen, (longest+lengthBucket-1)/lengthBucket*lengthBucket)
			b := Batch{B: B, T: T, IDs: make([]int, B*T), Targets: make([]int, B*T), Mask: make([]float64, B*T)}
			var positions []int
			var which []int
			for i, q := range seqs {
				copy(b.IDs[i*T:], q)
				b.Real += len(q)
				if active[i] {
					positions = append(positions, i*T+len(q)-1)
					which = append(which, i)
				}
			}
			if len(which) == 0 {
				break
			}
			next, err := t.Argmax(b, positions)
			if err != nil {
				return nil, err
			}
			for k, i := range which {
				seqs[i] = append(seqs[i], next[k])
				out[s+i] = append(out[s+i], next[k])
				if done != nil && done(out[s+i]) {
					active[i] = false
				}
			}
		}
	}
	return out, nil
}
