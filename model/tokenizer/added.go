package tokenizer

import "strings"

// addedToken is an entry of added_tokens as the matcher needs it.
type addedToken struct {
	content        string
	id             int
	lstrip, rstrip bool
}

// addedMatcher finds added tokens in text, leftmost first and, among
// those starting at the same place, longest first, as Hugging Face's
// library does. It is a byte trie; first says which bytes start a token,
// so that text without any costs one table look-up a byte.
type addedMatcher struct {
	first [256]bool
	nodes []trieNode
	toks  []addedToken
}

type trieNode struct {
	edges []trieEdge
	tok   int32 // index into toks of the token ending here, or -1
}

type trieEdge struct {
	b    byte
	next int32
}

func newAddedMatcher(toks []addedToken) *addedMatcher {
	if len(toks) == 0 {
		return nil
	}
	m := &addedMatcher{nodes: []trieNode{{tok: -1}}, toks: toks}
	for i, t := range toks {
		m.first[t.content[0]] = true
		n := int32(0)
		for j := 0; j < len(t.content); j++ {
			n = m.child(n, t.content[j])
		}
		m.nodes[n].tok = int32(i)
	}
	return m
}

func (m *addedMatcher) child(n int32, b byte) int32 {
	for _, e := range m.nodes[n].edges {
		if e.b == b {
			return e.next
		}
	}
	m.nodes = append(m.nodes, trieNode{tok: -1})
	next := int32(len(m.nodes) - 1)
	m.nodes[n].edges = append(m.nodes[n].edges, trieEdge{b, next})
	return next
}

// find returns the next added token in s at or after from, and the span
// it takes: lstrip and rstrip widen it over neighbouring whitespace (which
// the token then swallows), though not back before from.
func (m *addedMatcher) find(s string, from int) (start, end, id int, ok bool) {
	if m == nil {
		return 0, 0, 0, false
	}
	for i := from; i < len(s); i++ {
		if !m.first[s[i]] {
			continue
		}
		best, bestEnd := int32(-1), 0
		n := int32(0)
		for j := i; j < len(s); j++ {
			next := int32(-1)
			for _, e := range m.nodes[n].edges {
				if e.b == s[j] {
					next = e.next
					break
				}
			}
			if next < 0 {
				break
			}
			n = next
			if t := m.nodes[n].tok; t >= 0 {
				best, bestEnd = t, j+1
			}
		}
		if best < 0 {
			continue
		}
		t := &m.toks[best]
		start, end = i, bestEnd
		if t.lstrip {
			start = from + len(strings.TrimRightFunc(s[from:start], isSpace))
		}
		if t.rstrip {
			end = len(s) - len(strings.TrimLeftFunc(s[end:], isSpace))
		}
		return start, end, t.id, true
	}
	return 0, 0, 0, false
}

func isSpace(r rune) bool { return classify(r) == classSpace }

// strips reports whether any of the tokens swallows whitespace.
func (m *addedMatcher) strips() bool {
	if m == nil {
		return false
	}
	for _, t := range m.toks {
		if t.lstrip || t.rstrip {
			return true
		}
	}
	return false
}
