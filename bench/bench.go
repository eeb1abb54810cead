// Package bench measures training throughput: tokens per second, time
// per step, model-FLOPs utilisation and heap bytes allocated per step, for
// a fixed set of cases (model × method × batch), on peftbench's engine and
// on a PyTorch peer that trains the identical model (bench/peer/peer.py).
package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device"
	"github.com/peftbench/peftbench/train"
	"gorgonia.org/tensor"
)

// Case is one benchmark: a base model, a method and a batch shape.
type Case struct {
	Name string
	// Model is a shipped base model's name, or "" to build Config with
	// random weights.
	Model  string
	Config model.Config
	Batch  int
	Length int
	Method string
	Params map[string]any // the method's hyper-parameters
	// Large marks a case at a real model's size, run only when asked for.
	Large bool
	// Warmup and Steps, when set, replace the harness's defaults for this
	// case (a large case's step takes seconds); flags given explicitly
	// override them.
	Warmup, Steps int
}

// FieldNotes is the small configuration the project's first engine
// measurements used (vocab 256, d 128, 2 layers, 4 heads).
var FieldNotes = model.Config{Vocab: 256, Context: 64, DModel: 128, Layers: 2, Heads: 4, DFF: 512}

// Cases are the default benchmark: the shipped tiny model (batch 8 × 256)
// and the small fieldnotes configuration (vocab 256, d 128, 2 layers, 4
// heads; batch 16 × 64, the size first measured against PyTorch), each with full
// fine-tuning and LoRA r8 on q and v.
func Cases() []Case {
	lora := map[string]any{"rank": 8, "alpha": 16.0, "dropout": 0.0, "targets": "q,v"}
	var out []Case
	for _, m := range []struct {
		name, model string
		cfg         model.Config
		b, t        int
	}{{"tiny", "tiny", model.Config{}, 8, 256}, {"fieldnotes", "", FieldNotes, 16, 64}} {
		out = append(out,
			Case{Name: m.name + "/full", Model: m.model, Config: m.cfg, Batch: m.b, Length: m.t, Method: "full", Params: map[string]any{}},
			Case{Name: m.name + "/lora-r8", Model: m.model, Config: m.cfg, Batch: m.b, Length: m.t, Method: "lora", Params: lora})
	}
	return out
}

// GPT2Small is GPT-2 small's shape (124M parameters): vocab 50257,
// context 1024, d 768, 12 layers of 12 heads, d_ff 3072.
var GPT2Small = model.Config{Vocab: 50257, Context: 1024, DModel: 768, Layers: 12, Heads: 12, DFF: 3072}

// SmolLM2 is SmolLM2-135M's shape (HuggingFaceTB/SmolLM2-135M's
// config.json): Llama family, vocab 49152, context 8192, d 576, 30 layers
// of 9 query and 3 key/value heads, d_ff 1536, rope_theta 100000,
// rms_norm_eps 1e-5, head tied to the embedding.
var SmolLM2 = model.Config{Family: model.Llama, Vocab: 49152, Context: 8192, DModel: 576, Layers: 30, Heads: 9, KVHeads: 3,
	DFF: 1536, NormEps: 1e-5, RopeTheta: 100000}

// LargeCases are what fine-tuning costs at the size of models people
// fine-tune: GPT-2 small and SmolLM2-135M shapes with random weights, LoRA
// r8 on q and v, batch 4 × 128. On two cores a step takes seconds, so
// they run one warm-up and three timed steps unless told otherwise, and
// only when asked for (harness bench --large, or by name in --cases).
func LargeCases() []Case {
	lora := map[string]any{"rank": 8, "alpha": 16.0, "dropout": 0.0, "targets": "q,v"}
	return []Case{
		{Name: "gpt2-124m/lora-r8", Config: GPT2Small, Batch: 4, Length: 128, Method: "lora", Params: lora, Large: true, Warmup: 1, Steps: 3},
		{Name: "smollm2-135m/lora-r8", Config: SmolLM2, Batch: 4, Length: 128, Method: "lora", Params: lora, Large: true, Warmup: 1, Steps: 3},
	}
}

