package tasks

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets feed arbitrary bytes to the readers of user input. They
// must never panic or hang; when they accept input, what they return must
// keep the invariants the rest of the package relies on. Seed corpora live
// in testdata/fuzz/<target>; run e.g. go test -fuzz=FuzzLoadJSONL -fuzztime=5s.

func FuzzLoadJSONL(f *testing.F) {
	f.Add([]byte(`{"text": "a", "label": "pos"}` + "\n"))
	f.Add([]byte("\xef\xbb\xbf{\"text\": 1, \"label\": true}\n\n{\"text\": \"b\", \"label\": \"neg\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := readJSONL("f.jsonl", bytes.NewReader(data), []string{"text", "label"})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tasks: f.jsonl") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		// encoding/json would turn invalid UTF-8 into U+FFFD; the reader
		// must refuse such a line instead.
		if !utf8.Valid(data) {
			t.Fatalf("accepted input that is not valid UTF-8: %q", data)
		}
		checkRecords(t, recs, bytes.Count(data, []byte("\n"))+1)
	})
}

func FuzzLoadCSV(f *testing.F) {
	f.Add([]byte("text,label\nhello,pos\n\"multi\nline\",neg\n"))
	f.Add([]byte("label,text,extra\npos,\"a \"\"quoted\"\" word\",x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := readCSV("f.csv", bytes.NewReader(data), ',', []string{"text", "label"})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tasks: f.csv") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		checkRecords(t, recs, bytes.Count(data, []byte("\n"))+1)
	})
}

func checkRecords(t *testing.T, recs []record, lines int) {
	t.Helper()
	last := 0
	for _, r := range recs {
		if r.line <= last || r.line > lines {
			t.Fatalf("line %d after %d (input has %d lines)", r.line, last, lines)
		}
		last = r.line
		for _, f := range []string{"text", "label"} {
			if _, ok := r.fields[f]; !ok {
				t.Fatalf("line %d: field %q missing from an accepted record", r.line, f)
			}
		}
	}
}

// FuzzParseYAML loads arbitrary task configs against a fixed, valid data
// file, so a config that is accepted runs the whole loading path.
func FuzzParseYAML(f *testing.F) {
	f.Add([]byte("name: t\nsplits: {train: d.jsonl, test: d.jsonl}\ntemplate: \"T: {text}\\nL:\"\nlabels: {pos: \" pos\", neg: \" neg\"}\n"))
	f.Add([]byte("name: a\ngenerator: {name: arith, sizes: {train: 3, test: 2}, max_ops: 2}\ntemplate: \"Q: {text}\\nA:\"\n"))
	const data = `{"text": "good", "label": "pos", "answer": "1"}` + "\n" + `{"text": "bad", "label": "neg", "answer": "2"}` + "\n"
	open := func(string) (io.ReadCloser, string, error) {
		return io.NopCloser(strings.NewReader(data)), "d.jsonl", nil
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		// Generating a million problems is allowed but slow; the fuzzer
		// should spend its time on parsing, not on arithmetic.
		if c, err := parseConfig("f.yaml", src); err == nil && c.Generator != nil {
			var ac ArithConfig
			if decodeStrict(&c.Generator.Node, &ac) == nil {
				total := 0
				for _, n := range ac.Sizes {
					total += max(n, 0)
				}
				if total > 5000 {
					return
				}
			}
		}
		task, err := loadFrom("f.yaml", src, open, false)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tasks: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if task.Kind != KindClassification && task.Kind != KindGeneration {
			t.Fatalf("kind %q accepted", task.Kind)
		}
		for _, s := range task.Splits() {
			es, err := task.Split(s)
			if err != nil || len(es) == 0 {
				t.Fatalf("split %q: %d examples, %v", s, len(es), err)
			}
		}
		if _, err := task.Train(1, 1); err != nil {
			t.Fatalf("Train(1): %v", err)
		}
	})
}

func FuzzNormaliseAnswer(f *testing.F) {
	for _, s := range []string{"42", " $1,200.50\nmore", "-0.0", "'x'.", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormaliseAnswer(s)
		if NormaliseAnswer(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, NormaliseAnswer(n))
		}
		if strings.ContainsAny(n, "\r\n") {
			t.Fatalf("%q keeps a line break", n)
		}
	})
}

func FuzzTruncate(f *testing.F) {
	f.Add("hello wide world", 7)
	f.Add("héllo", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n > 1000 || n < -1 {
			return
		}
		got := Truncate(s, n)
		if !strings.HasPrefix(s, got) {
			t.Fatalf("Truncate(%q, %d) = %q: not a prefix", s, n, got)
		}
		if n > 0 && utf8.ValidString(s) && utf8.RuneCountInString(got) > n {
			t.Fatalf("Truncate(%q, %d) = %q: too long", s, n, got)
		}
	})
}
