package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/model/tokenizer"
)

// The Hugging Face hub cache, read offline: a model named "org/name" or
// "org/name@revision" is the snapshot huggingface_hub downloaded into
// <cache>/models--org--name/snapshots/<commit>/, the revision (default
// "main") read from refs/<revision> unless it is the commit itself.
// Nothing is ever downloaded.

// hubName is a hub repository id (org/name, as the hub spells them) with an
// optional @revision.
var hubName = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._-]*)(?:@([A-Za-z0-9._/-]+))?$`)

var commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// HubCaches lists the directories searched for hub names, in order:
// HF_HUB_CACHE (or its older name HUGGINGFACE_HUB_CACHE), HF_HOME/hub,
// then huggingface_hub's default, $XDG_CACHE_HOME/huggingface/hub or
// ~/.cache/huggingface/hub.
func HubCaches() []string {
	var dirs []string
	add := func(d string) {
		if d == "" {
			return
		}
		d = filepath.Clean(d)
		for _, have := range dirs {
			if have == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	add(os.Getenv("HF_HUB_CACHE"))
	add(os.Getenv("HUGGINGFACE_HUB_CACHE"))
	if h := os.Getenv("HF_HOME"); h != "" {
		add(filepath.Join(h, "hub"))
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		add(filepath.Join(x, "huggingface", "hub"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, ".cache", "huggingface", "hub"))
	}
	return dirs
}

// Snapshot is a hub model found in a local cache.
type Snapshot struct {
	Repo     string // org/name
	Revision string // as asked for ("main" when none was)
	Commit   string // the snapshot's commit
	Dir      string // its folder
}

// ParseHubName splits "org/name[@revision]"; ok is false for anything else.
func ParseHubName(s string) (repo, revision string, ok bool) {
	m := hubName.FindStringSubmatch(s)
	if m == nil || strings.Contains(m[3], "..") || m[1] == "." || m[2] == "." || strings.Contains(m[1]+m[2], "..") {
		return "", "", false
	}
	rev := m[3]
	if rev == "" {
		rev = "main"
	}
	return m[1] + "/" + m[2], rev, true
}

// repoFolder is the cache folder of a model repository.
func repoFolder(repo string) string { return "models--" + strings.ReplaceAll(repo, "/", "--") }

// FindSnapshot resolves a hub name in the local caches (HubCaches). Its
// error says every place it looked and how to provide the model.
func FindSnapshot(name string) (*Snapshot, error) {
	repo, rev, ok := ParseHubName(name)
	if !ok {
		return nil, fmt.Errorf("model: %q is not a hub name (org/name or org/name@revision)", name)
	}
	var looked []string
	for _, cache := range HubCaches() {
		root := filepath.Join(cache, repoFolder(repo))
		s, where, err := snapshotIn(root, repo, rev)
		if err != nil {
			return nil, err
		}
		if s != nil {
			return s, nil
		}
		looked = append(looked, where)
	}
	return nil, fmt.Errorf("model: %q is not in the local Hugging Face cache (looked for %s); nothing is downloaded: "+
		"fetch it where there is network (huggingface-cli download %s) into a cache named by HF_HUB_CACHE or HF_HOME, "+
		"or give the model's folder (config.json, weights, tokenizer) as a path", name, strings.Join(looked, ", "), repo)
}

// snapshotIn looks for revision rev of repo under a repository folder of
// one cache: a nil snapshot, with the path it looked for, when it is not
// there; an error when the cache is there but broken.
func snapshotIn(root, repo, rev string) (*Snapshot, string, error) {
	commit := rev
	if !commitHash.MatchString(rev) {
		ref := filepath.Join(root, "refs", filepath.FromSlash(rev))
		raw, err := os.ReadFile(ref)
		if err != nil {
			return nil, ref, nil
		}
		commit = strings.TrimSpace(string(raw))
		if !commitHash.MatchString(commit) {
			return nil, "", fmt.Errorf("model: %s: %q is not a commit hash", ref, commit)
		}
	}
	dir := filepath.Join(root, "snapshots", commit)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if commit != rev { // a ref naming a snapshot that is gone: say so
			return nil, "", fmt.Errorf("model: %s names commit %s, but %s is missing", filepath.Join(root, "refs", rev), commit, dir)
		}
		return nil, dir, nil
	}
	return &Snapshot{Repo: repo, Revision: rev, Commit: commit, Dir: dir}, "", nil
}

// CachedModel is one model of a hub cache and whether it loads.
type CachedModel struct {
	Snapshot
	Config Config
	Params int   // from the weights files' headers
	Err    error // why it does not load; nil: it does
}

// Name is how a spec names it: org/name for main, org/name@revision for
// another ref.
func (c CachedModel) Name() string {
	if c.Revision == "main" {
		return c.Repo
	}
	return c.Repo + "@" + c.Revision
}

// CachedModels lists the models of the local hub caches under each of
// their refs (main first), each checked as LoadBase would check it
// (config, weights files, tokenizer) without reading the weights.
func CachedModels() []CachedModel {
	var out []CachedModel
	seen := map[string]bool{}
	for _, cache := range HubCaches() {
		entries, err := os.ReadDir(cache)
		if err != nil {
			continue
		}
		for _, e := range entries {
			parts := strings.Split(strings.TrimPrefix(e.Name(), "models--"), "--")
			if !e.IsDir() || !strings.HasPrefix(e.Name(), "models--") || len(parts) != 2 {
				continue
			}
			repo := parts[0] + "/" + parts[1]
			root := filepath.Join(cache, e.Name())
			for _, rev := range refs(root) {
				s, _, err := snapshotIn(root, repo, rev)
				if s == nil && err == nil {
					continue
				}
				c := CachedModel{Err: err}
				if s != nil {
					c.Snapshot = *s
					c.Config, c.Params, c.Err = inspect(s.Dir)
				} else {
					c.Snapshot = Snapshot{Repo: repo, Revision: rev}
				}
				if !seen[c.Name()] { // an earlier cache shadows a later one
					seen[c.Name()] = true
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// refs lists a cached repository's refs, main first.
func refs(root string) []string {
	var names []string
	base := filepath.Join(root, "refs")
	_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(base, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "main") != (names[j] == "main") {
			return names[i] == "main"
		}
		return names[i] < names[j]
	})
	return names
}

// inspect checks a checkpoint folder as LoadBase would, short of reading
// its weights: the config builds, the weights files are there, and the
// tokenizer loads and fits the vocabulary. Params is summed from the
// safetensors headers.
func inspect(dir string) (Config, int, error) {
	fsys := os.DirFS(dir)
	raw, err := fs.ReadFile(fsys, ConfigFile)
	if err != nil {
		return Config{}, 0, fmt.Errorf("model: %w", err)
	}
	cfg, err := parseConfig(filepath.Join(dir, ConfigFile), raw)
	if err != nil {
		return Config{}, 0, err
	}
	files, err := weightFiles(fsys, ".")
	if err != nil {
		return cfg, 0, fmt.Errorf("model: %s: %w", dir, err)
	}
	n := 0
	for _, f := range files {
		if f == ShardIndexFile {
			continue
		}
		k, err := headerParams(filepath.Join(dir, f))
		if err != nil {
			return cfg, 0, err
		}
		n += k
	}
	tok, err := tokenizer.LoadFS(fsys, ".")
	if err != nil {
		return cfg, n, err
	}
	if tok.VocabSize() > cfg.Vocab {
		return cfg, n, fmt.Errorf("model: %s: tokenizer has %d tokens, the model only %d", dir, tok.VocabSize(), cfg.Vocab)
	}
	return cfg, n, nil
}

// headerParams counts the elements of a safetensors file's tensors from
// its header alone (an 8-byte length, then JSON).
func headerParams(file string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	var size [8]byte
	if _, err := io.ReadFull(f, size[:]); err != nil {
		return 0, fmt.Errorf("model: %s: %w", file, err)
	}
	n := binary.LittleEndian.Uint64(size[:])
	if n > 100<<20 {
		return 0, fmt.Errorf("model: %s: header of %d bytes is not a safetensors header", file, n)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(f, raw); err != nil {
		return 0, fmt.Errorf("model: %s: %w", file, err)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw, &header); err != nil {
		return 0, fmt.Errorf("model: %s: header: %w", file, err)
	}
	total := 0
	for name, v := range header {
		if name == "__metadata__" {
			continue
		}
		var t struct {
			Shape []int `json:"shape"`
		}
		if err := json.Unmarshal(v, &t); err != nil {
			return 0, fmt.Errorf("model: %s: tensor %q: %w", file, name, err)
		}
		k := 1
		for _, s := range t.Shape {
			k *= s
		}
		if !ignoredTensor(name) {
			total += k
		}
	}
	return total, nil
}
