package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/peftbench/peftbench/bench"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device"
	"github.com/spf13/cobra"
	"gonum.org/v1/gonum/stat"
)

// benchOpts are harness bench's flags.
type benchOpts struct {
	peer, large           bool
	python, only, out     string
	device                string
	rounds, warmup, steps int
	// warmupSet and stepsSet say the flags were given, and so apply to
	// large cases too.
	warmupSet, stepsSet bool
}

func benchCmd() *cobra.Command {
	var o benchOpts
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure training tokens/s, ms/step, MFU, heap bytes allocated per step and peak memory (optionally against PyTorch)",
		Long: `bench trains the shipped tiny model (batch 8 × 256) and the small fieldnotes
configuration (vocab 256, d 128, 2 layers, 4 heads; batch 16 × 64) with full
fine-tuning and LoRA r8 on q,v, and reports tokens/s, ms/step, model-FLOPs
utilisation against the BLAS calibration, heap bytes allocated per step, and
the peaks of the Go heap and of the process's resident set while each case
ran.

With --large (or by name in --cases) it also runs cases at real size, with
random weights and LoRA r8 on q,v at batch 4 × 128: gpt2-124m/lora-r8 (GPT-2
small's shape: vocab 50257, d 768, 12 layers, 12 heads, d_ff 3072) and
smollm2-135m/lora-r8 (SmolLM2-135M's: Llama family, vocab 49152, d 576, 30
layers, 9 heads sharing 3 key/value heads, d_ff 1536). A step takes seconds
on a few cores, so they run 1 warm-up and 3 timed steps unless --warmup or
--steps is given. With a large case in the run, every case is built for its
turn in each round and dropped after it (the peer's too), so that the memory
measured while a case runs is its own. --large --peer --rounds 1 takes
several minutes.

Each measurement is timed on its median step. With --peer it also runs
bench/peer/peer.py, which trains the identical model, method, batch and
optimiser in PyTorch; the engines alternate case by case over several rounds,
and the table gives the ratio of tokens/s (median and range over rounds).
Where torch is not installed the peer is skipped with a message.

With --device cuda (or opencl) the engine trains on that device, MFU is
against the GPU catalogue's peak for its precision, and the peer trains on
the same GPU (CUDA; PyTorch has no OpenCL, so with opencl it stays on the
CPU, and the table says where each ran).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.warmupSet, o.stepsSet = cmd.Flags().Changed("warmup"), cmd.Flags().Changed("steps")
			return runBench(o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.peer, "peer", false, "also run the PyTorch peer and print the ratio")
	f.BoolVar(&o.large, "large", false, "also run the real-size cases (GPT-2 small and SmolLM2-135M shapes; slow)")
	f.StringVar(&o.python, "python", "/usr/bin/python3", "Python interpreter with torch (Debian's python3-torch)")
	f.StringVar(&o.only, "cases", "", "comma-separated case names to run, large ones included (default: all default cases, and with --large the large ones)")
	f.StringVar(&o.out, "json", "", "also write every measurement to this JSON file")
	f.IntVar(&o.rounds, "rounds", 3, "rounds; with --peer the engines alternate within each")
	f.IntVar(&o.warmup, "warmup", 3, "untimed steps before each measurement (large cases: 1 unless given)")
	f.IntVar(&o.steps, "steps", 20, "timed steps per measurement (large cases: 3 unless given)")
	f.StringVar(&o.device, "device", "cpu", "where the engine trains: cpu, cuda or opencl")
	return cmd
}

// benchCase is a selected case and, while it is prepared, its setup.
type benchCase struct {
	bench.Case
	setup *bench.Setup
}

// prepare builds the case's setup unless it is built, on dev (nil: the
// CPU).
func (c *benchCase) prepare(dev device.Device) (*bench.Setup, error) {
	if c.setup == nil {
		s, err := bench.Prepare(c.Case)
		if err != nil {
			return nil, err
		}
		if dev != nil {
			if err := s.OnDevice(dev); err != nil {
				s.Release()
				return nil, err
			}
		}
		c.setup = s
	}
	return c.setup, nil
}

// release drops the case's setup and hands its memory back to the
// system, so that the next case's resident set does not hold it.
func (c *benchCase) release() {
	if c.setup == nil {
		return
	}
	c.setup.Release()
	c.setup = nil
	debug.FreeOSMemory()
}

func runBench(o benchOpts) error {
	if o.rounds < 1 || o.steps < 1 || o.warmup < 0 {
		return fmt.Errorf("bench: --rounds and --steps must be at least 1 and --warmup at least 0 (have %d, %d, %d)", o.rounds, o.steps, o.warmup)
	}
	var cases []*benchCase
	fresh := false // cases are built for their turn and dropped after it
	for _, c := range append(bench.Cases(), bench.LargeCases()...) {
		if o.only == "" && c.Large && !o.large || o.only != "" && !slices.Contains(strings.Split(o.only, ","), c.Name) {
			continue
		}
		cases = append(cases, &benchCase{Case: c})
		fresh = fresh || c.Large
	}
	if len(cases) == 0 {
		return fmt.Errorf("bench: no case matches %q", o.only)
	}
	var dev device.Device
	if o.device != "cpu" {
		d, err := device.Open(o.device)
		if err != nil {
			return fmt.Errorf("bench: --device %s: %w", o.device, err)
		}
		defer d.Close()
		dev = d
	}
	// With a large case in the run, every case is built for its turn in
	// each round and dropped after it, in this process and in the peer's:
	// a large case's memory is then its own, not the sum of every case
	// prepared. Otherwise all are built once, before any is timed.
	if !fresh {
		for _, c := range cases {
			if _, err := c.prepare(dev); err != nil {
				return err
			}
		}
	}
	gflops := nn.CalibrateGFLOPS(time.Second)
	peak := machine.PeakFP32(nn.Workers())
	fmt.Printf("BLAS %s %s, %d workers, calibration %.1f GFLOP/s (float32 512³ product); MFU against the peak, %v\n", nn.BLAS(), nn.BLASCore(), nn.Workers(), gflops, peak)
	if dev != nil {
		info := dev.Info()
		peak = machine.Peak{GFLOPS: machine.DevicePeakGFLOPS(dev.Name(), info["matmul_precision"])}
		fmt.Printf("device %s (%s, %s matrix products); MFU against %.0f GFLOP/s from the GPU catalogue (0: not in it)\n", dev.Name(), dev.Kind(), info["matmul_precision"], peak.GFLOPS)
	}
	var all []bench.Result
	var peer *bench.Peer
	peerNote := ""
	if o.peer {
		p, err := bench.StartPeer(o.python, nn.Workers(), peak.GFLOPS)
		switch {
		case errors.Is(err, bench.ErrNoPeer):
			peerNote = "peer skipped: " + err.Error()
			fmt.Println(peerNote)
		case err != nil:
			return err
		}
		peer = p
		if peer != nil {
			peer.Release = fresh
		}
		defer func() {
			if peer != nil {
				peer.Close()
			}
		}()
	}
	// The engines alternate case by case, and which goes first alternates
	// too, so slow spells on a shared machine fall on both.
	for r := range o.rounds {
		for i, c := range cases {
			warmup, steps := o.warmup, o.steps
			if c.Warmup > 0 && !o.warmupSet {
				warmup = c.Warmup
			}
			if c.Steps > 0 && !o.stepsSet {
				steps = c.Steps
			}
			s, err := c.prepare(dev)
			if err != nil {
				return err
			}
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
				res, err := s.Measure(warmup, steps, peak.GFLOPS)
				if err != nil {
					return fmt.Errorf("bench: %s: %w", c.Name, err)
				}
				all = append(all, res)
			}
			if fresh {
				c.release()
			}
		}
		fmt.Printf("round %d/%d done\n", r+1, o.rounds)
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
	}
	printBench(names, all, peerNote)
	if o.out != "" {
		body, _ := json.MarshalIndent(map[string]any{"calibration_gflops": gflops, "peak": peak, "blas": nn.BLAS(), "blas_core": nn.BLASCore(), "peer": peerNote, "results": all}, "", "  ")
		return os.WriteFile(o.out, append(body, '\n'), 0o644)
	}
	return nil
}

// printBench prints, per case and engine, medians over rounds, the
// per-round ratio of tokens/s (rounds pair the engines in order) and the
// memory peaks, the highest over rounds.
func printBench(cases []string, all []bench.Result, peerNote string) {
	t := tablewriter.NewWriter(os.Stdout)
	t.Header("case", "engine", "tokens/s (median, range)", "ms/step", "MFU", "threads", "alloc B/step", "% of weights", "peak heap", "peak RSS", "ratio to pytorch")
	for _, name := range cases {
		by := map[string][]bench.Result{}
		for _, r := range all {
			if r.Case == name {
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
			heap, rss := slices.Max(field(rs, func(r bench.Result) float64 { return float64(r.PeakHeapBytes) })), slices.Max(field(rs, func(r bench.Result) float64 { return float64(r.PeakRSSBytes) }))
			engine := e
			if d := rs[0].Device; d != "" && d != "cpu" {
				engine += " on " + d
			}
			t.Append(name, engine, fmt.Sprintf("%.0f (%.0f–%.0f)", median(tps), slices.Min(tps), slices.Max(tps)),
				fmt.Sprintf("%.1f", median(ms)), fmt.Sprintf("%.1f%%", 100*median(mfu)), fmt.Sprint(rs[0].Threads), alloc, pct, mib(heap), mib(rss), ratio)
		}
	}
	t.Render()
	if peerNote != "" {
		fmt.Println(peerNote)
	}
}

// mib formats a byte count in MiB, or "—" for one not measured (-1).
func mib(b float64) string {
	if b < 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MiB", b/(1<<20))
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
