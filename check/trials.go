package check

import (
	"fmt"
	"path/filepath"

	"github.com/peftbench/peftbench/trial"
)

// Trial is one result as the check sees it.
type Trial struct {
	*trial.Result
}

// ReadTrials reads every result under dir/trials, sorted by id.
func ReadTrials(dir string) ([]Trial, error) {
	results, err := trial.ReadAll(dir)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("check: no trial results under %s", filepath.Join(dir, "trials"))
	}
	return FromResults(results), nil
}

// FromResults wraps results held in memory.
func FromResults(results []*trial.Result) []Trial {
	out := make([]Trial, len(results))
	for i, r := range results {
		out[i] = Trial{r}
	}
	return out
}
