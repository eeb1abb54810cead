package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// gpt2Pattern is GPT-2's pre-tokenisation regexp verbatim; regexp2 supports
// the lookahead that Go's regexp lacks, so it serves as the oracle for
// nextPretoken.
var gpt2Pattern = regexp2.MustCompile(`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, regexp2.None)

// regexpPretokens runs gpt2Pattern over s. regexp2 matches on []rune(s),
// which turns each invalid byte into one rune, exactly as
// utf8.DecodeRuneInString steps over it, so rune indices map back to byte
// offsets and invalid bytes come back verbatim.
func regexpPretokens(t testing.TB, s string) []string {
	t.Helper()
	out, covered := regexpPieces(t, gpt2Pattern, s)
	if !covered {
		t.Fatalf("regexp2 matches %q do not cover %q", out, s)
	}
	return out
}

// regexpPieces splits s into the matches of re and the text between them,
// and reports whether there was no such text.
func regexpPieces(t testing.TB, re *regexp2.Regexp, s string) (pieces []string, covered bool) {
	t.Helper()
	offsets := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		offsets = append(offsets, i)
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	offsets = append(offsets, len(s))
	var out []string
	prev := 0
	covered = true
	m, err := re.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		start, end := offsets[m.Index], offsets[m.Index+m.Length]
		if start > prev {
			out = append(out, s[prev:start])
			covered = false
		}
		if end > start {
			out = append(out, s[start:end])
		}
		prev = end
	}
	if prev < len(s) {
		out = append(out, s[prev:])
		covered = false
	}
	if err != nil {
		t.Fatalf("regexp2: %v", err)
	}
	return out, covered
}

func TestPretokenizeExamples(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello world", []string{"Hello", " world"}},
		{"I'm sure they'll say it's fine", []string{"I", "'m", " sure", " they", "'ll", " say", " it", "'s", " fine"}},
		{"DON'T", []string{"DON", "'", "T"}}, // contractions are case-sensitive
		{"x  y", []string{"x", " ", " y"}},
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"a\tb", []string{"a", "\t", "b"}},
		{"end  ", []string{"end", "  "}},
		{"abc123 456", []string{"abc", "123", " 456"}},
		{"well... ok!?", []string{"well", "...", " ok", "!?"}},
		{"?'s", []string{"?'", "s"}},
		{" 's", []string{" '", "s"}},
		{"café Zürich 日本語", []string{"café", " Zürich", " 日本語"}},
		{"e\u0301", []string{"e", "\u0301"}}, // a combining mark is not a letter
		{"ab\xffcd", []string{"ab", "\xff", "cd"}},
		{"!\xfe\xff?", []string{"!\xfe\xff?"}},
		{" \xff", []string{" \xff"}},
	}
	for _, tt := range tests {
		if got := pretokenize(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("pretokenize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// pretokenPieces are fragments chosen to exercise every branch of the
// pattern and the boundaries between them.
var pretokenPieces = []string{
	"a", "Z", "word", "é", "ß", "Ω", "日本", "한", "ا", "\u0301", "ǅ", "ʰ",
	"0", "42", "٣", "½", "Ⅻ", "²",
	" ", "  ", "\t", "\n", "\r\n", "\v", "\f", "\u00a0", "\u0085", "\u2003", "\u3000", "\u2028", "\u180e", "\x1c",
	"'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'r", "'v", "'l", "’",
	".", ",", "!", "?", "-", "—", "…", "$", "€", "😀", "👍🏽", "\u200d", "<|endoftext|>",
	"\xff", "\xfe", "\xc3", "\xc3\x28", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80", "\ufffd", "\x00",
}

func randomText(r *rand.Rand, maxPieces int) string {
	var sb strings.Builder
	for range r.IntN(maxPieces + 1) {
		sb.WriteString(pretokenPieces[r.IntN(len(pretokenPieces))])
	}
	return sb.String()
}

func TestPretokenizeMatchesRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := []string{
		"", " ", "   ", "\n", " \n ", "a  \n  b", "'", "''s", "'ll've", "x'", " 'll",
		strings.Repeat(" ", 50) + "x", strings.Repeat("\n", 20),
	}
	if b, err := sampleText(); err == nil {
		inputs = append(inputs, b)
	}
	for range 3000 {
		inputs = append(inputs, randomText(r, 12))
	}
	for _, in := range inputs {
		if got, want := pretokenize(in), regexpPretokens(t, in); !slices.Equal(got, want) {
			t.Fatalf("pretokenize(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func FuzzPretokenize(f *testing.F) {
	for _, p := range pretokenPieces {
		f.Add(p + " x" + p + p)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := pretokenize(s), regexpPretokens(t, s); !slices.Equal(got, want) {
			t.Fatalf("pretokenize(%q)\n got %q\nwant %q", s, got, want)
		}
	})
}
