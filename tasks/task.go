package tasks

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Example is one evaluation or training item.
type Example struct {
	// Prompt is the filled template, up to where the answer begins. It has
	// no trailing space: verbalizers and answers bring their own.
	Prompt string
	// Label indexes Task.Labels for classification; -1 for generation.
	Label int
	// Answer is, for generation, the reference answer in normalised form
	// (NormaliseAnswer); for classification, the verbalizer of Label.
	Answer string
	// Target is the continuation to train on: the verbalizer for
	// classification; AnswerPrefix + Answer + Stop for generation, so the
	// model also learns where to stop.
	Target string
	// Text is the example's text field after truncation to MaxChars.
	Text string
	// ID names the example's origin ("train.jsonl.gz:17", "arith/test/3"),
	// for error analysis and data augmentation.
	ID string
}

// Task is a loaded task: its settings and its data.
type Task struct {
	Name        string
	Description string
	Kind        string // KindClassification or KindGeneration
	// Labels holds the verbalizer continuations (" great", " other"), in
	// label-index order. The model scores each as a continuation of the
	// prompt and predicts the most likely. Empty for generation.
	Labels []string
	// Classes holds the label values as written in the data ("great"), in
	// the same order as Labels.
	Classes     []string
	Template    string
	TextField   string
	LabelField  string
	AnswerField string
	// MaxChars caps the text field, cut at a word boundary; 0 = no cap.
	// It may be lowered after Load (for a model with a short context):
	// Split and Train apply the value current at the call.
	MaxChars int
	// DataSize is the config's default training-set size (0 = all); pass
	// it to Train when the caller has no size of its own.
	DataSize int
	// AnswerPrefix goes between prompt and answer in generation targets
	// (usually " "); Stop ends a generated answer (usually "\n").
	AnswerPrefix string
	Stop         string
	Source       Source
	// Path is the config file: a user path, or "builtin/NAME.yaml".
	Path string
	// IsBuiltin is true for tasks shipped in the binary.
	IsBuiltin bool

	tpl          *template
	maxNewTokens int
	arith        *ArithConfig // a generated arith task's settings
	splitNames   []string
	splits       map[string]*splitData
}

type splitData struct {
	file    string
	records []record
	labels  []int    // classification: label index per record
	answers []string // generation: normalised answer per record
	ids     []string
}

//go:embed builtin/*.yaml
var builtinFS embed.FS

//go:embed data
var dataFS embed.FS

// Builtin returns the names of the built-in tasks, sorted.
func Builtin() []string {
	entries, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Load loads a task by built-in name ("spam") or by the path of a user YAML
// file. A user file's data paths are relative to the YAML file. Every split
// is read and checked here, so bad data fails at Load, not mid-sweep.
func Load(nameOrPath string) (*Task, error) {
	file, src, open, err := locate(nameOrPath)
	if err != nil {
		return nil, err
	}
	return loadFrom(file, src, open, file != nameOrPath)
}

// locate finds a task's config and how to open its data files, for Load
// and ContentHash: a built-in name first, then a path on disk whose data
// paths are relative to the YAML file.
func locate(nameOrPath string) (file string, src []byte, open opener, err error) {
	if !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".yaml") && !strings.HasSuffix(nameOrPath, ".yml") {
		file := "builtin/" + nameOrPath + ".yaml"
		src, err := fs.ReadFile(builtinFS, file)
		if err == nil {
			return file, src, func(p string) (io.ReadCloser, string, error) {
				name := path.Clean(path.Join("builtin", p))
				f, err := dataFS.Open(name)
				return f, name, err
			}, nil
		}
		if _, statErr := os.Stat(nameOrPath); statErr != nil {
			return "", nil, nil, fmt.Errorf("tasks: unknown task %q (built-in: %s; or give a path to a .yaml file)", nameOrPath, strings.Join(Builtin(), ", "))
		}
	}
	src, err = os.ReadFile(nameOrPath)
	if err != nil {
		return "", nil, nil, &Error{File: nameOrPath, Err: unwrapPathErr(err)}
	}
	dir := filepath.Dir(nameOrPath)
	return nameOrPath, src, func(p string) (io.ReadCloser, string, error) {
		name := filepath.FromSlash(p)
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		f, err := os.Open(name)
		return f, name, err
	}, nil
}

