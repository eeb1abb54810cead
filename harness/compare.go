package main

import (
	"fmt"

	"github.com/peftbench/peftbench/stats"
	"github.com/peftbench/peftbench/trial"
	"github.com/spf13/cobra"
)

func compareCmd() *cobra.Command {
	var split string
	cmd := &cobra.Command{
		Use:   "compare A.json [A2.json ...] -- B.json [B2.json ...]",
		Short: "Paired test of two configurations from their result files (one file per seed)",
		Long: `Test configuration A against B on the examples both were scored on, as
reports do: the files before -- are A's seeds, those after are B's. With
one seed a side the test is McNemar's exact test; otherwise a paired
z-test whose variance adds the spread over examples of the per-example
difference (seed-averaged) and the spread of each side's per-seed
accuracy, as a bootstrap resampling both would estimate. The p-value is
not corrected for multiple comparisons (reports correct theirs with
Holm's method within each family of tests they declare).`,
		Example: `  harness compare results/default/trials/aaa.json -- results/default/trials/bbb.json
  harness compare a1.json a2.json -- b1.json b2.json --split validation`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 1 || dash == len(args) {
				return fmt.Errorf("compare: give A's result files, then --, then B's")
			}
			var sides [2][]trial.Outcomes
			for i, path := range args {
				r, err := trial.ReadResult(path)
				if err != nil {
					return err
				}
				o, ok := r.OutcomesOn(split)
				if !ok {
					return fmt.Errorf("compare: %s has no per-example outcomes on %s", path, split)
				}
				side := 0
				if i >= dash {
					side = 1
				}
				sides[side] = append(sides[side], o)
			}
			paired, err := trial.Align(sides[:])
			if err != nil {
				return err
			}
			c, err := stats.Compare(paired[0], paired[1])
			if err != nil {
				return err
			}
			fmt.Printf("%d paired %s examples; A: %d seed(s), accuracy %.4f; B: %d seed(s), accuracy %.4f\n",
				c.N, split, c.SeedsA, c.AccA, c.SeedsB, c.AccB)
			fmt.Printf("A − B = %+.4f, 95%% interval [%.4f, %.4f]\n", c.Diff, c.Lo, c.Hi)
			fmt.Printf("examples A gets right more often: %d; B: %d\n", c.OnlyA, c.OnlyB)
			fmt.Printf("%s: p = %.4g\n", c.Test, c.P)
			return nil
		},
	}
	cmd.Flags().StringVar(&split, "split", "test", "split whose outcomes are compared (test or validation)")
	return cmd
}
