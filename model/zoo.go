package model

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"

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
}

// LoadBase loads a shipped base model by name, or a checkpoint directory
// (with its tokenizer files) by path.
func LoadBase(nameOrDir string) (*Base, error) {
	fsys, dir, err := locate(nameOrDir)
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
	return &Base{Name: nameOrDir, Model: m, Tokenizer: tok}, nil
}

// locate finds a base model: a shipped name first, then a checkpoint
// directory.
func locate(nameOrDir string) (fs.FS, string, error) {
	dir := path.Join("zoo", nameOrDir)
	if _, err := fs.Stat(zoo, dir); err == nil {
		return zoo, dir, nil
	}
	if st, err := os.Stat(nameOrDir); err != nil || !st.IsDir() {
		return nil, "", fmt.Errorf("model: %q is neither a shipped model %v nor a checkpoint directory", nameOrDir, Zoo())
	}
	return os.DirFS(nameOrDir), ".", nil
}
