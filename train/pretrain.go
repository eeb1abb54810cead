package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/template"
	"time"

	"github.com/peftbench/peftbench/corpus"
	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/model/tokenizer"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/tasks"
	"gorgonia.org/tensor"
)

// PretrainConfig is the whole recipe of a base model: rerunning it with the
// same values on one thread reproduces the model bit for bit.
type PretrainConfig struct {
	Model       model.Config `json:"model"` // Vocab is the tokenizer's size
	Steps       int          `json:"steps"`
	Batch       int          `json:"batch"`
	SeqLen      int          `json:"seq_len"`
	LR          float64      `json:"lr"`
	Warmup      int          `json:"warmup"`
	MinLRFactor float64      `json:"min_lr_factor"`
	WeightDecay float64      `json:"weight_decay"`
	Seed        uint64       `json:"seed"`
	// Sources names optional corpora that join the shipped training
	// documents: "brown" (corpus.Brown).
	Sources []string `json:"sources,omitempty"`
	// Tasks names tasks whose training-split text (each prompt up to the
	// end of its text: no answer cue, label or max_chars cut) joins the
	// corpus, TaskRepeats times each: unlabeled in-domain text, as in
	// task-adaptive pre-training. Their validation prompts give in-domain
	// held-out bits per byte; their test splits are never used.
	Tasks       []string `json:"tasks,omitempty"`
	TaskRepeats int      `json:"task_repeats,omitempty"`
	// Decontaminate, when not 0, is n: every training text sharing a run
	// of n words with a validation or test text of a built-in task (or
	// equal to a shorter one) is dropped (train.Evaluation).
	Decontaminate int `json:"decontaminate_ngram,omitempty"`
}

// PretrainResult is what a pre-training run measured.
type PretrainResult struct {
	Config        PretrainConfig `json:"config"`
	Command       string         `json:"command"`
	Params        int            `json:"num_params"`
	TrainDocs     int            `json:"train_documents"`
	TrainBytes    int            `json:"train_bytes"`
	TrainTokens   int            `json:"train_corpus_tokens"`
	TokensSeen    int64          `json:"tokens_seen"`
	Epochs        float64        `json:"epochs"`
	FinalLoss     float64        `json:"final_train_loss"`
	HeldOutDocs   int            `json:"heldout_documents"`
	HeldOutBytes  int            `json:"heldout_bytes"`
	HeldOutBPB    float64        `json:"heldout_bits_per_byte"`
	TokenizerSecs float64        `json:"tokenizer_seconds"`
	TrainSecs     float64        `json:"train_seconds"`
	TokensPerSec  float64        `json:"tokens_per_sec"`
	Machine       machine.Info   `json:"machine"`
	// Device is the device the run trained on ("opencl …", "cuda …"),
	// empty on the CPU.
	Device          string    `json:"device,omitempty"`
	BLASThreads     string    `json:"blas_threads"` // OPENBLAS_NUM_THREADS as run ("" = OpenBLAS's default)
	GoMaxProcs      int       `json:"gomaxprocs"`
	FinishedAt      string    `json:"finished_at"`
	BytesPerToken   float64   `json:"heldout_bytes_per_token"`
	HeldOutTokens   int       `json:"heldout_tokens"`
	LossCurve       []float64 `json:"loss_curve"` // mean training loss per tenth of the run
	HeldOutBaseline string    `json:"heldout_baseline"`
	TaskDocs        int       `json:"task_documents,omitempty"` // in-domain documents, before repetition
	TaskBytes       int       `json:"task_bytes,omitempty"`
	// Dropped counts the training texts decontamination removed.
	Dropped int `json:"decontaminated_documents,omitempty"`
	// TaskHeldOutBPB is bits per byte on each task's validation prompts.
	TaskHeldOutBPB map[string]float64 `json:"task_heldout_bits_per_byte,omitempty"`
	// HeldOutCurve is held-out bits per byte measured as the run went
	// (PretrainOptions.EvalEvery).
	HeldOutCurve []HeldOutPoint `json:"heldout_curve,omitempty"`
	// Resumed counts the times the run continued from a checkpoint.
	Resumed int `json:"resumed,omitempty"`
}

