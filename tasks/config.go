package tasks

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Task kinds.
const (
	KindClassification = "classification"
	KindGeneration     = "generation"
)

// Source records where a task's data came from. It is informational: reports
// show it, the loader does not use it.
type Source struct {
	Name    string `yaml:"name" json:"name,omitempty"`
	Package string `yaml:"package" json:"package,omitempty"`
	Version string `yaml:"version" json:"version,omitempty"`
	Licence string `yaml:"licence" json:"licence,omitempty"`
	URL     string `yaml:"url" json:"url,omitempty"`
}

// config is the YAML file as written, before data is loaded. Fields are
// decoded one key at a time (parseConfig) so that every error can name the
// key and its line.
type config struct {
	file string // the path used in error messages

	Name         string
	Description  string
	Kind         string
	Source       Source
	Splits       []splitSpec
	Format       string
	TextField    string
	LabelField   string
	AnswerField  string
	MaxChars     int
	Template     string
	Labels       []labelSpec
	AnswerPrefix string
	Stop         string
	MaxNewTokens int
	DataSize     int // 0 = all
	Generator    *generatorSpec

	lines map[string]int // key -> line, for errors found after parsing
}

type splitSpec struct {
	Name string
	Path string
	Line int
}

type labelSpec struct {
	Value      string
	Verbalizer string
	Line       int
}

type generatorSpec struct {
	Name string
	Node yaml.Node // the whole generator mapping, decoded by the generator
	Line int
}

// knownKeys lists the accepted top-level keys; anything else is an error,
// because a misspelt key (say "max_char") would otherwise be silently
// ignored and change an experiment without anyone noticing.
var knownKeys = map[string]bool{
	"name": true, "description": true, "kind": true, "source": true,
	"splits": true, "format": true, "text_field": true, "label_field": true,
	"answer_field": true, "max_chars": true, "template": true, "labels": true,
	"answer_prefix": true, "stop": true, "max_new_tokens": true,
	"data_size": true, "generator": true,
}

// parseConfig parses and validates a task YAML file. It does not touch the
// data files.
func parseConfig(file string, src []byte) (*config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, &Error{File: file, Line: yamlErrLine(err), Err: cleanYAMLErr(err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errorf(file, 0, "", "want a YAML mapping of task settings")
	}
	root := doc.Content[0]
	c := &config{file: file, lines: map[string]int{}}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if !knownKeys[key] {
			return nil, errorf(file, k.Line, key, "unknown field (known: %s)", strings.Join(sortedKeys(knownKeys), ", "))
		}
		if _, dup := c.lines[key]; dup {
			return nil, errorf(file, k.Line, key, "given twice")
		}
		c.lines[key] = k.Line
		if err := c.decodeKey(key, v); err != nil {
			var te *Error
			if errors.As(err, &te) {
				return nil, te
			}
			return nil, &Error{File: file, Line: v.Line, Field: key, Err: cleanYAMLErr(err)}
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *config) decodeKey(key string, v *yaml.Node) error {
	str := func(dst *string) error {
		if v.Kind != yaml.ScalarNode {
			return errors.New("want a string")
		}
		return v.Decode(dst)
	}
	switch key {
	case "name":
		return str(&c.Name)
	case "description":
		return str(&c.Description)
	case "kind":
		return str(&c.Kind)
	case "format":
		return str(&c.Format)
	case "text_field":
		return str(&c.TextField)
	case "label_field":
		return str(&c.LabelField)
	case "answer_field":
		return str(&c.AnswerField)
	case "template":
		return str(&c.Template)
	case "answer_prefix":
		return str(&c.AnswerPrefix)
	case "stop":
		return str(&c.Stop)
	case "source":
		if v.Kind != yaml.MappingNode {
			return errors.New("want a mapping (name, package, version, licence, url)")
		}
		return decodeStrict(v, &c.Source)
	case "max_chars":
		n, err := intScalar(v)
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("%d is negative (0 means no limit)", n)
		}
		c.MaxChars = n
	case "max_new_tokens":
		n, err := intScalar(v)
		if err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("%d: want a positive number", n)
		}
		c.MaxNewTokens = n
	case "data_size":
		if v.Kind != yaml.ScalarNode {
			return errors.New(`want a number or "all"`)
		}
		n, err := ParseDataSize(v.Value)
		if err != nil {
			return err
		}
		c.DataSize = n
	case "splits":
		if v.Kind != yaml.MappingNode {
			return errors.New("want a mapping of split name to data file")
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, p := v.Content[i], v.Content[i+1]
			field := "splits." + k.Value
			if p.Kind != yaml.ScalarNode || p.Value == "" {
				return errorf(c.file, p.Line, field, "want a file path")
			}
			for _, s := range c.Splits {
				if s.Name == k.Value {
					return errorf(c.file, k.Line, field, "given twice")
				}
			}
			c.Splits = append(c.Splits, splitSpec{Name: k.Value, Path: p.Value, Line: p.Line})
		}
	case "labels":
		// A mapping keeps the YAML order, which fixes the label indices.
		if v.Kind != yaml.MappingNode {
			return errors.New(`want a mapping of label value to verbalizer, e.g. {great: " great"}`)
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, p := v.Content[i], v.Content[i+1]
			if k.Kind != yaml.ScalarNode || p.Kind != yaml.ScalarNode {
				return errorf(c.file, k.Line, "labels", "want label: verbalizer pairs of strings")
			}
			c.Labels = append(c.Labels, labelSpec{Value: k.Value, Verbalizer: p.Value, Line: k.Line})
		}
	case "generator":
		if v.Kind != yaml.MappingNode {
			return errors.New("want a mapping with at least a name")
		}
		g := &generatorSpec{Node: *v, Line: v.Line}
		for i := 0; i+1 < len(v.Content); i += 2 {
			if v.Content[i].Value == "name" {
				g.Name = v.Content[i+1].Value
			}
		}
		c.Generator = g
	}
	return nil
}

