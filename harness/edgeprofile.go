package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/peftbench/peftbench/edge"
	"github.com/peftbench/peftbench/edge/measure"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/train"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
	"github.com/spf13/cobra"
)

func edgeProfileCmd() *cobra.Command {
	var (
		modelName, taskName, out string
		methodList               []string
		size, batch, reps, seed  int
	)
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Measure each method's training cost on this machine, block by block, as workloads for the simulator",
		Long: `Time one epoch's microbatches of a task's training sample (the trial's
sample and batch size, in one shuffled order) for each method on this
machine, block by block (models of the base model's shape with one and two
blocks: see edge/measure), and write the workloads as JSON for
'harness edge plan --workload' and 'harness edge validate'.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			base, err := model.LoadBase(modelName)
			if err != nil {
				return err
			}
			task, err := tasks.Load(taskName)
			if err != nil {
				return err
			}
			exs, err := task.Train(size, int64(seed))
			if err != nil {
				return err
			}
			pairs := make([]train.Pair, len(exs))
			for i, e := range exs {
				pairs[i] = train.Pair{Prompt: base.Tokenizer.Encode(e.Prompt), Target: base.Tokenizer.Encode(e.Target)}
			}
			rand.New(rand.NewPCG(uint64(seed), 0xed6e)).Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
			var batches []train.Batch
			for s := 0; s < len(pairs); s += batch {
				b, err := train.PairBatch(pairs[s:min(s+batch, len(pairs))], batch, base.Model.Config.Context)
				if err != nil {
					return err
				}
				batches = append(batches, b)
			}
			var ws []edge.Workload
			for _, m := range methodList {
				name, params, err := parseMethodArg(m)
				if err != nil {
					return err
				}
				w, err := measure.Workload(base.Model.Config, name, params, batches, reps)
				if err != nil {
					return fmt.Errorf("measuring %s: %w", m, err)
				}
				w.Method = m
				ws = append(ws, w)
				fmt.Printf("%-22s block %.2f ms forward, %.2f ms backward; head %.2f/%.2f ms; adapters %.2f/%.2f ms; optimiser %.2f ms per microbatch; %d microbatches\n",
					m, 1e3*w.LayerForward, 1e3*w.LayerBackward, 1e3*w.HeadForward, 1e3*w.HeadBackward,
					1e3*w.AdapterForward, 1e3*w.AdapterBackward, 1e3*w.OptimizerStep, w.Microbatches)
			}
			b, err := json.MarshalIndent(ws, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(out, append(b, '\n'), 0o644)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelName, "model", "tiny", "base model")
	f.StringVar(&taskName, "task", "spam", "task whose training sample sets the microbatches")
	f.IntVar(&size, "data-size", 256, "training examples")
	f.IntVar(&batch, "batch", 8, "examples per microbatch")
	f.IntVar(&seed, "seed", 1, "sample and order seed")
	f.IntVar(&reps, "reps", 3, "timed epochs of each program (the median counts)")
	f.StringSliceVar(&methodList, "methods", []string{"pac", "pac:cache_mb=0", "lora", "adapter", "full"}, "methods, each NAME or NAME:key=value,...")
	f.StringVar(&out, "out", "edge-workloads.json", "workloads file to write")
	return cmd
}

// parseMethodArg reads "lora:rank=8,alpha=16" into a method and its
// hyper-parameters (integers and numbers as such, the rest as strings).
func parseMethodArg(s string) (string, map[string]any, error) {
	name, rest, _ := strings.Cut(s, ":")
	params := map[string]any{}
	if rest == "" {
		return name, params, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", nil, fmt.Errorf("method %q: want NAME:key=value,...", s)
		}
		var n float64
		if _, err := fmt.Sscan(v, &n); err == nil {
			if n == math.Trunc(n) {
				params[k] = int(n)
			} else {
				params[k] = n
			}
		} else {
			params[k] = v
		}
	}
	return name, params, nil
}

func edgeValidateCmd() *cobra.Command {
	var workloads, results string
	var tolerance float64
	cmd := &cobra.Command{
		Use:   "validate --workload FILE --results DIR",
		Short: "Compare the simulator's one-device epoch times on this machine with the epoch times trials measured",
		Long: `For each workload, simulate one epoch on a device equal to this machine
(edge.Reference) and compare it with the mean measured training time of
the matching trials' later epochs in DIR, and for a method with an
activation cache also its first, which fills the cache. Every method's
first epoch also pays for first runs (memory first touched, the arena
grown); the simulator models the steady state. A workload's method NAME:key=value
matches trials of NAME with those hyper-parameters. Exits non-zero when a
prediction is off by more than --tolerance.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			b, err := os.ReadFile(workloads)
			if err != nil {
				return err
			}
			var ws []edge.Workload
			if err := json.Unmarshal(b, &ws); err != nil {
				return fmt.Errorf("%s: %w", workloads, err)
			}
			rs, err := trial.ReadAll(results)
			if err != nil {
				return err
			}
			bad := 0
			for _, w := range ws {
				name, params, err := parseMethodArg(w.Method)
				if err != nil {
					return err
				}
				m, err := methods.Get(name)
				if err != nil {
					return err
				}
				resolved, err := methods.Resolve(m, params) // "pac" is pac at its defaults
				if err != nil {
					return err
				}
				params = resolved
				var first, later []float64
				for _, r := range rs {
					if r.Status != trial.Success || r.Spec.Method != name || !paramsMatch(r.Spec.MethodParams, params) || len(r.EpochSeconds) == 0 {
						continue
					}
					first = append(first, r.EpochSeconds[0])
					later = append(later, r.EpochSeconds[1:]...)
				}
				if len(first) == 0 {
					fmt.Printf("%-22s no measured trial in %s\n", w.Method, results)
					continue
				}
				p, err := edge.Single(w, []edge.Device{edge.Reference(w, math.MaxInt64/2)}, 0, 2)
				if err != nil {
					return err
				}
				sim, err := edge.Simulate(p)
				if err != nil {
					return err
				}
				check := func(what string, simulated float64, measured []float64) {
					m := aggregate.StatOf(measured).Mean
					off := simulated/m - 1
					flag := ""
					if math.Abs(off) > tolerance {
						flag, bad = "  OFF", bad+1
					}
					fmt.Printf("%-22s %-13s simulated %6.2f s, measured %6.2f s (%d epochs): %+5.1f%%%s\n", w.Method, what, simulated, m, len(measured), 100*off, flag)
				}
				if w.Cache { // the epoch that fills the cache
					check("first epoch", sim.Epochs[0].Seconds, first)
				}
				check("later epochs", sim.Epochs[1].Seconds, later)
			}
			if bad > 0 {
				return fmt.Errorf("%d predictions off by more than %.0f%%", bad, 100*tolerance)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&workloads, "workload", "edge-workloads.json", "workloads measured by 'harness edge profile'")
	cmd.Flags().StringVar(&results, "results", "results/pac", "results folder of trials of the same task, size and batch")
	cmd.Flags().Float64Var(&tolerance, "tolerance", 0.15, "largest relative error accepted")
	return cmd
}

// paramsMatch says whether a trial's hyper-parameters hold every one asked.
func paramsMatch(have, want map[string]any) bool {
	for k, v := range want {
		if trial.FormatParam(have[k]) != trial.FormatParam(v) {
			return false
		}
	}
	return true
}
