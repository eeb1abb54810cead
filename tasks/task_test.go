package tasks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var (
	loadedMu sync.Mutex
	loaded   = map[string]*Task{}
)

// mustLoad loads a task once per test binary: the built-in data is the
// slowest thing the tests read.
func mustLoad(t testing.TB, name string) *Task {
	t.Helper()
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if task, ok := loaded[name]; ok {
		return task
	}
	task, err := Load(name)
	if err != nil {
		t.Fatalf("Load(%q): %v", name, err)
	}
	loaded[name] = task
	return task
}

func TestBuiltinNames(t *testing.T) {
	want := []string{"arith", "sentiment", "spam", "topic"}
	if diff := cmp.Diff(want, Builtin()); diff != "" {
		t.Errorf("Builtin() mismatch (-want +got):\n%s", diff)
	}
}

// TestBuiltinSplits pins every built-in split's size and label counts:
// a change here changes every result computed on the task.
func TestBuiltinSplits(t *testing.T) {
	type counts map[string]int
	tests := []struct {
		task   string
		splits map[string]counts
	}{
		{"sentiment", map[string]counts{
			"train":      {"great": 2275, "other": 1225},
			"validation": {"great": 325, "other": 175},
			"test":       {"great": 658, "other": 342},
		}},
		{"spam", map[string]counts{
			"train":      {"ham": 3067, "spam": 1279},
			"validation": {"ham": 409, "spam": 171},
			"test":       {"ham": 613, "spam": 256},
		}},
		{"topic", map[string]counts{
			"train": {"computers": 162, "education": 115, "food": 109, "kids": 81, "law": 94,
				"love": 89, "politics": 162, "science": 162, "sports": 68, "work": 162},
			"validation": {"computers": 25, "education": 18, "food": 17, "kids": 13, "law": 15,
				"love": 14, "politics": 25, "science": 25, "sports": 11, "work": 25},
			"test": {"computers": 63, "education": 45, "food": 42, "kids": 32, "law": 37,
				"love": 35, "politics": 63, "science": 63, "sports": 26, "work": 63},
		}},
		{"arith", map[string]counts{
			"train": {"": 2000}, "validation": {"": 200}, "test": {"": 500},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.task, func(t *testing.T) {
			task := mustLoad(t, tc.task)
			if diff := cmp.Diff([]string{"train", "validation", "test"}, task.Splits()); diff != "" {
				t.Errorf("Splits() (-want +got):\n%s", diff)
			}
			for split, want := range tc.splits {
				es, err := task.Split(split)
				if err != nil {
					t.Fatal(err)
				}
				got := counts{}
				for _, e := range es {
					if task.Kind == KindClassification {
						got[task.Classes[e.Label]]++
					} else {
						got[""]++
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: label counts (-want +got):\n%s", split, diff)
				}
				checkExamples(t, task, split, es)
			}
		})
	}
}

// checkExamples checks the promises Example makes to the model side.
func checkExamples(t *testing.T, task *Task, split string, es []Example) {
	t.Helper()
	for i, e := range es {
		where := fmt.Sprintf("%s %s[%d] (%s)", task.Name, split, i, e.ID)
		switch {
		case strings.HasSuffix(e.Prompt, " "):
			t.Fatalf("%s: prompt ends with a space: %q", where, e.Prompt)
		case !strings.Contains(e.Prompt, e.Text):
			t.Fatalf("%s: prompt does not hold the text", where)
		case task.MaxChars > 0 && utf8.RuneCountInString(e.Text) > task.MaxChars:
			t.Fatalf("%s: text has %d characters, over max_chars %d", where, utf8.RuneCountInString(e.Text), task.MaxChars)
		case !utf8.ValidString(e.Prompt):
			t.Fatalf("%s: prompt is not UTF-8", where)
		case len(e.Prompt) > 600:
			t.Fatalf("%s: prompt of %d bytes is too long for a 256-token context", where, len(e.Prompt))
		}
		if task.Kind == KindClassification {
			if e.Label < 0 || e.Label >= len(task.Labels) || e.Answer != task.Labels[e.Label] || e.Target != e.Answer {
				t.Fatalf("%s: label %d, answer %q, target %q", where, e.Label, e.Answer, e.Target)
			}
		} else if e.Label != -1 || e.Answer != NormaliseAnswer(e.Answer) || e.Target != task.AnswerPrefix+e.Answer+task.Stop {
			t.Fatalf("%s: label %d, answer %q, target %q", where, e.Label, e.Answer, e.Target)
		}
	}
}

func TestBuiltinSettings(t *testing.T) {
	tests := []struct {
		task         string
		kind         string
		labels       []string
		maxNewTokens int
		firstPrompt  string
	}{
		{"sentiment", KindClassification, []string{" great", " other"}, 0, "Review: "},
		{"spam", KindClassification, []string{" ham", " spam"}, 0, "Subject: "},
		{"topic", KindClassification, []string{" computers", " education", " food", " kids", " law",
			" love", " politics", " science", " sports", " work"}, 0, "Quote: "},
		{"arith", KindGeneration, nil, 8, "Question: "},
	}
	for _, tc := range tests {
		task := mustLoad(t, tc.task)
		if task.Kind != tc.kind || task.MaxNewTokens() != tc.maxNewTokens || !task.IsBuiltin {
			t.Errorf("%s: kind %q, MaxNewTokens %d, IsBuiltin %v", tc.task, task.Kind, task.MaxNewTokens(), task.IsBuiltin)
		}
		wantMetrics := []string{"accuracy", "macro_f1"}
		if tc.kind == KindGeneration {
			wantMetrics = []string{"exact_match"}
		}
		if diff := cmp.Diff(wantMetrics, task.Metrics()); diff != "" {
			t.Errorf("%s: metrics (-want +got):\n%s", tc.task, diff)
		}
		if diff := cmp.Diff(tc.labels, task.Labels); diff != "" {
			t.Errorf("%s: labels (-want +got):\n%s", tc.task, diff)
		}
		es, _ := task.Split("test")
		if !strings.HasPrefix(es[0].Prompt, tc.firstPrompt) {
			t.Errorf("%s: prompt %q does not start with %q", tc.task, es[0].Prompt, tc.firstPrompt)
		}
	}
}

func TestMaxCharsOverride(t *testing.T) {
	task, err := Load("sentiment") // own copy: MaxChars is changed below
	if err != nil {
		t.Fatal(err)
	}
	long, _ := task.Split("test")
	task.MaxChars = 60
	short, _ := task.Split("test")
	cut := 0
	for i := range short {
		if utf8.RuneCountInString(short[i].Text) > 60 {
			t.Fatalf("example %d: %d characters after MaxChars = 60", i, utf8.RuneCountInString(short[i].Text))
		}
		if !strings.HasPrefix(long[i].Text, short[i].Text) {
			t.Fatalf("example %d: %q is not a prefix of %q", i, short[i].Text, long[i].Text)
		}
		if short[i].Text != long[i].Text {
			cut++
		}
	}
	if cut == 0 {
		t.Error("no example was shortened")
	}
}

func TestUserTaskExample(t *testing.T) {
	task, err := Load(filepath.Join("examples", "tea.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if task.IsBuiltin || task.Name != "tea" {
		t.Errorf("IsBuiltin %v, Name %q", task.IsBuiltin, task.Name)
	}
	if diff := cmp.Diff([]string{"5", "1"}, task.Classes); diff != "" {
		t.Errorf("Classes (-want +got):\n%s", diff)
	}
	sizes := map[string]int{"train": 12, "validation": 4, "test": 6}
	for split, n := range sizes {
		es, err := task.Split(split)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != n {
			t.Errorf("%s: %d examples, want %d", split, len(es), n)
		}
		checkExamples(t, task, split, es)
	}
	val, _ := task.Split("validation")
	want := Example{
		Prompt: "Shop: Kettle Black\nReview: Smoky lapsang, generous pot, kind service.\nVerdict:",
		Label:  0, Answer: " good", Target: " good",
		Text: "Smoky lapsang, generous pot, kind service.", ID: "tea-validation.csv:2",
	}
	if diff := cmp.Diff(want, val[0]); diff != "" {
		t.Errorf("first validation example (-want +got):\n%s", diff)
	}
	train, err := task.Train(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := labelsOf(train); got[0]+got[1]+got[2]+got[3] != 2 {
		t.Errorf("Train(4) labels %v: want two of each", got)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short text", 0, "short text"},
		{"short text", 10, "short text"},
		{"short text", 9, "short"},
		{"short text", 6, "short"},
		{"short text", 5, "short"},
		{"short text", 4, "shor"}, // a single word over the limit is cut hard
		{"one two  three", 9, "one two"},
		{"héllo wörld", 8, "héllo"},
		{"ab", 1, "a"},
	}
	for _, tc := range tests {
		if got := Truncate(tc.in, tc.max); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		tpl     string
		want    string // filled with text=T, x=X
		wantErr string
	}{
		{"Q: {text}\nA:", "Q: T\nA:", ""},
		{"{x} {text} {{literal}}", "X T {literal}", ""},
		{"{text", "", "unclosed {"},
		{"text}", "", "unmatched }"},
		{"{te xt}", "", "bad placeholder"},
		{"{}", "", "bad placeholder"},
	}
	for _, tc := range tests {
		tpl, err := parseTemplate(tc.tpl)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseTemplate(%q) error %v, want %q", tc.tpl, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTemplate(%q): %v", tc.tpl, err)
			continue
		}
		if got := tpl.fill(map[string]string{"text": "T", "x": "X"}); got != tc.want {
			t.Errorf("fill(%q) = %q, want %q", tc.tpl, got, tc.want)
		}
	}
}

// TestBadInput checks that each kind of bad input is reported with its
// file, line and field.
func TestBadInput(t *testing.T) {
	const goodYAML = `name: t
splits:
  train: train.jsonl
  test: test.jsonl
template: "Text: {text}\nLabel:"
labels:
  pos: " pos"
  neg: " neg"
`
	const goodTrain = `{"text": "nice", "label": "pos"}
{"text": "bad", "label": "neg"}
`
	tests := []struct {
		name  string
		files map[string]string // file -> content; "task.yaml" defaults to goodYAML
		want  string            // error text; {dir} stands for the temp folder
	}{
		{"malformed JSONL", map[string]string{
			"test.jsonl": `{"text": "ok", "label": "pos"}` + "\n" + `{"text": "broken", "label": ` + "\n",
		}, `tasks: {dir}/test.jsonl:2: invalid JSON: unexpected end of line`},
		{"unknown label", map[string]string{
			"test.jsonl": "\n" + `{"text": "a", "label": "pos"}` + "\n" + `{"text": "b", "label": "foo"}`,
		}, `tasks: {dir}/test.jsonl:3: field "label": unknown label "foo" (want one of "pos", "neg")`},
		{"missing label", map[string]string{
			"test.jsonl": `{"text": "a"}`,
		}, `tasks: {dir}/test.jsonl:1: field "label": missing`},
		{"null text", map[string]string{
			"test.jsonl": `{"text": null, "label": "pos"}`,
		}, `tasks: {dir}/test.jsonl:1: field "text": missing`},
		{"text not a string", map[string]string{
			"test.jsonl": `{"text": ["a"], "label": "pos"}`,
		}, `tasks: {dir}/test.jsonl:1: field "text": want a string, number or bool, got an array`},
		{"empty text", map[string]string{
			"test.jsonl": `{"text": "  ", "label": "pos"}`,
		}, `tasks: {dir}/test.jsonl:1: field "text": empty text`},
		{"JSONL text not UTF-8", map[string]string{ // Latin-1 "café"
			"test.jsonl": `{"text": "ok", "label": "pos"}` + "\n" + "{\"text\": \"caf\xe9\", \"label\": \"pos\"}\n",
		}, `tasks: {dir}/test.jsonl:2: field "text": not valid UTF-8 (byte 0xe9)`},
		{"JSONL label not UTF-8", map[string]string{
			"test.jsonl": "{\"text\": \"ok\", \"label\": \"p\xffs\"}\n",
		}, `tasks: {dir}/test.jsonl:1: field "label": not valid UTF-8 (byte 0xff)`},
		{"JSONL unused field not UTF-8", map[string]string{
			"test.jsonl": "{\"note\": [\"\xc3\"], \"text\": \"ok\", \"label\": \"pos\"}\n",
		}, `tasks: {dir}/test.jsonl:1: field "note": not valid UTF-8 (byte 0xc3)`},
		{"JSONL key not UTF-8", map[string]string{
			"test.jsonl": "{\"text\": \"ok\", \"label\": \"pos\", \"n\xe9\": 1}\n",
		}, `tasks: {dir}/test.jsonl:1: not valid UTF-8 (byte 0xe9 at column 34)`},
		{"not an object", map[string]string{
			"test.jsonl": `["text", "pos"]`,
		}, `tasks: {dir}/test.jsonl:1: want a JSON object per line, got "[\"text\", \"pos\"]"`},
		{"empty split", map[string]string{
			"test.jsonl": "\n\n",
		}, `tasks: {dir}/test.jsonl: field "splits.test": split "test" has no examples`},
		{"missing data file", map[string]string{
			"test.jsonl": "",
			"task.yaml":  strings.Replace(goodYAML, "test: test.jsonl", "test: nowhere.jsonl", 1),
		}, `tasks: {dir}/task.yaml:4: field "splits.test": no such file or directory`},
		{"template without text", map[string]string{
			"task.yaml": strings.Replace(goodYAML, `Text: {text}`, `Text: {body}`, 1),
		}, `tasks: {dir}/task.yaml:5: field "template": no {text} placeholder for the text field`},
		{"template gives label away", map[string]string{
			"task.yaml": strings.Replace(goodYAML, `Text: {text}`, `{label} {text}`, 1),
		}, `tasks: {dir}/task.yaml:5: field "template": uses the label field {label}`},
		{"template double space", map[string]string{
			"task.yaml": strings.Replace(goodYAML, `Label:"`, `Label: "`, 1),
		}, `tasks: {dir}/task.yaml:5: field "template": ends with a space and verbalizer " pos" starts with one`},
		{"template unclosed brace", map[string]string{
			"task.yaml": strings.Replace(goodYAML, `Text: {text}`, `Text: {text} {oops`, 1),
		}, `tasks: {dir}/task.yaml:5: field "template": unclosed {`},
		{"template missing", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "template: \"Text: {text}\\nLabel:\"\n", "", 1),
		}, `tasks: {dir}/task.yaml: field "template": missing`},
		{"data_size too large", map[string]string{
			"task.yaml": goodYAML + "data_size: 3\n",
		}, `tasks: {dir}/task.yaml:9: field "data_size": 3 is larger than the train split (2 examples)`},
		{"data_size not a number", map[string]string{
			"task.yaml": goodYAML + "data_size: lots\n",
		}, `tasks: {dir}/task.yaml:9: field "data_size": want a positive number of examples or "all", got "lots"`},
		{"unknown YAML field", map[string]string{
			"task.yaml": goodYAML + "max_char: 10\n",
		}, `tasks: {dir}/task.yaml:9: field "max_char": unknown field`},
		{"one label", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "  neg: \" neg\"\n", "", 1),
		}, `tasks: {dir}/task.yaml:6: field "labels": a classification task needs at least two labels, got 1`},
		{"duplicate verbalizer", map[string]string{
			"task.yaml": strings.Replace(goodYAML, `neg: " neg"`, `neg: " pos"`, 1),
		}, `tasks: {dir}/task.yaml:8: field "labels": verbalizer " pos" used for two labels`},
		{"bad kind", map[string]string{
			"task.yaml": goodYAML + "kind: regression\n",
		}, `tasks: {dir}/task.yaml:9: field "kind": unknown kind "regression"`},
		{"negative max_chars", map[string]string{
			"task.yaml": goodYAML + "max_chars: -1\n",
		}, `tasks: {dir}/task.yaml:9: field "max_chars": -1 is negative`},
		{"YAML syntax", map[string]string{
			"task.yaml": goodYAML + "labels: [\n",
		}, `tasks: {dir}/task.yaml:9: did not find expected node content`},
		{"no test split", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "  test: test.jsonl\n", "", 1),
		}, `tasks: {dir}/task.yaml:2: field "splits": no "test" split`},
		{"malformed CSV", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "test.jsonl", "test.csv", 1),
			"test.csv":  "text,label\nfine,pos\n\"unterminated,neg\n",
		}, `tasks: {dir}/test.csv:3: malformed CSV at column `},
		{"CSV wrong field count", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "test.jsonl", "test.csv", 1),
			"test.csv":  "text,label\nfine,pos\nextra,neg,x\n",
		}, `tasks: {dir}/test.csv:3: malformed CSV: wrong number of fields (the header has 2)`},
		{"CSV unknown label", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "test.jsonl", "test.csv", 1),
			"test.csv":  "label,text\npos,fine\n\nneg,\"two\nlines\"\nfoo,bar\n",
		}, `tasks: {dir}/test.csv:6: field "label": unknown label "foo"`},
		{"CSV text not UTF-8", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "test.jsonl", "test.csv", 1),
			"test.csv":  "text,label\nfine,pos\ncaf\xe9,neg\n",
		}, `tasks: {dir}/test.csv:3: field "text": not valid UTF-8`},
		{"CSV missing column", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "test.jsonl", "test.csv", 1),
			"test.csv":  "text,class\nfine,pos\n",
		}, `tasks: {dir}/test.csv:1: field "label": no such column (columns: class, text)`},
		{"unknown extension", map[string]string{
			"task.yaml": strings.Replace(goodYAML, "test.jsonl", "test.txt", 1),
		}, `tasks: {dir}/task.yaml:4: field "splits.test": cannot tell the format of "test.txt"`},
		{"not gzip", map[string]string{
			"task.yaml":     strings.Replace(goodYAML, "test.jsonl", "test.jsonl.gz", 1),
			"test.jsonl.gz": goodTrain,
		}, `tasks: {dir}/test.jsonl.gz: not a gzip file`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"task.yaml": goodYAML, "train.jsonl": goodTrain, "test.jsonl": goodTrain}
			for f, c := range tc.files {
				files[f] = c
			}
			for f, c := range files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(filepath.Join(dir, "task.yaml"))
			want := strings.ReplaceAll(tc.want, "{dir}", dir)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error:\n got %v\nwant %s...", err, want)
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Errorf("%T is not a *tasks.Error", err)
			}
		})
	}
}

