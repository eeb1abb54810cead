package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

// The hand-written scanners against regexp2 running the pattern they stand
// for, as TestPretokenizeMatchesRegexp does for GPT-2's.
var scannerPatterns = []struct {
	name    string
	pattern string
	sc      scanner
}{
	{"llama3", llama3SplitPattern, llamaScanner{maxDigits: 3}},
	{"qwen2", qwen2SplitPattern, llamaScanner{maxDigits: 1}},
	{"digits", `\p{N}|[^\p{N}]+`, digitsScanner{individual: true}},
	{"digit runs", `\p{N}+|[^\p{N}]+`, digitsScanner{}},
}

func scanPieces(sc scanner, s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := sc.next(s, i)
		out = append(out, s[i:j])
		i = j
	}
	return out
}

func TestSplitterFor(t *testing.T) {
	for pattern, want := range map[string]splitter{
		gpt2SplitPattern:   gpt2Scanner{},
		llama3SplitPattern: llamaScanner{maxDigits: 3},
		qwen2SplitPattern:  llamaScanner{maxDigits: 1},
	} {
		if got, err := splitterFor(pattern); err != nil || got != want {
			t.Errorf("splitterFor(%q) = %#v, %v; want %#v", pattern, got, err, want)
		}
	}
	if got, err := splitterFor(`\w+`); err != nil {
		t.Error(err)
	} else if _, ok := got.(regexSplitter); !ok {
		t.Errorf("splitterFor of an unknown pattern = %#v, want regexp2", got)
	}
	if _, err := splitterFor(`(`); err == nil {
		t.Error("splitterFor accepted an invalid pattern")
	}
}

func TestLlamaScannerExamples(t *testing.T) {
	llama, qwen := llamaScanner{maxDigits: 3}, llamaScanner{maxDigits: 1}
	tests := []struct {
		sc   scanner
		in   string
		want []string
	}{
		{llama, "Hello world", []string{"Hello", " world"}},
		{llama, "I'M SURE they'll", []string{"I", "'M", " SURE", " they", "'ll"}}, // contractions ignore case
		{llama, "'Some", []string{"'S", "ome"}},
		{llama, "(hello) ((x", []string{"(hello", ")", " ((", "x"}},
		{llama, "\tindented", []string{"\tindented"}}, // any non-break character may lead letters
		{llama, "12345 6", []string{"123", "45", " ", "6"}},
		{qwen, "12345", []string{"1", "2", "3", "4", "5"}},
		{llama, "a  \n  b", []string{"a", "  \n", " ", " b"}},
		{llama, "x.\n\ny", []string{"x", ".\n\n", "y"}},
		{llama, "a\r\n\r\nb", []string{"a", "\r\n\r\n", "b"}},
		{llama, "end  ", []string{"end", "  "}},
		{llama, "\u0085\u0085x", []string{"\u0085", "\u0085x"}}, // NEL is a space but not a line break
		{llama, "\xffabc", []string{"\xffabc"}},
		// The long s folds to s under Unicode case folding, which
		// Hugging Face's Oniguruma and tiktoken's engine apply and
		// regexp2 does not.
		{llama, "'ſ x", []string{"'ſ", " x"}},
	}
	for _, tt := range tests {
		if got := scanPieces(tt.sc, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%#v on %q = %q, want %q", tt.sc, tt.in, got, tt.want)
		}
	}
}

// splitPieces adds to pretokenPieces what the Llama 3 pattern treats
// specially.
var splitPieces = append(slices.Clone(pretokenPieces),
	"\r", "\n\n", " \n", "\t\n", "'RE", "'Ll", "'D", "'M", "(", "((", ".\n", "123456", "\u0085", "\u00a0a", "\tb",
)

func randomSplitText(r *rand.Rand, maxPieces int) string {
	var sb strings.Builder
	for range r.IntN(maxPieces + 1) {
		sb.WriteString(splitPieces[r.IntN(len(splitPieces))])
	}
	return sb.String()
}

func TestScannersMatchRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	inputs := []string{"", " ", "\n", " \n ", "a  \n  b", "'", "''s", "'LL've", strings.Repeat(" ", 30) + "x"}
	if b, err := sampleText(); err == nil {
		inputs = append(inputs, b)
	}
	for range 3000 {
		inputs = append(inputs, randomSplitText(r, 12))
	}
	for _, p := range scannerPatterns {
		re := regexp2.MustCompile(p.pattern, regexp2.None)
		for _, in := range inputs {
			want, _ := regexpPieces(t, re, in)
			if got := scanPieces(p.sc, in); !slices.Equal(got, want) {
				t.Fatalf("%s scanner on %q\n got %q\nwant %q", p.name, in, got, want)
			}
			if got := p.sc.appendEnds(nil, in); len(in) > 0 && got[len(got)-1] != len(in) {
				t.Fatalf("%s appendEnds(%q) = %v", p.name, in, got)
			}
		}
	}
}

func TestRegexSplitterKeepsGaps(t *testing.T) {
	sp, err := splitterFor(`[0-9]+`)
	if err != nil {
		t.Fatal(err)
	}
	s := "ab12cd345\xffé"
	ends := sp.appendEnds(nil, s)
	var got []string
	for i, prev := 0, 0; i < len(ends); i++ {
		got = append(got, s[prev:ends[i]])
		prev = ends[i]
	}
	if want := []string{"ab", "12", "cd", "345", "\xffé"}; !slices.Equal(got, want) {
		t.Errorf("regexp2 splitter gives %q, want %q", got, want)
	}
	lit := literalSplitter{"--"}
	if got, want := scanPieces(lit, "a--b----c-"), []string{"a", "--", "b", "--", "--", "c-"}; !slices.Equal(got, want) {
		t.Errorf("literal splitter gives %q, want %q", got, want)
	}
}

func FuzzLlamaScanner(f *testing.F) {
	for _, p := range splitPieces {
		f.Add(p + " x" + p + p)
	}
	re := regexp2.MustCompile(llama3SplitPattern, regexp2.None)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "'ſ") {
			t.Skip("regexp2 does not fold ſ; see split.go")
		}
		want, _ := regexpPieces(t, re, s)
		if got := scanPieces(llamaScanner{maxDigits: 3}, s); !slices.Equal(got, want) {
			t.Fatalf("scanner on %q\n got %q\nwant %q", s, got, want)
		}
	})
}

// BenchmarkSplit compares the Llama 3 scanner with regexp2 running the
// same pattern, the choice split.go makes.
func BenchmarkSplit(b *testing.B) {
	s, err := sampleText()
	if err != nil {
		b.Fatal(err)
	}
	s = strings.Repeat(s, 20)
	re, err := regexp2.Compile(llama3SplitPattern, regexp2.None)
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		sp   splitter
	}{
		{"scanner", llamaScanner{maxDigits: 3}},
		{"regexp2", regexSplitter{re}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			var ends []int
			for b.Loop() {
				ends = bm.sp.appendEnds(ends[:0], s)
			}
		})
	}
}
