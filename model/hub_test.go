package model

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cacheModel lays the files of dir out as huggingface_hub does under
// cache: blobs named by their hash, a snapshot of relative symlinks to
// them, and the ref naming the snapshot's commit.
func cacheModel(t *testing.T, cache, repo, ref, commit, dir string) string {
	t.Helper()
	root := filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
	snap := filepath.Join(root, "snapshots", commit)
	for _, d := range []string{filepath.Join(root, "blobs"), snap, filepath.Join(root, "refs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		blob := fmt.Sprintf("%x", sha256.Sum256(b))
		if err := os.WriteFile(filepath.Join(root, "blobs", blob), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", blob), filepath.Join(snap, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if ref != "" {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, "refs", ref)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "refs", ref), []byte(commit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

// isolateHub points every cache variable into a fresh directory, so that
// the machine's own cache never enters a test.
func isolateHub(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HF_HOME", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_HUB_CACHE", "")
	return home
}

const (
	commitA = "0123456789abcdef0123456789abcdef01234567"
	commitB = "fedcba9876543210fedcba9876543210fedcba98"
)

func TestHubNamesResolveInTheLocalCache(t *testing.T) {
	isolateHub(t)
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	tiny := copyTiny(t)
	cacheModel(t, cache, "peft-org/tiny-lm", "main", commitA, tiny)
	cacheModel(t, cache, "peft-org/tiny-lm", "pr/1", commitB, tiny)
	want, err := ContentHash("tiny")
	if err != nil {
		t.Fatal(err)
	}
	for name, commit := range map[string]string{
		"peft-org/tiny-lm":            commitA,
		"peft-org/tiny-lm@main":       commitA,
		"peft-org/tiny-lm@pr/1":       commitB,
		"peft-org/tiny-lm@" + commitB: commitB,
		"peft-org/tiny-lm@" + commitA: commitA,
	} {
		b, err := LoadBase(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b.Commit != commit || b.Name != name {
			t.Errorf("%s: commit %q name %q, want %q", name, b.Commit, b.Name, commit)
		}
		h, err := ContentHash(name)
		if err != nil || h != want {
			t.Errorf("%s: content hash %q, %v; the shipped tiny's is %q", name, h, err, want)
		}
	}
	shipped, err := LoadBase("tiny")
	if err != nil || shipped.Commit != "" {
		t.Fatalf("shipped tiny: commit %q, %v", shipped.Commit, err)
	}
}

func TestHubCacheLocations(t *testing.T) {
	tiny := copyTiny(t)
	for _, env := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME"} {
		t.Run(env, func(t *testing.T) {
			home := isolateHub(t)
			dir := t.TempDir()
			cache := dir
			switch env {
			case "HF_HOME":
				cache = filepath.Join(dir, "hub")
			case "XDG_CACHE_HOME":
				cache = filepath.Join(dir, "huggingface", "hub")
			case "HOME":
				dir, cache = home, filepath.Join(home, ".cache", "huggingface", "hub")
			}
			t.Setenv(env, dir)
			cacheModel(t, cache, "a/b", "main", commitA, tiny)
			b, err := LoadBase("a/b")
			if err != nil || b.Commit != commitA {
				t.Fatalf("a/b via %s: %v", env, err)
			}
		})
	}
}

func TestHubNameErrors(t *testing.T) {
	isolateHub(t)
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	tiny := copyTiny(t)
	cacheModel(t, cache, "a/b", "main", commitA, tiny)
	// A ref whose snapshot was deleted.
	root := filepath.Join(cache, "models--a--gone")
	if err := os.MkdirAll(filepath.Join(root, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "refs", "main"), []byte(commitB+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"a/missing":      {filepath.Join(cache, "models--a--missing", "refs", "main"), "HF_HUB_CACHE", "huggingface-cli download a/missing", "folder"},
		"a/b@v2":         {filepath.Join(cache, "models--a--b", "refs", "v2")},
		"a/b@" + commitB: {filepath.Join(cache, "models--a--b", "snapshots", commitB)},
		"a/gone":         {commitB, "is missing"},
		"no-such-name":   {"neither a shipped model", "hub name"},
	} {
		_, err := LoadBase(name)
		if err == nil {
			t.Fatalf("%s loaded", name)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", name, err, w)
			}
		}
	}
	// A directory of that name wins over the cache: paths keep working.
	work := t.TempDir()
	t.Chdir(work)
	if err := os.MkdirAll("a", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(tiny, filepath.Join("a", "missing")); err != nil {
		t.Fatal(err)
	}
	if b, err := LoadBase("a/missing"); err != nil || b.Commit != "" {
		t.Fatalf("directory a/missing: %v", err)
	}
}

func TestCachedModelsListsWhatLoads(t *testing.T) {
	isolateHub(t)
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	tiny := copyTiny(t)
	cacheModel(t, cache, "a/tiny", "main", commitA, tiny)
	cacheModel(t, cache, "a/tiny", "v1", commitB, tiny)
	broken := copyTiny(t)
	if err := os.WriteFile(filepath.Join(broken, ConfigFile), []byte(`{"architectures": ["BertModel"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheModel(t, cache, "b/bert", "main", commitA, broken)
	if err := os.MkdirAll(filepath.Join(cache, "datasets--x--y"), 0o755); err != nil {
		t.Fatal(err)
	}
	shipped, err := LoadBase("tiny")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]CachedModel{}
	for _, c := range CachedModels() {
		got[c.Name()] = c
	}
	if len(got) != 3 {
		t.Fatalf("listed %v, want a/tiny, a/tiny@v1, b/bert", got)
	}
	for _, n := range []string{"a/tiny", "a/tiny@v1"} {
		c := got[n]
		if c.Err != nil || c.Params != shipped.Model.NumParams() || c.Config != shipped.Model.Config {
			t.Errorf("%s: %+v; want %d parameters and tiny's config", n, c, shipped.Model.NumParams())
		}
	}
	if c := got["b/bert"]; c.Err == nil || !strings.Contains(c.Err.Error(), "BertModel") {
		t.Errorf("b/bert: error %v, want the unsupported architecture", c.Err)
	}
}
