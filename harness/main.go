// Command harness is peftbench's command line: it pre-trains base models,
// evaluates them and (as the project grows) runs sweeps of fine-tuning
// trials and their reports. Run it with --help for the subcommands.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "harness",
		Short:         "peftbench: benchmark parameter-efficient fine-tuning methods",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          runDemo,
	}
	root.AddCommand(sweepCmd(), trialCmd(), pretrainCmd(), evalCmd(), listCmd(), tasksCmd(), envCmd())
	return root
}
