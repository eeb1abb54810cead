package tasks

import (
	"fmt"
	"strings"
)

// SplitSize is the number of examples in a split ("train", "validation",
// "test"), for checks that need no prompts: a sweep rejects a data size
// larger than the train split before any trial runs.
func (t *Task) SplitSize(name string) (int, error) {
	sd, ok := t.splits[name]
	if !ok {
		return 0, fmt.Errorf("tasks: %s: no %q split (have %s)", t.Name, name, strings.Join(t.splitNames, ", "))
	}
	return len(sd.records), nil
}
