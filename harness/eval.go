package main

import (
	"fmt"

	"github.com/peftbench/peftbench/corpus"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/train"
	"github.com/spf13/cobra"
)

func evalCmd() *cobra.Command {
	name, batch := "tiny", 8
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate a base model's bits per byte on the held-out addresses",
		Long: `Load a base model (a shipped name such as 'tiny', or a checkpoint
directory) and print its bits per byte on the held-out State of the Union
addresses (2012-2021), scored with windows of the model's context moving by
half a context.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			base, err := model.LoadBase(name)
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
			s := train.NewStream(texts, base.Tokenizer.Encode, base.Tokenizer.EOT())
			tr := train.NewTrainer(base.Model, nn.Schedule{}, 0)
			defer tr.Close()
			bpb, err := train.BitsPerByte(tr, s, batch, base.Model.Config.Context)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %d parameters, held-out %d bytes, %d tokens\n", name, base.Model.NumParams(), s.Bytes, len(s.Tokens))
			fmt.Printf("held-out bits per byte: %.4f\n", bpb)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "model", name, "shipped model name or checkpoint directory")
	cmd.Flags().IntVar(&batch, "batch", batch, "windows per forward pass")
	return cmd
}

func envCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "Print the machine, toolchain, BLAS and code version results are tagged with",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Println(machine.Describe(nn.BLAS())) },
	}
}
