package reports

import (
	"math"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/trial/aggregate"
)

// throughputRow is one method's training throughput on a task, at its
// summary configuration.
type throughputRow struct {
	taskKey
	Method       string
	TokensPerSec aggregate.Stat // over seeds
	// MFU (a fraction, against the peak), tokens/s per calibrated GFLOP/s and the
	// calibration, over the seeds that report them.
	MFU, NormTokensPerSec, CalibrationGFLOPS aggregate.Stat
	// RatioToFull is the mean throughput over full fine-tuning's on the
	// same task; NaN when the task has no full fine-tuning row.
	RatioToFull float64
}

// throughput lists every summary row's training tokens per second, its
// model-FLOPs utilisation and tokens/s per calibrated GFLOP/s, and its
// ratio to full fine-tuning.
func throughput(sums []taskSummary) []throughputRow {
	var out []throughputRow
	for _, s := range sums {
		full := math.NaN()
		ref := display.Reference() // full fine-tuning
		for _, r := range s.Rows {
			if ref != "" && r.Method == ref && r.Best.TokensPerSec.Mean > 0 {
				full = r.Best.TokensPerSec.Mean
			}
		}
		for _, r := range s.Trained() {
			g := r.Best
			out = append(out, throughputRow{taskKey: s.taskKey, Method: r.Method, TokensPerSec: g.TokensPerSec,
				MFU: g.MFU, NormTokensPerSec: g.NormTokensPerSec, CalibrationGFLOPS: g.CalibrationGFLOPS,
				RatioToFull: g.TokensPerSec.Mean / full})
		}
	}
	return out
}
