package corpus

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// Figures from README.md. Bytes are UTF-8 bytes of Text; words are
// strings.Fields tokens.
const (
	trainDocs      = 362 // 223 addresses + 139 Moby Dick sections
	trainAddresses = 223
	trainMoby      = 139
	trainBytes     = 11611888
	trainWords     = 1944297
	heldOutDocs    = 10
	heldOutBytes   = 369841
	heldOutWords   = 63265
	brownDocs      = 500
	brownBytes     = 5978489
	brownWords     = 1017400
)

func mustTrain(t *testing.T) []Document {
	t.Helper()
	docs, err := Train()
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func mustHeldOut(t *testing.T) []Document {
	t.Helper()
	docs, err := HeldOut()
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func sizes(docs []Document) (bytes, words int) {
	for _, d := range docs {
		bytes += len(d.Text)
		words += len(strings.Fields(d.Text))
	}
	return
}

func TestFigures(t *testing.T) {
	for _, c := range []struct {
		split              string
		docs               []Document
		wantN, wantB, want int
	}{
		{"train", mustTrain(t), trainDocs, trainBytes, trainWords},
		{"held-out", mustHeldOut(t), heldOutDocs, heldOutBytes, heldOutWords},
	} {
		b, w := sizes(c.docs)
		if len(c.docs) != c.wantN || b != c.wantB || w != c.want {
			t.Errorf("%s: %d documents, %d bytes, %d words; README says %d, %d, %d",
				c.split, len(c.docs), b, w, c.wantN, c.wantB, c.want)
		}
	}
}

// yearOfName returns the year encoded in an address name such as
// "sotu/1861_abraham_lincoln_r".
func yearOfName(t *testing.T, name string) int {
	t.Helper()
	var y int
	if _, err := fmt.Sscanf(strings.TrimPrefix(name, "sotu/"), "%4d_", &y); err != nil {
		t.Fatalf("%s: no year in name: %v", name, err)
	}
	return y
}

func TestHeldOut(t *testing.T) {
	docs := mustHeldOut(t)
	for i, d := range docs {
		want := 2012 + i
		if d.Year != want {
			t.Errorf("held-out[%d] = %s year %d, want %d", i, d.Name, d.Year, want)
		}
		if !strings.HasPrefix(d.Name, "sotu/") || yearOfName(t, d.Name) != d.Year {
			t.Errorf("held-out[%d]: name %q does not match year %d", i, d.Name, d.Year)
		}
	}
	if docs[0].Name != "sotu/2012_barack_obama_d" || docs[len(docs)-1].Name != "sotu/2021_joseph_r_biden_d" {
		t.Errorf("held-out runs %s .. %s", docs[0].Name, docs[len(docs)-1].Name)
	}
}

func TestTrain(t *testing.T) {
	docs := mustTrain(t)
	perYear := map[int]int{}
	var addresses, moby int
	prev := 0
	for i, d := range docs {
		switch {
		case strings.HasPrefix(d.Name, "sotu/"):
			if moby > 0 {
				t.Fatalf("train[%d] %s: address after Moby Dick", i, d.Name)
			}
			if d.Year < 1790 || d.Year >= 2012 {
				t.Errorf("train[%d] %s: year %d outside 1790-2011", i, d.Name, d.Year)
			}
			if d.Year < prev {
				t.Errorf("train[%d] %s: year %d after %d", i, d.Name, d.Year, prev)
			}
			if yearOfName(t, d.Name) != d.Year {
				t.Errorf("train[%d]: name %q does not match year %d", i, d.Name, d.Year)
			}
			prev = d.Year
			perYear[d.Year]++
			addresses++
		case strings.HasPrefix(d.Name, "moby_dick/"):
			if d.Year != 0 {
				t.Errorf("train[%d] %s: year %d, want 0", i, d.Name, d.Year)
			}
			moby++
		default:
			t.Errorf("train[%d]: unexpected name %q", i, d.Name)
		}
	}
	if addresses != trainAddresses || moby != trainMoby {
		t.Errorf("train: %d addresses and %d Moby Dick sections, want %d and %d", addresses, moby, trainAddresses, trainMoby)
	}
	// Every year 1790-2011 has one address, except 1933 (none) and 1953 and
	// 1961 (outgoing and incoming president).
	for y := 1790; y <= 2011; y++ {
		want := 1
		switch y {
		case 1933:
			want = 0
		case 1953, 1961:
			want = 2
		}
		if perYear[y] != want {
			t.Errorf("train: %d addresses in %d, want %d", perYear[y], y, want)
		}
	}
	// Outgoing president first within a year.
	names := map[string]int{}
	for i, d := range docs {
		names[d.Name] = i
	}
	for _, pair := range [][2]string{
		{"sotu/1953_harry_s_truman_d", "sotu/1953_dwight_d_eisenhower_r"},
		{"sotu/1961_dwight_d_eisenhower_r", "sotu/1961_john_f_kennedy_d"},
	} {
		if names[pair[0]] >= names[pair[1]] {
			t.Errorf("train: %s should precede %s", pair[0], pair[1])
		}
	}
	first, last := docs[trainAddresses], docs[len(docs)-1]
	if first.Name != "moby_dick/contents" || last.Name != "moby_dick/epilogue" {
		t.Errorf("Moby Dick runs %s .. %s", first.Name, last.Name)
	}
	if !strings.HasPrefix(docs[trainAddresses+3].Text, "CHAPTER 1. Loomings.\n\nCall me Ishmael.") {
		t.Errorf("%s starts %q", docs[trainAddresses+3].Name, docs[trainAddresses+3].Text[:40])
	}
}

// The Brown corpus: its 500 samples in the corpus's file order, genres
// from its categories, text detokenised (no word/tag pairs left).
func TestBrown(t *testing.T) {
	docs, err := Brown()
	if err != nil {
		t.Fatal(err)
	}
	var n, words int
	genres := map[string]int{}
	for _, d := range docs {
		n += len(d.Text)
		words += len(strings.Fields(d.Text))
		parts := strings.Split(d.Name, "/")
		if len(parts) != 3 || parts[0] != "brown" || d.Year != 0 {
			t.Fatalf("document %q, year %d", d.Name, d.Year)
		}
		genres[parts[1]]++
		if strings.Contains(d.Text, "/nn ") || strings.Contains(d.Text, "``") {
			t.Fatalf("%s still holds tags or Brown's quotes: %.80q", d.Name, d.Text)
		}
	}
	if len(docs) != brownDocs || n != brownBytes || words != brownWords || len(genres) != 15 {
		t.Errorf("%d documents, %d bytes, %d words, %d genres; want %d, %d, %d, 15", len(docs), n, words, len(genres), brownDocs, brownBytes, brownWords)
	}
	if docs[0].Name != "brown/news/ca01" || !strings.HasPrefix(docs[0].Text, "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced \"no evidence\" that") {
		t.Errorf("first sample %s: %.100q", docs[0].Name, docs[0].Text)
	}
}

func TestTexts(t *testing.T) {
	seen := map[string]bool{}
	brown, err := Brown()
	if err != nil {
		t.Fatal(err)
	}
	for _, docs := range [][]Document{mustTrain(t), mustHeldOut(t), brown} {
		for _, d := range docs {
			if seen[d.Name] {
				t.Errorf("duplicate name %s", d.Name)
			}
			seen[d.Name] = true
			switch {
			case d.Text == "":
				t.Errorf("%s: empty text", d.Name)
			case !utf8.ValidString(d.Text):
				t.Errorf("%s: invalid UTF-8", d.Name)
			case strings.Contains(d.Text, "\r"):
				t.Errorf("%s: carriage return", d.Name)
			case strings.TrimSpace(d.Text) != d.Text:
				t.Errorf("%s: leading or trailing white space", d.Name)
			}
		}
	}
}

func TestCallsReturnCopies(t *testing.T) {
	a := mustHeldOut(t)
	a[0].Text = "changed"
	if b := mustHeldOut(t); b[0].Text == "changed" {
		t.Fatal("HeldOut returned shared storage")
	}
}

// TestEmbeddedSums checks the embedded files against corpus/SHA256SUMS.
func TestEmbeddedSums(t *testing.T) {
	sums, err := os.ReadFile("SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", line)
		}
		want[name] = sum
	}
	for _, name := range []string{trainFile, heldOutFile, brownFile} {
		b, err := dataFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if got := hex.EncodeToString(h[:]); got != want[name] {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %q", name, got, want[name])
		}
	}
}

