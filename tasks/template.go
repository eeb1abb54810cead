package tasks

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// template is a prompt template: literal text with {field} placeholders.
// "{{" and "}}" stand for literal braces, so a template can show JSON.
type template struct {
	parts []tplPart
}

type tplPart struct {
	lit   string
	field string // non-empty for a placeholder
}

func parseTemplate(s string) (*template, error) {
	t := &template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tplPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i += 2
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i += 2
		case c == '{':
			j := strings.IndexByte(s[i+1:], '}')
			if j < 0 {
				return nil, fmt.Errorf("unclosed { at byte %d (write {{ for a literal brace)", i)
			}
			name := s[i+1 : i+1+j]
			if !validFieldName(name) {
				return nil, fmt.Errorf("bad placeholder {%s}: want a field name of letters, digits, _ . or -", name)
			}
			flush()
			t.parts = append(t.parts, tplPart{field: name})
			i += j + 2
		case c == '}':
			return nil, fmt.Errorf("unmatched } at byte %d (write }} for a literal brace)", i)
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if !utf8.ValidString(s) {
		return nil, errors.New("not valid UTF-8")
	}
	return t, nil
}

func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

func (t *template) uses(field string) bool {
	for _, p := range t.parts {
		if p.field == field {
			return true
		}
	}
	return false
}

// fields lists the placeholders in order of first use.
func (t *template) fields() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range t.parts {
		if p.field != "" && !seen[p.field] {
			seen[p.field] = true
			out = append(out, p.field)
		}
	}
	return out
}

func (t *template) fill(values map[string]string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
		} else {
			b.WriteString(values[p.field])
		}
	}
	return b.String()
}

// Truncate shortens s to at most maxChars characters (runes), cutting at
// the last word boundary that fits so no word is split. A single word
// longer than the limit is cut hard. maxChars <= 0 means no limit.
// Trailing spaces are dropped so the prompt continues cleanly.
func Truncate(s string, maxChars int) string {
	if maxChars <= 0 || utf8.RuneCountInString(s) <= maxChars {
		return s
	}
	// Byte offset of the first rune past the limit.
	cut, n := len(s), 0
	for i := range s {
		if n == maxChars {
			cut = i
			break
		}
		n++
	}
	r, _ := utf8.DecodeRuneInString(s[cut:])
	head := s[:cut]
	if !unicode.IsSpace(r) {
		// The cut falls inside a word: back off to the space before it.
		if i := strings.LastIndexFunc(head, unicode.IsSpace); i > 0 {
			head = head[:i]
		}
	}
	return strings.TrimRightFunc(head, unicode.IsSpace)
}
