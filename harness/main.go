// Command harness is peftbench's command line: it runs sweeps of
// fine-tuning trials and their reports, pre-trains and evaluates base
// models, and lists what it knows. Run it with --help for the subcommands.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(execute(rootCmd(), os.Args[1:]))
}

// execute runs the command line args and returns the exit code (see
// exit.go), having printed the error, if any.
func execute(root *cobra.Command, args []string) int {
	var ran bool
	markRuns(root, &ran)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	return exitCode(err, ran)
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "harness",
		Short: "peftbench: benchmark parameter-efficient fine-tuning methods",
		Long: `peftbench compares parameter-efficient fine-tuning methods on a base model
it pre-trains and ships. With no subcommand it runs the default sweep
(sweeps/default.yaml) into results/default and writes its report there.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          runDefault,
	}
	root.AddCommand(sweepCmd(), statusCmd(), mergeCmd(), slurmCmd(), k8sCmd(), benchCmd(), trialCmd(), reportCmd(), compareCmd(), checkCmd(), baselineCmd(), pretrainCmd(), evalCmd(), listCmd(), tasksCmd(), envCmd())
	root.AddCommand(edgeCmd(), exportCmd())
	return root
}
