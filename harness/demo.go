package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/peftbench/peftbench/corpus"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/train"
	"github.com/spf13/cobra"
)

// demoResult is one task's row of the default run.
type demoResult struct {
	Task         string    `json:"task"`
	DataSize     int       `json:"data_size"`
	Epochs       int       `json:"epochs"`
	ZeroShot     float64   `json:"zero_shot_accuracy"`
	TestAccuracy float64   `json:"test_accuracy"`
	MacroF1      float64   `json:"macro_f1"`
	EpochLoss    []float64 `json:"epoch_loss"`
	TrainTime    float64   `json:"train_time"`
	TokensPerSec float64   `json:"tokens_per_sec"`
	Majority     float64   `json:"majority_accuracy"`
	BoWLR        float64   `json:"bow_lr_accuracy"`
}

// runDemo is the default job until sweeps exist: it checks the shipped base
// model's held-out bits per byte, then fully fine-tunes it on two real
// tasks and compares test accuracy with zero-shot and with the baselines.
func runDemo(cmd *cobra.Command, _ []string) error {
	const (
		baseName = "tiny"
		dataSize = 256
		epochs   = 3
		batch    = 16
		seed     = 1
		out      = "results/default"
	)
	start := time.Now()
	fmt.Printf("peftbench default run: base model %q, %s\n", baseName, machine.Describe())
	base, err := model.LoadBase(baseName)
	if err != nil {
		return err
	}
	docs, err := corpus.HeldOut()
	if err != nil {
		return err
	}
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	ctx := base.Model.Config.Context
	evalTr := train.NewTrainer(base.Model, nn.Schedule{}, 0)
	bpb, err := train.BitsPerByte(evalTr, train.NewStream(texts, base.Tokenizer.Encode, base.Tokenizer.EOT()), 8, ctx)
	evalTr.Close()
	if err != nil {
		return err
	}
	fmt.Printf("held-out bits per byte of %s: %.4f (xz -9e: 2.019)\n", baseName, bpb)

	recorded, err := tasks.RecordedBaselines()
	if err != nil {
		return err
	}
	var results []demoResult
	for _, name := range []string{"sentiment", "spam"} {
		r, err := demoTask(name, baseName, dataSize, epochs, batch, seed)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.Majority = recorded[name].Majority
		if b := recorded[name].BoWLR; b != nil {
			r.BoWLR = b.Accuracy
		}
		results = append(results, *r)
	}
	t := tablewriter.NewWriter(os.Stdout)
	t.Header("task", "train examples", "zero-shot", "full fine-tuning", "macro-F1", "tokens/s", "majority", "bow-lr")
	for _, r := range results {
		t.Append(r.Task, fmt.Sprint(r.DataSize), fmt.Sprintf("%.3f", r.ZeroShot), fmt.Sprintf("%.3f", r.TestAccuracy),
			fmt.Sprintf("%.3f", r.MacroF1), fmt.Sprintf("%.0f", r.TokensPerSec), fmt.Sprintf("%.3f", r.Majority), fmt.Sprintf("%.3f", r.BoWLR))
	}
	if err := t.Render(); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(map[string]any{"base_model": baseName, "heldout_bits_per_byte": bpb, "tasks": results,
		"env": machine.Describe(), "seconds": time.Since(start).Seconds()}, "", "  ")
	path := filepath.Join(out, "demo.json")
	if err := atomicfile.Write(path, append(js, '\n')); err != nil {
		return err
	}
	fmt.Printf("wrote %s in %.0f s\n", path, time.Since(start).Seconds())
	return nil
}

// demoTask fine-tunes a fresh copy of the base model on one task.
func demoTask(name, baseName string, dataSize, epochs, batch int, seed uint64) (*demoResult, error) {
	base, err := model.LoadBase(baseName)
	if err != nil {
		return nil, err
	}
	task, err := tasks.Load(name)
	if err != nil {
		return nil, err
	}
	trainEx, err := task.Train(dataSize, int64(seed))
	if err != nil {
		return nil, err
	}
	testEx, err := task.Split("test")
	if err != nil {
		return nil, err
	}
	enc := base.Tokenizer.Encode
	labels := make([][]int, len(task.Labels))
	for i, l := range task.Labels {
		labels[i] = enc(l)
	}
	pairs := make([]train.Pair, len(trainEx))
	for i, ex := range trainEx {
		pairs[i] = train.Pair{Prompt: enc(ex.Prompt), Target: labels[ex.Label]}
	}
	prompts, gold := make([][]int, len(testEx)), make([]int, len(testEx))
	for i, ex := range testEx {
		prompts[i], gold[i] = enc(ex.Prompt), ex.Label
	}
	ctx := base.Model.Config.Context
	steps := epochs * ((len(pairs) + batch - 1) / batch)
	tr := train.NewTrainer(base.Model, nn.Schedule{Peak: 5e-4, Warmup: steps / 10, Total: steps, MinFactor: 0.1}, 0.01)
	defer tr.Close()
	zero, _, err := train.Classify(tr, prompts, labels, batch, ctx)
	if err != nil {
		return nil, err
	}
	curve, err := train.FineTune(tr, pairs, batch, ctx, epochs, seed)
	if err != nil {
		return nil, err
	}
	preds, _, err := train.Classify(tr, prompts, labels, batch, ctx)
	if err != nil {
		return nil, err
	}
	r := &demoResult{Task: name, DataSize: len(pairs), Epochs: epochs, ZeroShot: tasks.Accuracy(zero, gold),
		TestAccuracy: tasks.Accuracy(preds, gold), MacroF1: tasks.MacroF1(preds, gold, len(labels)), EpochLoss: curve,
		TrainTime: tr.TrainTime.Seconds(), TokensPerSec: tr.TokensPerSec()}
	fmt.Printf("%s: %d examples, %d epochs, loss %v, test accuracy %.3f (zero-shot %.3f)\n", name, r.DataSize, epochs, fmtLosses(curve), r.TestAccuracy, r.ZeroShot)
	return r, nil
}

func fmtLosses(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += " → "
		}
		s += fmt.Sprintf("%.3f", x)
	}
	return s
}
