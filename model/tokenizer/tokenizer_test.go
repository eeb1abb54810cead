package tokenizer

import (
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

func sampleText() (string, error) {
	b, err := os.ReadFile("testdata/sample.txt")
	return string(b), err
}

func sampleDocs(tb testing.TB) []string {
	tb.Helper()
	s, err := sampleText()
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Split(s, "\n\n")
}

const testVocabSize = 512

var trainSample = sync.OnceValues(func() (*Tokenizer, error) {
	s, err := sampleText()
	if err != nil {
		return nil, err
	}
	return Train(strings.Split(s, "\n\n"), testVocabSize)
})

// testTokenizer is trained once on testdata/sample.txt and shared; tests
// must not rely on the state of its cache.
func testTokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	tok, err := trainSample()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// reference is GPT-2's published algorithm, kept deliberately naive: on
// each pre-token, find the lowest-ranked adjacent pair of symbols (as byte
// strings), merge all its occurrences left to right, and repeat.
type reference struct {
	ranks map[[2]string]int
	ids   map[string]int
}

func newReference(tok *Tokenizer) reference {
	ref := reference{ranks: map[[2]string]int{}, ids: map[string]int{}}
	for rank, r := range tok.rules {
		ref.ranks[[2]string{string(tok.tokens[r.left]), string(tok.tokens[r.right])}] = rank
	}
	for id, b := range tok.tokens {
		if id != tok.eot {
			ref.ids[string(b)] = id
		}
	}
	return ref
}

func referenceEncode(tok *Tokenizer, s string) []int { return newReference(tok).encode(s) }

func (ref reference) encode(s string) []int {
	var out []int
	for _, w := range pretokenize(s) {
		out = ref.word(out, w)
	}
	return out
}

// word appends the ids of the pre-token w.
func (ref reference) word(out []int, w string) []int {
	ranks, ids := ref.ranks, ref.ids
	word := make([]string, len(w))
	for i := range len(w) {
		word[i] = w[i : i+1]
	}
	for len(word) > 1 {
		best, bestRank := -1, 0
		for i := 0; i+1 < len(word); i++ {
			if r, ok := ranks[[2]string{word[i], word[i+1]}]; ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		first, second := word[best], word[best+1]
		var merged []string
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == first && word[i+1] == second {
				merged = append(merged, first+second)
				i += 2
			} else {
				merged = append(merged, word[i])
				i++
			}
		}
		word = merged
	}
	for _, sym := range word {
		out = append(out, ids[sym])
	}
	return out
}

var roundTripCases = []string{
	"",
	"a",
	"Hello, world!",
	"The harbour was quiet in the early morning.",
	"don't I'll we've they're she'd I'm it's",
	"café naïve résumé São Paulo Zürich",
	"e\u0301 combining marks",
	"日本語のテキストと中文",
	"emoji 😀 👍🏽 🇩🇪 👨‍👩‍👧",
	"\xff\xfe invalid \xc3\x28 bytes \xed\xa0\x80 and \x80 alone",
	"\x00\x01\x02\x7f control bytes",
	"<|endoftext|>",
	"tabs\t\tand\r\nCRLF\n",
	strings.Repeat(" ", 1000),
	strings.Repeat("\n", 300) + "x",
	"    indented code() {\n\treturn 42;\n}\n",
	"12345678901234567890 3.14159 1,000,000",
	strings.Repeat("ab", 3000),
	strings.Repeat("the ", 500),
}

func TestRoundTrip(t *testing.T) {
	tok := testTokenizer(t)
	for _, s := range roundTripCases {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%.40q)) = %.40q", s, got)
		}
		if want := referenceEncode(tok, s); !slices.Equal(ids, want) {
			t.Errorf("Encode(%.40q) = %v, reference BPE gives %v", s, ids, want)
		}
		// Encoding again must hit the cache and agree.
		if again := tok.Encode(s); !slices.Equal(again, ids) {
			t.Errorf("second Encode(%.40q) = %v, first gave %v", s, again, ids)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range roundTripCases {
		f.Add(s)
	}
	f.Add("Call me Ishmael. Some years ago—never mind how long precisely—")
	tok := testTokenizer(f)
	ref := newReference(tok)
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() || id == tok.EOT() {
				t.Fatalf("Encode(%q) produced id %d (vocabulary %d, EOT %d)", s, id, tok.VocabSize(), tok.EOT())
			}
		}
		if want := ref.encode(s); !slices.Equal(ids, want) {
			t.Fatalf("Encode(%q) = %v, reference BPE gives %v", s, ids, want)
		}
	})
}

func TestEOT(t *testing.T) {
	tok := testTokenizer(t)
	if tok.EOT() != tok.VocabSize()-1 {
		t.Errorf("EOT() = %d, want the last id %d", tok.EOT(), tok.VocabSize()-1)
	}
	if got := tok.Decode([]int{tok.EOT()}); got != EndOfText {
		t.Errorf("Decode(EOT) = %q, want %q", got, EndOfText)
	}
	if slices.Contains(tok.Encode("a"+EndOfText+"b"), tok.EOT()) {
		t.Errorf("Encode produced EOT from plain text")
	}
}

func TestDecodeIgnoresUnknownIDs(t *testing.T) {
	tok := testTokenizer(t)
	ids := tok.Encode("hello")
	ids = append([]int{-1, tok.VocabSize()}, append(ids, 1<<40)...)
	if got := tok.Decode(ids); got != "hello" {
		t.Errorf("Decode with out-of-range ids = %q, want %q", got, "hello")
	}
	if tok.TokenBytes(tok.VocabSize()) != nil || string(tok.TokenBytes('x')) != "x" {
		t.Errorf("TokenBytes gives wrong results")
	}
}

func TestCompresses(t *testing.T) {
	tok := testTokenizer(t)
	if tok.VocabSize() != testVocabSize {
		t.Fatalf("VocabSize() = %d, want %d", tok.VocabSize(), testVocabSize)
	}
	s, err := sampleText()
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(s)
	if len(ids)*2 >= len(s) {
		t.Errorf("%d bytes of training text encode to %d tokens; expected under half", len(s), len(ids))
	}
	// Common words of the training text should have become single tokens.
	for _, w := range []string{" the", " and", " harbour"} {
		if ids := tok.Encode(w); len(ids) != 1 {
			t.Errorf("Encode(%q) = %v, want a single token", w, ids)
		}
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok, err := Train(sampleDocs(t), 300)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := sampleText()
	want := referenceEncode(tok, s)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if got := tok.Encode(s); !slices.Equal(got, want) {
				t.Error("concurrent Encode disagrees with the reference")
			}
		})
	}
	wg.Wait()
}

func BenchmarkEncode(b *testing.B) {
	s, err := sampleText()
	if err != nil {
		b.Fatal(err)
	}
	s = strings.Repeat(s, 100)
	tok := testTokenizer(b)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		tok.Encode(s)
	}
}
