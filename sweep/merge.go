package sweep

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/trial"
)

// Merged is what Merge did.
type Merged struct {
	Copied, Same int
	// Differ lists the trials found in two folders with different results,
	// each with the fields that differ; the first copy found is kept.
	Differ []string
}

// outcome is the part of a result that the spec and seed alone decide (on
// one BLAS): two runs of one trial must agree on it, while their times,
// measured memory and machine may differ.
type outcome struct {
	Status, Error                 string
	Metrics                       trial.Metrics
	Outcomes                      []trial.Outcomes
	Trainable, Total, Steps, Best int
	Tokens                        int64
	Account                       trial.Memory
}

func outcomeOf(r *trial.Result) outcome {
	return outcome{r.Status, r.Error, r.Metrics, r.Outcomes, r.NumTrainableParams, r.NumTotalParams, r.Steps, r.BestEpoch, r.TrainTokens, r.MemoryAccounted}
}

// Merge copies every result of the folders srcs into dst (byte for byte,
// atomically), as shards that wrote into folders of their own are
// combined. A trial found twice must have the same outcome; where it does
// not, dst keeps the first and Differ names the trial and what differs.
func Merge(dst string, srcs []string) (Merged, error) {
	var m Merged
	if err := os.MkdirAll(filepath.Join(dst, "trials"), 0o755); err != nil {
		return m, err
	}
	for _, src := range srcs {
		results, err := trial.ReadAll(src)
		if err != nil {
			return m, err
		}
		for _, r := range results {
			to := trial.Path(dst, r.ID)
			if have, err := trial.ReadResult(to); err == nil {
				if diff := cmp.Diff(outcomeOf(have), outcomeOf(r)); diff != "" {
					m.Differ = append(m.Differ, fmt.Sprintf("%s (%s): %s and %s differ:\n%s", r.ID, r.Spec.Label(), to, trial.Path(src, r.ID), strings.TrimSpace(diff)))
				} else {
					m.Same++
				}
				continue
			}
			if err := copyFile(trial.Path(src, r.ID), trial.Path(dst, r.ID)); err != nil {
				return m, err
			}
			// The trial's log beside it, where the sweep kept one.
			if err := copyFile(trial.LogPath(src, r.ID), trial.LogPath(dst, r.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return m, err
			}
			m.Copied++
		}
	}
	return m, nil
}

// copyFile copies from to to, atomically.
func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return atomicfile.Write(to, b)
}
