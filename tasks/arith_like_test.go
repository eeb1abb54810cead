package tasks

import (
	"strconv"
	"strings"
	"testing"
)

// ArithShape recovers every generated problem's operations from its text
// alone, and ArithLike writes new problems of the same shape with correct
// answers and new surface forms.
func TestArithShapeAndLike(t *testing.T) {
	cfg := ArithConfig{MinOps: 1, MaxOps: 4, MaxNumber: 50, MaxValue: 500, Seed: 7, Sizes: map[string]int{"train": 1500, "test": 10}}
	problems, _, err := GenerateArith(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems["train"] {
		var want strings.Builder
		for _, s := range p.Steps {
			want.WriteByte(s.Op)
		}
		got, err := ArithShape(p.Question)
		if err != nil || got != want.String() {
			t.Fatalf("ArithShape(%q) = %q, %v; want %q", p.Question, got, err, want.String())
		}
	}
	if _, err := ArithShape("Ava has 3 apples. Ava eats 2 apples. How many apples does Ava have now?"); err == nil {
		t.Error("a sentence the generator never writes was accepted")
	}

	task, err := Load("arith")
	if err != nil {
		t.Fatal(err)
	}
	train, err := task.Split("train")
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range train[:40] {
		shape, _ := ArithShape(ex.Text)
		like, err := task.ArithLike(ex, 3, 1)
		if err != nil || len(like) != 3 {
			t.Fatalf("ArithLike(%q) = %d examples, %v", ex.Text, len(like), err)
		}
		again, _ := task.ArithLike(ex, 3, 1)
		for i, l := range like {
			if got, _ := ArithShape(l.Text); got != shape {
				t.Errorf("%q has shape %q, want %q (from %q)", l.Text, got, shape, ex.Text)
			}
			if l.Text == ex.Text || l.Prompt != "Question: "+l.Text+"\nAnswer:" || l.Target != " "+l.Answer+"\n" || l.Label != -1 {
				t.Errorf("new example %+v of %q", l, ex.Text)
			}
			if n, err := strconv.Atoi(l.Answer); err != nil || n != evalArith(t, l.Text) {
				t.Errorf("%q: answer %q, want %d", l.Text, l.Answer, evalArith(t, l.Text))
			}
			if again[i] != l {
				t.Errorf("the same seed gave %q, then %q", l.Text, again[i].Text)
			}
		}
	}
	if sentiment, err := Load("sentiment"); err != nil {
		t.Fatal(err)
	} else if _, err := sentiment.ArithLike(train[0], 1, 1); err == nil {
		t.Error("ArithLike on a task arith did not generate")
	}
}

// evalArith recomputes a question's answer from its text: its shape's
// operators applied to its numbers, in order.
func evalArith(t *testing.T, q string) int {
	shape, err := ArithShape(q)
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	for _, w := range strings.Fields(q) {
		if n, err := strconv.Atoi(strings.Trim(w, ".")); err == nil {
			nums = append(nums, n)
		}
	}
	if len(nums) != len(shape) {
		t.Fatalf("%q: %d numbers for shape %q", q, len(nums), shape)
	}
	v := 0
	for i, op := range []byte(shape) {
		switch op {
		case '=':
			v = nums[i]
		case '+':
			v += nums[i]
		case '-':
			v -= nums[i]
		case '*':
			v *= nums[i]
		case '/':
			v /= nums[i]
		}
	}
	return v
}
