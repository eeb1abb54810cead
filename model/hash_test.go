package model

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// copyTiny copies the shipped tiny model into a fresh directory.
func copyTiny(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := fs.ReadDir(zoo, "zoo/tiny")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(zoo, path.Join("zoo/tiny", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestContentHashCoversConfigWeightsAndTokenizer(t *testing.T) {
	tiny, err := ContentHash("tiny")
	if err != nil || len(tiny) != 16 {
		t.Fatalf("ContentHash(tiny) = %q, %v", tiny, err)
	}
	dir := copyTiny(t)
	hash := func() string {
		t.Helper()
		h, err := ContentHash(dir)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := hash(); h != tiny {
		t.Fatalf("a copy of tiny hashes %s, tiny %s", h, tiny)
	}
	// The model card is not the model.
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h := hash(); h != tiny {
		t.Fatal("editing the model card changed the hash")
	}
	seen := map[string]string{tiny: "tiny"}
	for _, f := range []string{ConfigFile, WeightsFile, "vocab.json", "merges.txt"} {
		p := filepath.Join(dir, f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-2] ^= 1 // one bit, near the end
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		h := hash()
		if prev, ok := seen[h]; ok {
			t.Fatalf("editing %s left the hash as after %s", f, prev)
		}
		seen[h] = f
	}
	if _, err := ContentHash("huge"); err == nil || !strings.Contains(err.Error(), "neither a shipped model") {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestContentHashShardedWeights(t *testing.T) {
	dir := copyTiny(t)
	if err := os.Remove(filepath.Join(dir, WeightsFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := ContentHash(dir); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Fatalf("no weights: %v", err)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ShardIndexFile, `{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}`)
	write("model-00001-of-00002.safetensors", "one")
	if _, err := ContentHash(dir); err == nil || !strings.Contains(err.Error(), "model-00002-of-00002.safetensors") {
		t.Fatalf("missing shard: %v", err)
	}
	write("model-00002-of-00002.safetensors", "two")
	before, err := ContentHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	write("model-00002-of-00002.safetensors", "2")
	if after, err := ContentHash(dir); err != nil || after == before {
		t.Fatalf("editing a shard: %s → %s, %v", before, after, err)
	}
	write(ShardIndexFile, `{"weight_map": {"a": "../model.safetensors"}}`)
	if _, err := ContentHash(dir); err == nil {
		t.Fatal("a shard outside the directory was accepted")
	}
}
