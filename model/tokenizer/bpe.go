package tokenizer

// GPT-2's reference algorithm repeatedly scans the whole word for its
// lowest-ranked pair and then merges every occurrence of that pair in one
// left-to-right pass. That is quadratic in the word length, which matters for
// long pre-tokens such as runs of whitespace, digits or binary junk. bpe
// below gives the same result in O(n log n) with a heap of candidate pairs
// ordered by (rank, position) over a linked list of symbols.
//
// One subtlety keeps the two identical: pairs that a merge creates are held
// back until every candidate of the current rank has been handled, because
// the reference finishes its pass over one pair before it looks at any pair
// the pass produced.

type symbol struct {
	id         int32
	prev, next int32 // neighbour positions, -1 at the ends
}

type candidate struct {
	rank, pos int32 // pos is the position of the pair's left symbol
}

func candidateLess(a, b candidate) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// bpe appends the token ids of the pre-token w (len(w) >= 1) to out.
func (t *Tokenizer) bpe(out []int, w string) []int {
	ids := make([]int32, len(w))
	for i := range len(w) {
		ids[i] = t.byteID[w[i]]
	}
	return t.mergeSymbols(out, ids)
}

// mergeSymbols applies the merges to a word's initial symbols (len ≥ 1)
// and appends the resulting ids to out: bytes for byte-level BPE, a word's
// characters (or their byte-fallback tokens) for SentencePiece-style BPE.
func (t *Tokenizer) mergeSymbols(out []int, ids []int32) []int {
	n := len(ids)
	syms := make([]symbol, n)
	for i, id := range ids {
		syms[i] = symbol{id: id, prev: int32(i - 1), next: int32(i + 1)}
	}
	syms[n-1].next = -1

	h := minHeap[candidate]{less: candidateLess}
	for i := 0; i+1 < n; i++ {
		if m, ok := t.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(candidate{m.rank, int32(i)})
		}
	}
	var pending []candidate
	for h.len() > 0 {
		c := h.pop()
		if l := &syms[c.pos]; l.id >= 0 && l.next >= 0 {
			r := &syms[l.next]
			// A stale candidate (its symbols changed since it was queued)
			// shows up as a pair whose rank differs: ranks are unique.
			if m, ok := t.merges[pairKey(l.id, r.id)]; ok && m.rank == c.rank {
				l.id = m.out
				r.id = -1
				l.next = r.next
				if l.next >= 0 {
					syms[l.next].prev = c.pos
				}
				if l.prev >= 0 {
					if m2, ok := t.merges[pairKey(syms[l.prev].id, l.id)]; ok {
						pending = append(pending, candidate{m2.rank, l.prev})
					}
				}
				if l.next >= 0 {
					if m2, ok := t.merges[pairKey(l.id, syms[l.next].id)]; ok {
						pending = append(pending, candidate{m2.rank, c.pos})
					}
				}
			}
		}
		if len(pending) > 0 && (h.len() == 0 || h.peek().rank != c.rank) {
			for _, p := range pending {
				h.push(p)
			}
			pending = pending[:0]
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, int(syms[i].id))
	}
	return out
}

// minHeap is a binary heap; container/heap's interface calls cost more than
// the work done per element here.
type minHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *minHeap[T]) len() int { return len(h.items) }

func (h *minHeap[T]) peek() T { return h.items[0] }

func (h *minHeap[T]) push(x T) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *minHeap[T]) pop() T {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[i]) {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}
