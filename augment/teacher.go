// Package augment grows a trial's training data while it trains. LLM2LLM
// (Lee et al., 2024, arXiv 2403.15042) fine-tunes a student from the base
// model, finds the seed examples it gets wrong, and has a teacher write
// new examples like them, iteration after iteration. Teachers sit behind
// one interface: a generator of new problems for arith, the unused rest of
// the training split (nearest to each error, or at random as the control),
// and any server that speaks the OpenAI chat-completions API.
package augment

import (
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// A Teacher writes new training examples like the ones a student got
// wrong.
type Teacher interface {
	// Write returns up to k new examples like each of failed (the teacher
	// sees each example with its gold label or answer), made with the
	// task's template (tasks.Task.Make). The cost counts what was asked
	// (len(failed)·k), written, and dropped as malformed, off-label or
	// failed requests, and the time taken; the loop fills Duplicates and
	// Kept. A teacher's own trouble with one example (a bad answer, a
	// request that failed after its retries) is counted, never returned as
	// an error; an error means the teacher cannot work at all.
	Write(failed []tasks.Example, k int) ([]tasks.Example, trial.Cost, error)
}
