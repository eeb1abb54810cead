package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Exit codes a script can tell apart (README, "Exit codes").
const (
	exitOK           = 0
	exitError        = 1 // anything else: a file that cannot be read or written, a run that broke
	exitUsage        = 2 // a bad command line, sweep spec or trial spec: nothing ran
	exitTrialsFailed = 3 // the command ran, and some of its trials failed
	exitRegression   = 4 // harness check found a regression
)

// codedError carries the exit code an error ends the program with.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code, err}
}

func usageErr(err error) error        { return withCode(exitUsage, err) }
func trialsFailedErr(err error) error { return withCode(exitTrialsFailed, err) }
func regressionErr(err error) error   { return withCode(exitRegression, err) }

// exitCode is the code err ends the program with: its own where it has
// one, exitUsage for an error cobra raised before any command ran (an
// unknown command or flag, a wrong number of arguments, a required flag
// missing), exitError otherwise.
func exitCode(err error, ran bool) int {
	var c *codedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &c):
		return c.code
	case !ran:
		return exitUsage
	}
	return exitError
}

// markRuns wraps the RunE of cmd and its subcommands so that *ran tells
// whether a command's own code started: errors before it are cobra's
// checks of the command line.
func markRuns(cmd *cobra.Command, ran *bool) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*ran = true
			return run(c, args)
		}
	}
	for _, sub := range cmd.Commands() {
		markRuns(sub, ran)
	}
}
