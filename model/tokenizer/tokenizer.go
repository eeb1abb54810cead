// Package tokenizer is the byte-level byte-pair-encoding (BPE) tokenizer of
// peftbench's GPT-2-style model. The project pre-trains its own small model,
// so it also learns its own vocabulary (Train) from its corpus instead of
// borrowing GPT-2's 50k-token one, which would be far too large for the model.
//
// The scheme follows GPT-2 closely so that the saved files (vocab.json and
// merges.txt, see Save) can be read by Hugging Face's GPT2Tokenizer and give
// the same token ids:
//
//   - Text is first split into pre-tokens with GPT-2's pattern (see
//     pretokenize.go); merges never cross a pre-token boundary.
//   - Each pre-token's UTF-8 bytes are the initial symbols, so every byte
//     string can be encoded and Decode(Encode(s)) == s holds for any s,
//     including invalid UTF-8.
//   - Learnt merges are applied lowest rank first.
//   - The vocabulary ends with the special "<|endoftext|>" token, which
//     Encode never produces from text: callers insert EOT() themselves
//     between documents, so a document that happens to contain that string
//     cannot forge a document boundary.
//
// The package also loads the tokenizers of real models from Hugging Face's
// tokenizer.json (LoadHF, and Load and LoadFS when the file is there):
// byte-level BPE with the model's own pre-tokenizer, added tokens, NFC and
// the special tokens the model expects around a sequence (see hf.go). Such
// a tokenizer behaves as Hugging Face's does, which differs from the above
// in two ways: added tokens in the text, "<|endoftext|>" included, are
// encoded as those tokens, and Prefix and Suffix may be non-empty.
package tokenizer

import (
	"strings"
	"sync"
)

// EndOfText is the text of the special token that separates documents.
const EndOfText = "<|endoftext|>"

// minVocabSize is the 256 byte tokens plus EndOfText: the smallest vocabulary
// that can still encode every byte string.
const minVocabSize = 257

// Bounds on the encoding cache. Long pre-tokens are rare in prose and costly
// to keep, and the entry limit stops adversarial or very diverse input from
// growing memory without bound; uncached words are merely slower.
const (
	maxCachedWordLen = 64
	maxCacheEntries  = 1 << 18
)

// rule is one learnt merge: the adjacent symbols left, right become out.
type rule struct {
	left, right, out int32
}

// merge is what the encoder needs to know about an adjacent symbol pair.
type merge struct {
	rank, out int32
}

// Tokenizer encodes text to token ids and back. It is safe for concurrent use
// by multiple goroutines: its vocabulary is immutable and its cache is
// guarded by a lock.
type Tokenizer struct {
	tokens [][]byte // id -> bytes; tokens[eot] is EndOfText
	rules  []rule   // by rank
	merges map[uint64]merge
	byteID [256]int32
	eot    int
	hf     *hfPipeline // nil for the project's own tokenizers

	mu    sync.RWMutex
	cache map[string][]int
}

func pairKey(left, right int32) uint64 {
	return uint64(uint32(left))<<32 | uint64(uint32(right))
}

// newTokenizer assumes its input is consistent: every byte has a token of
// its own, each rule's out is the concatenation of its operands, and no
// pair appears twice. Train guarantees that by construction, Load by
// validation.
func newTokenizer(tokens [][]byte, rules []rule, eot int) *Tokenizer {
	t := &Tokenizer{
		tokens: tokens,
		rules:  rules,
		merges: make(map[uint64]merge, len(rules)),
		eot:    eot,
		cache:  make(map[string][]int),
	}
	for id, b := range tokens {
		if len(b) == 1 && id != eot {
			t.byteID[b[0]] = int32(id)
		}
	}
	for rank, r := range rules {
		t.merges[pairKey(r.left, r.right)] = merge{rank: int32(rank), out: r.out}
	}
	return t
}

// VocabSize is the number of token ids, EOT included; ids are 0..VocabSize()-1.
// A tokenizer.json may leave ids unused; they decode to nothing.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// EOT is the id of the "<|endoftext|>" token. For a tokenizer loaded from
// tokenizer.json it is the model's end-of-sequence token: the eos_token of
// tokenizer_config.json when that file names one, otherwise the first added
// token among "<|endoftext|>", "<|end_of_text|>", "</s>", "<|im_end|>" and
// "<eos>" (see eotCandidates in hf.go for why).
func (t *Tokenizer) EOT() int { return t.eot }

// Prefix returns the tokens that the model expects before every sequence,
// such as Llama 3.2's "<|begin_of_text|>", from tokenizer.json's
// post-processor; it is empty for GPT-2, Qwen2 and the project's own
// tokenizers. Encode does not add them.
func (t *Tokenizer) Prefix() []int {
	if t.hf == nil {
		return nil
	}
	return append([]int(nil), t.hf.prefix...)
}

// EncodeStart encodes s as the start of a sequence: Prefix, then s's
// tokens. Prompts are encoded so; the continuations scored or trained
// after them with Encode.
func (t *Tokenizer) EncodeStart(s string) []int { return append(t.Prefix(), t.Encode(s)...) }