func (c *config) validate() error {
	bad := func(field, format string, args ...any) error {
		return errorf(c.file, c.lines[field], field, format, args...)
	}
	if c.Name == "" {
		return errorf(c.file, 0, "name", "missing")
	}
	if c.Kind == "" {
		if c.Generator != nil || c.AnswerField != "" {
			c.Kind = KindGeneration
		} else {
			c.Kind = KindClassification
		}
	}
	if c.TextField == "" {
		c.TextField = "text"
	}
	switch c.Kind {
	case KindClassification:
		if c.LabelField == "" {
			c.LabelField = "label"
		}
		if len(c.Labels) < 2 {
			return bad("labels", "a classification task needs at least two labels, got %d", len(c.Labels))
		}
		values, verbs := map[string]bool{}, map[string]bool{}
		for _, l := range c.Labels {
			if l.Verbalizer == "" || strings.TrimSpace(l.Verbalizer) == "" {
				return errorf(c.file, l.Line, "labels", "label %q has an empty verbalizer", l.Value)
			}
			if values[l.Value] {
				return errorf(c.file, l.Line, "labels", "label %q given twice", l.Value)
			}
			if verbs[l.Verbalizer] {
				return errorf(c.file, l.Line, "labels", "verbalizer %q used for two labels", l.Verbalizer)
			}
			values[l.Value], verbs[l.Verbalizer] = true, true
		}
		if c.AnswerField != "" || c.Generator != nil {
			return bad("kind", "a classification task takes labels, not answer_field or generator")
		}
	case KindGeneration:
		if len(c.Labels) > 0 {
			return bad("labels", "a generation task has no labels")
		}
		if c.AnswerField == "" {
			c.AnswerField = "answer"
		}
		if _, set := c.lines["answer_prefix"]; !set {
			c.AnswerPrefix = " " // like the verbalizers: the answer is a new word
		}
		if c.Stop == "" {
			c.Stop = "\n"
		}
		if c.MaxNewTokens == 0 {
			c.MaxNewTokens = 16
		}
	default:
		return bad("kind", "unknown kind %q (want %q or %q)", c.Kind, KindClassification, KindGeneration)
	}
	if c.Template == "" {
		return errorf(c.file, c.lines["template"], "template", "missing")
	}
	tpl, err := parseTemplate(c.Template)
	if err != nil {
		return bad("template", "%v", err)
	}
	if !tpl.uses(c.TextField) {
		return bad("template", "no {%s} placeholder for the text field", c.TextField)
	}
	if c.Kind == KindClassification {
		if tpl.uses(c.LabelField) {
			return bad("template", "uses the label field {%s}: the prompt would give the answer away", c.LabelField)
		}
		// The continuation is scored right after the prompt; a template that
		// ends in a space followed by a verbalizer that starts with one
		// would put two spaces there, a string the model never saw in
		// training text.
		if strings.HasSuffix(c.Template, " ") {
			for _, l := range c.Labels {
				if strings.HasPrefix(l.Verbalizer, " ") {
					return bad("template", "ends with a space and verbalizer %q starts with one", l.Verbalizer)
				}
			}
		}
	} else if tpl.uses(c.AnswerField) {
		return bad("template", "uses the answer field {%s}: the prompt would give the answer away", c.AnswerField)
	}
	switch c.Format {
	case "", "jsonl", "csv", "tsv":
	default:
		return bad("format", "unknown format %q (want jsonl, csv or tsv)", c.Format)
	}
	if c.Generator != nil {
		if len(c.Splits) > 0 {
			return bad("splits", "a generated task takes no data files")
		}
		if _, ok := generators[c.Generator.Name]; !ok {
			return errorf(c.file, c.Generator.Line, "generator.name", "unknown generator %q (known: %s)", c.Generator.Name, strings.Join(generatorNames(), ", "))
		}
		return nil
	}
	if len(c.Splits) == 0 {
		return errorf(c.file, c.lines["splits"], "splits", "missing: give at least train and test data files")
	}
	for _, need := range []string{"train", "test"} {
		found := false
		for _, s := range c.Splits {
			found = found || s.Name == need
		}
		if !found {
			return bad("splits", "no %q split", need)
		}
	}
	for _, s := range c.Splits {
		if _, err := dataFormat(c.Format, s.Path); err != nil {
			return errorf(c.file, s.Line, "splits."+s.Name, "%v", err)
		}
		if strings.Contains(s.Path, "\x00") {
			return errorf(c.file, s.Line, "splits."+s.Name, "bad file path")
		}
	}
	return nil
}