// Settings shared by every case and by the peer.
const (
	LR          = 1e-4
	WeightDecay = 0.01
	Seed        = 1
)

// Result is one case measured once.
type Result struct {
	Case            string  `json:"case"`
	Engine          string  `json:"engine"`
	Device          string  `json:"device"` // where it trained: cpu, or the device's kind and name
	TokensPerSec    float64 `json:"tokens_per_sec"`
	MsPerStep       float64 `json:"ms_per_step"`
	MFU             float64 `json:"mfu"`
	AllocPerStep    float64 `json:"alloc_bytes_per_step"` // heap bytes; -1 where not measured
	WeightBytes     int64   `json:"weight_bytes"`
	TrainableParams int     `json:"trainable_params"`
	FLOPsPerToken   float64 `json:"train_flops_per_token"`
	Threads         int     `json:"threads"`
	// The peaks while the case ran (warm-up and timed steps): bytes of the
	// Go heap's objects, and the process's resident set (for peftbench the
	// whole harness process, with every case prepared at the time: harness
	// bench holds only the running one when a large case is in the run);
	// -1 where not measured.
	PeakHeapBytes int64 `json:"peak_heap_bytes"`
	PeakRSSBytes  int64 `json:"peak_rss_bytes"`
}

// Setup is a case ready to train: the trainer and its batches.
type Setup struct {
	Case    Case
	Trainer *train.Trainer
	// Device is where the engine trains, nil for the CPU (OnDevice).
	Device  device.Device
	Config  model.Config
	batches []train.Batch
	own     []*nn.Param // the method's weights
	flops   float64
	weights int64
	trained int
}

// Prepare builds the model, attaches the method and makes the batches:
// random tokens, every position scored.
func Prepare(c Case) (*Setup, error) {
	var base *model.Base
	if c.Model != "" {
		b, err := model.LoadBase(c.Model)
		if err != nil {
			return nil, err
		}
		base = b
	} else {
		m, err := model.New(c.Config, tensor.Float32, Seed)
		if err != nil {
			return nil, err
		}
		base = &model.Base{Name: c.Name, Model: m}
	}
	m := base.Model
	if c.Length > m.Config.Context {
		return nil, fmt.Errorf("bench: %s: length %d exceeds the context of %d", c.Name, c.Length, m.Config.Context)
	}
	a, err := methods.Attach(base, c.Method, c.Params, Seed)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", c.Name, err)
	}
	s := &Setup{Case: c, Config: m.Config, trained: a.NumTrainable(m), own: a.Own}
	s.Trainer = train.NewTrainer(m, nn.Schedule{Peak: LR, Warmup: 1, Total: 1 << 30}, WeightDecay, a.Hooks...)
	matrices, seen := 0, map[*nn.Param]bool{}
	for _, p := range append(append([]*nn.Param{}, m.Params...), a.Own...) {
		if seen[p] { // full fine-tuning owns the model's own weights
			continue
		}
		seen[p] = true
		s.weights += int64(4 * p.Size())
		if p.Trainable && p.Value.Dims() >= 2 {
			matrices += p.Size()
		}
	}
	s.flops = m.Config.TrainFLOPsPerToken(c.Length, matrices)
	rng := rand.New(rand.NewPCG(Seed, 0xbe7c))
	for range 8 {
		b := train.Batch{B: c.Batch, T: c.Length}
		n := c.Batch * c.Length
		for range n {
			b.IDs = append(b.IDs, rng.IntN(m.Config.Vocab))
			b.Targets = append(b.Targets, rng.IntN(m.Config.Vocab))
			b.Mask = append(b.Mask, 1)
		}
		s.batches = append(s.batches, b)
	}
	return s, nil
}