// LoadConfig loads a task from YAML bytes; data paths are resolved against
// dir. It is Load for callers that hold the config in memory.
func LoadConfig(file string, src []byte, dir string) (*Task, error) {
	return loadFrom(file, src, func(p string) (io.ReadCloser, string, error) {
		name := filepath.FromSlash(p)
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		f, err := os.Open(name)
		return f, name, err
	}, false)
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type opener func(p string) (rc io.ReadCloser, name string, err error)

func loadFrom(file string, src []byte, open opener, builtin bool) (*Task, error) {
	c, err := parseConfig(file, src)
	if err != nil {
		return nil, err
	}
	tpl, _ := parseTemplate(c.Template) // validated by parseConfig
	t := &Task{
		Name: c.Name, Description: c.Description, Kind: c.Kind,
		Template: c.Template, TextField: c.TextField, LabelField: c.LabelField,
		AnswerField: c.AnswerField, MaxChars: c.MaxChars, DataSize: c.DataSize,
		AnswerPrefix: c.AnswerPrefix, Stop: c.Stop, Source: c.Source,
		Path: file, IsBuiltin: builtin,
		tpl: tpl, maxNewTokens: c.MaxNewTokens, splits: map[string]*splitData{},
	}
	for _, l := range c.Labels {
		t.Labels = append(t.Labels, l.Verbalizer)
		t.Classes = append(t.Classes, l.Value)
	}
	if c.Generator != nil {
		if err := t.generate(c); err != nil {
			return nil, err
		}
	} else {
		for _, s := range c.Splits {
			if err := t.loadSplit(c, s, open); err != nil {
				return nil, err
			}
		}
	}
	if n := len(t.splits["train"].records); c.DataSize > n {
		return nil, errorf(file, c.lines["data_size"], "data_size", "%d is larger than the train split (%d examples)", c.DataSize, n)
	}
	return t, nil
}

func (t *Task) loadSplit(c *config, s splitSpec, open opener) error {
	format, _ := dataFormat(c.Format, s.Path) // validated by parseConfig
	rc, name, err := open(s.Path)
	if err != nil {
		return errorf(c.file, s.Line, "splits."+s.Name, "%v", unwrapPathErr(err))
	}
	defer rc.Close()
	r, closeZ, err := openData(name, rc)
	if err != nil {
		return err
	}
	need := t.tpl.fields()
	if t.Kind == KindClassification {
		need = append(need, t.LabelField)
	} else {
		need = append(need, t.AnswerField)
	}
	recs, err := readRecords(name, format, r, need)
	if err != nil {
		return err
	}
	if err := closeZ(); err != nil {
		return &Error{File: name, Err: err}
	}
	if len(recs) == 0 {
		return errorf(name, 0, "splits."+s.Name, "split %q has no examples", s.Name)
	}
	sd := &splitData{file: name, records: recs}
	base := path.Base(filepath.ToSlash(name))
	index := map[string]int{}
	for i, v := range t.Classes {
		index[v] = i
	}
	for _, rec := range recs {
		if strings.TrimSpace(rec.fields[t.TextField]) == "" {
			return errorf(name, rec.line, t.TextField, "empty text")
		}
		sd.ids = append(sd.ids, fmt.Sprintf("%s:%d", base, rec.line))
		if t.Kind == KindClassification {
			v := rec.fields[t.LabelField]
			i, ok := index[v]
			if !ok {
				return errorf(name, rec.line, t.LabelField, "unknown label %q (want one of %s)", v, quoteList(t.Classes))
			}
			sd.labels = append(sd.labels, i)
		} else {
			a := NormaliseAnswer(rec.fields[t.AnswerField])
			if a == "" {
				return errorf(name, rec.line, t.AnswerField, "empty answer")
			}
			sd.answers = append(sd.answers, a)
		}
	}
	t.splitNames = append(t.splitNames, s.Name)
	t.splits[s.Name] = sd
	return nil
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// Splits returns the task's split names in config order.
func (t *Task) Splits() []string { return append([]string(nil), t.splitNames...) }

// Split returns every example of a split ("train", "validation", "test"),
// in file order.
func (t *Task) Split(name string) ([]Example, error) {
	sd, ok := t.splits[name]
	if !ok {
		return nil, fmt.Errorf("tasks: %s: no %q split (have %s)", t.Name, name, strings.Join(t.splitNames, ", "))
	}
	out := make([]Example, len(sd.records))
	for i := range sd.records {
		out[i] = t.example(sd, i)
	}
	return out, nil
}

func (t *Task) example(sd *splitData, i int) Example {
	label, answer := -1, ""
	if t.Kind == KindClassification {
		label = sd.labels[i]
	} else {
		answer = sd.answers[i]
	}
	return t.build(sd.records[i].fields, label, answer, sd.ids[i])
}

// build fills the template from a record's fields, the text field cut to
// MaxChars; label (classification) or answer (generation, normalised)
// gives the target.
func (t *Task) build(vals map[string]string, label int, answer, id string) Example {
	text := Truncate(vals[t.TextField], t.MaxChars)
	if text != vals[t.TextField] {
		vals = maps.Clone(vals)
		vals[t.TextField] = text
	}
	e := Example{Prompt: t.tpl.fill(vals), Text: text, ID: id, Label: -1}
	if t.Kind == KindClassification {
		e.Label = label
		e.Answer = t.Labels[e.Label]
		e.Target = e.Answer
	} else {
		e.Answer = answer
		e.Target = t.AnswerPrefix + e.Answer + t.Stop
	}
	return e
}

// Fields are the template's placeholders, the text field among them:
// what a new example must give.
func (t *Task) Fields() []string { return t.tpl.fields() }

// Make builds a new example of the task from its fields (every
// placeholder of the template; the text field must not be blank) and,
// for classification, a label index (answer is ignored), or, for
// generation, an answer (normalised here; label is ignored): what a
// data-augmentation teacher writes. id names its origin.
func (t *Task) Make(fields map[string]string, label int, answer, id string) (Example, error) {
	for _, f := range t.tpl.fields() {
		if _, ok := fields[f]; !ok {
			return Example{}, fmt.Errorf("tasks: %s: a new example lacks the field %q", t.Name, f)
		}
	}
	if strings.TrimSpace(fields[t.TextField]) == "" {
		return Example{}, fmt.Errorf("tasks: %s: a new example needs a text (field %q)", t.Name, t.TextField)
	}
	if t.Kind == KindClassification {
		if label < 0 || label >= len(t.Labels) {
			return Example{}, fmt.Errorf("tasks: %s: label %d out of range (have %d labels)", t.Name, label, len(t.Labels))
		}
	} else if answer = NormaliseAnswer(answer); answer == "" {
		return Example{}, fmt.Errorf("tasks: %s: a new example needs an answer", t.Name)
	}
	return t.build(fields, label, answer, id), nil
}

// MaxNewTokens is the decoding budget for a generation task (from the
// config's max_new_tokens); 0 for classification, which decodes nothing.
func (t *Task) MaxNewTokens() int {
	if t.Kind != KindGeneration {
		return 0
	}
	return t.maxNewTokens
}

// SplitLabels returns the gold label indices of a split without building
// prompts (cheap, for metrics and baselines); nil for generation.
func (t *Task) SplitLabels(name string) ([]int, error) {
	sd, ok := t.splits[name]
	if !ok {
		return nil, fmt.Errorf("tasks: %s: no %q split", t.Name, name)
	}
	return append([]int(nil), sd.labels...), nil
}
