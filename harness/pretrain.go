package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn/device"
	"github.com/peftbench/peftbench/train"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func pretrainCmd() *cobra.Command {
	cfg := train.PretrainConfig{
		Model: model.Config{Vocab: 2048, Context: 256, DModel: 128, Layers: 4, Heads: 4, DFF: 512},
		Steps: 5000, Batch: 16, SeqLen: 256, LR: 2e-3, Warmup: 200, MinLRFactor: 0.1, WeightDecay: 0.1, Seed: 1,
		Tasks: []string{"sentiment", "spam", "topic"}, TaskRepeats: 4,
	}
	out := "model/zoo/tiny"
	opt := train.PretrainOptions{CheckpointEvery: 250, EvalEvery: 500}
	dev := "cpu"
	cmd := &cobra.Command{
		Use:   "pretrain",
		Short: "Pre-train a tokenizer and base model on the shipped corpus",
		Long: `Pre-train a byte-level BPE tokenizer and a GPT-2-style base model on the
shipped public-domain corpus (State of the Union addresses 1790-2011 and
Moby Dick) and the unlabeled training-split prompts of --tasks, then
evaluate bits per byte on the held-out addresses (2012-2021) and on each
task's validation prompts, and write config.json, model.safetensors, vocab.json,
merges.txt, pretrain.json and a model card into --out.

The defaults are the recipe of the shipped 'tiny' model: on two cores,
'./run.sh harness pretrain' (OpenBLAS, two threads) reproduces it bit for
bit; the same seed with another BLAS or thread count differs in the last
bits.

Long runs: every --checkpoint-every steps the weights, AdamW's moments and
the data sampler's state are written to OUT/checkpoint (atomically); the
same command started again resumes there, so a kill loses at most that
many steps and the run ends with the weights of an uninterrupted one.
Held-out bits per byte is measured every --eval-every steps, shown on the
progress line and kept in pretrain.json's heldout_curve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt.Command = strings.TrimSpace("harness " + strings.Join(os.Args[1:], " "))
			if dev != "cpu" {
				d, err := device.Open(dev)
				if err != nil {
					return fmt.Errorf("pretrain: --device %s: %w", dev, err)
				}
				defer d.Close()
				opt.Device = d
			}
			bar := progressbar.NewOptions(cfg.Steps, progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription("pretrain"), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(500*time.Millisecond), progressbar.OptionSetWidth(24))
			res, err := train.Pretrain(cfg, out, opt, func(p train.Progress) {
				desc := fmt.Sprintf("loss %.3f  %.0f tok/s", p.Loss, p.TokensPerSec)
				if p.HeldOutBPB > 0 {
					desc += fmt.Sprintf("  held-out %.4f bpb", p.HeldOutBPB)
				}
				bar.Describe(desc)
				bar.Set(p.Step)
			})
			bar.Finish()
			fmt.Fprintln(os.Stderr)
			if err != nil {
				return err
			}
			fmt.Printf("pre-trained %d parameters on %d tokens (%.2f epochs) in %.0f s at %.0f tokens/s\n",
				res.Params, res.TokensSeen, res.Epochs, res.TrainSecs, res.TokensPerSec)
			if res.Resumed > 0 {
				fmt.Printf("resumed from a checkpoint %d times\n", res.Resumed)
			}
			fmt.Printf("held-out bits per byte: %.4f (xz -9e: 2.019)\n", res.HeldOutBPB)
			fmt.Printf("wrote %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", out, "output directory")
	f.IntVar(&cfg.Model.Vocab, "vocab", cfg.Model.Vocab, "tokenizer vocabulary size")
	f.IntVar(&cfg.Model.Context, "context", cfg.Model.Context, "context length (positions)")
	f.IntVar(&cfg.Model.DModel, "d-model", cfg.Model.DModel, "model width")
	f.IntVar(&cfg.Model.Layers, "layers", cfg.Model.Layers, "transformer blocks")
	f.IntVar(&cfg.Model.Heads, "heads", cfg.Model.Heads, "attention heads")
	f.IntVar(&cfg.Model.DFF, "d-ff", cfg.Model.DFF, "MLP hidden width")
	f.IntVar(&cfg.Steps, "steps", cfg.Steps, "optimiser steps")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "sequences per step")
	f.IntVar(&cfg.SeqLen, "seq-len", cfg.SeqLen, "tokens per sequence")
	f.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate")
	f.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "linear warm-up steps")
	f.Float64Var(&cfg.MinLRFactor, "min-lr-factor", cfg.MinLRFactor, "final learning rate as a fraction of the peak (cosine decay)")
	f.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW decoupled weight decay (matrices only)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed for initialisation and data order")
	f.StringSliceVar(&cfg.Sources, "sources", cfg.Sources, "optional corpora after the shipped one: brown (the Brown corpus)")
	f.StringSliceVar(&cfg.Tasks, "tasks", cfg.Tasks, "tasks whose training-split prompts (no labels) join the corpus; none: --tasks=''")
	f.IntVar(&opt.CheckpointEvery, "checkpoint-every", opt.CheckpointEvery, "steps between checkpoints in OUT/checkpoint, which a rerun resumes from (0: none)")
	f.StringVar(&dev, "device", "cpu", "where to train: cpu, cuda or opencl (the weights then differ from the CPU recipe's in the last bits)")
	f.IntVar(&opt.EvalEvery, "eval-every", opt.EvalEvery, "steps between held-out bits-per-byte measurements (0: at the end only)")
	f.IntVar(&cfg.Decontaminate, "decontaminate", cfg.Decontaminate, "drop every training text sharing a run of this many words with a built-in task's validation or test text (0: off, as in tiny's recipe; 13 is GPT-3's rule)")
	f.IntVar(&cfg.TaskRepeats, "task-repeats", cfg.TaskRepeats, "times each task's training prompts appear in the corpus")
	return cmd
}