// dataFormat picks the reader for a data file: the explicit format, or the
// file's extension with an optional .gz.
func dataFormat(explicit, file string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	ext := path.Ext(strings.TrimSuffix(strings.ToLower(file), ".gz"))
	switch ext {
	case ".jsonl", ".ndjson", ".json":
		return "jsonl", nil
	case ".csv":
		return "csv", nil
	case ".tsv":
		return "tsv", nil
	}
	return "", fmt.Errorf("cannot tell the format of %q from its extension: name it .jsonl, .csv or .tsv (optionally .gz) or set format", file)
}

// ParseDataSize reads a data-size setting as written in a task or sweep
// file: a positive number of training examples, or "all" (returned as 0).
func ParseDataSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "all") || s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf(`want a positive number of examples or "all", got %q`, s)
	}
	return n, nil
}

func intScalar(v *yaml.Node) (int, error) {
	if v.Kind != yaml.ScalarNode {
		return 0, errors.New("want a number")
	}
	n, err := strconv.Atoi(strings.TrimSpace(v.Value))
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %q", v.Value)
	}
	return n, nil
}

// decodeStrict decodes a mapping node and rejects unknown keys.
func decodeStrict(v *yaml.Node, dst any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		// Line numbers of the re-encoded node are relative; report the
		// node's own line instead (done by the caller) and keep the text.
		return errors.New(stripYAMLLine(err.Error()))
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// yamlErrLine digs the line number out of a yaml.v3 syntax error, whose
// text is its only carrier ("yaml: line 3: ...").
func yamlErrLine(err error) int {
	s := err.Error()
	i := strings.Index(s, "line ")
	if i < 0 {
		return 0
	}
	j := i + len("line ")
	k := j
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		k++
	}
	n, _ := strconv.Atoi(s[j:k])
	return n
}

func cleanYAMLErr(err error) error {
	return errors.New(stripYAMLLine(err.Error()))
}

func stripYAMLLine(s string) string {
	s = strings.TrimPrefix(s, "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "line ") {
		if i := strings.Index(s, ": "); i >= 0 {
			s = s[i+2:]
		}
	}
	return s
}
