package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// ContentHash is a hash of what a task is made of: its YAML config and
// every data file the config names, found as Load finds them (a built-in
// name or a user YAML path). It is the hex SHA-256, shortened to 16
// characters, of one line per input: "config" or "split NAME", then the
// SHA-256 of the file's bytes as stored (compressed files are hashed
// compressed). File names and places do not enter it, so a task copied
// elsewhere with its data hashes the same, and any edit to the config or to
// one line of data changes it. A generated task has no data file: its hash
// covers the config (generator name, seed and sizes), not the generator's
// code.
//
// Sweeps put it in every trial's spec (trial.Spec.TaskHash), so that
// editing a task's data gives its trials new ids instead of resuming stale
// results.
func ContentHash(nameOrPath string) (string, error) {
	file, src, open, err := locate(nameOrPath)
	if err != nil {
		return "", err
	}
	c, err := parseConfig(file, src)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	writeFileHash(h, "config", sha256.Sum256(src))
	for _, s := range c.Splits {
		rc, _, err := open(s.Path)
		if err != nil {
			return "", errorf(file, s.Line, "splits."+s.Name, "%v", unwrapPathErr(err))
		}
		fh := sha256.New()
		_, err = io.Copy(fh, rc)
		rc.Close()
		if err != nil {
			return "", errorf(file, s.Line, "splits."+s.Name, "%v", unwrapPathErr(err))
		}
		writeFileHash(h, "split "+s.Name, [sha256.Size]byte(fh.Sum(nil)))
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

func writeFileHash(h hash.Hash, role string, sum [sha256.Size]byte) {
	fmt.Fprintf(h, "%s %x\n", role, sum)
}
