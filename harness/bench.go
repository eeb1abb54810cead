package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/peftbench/peftbench/bench"
	"github.com/peftbench/peftbench/nn"
	"github.com/spf13/cobra"
	"gonum.org/v1/gonum/stat"
)

func benchCmd() *cobra.Command {
	var (
		python, only, out     string
		rounds, warmup, steps int
		withPeer              bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure training tokens/s, ms/step, MFU and heap bytes allocated per step (optionally against PyTorch)",
		Long: `bench trains the shipped tiny model (batch 8 × 256) and the small fieldnotes
configuration (vocab 256, d 128, 2 layers, 4 heads; batch 16 × 64) with full
fine-tuning and LoRA r8 on q,v, and reports tokens/s, ms/step, model-FLOPs
utilisation against the BLAS calibration and heap bytes allocated per step.

Each measurement is timed on its median step. With --peer it also runs
bench/peer/peer.py, which trains the identical model, method, batch and
optimiser in PyTorch; the engines alternate case by case over several rounds,
and the table gives the ratio of tokens/s (median and range over rounds).
Where torch is not installed the peer is skipped with a message.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return runBench(withPeer, python, only, out, rounds, warmup, steps)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&withPeer, "peer", false, "also run the PyTorch peer and print the ratio")
	f.StringVar(&python, "python", "/usr/bin/python3", "Python interpreter with torch (Debian's python3-torch)")
	f.StringVar(&only, "cases", "", "comma-separated case names to run (default: all)")
	f.StringVar(&out, "json", "", "also write every measurement to this JSON file")
	f.IntVar(&rounds, "rounds", 3, "rounds; with --peer the engines alternate within each")
	f.IntVar(&warmup, "warmup", 3, "untimed steps before each measurement")
	f.IntVar(&steps, "steps", 20, "timed steps per measurement")
	return cmd
}

func runBench(withPeer bool, python, only, out string, rounds, warmup, steps int) error {
	if rounds < 1 || steps < 1 || warmup < 0 {
		return fmt.Errorf("bench: --rounds and --steps must be at least 1 and --warmup at least 0 (have %d, %d, %d)", rounds, steps, warmup)
	}
	var setups []*bench.Setup
	for _, c := range bench.Cases() {
		if only != "" && !slices.Contains(strings.Split(only, ","), c.Name) {
			continue
		}
		s, err := bench.Prepare(c)
		if err != nil {
			return err
		}
		setups = append(setups, s)
	}
	if len(setups) == 0 {
		return fmt.Errorf("bench: no case matches %q", only)
	}
	gflops := nn.CalibrateGFLOPS(time.Second)
	fmt.Printf("BLAS %s %s, %d workers, calibration %.1f GFLOP/s (float32 512³ product)\n", nn.BLAS(), nn.BLASCore(), nn.Workers(), gflops)
	var all []bench.Result
	var peer *bench.Peer
	peerNote := ""
	if withPeer {
		p, err := bench.StartPeer(python, nn.Workers(), gflops)
		switch {
		case errors.Is(err, bench.ErrNoPeer):
			peerNote = "peer skipped: " + err.Error()
			fmt.Println(peerNote)
		case err != nil:
			return err
		}
		peer = p
		defer func() {
			if peer != nil {
				peer.Close()
			}
		}()
	}
	// The engines alternate case by case, and which goes first alternates
	// too, so slow spells on a shared machine fall on both.
	for r := range rounds {
		for i, s := range setups {
			first := (r+i)%2 == 0
			for _, ours := range []bool{first, !first} {
				if !ours {
					if peer == nil {
						continue
					}
					res, err := peer.Measure(s, warmup, steps)
					if errors.Is(err, bench.ErrNoPeer) {
						peerNote = "peer skipped: " + err.Error()
						fmt.Println(peerNote)
						peer.Close()
						peer = nil
						continue
					}
					if err != nil {
						return err
					}
					peerNote = peer.Version
					all = append(all, res)
					continue
				}
				res, err := s.Measure(warmup, steps, gflops)
				if err != nil {
					return fmt.Errorf("bench: %s: %w", s.Case.Name, err)
				}
				all = append(all, res)
			}
		}
		fmt.Printf("round %d/%d done\n", r+1, rounds)
	}
	printBench(setups, all, peerNote)
	if out != "" {
		body, _ := json.MarshalIndent(map[string]any{"calibration_gflops": gflops, "blas": nn.BLAS(), "blas_core": nn.BLASCore(), "peer": peerNote, "results": all}, "", "  ")
		return os.WriteFile(out, append(body, '\n'), 0o644)
	}
	return nil
}

// printBench prints, per case and engine, medians over rounds, and the
// per-round ratio of tokens/s (rounds pair the engines in order).
func printBench(setups []*bench.Setup, all []bench.Result, peerNote string) {
	t := tablewriter.NewWriter(os.Stdout)
	t.Header("case", "engine", "tokens/s (median, range)", "ms/step", "MFU", "threads", "alloc B/step", "% of weights", "ratio to pytorch")
	for _, s := range setups {
		by := map[string][]bench.Result{}
		for _, r := range all {
			if r.Case == s.Case.Name {
				by[r.Engine] = append(by[r.Engine], r)
			}
		}
		for _, e := range []string{"peftbench", "pytorch"} {
			rs := by[e]
			if len(rs) == 0 {
				continue
			}
			tps, ms, mfu := field(rs, func(r bench.Result) float64 { return r.TokensPerSec }), field(rs, func(r bench.Result) float64 { return r.MsPerStep }), field(rs, func(r bench.Result) float64 { return r.MFU })
			alloc, pct, ratio := "—", "—", "—"
			if e == "peftbench" {
				a := median(field(rs, func(r bench.Result) float64 { return r.AllocPerStep }))
				alloc, pct = fmt.Sprintf("%.0f", a), fmt.Sprintf("%.4f%%", 100*a/float64(rs[0].WeightBytes))
				if p := by["pytorch"]; len(p) == len(rs) {
					var q []float64
					for i := range rs {
						q = append(q, rs[i].TokensPerSec/p[i].TokensPerSec)
					}
					ratio = fmt.Sprintf("%.2fx (%.2f–%.2f)", median(q), slices.Min(q), slices.Max(q))
				}
			}
			t.Append(s.Case.Name, e, fmt.Sprintf("%.0f (%.0f–%.0f)", median(tps), slices.Min(tps), slices.Max(tps)),
				fmt.Sprintf("%.1f", median(ms)), fmt.Sprintf("%.1f%%", 100*median(mfu)), fmt.Sprint(rs[0].Threads), alloc, pct, ratio)
		}
	}
	t.Render()
	if peerNote != "" {
		fmt.Println(peerNote)
	}
}

func field(rs []bench.Result, f func(bench.Result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return stat.Quantile(0.5, stat.Empirical, s, nil)
}
