// Package corpus provides the pre-training corpus: 233 State of the Union
// addresses (1790-2021) and Moby Dick, all public domain, shipped
// gzip-compressed in data/ and embedded in the binary.
//
// The training split holds the addresses from 1790 to 2011 in chronological
// order followed by the sections of Moby Dick in book order; the held-out
// split holds the ten addresses of 2012-2021. See README.md for provenance,
// processing and figures, and build.sh for how data/ is regenerated.
package corpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"
)

// Document is one text of the corpus.
type Document struct {
	// Name identifies the document: "sotu/<year>_<president>_<party>" for an
	// address (the source file name, e.g. "sotu/1861_abraham_lincoln_r"), or
	// "moby_dick/<section>" for Moby Dick (e.g. "moby_dick/chapter_1").
	Name string
	// Year is the year of an address, or 0 for Moby Dick.
	Year int
	// Text is the document text: UTF-8, line endings "\n", no leading or
	// trailing white space.
	Text string
}

//go:embed data/*.gz
var dataFS embed.FS

const (
	trainFile   = "data/train.jsonl.gz"
	heldOutFile = "data/heldout.jsonl.gz"
	brownFile   = "data/brown.jsonl.gz"
)

var (
	loadTrain   = sync.OnceValues(func() ([]Document, error) { return load(trainFile) })
	loadHeldOut = sync.OnceValues(func() ([]Document, error) { return load(heldOutFile) })
	loadBrown   = sync.OnceValues(func() ([]Document, error) { return load(brownFile) })
)

// Train returns the training documents: the addresses of 1790-2011 in
// chronological order, then the sections of Moby Dick in book order. The
// data is decoded once; each call returns a fresh slice.
func Train() ([]Document, error) {
	docs, err := loadTrain()
	return clone(docs), err
}

// HeldOut returns the held-out documents: the addresses of 2012-2021 in
// chronological order. The data is decoded once; each call returns a fresh
// slice.
func HeldOut() ([]Document, error) {
	docs, err := loadHeldOut()
	return clone(docs), err
}

// Brown returns the Brown corpus (Francis and Kučera, 1964, 1979): 500
// samples of about 2,000 words of American English published in 1961, in
// 15 genres from press reportage and reviews to fiction, named
// brown/<genre>/<file>, year 0. It is an optional pre-training source
// (train.PretrainConfig.Sources), not part of Train.
func Brown() ([]Document, error) {
	docs, err := loadBrown()
	return clone(docs), err
}

func clone(docs []Document) []Document {
	if docs == nil {
		return nil
	}
	return append([]Document(nil), docs...)
}

func load(name string) ([]Document, error) {
	b, err := dataFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", name, err)
	}
	return parse(name, bytes.NewReader(b))
}

// record is the on-disk form of a Document, one JSON object per line.
type record struct {
	Name *string `json:"name"`
	Year *int    `json:"year"`
	Text *string `json:"text"`
}

// parse decodes a gzip-compressed JSON Lines stream; name is used in errors.
func parse(name string, r io.Reader) ([]Document, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", name, err)
	}
	br := bufio.NewReaderSize(zr, 1<<16)
	var docs []Document
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("corpus: %s: line %d: %w", name, line, err)
		}
		if len(b) == 0 && errors.Is(err, io.EOF) {
			break
		}
		doc, perr := parseLine(b)
		if perr != nil {
			return nil, fmt.Errorf("corpus: %s: line %d: %w", name, line, perr)
		}
		docs = append(docs, doc)
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", name, err)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("corpus: %s: no documents", name)
	}
	return docs, nil
}

func parseLine(b []byte) (Document, error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(bytes.TrimSpace(b)) == 0 {
		return Document{}, errors.New("empty line")
	}
	if !utf8.Valid(b) {
		return Document{}, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rec record
	if err := dec.Decode(&rec); err != nil {
		return Document{}, fmt.Errorf("malformed JSON: %w", err)
	}
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return Document{}, errors.New("unexpected data after the JSON object")
	}
	switch {
	case rec.Name == nil || *rec.Name == "":
		return Document{}, errors.New(`missing or empty "name"`)
	case rec.Year == nil:
		return Document{}, fmt.Errorf("%s: missing \"year\"", *rec.Name)
	case *rec.Year < 0:
		return Document{}, fmt.Errorf("%s: negative year %d", *rec.Name, *rec.Year)
	case rec.Text == nil || *rec.Text == "":
		return Document{}, fmt.Errorf("%s: missing or empty \"text\"", *rec.Name)
	}
	return Document{Name: *rec.Name, Year: *rec.Year, Text: *rec.Text}, nil
}
