package main

import (
	"runtime"

	"github.com/peftbench/peftbench/sweep"
	"github.com/spf13/cobra"
)

// The main job: the default sweep, then its report.
const (
	defaultSpec = "sweeps/default.yaml"
	defaultOut  = "results/default"
)

func runDefault(*cobra.Command, []string) error {
	spec, err := sweep.Load(defaultSpec)
	if err != nil {
		return usageErr(err)
	}
	sweepErr := runSweep(spec, defaultOut, runtime.NumCPU(), sweep.Shard{N: 1}, false, false)
	if err := writeReport(defaultOut, defaultOut+"/report", defaultSpec); err != nil {
		return err
	}
	return sweepErr
}
