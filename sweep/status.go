package sweep

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/peftbench/peftbench/trial"
)

// Progress is where a sweep stands in a results folder, across every
// shard that writes there.
type Progress struct {
	Total, Done, Failed, Missing int
	// Shards counts done, failed and missing trials per shard when the
	// sweep is split in len(Shards) shards.
	Shards []Progress
	// Running names the sweeps holding the folder's locks now.
	Running []string
	// Left estimates the trial time still to run: each missing trial at
	// the mean wall time of the finished trials of its method at its data
	// size, else of its method, else of all; zero when nothing has
	// finished. A trial's cost grows with its data, so a method's mean
	// over sizes would underestimate its largest ones.
	Left time.Duration
}

// Status reads dir's results for the spec's trials. With shards > 1 it
// also counts per shard (the trials i of the expansion with i % shards
// equal to the shard).
func Status(trials []trial.Spec, dir string, shards int) Progress {
	p := Progress{Total: len(trials)}
	if shards > 1 {
		p.Shards = make([]Progress, shards)
	}
	wall, count := map[string]float64{}, map[string]int{}
	var missing []trial.Spec
	for i, t := range trials {
		var sh *Progress
		if shards > 1 {
			sh = &p.Shards[i%shards]
			sh.Total++
		}
		r, err := trial.ReadResult(trial.Path(dir, t.ID()))
		switch {
		case err != nil:
			p.Missing++
			missing = append(missing, t)
			if sh != nil {
				sh.Missing++
			}
		case r.Status == trial.Success:
			p.Done++
			for _, k := range estimateKeys(t) {
				wall[k] += r.WallTime
				count[k]++
			}
			if sh != nil {
				sh.Done++
			}
		default:
			p.Failed++
			if sh != nil {
				sh.Failed++
			}
		}
	}
	if count[""] > 0 {
		var secs float64
		for _, t := range missing {
			for _, k := range estimateKeys(t) {
				if count[k] > 0 {
					secs += wall[k] / float64(count[k])
					break
				}
			}
		}
		p.Left = time.Duration(secs * float64(time.Second))
	}
	for _, h := range holders(dir) {
		p.Running = append(p.Running, h.String())
	}
	return p
}

// estimateKeys are the groups of finished trials whose mean wall time
// estimates t's, most specific first: its method at its data size, its
// method, every trial.
func estimateKeys(t trial.Spec) []string {
	return []string{fmt.Sprintf("%s n=%d", t.Method, t.DataSize), t.Method, ""}
}

// Write prints the progress for a person.
func (p Progress) Write(w io.Writer) {
	fmt.Fprintf(w, "%d trials: %d done, %d failed, %d missing\n", p.Total, p.Done, p.Failed, p.Missing)
	for i, s := range p.Shards {
		fmt.Fprintf(w, "  shard %d/%d: %d trials: %d done, %d failed, %d missing\n", i, len(p.Shards), s.Total, s.Done, s.Failed, s.Missing)
	}
	if len(p.Running) > 0 {
		fmt.Fprintf(w, "running: %s\n", strings.Join(p.Running, "; "))
	} else {
		fmt.Fprintln(w, "running: no sweep holds the folder now")
	}
	switch {
	case p.Missing == 0:
	case p.Left == 0:
		fmt.Fprintln(w, "time left: unknown until a trial finishes")
	default:
		par := max(1, len(p.Running))
		fmt.Fprintf(w, "time left: about %s of trial time (missing trials at the mean wall time of their method at their data size)", p.Left.Round(time.Second))
		if par > 1 || len(p.Running) == 1 {
			fmt.Fprintf(w, "; about %s with the %d sweep(s) running, one trial at a time each (less with more workers)", (p.Left / time.Duration(par)).Round(time.Second), par)
		}
		fmt.Fprintln(w)
	}
}