func TestUserGenerationTask(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"qa.yaml": "name: qa\nsplits: {train: qa.tsv, test: qa.tsv}\nanswer_field: a\ntext_field: q\n" +
			"template: \"Q: {q}\\nA:\"\nmax_new_tokens: 4\n",
		"qa.tsv": "q\ta\nTwo plus two?\t4\nCapital of France?\tParis.\n",
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	task, err := Load(filepath.Join(dir, "qa.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	es, _ := task.Split("test")
	want := []Example{
		{Prompt: "Q: Two plus two?\nA:", Label: -1, Answer: "4", Target: " 4\n", Text: "Two plus two?", ID: "qa.tsv:2"},
		{Prompt: "Q: Capital of France?\nA:", Label: -1, Answer: "paris", Target: " paris\n", Text: "Capital of France?", ID: "qa.tsv:3"},
	}
	if diff := cmp.Diff(want, es); diff != "" {
		t.Errorf("examples (-want +got):\n%s", diff)
	}
	if task.Kind != KindGeneration || task.MaxNewTokens() != 4 || task.Stop != "\n" || task.AnswerPrefix != " " {
		t.Errorf("kind %q, MaxNewTokens %d, stop %q, prefix %q", task.Kind, task.MaxNewTokens(), task.Stop, task.AnswerPrefix)
	}
	if got := ExactMatch([]string{" 4\nQ: next", "Paris"}, []string{es[0].Answer, es[1].Answer}); got != 1 {
		t.Errorf("ExactMatch = %v", got)
	}
}

func TestTrainDataSizeTooLarge(t *testing.T) {
	task := mustLoad(t, "topic")
	_, err := task.Train(1205, 1)
	want := `tasks: builtin/topic.yaml: field "data_size": 1205 is larger than the train split (1204 examples)`
	if err == nil || err.Error() != want {
		t.Errorf("Train(1205): %v, want %s", err, want)
	}
	if _, err := task.Split("dev"); err == nil || !strings.Contains(err.Error(), `no "dev" split`) {
		t.Errorf(`Split("dev"): %v`, err)
	}
}

func TestLoadUnknown(t *testing.T) {
	_, err := Load("nosuchtask")
	if err == nil || !strings.Contains(err.Error(), `unknown task "nosuchtask" (built-in: arith, sentiment, spam, topic`) {
		t.Errorf("Load(nosuchtask): %v", err)
	}
	_, err = Load("no/such/file.yaml")
	if err == nil || err.Error() != "tasks: no/such/file.yaml: no such file or directory" {
		t.Errorf("Load(missing file): %v", err)
	}
}

func TestParseDataSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"all", 0, false}, {"ALL", 0, false}, {"", 0, false}, {"64", 64, false},
		{"0", 0, true}, {"-3", 0, true}, {"1e3", 0, true}, {"lots", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseDataSize(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseDataSize(%q) = %d, %v", tc.in, got, err)
		}
	}
}
