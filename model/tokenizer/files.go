package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// File names and the first line of merges.txt, as GPT-2 and Hugging Face
// use them. Hugging Face's slow GPT2Tokenizer skips the first line of
// merges.txt unconditionally, so the version line is not optional.
const (
	VocabFile     = "vocab.json"
	MergesFile    = "merges.txt"
	mergesVersion = "#version: 0.2"
)

// GPT-2 files store tokens as text, mapping each byte to a printable
// character so that tokens contain no whitespace or control characters:
// printable Latin-1 bytes stand for themselves and the other 68 bytes, in
// increasing order, for U+0100 onwards (so ' ' is 'Ġ' and '\n' is 'Ċ').
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	next := rune(256)
	for b := range 256 {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = next
			next++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

func tokenText(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(byteToRune[c])
	}
	return sb.String()
}

// tokenBytes inverts tokenText.
func tokenBytes(s string) ([]byte, bool) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		c, ok := runeToByte[r]
		if !ok {
			return nil, false
		}
		b = append(b, c)
	}
	return b, true
}

// Save writes dir/vocab.json and dir/merges.txt in the layout of GPT-2's
// released files, creating dir if needed. vocab.json lists tokens in id
// order; EndOfText is stored as plain text, as GPT-2 does. A tokenizer
// loaded from tokenizer.json cannot be saved in this format, which has no
// place for its added tokens and pre-tokenizer: copy its files instead.
func (t *Tokenizer) Save(dir string) error {
	if t.hf != nil {
		return errors.New("tokenizer: Save writes vocab.json and merges.txt, which cannot hold a tokenizer loaded from tokenizer.json; copy that file instead")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	var vocab bytes.Buffer
	enc := json.NewEncoder(&vocab)
	enc.SetEscapeHTML(false) // keeps "<|endoftext|>" readable
	vocab.WriteString("{")
	for id, b := range t.tokens {
		if id > 0 {
			vocab.WriteString(",")
		}
		vocab.WriteString("\n  ")
		text := EndOfText
		if id != t.eot {
			text = tokenText(b)
		}
		if err := enc.Encode(text); err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
		vocab.Truncate(vocab.Len() - 1) // Encode's newline
		fmt.Fprintf(&vocab, ": %d", id)
	}
	vocab.WriteString("\n}\n")

	var merges bytes.Buffer
	merges.WriteString(mergesVersion + "\n")
	for _, r := range t.rules {
		merges.WriteString(tokenText(t.tokens[r.left]))
		merges.WriteByte(' ')
		merges.WriteString(tokenText(t.tokens[r.right]))
		merges.WriteByte('\n')
	}

	if err := os.WriteFile(filepath.Join(dir, VocabFile), vocab.Bytes(), 0o644); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, MergesFile), merges.Bytes(), 0o644); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}