// Progress is reported after every step.
type Progress struct {
	Step, Steps  int
	Loss         float64 // running mean over recent steps
	TokensPerSec float64
	Elapsed      time.Duration
	HeldOutBPB   float64 // the latest held-out measurement; 0 before the first
}

func docTexts(docs []corpus.Document) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Text
	}
	return out
}

// Pretrain trains a tokenizer and a base model on the shipped corpus,
// evaluates held-out bits per byte and writes the checkpoint, tokenizer,
// metrics and model card into out. With opt.CheckpointEvery it keeps a
// checkpoint in out/checkpoint as it goes and, started again, resumes from
// it; the folder is removed once the model is written.
func Pretrain(cfg PretrainConfig, out string, opt PretrainOptions, progress func(Progress)) (*PretrainResult, error) {
	trainDocs, err := trainDocuments(cfg.Sources)
	if err != nil {
		return nil, err
	}
	heldDocs, err := corpus.HeldOut()
	if err != nil {
		return nil, err
	}
	taskTrain, taskHeld, err := taskTexts(cfg.Tasks)
	if err != nil {
		return nil, err
	}
	trainTexts := docTexts(trainDocs)
	dropped := 0
	if cfg.Decontaminate > 0 {
		eval, err := EvaluationTexts()
		if err != nil {
			return nil, err
		}
		e := NewEvaluation(cfg.Decontaminate, eval)
		trainTexts, dropped = e.Clean(trainTexts)
		for _, name := range cfg.Tasks {
			var n int
			taskTrain[name], n = e.Clean(taskTrain[name])
			dropped += n
		}
	}
	for range max(1, cfg.TaskRepeats) {
		for _, name := range cfg.Tasks {
			trainTexts = append(trainTexts, taskTrain[name]...)
		}
	}
	res := &PretrainResult{Config: cfg, Command: opt.Command, TrainDocs: len(trainDocs), Dropped: dropped, HeldOutDocs: len(heldDocs), Machine: machine.Describe(nn.BLAS()),
		HeldOutBaseline: "xz -9e on the held-out text after the training text: 2.019 bits per byte (corpus/README.md)",
		BLASThreads:     os.Getenv("OPENBLAS_NUM_THREADS"), GoMaxProcs: runtime.GOMAXPROCS(0)}
	start := time.Now()
	tok, err := tokenizer.Train(trainTexts, cfg.Model.Vocab)
	if err != nil {
		return nil, err
	}
	res.TokenizerSecs = time.Since(start).Seconds()
	trainStream := NewStream(trainTexts, tok.Encode, tok.EOT())
	heldStream := NewStream(docTexts(heldDocs), tok.Encode, tok.EOT())
	res.TrainBytes, res.TrainTokens = trainStream.Bytes, len(trainStream.Tokens)
	res.HeldOutBytes, res.HeldOutTokens = heldStream.Bytes, len(heldStream.Tokens)
	res.BytesPerToken = float64(heldStream.Bytes) / float64(len(heldStream.Tokens)-len(heldDocs))

	m, err := model.New(cfg.Model, tensor.Float32, cfg.Seed)
	if err != nil {
		return nil, err
	}
	res.Params = m.NumParams()
	tr := NewTrainer(m, nn.Schedule{Peak: cfg.LR, Warmup: cfg.Warmup, Total: cfg.Steps, MinFactor: cfg.MinLRFactor}, cfg.WeightDecay)
	defer tr.Close()
	if d := opt.Device; d != nil {
		if err := tr.UseDevice(d); err != nil {
			return nil, err
		}
		res.Device = d.Kind() + " " + d.Name()
	}
	w, err := NewWindows(trainStream, cfg.Batch, cfg.SeqLen, cfg.Seed)
	if err != nil {
		return nil, err
	}
	ckpt := filepath.Join(out, "checkpoint")
	st, err := loadCheckpoint(ckpt, cfg, tr, w)
	if err != nil {
		return nil, err
	}
	if st != nil {
		res.Resumed = st.Resumed + 1
	} else {
		st = &checkpointState{Config: cfg}
	}
	st.Resumed = res.Resumed
	heldOut := func() (float64, error) { return BitsPerByte(tr, heldStream, cfg.Batch, cfg.SeqLen) }
	if err := pretrainLoop(cfg, tr, w, ckpt, opt, st, heldOut, progress); err != nil {
		return nil, err
	}
	res.LossCurve, res.HeldOutCurve = st.LossCurve, st.HeldOut
	res.FinalLoss = mean(st.Recent)
	res.TokensSeen = tr.TokensSeen
	res.Epochs = float64(tr.TokensSeen) / float64(len(trainStream.Tokens))
	res.TrainSecs = tr.TrainTime.Seconds()
	res.TokensPerSec = tr.TokensPerSec()
	if res.HeldOutBPB, err = BitsPerByte(tr, heldStream, cfg.Batch, cfg.SeqLen); err != nil {
		return nil, err
	}
	res.TaskHeldOutBPB = map[string]float64{}
	for _, name := range cfg.Tasks {
		res.TaskDocs += len(taskTrain[name])
		for _, d := range taskTrain[name] {
			res.TaskBytes += len(d)
		}
		if res.TaskHeldOutBPB[name], err = BitsPerByte(tr, NewStream(taskHeld[name], tok.Encode, tok.EOT()), cfg.Batch, cfg.SeqLen); err != nil {
			return nil, err
		}
	}
	res.FinishedAt = time.Now().UTC().Format(time.RFC3339)
	if err := m.Save(out); err != nil {
		return nil, err
	}
	if err := tok.Save(out); err != nil {
		return nil, err
	}
	js, _ := json.MarshalIndent(res, "", "  ")
	if err := atomicfile.Write(filepath.Join(out, "pretrain.json"), append(js, '\n')); err != nil {
		return nil, err
	}
	if err := writeCard(filepath.Join(out, "README.md"), filepath.Base(out), res); err != nil {
		return nil, err
	}
	return res, os.RemoveAll(ckpt)
}