func gz(s string) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte(s))
	w.Close()
	return buf.Bytes()
}

func TestParse(t *testing.T) {
	good := `{"name":"a","year":1,"text":"x"}` + "\n"
	docs, err := parse("ok", bytes.NewReader(gz(good+`{"name":"b","year":0,"text":"y\nz"}`)))
	if err != nil || len(docs) != 2 || docs[1] != (Document{Name: "b", Text: "y\nz"}) {
		t.Fatalf("parse = %+v, %v", docs, err)
	}
	for _, c := range []struct {
		data []byte
		want string
	}{
		{[]byte("this is not gzip data"), "corpus: f.gz: gzip: invalid header"},
		{gz(""), "no documents"},
		{gz(good + "\n" + good), "line 2: empty line"},
		{gz(good + `{"name":"b","year":1,"text":"x"`), "line 2: malformed JSON"},
		{gz(good + good + `{"name":"c","year":1,"text":""}`), `line 3: c: missing or empty "text"`},
		{gz(`{"year":1,"text":"x"}`), `line 1: missing or empty "name"`},
		{gz(`{"name":"a","text":"x"}`), `line 1: a: missing "year"`},
		{gz(`{"name":"a","year":1,"text":"x","extra":1}`), "line 1: malformed JSON"},
		{gz(`{"name":"a","year":1,"text":"x"} {}`), "line 1: unexpected data"},
		{gz("{\"name\":\"a\",\"year\":1,\"text\":\"\xff\"}"), "line 1: invalid UTF-8"},
		{gz(good)[:20], "corpus: f.gz: line 1: unexpected EOF"},
	} {
		_, err := parse("f.gz", bytes.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse(%q...): error %v, want it to contain %q", c.data[:min(len(c.data), 12)], err, c.want)
		}
	}
}
