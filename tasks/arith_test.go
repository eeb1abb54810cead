package tasks

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var numberRE = regexp.MustCompile(`\d+`)

// solveFromText recomputes a problem's answer from its text alone, by the
// verb of each sentence, independently of the generator's bookkeeping.
// It returns the answer and the number of operations.
func solveFromText(t *testing.T, q string) (answer, ops int) {
	t.Helper()
	sentences := strings.SplitAfter(q, ". ")
	last := sentences[len(sentences)-1]
	i := strings.LastIndex(last, "How many")
	if i < 0 {
		t.Fatalf("no question in %q", q)
	}
	if last = last[:i]; last == "" {
		sentences = sentences[:len(sentences)-1]
	} else {
		sentences[len(sentences)-1] = last
	}
	v := 0
	for i, s := range sentences {
		nums := numberRE.FindAllString(s, -1)
		var n []int
		for _, x := range nums {
			k, _ := strconv.Atoi(x)
			n = append(n, k)
		}
		switch {
		case i == 0 && strings.Contains(s, "in each") && len(n) == 2:
			v = n[0] * n[1]
			ops++
		case i == 0 && len(n) == 1:
			v = n[0]
		case strings.Contains(s, " more ") && len(n) == 1:
			v += n[0]
			ops++
		case (strings.Contains(s, " to ") || strings.Contains(s, "sells") || strings.Contains(s, "loses")) && len(n) == 1:
			v -= n[0]
			ops++
		case strings.Contains(s, "times as many") && len(n) == 1:
			v *= n[0]
			ops++
		case strings.Contains(s, " equal ") && len(n) == 1:
			if v%n[0] != 0 {
				t.Fatalf("inexact division in %q", q)
			}
			v /= n[0]
			ops++
		default:
			t.Fatalf("cannot read sentence %q of %q", s, q)
		}
		if v < 1 {
			t.Fatalf("amount %d after %q in %q", v, s, q)
		}
	}
	if !strings.HasSuffix(q, " have now?") {
		t.Fatalf("no question at the end of %q", q)
	}
	return v, ops
}

func TestArithAnswersCorrect(t *testing.T) {
	task := mustLoad(t, "arith")
	seen := map[string]string{}
	opsSeen := map[int]int{}
	for _, split := range task.Splits() {
		es, _ := task.Split(split)
		for _, e := range es {
			q := strings.TrimSuffix(strings.TrimPrefix(e.Prompt, "Question: "), "\nAnswer:")
			if q == e.Prompt || q != e.Text {
				t.Fatalf("prompt %q does not follow the template", e.Prompt)
			}
			want, ops := solveFromText(t, q)
			if e.Answer != strconv.Itoa(want) {
				t.Fatalf("%s: answer %s, recomputed %d: %q", e.ID, e.Answer, want, q)
			}
			if want > 500 {
				t.Fatalf("%s: answer %d over max_value", e.ID, want)
			}
			if ops < 1 || ops > 4 {
				t.Fatalf("%s: %d operations", e.ID, ops)
			}
			opsSeen[ops]++
			if other, dup := seen[q]; dup {
				t.Fatalf("question in both %s and %s: %q", other, e.ID, q)
			}
			seen[q] = e.ID
		}
	}
	for ops := 1; ops <= 4; ops++ {
		if opsSeen[ops] < 200 {
			t.Errorf("only %d problems with %d operations", opsSeen[ops], ops)
		}
	}
}

func TestArithDeterministic(t *testing.T) {
	cfg := ArithConfig{Seed: 3, MinOps: 2, MaxOps: 3, MaxNumber: 20, Sizes: map[string]int{"train": 50, "test": 20}}
	a, names, err := GenerateArith(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"train", "test"}, names); diff != "" {
		t.Errorf("split names (-want +got):\n%s", diff)
	}
	b, _, _ := GenerateArith(cfg)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different problems:\n%s", diff)
	}
	for _, p := range a["train"] {
		got, ops := solveFromText(t, p.Question)
		if got != p.Answer || ops < 2 || ops > 3 {
			t.Fatalf("%q: answer %d, recomputed %d, %d ops", p.Question, p.Answer, got, ops)
		}
		// The recorded steps agree with the text too.
		v := 0
		for _, s := range p.Steps {
			switch s.Op {
			case '=':
				v = s.N
			case '+':
				v += s.N
			case '-':
				v -= s.N
			case '*':
				v *= s.N
			case '/':
				v /= s.N
			}
		}
		if v != p.Answer {
			t.Fatalf("%q: steps give %d, answer %d", p.Question, v, p.Answer)
		}
	}
	// The test split does not depend on the training size.
	cfg2 := cfg
	cfg2.Sizes = map[string]int{"train": 10, "test": 20}
	c, _, _ := GenerateArith(cfg2)
	if diff := cmp.Diff(a["test"], c["test"]); diff != "" {
		t.Errorf("test split changed with the training size:\n%s", diff)
	}
	cfg.Seed = 4
	d, _, _ := GenerateArith(cfg)
	if cmp.Equal(a["test"], d["test"]) {
		t.Error("seeds 3 and 4 give the same test problems")
	}
}

func TestArithConfigErrors(t *testing.T) {
	tests := []struct {
		gen  string
		want string
	}{
		{"max_ops: 5", `field "generator.max_ops": 5: want min_ops (1) to 4`},
		{"min_ops: 0", `field "generator.min_ops": 0: want 1 to 4`},
		{"max_number: 2", `field "generator.max_number": 2: want 5 to 1000000`},
		{"colour: red", `field "generator": field colour not found in type tasks.ArithConfig`},
	}
	for _, tc := range tests {
		src := "name: a\ngenerator:\n  name: arith\n  sizes: {train: 5, test: 5}\n  " + tc.gen + "\ntemplate: \"Q: {text}\\nA:\"\n"
		_, err := LoadConfig("a.yaml", []byte(src), ".")
		want := "tasks: a.yaml:3: " + tc.want
		if err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", tc.gen, err, want)
		}
	}
}
