package tasks

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// record is one data row reduced to the fields a task uses.
type record struct {
	line   int
	fields map[string]string
}

// maxLineBytes bounds one JSONL line. A task's texts are a few hundred
// characters; a multi-megabyte line is a wrong file, not a long review.
const maxLineBytes = 4 << 20

// openData wraps a data file in a gzip reader when its name ends in .gz.
func openData(file string, r io.Reader) (io.Reader, func() error, error) {
	if strings.HasSuffix(strings.ToLower(file), ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, &Error{File: file, Err: fmt.Errorf("not a gzip file: %w", err)}
		}
		return zr, zr.Close, nil
	}
	return r, func() error { return nil }, nil
}

// readRecords reads every row of a JSONL, CSV or TSV stream and keeps the
// fields in need, all of which must be present in each row.
func readRecords(file, format string, r io.Reader, need []string) ([]record, error) {
	switch format {
	case "jsonl":
		return readJSONL(file, r, need)
	case "csv":
		return readCSV(file, r, ',', need)
	case "tsv":
		return readCSV(file, r, '\t', need)
	}
	return nil, errorf(file, 0, "format", "unknown format %q", format)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func readJSONL(file string, r io.Reader, need []string) ([]record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	var out []record
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue // blank lines, e.g. a trailing newline, are harmless
		}
		rec, err := parseJSONLine(file, line, b, need)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, errorf(file, line+1, "", "line longer than %d bytes", maxLineBytes)
		}
		return nil, &Error{File: file, Line: line, Err: err}
	}
	return out, nil
}

func parseJSONLine(file string, line int, b []byte, need []string) (record, error) {
	if t := bytes.TrimLeft(b, " \t\r"); len(t) > 0 && t[0] != '{' {
		return record{}, errorf(file, line, "", "want a JSON object per line, got %q", clip(string(t), 20))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return record{}, errorf(file, line, "", "invalid JSON: %v", jsonErrText(err))
	}
	if obj == nil {
		return record{}, errorf(file, line, "", "want a JSON object, got null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return record{}, errorf(file, line, "", "invalid JSON: more than one value on the line")
	}
	// encoding/json quietly turns invalid UTF-8 into U+FFFD, so a Latin-1
	// or binary file would load as text full of replacement characters.
	// The check is on the raw bytes, and names the field when it can.
	if !utf8.Valid(b) {
		return record{}, badUTF8(file, line, b, need)
	}
	rec := record{line: line, fields: make(map[string]string, len(need))}
	for _, f := range need {
		v, ok := obj[f]
		if !ok || v == nil {
			return record{}, errorf(file, line, f, "missing")
		}
		switch v := v.(type) {
		case string:
			rec.fields[f] = v
		case json.Number:
			rec.fields[f] = v.String()
		case bool:
			rec.fields[f] = fmt.Sprint(v)
		default:
			return record{}, errorf(file, line, f, "want a string, number or bool, got %s", jsonKind(v))
		}
	}
	return rec, nil
}

// badUTF8 reports a JSONL line that is not valid UTF-8. It names the first
// field (those the task uses first, then the others by name) whose raw value
// holds an invalid byte; when the byte is in a key instead, it gives the
// byte's column. b is a line that decoded to a JSON object.
func badUTF8(file string, line int, b []byte, need []string) error {
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) == nil {
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range append(append([]string(nil), need...), keys...) {
			if v, ok := raw[k]; ok && !utf8.Valid(v) {
				return errorf(file, line, k, "not valid UTF-8 (byte 0x%02x)", v[invalidAt(v)])
			}
		}
	}
	at := invalidAt(b)
	return errorf(file, line, "", "not valid UTF-8 (byte 0x%02x at column %d)", b[at], at+1)
}

// invalidAt is the offset of the first byte of b that does not start a
// valid UTF-8 sequence; b must not be valid UTF-8.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return 0
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func jsonErrText(err error) string {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "unexpected end of line"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

func readCSV(file string, r io.Reader, comma rune, need []string) ([]record, error) {
	br := bufio.NewReader(r)
	if p, _ := br.Peek(3); bytes.Equal(p, utf8BOM) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comma = comma
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errorf(file, 1, "", "empty file: want a header row naming the columns")
	}
	if err != nil {
		return nil, csvErr(file, err, 0)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := col[h]; dup {
			return nil, errorf(file, 1, h, "column named twice in the header")
		}
		col[h] = i
	}
	idx := make([]int, len(need))
	for i, f := range need {
		j, ok := col[f]
		if !ok {
			names := append([]string(nil), header...)
			sort.Strings(names)
			return nil, errorf(file, 1, f, "no such column (columns: %s)", strings.Join(names, ", "))
		}
		idx[i] = j
	}
	var out []record
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(file, err, len(header))
		}
		line, _ := cr.FieldPos(0)
		rec := record{line: line, fields: make(map[string]string, len(need))}
		for i, f := range need {
			v := row[idx[i]]
			if !utf8.ValidString(v) {
				return nil, errorf(file, line, f, "not valid UTF-8")
			}
			rec.fields[f] = v
		}
		out = append(out, rec)
	}
	return out, nil
}

func csvErr(file string, err error, columns int) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return &Error{File: file, Line: pe.StartLine, Err: fmt.Errorf("malformed CSV: wrong number of fields (the header has %d)", columns)}
		}
		return &Error{File: file, Line: pe.Line, Err: fmt.Errorf("malformed CSV at column %d: %w", pe.Column, pe.Err)}
	}
	return &Error{File: file, Err: err}
}