// trainDocuments is the shipped training corpus and the named optional
// sources after it.
func trainDocuments(sources []string) ([]corpus.Document, error) {
	docs, err := corpus.Train()
	if err != nil {
		return nil, err
	}
	for _, s := range sources {
		var more []corpus.Document
		switch s {
		case "brown":
			more, err = corpus.Brown()
		default:
			return nil, fmt.Errorf("train: pre-training source %q is not one of: brown", s)
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, more...)
	}
	return docs, nil
}

// taskTexts returns each task's training prompts (for the corpus) and
// validation prompts (held out), with no max_chars cut and no labels.
func taskTexts(names []string) (train, held map[string][]string, err error) {
	train, held = map[string][]string{}, map[string][]string{}
	for _, name := range names {
		t, err := tasks.Load(name)
		if err != nil {
			return nil, nil, err
		}
		t.MaxChars = 0
		for split, into := range map[string]map[string][]string{"train": train, "validation": held} {
			exs, err := t.Split(split)
			if err != nil {
				return nil, nil, fmt.Errorf("train: pre-training on task %s: %w", name, err)
			}
			for _, e := range exs {
				into[name] = append(into[name], uncued(e))
			}
		}
	}
	return train, held, nil
}

// uncued is an example's prompt up to the end of its text: the answer cue
// after it ("\nRating:") is left out, or pre-training would teach the model
// that the cue ends a document, which fine-tuning must then unlearn.
func uncued(e tasks.Example) string {
	if i := strings.LastIndex(e.Prompt, e.Text); i >= 0 && e.Text != "" {
		return e.Prompt[:i+len(e.Text)]
	}
	return e.Prompt
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(max(1, len(xs)))
}

