package tasks

import (
	"slices"
	"testing"
)

// Make builds new examples exactly as the task's own, and refuses what it
// cannot build.
func TestMake(t *testing.T) {
	sentiment, err := Load("sentiment")
	if err != nil {
		t.Fatal(err)
	}
	train, err := sentiment.Split("train")
	if err != nil {
		t.Fatal(err)
	}
	ex := train[3]
	got, err := sentiment.Make(map[string]string{"text": ex.Text}, ex.Label, "", "new")
	if err != nil {
		t.Fatal(err)
	}
	ex.ID = "new"
	if got != ex {
		t.Errorf("Make = %+v, want %+v", got, ex)
	}
	spam, err := Load("spam")
	if err != nil {
		t.Fatal(err)
	}
	if f := spam.Fields(); !slices.Equal(f, []string{"subject", "text"}) {
		t.Errorf("spam's fields: %q", f)
	}
	if e, err := spam.Make(map[string]string{"subject": "Cheap", "text": "Buy now"}, 1, "", "x"); err != nil ||
		e.Prompt != "Subject: Cheap\nBody: Buy now\nLabel:" || e.Target != " spam" {
		t.Errorf("spam Make = %+v, %v", e, err)
	}
	for _, bad := range []struct {
		fields map[string]string
		label  int
	}{{map[string]string{"text": "no subject"}, 0}, {map[string]string{"subject": "s", "text": "  "}, 1},
		{map[string]string{"subject": "s", "text": "t"}, -1}, {map[string]string{"subject": "s", "text": "t"}, 2}} {
		if _, err := spam.Make(bad.fields, bad.label, "", "x"); err == nil {
			t.Errorf("Make(%q, %d) accepted", bad.fields, bad.label)
		}
	}
	arith, err := Load("arith")
	if err != nil {
		t.Fatal(err)
	}
	q := map[string]string{"question": "Ava has 3 apples. How many apples does Ava have now?"}
	if e, err := arith.Make(q, 5, " 3 ", "a"); err != nil || e.Answer != "3" || e.Label != -1 || e.Target != " 3\n" {
		t.Errorf("arith Make = %+v, %v", e, err)
	}
	if _, err := arith.Make(q, -1, " ", "a"); err == nil {
		t.Error("a generation example without an answer accepted")
	}
}
