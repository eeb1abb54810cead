package model

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/model/tokenizer"
)

// The zoo holds the base models this project pre-trains and ships, each a
// directory with config.json, model.safetensors, the tokenizer's vocab.json
// and merges.txt, and a model card (README.md).
//
//go:embed zoo
var zoo embed.FS

// Zoo lists the shipped base models.
func Zoo() []string {
	entries, _ := fs.ReadDir(zoo, "zoo")
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// Base is a base model with its tokenizer.
type Base struct {
	Name      string
	Model     *Model
	Tokenizer *tokenizer.Tokenizer
	// Commit is the hub commit of a model found in the Hugging Face cache
	// (the snapshot's folder name); empty for shipped models and
	// directories.
	Commit string
}

// LoadBase loads a shipped base model by name, a checkpoint directory
// (with its tokenizer files) by path, or a hub name (org/name[@revision])
// from the local Hugging Face cache (FindSnapshot).
func LoadBase(nameOrDir string) (*Base, error) {
	fsys, dir, commit, err := locate(nameOrDir)
	if err != nil {
		return nil, err
	}
	m, err := LoadFS(fsys, dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.LoadFS(fsys, dir)
	if err != nil {
		return nil, err
	}
	// Checkpoints often pad the embedding past the tokenizer (Qwen2.5:
	// 151,665 tokens, 151,936 rows); a token without a row is an error.
	if tok.VocabSize() > m.Config.Vocab {
		return nil, fmt.Errorf("model: %s: tokenizer has %d tokens, the model only %d", nameOrDir, tok.VocabSize(), m.Config.Vocab)
	}
	return &Base{Name: nameOrDir, Model: m, Tokenizer: tok, Commit: commit}, nil
}

// locate finds a base model: a shipped name first, then a checkpoint
// directory, then a hub name in the local cache (with its commit).
func locate(nameOrDir string) (fsys fs.FS, dir, commit string, err error) {
	dir = path.Join("zoo", nameOrDir)
	if _, err := fs.Stat(zoo, dir); err == nil && nameOrDir != "" && !strings.Contains(nameOrDir, "/") {
		return zoo, dir, "", nil
	}
	if st, err := os.Stat(nameOrDir); err == nil && st.IsDir() {
		return os.DirFS(nameOrDir), ".", "", nil
	}
	if _, _, ok := ParseHubName(nameOrDir); ok {
		s, err := FindSnapshot(nameOrDir)
		if err != nil {
			return nil, "", "", err
		}
		return os.DirFS(s.Dir), ".", s.Commit, nil
	}
	return nil, "", "", fmt.Errorf("model: %q is neither a shipped model %v, a checkpoint directory, nor a hub name (org/name[@revision]) in the local Hugging Face cache", nameOrDir, Zoo())
}
