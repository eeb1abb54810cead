package train

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Stream is a tokenised corpus: documents joined into one sequence, each
// preceded by the end-of-text token, with a weight per token saying
// whether it is scored as a target (the separators are not: they carry no
// bytes of text).
type Stream struct {
	Tokens []int
	Scored []bool
	Bytes  int // UTF-8 bytes of the text the scored tokens spell
}

// NewStream tokenises docs with encode, separating them with eot.
func NewStream(docs []string, encode func(string) []int, eot int) *Stream {
	s := &Stream{}
	for _, d := range docs {
		s.Tokens = append(s.Tokens, eot)
		s.Scored = append(s.Scored, false)
		for _, id := range encode(d) {
			s.Tokens = append(s.Tokens, id)
			s.Scored = append(s.Scored, true)
		}
		s.Bytes += len(d)
	}
	return s
}

// Windows draws language-modelling batches of B random windows of T+1
// tokens from the stream, deterministically in the seed.
type Windows struct {
	s    *Stream
	B, T int
	src  *rand.PCG // rng's state, for checkpoints
	rng  *rand.Rand
}

// NewWindows samples windows from s.
func NewWindows(s *Stream, B, T int, seed uint64) (*Windows, error) {
	if len(s.Tokens) < T+2 {
		return nil, fmt.Errorf("train: a stream of %d tokens is shorter than a window of %d", len(s.Tokens), T+1)
	}
	src := rand.NewPCG(seed, 0x5eed)
	return &Windows{s: s, B: B, T: T, src: src, rng: rand.New(src)}, nil
}

// State is the sampler's position in its random stream; SetState returns
// to one, so a resumed run draws the windows it would have drawn.
func (w *Windows) State() ([]byte, error) { return w.src.MarshalBinary() }

// SetState restores a State.
func (w *Windows) SetState(b []byte) error { return w.src.UnmarshalBinary(b) }

// Next returns the next batch; every position is scored.
func (w *Windows) Next() Batch {
	b := Batch{B: w.B, T: w.T, IDs: make([]int, w.B*w.T), Targets: make([]int, w.B*w.T), Mask: make([]float64, w.B*w.T)}
	for i := 0; i < w.B; i++ {
		start := w.rng.IntN(len(w.s.Tokens) - w.T - 1)
		copy(b.IDs[i*w.T:], w.s.Tokens[start:start+w.T])
		copy(b.Targets[i*w.T:], w.s.Tokens[start+1:start+w.T+1])
		for j := range w.T {
			b.Mask[i*w.T+j] = 1
		}
	}
	return b
}

// BitsPerByte evaluates the stream with windows of T tokens moving by
// T/2: after the first window each scored token has at least T/2 tokens of
// context. It returns the negative log-likelihood in bits per byte of text.
func BitsPerByte(t *Trainer, s *Stream, B, T int) (float64, error) {
	if s.Bytes == 0 {
		return 0, fmt.Errorf("train: empty evaluation stream")
	}
	stride := T / 2
	var nats float64
	next := 1 // first target position not yet scored
	batch := Batch{B: B, T: T, IDs: make([]int, B*T), Targets: make([]int, B*T), Mask: make([]float64, B*T)}
	rows := 0
	flush := func() error {
		if rows == 0 {
			return nil
		}
		for i := rows * T; i < B*T; i++ { // unused rows: score nothing
			batch.IDs[i], batch.Targets[i], batch.Mask[i] = 0, -1, 0
		}
		lp, err := t.LogProbs(batch)
		if err != nil {
			return err
		}
		for i, w := range batch.Mask {
			nats -= w * lp[i]
		}
		rows = 0
		return nil
	}
	for start := 0; next < len(s.Tokens); start += stride {
		end := min(start+T, len(s.Tokens)-1)
		row := batch.IDs[rows*T : (rows+1)*T]
		tg, mk := batch.Targets[rows*T:(rows+1)*T], batch.Mask[rows*T:(rows+1)*T]
		for j := range T {
			p := start + j
			if p < end {
				row[j], tg[j] = s.Tokens[p], s.Tokens[p+1]
				mk[j] = 0
				if p+1 >= next && s.Scored[p+1] {
					mk[j] = 1
				}
			} else {
				row[j], tg[j], mk[j] = 0, -1, 0
			}
		}
		next = end + 1
		if rows++; rows == B {
			if err := flush(); err != nil {
				return 0, err
			}
		}
		if end == len(s.Tokens)-1 {
			break
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return nats / math.Ln2 / float64(s.Bytes), nil
}
