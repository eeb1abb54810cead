package methods

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device/devicetest"
	"gorgonia.org/tensor"
)

// TestEveryMethodOnDevice takes one training step's forward and backward
// pass of every method on every architecture on the OpenCL device (pocl
// in CI) and holds it to the CPU engine: the loss within 1e-4 and every
// gradient within 1e-3, relative. The graphs are built without dropout
// (Training false), since the two runs would draw different masks; the
// device's dropout is checked in nn.
func TestEveryMethodOnDevice(t *testing.T) {
	dev := devicetest.Open(t)
	eachArchitecture(t, trainingMethods(), func(t *testing.T, cfg model.Config, name string) {
		base := newBase(t, cfg, tensor.Float32)
		a := attach(t, base, name, nil)
		rng := rand.New(rand.NewPCG(4, 4))
		perturb(a, base.Model, rng)
		g := nn.NewGraph(tensor.Float32)
		lm, err := base.Model.BuildLM(g, 2, 6, a.Hooks...)
		if err != nil {
			t.Fatal(err)
		}
		lmBatch(lm, rng, cfg.Vocab)
		p, err := nn.Compile(g, lm.Loss)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		w := nn.NewDeviceWeights(dev)
		defer w.Close()
		dp, err := p.OnDevice(w)
		if err != nil {
			t.Fatal(err)
		}
		defer dp.Close()
		if err := dp.Run(); err != nil {
			t.Fatal(err)
		}
		loss, err := dp.LossValue()
		if err != nil {
			t.Fatal(err)
		}
		if e := math.Abs(loss-p.LossValue()) / math.Abs(p.LossValue()); e > 1e-4 {
			t.Errorf("loss %v on the device, %v on the CPU", loss, p.LossValue())
		}
		// A tensor whose gradient is zero in exact arithmetic (the key
		// bias: softmax ignores a shift shared by a row) holds rounding
		// noise on both sides, so each tensor's scale is at least 1e-4 of
		// the largest gradient of the step.
		global := 0.0
		for i := range p.Params {
			for _, v := range p.Grad(i) {
				global = max(global, math.Abs(v))
			}
		}
		for i, prm := range p.Params {
			got, err := dp.Grad(i)
			if err != nil {
				t.Fatal(err)
			}
			want := p.Grad(i)
			scale := 1e-4 * global
			for _, v := range want {
				scale = max(scale, math.Abs(v))
			}
			for j := range want {
				if e := math.Abs(got[j]-want[j]) / scale; !(e <= 1e-3) {
					t.Errorf("gradient of %s[%d]: %v on the device, %v on the CPU", prm.Name, j, got[j], want[j])
					break
				}
			}
		}
	})
}

// BenchmarkStepOnDevice times one training step's forward and backward
// pass of LoRA and full fine-tuning at a small GPT-2 shape, on the CPU
// engine and on the OpenCL device (pocl here: a CPU too, so the ratio
// says how far its kernels are from the engine's, not what a GPU gives).
func BenchmarkStepOnDevice(b *testing.B) {
	cfg := model.Config{Vocab: 2048, Context: 128, DModel: 256, Layers: 4, Heads: 4, DFF: 1024}
	for _, name := range []string{"lora", "full"} {
		m, err := model.New(cfg, tensor.Float32, 5)
		if err != nil {
			b.Fatal(err)
		}
		a, err := Attach(&model.Base{Name: "bench", Model: m}, name, nil, 9)
		if err != nil {
			b.Fatal(err)
		}
		g := nn.NewGraph(tensor.Float32)
		lm, err := m.BuildLM(g, 8, 64, a.Hooks...)
		if err != nil {
			b.Fatal(err)
		}
		lmBatch(lm, rand.New(rand.NewPCG(1, 1)), cfg.Vocab)
		p, err := nn.Compile(g, lm.Loss)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/cpu", func(b *testing.B) {
			for b.Loop() {
				if err := p.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/"+devicetest.Name(), func(b *testing.B) {
			dev := devicetest.Open(b)
			w := nn.NewDeviceWeights(dev)
			defer w.Close()
			dp, err := p.OnDevice(w)
			if err != nil {
				b.Fatal(err)
			}
			defer dp.Close()
			for b.Loop() {
				if err := dp.Run(); err != nil { // reads the loss back: waits for the device
					b.Fatal(err)
				}
			}
		})
	}
}
