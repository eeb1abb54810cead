package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Hugging Face's single-file tokenizer format, and the file beside it from
// which the end-of-text token is read (see eotCandidates).
const (
	HFFile       = "tokenizer.json"
	HFConfigFile = "tokenizer_config.json"
)

// A tokenizer.json describes a pipeline: added tokens are cut out of the
// text first, the rest is normalised, split by the pre-tokenizer, and each
// piece is encoded by the model; a post-processor may then add special
// tokens around the whole sequence. This package supports the subset that
// byte-level BPE models use (GPT-2, Llama 3, Qwen2, SmolLM2):
//
//   - model: BPE over byte-level symbols, with merges as "a b" strings or
//     [a, b] pairs, and ignore_merges (a piece that is itself a vocabulary
//     entry is emitted whole, as Llama 3 does);
//   - normalizer: none or NFC (Qwen2);
//   - pre_tokenizer: ByteLevel (with its add_prefix_space and use_regex),
//     alone or last in a Sequence after Split (a regular expression or a
//     plain string, "Isolated" behaviour) and Digits steps;
//   - added_tokens: special and non-special, with lstrip, rstrip and
//     normalized; single_word is rejected;
//   - post_processor: TemplateProcessing, RobertaProcessing and
//     BertProcessing give the tokens Prefix and Suffix return; ByteLevel
//     only trims offsets and adds nothing;
//   - decoder: ByteLevel (or none).
//
// SentencePiece-style BPE (Llama 2, TinyLlama, Mistral: byte_fallback, a
// Prepend/Replace normalizer or a Metaspace pre-tokenizer) has a pipeline
// of its own: see sentencepiece.go.
//
// Anything else is an error that names the file and the field, rather than
// a tokenizer that silently encodes differently from the model's own.
// padding and truncation are ignored: callers decide lengths themselves.

// eotCandidates are the added tokens that end a document in the supported
// families, in order of preference, for files without a usable eos_token.
//
// EOT is tokenizer_config.json's eos_token when the file is there and
// names one: that is the token the model's authors declare it stops on,
// which for base models is the document separator (GPT-2's and Qwen2's
// "<|endoftext|>", Llama 3's "<|end_of_text|>") and for chat models the end
// of a turn (Qwen2.5-Instruct's "<|im_end|>", Llama 3.2-Instruct's
// "<|eot_id|>"), which is how a fine-tuning target should end for them.
var eotCandidates = []string{EndOfText, "<|end_of_text|>", "</s>", "<|im_end|>", "<eos>"}

// maxHFID bounds token ids: the token table is indexed by id, so a stray
// huge id would otherwise allocate without limit.
const maxHFID = 1<<24 - 1

// hfPipeline is what a tokenizer loaded from tokenizer.json needs beyond
// the BPE tables that every Tokenizer has.
type hfPipeline struct {
	raw  *addedMatcher // added tokens matched in the text as given
	norm *addedMatcher // added tokens matched after normalisation
	nfc  bool

	// Pre-tokenizer steps, the last the ByteLevel's own GPT-2 split if
	// use_regex. prefixSpace (ByteLevel's add_prefix_space) applies to the
	// pieces that reach the ByteLevel step, prefixAt.
	steps       []splitter
	prefixSpace bool
	prefixAt    int

	ignoreMerges bool
	whole        map[string]int32 // a model token's bytes -> its id

	addedIDs       map[string]int // added token content -> id
	prefix, suffix []int

	sp *spPipeline // SentencePiece-style BPE (sentencepiece.go); nil: byte-level
}

// LoadHF reads dir/tokenizer.json, and dir/tokenizer_config.json if there
// is one (for the end-of-text token).
func LoadHF(dir string) (*Tokenizer, error) {
	name, cname := filepath.Join(dir, HFFile), filepath.Join(dir, HFConfigFile)
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cdata, err := os.ReadFile(cname)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parseHF(name, data, cname, cdata)
}

