package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SentencePiece-style BPE in tokenizer.json (Llama 2, TinyLlama, Mistral):
// spaces become "▁" (U+2581) and one is put in front of the text, either
// by the normalizer (Prepend "▁", Replace " " → "▁": Llama 2's files) or
// by a Metaspace pre-tokenizer (newer files); BPE then runs over the
// characters of each piece, merges by rank, and a character the
// vocabulary lacks becomes the tokens of its UTF-8 bytes ("<0x41>": byte
// fallback) or, without byte fallback, the unknown token. Decoding turns
// "▁" back into spaces, byte tokens into their bytes, and strips the space
// encoding put in front.
//
// Supported: normalizer none, Prepend, Replace of a string, NFC, or a
// Sequence of them; pre_tokenizer none or Metaspace (prepend_scheme
// always, first or never; split or not); decoder none, Metaspace, or a
// Sequence of Replace, ByteFallback, Fuse and Strip. Anything else is an
// error naming the field.

// sp is the character every space becomes.
const spSpace = "\u2581"

// spPipeline is what SentencePiece-style BPE needs beyond hfPipeline's
// added tokens and post-processor.
type spPipeline struct {
	prepend string      // the normalizer's Prepend
	replace [][2]string // the normalizer's Replace steps, in order

	meta          bool // a Metaspace pre-tokenizer
	metaRepl      string
	prependScheme string // always, first, never
	split         bool

	vocab        map[string]int32
	byteFallback bool
	byteTok      [256]int32
	unk          int32 // -1: none
	fuseUnk      bool
	ignoreMerges bool

	stripSpace  bool // the decoder strips the leading space
	decodeBytes bool // byte-fallback tokens decode to their bytes (the ByteFallback decoder, or no decoder)
}

// sentencePiece says whether a tokenizer.json is SentencePiece-style BPE.
func sentencePiece(f *hfFile, m *hfModel) bool {
	return m.ByteFallback || bytes.Contains(f.PreTokenizer, []byte(`"Metaspace"`)) || bytes.Contains(f.Normalizer, []byte(`"Prepend"`))
}

func (p *hfParser) parseSentencePiece(f *hfFile, m *hfModel, cdata []byte) (*Tokenizer, error) {
	const supported = "supported: BPE with byte_fallback, a Prepend/Replace normalizer or a Metaspace pre-tokenizer"
	if m.Type != nil && *m.Type != "BPE" {
		return nil, p.errorf("model.type", "%q is not supported (%s; SentencePiece's Unigram is not)", *m.Type, supported)
	}
	check := *m
	check.ByteFallback, check.Type = false, nil
	if len(check.Merges) == 0 {
		bpe := "BPE"
		check.Type = &bpe
	}
	if err := p.checkModel(&check); err != nil {
		return nil, err
	}
	sp := &spPipeline{unk: -1, fuseUnk: m.FuseUnk, byteFallback: m.ByteFallback, ignoreMerges: m.IgnoreMerges}
	h := &hfPipeline{sp: sp}
	if err := p.spNormalizer(h, "normalizer", f.Normalizer); err != nil {
		return nil, err
	}
	if err := p.spPreTokenizer(sp, f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := p.spDecoder(sp, "decoder", f.Decoder); err != nil {
		return nil, err
	}
	if len(f.Decoder) == 0 || string(f.Decoder) == "null" {
		sp.decodeBytes = true
	}
	vocab, err := p.vocab(m.Vocab)
	if err != nil {
		return nil, err
	}
	sp.vocab = vocab
	size := 0
	for _, id := range vocab {
		size = max(size, int(id)+1)
	}
	for i, a := range f.AddedTokens {
		if a.ID < 0 || a.ID > maxHFID {
			return nil, p.errorf(fmt.Sprintf("added_tokens[%d]", i), "(%q): bad id %d", a.Content, a.ID)
		}
		size = max(size, int(a.ID)+1)
	}
	tokens := make([][]byte, size)
	h.whole = make(map[string]int32, len(vocab))
	for key, id := range vocab {
		if other := tokens[id]; other != nil {
			return nil, p.errorf("model.vocab", "gives id %d to both %q and %q", id, vocabKey(vocab, id, key), key)
		}
		if b, ok := byteToken(key); ok && m.ByteFallback && sp.decodeBytes {
			tokens[id] = []byte{b}
			continue
		}
		text := strings.ReplaceAll(key, spSpace, " ")
		tokens[id] = []byte(text)
		h.whole[text] = id
	}
	if m.ByteFallback {
		for b := range 256 {
			id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]
			if !ok {
				return nil, p.errorf("model.vocab", "has no byte-fallback token <0x%02X>, which byte_fallback needs", b)
			}
			sp.byteTok[b] = id
		}
	}
	if !m.ByteFallback && m.UnkToken == nil {
		// A character outside the vocabulary must become something; Hugging
		// Face's libraries differ on what dropping it means for merges.
		return nil, p.errorf("model.unk_token", "is null and byte_fallback false: a character outside the vocabulary could not be encoded")
	}
	if m.UnkToken != nil {
		id, ok := vocab[*m.UnkToken]
		if !ok {
			return nil, p.errorf("model.unk_token", "%q is not in model.vocab", *m.UnkToken)
		}
		sp.unk = id
	}
	return p.assemble(h, f, m, vocab, tokens, size, cdata)
}

