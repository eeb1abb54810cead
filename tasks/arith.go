package tasks

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A generator makes a task's data in code instead of reading files. It
// returns the records of each split under the task's text and answer
// fields. Generators register here, at init, and nowhere else.
type generatorFunc func(node *yaml.Node, file string) (map[string][]Problem, []string, error)

var generators = map[string]generatorFunc{
	"arith": generateArith,
}

func generatorNames() []string {
	var out []string
	for k := range generators {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ArithConfig sets the difficulty and size of the arith generator.
type ArithConfig struct {
	Name string `yaml:"name"`
	// Seed fixes every problem; the same config gives the same problems.
	Seed int64 `yaml:"seed"`
	// MinOps and MaxOps bound the number of arithmetic operations a
	// problem needs (1 to 4); each problem draws its count uniformly.
	MinOps int `yaml:"min_ops"`
	MaxOps int `yaml:"max_ops"`
	// MaxNumber is the largest starting amount or amount added/removed;
	// multipliers and divisors stay in 2..5, as in grade-school problems.
	MaxNumber int `yaml:"max_number"`
	// MaxValue bounds every intermediate result (default 10*MaxNumber),
	// which keeps answers a few tokens long.
	MaxValue int `yaml:"max_value"`
	// Sizes gives the number of problems per split.
	Sizes map[string]int `yaml:"sizes"`
}

// Problem is one generated word problem.
type Problem struct {
	Question string
	Answer   int
	// Steps is the computation the question describes, for checking.
	Steps []Step
}

// Step is one operation: Op is '=' for the starting amount, else one of
// + - * /, applied with N to the running amount.
type Step struct {
	Op byte
	N  int
}

func defaultArith() ArithConfig {
	return ArithConfig{MinOps: 1, MaxOps: 4, MaxNumber: 50}
}

func (c *ArithConfig) validate() (field string, err error) {
	if c.MaxValue == 0 {
		c.MaxValue = 10 * c.MaxNumber
	}
	switch {
	case c.MinOps < 1 || c.MinOps > 4:
		return "min_ops", fmt.Errorf("%d: want 1 to 4", c.MinOps)
	case c.MaxOps < c.MinOps || c.MaxOps > 4:
		return "max_ops", fmt.Errorf("%d: want min_ops (%d) to 4", c.MaxOps, c.MinOps)
	case c.MaxNumber < 5 || c.MaxNumber > 1_000_000:
		return "max_number", fmt.Errorf("%d: want 5 to 1000000", c.MaxNumber)
	case c.MaxValue < c.MaxNumber:
		return "max_value", fmt.Errorf("%d is below max_number (%d)", c.MaxValue, c.MaxNumber)
	case len(c.Sizes) == 0:
		return "sizes", errors.New("missing: give the number of problems per split, e.g. {train: 2000, test: 500}")
	}
	for _, need := range []string{"train", "test"} {
		if _, ok := c.Sizes[need]; !ok {
			return "sizes", fmt.Errorf("no %q split", need)
		}
	}
	for k, n := range c.Sizes {
		if n <= 0 || n > 1_000_000 {
			return "sizes." + k, fmt.Errorf("%d: want 1 to 1000000", n)
		}
	}
	return "", nil
}

func generateArith(node *yaml.Node, file string) (map[string][]Problem, []string, error) {
	cfg, err := arithConfig(node, file)
	if err != nil {
		return nil, nil, err
	}
	return GenerateArith(cfg)
}

// arithConfig reads and checks an arith generator's settings.
func arithConfig(node *yaml.Node, file string) (ArithConfig, error) {
	cfg := defaultArith()
	if err := decodeStrict(node, &cfg); err != nil {
		return cfg, errorf(file, node.Line, "generator", "%v", err)
	}
	if field, err := cfg.validate(); err != nil {
		return cfg, &Error{File: file, Line: node.Line, Field: "generator." + field, Err: err}
	}
	return cfg, nil
}

// splitOrder puts train, validation and test first, in that order.
func splitOrder(sizes map[string]int) []string {
	rank := map[string]int{"train": 0, "validation": 1, "test": 2}
	names := make([]string, 0, len(sizes))
	for k := range sizes {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, iok := rank[names[i]]
		rj, jok := rank[names[j]]
		if iok != jok {
			return iok
		}
		if iok {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

// GenerateArith makes the problems of every split in cfg.Sizes. Evaluation
// splits are made first, each from its own stream of the seed, and training
// problems that repeat an evaluation question are skipped; so the test set
// does not change when only the training size changes, and no test
// question is ever trained on.
func GenerateArith(cfg ArithConfig) (map[string][]Problem, []string, error) {
	if cfg.MaxValue == 0 {
		cfg.MaxValue = 10 * cfg.MaxNumber
	}
	if field, err := cfg.validate(); err != nil {
		return nil, nil, fmt.Errorf("tasks: arith: %s: %w", field, err)
	}
	names := splitOrder(cfg.Sizes)
	gen := append([]string(nil), names...)
	// Generate evaluation splits before train.
	sort.SliceStable(gen, func(i, j int) bool { return gen[i] != "train" && gen[j] == "train" })
	seen := map[string]bool{}
	out := map[string][]Problem{}
	for _, split := range gen {
		r := newRNG(cfg.Seed, "arith-"+split)
		want := cfg.Sizes[split]
		var ps []Problem
		for tries := 0; len(ps) < want; tries++ {
			if tries > 50*want+1000 {
				return nil, nil, fmt.Errorf("tasks: arith: could not make %d distinct %q problems: widen max_number or the number of operations", want, split)
			}
			p, ok := arithProblem(r, cfg, "")
			if !ok || seen[p.Question] {
				continue
			}
			seen[p.Question] = true
			ps = append(ps, p)
		}
		out[split] = ps
	}
	return out, names, nil
}

var (
	arithNames = []string{
		"Ava", "Ben", "Chloe", "Daniel", "Emma", "Farid", "Grace", "Hugo",
		"Isla", "Jamal", "Kira", "Leo", "Maya", "Noah", "Olivia", "Priya",
		"Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yusuf", "Zoe",
	}
	// Singular forms; the plural adds an s.
	arithObjects = []string{
		"apple", "marble", "sticker", "book", "pencil", "cookie",
		"shell", "card", "stamp", "coin", "orange", "balloon",
		"crayon", "egg", "button", "bead", "candle", "ticket",
		"plum", "toy car",
	}
	arithContainers = []string{"boxes", "bags", "jars", "baskets", "crates"}
)

// arithProblem draws one problem. The sentence patterns are those of
// GSM8K-style grade-school problems: a starting amount, then changes, with
// a switch of owner for "k times as many". Every number in the text is an
// operand, written in digits, in the order it is used; the tests rely on
// that to recompute answers from the text alone.
//
// A non-empty shape forces the operations (Shape of the problem), and the
// draw fails when one of them is not feasible; an empty shape draws them,
// from the same random stream as always, so generated splits never change.
func arithProblem(r *rng, cfg ArithConfig, shape string) (Problem, bool) {
	var ops int
	if shape == "" {
		ops = r.between(cfg.MinOps, cfg.MaxOps)
	} else {
		ops = len(shape) - 1
	}
	one := arithObjects[r.intn(len(arithObjects))]
	obj := one + "s"
	noun := func(n int) string {
		if n == 1 {
			return one
		}
		return obj
	}
	// count writes "1 apple" but "3 apples".
	count := func(n int) string { return strconv.Itoa(n) + " " + noun(n) }
	holder := r.intn(len(arithNames))
	other := func() int {
		o := r.intn(len(arithNames) - 1)
		if o >= holder {
			o++
		}
		return o
	}
	name := func(i int) string { return arithNames[i] }
	var sb strings.Builder
	var steps []Step
	var v int
	// Opening: a plain amount, or (as the first operation) a product.
	product := shape == "" && r.intn(3) == 0
	if len(shape) > 1 && shape[1] == '*' { // "=*" opens with a product or with "times as many"
		product = r.intn(2) == 0
	}
	if product {
		k := r.between(2, 9)
		maxEach := min(cfg.MaxNumber, cfg.MaxValue/k)
		if maxEach < 2 {
			return Problem{}, false
		}
		n := r.between(2, maxEach)
		cont := arithContainers[r.intn(len(arithContainers))]
		fmt.Fprintf(&sb, "%s has %d %s with %s in each.", name(holder), k, cont, count(n))
		steps = append(steps, Step{'=', k}, Step{'*', n})
		v = k * n
		ops--
	} else {
		v = r.between(2, cfg.MaxNumber)
		switch r.intn(3) {
		case 0:
			fmt.Fprintf(&sb, "%s has %s.", name(holder), count(v))
		case 1:
			fmt.Fprintf(&sb, "%s collected %s.", name(holder), count(v))
		default:
			fmt.Fprintf(&sb, "There are %s in %s's room.", count(v), name(holder))
		}
		steps = append(steps, Step{'=', v})
	}
	for ; ops > 0; ops-- {
		// Feasible operations keep every amount in 1..MaxValue and every
		// division exact.
		var choices []byte
		if v+1 <= cfg.MaxValue {
			choices = append(choices, '+')
		}
		if v >= 2 {
			choices = append(choices, '-')
		}
		if 2*v <= cfg.MaxValue {
			choices = append(choices, '*')
		}
		var divisors []int
		for d := 2; d <= 5; d++ {
			if v%d == 0 && v/d >= 1 {
				divisors = append(divisors, d)
			}
		}
		if len(divisors) > 0 {
			choices = append(choices, '/')
		}
		if len(choices) == 0 {
			return Problem{}, false
		}
		sb.WriteByte(' ')
		var op byte
		if shape == "" {
			op = choices[r.intn(len(choices))]
		} else if op = shape[len(steps)]; !bytes.ContainsRune(choices, rune(op)) {
			return Problem{}, false
		}
		switch op {
		case '+':
			n := r.between(1, min(cfg.MaxNumber, cfg.MaxValue-v))
			switch r.intn(3) {
			case 0:
				fmt.Fprintf(&sb, "%s gives %s %d more %s.", name(other()), name(holder), n, noun(n))
			case 1:
				fmt.Fprintf(&sb, "%s buys %d more %s.", name(holder), n, noun(n))
			default:
				fmt.Fprintf(&sb, "%s finds %d more %s.", name(holder), n, noun(n))
			}
			steps = append(steps, Step{'+', n})
			v += n
		case '-':
			n := r.between(1, min(cfg.MaxNumber, v-1))
			switch r.intn(3) {
			case 0:
				fmt.Fprintf(&sb, "%s gives %s to %s.", name(holder), count(n), name(other()))
			case 1:
				fmt.Fprintf(&sb, "%s sells %d of the %s.", name(holder), n, obj)
			default:
				fmt.Fprintf(&sb, "%s loses %s.", name(holder), count(n))
			}
			steps = append(steps, Step{'-', n})
			v -= n
		case '*':
			k := r.between(2, min(5, cfg.MaxValue/v))
			o := other()
			fmt.Fprintf(&sb, "%s has %d times as many %s as %s.", name(o), k, obj, name(holder))
			holder = o
			steps = append(steps, Step{'*', k})
			v *= k
		case '/':
			d := divisors[r.intn(len(divisors))]
			cont := arithContainers[r.intn(len(arithContainers))]
			fmt.Fprintf(&sb, "%s puts the %s into %d equal %s and keeps only one of them.", name(holder), obj, d, cont)
			steps = append(steps, Step{'/', d})
			v /= d
		}
	}
	fmt.Fprintf(&sb, " How many %s does %s have now?", obj, name(holder))
	return Problem{Question: sb.String(), Answer: v, Steps: steps}, true
}

// generate fills a generated task's splits.
func (t *Task) generate(c *config) error {
	for _, f := range t.tpl.fields() {
		if f != t.TextField {
			return errorf(c.file, c.lines["template"], "template", "placeholder {%s}: generator %q only provides {%s}", f, c.Generator.Name, t.TextField)
		}
	}
	problems, names, err := generators[c.Generator.Name](&c.Generator.Node, c.file)
	if err != nil {
		return err
	}
	if c.Generator.Name == "arith" { // kept for ArithLike
		cfg, _ := arithConfig(&c.Generator.Node, c.file)
		t.arith = &cfg
	}
	for _, split := range names {
		sd := &splitData{file: c.file}
		for i, p := range problems[split] {
			answer := strconv.Itoa(p.Answer)
			sd.records = append(sd.records, record{line: i + 1, fields: map[string]string{
				t.TextField:   p.Question,
				t.AnswerField: answer,
			}})
			sd.answers = append(sd.answers, NormaliseAnswer(answer))
			sd.ids = append(sd.ids, fmt.Sprintf("%s/%s/%d", t.Name, split, i))
		}
		t.splitNames = append(t.splitNames, split)
		t.splits[split] = sd
	}
	return nil
}
