package tasks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyTea copies the example user task and its data into a fresh folder.
func copyTea(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"tea.yaml", "tea-train.jsonl", "tea-validation.csv", "tea-test.jsonl"} {
		b, err := os.ReadFile(filepath.Join("examples", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "tea.yaml")
}

func mustHash(t *testing.T, task string) string {
	t.Helper()
	h, err := ContentHash(task)
	if err != nil {
		t.Fatalf("ContentHash(%q): %v", task, err)
	}
	return h
}

func TestContentHashCoversConfigAndData(t *testing.T) {
	orig := mustHash(t, filepath.Join("examples", "tea.yaml"))
	if len(orig) != 16 {
		t.Fatalf("hash %q, want 16 hex characters", orig)
	}
	yml := copyTea(t)
	if h := mustHash(t, yml); h != orig {
		t.Fatalf("a copy elsewhere hashes %s, the original %s", h, orig)
	}
	if h := mustHash(t, yml); h != orig {
		t.Fatal("hash not stable")
	}
	dir := filepath.Dir(yml)
	edit := func(file, old, new string) {
		t.Helper()
		p := filepath.Join(dir, file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s has no %q", file, old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]string{orig: "original"}
	for _, e := range []struct{ file, old, new string }{
		{"tea-train.jsonl", `"stars": 5}`, `"stars": 1}`}, // one label in training data
		{"tea-validation.csv", "5", "1"},                  // a split in another format
		{"tea-test.jsonl", "o", "0"},
		{"tea.yaml", "max_chars: 200", "max_chars: 100"}, // the config
	} {
		edit(e.file, e.old, e.new)
		h := mustHash(t, yml)
		if prev, ok := seen[h]; ok {
			t.Fatalf("editing %s left the hash as after %s", e.file, prev)
		}
		seen[h] = e.file
	}
	// Every file ContentHash reads, Load reads: the two agree on what is
	// missing.
	if err := os.Remove(filepath.Join(dir, "tea-test.jsonl")); err != nil {
		t.Fatal(err)
	}
	_, herr := ContentHash(yml)
	_, lerr := Load(yml)
	if herr == nil || lerr == nil || herr.Error() != lerr.Error() {
		t.Fatalf("missing data file: ContentHash says %v, Load %v", herr, lerr)
	}
}

func TestContentHashBuiltinAndUnknown(t *testing.T) {
	seen := map[string]string{}
	for _, name := range Builtin() {
		h := mustHash(t, name)
		if other, dup := seen[h]; dup {
			t.Fatalf("%s and %s hash the same", name, other)
		}
		seen[h] = name
	}
	_, herr := ContentHash("nope")
	_, lerr := Load("nope")
	if herr == nil || lerr == nil || herr.Error() != lerr.Error() {
		t.Fatalf("unknown task: ContentHash says %v, Load %v", herr, lerr)
	}
	_, herr = ContentHash(filepath.Join(t.TempDir(), "absent.yaml"))
	if herr == nil {
		t.Fatal("a missing file hashed")
	}
}

func TestSplitSize(t *testing.T) {
	task, err := Load(filepath.Join("examples", "tea.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for split, want := range map[string]int{"train": 12, "validation": 4, "test": 6} {
		if n, err := task.SplitSize(split); err != nil || n != want {
			t.Errorf("SplitSize(%q) = %d, %v; want %d", split, n, err, want)
		}
	}
	if _, err := task.SplitSize("dev"); err == nil {
		t.Fatal("an unknown split has a size")
	}
	arith := mustLoad(t, "arith")
	if n, err := arith.SplitSize("train"); err != nil || n != 2000 {
		t.Fatalf("arith train split: %d, %v", n, err)
	}
}
