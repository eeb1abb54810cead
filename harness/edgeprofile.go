package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/edge"
	"github.com/peftbench/peftbench/edge/measure"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/run"
	"github.com/peftbench/peftbench/sweep"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/train"
	"github.com/peftbench/peftbench/trial"
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
			batches, err := epochBatches(base, taskName, size, batch, seed)
			if err != nil {
				return err
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

// epochBatches is one epoch of a task's training sample in microbatches:
// the trial's sample (size examples for seed), in one order drawn from the
// seed, padded as a trial pads them.
func epochBatches(base *model.Base, taskName string, size, batch, seed int) ([]train.Batch, error) {
	task, err := tasks.Load(taskName)
	if err != nil {
		return nil, err
	}
	exs, err := task.Train(size, int64(seed))
	if err != nil {
		return nil, err
	}
	pairs := make([]train.Pair, len(exs))
	for i, e := range exs {
		pairs[i] = train.Pair{Prompt: base.Tokenizer.EncodeStart(e.Prompt), Target: base.Tokenizer.Encode(e.Target)}
	}
	rand.New(rand.NewPCG(uint64(seed), 0xed6e)).Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	var batches []train.Batch
	for s := 0; s < len(pairs); s += batch {
		b, err := train.PairBatch(pairs[s:min(s+batch, len(pairs))], batch, base.Model.Config.Context)
		if err != nil {
			return nil, err
		}
		batches = append(batches, b)
	}
	return batches, nil
}

func edgeValidateCmd() *cobra.Command {
	var (
		specPath  string
		reps      int
		tolerance float64
	)
	cmd := &cobra.Command{
		Use:   "validate [--sweep SPEC]",
		Short: "Run a sweep's trials here, each beside its profile, and compare the simulator's one-device epoch times with the measured ones",
		Long: `For every trial of SPEC that trains two epochs or more, run the trial in
this process, then profile its method on the trial's task, sample and
batch size ('harness edge profile'), and simulate one epoch on a device
equal to this machine (edge.Reference). Each trial is set beside the
profile taken right after it, so a machine that slows down or speeds up
between runs moves both; the trials run seed by seed, every method in
turn. Compared: the median of each trial's later epochs, and for a method
with an activation cache also its first epoch, which fills the cache and
is simulated as a first epoch (see edge/measure). A configuration's error
is the median over its seeds. Results are not written. Exits non-zero
when a configuration is off by more than --tolerance.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			spec, err := sweep.Load(specPath)
			if err != nil {
				return err
			}
			var trials []trial.Spec
			for _, t := range spec.Trials() {
				if t.Train.Epochs >= 2 {
					trials = append(trials, t)
				}
			}
			if len(trials) == 0 {
				return fmt.Errorf("%s: no trial trains two epochs or more", specPath)
			}
			sort.SliceStable(trials, func(i, j int) bool { return trials[i].Seed < trials[j].Seed })
			type errs struct{ first, later []float64 }
			off := map[string]*errs{}
			var names []string
			for _, t := range trials {
				r := run.Trial(t, func(string, ...any) {})
				if r.Status != trial.Success {
					return fmt.Errorf("%s: %s", t.Label(), r.Error)
				}
				base, err := model.LoadBase(t.Model)
				if err != nil {
					return err
				}
				batches, err := epochBatches(base, t.Task, t.DataSize, t.Train.Batch, t.Seed)
				if err != nil {
					return err
				}
				w, err := measure.Workload(base.Model.Config, t.Method, t.MethodParams, batches, reps)
				if err != nil {
					return fmt.Errorf("measuring %s: %w", t.Label(), err)
				}
				p, err := edge.Single(w, []edge.Device{edge.Reference(w, math.MaxInt64/2)}, 0, 2)
				if err != nil {
					return err
				}
				sim, err := edge.Simulate(p)
				if err != nil {
					return err
				}
				name := t.Name
				if off[name] == nil {
					off[name] = &errs{}
					names = append(names, name)
				}
				e := off[name]
				later := append([]float64{}, r.EpochSeconds[1:]...)
				slices.Sort(later)
				line := fmt.Sprintf("%-24s seed %d:", name, t.Seed)
				if w.Cache {
					e.first = append(e.first, sim.Epochs[0].Seconds/r.EpochSeconds[0]-1)
					line += fmt.Sprintf(" first epoch simulated %.2f s, measured %.2f s (%+.1f%%);", sim.Epochs[0].Seconds, r.EpochSeconds[0], 100*e.first[len(e.first)-1])
				}
				e.later = append(e.later, sim.Epochs[1].Seconds/later[len(later)/2]-1)
				fmt.Printf("%s later epochs simulated %.2f s, measured %.2f s (median of %d; %+.1f%%)\n", line, sim.Epochs[1].Seconds, later[len(later)/2], len(later), 100*e.later[len(e.later)-1])
			}
			bad := 0
			check := func(name, what string, offs []float64) {
				if len(offs) == 0 {
					return
				}
				o := slices.Clone(offs)
				slices.Sort(o)
				m, flag := o[len(o)/2], ""
				if math.Abs(m) > tolerance {
					flag, bad = "  OFF", bad+1
				}
				fmt.Printf("%-24s %-13s simulated vs measured: %+5.1f%% (median of %d seeds)%s\n", name, what, 100*m, len(o), flag)
			}
			for _, n := range names {
				check(n, "first epoch", off[n].first)
				check(n, "later epochs", off[n].later)
			}
			if bad > 0 {
				return fmt.Errorf("%d predictions off by more than %.0f%%", bad, 100*tolerance)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&specPath, "sweep", "sweeps/pac.yaml", "sweep whose trials are run and profiled")
	f.IntVar(&reps, "reps", 3, "timed epochs of each profiled program (the median counts)")
	f.Float64Var(&tolerance, "tolerance", 0.15, "largest relative error accepted")
	return cmd
}
