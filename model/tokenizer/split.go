package tokenizer

import (
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// The pre-tokenizers of Hugging Face tokenizer.json files cut text into
// pieces before BPE, as GPT-2's pattern does for the project's own
// tokenizers (pretokenize.go). A Split step carries its regular expression
// in the file; Llama 3's and Qwen2's are
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// with \p{N} alone in place of \p{N}{1,3} for Qwen2. Any pattern runs with
// regexp2, but a backtracking engine is several times slower than the rest
// of encoding put together (see BenchmarkSplit), so the patterns of the
// supported models have hand-written scanners, tested against regexp2 on
// random text as nextPretoken is. Character classes and invalid UTF-8 are
// treated as in pretokenize.go.
//
// One deliberate difference from regexp2: Hugging Face's library runs the
// pattern with Oniguruma, whose case-insensitive matching uses Unicode case
// folding, so "'ſ" (U+017F, the long s, which folds to s) is a contraction
// there, as it is for tiktoken's regex engine with which Llama 3 was
// trained. regexp2 and tokenizers.js only fold ASCII here; the scanners
// follow the engines the models were trained with.
const (
	gpt2SplitPattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3SplitPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2SplitPattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// splitter cuts a non-empty string into non-empty pieces that concatenate
// back to it.
type splitter interface {
	// appendEnds appends the end offset of each piece of s, in order; the
	// last is len(s).
	appendEnds(ends []int, s string) []int
}

// scanner is a splitter that can find each piece from its start alone, so
// that encoding need not hold all the ends of a long text at once.
type scanner interface {
	splitter
	// next returns the end of the piece that starts at s[i], i < len(s).
	next(s string, i int) int
}

func scanEnds(sc scanner, ends []int, s string) []int {
	for i := 0; i < len(s); {
		i = sc.next(s, i)
		ends = append(ends, i)
	}
	return ends
}

// splitterFor returns the splitter for a Split step's regular expression:
// a scanner for a known pattern, otherwise regexp2 running the pattern.
func splitterFor(pattern string) (splitter, error) {
	switch pattern {
	case gpt2SplitPattern:
		return gpt2Scanner{}, nil
	case llama3SplitPattern:
		return llamaScanner{maxDigits: 3}, nil
	case qwen2SplitPattern:
		return llamaScanner{maxDigits: 1}, nil
	}
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, err
	}
	return regexSplitter{re}, nil
}

// gpt2Scanner is GPT-2's pattern, which ByteLevel's use_regex applies.
type gpt2Scanner struct{}

func (gpt2Scanner) next(s string, i int) int { return nextPretoken(s, i) }

func (g gpt2Scanner) appendEnds(ends []int, s string) []int { return scanEnds(g, ends, s) }

// llamaScanner is Llama 3's pattern, or Qwen2's with maxDigits 1.
type llamaScanner struct {
	maxDigits int
}

func (l llamaScanner) appendEnds(ends []int, s string) []int { return scanEnds(l, ends, s) }

func (l llamaScanner) next(s string, i int) int {
	c0 := s[i]
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if c0 == '\'' && i+1 < len(s) {
		if j := contractionEnd(s, i+1); j > 0 {
			return j
		}
	}
	c, n := classAt(s, i)
	switch c {
	case classLetter: // [^\r\n\p{L}\p{N}]?\p{L}+ without its optional lead
		return scanRun(s, i+n, classLetter)
	case classNumber: // \p{N}{1,3}
		j := i + n
		for k := 1; k < l.maxDigits && j < len(s); k++ {
			c2, n2 := classAt(s, j)
			if c2 != classNumber {
				break
			}
			j += n2
		}
		return j
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+ : any one character other than a line
	// break (a space, a tab, punctuation) may lead a run of letters.
	if c0 != '\r' && c0 != '\n' && i+n < len(s) {
		if c2, n2 := classAt(s, i+n); c2 == classLetter {
			return scanRun(s, i+n+n2, classLetter)
		}
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]* : punctuation takes the line breaks after it.
	if c == classOther {
		return scanLineBreaks(s, scanRun(s, i+n, classOther))
	}
	if c0 == ' ' && i+1 < len(s) {
		if c2, n2 := classAt(s, i+1); c2 == classOther {
			return scanLineBreaks(s, scanRun(s, i+1+n2, classOther))
		}
	}
	// A whitespace run. \s*[\r\n]+ backtracks to the run's last line break
	// and ends after it; without a line break, \s+(?!\S)|\s+ behave as in
	// GPT-2's pattern.
	lastBreak := -1
	if c0 == '\r' || c0 == '\n' {
		lastBreak = i + 1
	}
	last, j := i, i+n
	for j < len(s) {
		c2, n2 := classAt(s, j)
		if c2 != classSpace {
			break
		}
		if s[j] == '\r' || s[j] == '\n' {
			lastBreak = j + 1
		}
		last, j = j, j+n2
	}
	if lastBreak >= 0 {
		return lastBreak
	}
	if j == len(s) || last == i {
		return j
	}
	return last
}

// contractionEnd matches (?i:s|t|re|ve|m|ll|d) at s[j:] and returns the
// end of the match, or 0.
func contractionEnd(s string, j int) int {
	// |0x20 lowercases ASCII letters and maps no other byte to one.
	switch s[j] | 0x20 {
	case 's', 't', 'm', 'd':
		return j + 1
	case 'r', 'v':
		if j+1 < len(s) && s[j+1]|0x20 == 'e' {
			return j + 2
		}
	case 'l':
		if j+1 < len(s) && s[j+1]|0x20 == 'l' {
			return j + 2
		}
	}
	if strings.HasPrefix(s[j:], "ſ") {
		return j + len("ſ")
	}
	return 0
}

func scanLineBreaks(s string, j int) int {
	for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
		j++
	}
	return j
}

// digitsScanner is the Digits pre-tokenizer (SmolLM2 has it before
// ByteLevel): runs of numbers, or each number alone with individual, are
// pieces of their own, and so is the text between them. Hugging Face's
// library tests char::is_numeric, which is Unicode's N category, \p{N}.
type digitsScanner struct {
	individual bool
}

func (d digitsScanner) appendEnds(ends []int, s string) []int { return scanEnds(d, ends, s) }

func (d digitsScanner) next(s string, i int) int {
	c, n := classAt(s, i)
	if c == classNumber {
		if d.individual {
			return i + n
		}
		return scanRun(s, i+n, classNumber)
	}
	for j := i + n; j < len(s); {
		c, n := classAt(s, j)
		if c == classNumber {
			return j
		}
		j += n
	}
	return len(s)
}

// literalSplitter is a Split step whose pattern is a plain string: each
// occurrence is a piece, and so is the text between occurrences.
type literalSplitter struct {
	sep string
}

func (l literalSplitter) appendEnds(ends []int, s string) []int { return scanEnds(l, ends, s) }

func (l literalSplitter) next(s string, i int) int {
	if strings.HasPrefix(s[i:], l.sep) {
		return i + len(l.sep)
	}
	if k := strings.Index(s[i:], l.sep); k >= 0 {
		return i + k
	}
	return len(s)
}

// regexSplitter runs a Split step's pattern with regexp2: each match is a
// piece, and so is the text between matches ("Isolated" behaviour).
type regexSplitter struct {
	re *regexp2.Regexp
}

func (r regexSplitter) appendEnds(ends []int, s string) []int {
	// regexp2 matches on []rune(s), which turns each invalid byte into one
	// rune, exactly as utf8.DecodeRuneInString steps over it, so rune
	// indices map back to byte offsets.
	offsets := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		offsets = append(offsets, i)
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	offsets = append(offsets, len(s))
	prev := 0
	m, err := r.re.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = r.re.FindNextMatch(m) {
		start, end := offsets[m.Index], offsets[m.Index+m.Length]
		if start > prev {
			ends = append(ends, start)
		}
		if end > start {
			ends = append(ends, end)
		}
		prev = end
	}
	// err can only be a timeout, and the pattern has none; the rest of the
	// text stays one piece either way.
	if prev < len(s) {
		ends = append(ends, len(s))
	}
	return ends
}