var cardTmpl = template.Must(template.New("card").Funcs(template.FuncMap{
	"join": func(xs []float64) string {
		parts := make([]string, len(xs))
		for i, x := range xs {
			parts[i] = fmt.Sprintf("%.3f", x)
		}
		return strings.Join(parts, " → ")
	},
	"list": func(xs []string) string { return strings.Join(xs, ", ") },
}).Parse(`# {{.Name}}: a GPT-2-style base model pre-trained by peftbench

| | |
|---|---|
| architecture | decoder-only transformer, pre-LayerNorm, learned positions, head tied to the token embedding, GELU (tanh) |
| size | {{.R.Params}} parameters: vocabulary {{.R.Config.Model.Vocab}}, context {{.R.Config.Model.Context}}, d_model {{.R.Config.Model.DModel}}, {{.R.Config.Model.Layers}} layers, {{.R.Config.Model.Heads}} heads, d_ff {{.R.Config.Model.DFF}} |
| tokenizer | byte-level BPE, {{.R.Config.Model.Vocab}} tokens (256 bytes, merges, ` + "`<|endoftext|>`" + `), GPT-2 pre-tokenisation, trained on the pre-training text ({{printf "%.1f" .R.TokenizerSecs}} s) |
| data | {{.R.TrainDocs}} documents: State of the Union addresses 1790-2011 and Moby Dick (public domain){{if .R.Config.Sources}}, then {{list .R.Config.Sources}}{{end}} (see corpus/README.md){{if .R.Config.Tasks}}, and the training-split prompts of {{list .R.Config.Tasks}} without their answer cue or label ({{.R.TaskDocs}} documents, {{.R.TaskBytes}} bytes, each {{.R.Config.TaskRepeats}} times: unlabeled in-domain text; no validation or test example){{end}}{{if .R.Config.Decontaminate}}; {{.R.Dropped}} texts sharing a run of {{.R.Config.Decontaminate}} words with a built-in task's validation or test text dropped{{end}}: {{.R.TrainBytes}} bytes, {{.R.TrainTokens}} tokens in all |
| **held-out bits per byte** | **{{printf "%.4f" .R.HeldOutBPB}}** on the last {{.R.HeldOutDocs}} addresses (2012-2021, {{.R.HeldOutBytes}} bytes, {{printf "%.2f" .R.BytesPerToken}} bytes per token), windows of {{.R.Config.SeqLen}} tokens moving by {{.Half}} |{{range $t, $b := .R.TaskHeldOutBPB}}
| held-out bits per byte, {{$t}} | {{printf "%.4f" $b}} on the task's validation prompts (without answer cue) |{{end}}
| reference | {{.R.HeldOutBaseline}}; bzip2 -9 alone 2.147 |

## Recipe

    {{.R.Command}}

| setting | value |
|---|---|
| steps | {{.R.Config.Steps}} of {{.R.Config.Batch}} × {{.R.Config.SeqLen}} tokens ({{.R.TokensSeen}} tokens, {{printf "%.2f" .R.Epochs}} epochs) |
| optimiser | AdamW, peak learning rate {{.R.Config.LR}}, {{.R.Config.Warmup}} warm-up steps, cosine decay to {{.R.Config.MinLRFactor}}×, weight decay {{.R.Config.WeightDecay}}, gradient clipping at norm 1 |
| seed | {{.R.Config.Seed}} (initialisation and window sampling) |
| training loss by tenths | {{join .R.LossCurve}} |
| time | {{printf "%.0f" .R.TrainSecs}} s of training, {{printf "%.0f" .R.TokensPerSec}} tokens/s |
| machine | {{.R.Machine}}{{with .R.Device}}; trained on {{.}}{{end}} |
| threads | OPENBLAS_NUM_THREADS={{.R.BLASThreads}}, GOMAXPROCS={{.R.GoMaxProcs}} |
| finished | {{.R.FinishedAt}} |

Every number above is in ` + "`pretrain.json`" + ` beside this card. Rerunning the recipe with
the same seed, BLAS and thread count reproduces the weights bit for bit; another OpenBLAS
thread count splits the matrix products' sums differently and changes the last bits.
`))

func writeCard(path, name string, r *PretrainResult) error {
	var b strings.Builder
	if err := cardTmpl.Execute(&b, map[string]any{"Name": name, "R": r, "Half": r.Config.SeqLen / 2}); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(b.String()))
}
