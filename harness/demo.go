package main

import (
	"github.com/spf13/cobra"
)

// runDemo is what the bare command does until sweeps exist.
func runDemo(cmd *cobra.Command, args []string) error { return cmd.Help() }
