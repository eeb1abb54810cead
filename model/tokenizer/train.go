package tokenizer

import (
	"bytes"
	"fmt"
	"slices"
)

// Train learns a byte-level BPE vocabulary of exactly vocabSize tokens: the
// 256 single bytes (id = byte value), the learnt merges, and EndOfText as the
// last id. Pre-tokens never span two documents.
//
// Each step merges the adjacent pair that occurs most often in the corpus.
// Ties go to the pair whose left token's bytes sort first, then the right
// token's, so the result depends only on the documents' contents (and not on
// their order or on map iteration order).
//
// Two different pairs may concatenate to the same bytes (for example
// "a"+"bc" and "ab"+"c"); the second such merge reuses the existing token,
// as Hugging Face's trainer does, so there can be slightly more merges than
// vocabSize-257. Train fails if the corpus runs out of pairs before the
// vocabulary is full.
func Train(docs []string, vocabSize int) (*Tokenizer, error) {
	if vocabSize < minVocabSize {
		return nil, fmt.Errorf("tokenizer: vocabulary size %d is too small: need at least %d (256 byte tokens and %s)",
			vocabSize, minVocabSize, EndOfText)
	}
	if int64(vocabSize) > 1<<31-1 {
		return nil, fmt.Errorf("tokenizer: vocabulary size %d does not fit int32 ids", vocabSize)
	}
	tr := newTrainer(docs)
	rules, err := tr.run(vocabSize - 1)
	if err != nil {
		return nil, err
	}
	tokens := append(tr.tokens, []byte(EndOfText))
	return newTokenizer(tokens, rules, len(tokens)-1), nil
}

type trainWord struct {
	syms  []int32
	count int64
}

type pairCount struct {
	count int64
	pair  uint64
}

type trainer struct {
	tokens  [][]byte
	byBytes map[string]int32
	words   []trainWord

	// counts[p] is how often pair p occurs in the corpus; zero counts are
	// deleted. where[p] lists the words that contain or once contained p
	// (possibly repeated); it only has to be a superset.
	counts map[uint64]int64
	where  map[uint64][]int32

	// The heap may hold outdated counts; see run for why that is safe.
	heap minHeap[pairCount]

	seen    []uint32 // per word: the merge step that last visited it
	step    uint32
	touched map[uint64]struct{}
}

func newTrainer(docs []string) *trainer {
	// Counting distinct pre-tokens first means that the merge loop works on
	// tens of thousands of words instead of millions of occurrences.
	freq := make(map[string]int64)
	for _, d := range docs {
		for i := 0; i < len(d); {
			j := nextPretoken(d, i)
			freq[d[i:j]]++
			i = j
		}
	}
	keys := make([]string, 0, len(freq))
	total := 0
	for k := range freq {
		if len(k) > 1 { // single bytes hold no pairs
			keys = append(keys, k)
			total += len(k)
		}
	}
	slices.Sort(keys)

	tr := &trainer{
		tokens:  make([][]byte, 256),
		byBytes: make(map[string]int32),
		words:   make([]trainWord, len(keys)),
		counts:  make(map[uint64]int64),
		where:   make(map[uint64][]int32),
		seen:    make([]uint32, len(keys)),
		touched: make(map[uint64]struct{}),
	}
	tr.heap.less = tr.better
	for b := range 256 {
		tr.tokens[b] = []byte{byte(b)}
		tr.byBytes[string(tr.tokens[b])] = int32(b)
	}
	backing := make([]int32, total)
	for wi, k := range keys {
		syms := backing[:len(k):len(k)]
		backing = backing[len(k):]
		for i := range len(k) {
			syms[i] = int32(k[i])
		}
		n := freq[k]
		tr.words[wi] = trainWord{syms: syms, count: n}
		for i := 0; i+1 < len(syms); i++ {
			tr.add(pairKey(syms[i], syms[i+1]), n, int32(wi))
		}
	}
	for p, c := range tr.counts {
		tr.heap.push(pairCount{c, p})
	}
	clear(tr.touched)
	return tr
}

