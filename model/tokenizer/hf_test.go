package tokenizer

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// The fixtures in testdata/hf are small hand-made tokenizer.json files, one
// for each supported pipeline, all over the same vocabulary: the 256 byte
// tokens (id = byte value, except in smollm2, which puts its three special
// tokens first as SmolLM2 does) and these merges, in rank order.
const (
	idT      = 256 // "Ġt"
	idHello  = 260 // "hello", after "ll", "ell", "hell"
	idHe     = 261
	idThe    = 262 // "Ġthe"
	idA      = 263 // "Ġa"
	idND     = 264
	idAnd    = 265 // "Ġand"
	id12     = 266
	id123    = 267
	idSpaces = 268 // "ĠĠ"
	idBreaks = 269 // "ĊĊ"
	idS      = 270 // "'s"
	idEAcute = 271 // "é"
	idWorld  = 273 // "Ġworld", which no merge makes: only ignore_merges reaches it
	idAdded  = 274 // the first added token
)

var hfFixtures = []string{"gpt2", "llama3", "qwen2", "smollm2", "prefix-space", "split"}

func loadFixture(tb testing.TB, name string) *Tokenizer {
	tb.Helper()
	tok, err := LoadHF(filepath.Join("testdata", "hf", name))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func bytesIDs(s string, offset int) []int {
	ids := make([]int, len(s))
	for i := range len(s) {
		ids[i] = int(s[i]) + offset
	}
	return ids
}

func cat(parts ...[]int) []int { return slices.Concat(parts...) }

func one(id int) []int { return []int{id} }

func TestHFFixtures(t *testing.T) {
	tests := []struct {
		fixture, in string
		want        []int
	}{
		// ByteLevel with GPT-2's split; no ignore_merges, so " world"
		// stays bytes; added tokens are cut out of the text.
		{"gpt2", "hello the world", cat(one(idHello), one(idThe), bytesIDs(" world", 0))},
		{"gpt2", "it's  and", cat(bytesIDs("it", 0), one(idS), bytesIDs(" ", 0), one(idAnd))},
		{"gpt2", "123", one(id123)},
		{"gpt2", "x<|endoftext|>y", cat(bytesIDs("x", 0), one(idAdded), bytesIDs("y", 0))},
		{"gpt2", "<|endoftext|", cat(bytesIDs("<|e", 0), one(idND), bytesIDs("oftext|", 0))},
		// Llama 3's split, ignore_merges.
		{"llama3", "hello world", cat(one(idHello), one(idWorld))},
		{"llama3", "12345", cat(one(id123), bytesIDs("45", 0))},
		{"llama3", "HE'S", bytesIDs("HE'S", 0)},
		{"llama3", "a\n\n b", cat(bytesIDs("a", 0), one(idBreaks), bytesIDs(" b", 0))},
		{"llama3", "<|begin_of_text|>hi<|eot_id|>", cat(one(idAdded), bytesIDs("hi", 0), one(idAdded+2))},
		// Qwen2's split (one digit a piece) after NFC; non-special
		// added tokens are matched too.
		{"qwen2", "e\u0301", one(idEAcute)},
		{"qwen2", "12345", bytesIDs("12345", 0)},
		{"qwen2", "<|im_start|>user<|im_end|>", cat(one(idAdded+1), bytesIDs("user", 0), one(idAdded+2))},
		{"qwen2", "<tool_call>x</tool_call>", cat(one(idAdded+3), bytesIDs("x", 0), one(idAdded+4))},
		// Digits before ByteLevel: digits never merge.
		{"smollm2", "abc 123", bytesIDs("abc 123", 3)},
		{"smollm2", "<|im_start|>the", cat(one(1), bytesIDs("t", 3), one(idHe+3))},
		// add_prefix_space, and added tokens that swallow whitespace.
		{"prefix-space", "hello", cat(bytesIDs(" ", 0), one(idHello))},
		{"prefix-space", "the <mask> x", cat(one(idThe), one(idAdded+2), bytesIDs(" x", 0))},
		{"prefix-space", "a [R]  b", cat(one(idA), bytesIDs(" ", 0), one(idAdded+3), bytesIDs(" b", 0))},
		{"prefix-space", "x[N]", cat(bytesIDs(" x", 0), one(idAdded+5))},
		// A Split on a literal, then one on a pattern no scanner knows.
		{"split", "a--b", bytesIDs("a--b", 0)},
		{"split", "hello  the 12345", cat(one(idHello), one(idSpaces), bytesIDs("t", 0), one(idHe), bytesIDs(" ", 0), one(id12), bytesIDs("345", 0))},
	}
	toks := map[string]*Tokenizer{}
	for _, name := range hfFixtures {
		toks[name] = loadFixture(t, name)
	}
	for _, tt := range tests {
		if got := toks[tt.fixture].Encode(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", tt.fixture, tt.in, got, tt.want)
		}
	}
}

func TestHFSpecialTokens(t *testing.T) {
	tests := []struct {
		fixture        string
		size, eot      int
		prefix, suffix []int
	}{
		{"gpt2", 275, idAdded, nil, nil},                                   // "<|endoftext|>", in model.vocab too
		{"llama3", 277, idAdded + 1, []int{idAdded}, nil},                  // "<|end_of_text|>"; BOS "<|begin_of_text|>"
		{"qwen2", 279, idAdded + 2, nil, nil},                              // tokenizer_config.json: "<|im_end|>"
		{"smollm2", 277, 0, nil, nil},                                      // tokenizer_config.json, as an object
		{"prefix-space", 280, idAdded + 1, one(idAdded), one(idAdded + 1)}, // "</s>"; RobertaProcessing
		{"split", 275, idAdded, nil, nil},
	}
	for _, tt := range tests {
		tok := loadFixture(t, tt.fixture)
		if tok.VocabSize() != tt.size || tok.EOT() != tt.eot {
			t.Errorf("%s: VocabSize() = %d, EOT() = %d; want %d, %d", tt.fixture, tok.VocabSize(), tok.EOT(), tt.size, tt.eot)
		}
		if !slices.Equal(tok.Prefix(), tt.prefix) || !slices.Equal(tok.Suffix(), tt.suffix) {
			t.Errorf("%s: Prefix() = %v, Suffix() = %v; want %v, %v", tt.fixture, tok.Prefix(), tok.Suffix(), tt.prefix, tt.suffix)
		}
		bos, ok := tok.BOS()
		if wantOK := len(tt.prefix) == 1; ok != wantOK || (ok && bos != tt.prefix[0]) {
			t.Errorf("%s: BOS() = %d, %v", tt.fixture, bos, ok)
		}
	}
	tok := loadFixture(t, "qwen2")
	for text, want := range map[string]int{"<|im_start|>": idAdded + 1, "<tool_call>": idAdded + 3, "hello": idHello, " the": idThe} {
		if id, ok := tok.TokenID(text); !ok || id != want {
			t.Errorf("TokenID(%q) = %d, %v; want %d", text, id, ok, want)
		}
	}
	if _, ok := tok.TokenID("<|nope|>"); ok {
		t.Error("TokenID found a token that is not there")
	}
	own := testTokenizer(t)
	if id, ok := own.TokenID(EndOfText); !ok || id != own.EOT() {
		t.Errorf("own TokenID(EndOfText) = %d, %v", id, ok)
	}
	if id, ok := own.TokenID("a"); !ok || id != 'a' {
		t.Errorf("own TokenID(a) = %d, %v", id, ok)
	}
	if len(own.Prefix()) != 0 || len(own.Suffix()) != 0 {
		t.Error("the project's own tokenizers add no special tokens")
	}
	if _, ok := own.BOS(); ok {
		t.Error("the project's own tokenizers have no BOS")
	}
}

func TestHFRoundTrip(t *testing.T) {
	inputs := append(slices.Clone(roundTripCases), "<|endoftext|><|im_start|>x<|im_end|>", "<tool_call>\n</tool_call>")
	for _, name := range hfFixtures {
		tok := loadFixture(t, name)
		for _, s := range inputs {
			want := s
			switch name {
			case "qwen2":
				want = norm.NFC.String(s)
			case "prefix-space":
				continue // lossy by design; see TestHFFixtures
			}
			if got := tok.Decode(tok.Encode(s)); got != want {
				t.Errorf("%s: Decode(Encode(%.40q)) = %.40q", name, s, got)
			}
		}
	}
}

// naiveHF is an independent reading of a fixture: the pre-tokenizer runs
// with regexp2 on the patterns themselves, added tokens are found by
// trying each at each position, and BPE is the naive reference's.
type naiveHF struct {
	ref              reference
	ignoreMerges     bool
	nfc              bool
	raw, normalized  []naiveAdded
	steps            []*regexp2.Regexp
	prefixSpace      bool
	prefixAt, maxLen int
}

type naiveAdded struct {
	content        string
	id             int
	lstrip, rstrip bool
}

func newNaiveHF(t testing.TB, name string) *naiveHF {
	data, err := os.ReadFile(filepath.Join("testdata", "hf", name, HFFile))
	if err != nil {
		t.Fatal(err)
	}
	type node map[string]any
	var f struct {
		AddedTokens []struct {
			ID                                  int
			Content                             string
			LStrip, RStrip, Normalized, Special bool
		} `json:"added_tokens"`
		Normalizer   node `json:"normalizer"`
		PreTokenizer node `json:"pre_tokenizer"`
		Model        struct {
			Vocab        map[string]int `json:"vocab"`
			Merges       []any          `json:"merges"`
			IgnoreMerges bool           `json:"ignore_merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	n := &naiveHF{ref: reference{ranks: map[[2]string]int{}, ids: map[string]int{}}, ignoreMerges: f.Model.IgnoreMerges}
	n.nfc = f.Normalizer != nil && f.Normalizer["type"] == "NFC"
	for k, id := range f.Model.Vocab {
		if b, ok := tokenBytes(k); ok {
			n.ref.ids[string(b)] = id
		}
	}
	for rank, m := range f.Model.Merges {
		var l, r string
		switch m := m.(type) {
		case string:
			l, r, _ = strings.Cut(m, " ")
		case []any:
			l, r = m[0].(string), m[1].(string)
		}
		lb, _ := tokenBytes(l)
		rb, _ := tokenBytes(r)
		n.ref.ranks[[2]string{string(lb), string(rb)}] = rank
	}
	for _, a := range f.AddedTokens {
		na := naiveAdded{a.Content, a.ID, a.LStrip, a.RStrip}
		if a.Normalized {
			n.normalized = append(n.normalized, na)
		} else {
			n.raw = append(n.raw, na)
		}
	}
	var walk func(node)
	walk = func(p node) {
		switch p["type"] {
		case "Sequence":
			for _, sub := range p["pretokenizers"].([]any) {
				walk(node(sub.(map[string]any)))
			}
		case "Split":
			pat := p["pattern"].(map[string]any)
			expr, ok := pat["Regex"].(string)
			if !ok {
				expr = regexp2.Escape(pat["String"].(string))
			}
			n.steps = append(n.steps, regexp2.MustCompile(expr, regexp2.None))
		case "Digits":
			expr := `\p{N}+|[^\p{N}]+`
			if p["individual_digits"] == true {
				expr = `\p{N}|[^\p{N}]+`
			}
			n.steps = append(n.steps, regexp2.MustCompile(expr, regexp2.None))
		case "ByteLevel":
			n.prefixAt, n.prefixSpace = len(n.steps), p["add_prefix_space"] == true
			if p["use_regex"] != false {
				n.steps = append(n.steps, gpt2Pattern)
			}
		default:
			t.Fatalf("%s: naive reading has no %v", name, p["type"])
		}
	}
	walk(f.PreTokenizer)
	return n
}

type section struct {
	text string
	id   int // -1 for text
}

// splitAdded cuts s at the added tokens, leftmost and then longest first,
// and lets lstrip and rstrip trim the neighbouring text.
func splitAdded(added []naiveAdded, s string) []section {
	var out []section
	text := 0
	for i := 0; i < len(s); {
		best := -1
		for k, a := range added {
			if strings.HasPrefix(s[i:], a.content) && (best < 0 || len(a.content) > len(added[best].content)) {
				best = k
			}
		}
		if best < 0 {
			i++
			continue
		}
		out = append(out, section{s[text:i], -1}, section{"", best})
		i += len(added[best].content)
		text = i
	}
	out = append(out, section{s[text:], -1})
	for k, sec := range out {
		if sec.id < 0 {
			continue
		}
		a := added[sec.id]
		if a.lstrip {
			out[k-1].text = strings.TrimRightFunc(out[k-1].text, isSpace)
		}
		if a.rstrip {
			out[k+1].text = strings.TrimLeftFunc(out[k+1].text, isSpace)
		}
		out[k].id = a.id
	}
	return out
}

func (n *naiveHF) encode(t testing.TB, s string) []int {
	var out []int
	for _, sec := range splitAdded(n.raw, s) {
		if sec.id >= 0 {
			out = append(out, sec.id)
			continue
		}
		text := sec.text
		if n.nfc {
			text = norm.NFC.String(text)
		}
		for _, sub := range splitAdded(n.normalized, text) {
			if sub.id >= 0 {
				out = append(out, sub.id)
			} else if sub.text != "" {
				out = n.pieces(t, out, sub.text, 0)
			}
		}
	}
	return out
}

func (n *naiveHF) pieces(t testing.TB, out []int, s string, level int) []int {
	if level == n.prefixAt && n.prefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	if level == len(n.steps) {
		if id, ok := n.ref.ids[s]; ok && n.ignoreMerges {
			return append(out, id)
		}
		return n.ref.word(out, s)
	}
	pieces, _ := regexpPieces(t, n.steps[level], s)
	for _, p := range pieces {
		out = n.pieces(t, out, p, level+1)
	}
	return out
}

func TestHFMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pieces := append(slices.Clone(splitPieces),
		"<|endoftext|>", "<|begin_of_text|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "<mask>", "[R]", "[N]", "<s>", "</s>",
		"<|", "|>", "--", "-", "hello", " the", " world", "e\u0301", "é", "123", "'s")
	inputs := slices.Clone(roundTripCases)
	if s, err := sampleText(); err == nil {
		inputs = append(inputs, s)
	}
	for range 2000 {
		var sb strings.Builder
		for range r.IntN(13) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		inputs = append(inputs, sb.String())
	}
	for _, name := range hfFixtures {
		tok, naive := loadFixture(t, name), newNaiveHF(t, name)
		for _, in := range inputs {
			if got, want := tok.Encode(in), naive.encode(t, in); !slices.Equal(got, want) {
				t.Fatalf("%s: Encode(%q)\n got %v\nwant %v", name, in, got, want)
			}
		}
	}
}

func FuzzHFMatchesNaive(f *testing.F) {
	for _, s := range roundTripCases {
		f.Add(s)
	}
	f.Add("a  <mask>  b [R]  c<|im_start|>x")
	toks := map[string]*Tokenizer{}
	naive := map[string]*naiveHF{}
	for _, name := range hfFixtures {
		toks[name], naive[name] = loadFixture(f, name), newNaiveHF(f, name)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "'ſ") {
			t.Skip("regexp2 does not fold ſ; see split.go")
		}
		for _, name := range hfFixtures {
			if got, want := toks[name].Encode(s), naive[name].encode(t, s); !slices.Equal(got, want) {
				t.Fatalf("%s: Encode(%q)\n got %v\nwant %v", name, s, got, want)
			}
		}
	})
}

func TestHFConcurrentEncode(t *testing.T) {
	s, err := sampleText()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range hfFixtures {
		tok := loadFixture(t, name)
		want := newNaiveHF(t, name).encode(t, s)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if got := tok.Encode(s); !slices.Equal(got, want) {
					t.Errorf("%s: concurrent Encode disagrees with the naive reading", name)
				}
			})
		}
		wg.Wait()
	}
}

func TestLoadPicksTokenizerJSON(t *testing.T) {
	hfData, err := os.ReadFile(filepath.Join("testdata", "hf", "llama3", HFFile))
	if err != nil {
		t.Fatal(err)
	}
	own := testTokenizer(t)
	dir := t.TempDir()
	if err := own.Save(dir); err != nil {
		t.Fatal(err)
	}
	vocab, _ := os.ReadFile(filepath.Join(dir, VocabFile))
	merges, _ := os.ReadFile(filepath.Join(dir, MergesFile))

	fsys := fstest.MapFS{
		"both/" + VocabFile:  {Data: vocab},
		"both/" + MergesFile: {Data: merges},
		"both/" + HFFile:     {Data: hfData},
		"own/" + VocabFile:   {Data: vocab},
		"own/" + MergesFile:  {Data: merges},
	}
	if tok, err := LoadFS(fsys, "both"); err != nil || tok.hf == nil {
		t.Errorf("LoadFS of a directory with tokenizer.json: %v, loaded from tokenizer.json: %v", err, err == nil && tok.hf != nil)
	}
	if tok, err := LoadFS(fsys, "own"); err != nil || tok.hf != nil {
		t.Errorf("LoadFS without tokenizer.json: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, HFFile), hfData, 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil || tok.hf == nil {
		t.Fatalf("Load of a directory with tokenizer.json: %v", err)
	}
	if err := tok.Save(t.TempDir()); err == nil {
		t.Error("Save of a tokenizer.json tokenizer did not fail")
	}
	if _, err := LoadHF(t.TempDir()); err == nil || !strings.Contains(err.Error(), HFFile) {
		t.Errorf("LoadHF of an empty directory: error %v does not name the file", err)
	}
}

// A Metaspace pre-tokenizer that prepends ▁ at the start of the input
// only, without splitting: the whole text is one word for BPE, and the
// decoder gives the text back without the prepended space.
func TestHFMetaspace(t *testing.T) {
	tok, err := LoadHF(filepath.Join("testdata", "hf", "metaspace"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text string
		want []int
	}{
		{"t t", []int{3, 3}}, {"tt", []int{3, 2}}, {"t</s>t", []int{3, 0, 2}}, {" t", []int{3}}, {"  t", []int{1, 3}},
	} {
		if got := tok.Encode(c.text); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	if got := tok.Decode([]int{3, 3}); got != "t t" {
		t.Errorf("Decode = %q, want %q", got, "t t")
	}
}

// A Metaspace pre-tokenizer that splits, as Hugging Face's Rust library
// does: every ▁ begins a word, so merges across one (t▁, ▁▁) never apply,
// and a run of spaces is words of one ▁ each (its test multiple_spaces:
// "Hey   friend!" is ▁Hey, ▁, ▁, ▁friend!). The same vocabulary without
// split merges across them.
func TestHFMetaspaceSplit(t *testing.T) {
	dir := filepath.Join("testdata", "hf", "metaspace-split")
	tok, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, HFFile))
	if err != nil {
		t.Fatal(err)
	}
	whole := t.TempDir()
	if err := os.WriteFile(filepath.Join(whole, HFFile), []byte(strings.Replace(string(raw), `"split": true`, `"split": false`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	unsplit, err := LoadHF(whole)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text           string
		split, unsplit []int
	}{
		{"t t", []int{3, 3}, []int{1, 6, 2}},
		{"  t", []int{1, 3}, []int{5, 2}},
		{"t  ", []int{3, 1, 1}, []int{1, 6, 1}},
		{"t   t", []int{3, 1, 1, 3}, []int{1, 6, 5, 2}},
		{"tt", []int{3, 2}, []int{3, 2}},
		{"t</s>t", []int{3, 0, 2}, []int{3, 0, 2}}, // prepend_scheme first: ▁ only at the input's start
		{"t</s> t", []int{3, 0, 3}, []int{3, 0, 3}},
	} {
		if got := tok.Encode(c.text); fmt.Sprint(got) != fmt.Sprint(c.split) {
			t.Errorf("split: Encode(%q) = %v, want %v", c.text, got, c.split)
		}
		if got := unsplit.Encode(c.text); fmt.Sprint(got) != fmt.Sprint(c.unsplit) {
			t.Errorf("unsplit: Encode(%q) = %v, want %v", c.text, got, c.unsplit)
		}
	}
	if got := tok.Decode([]int{3, 1, 1, 3}); got != "t   t" {
		t.Errorf("Decode = %q, want %q", got, "t   t")
	}
}

func TestHFErrors(t *testing.T) {
	// Fixtures of files this package refuses, as real ones have them.
	files := []struct{ file, want string }{
		{"unigram.json", `model.type "Unigram" is not supported (supported: BPE with byte_fallback, a Prepend/Replace normalizer or a Metaspace pre-tokenizer; SentencePiece's Unigram is not)`},
		{"wordpiece.json", `model.type "WordPiece" is not supported`},
		{"wordlevel.json", `model.type "WordLevel" is not supported`},
		// A Llama 2 file cut short: byte fallback needs all 256 byte tokens.
		{"llama2.json", `model.vocab has no byte-fallback token <0x01>, which byte_fallback needs`},
		{"nfkc.json", `normalizer.type "NFKC" is not supported (supported: none or NFC)`},
		{"lowercase-in-sequence.json", `normalizer.normalizers[1].type "Lowercase" is not supported`},
		{"whitespace.json", `pre_tokenizer.pretokenizers[0].type "Whitespace" is not supported`},
	}
	for _, tt := range files {
		data, err := os.ReadFile(filepath.Join("testdata", "hf", "errors", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		checkHFError(t, tt.file, fstest.MapFS{"m/" + HFFile: {Data: data}}, "tokenizer: m/"+HFFile+": "+tt.want)
	}

	// Edits of a good fixture, one problem each.
	base, err := os.ReadFile(filepath.Join("testdata", "hf", "llama3", HFFile))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(base, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	model := func(m map[string]any) map[string]any { return m["model"].(map[string]any) }
	vocab := func(m map[string]any) map[string]any { return model(m)["vocab"].(map[string]any) }
	pre := func(m map[string]any) []any {
		return m["pre_tokenizer"].(map[string]any)["pretokenizers"].([]any)
	}
	added := func(m map[string]any, i int) map[string]any { return m["added_tokens"].([]any)[i].(map[string]any) }
	template := func(m map[string]any) map[string]any {
		return m["post_processor"].(map[string]any)["processors"].([]any)[1].(map[string]any)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"syntax", base[:len(base)/2], HFFile + ":"},
		{"type", edit(func(m map[string]any) { m["added_tokens"] = "none" }), "added_tokens is a JSON string, want an array"},
		{"vocab id", edit(func(m map[string]any) { vocab(m)["zz"] = 1 << 40 }), "model.vocab is a JSON number 1099511627776, want a number in the range of int32"},
		{"not an object", []byte(`[1, 2]`), "m/tokenizer.json: is a JSON array, want an object"},
		{"no model", edit(func(m map[string]any) { delete(m, "model") }), "model is missing"},
		{"no type", edit(func(m map[string]any) { delete(model(m), "type"); delete(model(m), "merges") }), "model.type is missing"},
		{"dropout", edit(func(m map[string]any) { model(m)["dropout"] = 0.1 }), "model.dropout is 0.1"},
		{"prefix", edit(func(m map[string]any) { model(m)["continuing_subword_prefix"] = "##" }), `model.continuing_subword_prefix "##" is not supported`},
		{"suffix", edit(func(m map[string]any) { model(m)["end_of_word_suffix"] = "</w>" }), `model.end_of_word_suffix "</w>" is not supported`},
		{"no pre-tokenizer", edit(func(m map[string]any) { m["pre_tokenizer"] = nil }), "pre_tokenizer is missing"},
		{"no ByteLevel", edit(func(m map[string]any) {
			m["pre_tokenizer"].(map[string]any)["pretokenizers"] = pre(m)[:1]
		}), "pre_tokenizer has no ByteLevel step"},
		{"ByteLevel not last", edit(func(m map[string]any) {
			m["pre_tokenizer"].(map[string]any)["pretokenizers"] = append(pre(m), map[string]any{"type": "Digits"})
		}), `pre_tokenizer.pretokenizers[2] "Digits" comes after ByteLevel`},
		{"split behaviour", edit(func(m map[string]any) { pre(m)[0].(map[string]any)["behavior"] = "Removed" }),
			`pre_tokenizer.pretokenizers[0].behavior "Removed" is not supported (supported: Isolated)`},
		{"split inverted", edit(func(m map[string]any) { pre(m)[0].(map[string]any)["invert"] = true }), "pre_tokenizer.pretokenizers[0].invert is true"},
		{"bad regex", edit(func(m map[string]any) { pre(m)[0].(map[string]any)["pattern"] = map[string]any{"Regex": "(x"} }),
			`pre_tokenizer.pretokenizers[0].pattern.Regex "(x":`},
		{"bad flag", edit(func(m map[string]any) { pre(m)[1].(map[string]any)["add_prefix_space"] = "yes" }),
			"pre_tokenizer.pretokenizers[1].add_prefix_space is a JSON string, want true or false"},
		{"decoder", edit(func(m map[string]any) { m["decoder"] = map[string]any{"type": "WordPiece"} }), `decoder.type "WordPiece" is not supported`},
		{"missing byte", edit(func(m map[string]any) { delete(vocab(m), "Ā") }), `model.vocab has no token for byte 0x00 ("Ā")`},
		{"negative id", edit(func(m map[string]any) { vocab(m)["zz"] = -1 }), `model.vocab token "zz": bad id -1`},
		{"duplicate id", edit(func(m map[string]any) { vocab(m)["zz"] = 5 }), "model.vocab gives id 5 to both"},
		{"merge of unknown", edit(func(m map[string]any) { model(m)["merges"] = []any{[]any{"zz", "a"}} }), `model.merges[0] token "zz" is not in model.vocab`},
		{"merged unknown", edit(func(m map[string]any) { model(m)["merges"] = []any{[]any{"q", "z"}} }), `model.merges[0] merged token "qz" is not in model.vocab`},
		{"merge of three", edit(func(m map[string]any) { model(m)["merges"] = []any{[]any{"a", "b", "c"}} }), "model.merges[0] has 3 tokens, want 2"},
		{"merge string", edit(func(m map[string]any) { model(m)["merges"] = []any{"Ġ t", "a b c"} }), `model.merges[1] "a b c" is not two tokens`},
		{"added id taken", edit(func(m map[string]any) { added(m, 0)["id"] = 5 }), `added_tokens[0] ("<|begin_of_text|>") has id 5, which is model.vocab's token "ą"`},
		{"added id twice", edit(func(m map[string]any) { added(m, 1)["id"] = idAdded }), `added_tokens[1] ("<|end_of_text|>") has id 274, as added token "<|begin_of_text|>" has`},
		{"added id huge", edit(func(m map[string]any) { added(m, 1)["id"] = 1 << 30 }), "added_tokens[1] (\"<|end_of_text|>\"): bad id"},
		{"single word", edit(func(m map[string]any) { added(m, 0)["single_word"] = true }), "added_tokens[0].single_word"},
		{"empty added", edit(func(m map[string]any) { added(m, 0)["content"] = "" }), "added_tokens[0] has empty content"},
		{"template token", edit(func(m map[string]any) {
			template(m)["special_tokens"] = map[string]any{}
		}), `post_processor.processors[1].single[0] names special token "<|begin_of_text|>"`},
		{"template id", edit(func(m map[string]any) {
			template(m)["special_tokens"] = map[string]any{"<|begin_of_text|>": map[string]any{"ids": []any{99999}}}
		}), "post_processor.processors[1].single[0] id 99999 is outside the vocabulary"},
		{"template without A", edit(func(m map[string]any) {
			template(m)["single"] = template(m)["single"].([]any)[:1]
		}), "post_processor.processors[1].single has no $A sequence"},
		{"post-processor", edit(func(m map[string]any) { m["post_processor"] = map[string]any{"type": "Foo"} }), `post_processor.type "Foo" is not supported`},
		{"no end of text", edit(func(m map[string]any) { m["added_tokens"], m["post_processor"] = []any{}, nil }), "no end-of-text token"},
	}
	for _, tt := range tests {
		checkHFError(t, tt.name, fstest.MapFS{"m/" + HFFile: {Data: tt.data}}, tt.want)
	}

	cfg := func(s string) fstest.MapFS {
		return fstest.MapFS{"m/" + HFFile: {Data: base}, "m/" + HFConfigFile: {Data: []byte(s)}}
	}
	checkHFError(t, "config syntax", cfg(`{"eos_token": `), "tokenizer: m/"+HFConfigFile+":")
	checkHFError(t, "config eos type", cfg(`{"eos_token": 3}`), "m/"+HFConfigFile+": eos_token is neither a string nor an object")
	checkHFError(t, "config eos unknown", cfg(`{"eos_token": "<nope>"}`), `m/`+HFConfigFile+`: eos_token "<nope>" is not a token of m/`+HFFile)
	// A config without eos_token falls back to the added tokens.
	if tok, err := LoadHFFS(cfg(`{"eos_token": null}`), "m"); err != nil || tok.EOT() != idAdded+1 {
		t.Errorf("config without eos_token: %v", err)
	}
}

func checkHFError(t *testing.T, name string, fsys fstest.MapFS, want string) {
	t.Helper()
	_, err := LoadHFFS(fsys, "m")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %v, want one containing %q", name, err, want)
	}
	if err != nil && !strings.Contains(err.Error(), path.Join("m", "")) {
		t.Errorf("%s: error %v does not name the file", name, err)
	}
}

func BenchmarkEncodeHFFixture(b *testing.B) {
	s, err := sampleText()
	if err != nil {
		b.Fatal(err)
	}
	s = strings.Repeat(s, 100)
	for _, name := range []string{"gpt2", "llama3", "qwen2"} {
		b.Run(name, func(b *testing.B) {
			tok := loadFixture(b, name)
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				tok.Encode(s)
			}
		})
	}
}

// Llama 2's layout: a normalizer that puts ▁ in front and for every space,
// no pre-tokenizer, and byte fallback for characters outside the
// vocabulary; each section between added tokens gets its own ▁.
func TestHFByteFallback(t *testing.T) {
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for b := range 256 {
		vocab[fmt.Sprintf("<0x%02X>", b)] = 3 + b
	}
	for i, tok := range []string{"▁", "a", "b", "▁a", "▁ab"} {
		vocab[tok] = 259 + i
	}
	file := map[string]any{
		"added_tokens": []map[string]any{{"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{"type": "TemplateProcessing", "single": []any{
			map[string]any{"SpecialToken": map[string]any{"id": "<s>"}}, map[string]any{"Sequence": map[string]any{"id": "A"}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"ids": []int{1}}}},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}}},
		"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true, "vocab": vocab,
			"merges": []string{"▁ a", "▁a b"}},
	}
	raw, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := LoadFS(fstest.MapFS{"m/" + HFFile: {Data: raw}}, "m")
	if err != nil {
		t.Fatal(err)
	}
	const sp, a, b, spA, spAB = 259, 260, 261, 262, 263
	for _, c := range []struct {
		text string
		want []int
	}{
		{"ab é", []int{spAB, sp, 3 + 0xC3, 3 + 0xA9}},
		{"a</s>b", []int{spA, 2, sp, b}},
		{"ba", []int{sp, b, a}},
		{"", nil},
	} {
		if got := tok.Encode(c.text); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	if got := tok.Decode([]int{spAB, sp, 3 + 0xC3, 3 + 0xA9}); got != "ab é" {
		t.Errorf("Decode = %q", got)
	}
	if bos, ok := tok.BOS(); !ok || bos != 1 || tok.EOT() != 2 {
		t.Errorf("BOS %d %v, EOT %d", bos, ok, tok.EOT())
	}
}