// byteToken reads a byte-fallback token's name, "<0x41>".
func byteToken(key string) (byte, bool) {
	if len(key) != 6 || !strings.HasPrefix(key, "<0x") || key[5] != '>' {
		return 0, false
	}
	var b byte
	if _, err := fmt.Sscanf(key[3:5], "%02X", &b); err != nil {
		return 0, false
	}
	return b, true
}

func (p *hfParser) spNormalizer(h *hfPipeline, field string, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var n hfNode
	if err := p.unmarshal(field, raw, &n); err != nil {
		return err
	}
	sp := h.sp
	switch n.Type {
	case "Sequence":
		for i, sub := range n.Normalizers {
			if err := p.spNormalizer(h, fmt.Sprintf("%s.normalizers[%d]", field, i), sub); err != nil {
				return err
			}
		}
	case "Prepend":
		if sp.prepend != "" || len(sp.replace) > 0 {
			return p.errorf(field, "a Prepend that is not the first step is not supported")
		}
		sp.prepend = n.Prepend
	case "Replace":
		if n.Pattern == nil || n.Pattern.String == nil || *n.Pattern.String == "" || n.Content == nil {
			return p.errorf(field+".pattern", "only the replacement of a non-empty String is supported")
		}
		sp.replace = append(sp.replace, [2]string{*n.Pattern.String, *n.Content})
	case "NFC":
		if sp.prepend != "" || len(sp.replace) > 0 {
			return p.errorf(field, "NFC after Prepend or Replace is not supported")
		}
		h.nfc = true
	default:
		return p.errorf(field+".type", "%q is not supported (supported: Prepend, Replace, NFC, or a Sequence of them)", n.Type)
	}
	return nil
}

func (p *hfParser) spPreTokenizer(sp *spPipeline, raw json.RawMessage) error {
	field := "pre_tokenizer"
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var n hfNode
	if err := p.unmarshal(field, raw, &n); err != nil {
		return err
	}
	if n.Type == "Sequence" && len(n.Pretokenizers) == 1 {
		field += ".pretokenizers[0]"
		if err := p.unmarshal(field, n.Pretokenizers[0], &n); err != nil {
			return err
		}
	}
	if n.Type != "Metaspace" {
		return p.errorf(field+".type", "%q is not supported with SentencePiece-style BPE (supported: none or Metaspace)", n.Type)
	}
	// split missing means true, as files older than the field split.
	// Splitting follows Hugging Face's Rust library (each ▁ begins a word,
	// so a run of spaces is words of one ▁ each); tokenizers.js, the
	// reference of TestHFReference, never splits, so hand-made fixtures
	// check it (TestHFMetaspaceSplit).
	sp.meta, sp.metaRepl, sp.split = true, n.Replacement, n.Split == nil || *n.Split
	if utf8.RuneCountInString(sp.metaRepl) != 1 {
		return p.errorf(field+".replacement", "%q is not one character", n.Replacement)
	}
	switch sp.prependScheme = n.PrependScheme; sp.prependScheme {
	case "always", "first", "never":
	case "": // files older than prepend_scheme
		sp.prependScheme = "never"
		if n.AddPrefixSpace == nil || *n.AddPrefixSpace {
			sp.prependScheme = "always"
		}
	default:
		return p.errorf(field+".prepend_scheme", "%q is not supported (always, first or never)", n.PrependScheme)
	}
	return nil
}

