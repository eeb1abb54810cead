package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/tasks"
	"github.com/spf13/cobra"
)

func listCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "list {models|tasks|methods}",
		Short:     "List the base models (shipped and in the local Hugging Face cache), the built-in tasks or the fine-tuning methods",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"models", "tasks", "methods"},
		RunE: func(_ *cobra.Command, args []string) error {
			switch args[0] {
			case "models":
				return listModels()
			case "methods":
				return listMethods()
			}
			return listTasks()
		},
	}
}

// listModels prints the shipped models, then the models of the local
// Hugging Face cache that load (by the name a spec gives them), and on
// stderr the cached ones that do not, with why.
func listModels() error {
	t := tablewriter.NewWriter(os.Stdout)
	t.Header("model", "source", "architecture", "parameters", "vocab", "context", "d_model", "layers", "heads", "d_ff")
	row := func(name, source string, c model.Config, params int) {
		t.Append(name, source, c.Family.String(), fmt.Sprint(params), fmt.Sprint(c.Vocab), fmt.Sprint(c.Context), fmt.Sprint(c.DModel),
			fmt.Sprint(c.Layers), fmt.Sprint(c.Heads), fmt.Sprint(c.DFF))
	}
	for _, n := range model.Zoo() {
		base, err := model.LoadBase(n)
		if err != nil {
			return err
		}
		row(n, "shipped", base.Model.Config, base.Model.NumParams())
	}
	var skipped []string
	for _, c := range model.CachedModels() {
		if c.Err != nil {
			skipped = append(skipped, fmt.Sprintf("  %s: %v", c.Name(), c.Err))
			continue
		}
		row(c.Name(), "hub cache "+c.Commit[:12], c.Config, c.Params)
	}
	if err := t.Render(); err != nil {
		return err
	}
	if len(skipped) > 0 {
		fmt.Fprintf(os.Stderr, "in the Hugging Face cache (%s) but not loadable:\n%s\n", strings.Join(model.HubCaches(), ", "), strings.Join(skipped, "\n"))
	}
	return nil
}

func listMethods() error {
	t := tablewriter.NewWriter(os.Stdout)
	t.Header("method", "default lr", "hyper-parameter", "default", "range", "description")
	for _, name := range methods.Names() {
		m, err := methods.Get(name)
		if err != nil {
			return err
		}
		lr := fmt.Sprint(m.DefaultLR())
		t.Append(name, lr, "", "", "", m.Doc())
		for _, s := range m.Params() {
			t.Append("", "", s.Name, fmt.Sprint(s.Default), s.Range(), s.Doc)
		}
	}
	return t.Render()
}

func listTasks() error {
	recorded, err := tasks.RecordedBaselines()
	if err != nil {
		return err
	}
	t := tablewriter.NewWriter(os.Stdout)
	t.Header("task", "kind", "train", "validation", "test", "labels", "metrics", "majority", "bow-lr")
	for _, name := range tasks.Builtin() {
		task, err := tasks.Load(name)
		if err != nil {
			return err
		}
		counts := map[string]string{}
		for _, s := range task.Splits() {
			ex, err := task.Split(s)
			if err != nil {
				return err
			}
			counts[s] = fmt.Sprint(len(ex))
		}
		labels := strings.Join(task.Labels, ",")
		if task.Kind == tasks.KindGeneration {
			labels = "(generated answer)"
		}
		b := recorded[name]
		bow := "n/a"
		if b.BoWLR != nil {
			bow = fmt.Sprintf("%.3f", b.BoWLR.Accuracy)
		}
		t.Append(name, task.Kind, counts["train"], counts["validation"], counts["test"], labels,
			strings.Join(task.Metrics(), ","), fmt.Sprintf("%.3f", b.Majority), bow)
	}
	return t.Render()
}

func tasksCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tasks", Short: "Work with tasks: reference baselines"}
	cmd.AddCommand(&cobra.Command{
		Use:   "baselines [TASK|FILE.yaml ...]",
		Short: "Compute majority-class and bag-of-words logistic-regression test accuracy",
		Long: `Compute each task's reference points on its test split: the accuracy of
always predicting the most frequent training label, and of a bag-of-words
logistic regression trained on the training split (L2 chosen on
validation). With no arguments, every built-in task, compared with the
numbers recorded in tasks/data/baselines.json.`,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = tasks.Builtin()
			}
			recorded, err := tasks.RecordedBaselines()
			if err != nil {
				return err
			}
			t := tablewriter.NewWriter(os.Stdout)
			t.Header("task", "test", "majority", "bow-lr acc", "bow-lr macro-F1", "recorded bow-lr")
			for _, name := range args {
				task, err := tasks.Load(name)
				if err != nil {
					return err
				}
				b, err := tasks.Baselines(task)
				if err != nil {
					return err
				}
				acc, f1, rec := "n/a", "n/a", "n/a"
				if b.BoWLR != nil {
					acc, f1 = fmt.Sprintf("%.3f", b.BoWLR.Accuracy), fmt.Sprintf("%.3f", b.BoWLR.MacroF1)
				}
				if r, ok := recorded[task.Name]; ok && r.BoWLR != nil {
					rec = fmt.Sprintf("%.3f", r.BoWLR.Accuracy)
				}
				t.Append(task.Name, fmt.Sprint(b.TestSize), fmt.Sprintf("%.3f", b.Majority), acc, f1, rec)
			}
			return t.Render()
		},
	})
	return cmd
}