// Measure runs warmup steps, then steps timed steps, and reports the
// median step, its model-FLOPs utilisation against peak GFLOP/s
// (machine.PeakFP32).
func (s *Setup) Measure(warmup, steps int, peak float64) (Result, error) {
	step := func(i int) error {
		_, err := s.Trainer.Step(s.batches[i%len(s.batches)])
		return err
	}
	mem := watchMemory()
	defer mem.stop()
	for i := range warmup {
		if err := step(i); err != nil {
			return Result{}, err
		}
	}
	runtime.GC()
	times := make([]float64, steps)
	a0 := allocated()
	for i := range steps {
		start := time.Now()
		if err := step(i); err != nil {
			return Result{}, err
		}
		times[i] = time.Since(start).Seconds()
	}
	alloc := float64(allocated()-a0) / float64(steps)
	heap, rss := mem.stop()
	// The median step: a shared machine's bursts of other work would
	// otherwise decide the mean.
	slices.Sort(times)
	secs := times[steps/2]
	tps := float64(s.Case.Batch*s.Case.Length) / secs
	where := "cpu"
	if s.Device != nil {
		where = s.Device.Kind() + " " + s.Device.Name()
	}
	return Result{
		Case: s.Case.Name, Engine: "peftbench", Device: where, TokensPerSec: tps, MsPerStep: 1000 * secs,
		MFU: mfu(tps, s.flops, peak), AllocPerStep: alloc, WeightBytes: s.weights,
		TrainableParams: s.trained, FLOPsPerToken: s.flops, Threads: nn.Workers(), PeakHeapBytes: heap, PeakRSSBytes: rss,
	}, nil
}

// OnDevice makes the engine train the case on dev, before its first step.
func (s *Setup) OnDevice(dev device.Device) error {
	if err := s.Trainer.UseDevice(dev); err != nil {
		return err
	}
	s.Device = dev
	return nil
}

// Release closes the trainer's compiled programs and drops the batches,
// so that the setup's memory can be collected once it is dropped too; the
// setup is unusable after.
func (s *Setup) Release() {
	s.Trainer.Close()
	s.Trainer, s.batches, s.own = nil, nil, nil
}

func mfu(tps, flops, gflops float64) float64 {
	if gflops <= 0 {
		return 0
	}
	return tps * flops / (gflops * 1e9)
}

// allocated is the total of heap bytes allocated by the process so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// memWatch follows the Go heap and the process's resident set while a
// case runs. The heap is sampled every few milliseconds, which catches its
// peak: after the first step (which builds the programs) the engine
// allocates next to nothing per step. The resident set's peak is the
// kernel's high-water mark (VmHWM), reset when the watch starts; where
// the reset is not allowed, it is sampled as the heap is.
type memWatch struct {
	done, quit chan struct{}
	heap, rss  int64
	hwm        bool
	once       bool
}

func watchMemory() *memWatch {
	w := &memWatch{done: make(chan struct{}), quit: make(chan struct{}), heap: -1, rss: -1}
	w.hwm = resetPeakRSS()
	go func() {
		defer close(w.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(heap)
			w.heap = max(w.heap, int64(heap[0].Value.Uint64()))
			if !w.hwm {
				w.rss = max(w.rss, procStatus("VmRSS"))
			}
			select {
			case <-w.quit:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// stop ends the watch (again: a no-op) and returns the peaks, -1 for one
// not measured.
func (w *memWatch) stop() (heap, rss int64) {
	if !w.once {
		w.once = true
		close(w.quit)
		<-w.done
		if w.hwm {
			w.rss = procStatus("VmHWM")
		}
	}
	return w.heap, w.rss
}

// resetPeakRSS resets the process's resident-set high-water mark (Linux:
// writing 5 to /proc/self/clear_refs) and says whether it could.
func resetPeakRSS() bool {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_, err = f.WriteString("5")
	return f.Close() == nil && err == nil && procStatus("VmHWM") > 0
}

// procStatus reads a "kB" field of /proc/self/status in bytes, or -1.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}