// Suffix is Prefix for the tokens after every sequence (RoBERTa's "</s>");
// none of the supported decoder-only models has any.
func (t *Tokenizer) Suffix() []int {
	if t.hf == nil {
		return nil
	}
	return append([]int(nil), t.hf.suffix...)
}

// BOS returns the beginning-of-sequence token, when Prefix is exactly one
// token, and whether there is one.
func (t *Tokenizer) BOS() (int, bool) {
	if t.hf == nil || len(t.hf.prefix) != 1 {
		return -1, false
	}
	return t.hf.prefix[0], true
}

// TokenID returns the id of the token whose text is exactly text: an added
// (special) token of a tokenizer.json such as "<|im_start|>", EndOfText, or
// else a vocabulary token with those bytes.
func (t *Tokenizer) TokenID(text string) (int, bool) {
	if t.hf != nil {
		if id, ok := t.hf.addedIDs[text]; ok {
			return id, true
		}
		id, ok := t.hf.whole[text]
		return int(id), ok
	}
	if text == EndOfText {
		return t.eot, true
	}
	for id, b := range t.tokens {
		if id != t.eot && string(b) == text {
			return id, true
		}
	}
	return 0, false
}

// Encode splits s into token ids. It accepts any byte string; invalid UTF-8
// bytes are kept as they are (see pretokenize.go for how they are grouped).
// The text "<|endoftext|>" is encoded as ordinary text, never as EOT(),
// except by a tokenizer loaded from tokenizer.json: that one encodes added
// tokens found in s as themselves, as Hugging Face's does, normalises s
// if the file says so (Qwen2: NFC), and adds neither Prefix nor Suffix.
func (t *Tokenizer) Encode(s string) []int {
	if t.hf != nil {
		return t.hf.encode(t, s)
	}
	// Prose averages roughly four bytes per token at GPT-2-like vocabulary
	// sizes; a smaller vocabulary gives more tokens, hence the /3.
	out := make([]int, 0, len(s)/3+1)
	for i := 0; i < len(s); {
		j := nextPretoken(s, i)
		out = t.appendWord(out, s[i:j])
		i = j
	}
	return out
}

func (t *Tokenizer) appendWord(out []int, w string) []int {
	if len(w) == 1 {
		return append(out, int(t.byteID[w[0]]))
	}
	if len(w) > maxCachedWordLen {
		return t.encodeWord(out, w)
	}
	t.mu.RLock()
	ids, ok := t.cache[w]
	t.mu.RUnlock()
	if ok {
		return append(out, ids...)
	}
	start := len(out)
	out = t.encodeWord(out, w)
	ids = append([]int(nil), out[start:]...)
	t.mu.Lock()
	if len(t.cache) < maxCacheEntries {
		// Clone so that the cache does not pin the caller's whole input.
		t.cache[strings.Clone(w)] = ids
	}
	t.mu.Unlock()
	return out
}

// encodeWord appends the ids of the pre-token w, bypassing the cache.
func (t *Tokenizer) encodeWord(out []int, w string) []int {
	// ignore_merges (Llama 3): a pre-token that is a vocabulary entry is
	// that entry, whatever the merges would make of it. The look-up comes
	// after the cache's because the vocabulary's map is far larger and
	// slower to reach than the cache of the words a text actually uses.
	if t.hf != nil && t.hf.ignoreMerges {
		if id, ok := t.hf.whole[w]; ok {
			return append(out, int(id))
		}
	}
	return t.bpe(out, w)
}

// Decode concatenates the bytes of the given tokens. Ids outside
// [0, VocabSize()) contribute nothing, so that ids sampled from a model whose
// output layer is padded beyond the vocabulary do not need filtering first.
// EOT() decodes to "<|endoftext|>", and an added token of a tokenizer.json
// to its text. Decode(Encode(s)) == s for every s, except where a
// tokenizer.json normalises s (then it gives NFC(s)), prefixes a space
// (ByteLevel's add_prefix_space) or has added tokens that swallow
// whitespace (lstrip, rstrip).
func (t *Tokenizer) Decode(ids []int) string {
	n := 0
	for _, id := range ids {
		if id >= 0 && id < len(t.tokens) {
			n += len(t.tokens[id])
		}
	}
	b := make([]byte, 0, n)
	for _, id := range ids {
		if id >= 0 && id < len(t.tokens) {
			b = append(b, t.tokens[id]...)
		}
	}
	if t.hf != nil && t.hf.sp != nil && t.hf.sp.stripSpace && len(b) > 0 && b[0] == ' ' {
		b = b[1:] // the decoder's Strip of the ▁ that encoding prepended
	}
	return string(b)
}

// TokenBytes returns a copy of the bytes of token id, or nil if id is out of
// range. A token need not be valid UTF-8 on its own, which is why this is
// not a string-returning lookup.
func (t *Tokenizer) TokenBytes(id int) []byte {
	if id < 0 || id >= len(t.tokens) {
		return nil
	}
	return append([]byte(nil), t.tokens[id]...)
}
