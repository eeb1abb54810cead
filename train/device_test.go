package train_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/nn/device/devicetest"
	"github.com/peftbench/peftbench/train"
)

// A trainer on the device (OpenCL on pocl in CI) fine-tunes as the CPU
// engine does: the same epoch losses within 1e-4 and the same trained
// weights within 1e-3 of their norm, for LoRA, for pac through its
// activation cache and for AdaLoRA, whose step hook pulls the weights and
// pushes its masking back every step; its scores and greedy tokens agree after training;
// and weights changed on the host reach the device through Push.
func TestFineTuneOnDeviceMatchesCPU(t *testing.T) {
	dev := devicetest.Open(t)
	for _, method := range []string{"lora", "pac", "full", "adalora"} {
		t.Run(method, func(t *testing.T) {
			sched := nn.Schedule{Peak: 1e-2, Warmup: 2, Total: 9}
			m, a, pairs := cacheSetup(t, method)
			cpu := train.NewTrainer(m, sched, 0.01, a.Hooks...)
			if method == "pac" {
				cpu.Cache = train.NewActivationCache(1 << 30)
			}
			wantLoss, wantW := fitEpochs(t, cpu, a, m, pairs)
			prompts, labels := [][]int{pairs[0].Prompt, pairs[1].Prompt, pairs[2].Prompt}, [][]int{{3}, {4}, {5, 6}}
			_, wantScores, err := train.Classify(cpu, prompts, labels, 2, 20)
			if err != nil {
				t.Fatal(err)
			}
			wantGen, err := train.Generate(cpu, prompts, 3, 2, 20, nil)
			if err != nil {
				t.Fatal(err)
			}
			cpu.Close()

			m2, a2, _ := cacheSetup(t, method)
			tr := train.NewTrainer(m2, sched, 0.01, a2.Hooks...)
			defer tr.Close()
			if err := tr.UseDevice(dev); err != nil {
				t.Fatal(err)
			}
			if method == "pac" {
				tr.Cache = train.NewActivationCache(1 << 30)
			}
			gotLoss, gotW := fitEpochs(t, tr, a2, m2, pairs)
			for i := range wantLoss {
				if e := math.Abs(gotLoss[i]-wantLoss[i]) / math.Max(1, math.Abs(wantLoss[i])); e > 1e-4 {
					t.Errorf("epoch %d loss %v on the device, %v on the CPU", i+1, gotLoss[i], wantLoss[i])
				}
			}
			for i, p := range a2.Trainable(m2) {
				if strings.HasSuffix(p.Name, ".attn.k.bias") {
					// A key bias adds q·b to every score of a query: softmax
					// ignores it, its gradient is zero in exact arithmetic,
					// and both engines train rounding noise there.
					continue
				}
				if e, at := relErr(gotW[i], wantW[i]); e > 1e-3 {
					t.Errorf("trained %s: error %.2g of its norm, largest at %d (device %v, CPU %v)", a2.Trainable(m2)[i].Name, e, at, gotW[i][at], wantW[i][at])
				}
			}
			_, gotScores, err := train.Classify(tr, prompts, labels, 2, 20)
			if err != nil {
				t.Fatal(err)
			}
			for i := range wantScores {
				for j := range wantScores[i] {
					if math.Abs(gotScores[i][j]-wantScores[i][j]) > 1e-3*math.Max(1, math.Abs(wantScores[i][j])) {
						t.Errorf("prompt %d label %d: log-likelihood %v on the device, %v on the CPU", i, j, gotScores[i][j], wantScores[i][j])
					}
				}
			}
			gotGen, err := train.Generate(tr, prompts, 3, 2, 20, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range wantGen {
				if !slices.Equal(gotGen[i], wantGen[i]) {
					t.Errorf("prompt %d: greedy %v on the device, %v on the CPU", i, gotGen[i], wantGen[i])
				}
			}

			// Zeroing the trained weights on the host changes nothing on
			// the device until Push.
			s0 := gotScores
			for _, p := range a2.Trainable(m2) {
				clear(p.F32())
			}
			_, s1, _ := train.Classify(tr, prompts, labels, 2, 20)
			if s1[0][0] != s0[0][0] {
				t.Errorf("a host change reached the device without Push: %v then %v", s0[0][0], s1[0][0])
			}
			if err := tr.Push(); err != nil {
				t.Fatal(err)
			}
			_, s2, _ := train.Classify(tr, prompts, labels, 2, 20)
			if s2[0][0] == s0[0][0] {
				t.Errorf("zeroed weights pushed to the device left the score at %v", s2[0][0])
			}
		})
	}
}

// relErr is the error of got as a fraction of want's norm, and where the
// largest difference lies: AdamW's normalised steps can move a weight whose
// gradient is near zero either way, so single elements are not held to it.
func relErr(got, want []float32) (float64, int) {
	var diff, norm, worst float64
	at := 0
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		diff += d * d
		norm += float64(want[i]) * float64(want[i])
		if math.Abs(d) > worst {
			worst, at = math.Abs(d), i
		}
	}
	return math.Sqrt(diff / math.Max(norm, 1e-30)), at
}