// LoadHFFS is LoadHF for a file system such as an embed.FS; dir uses
// forward slashes as fs.FS requires.
func LoadHFFS(fsys fs.FS, dir string) (*Tokenizer, error) {
	name, cname := path.Join(dir, HFFile), path.Join(dir, HFConfigFile)
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cdata, err := fs.ReadFile(fsys, cname)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parseHF(name, data, cname, cdata)
}

// The parts of tokenizer.json that are read. Sub-objects stay raw until
// their type is known, so that an unsupported one is reported as such
// rather than as a JSON type error.
type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type hfAddedToken struct {
	ID         int64  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type                    *string         `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	UnkToken                *string         `json:"unk_token"`
	FuseUnk                 bool            `json:"fuse_unk"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

// hfNode is any normalizer, pre-tokenizer, post-processor or decoder: the
// fields of all the supported types, each read only for its own type.
type hfNode struct {
	Type string `json:"type"`

	Normalizers   []json.RawMessage `json:"normalizers"`   // Sequence
	Pretokenizers []json.RawMessage `json:"pretokenizers"` // Sequence
	Processors    []json.RawMessage `json:"processors"`    // Sequence

	AddPrefixSpace *bool `json:"add_prefix_space"` // ByteLevel
	UseRegex       *bool `json:"use_regex"`        // ByteLevel

	Pattern *struct { // Split
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	Behavior string `json:"behavior"`
	Invert   bool   `json:"invert"`

	IndividualDigits bool `json:"individual_digits"` // Digits

	Prepend       string            `json:"prepend"`        // Prepend
	Content       *string           `json:"content"`        // Replace, Strip
	Replacement   string            `json:"replacement"`    // Metaspace
	PrependScheme string            `json:"prepend_scheme"` // Metaspace
	Split         *bool             `json:"split"`          // Metaspace
	Decoders      []json.RawMessage `json:"decoders"`       // Sequence
	Start         int               `json:"start"`          // Strip
	Stop          int               `json:"stop"`           // Strip

	Single []struct { // TemplateProcessing
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	} `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int64 `json:"ids"`
	} `json:"special_tokens"`

	Sep []json.RawMessage `json:"sep"` // RobertaProcessing, BertProcessing: [token, id]
	Cls []json.RawMessage `json:"cls"`
}

// hfParser carries the file names into error messages.
type hfParser struct {
	name, cname string
}

// errorf reports a problem with a field of tokenizer.json.
func (p *hfParser) errorf(field, format string, args ...any) error {
	if field == "" {
		return fmt.Errorf("tokenizer: %s: %s", p.name, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("tokenizer: %s: %s %s", p.name, field, fmt.Sprintf(format, args...))
}

// unmarshal decodes a part of the file, naming the field on failure; a
// syntax error in the whole file has a line number instead.
func (p *hfParser) unmarshal(field string, raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			at := field
			if te.Field != "" && at != "" {
				at += "." + te.Field
			} else if te.Field != "" {
				at = te.Field
			}
			return p.errorf(at, "is a JSON %s, want %s", te.Value, jsonKind(te.Type))
		}
		return p.errorf(field, "%v", err)
	}
	return nil
}

// jsonKind names what JSON a Go type takes, for error messages.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a number in the range of " + t.String()
}

const supportedModels = "supported: BPE with a ByteLevel pre-tokenizer"

func parseHF(name string, data []byte, cname string, cdata []byte) (*Tokenizer, error) {
	p := &hfParser{name: name, cname: cname}
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fileError(name, lineAt(data, se.Offset), "%v", err)
		}
		return nil, p.unmarshal("", data, &f)
	}
	if len(f.Model) == 0 || string(f.Model) == "null" {
		return nil, p.errorf("model", "is missing")
	}
	var m hfModel
	if err := p.unmarshal("model", f.Model, &m); err != nil {
		return nil, err
	}
	if sentencePiece(&f, &m) {
		return p.parseSentencePiece(&f, &m, cdata)
	}
	h := &hfPipeline{}
	if err := p.checkModel(&m); err != nil {
		return nil, err
	}
	h.ignoreMerges = m.IgnoreMerges
	var err error
	if h.nfc, err = p.normalizer("normalizer", f.Normalizer); err != nil {
		return nil, err
	}
	if err := p.preTokenizer(h, f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := p.decoder(f.Decoder); err != nil {
		return nil, err
	}

	vocab, err := p.vocab(m.Vocab)
	if err != nil {
		return nil, err
	}
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
		// A key outside the byte-level alphabet can never come out of
		// BPE over byte-level symbols; it decodes to its own UTF-8, as
		// Hugging Face's ByteLevel decoder does.
		if b, ok := tokenBytes(key); ok && len(b) > 0 {
			tokens[id] = b
			h.whole[string(b)] = id
		} else {
			tokens[id] = []byte(key)
		}
	}
	var byteID [256]int32
	for b := range 256 {
		id, ok := vocab[string(byteToRune[b])]
		if !ok {
			return nil, p.errorf("model.vocab", "has no token for byte 0x%02x (%q), so some text could not be encoded", b, string(byteToRune[b]))
		}
		byteID[b] = id
	}
	t, err := p.assemble(h, &f, &m, vocab, tokens, size, cdata)
	if err != nil {
		return nil, err
	}
	// newTokenizer takes the single-byte tokens as the byte symbols; here
	// an added token may also be one byte long, and BPE must start from
	// the model's own.
	t.byteID = byteID
	return t, nil
}

// assemble finishes a tokenizer from its vocabulary: the merges, the added
// tokens, the post-processor's prefix and suffix, and the end-of-text id.
func (p *hfParser) assemble(h *hfPipeline, f *hfFile, m *hfModel, vocab map[string]int32, tokens [][]byte, size int, cdata []byte) (*Tokenizer, error) {
	rules, err := p.merges(m.Merges, vocab)
	if err != nil {
		return nil, err
	}
	if err := p.addedTokens(h, f.AddedTokens, vocab, tokens); err != nil {
		return nil, err
	}
	if h.prefix, h.suffix, err = p.postProcessor("post_processor", f.PostProcessor, size); err != nil {
		return nil, err
	}
	eot, err := p.endOfText(cdata, h.addedIDs, vocab)
	if err != nil {
		return nil, err
	}
	t := newTokenizer(tokens, rules, eot)
	t.hf = h
	return t, nil
}

func vocabKey(vocab map[string]int32, id int32, not string) string {
	for k, v := range vocab {
		if v == id && k != not {
			return k
		}
	}
	return ""
}

func (p *hfParser) checkModel(m *hfModel) error {
	typ := ""
	if m.Type != nil {
		typ = *m.Type
	} else if len(m.Merges) == 0 {
		// Old files leave out the type; only BPE has merges.
		return p.errorf("model.type", "is missing (%s)", supportedModels)
	} else {
		typ = "BPE"
	}
	if typ != "BPE" {
		return p.errorf("model.type", "%q is not supported (%s)", typ, supportedModels)
	}
	if m.ByteFallback {
		return p.errorf("model.byte_fallback", "is true: SentencePiece-style BPE (Llama 2, TinyLlama, Mistral) is not supported (%s)", supportedModels)
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return p.errorf("model.dropout", "is %v: BPE dropout makes encoding random and is not supported", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return p.errorf("model.continuing_subword_prefix", "%q is not supported (%s)", *m.ContinuingSubwordPrefix, supportedModels)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return p.errorf("model.end_of_word_suffix", "%q is not supported (%s)", *m.EndOfWordSuffix, supportedModels)
	}
	if len(m.Vocab) == 0 || string(m.Vocab) == "null" {
		return p.errorf("model.vocab", "is missing")
	}
	return nil
}

// normalizer reports whether the normalizer is NFC; no normalizer, or a
// Sequence of NFC steps, are the others allowed.
func (p *hfParser) normalizer(field string, raw json.RawMessage) (nfc bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, nil
	}
	var n hfNode
	if err := p.unmarshal(field, raw, &n); err != nil {
		return false, err
	}
	switch n.Type {
	case "NFC":
		return true, nil
	case "Sequence":
		for i, sub := range n.Normalizers {
			ok, err := p.normalizer(fmt.Sprintf("%s.normalizers[%d]", field, i), sub)
			if err != nil {
				return false, err
			}
			nfc = nfc || ok
		}
		return nfc, nil
	}
	return false, p.errorf(field+".type", "%q is not supported (supported: none or NFC)", n.Type)
}

func (p *hfParser) preTokenizer(h *hfPipeline, raw json.RawMessage) error {
	const field = "pre_tokenizer"
	if len(raw) == 0 || string(raw) == "null" {
		return p.errorf(field, "is missing: byte-level BPE needs a ByteLevel pre-tokenizer (%s)", supportedModels)
	}
	type step struct {
		field string
		node  hfNode
	}
	var steps []step
	var flatten func(field string, raw json.RawMessage) error
	flatten = func(field string, raw json.RawMessage) error {
		var n hfNode
		if err := p.unmarshal(field, raw, &n); err != nil {
			return err
		}
		if n.Type != "Sequence" {
			steps = append(steps, step{field, n})
			return nil
		}
		for i, sub := range n.Pretokenizers {
			if err := flatten(fmt.Sprintf("%s.pretokenizers[%d]", field, i), sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := flatten(field, raw); err != nil {
		return err
	}
	byteLevel := -1
	for i, st := range steps {
		n := st.node
		if byteLevel >= 0 {
			return p.errorf(st.field, "%q comes after ByteLevel, which must be the last step", n.Type)
		}
		switch n.Type {
		case "ByteLevel":
			byteLevel = i
			h.prefixAt = len(h.steps)
			h.prefixSpace = n.AddPrefixSpace != nil && *n.AddPrefixSpace
			if n.UseRegex == nil || *n.UseRegex {
				h.steps = append(h.steps, gpt2Scanner{})
			}
		case "Split":
			sp, err := p.split(st.field, &n)
			if err != nil {
				return err
			}
			h.steps = append(h.steps, sp)
		case "Digits":
			h.steps = append(h.steps, digitsScanner{individual: n.IndividualDigits})
		case "Metaspace":
			return p.errorf(st.field+".type", "%q is not supported: it is SentencePiece-style BPE (Llama 2, TinyLlama, Mistral) (%s)", n.Type, supportedModels)
		default:
			return p.errorf(st.field+".type", "%q is not supported (supported: ByteLevel, alone or last in a Sequence after Split and Digits)", n.Type)
		}
	}
	if byteLevel < 0 {
		return p.errorf(field, "has no ByteLevel step (%s)", supportedModels)
	}
	return nil
}

func (p *hfParser) split(field string, n *hfNode) (splitter, error) {
	if n.Behavior != "Isolated" {
		return nil, p.errorf(field+".behavior", "%q is not supported (supported: Isolated)", n.Behavior)
	}
	if n.Invert {
		return nil, p.errorf(field+".invert", "is true, which is not supported")
	}
	switch {
	case n.Pattern == nil:
		return nil, p.errorf(field+".pattern", "is missing")
	case n.Pattern.Regex != nil:
		sp, err := splitterFor(*n.Pattern.Regex)
		if err != nil {
			return nil, p.errorf(field+".pattern.Regex", "%q: %v", *n.Pattern.Regex, err)
		}
		return sp, nil
	case n.Pattern.String != nil && *n.Pattern.String != "":
		return literalSplitter{*n.Pattern.String}, nil
	}
	return nil, p.errorf(field+".pattern", "has neither a Regex nor a non-empty String")
}

func (p *hfParser) decoder(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var n hfNode
	if err := p.unmarshal("decoder", raw, &n); err != nil {
		return err
	}
	if n.Type != "ByteLevel" {
		return p.errorf("decoder.type", "%q is not supported (supported: ByteLevel)", n.Type)
	}
	return nil
}

func (p *hfParser) vocab(raw json.RawMessage) (map[string]int32, error) {
	var vocab map[string]int32
	if err := p.unmarshal("model.vocab", raw, &vocab); err != nil {
		return nil, err
	}
	for k, id := range vocab {
		if id < 0 || id > maxHFID {
			return nil, p.errorf("model.vocab", "token %q: bad id %d", k, id)
		}
	}
	return vocab, nil
}

// merges reads model.merges, in either of its two layouts: "left right"
// strings (a token cannot contain a space in this layout, which is why
// newer files use the other) or [left, right] pairs.
func (p *hfParser) merges(raw json.RawMessage, vocab map[string]int32) ([]rule, error) {
	var pairs [][2]string
	raw = bytes.TrimSpace(raw)
	if len(raw) > 1 && raw[0] == '[' && bytes.HasPrefix(bytes.TrimSpace(raw[1:]), []byte(`"`)) {
		var lines []string
		if err := p.unmarshal("model.merges", raw, &lines); err != nil {
			return nil, err
		}
		pairs = make([][2]string, len(lines))
		for i, l := range lines {
			left, right, ok := strings.Cut(l, " ")
			if !ok || left == "" || right == "" || strings.Contains(right, " ") {
				return nil, p.errorf(fmt.Sprintf("model.merges[%d]", i), "%q is not two tokens separated by one space", l)
			}
			pairs[i] = [2]string{left, right}
		}
	} else if len(raw) > 0 && string(raw) != "null" {
		var lists [][]string
		if err := p.unmarshal("model.merges", raw, &lists); err != nil {
			return nil, err
		}
		pairs = make([][2]string, len(lists))
		for i, l := range lists {
			if len(l) != 2 {
				return nil, p.errorf(fmt.Sprintf("model.merges[%d]", i), "has %d tokens, want 2", len(l))
			}
			pairs[i] = [2]string{l[0], l[1]}
		}
	}
	rules := make([]rule, len(pairs))
	for i, pr := range pairs {
		left, lok := vocab[pr[0]]
		right, rok := vocab[pr[1]]
		out, ook := vocab[pr[0]+pr[1]]
		switch {
		case !lok:
			return nil, p.errorf(fmt.Sprintf("model.merges[%d]", i), "token %q is not in model.vocab", pr[0])
		case !rok:
			return nil, p.errorf(fmt.Sprintf("model.merges[%d]", i), "token %q is not in model.vocab", pr[1])
		case !ook:
			return nil, p.errorf(fmt.Sprintf("model.merges[%d]", i), "merged token %q is not in model.vocab", pr[0]+pr[1])
		}
		// A pair listed twice keeps its last rank, as in Hugging Face's
		// library, which builds a map from the list (newTokenizer does
		// the same).
		rules[i] = rule{left, right, out}
	}
	return rules, nil
}

func (p *hfParser) addedTokens(h *hfPipeline, added []hfAddedToken, vocab map[string]int32, tokens [][]byte) error {
	h.addedIDs = make(map[string]int, len(added))
	byID := make(map[int32]string, len(added))
	var raw, normalized []addedToken
	for i, a := range added {
		field := fmt.Sprintf("added_tokens[%d]", i)
		switch {
		case a.Content == "":
			return p.errorf(field, "has empty content")
		case a.SingleWord:
			return p.errorf(field+".single_word", "(%q) is true, which is not supported", a.Content)
		}
		if prev, dup := h.addedIDs[a.Content]; dup && prev != int(a.ID) {
			return p.errorf(field, "(%q) is listed twice, with ids %d and %d", a.Content, prev, a.ID)
		}
		id := int32(a.ID)
		if other, dup := byID[id]; dup && other != a.Content {
			return p.errorf(field, "(%q) has id %d, as added token %q has", a.Content, id, other)
		}
		// The model may hold the same token (GPT-2's <|endoftext|> is in
		// both); a different one would decode ambiguously.
		if _, again := byID[id]; !again && tokens[id] != nil {
			if vid, ok := vocab[a.Content]; !ok || vid != id {
				return p.errorf(field, "(%q) has id %d, which is model.vocab's token %q", a.Content, id, vocabKey(vocab, id, ""))
			}
		}
		byID[id] = a.Content
		tokens[id] = []byte(a.Content)
		h.addedIDs[a.Content] = int(id)
		tok := addedToken{content: a.Content, id: int(id), lstrip: a.LStrip, rstrip: a.RStrip}
		// Hugging Face's default, for a token that does not say, is to
		// normalise non-special tokens only.
		isNorm := !a.Special
		if a.Normalized != nil {
			isNorm = *a.Normalized
		}
		if isNorm {
			if h.nfc {
				tok.content = norm.NFC.String(tok.content)
			}
			normalized = append(normalized, tok)
		} else {
			raw = append(raw, tok)
		}
	}
	h.raw = newAddedMatcher(raw)
	h.norm = newAddedMatcher(normalized)
	return nil
}

// postProcessor returns the tokens put before and after each sequence.
func (p *hfParser) postProcessor(field string, raw json.RawMessage, size int) (prefix, suffix []int, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	var n hfNode
	if err := p.unmarshal(field, raw, &n); err != nil {
		return nil, nil, err
	}
	checkID := func(at string, id int64) error {
		if id < 0 || id >= int64(size) {
			return p.errorf(at, "id %d is outside the vocabulary (%d tokens)", id, size)
		}
		return nil
	}
	switch n.Type {
	case "ByteLevel":
		return nil, nil, nil
	case "Sequence":
		for i, sub := range n.Processors {
			at := fmt.Sprintf("%s.processors[%d]", field, i)
			pre, suf, err := p.postProcessor(at, sub, size)
			if err != nil {
				return nil, nil, err
			}
			if len(pre)+len(suf) > 0 {
				if len(prefix)+len(suffix) > 0 {
					return nil, nil, p.errorf(at, "is a second step that adds tokens, which is not supported")
				}
				prefix, suffix = pre, suf
			}
		}
		return prefix, suffix, nil
	case "TemplateProcessing":
		seen := false
		for i, item := range n.Single {
			at := fmt.Sprintf("%s.single[%d]", field, i)
			switch {
			case item.Sequence != nil:
				if item.Sequence.ID != "A" || seen {
					return nil, nil, p.errorf(at, "is sequence %q: a single sequence's template must hold $A once", item.Sequence.ID)
				}
				seen = true
			case item.SpecialToken != nil:
				st, ok := n.SpecialTokens[item.SpecialToken.ID]
				if !ok || len(st.IDs) == 0 {
					return nil, nil, p.errorf(at, "names special token %q, which %s.special_tokens does not list", item.SpecialToken.ID, field)
				}
				for _, id := range st.IDs {
					if err := checkID(at, id); err != nil {
						return nil, nil, err
					}
					if seen {
						suffix = append(suffix, int(id))
					} else {
						prefix = append(prefix, int(id))
					}
				}
			default:
				return nil, nil, p.errorf(at, "is neither a SpecialToken nor a Sequence")
			}
		}
		if !seen {
			return nil, nil, p.errorf(field+".single", "has no $A sequence")
		}
		return prefix, suffix, nil
	case "RobertaProcessing", "BertProcessing":
		// Both put cls before the sequence and sep after it.
		var ids [2]int
		for i, pair := range [][]json.RawMessage{n.Cls, n.Sep} {
			at := field + [...]string{".cls", ".sep"}[i]
			var id int64
			if len(pair) != 2 || json.Unmarshal(pair[1], &id) != nil {
				return nil, nil, p.errorf(at, "is not a [token, id] pair")
			}
			if err := checkID(at, id); err != nil {
				return nil, nil, err
			}
			ids[i] = int(id)
		}
		return []int{ids[0]}, []int{ids[1]}, nil
	}
	return nil, nil, p.errorf(field+".type", "%q is not supported (supported: TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)", n.Type)
}

// endOfText picks EOT: tokenizer_config.json's eos_token, or else the
// first of eotCandidates that is an added token.
func (p *hfParser) endOfText(cdata []byte, added map[string]int, vocab map[string]int32) (int, error) {
	if cdata != nil {
		var cfg struct {
			EOS json.RawMessage `json:"eos_token"`
		}
		if err := json.Unmarshal(cdata, &cfg); err != nil {
			return 0, fmt.Errorf("tokenizer: %s: %v", p.cname, err)
		}
		var eos string
		var obj struct {
			Content string `json:"content"`
		}
		switch {
		case len(cfg.EOS) == 0 || string(cfg.EOS) == "null":
		case json.Unmarshal(cfg.EOS, &eos) == nil:
		case json.Unmarshal(cfg.EOS, &obj) == nil:
			eos = obj.Content
		default:
			return 0, fmt.Errorf("tokenizer: %s: eos_token is neither a string nor an object with content", p.cname)
		}
		if eos != "" {
			if id, ok := added[eos]; ok {
				return id, nil
			}
			if id, ok := vocab[tokenText([]byte(eos))]; ok {
				return int(id), nil
			}
			return 0, fmt.Errorf("tokenizer: %s: eos_token %q is not a token of %s", p.cname, eos, p.name)
		}
	}
	for _, c := range eotCandidates {
		if id, ok := added[c]; ok {
			return id, nil
		}
	}
	return 0, fmt.Errorf("tokenizer: %s: no end-of-text token: %s names no eos_token and no added token is one of %q",
		p.name, p.cname, eotCandidates)
}

// encode is Encode for a tokenizer loaded from tokenizer.json.
func (h *hfPipeline) encode(t *Tokenizer, s string) []int {
	if h.sp != nil {
		return h.sp.encode(t, h, s)
	}
	out := make([]int, 0, len(s)/3+1)
	var scratch [][]int
	for i := 0; i < len(s); {
		start, end, id, ok := h.raw.find(s, i)
		if !ok {
			start, end = len(s), len(s)
		}
		if start > i {
			out = h.encodeNormalizing(t, out, s[i:start], &scratch)
		}
		if ok {
			out = append(out, id)
		}
		i = end
	}
	return out
}

func (h *hfPipeline) encodeNormalizing(t *Tokenizer, out []int, s string, scratch *[][]int) []int {
	if h.nfc {
		s = norm.NFC.String(s)
	}
	for i := 0; i < len(s); {
		start, end, id, ok := h.norm.find(s, i)
		if !ok {
			start, end = len(s), len(s)
		}
		if start > i {
			out = h.encodePiece(t, out, s[i:start], 0, scratch)
		}
		if ok {
			out = append(out, id)
		}
		i = end
	}
	return out
}

// encodePiece runs the pre-tokenizer steps from level on over the
// non-empty piece s, and BPE over the pieces that come out of the last.
func (h *hfPipeline) encodePiece(t *Tokenizer, out []int, s string, level int, scratch *[][]int) []int {
	if level == h.prefixAt && h.prefixSpace && s[0] != ' ' {
		s = " " + s
	}
	if level == len(h.steps) {
		return t.appendWord(out, s)
	}
	switch st := h.steps[level].(type) {
	case scanner:
		for i := 0; i < len(s); {
			j := st.next(s, i)
			out = h.encodePiece(t, out, s[i:j], level+1, scratch)
			i = j
		}
	default:
		// Each level keeps its own buffer of ends, in use while the
		// levels below run.
		if len(*scratch) <= level {
			*scratch = append(*scratch, make([][]int, level+1-len(*scratch))...)
		}
		ends := st.appendEnds((*scratch)[level][:0], s)
		(*scratch)[level] = ends
		for i, k := 0, 0; k < len(ends); k++ {
			out = h.encodePiece(t, out, s[i:ends[k]], level+1, scratch)
			i = ends[k]
		}
	}
	return out
}
