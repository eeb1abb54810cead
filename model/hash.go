package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"sort"

	"github.com/peftbench/peftbench/model/tokenizer"
)

// ShardIndexFile lists the shards of a checkpoint whose weights are split
// over several safetensors files, as Hugging Face writes it.
const ShardIndexFile = "model.safetensors.index.json"

// ContentHash is a hash of what a base model is made of, found as LoadBase
// finds it (a shipped name, a checkpoint directory, a hub name in the
// local cache): config.json, the
// weights (model.safetensors, or the shard index and every shard it
// names) and the tokenizer's files (tokenizer.Files). It is the hex
// SHA-256, shortened to 16 characters, of one line per file: its name and
// the SHA-256 of its bytes. The directory's place does not enter it, so a
// copy of a checkpoint hashes the same, and re-training or editing any of
// its files changes it.
//
// Sweeps put it in every trial's spec (trial.Spec.ModelHash), so that a
// checkpoint overwritten in place gives its trials new ids instead of
// resuming stale results.
func ContentHash(nameOrDir string) (string, error) {
	fsys, dir, _, err := locate(nameOrDir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	add := func(name string) error {
		f, err := fsys.Open(path.Join(dir, name))
		if err != nil {
			return fmt.Errorf("model: %s: %w", nameOrDir, err)
		}
		defer f.Close()
		fh := sha256.New()
		if _, err := io.Copy(fh, f); err != nil {
			return fmt.Errorf("model: %s: %w", nameOrDir, err)
		}
		writeFileHash(h, name, fh)
		return nil
	}
	if err := add(ConfigFile); err != nil {
		return "", err
	}
	weights, err := weightFiles(fsys, dir)
	if err != nil {
		return "", fmt.Errorf("model: %s: %w", nameOrDir, err)
	}
	for _, name := range append(weights, tokenizer.Files(fsys, dir)...) {
		if err := add(name); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

func writeFileHash(h hash.Hash, name string, file hash.Hash) {
	fmt.Fprintf(h, "%s %x\n", name, file.Sum(nil))
}

// weightFiles names the files holding a checkpoint's weights:
// model.safetensors, or else the shard index and its shards in name order.
func weightFiles(fsys fs.FS, dir string) ([]string, error) {
	if _, err := fs.Stat(fsys, path.Join(dir, WeightsFile)); err == nil {
		return []string{WeightsFile}, nil
	}
	raw, err := fs.ReadFile(fsys, path.Join(dir, ShardIndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s or %s", WeightsFile, ShardIndexFile)
	}
	if err != nil {
		return nil, err
	}
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, fmt.Errorf("%s: %w", ShardIndexFile, err)
	}
	seen := map[string]bool{}
	var shards []string
	for _, f := range index.WeightMap {
		if f != path.Base(f) || f == "." || f == ".." {
			return nil, fmt.Errorf("%s: shard %q is not a file in the checkpoint directory", ShardIndexFile, f)
		}
		if !seen[f] {
			seen[f] = true
			shards = append(shards, f)
		}
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("%s: no shards in weight_map", ShardIndexFile)
	}
	sort.Strings(shards)
	return append([]string{ShardIndexFile}, shards...), nil
}
