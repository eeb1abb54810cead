package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// GPT-2 splits text with the regular expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Go's regexp has no lookahead, and a hand-written scanner is several times
// faster than a backtracking engine anyway, so nextPretoken reproduces the
// pattern's leftmost-first semantics directly. The tests check it against
// github.com/dlclark/regexp2 running the pattern itself.
//
// Character classes: letters are Unicode category L, numbers category N and
// whitespace is Unicode White_Space (unicode.IsSpace, which is also what
// regexp2's \s means). Everything else, combining marks included, is
// "other", as in GPT-2.
//
// Invalid UTF-8: each byte that is not part of a valid encoding is
// classified as if it were U+FFFD (a symbol, hence "other") but is kept
// verbatim in the pre-token, so it joins neighbouring punctuation and still
// round-trips exactly. This is also what running the pattern over the
// string's []rune conversion does, since that turns every invalid byte into
// one U+FFFD.

type charClass uint8

const (
	classOther charClass = iota
	classLetter
	classNumber
	classSpace
)

var asciiClass [utf8.RuneSelf]charClass

func init() {
	for c := range asciiClass {
		asciiClass[c] = classify(rune(c))
	}
}

func classify(r rune) charClass {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// classAt returns the class of the character starting at s[i] and its width
// in bytes; an invalid byte has width 1.
func classAt(s string, i int) (charClass, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return classify(r), n
}

// nextPretoken returns the end of the pre-token that starts at s[i], i < len(s).
func nextPretoken(s string, i int) int {
	// 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, as in GPT-2)
	if s[i] == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	// ` ?X+` for the three non-space classes: one plain space (U+0020 only)
	// may lead a run.
	if s[i] == ' ' && i+1 < len(s) {
		if c, n := classAt(s, i+1); c != classSpace {
			return scanRun(s, i+1+n, c)
		}
	}
	c, n := classAt(s, i)
	if c != classSpace {
		return scanRun(s, i+n, c)
	}
	// \s+(?!\S)|\s+ : a whitespace run followed by a non-space gives up its
	// last character, which then leads the next pre-token (" word"), unless
	// the run is a single character, which the second branch takes whole.
	last, j := i, i+n
	for j < len(s) {
		c, n := classAt(s, j)
		if c != classSpace {
			break
		}
		last, j = j, j+n
	}
	if j == len(s) || last == i {
		return j
	}
	return last
}

// scanRun extends a run of class c that continues at s[j].
func scanRun(s string, j int, c charClass) int {
	for j < len(s) {
		c2, n := classAt(s, j)
		if c2 != c {
			break
		}
		j += n
	}
	return j
}

// pretokenize returns the pre-tokens of s, which concatenate back to s.
func pretokenize(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := nextPretoken(s, i)
		out = append(out, s[i:j])
		i = j
	}
	return out
}