func (p *hfParser) spDecoder(sp *spPipeline, field string, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var n hfNode
	if err := p.unmarshal(field, raw, &n); err != nil {
		return err
	}
	switch n.Type {
	case "Sequence":
		for i, sub := range n.Decoders {
			if err := p.spDecoder(sp, fmt.Sprintf("%s.decoders[%d]", field, i), sub); err != nil {
				return err
			}
		}
	case "Replace":
		if n.Pattern == nil || n.Pattern.String == nil || *n.Pattern.String != spSpace || n.Content == nil || *n.Content != " " {
			return p.errorf(field, "only the Replace of \"▁\" by \" \" is supported")
		}
	case "ByteFallback":
		sp.decodeBytes = true
	case "Fuse":
	case "Strip":
		if n.Content == nil || *n.Content != " " || n.Start > 1 || n.Stop != 0 {
			return p.errorf(field, "only a Strip of one leading space is supported")
		}
		sp.stripSpace = n.Start == 1
	case "Metaspace":
		sp.stripSpace = n.PrependScheme != "never" && (n.PrependScheme != "" || n.AddPrefixSpace == nil || *n.AddPrefixSpace)
	default:
		return p.errorf(field+".type", "%q is not supported (supported: Replace, ByteFallback, Fuse, Strip, Metaspace)", n.Type)
	}
	return nil
}

// encode is Encode for SentencePiece-style BPE: added tokens are cut out
// of the text first, as Hugging Face's library does, and each section
// between them is normalised, pre-tokenised and encoded on its own.
func (sp *spPipeline) encode(t *Tokenizer, h *hfPipeline, s string) []int {
	out := make([]int, 0, len(s)/3+1)
	for i := 0; i < len(s); {
		start, end, id, ok := h.raw.find(s, i)
		if !ok {
			start, end = len(s), len(s)
		}
		if start > i {
			out = sp.section(t, h, out, s[i:start], i == 0)
		}
		if ok {
			out = append(out, id)
		}
		i = end
	}
	return out
}

// section encodes text between added tokens; atStart says whether it
// begins the input (Metaspace's prepend_scheme first).
func (sp *spPipeline) section(t *Tokenizer, h *hfPipeline, out []int, s string, atStart bool) []int {
	if h.nfc {
		s = norm.NFC.String(s)
	}
	if sp.prepend != "" && s != "" {
		s = sp.prepend + s
	}
	for _, r := range sp.replace {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	for i := 0; i < len(s); {
		start, end, id, ok := h.norm.find(s, i)
		if !ok {
			start, end = len(s), len(s)
		}
		if start > i {
			out = sp.pretokenize(t, out, s[i:start], atStart && i == 0)
		}
		if ok {
			out = append(out, id)
		}
		i = end
	}
	return out
}

// pretokenize is the Metaspace step, then BPE on each word.
func (sp *spPipeline) pretokenize(t *Tokenizer, out []int, s string, atStart bool) []int {
	if !sp.meta {
		return sp.word(t, out, s)
	}
	r := sp.metaRepl
	s = strings.ReplaceAll(s, " ", r)
	if !strings.HasPrefix(s, r) && (sp.prependScheme == "always" || sp.prependScheme == "first" && atStart) {
		s = r + s
	}
	if !sp.split {
		return sp.word(t, out, s)
	}
	// Each replacement character begins a word (MergedWithNext). Its
	// first byte is a UTF-8 lead byte, so it is never found inside the
	// character that s starts with.
	for len(s) > 0 {
		j := len(s)
		if k := strings.Index(s[1:], r); k >= 0 {
			j = k + 1
		}
		out = sp.word(t, out, s[:j])
		s = s[j:]
	}
	return out
}

// word is BPE over the characters of w: a character the vocabulary lacks
// becomes its bytes' fallback tokens, or the unknown token (consecutive
// ones fused into one with fuse_unk).
func (sp *spPipeline) word(t *Tokenizer, out []int, w string) []int {
	if w == "" {
		return out
	}
	if sp.ignoreMerges {
		if id, ok := sp.vocab[w]; ok {
			return append(out, int(id))
		}
	}
	ids := make([]int32, 0, len(w))
	lastUnk := false
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		c := w[i : i+size]
		i += size
		if id, ok := sp.vocab[c]; ok {
			ids, lastUnk = append(ids, id), false
			continue
		}
		switch {
		case sp.byteFallback:
			for k := 0; k < len(c); k++ {
				ids = append(ids, sp.byteTok[c[k]])
			}
			lastUnk = false
		case sp.unk >= 0:
			if !(sp.fuseUnk && lastUnk) {
				ids = append(ids, sp.unk)
			}
			lastUnk = true
		}
	}
	if len(ids) == 0 {
		return out
	}
	return t.mergeSymbols(out, ids)
}