// better orders the heap: higher count first, then the deterministic
// tie-break on the operands' bytes.
func (tr *trainer) better(a, b pairCount) bool {
	if a.count != b.count {
		return a.count > b.count
	}
	if c := bytes.Compare(tr.tokens[a.pair>>32], tr.tokens[b.pair>>32]); c != 0 {
		return c < 0
	}
	return bytes.Compare(tr.tokens[uint32(a.pair)], tr.tokens[uint32(b.pair)]) < 0
}

// add changes pair p's count by d occurrences in word wi.
func (tr *trainer) add(p uint64, d int64, wi int32) {
	c := tr.counts[p] + d
	if c == 0 {
		delete(tr.counts, p)
	} else {
		tr.counts[p] = c
	}
	if d > 0 {
		if l := tr.where[p]; len(l) == 0 || l[len(l)-1] != wi {
			tr.where[p] = append(l, wi)
		}
		tr.touched[p] = struct{}{}
	}
}

// run merges until the vocabulary (without EndOfText) has size tokens.
//
// Heap entries are not updated in place. The invariant is that every pair
// with a positive count has an entry whose recorded count is at least the
// true one. Counts only rise for pairs that involve the token just merged,
// and those get a fresh entry after each step; an entry popped with a count
// above the true one is re-queued with the true count, and one below it is
// dropped because a higher entry for the same pair exists. So the first
// entry whose recorded count is exact is the true maximum.
func (tr *trainer) run(size int) ([]rule, error) {
	var rules []rule
	for len(tr.tokens) < size {
		if tr.heap.len() == 0 {
			return nil, fmt.Errorf("tokenizer: the training corpus yields only %d tokens, fewer than the %d requested (without %s): use more text or a smaller vocabulary",
				len(tr.tokens), size, EndOfText)
		}
		e := tr.heap.pop()
		cur := tr.counts[e.pair]
		if cur != e.count {
			if cur > 0 && cur < e.count {
				tr.heap.push(pairCount{cur, e.pair})
			}
			continue
		}
		left, right := int32(e.pair>>32), int32(uint32(e.pair))
		joined := slices.Concat(tr.tokens[left], tr.tokens[right])
		out, ok := tr.byBytes[string(joined)]
		if !ok {
			out = int32(len(tr.tokens))
			tr.tokens = append(tr.tokens, joined)
			tr.byBytes[string(joined)] = out
		}
		rules = append(rules, rule{left, right, out})
		tr.apply(e.pair, left, right, out)
	}
	return rules, nil
}

// apply replaces every occurrence of left,right by out, left to right, and
// updates the pair counts around each occurrence. Working in place with the
// already-rewritten prefix makes back-to-back occurrences come out right:
// for "a b a b" the second occurrence sees "out" as its left neighbour, which
// cancels the (out, a) pair the first one added.
func (tr *trainer) apply(p uint64, left, right, out int32) {
	tr.step++
	clear(tr.touched)
	for _, wi := range tr.where[p] {
		if tr.seen[wi] == tr.step {
			continue
		}
		tr.seen[wi] = tr.step
		w := &tr.words[wi]
		syms, n := w.syms, w.count
		k := 0
		for i := 0; i < len(syms); {
			if i+1 < len(syms) && syms[i] == left && syms[i+1] == right {
				if k > 0 {
					prev := syms[k-1]
					tr.add(pairKey(prev, left), -n, wi)
					tr.add(pairKey(prev, out), n, wi)
				}
				if i+2 < len(syms) {
					next := syms[i+2]
					tr.add(pairKey(right, next), -n, wi)
					tr.add(pairKey(out, next), n, wi)
				}
				syms[k] = out
				i += 2
			} else {
				syms[k] = syms[i]
				i++
			}
			k++
		}
		w.syms = syms[:k]
	}
	// Every occurrence is gone now (with left == right the pass leaves no
	// two in a row), whatever the decrements above already subtracted.
	delete(tr.counts, p)
	delete(tr.where, p)
	for q := range tr.touched {
		if c := tr.counts[q]; c > 0 {
			tr.heap.push(pairCount{c, q})
		}
	}
}