// Load reads a tokenizer written by Save (or any GPT-2-style vocab.json and
// merges.txt pair whose vocabulary has a token for every byte and contains
// "<|endoftext|>"), or, when dir has a tokenizer.json, that file (LoadHF):
// a model directory from Hugging Face often has all three, and
// tokenizer.json is the complete description.
func Load(dir string) (*Tokenizer, error) {
	if _, err := os.Stat(filepath.Join(dir, HFFile)); err == nil {
		return LoadHF(dir)
	}
	vpath, mpath := filepath.Join(dir, VocabFile), filepath.Join(dir, MergesFile)
	vdata, err := os.ReadFile(vpath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	mdata, err := os.ReadFile(mpath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parse(vpath, vdata, mpath, mdata)
}

// LoadFS is Load for a file system such as an embed.FS; dir uses forward
// slashes as fs.FS requires.
func LoadFS(fsys fs.FS, dir string) (*Tokenizer, error) {
	if _, err := fs.Stat(fsys, path.Join(dir, HFFile)); err == nil {
		return LoadHFFS(fsys, dir)
	}
	vpath, mpath := path.Join(dir, VocabFile), path.Join(dir, MergesFile)
	vdata, err := fs.ReadFile(fsys, vpath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	mdata, err := fs.ReadFile(fsys, mpath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parse(vpath, vdata, mpath, mdata)
}

// Files names the files LoadFS reads a tokenizer from in dir: tokenizer.json
// (and tokenizer_config.json when present), or else vocab.json and
// merges.txt.
func Files(fsys fs.FS, dir string) []string {
	if _, err := fs.Stat(fsys, path.Join(dir, HFFile)); err == nil {
		if _, err := fs.Stat(fsys, path.Join(dir, HFConfigFile)); err == nil {
			return []string{HFFile, HFConfigFile}
		}
		return []string{HFFile}
	}
	return []string{VocabFile, MergesFile}
}

// fileError reports a problem at a line of a named file, in the
// file:line: form that editors and terminals can jump to.
func fileError(name string, line int, format string, args ...any) error {
	return fmt.Errorf("tokenizer: %s:%d: %s", name, line, fmt.Sprintf(format, args...))
}

func lineAt(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

func parse(vname string, vdata []byte, mname string, mdata []byte) (*Tokenizer, error) {
	tokens, eot, err := parseVocab(vname, vdata)
	if err != nil {
		return nil, err
	}
	rules, err := parseMerges(mname, mdata, tokens, eot)
	if err != nil {
		return nil, err
	}
	return newTokenizer(tokens, rules, eot), nil
}

func parseVocab(name string, data []byte) (tokens [][]byte, eot int, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// The decoder's offset after a failed read is not always where the
	// problem is; a syntax error knows better.
	jsonErr := func(err error) error {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fileError(name, lineAt(data, off), "%v", err)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, 0, jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, 0, fileError(name, lineAt(data, dec.InputOffset()), "want a JSON object mapping tokens to ids")
	}

	type entry struct {
		key      string
		id, line int
	}
	var entries []entry
	byID := map[int]entry{}
	seen := map[string]int{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, 0, jsonErr(err)
		}
		line := lineAt(data, dec.InputOffset())
		key := kt.(string) // object keys are always strings
		vt, err := dec.Token()
		if err != nil {
			return nil, 0, jsonErr(err)
		}
		num, ok := vt.(json.Number)
		if !ok {
			return nil, 0, fileError(name, line, "token %q: id is not a number", key)
		}
		id64, err := num.Int64()
		if err != nil || id64 < 0 || id64 > 1<<31-1 {
			return nil, 0, fileError(name, line, "token %q: bad id %s", key, num)
		}
		id := int(id64)
		if prev, dup := seen[key]; dup {
			return nil, 0, fileError(name, line, "token %q listed twice (first on line %d)", key, prev)
		}
		seen[key] = line
		if other, dup := byID[id]; dup {
			return nil, 0, fileError(name, line, "id %d given to both %q (line %d) and %q", id, other.key, other.line, key)
		}
		e := entry{key, id, line}
		byID[id] = e
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, 0, jsonErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, fileError(name, lineAt(data, dec.InputOffset()), "unexpected data after the vocabulary object")
	}

	n := len(entries)
	eot = -1
	tokens = make([][]byte, n)
	var haveByte [256]bool
	for _, e := range entries {
		if e.id >= n {
			return nil, 0, fileError(name, e.line, "token %q: id %d out of range: %d tokens need ids 0..%d", e.key, e.id, n, n-1)
		}
		if e.key == EndOfText {
			eot = e.id
			tokens[e.id] = []byte(EndOfText)
			continue
		}
		b, ok := tokenBytes(e.key)
		if !ok || len(b) == 0 {
			return nil, 0, fileError(name, e.line, "token %q is not in GPT-2's byte-to-character encoding", e.key)
		}
		tokens[e.id] = b
		if len(b) == 1 {
			haveByte[b[0]] = true
		}
	}
	if eot < 0 {
		return nil, 0, fmt.Errorf("tokenizer: %s: no %s token", name, EndOfText)
	}
	for b, ok := range haveByte {
		if !ok {
			return nil, 0, fmt.Errorf("tokenizer: %s: no token for byte 0x%02x (%q), so some text could not be encoded", name, b, string(byteToRune[b]))
		}
	}
	return tokens, eot, nil
}

func parseMerges(name string, data []byte, tokens [][]byte, eot int) ([]rule, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("tokenizer: %s: not valid UTF-8", name)
	}
	byBytes := make(map[string]int32, len(tokens))
	for id, b := range tokens {
		if id != eot {
			byBytes[string(b)] = int32(id)
		}
	}
	lookup := func(line int, text string) (int32, error) {
		b, ok := tokenBytes(text)
		if !ok {
			return 0, fileError(name, line, "%q is not in GPT-2's byte-to-character encoding", text)
		}
		id, ok := byBytes[string(b)]
		if !ok {
			return 0, fileError(name, line, "token %q is not in the vocabulary", text)
		}
		return id, nil
	}

	var rules []rule
	firstLine := map[uint64]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if (line == 1 && strings.HasPrefix(text, "#version")) || text == "" {
			continue
		}
		parts := strings.Split(text, " ")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, fileError(name, line, "want two tokens separated by one space, got %q", text)
		}
		left, err := lookup(line, parts[0])
		if err != nil {
			return nil, err
		}
		right, err := lookup(line, parts[1])
		if err != nil {
			return nil, err
		}
		out, ok := byBytes[string(tokens[left])+string(tokens[right])]
		if !ok {
			return nil, fileError(name, line, "the merged token %q is not in the vocabulary", parts[0]+parts[1])
		}
		k := pairKey(left, right)
		if prev, dup := firstLine[k]; dup {
			return nil, fileError(name, line, "merge %q repeats line %d", text, prev)
		}
		firstLine[k] = line
		rules = append(rules, rule{left, right, out})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	return rules, nil
}
