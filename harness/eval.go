package main

import (
	"encoding/json"
	"fmt"
	"os"
	"unicode/utf8"

	"github.com/peftbench/peftbench/corpus"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/run"
	"github.com/peftbench/peftbench/sweep"
	"github.com/peftbench/peftbench/train"
	"github.com/peftbench/peftbench/trial"
	"github.com/spf13/cobra"
)

func evalCmd() *cobra.Command {
	name, batch, adapter, taskName, out, text, dev := "tiny", 8, "", "", "", "", "auto"
	maxEval, asJSON, context := 0, false, 0
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate a base model, or a PEFT adapter on it: bits per byte, or a task's test split",
		Long: `Load a base model (a shipped name such as 'tiny', a checkpoint directory, or
a hub name in the local Hugging Face cache) and print its bits per byte on
the held-out State of the Union addresses (2012-2021), or on --text FILE,
scored with windows of the model's context (or --context tokens) moving by
half a window.

With --adapter DIR, a Hugging Face PEFT adapter folder (adapter_config.json
and adapter_model.safetensors: LoRA, DoRA, VeRA with its projections saved,
LN tuning, IA3 or prompt tuning, trained here or elsewhere) is applied to
the model first.

With --task, the model (with the adapter, or as it is: the zero-shot
control) is scored on the task's test split instead, as a trial scores its
trained method: the same metrics and per-example outcomes, in a result
file like a trial's (--out DIR writes it to DIR/trials/<id>.json, where a
report reads it beside a sweep's trials).

--json prints the numbers at full precision (bits per byte with the byte,
token and scored-token counts; or the whole result).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if taskName != "" {
				d, err := sweep.CheckDevice(dev)
				if err != nil {
					return usageErr(fmt.Errorf("--device: %w", err))
				}
				return evalTask(trial.Spec{Model: name, Task: taskName, Train: trial.Settings{Batch: batch, MaxEval: maxEval}, Device: d}, adapter, out, asJSON)
			}
			if out != "" || maxEval != 0 || dev != "auto" {
				return usageErr(fmt.Errorf("--out, --max-eval and --device go with --task"))
			}
			return evalBPB(name, adapter, text, batch, context, asJSON)
		},
	}
	cmd.Flags().StringVar(&name, "model", name, "shipped model name, checkpoint directory or cached hub name (org/name[@revision])")
	cmd.Flags().IntVar(&batch, "batch", batch, "windows (or examples) per forward pass")
	cmd.Flags().StringVar(&adapter, "adapter", adapter, "a PEFT adapter folder to apply to the model")
	cmd.Flags().StringVar(&taskName, "task", taskName, "score a task's test split (built-in name or task YAML) instead of bits per byte")
	cmd.Flags().StringVar(&out, "out", out, "with --task: write the result into this results folder")
	cmd.Flags().IntVar(&maxEval, "max-eval", maxEval, "with --task: score only the first N test examples (0: all)")
	cmd.Flags().StringVar(&text, "text", text, "score this UTF-8 file (one document) instead of the held-out addresses")
	cmd.Flags().BoolVar(&asJSON, "json", asJSON, "print JSON at full precision")
	cmd.Flags().StringVar(&dev, "device", "auto", "with --task: "+deviceUsage)
	cmd.Flags().IntVar(&context, "context", context, "bits per byte: score windows of this many tokens (0: the model's context)")
	return cmd
}

// bpbReport is harness eval's --json for bits per byte.
type bpbReport struct {
	Model        string  `json:"model"`
	ModelCommit  string  `json:"model_commit,omitempty"`
	Adapter      string  `json:"adapter,omitempty"`
	Text         string  `json:"text"`
	Documents    int     `json:"documents"`
	Bytes        int     `json:"bytes"`
	Tokens       int     `json:"tokens"`        // the stream, separators included
	ScoredTokens int     `json:"scored_tokens"` // the documents' own tokens, each predicted once
	Context      int     `json:"context"`
	BitsPerByte  float64 `json:"bits_per_byte"`
	Params       int     `json:"parameters"`
}

func evalBPB(name, adapter, text string, batch, context int, asJSON bool) error {
	base, err := model.LoadBase(name)
	if err != nil {
		return err
	}
	var hooks []model.Hook
	positions := 0
	if adapter != "" {
		a, err := methods.LoadPEFT(base, adapter)
		if err != nil {
			return err
		}
		hooks, positions = a.Hooks, a.Positions
	}
	var texts []string
	source := "held-out State of the Union addresses 2012-2021"
	if text != "" {
		raw, err := os.ReadFile(text)
		if err != nil {
			return err
		}
		if !utf8.Valid(raw) {
			return fmt.Errorf("%s is not UTF-8 text", text)
		}
		texts, source = []string{string(raw)}, text
	} else {
		docs, err := corpus.HeldOut()
		if err != nil {
			return err
		}
		for _, d := range docs {
			texts = append(texts, d.Text)
		}
	}
	s := train.NewStream(texts, base.Tokenizer.Encode, base.Tokenizer.EOT())
	tr := train.NewTrainer(base.Model, nn.Schedule{}, 0, hooks...)
	defer tr.Close()
	ctx := base.Model.Config.Context - positions
	if context > 0 {
		if context > ctx {
			return fmt.Errorf("--context %d exceeds the %d positions the model has for tokens", context, ctx)
		}
		ctx = context
	}
	bpb, err := train.BitsPerByte(tr, s, batch, ctx)
	if err != nil {
		return err
	}
	scored := 0
	for _, sc := range s.Scored {
		if sc {
			scored++
		}
	}
	if asJSON {
		raw, err := json.MarshalIndent(bpbReport{Model: name, ModelCommit: base.Commit, Adapter: adapter, Text: source, Documents: len(texts),
			Bytes: s.Bytes, Tokens: len(s.Tokens), ScoredTokens: scored, Context: ctx, BitsPerByte: bpb, Params: base.Model.NumParams()}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(raw))
		return nil
	}
	fmt.Printf("%s: %d parameters, %s: %d bytes, %d tokens\n", name, base.Model.NumParams(), source, s.Bytes, len(s.Tokens))
	fmt.Printf("bits per byte: %.4f\n", bpb)
	return nil
}

func evalTask(spec trial.Spec, adapter, out string, asJSON bool) error {
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	if asJSON {
		logf = func(string, ...any) {}
	}
	r := run.Evaluate(spec, adapter, logf)
	if r.Status != trial.Success {
		return fmt.Errorf("%s", r.Error)
	}
	if out != "" {
		if err := r.Write(out); err != nil {
			return err
		}
	}
	if asJSON {
		raw, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(raw))
		return nil
	}
	line := fmt.Sprintf("%s (%s) on %s: test accuracy %.4f", r.Spec.Method, trial.FormatParam(adapterLabel(adapter)), spec.Task, r.Metrics.TestAccuracy)
	if f := r.Metrics.MacroF1; f != nil {
		line += fmt.Sprintf(", macro-F1 %.4f", *f)
	}
	fmt.Printf("%s over %d examples, %d trainable parameters\n", line, len(r.Outcomes[0].Correct), r.NumTrainableParams)
	if out != "" {
		fmt.Printf("result: %s\n", trial.Path(out, r.ID))
	}
	return nil
}

func adapterLabel(dir string) string {
	if dir == "" {
		return "no adapter"
	}
	return dir
}

func envCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "Print the machine, toolchain, BLAS and code version results are tagged with",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Println(machine.Describe(nn.BLAS())) },
	}
}
