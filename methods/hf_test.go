package methods

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// peftFixture is the LoRA part of a model/hfref fixture: an adapter in
// PEFT's format on a tiny Hugging Face checkpoint, and what an independent
// PyTorch reference computes with it.
type peftFixture struct {
	InputIDs [][]int `json:"input_ids"`
	LoRA     struct {
		Config  map[string]any         `json:"config"`
		Weights map[string][][]float64 `json:"weights"`
		Logits  [][][]float64          `json:"logits"`
		Loss    float64                `json:"loss"`
		Grads   map[string][][]float64 `json:"grads"`
	} `json:"lora"`
}

func fixtureDir(name string) string { return filepath.Join("..", "model", "hfref", "testdata", name) }

// float64Copy loads a checkpoint and widens it to float64, for gradients
// compared to 1e-6.
func float64Copy(t *testing.T, dir string) *model.Model {
	t.Helper()
	m32, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(m32.Config, tensor.Float64, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params {
		SetValues(p, nn.Float64s(m32.Param(p.Name).Value))
	}
	return m
}

// peftParts maps a PEFT module to the LoRA layers that make it up, with
// where each one's outputs lie in the module's.
type peftPart struct {
	l          *loraLayer
	col, width int
}

func peftParts(t *testing.T, m *model.Model, h *loraHook) map[string][]peftPart {
	t.Helper()
	out := map[string][]peftPart{}
	for name, l := range h.layers {
		mod, col, width, err := model.HFModule(m, name)
		if err != nil {
			t.Fatal(err)
		}
		out["base_model.model."+mod] = append(out["base_model.model."+mod], peftPart{l, col, width})
	}
	return out
}

// LoRA on real architectures, set from a PEFT adapter, gives the logits,
// loss and gradients of an independent PyTorch reference, and is written
// back in PEFT's format as the reference wrote it.
func TestLoRAMatchesPEFTReference(t *testing.T) {
	for _, name := range []string{"gpt2", "llama", "llama3", "qwen2", "qwen3", "mistral"} {
		t.Run(name, func(t *testing.T) {
			dir := fixtureDir(name)
			raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			var fx peftFixture
			if err := json.Unmarshal(raw, &fx); err != nil {
				t.Fatal(err)
			}
			m := float64Copy(t, dir)
			var targets []string
			for _, x := range fx.LoRA.Config["target_modules"].([]any) {
				targets = append(targets, x.(string))
			}
			a, err := Attach(&model.Base{Name: name, Model: m}, "lora", map[string]any{
				"rank": int(fx.LoRA.Config["r"].(float64)), "alpha": fx.LoRA.Config["lora_alpha"].(float64), "targets": strings.Join(targets, ","), "dropout": 0.0}, 1)
			if err != nil {
				t.Fatal(err)
			}
			h := a.Hooks[0].(*loraHook)
			parts := peftParts(t, m, h)
			// Set each part's A (transposed) and its rows of B from the adapter.
			for mod, ps := range parts {
				A, B := fx.LoRA.Weights[mod+".lora_A.weight"], fx.LoRA.Weights[mod+".lora_B.weight"]
				if A == nil || B == nil {
					t.Fatalf("the adapter has no %s", mod)
				}
				for _, p := range ps {
					r, in := len(A), len(A[0])
					w := p.l.b.Value.Shape()[1]
					av, bv := make([]float64, in*r), make([]float64, r*w)
					for j := 0; j < r; j++ {
						for x := 0; x < in; x++ {
							av[x*r+j] = A[j][x]
						}
						for o := 0; o < w; o++ {
							bv[j*w+o] = B[p.col+o][j]
						}
					}
					SetValues(p.l.a, av)
					SetValues(p.l.b, bv)
				}
			}

			g := nn.NewGraph(tensor.Float64)
			g.Training = true
			B, T := len(fx.InputIDs), len(fx.InputIDs[0])
			lm, err := m.BuildLM(g, B, T, a.Hooks...)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := nn.Compile(g, lm.Loss, lm.Logits)
			if err != nil {
				t.Fatal(err)
			}
			defer prog.Close()
			ids, tg, mask := make([]int, B*T), make([]int, B*T), make([]float64, B*T)
			for b, seq := range fx.InputIDs {
				for i, id := range seq {
					ids[b*T+i] = id
					if i+1 < T {
						tg[b*T+i], mask[b*T+i] = seq[i+1], 1
					}
				}
			}
			lm.IDs.SetInts(ids)
			lm.Targets.SetInts(tg)
			lm.Mask.SetFloats(mask)
			if err := prog.Run(); err != nil {
				t.Fatal(err)
			}
			if got := prog.LossValue(); math.Abs(got-fx.LoRA.Loss) > 1e-7 {
				t.Errorf("loss %.9f, reference %.9f", got, fx.LoRA.Loss)
			}
			logits, worstLogit := nn.Float64s(prog.Value(lm.Logits)), 0.0
			for b, seq := range fx.LoRA.Logits {
				for i, row := range seq {
					for v, x := range row {
						worstLogit = max(worstLogit, math.Abs(logits[(b*T+i)*len(row)+v]-x))
					}
				}
			}
			// Gradients in PEFT's layout: A's summed over the parts sharing it.
			grad := map[*nn.Param][]float64{}
			for i, p := range prog.Params {
				grad[p] = prog.Grad(i)
			}
			worstGrad := 0.0
			for mod, ps := range parts {
				GA, GB := fx.LoRA.Grads[mod+".lora_A.weight"], fx.LoRA.Grads[mod+".lora_B.weight"]
				r, in := len(GA), len(GA[0])
				gotA := make([][]float64, r)
				for j := range gotA {
					gotA[j] = make([]float64, in)
				}
				for _, p := range ps {
					ga, gb := grad[p.l.a], grad[p.l.b]
					w := len(gb) / r
					for j := 0; j < r; j++ {
						for x := 0; x < in; x++ {
							gotA[j][x] += ga[x*r+j]
						}
						for o := 0; o < w; o++ {
							worstGrad = max(worstGrad, relDiff(gb[j*w+o], GB[p.col+o][j]))
						}
					}
				}
				for j := range GA {
					for x := range GA[j] {
						worstGrad = max(worstGrad, relDiff(gotA[j][x], GA[j][x]))
					}
				}
			}
			t.Logf("%s: logits within %.1e, LoRA gradients within %.1e (relative)", name, worstLogit, worstGrad)
			if worstLogit > 1e-6 || worstGrad > 1e-6 {
				t.Errorf("logits differ by %.2e, gradients by %.2e (relative): limits 1e-6", worstLogit, worstGrad)
			}

			// Written back in PEFT's format: the reference's file, tensor for tensor.
			out := t.TempDir()
			if err := a.SavePEFT(m, name, out); err != nil {
				t.Fatal(err)
			}
			compareAdapters(t, filepath.Join(dir, "adapter"), out)
		})
	}
}

func relDiff(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1e-3) }

// compareAdapters checks that two PEFT adapters hold the same tensors (names,
// shapes, float32 values) and agree on the config fields that define them.
func compareAdapters(t *testing.T, wantDir, gotDir string) {
	t.Helper()
	want, got := readPEFT(t, wantDir), readPEFT(t, gotDir)
	for _, k := range []string{"peft_type", "r", "lora_alpha", "lora_dropout", "target_modules", "fan_in_fan_out", "bias", "task_type", "use_rslora"} {
		if w, g := jsonOf(want.cfg[k]), jsonOf(got.cfg[k]); w != g {
			t.Errorf("adapter_config.json %q: %s, reference %s", k, g, w)
		}
	}
	if w, g := slices.Sorted(maps.Keys(want.tensors)), slices.Sorted(maps.Keys(got.tensors)); !slices.Equal(w, g) {
		t.Fatalf("tensors %v, reference %v", g, w)
	}
	for n, w := range want.tensors {
		if g := got.tensors[n]; !slices.Equal(g.Shape, w.Shape) || !slices.Equal(g.Values, w.Values) {
			t.Errorf("%s: %v differs from the reference's %v or in its values", n, g.Shape, w.Shape)
		}
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }
