package methods

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
)

// Every adapter SavePEFT writes, loaded back by LoadPEFT onto a fresh copy
// of the base model, is the method that wrote it: the same logits, and the
// same method and settings. PiSSA and OLoRA adapters are written as PEFT
// converts them for the unchanged base (rank 2r, a plain LoRA), so they
// load as that LoRA, within the float32 rounding of their factors. DoRA,
// VeRA and LN tuning adapters are not loaded yet, and say so.
func TestLoadPEFTInvertsSavePEFT(t *testing.T) {
	for k, c := range peftCases() {
		t.Run(c.name, func(t *testing.T) {
			m, a := peftAttach(t, c, uint64(k)+1)
			ids := fixtureIDs(t, c.fixture)
			want := sequenceLogits(t, m, ids, a.Hooks...)
			dir := t.TempDir()
			savePEFT(t, c, m, a, dir)
			fresh := float64Copy(t, fixtureDir(c.fixture))
			b, err := LoadPEFT(&model.Base{Name: c.fixture, Model: fresh}, dir)
			if c.method != "lora" && c.method != "ia3" && c.method != "prompt" {
				if err == nil || !strings.Contains(err.Error(), "cannot be loaded") {
					t.Fatalf("a %s adapter: error %v, want one saying it cannot be loaded", c.method, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tol, factor := 1e-9, 1
			if init := a.Values["init"]; init == "pissa" || init == "olora" {
				tol, factor = 1e-6, 2
			}
			got := sequenceLogits(t, fresh, ids, b.Hooks...)
			if d := worstDiff(got, want); d > tol {
				t.Errorf("logits of the loaded adapter differ by %.2e (limit %.0e)", d, tol)
			}
			if b.Method != a.Method || b.NumTrainable(fresh) != factor*a.NumTrainable(m) {
				t.Errorf("loaded %s with %d trainable, wrote %s with %d (×%d expected)", b.Method, b.NumTrainable(fresh), a.Method, a.NumTrainable(m), factor)
			}
			if c.method == "lora" {
				if b.Values.Int("rank") != factor*a.Values.Int("rank") {
					t.Errorf("rank: loaded %v, wrote %v (×%d expected)", b.Values["rank"], a.Values["rank"], factor)
				}
				wantScale, gotScale := a.Values.Float("alpha")/float64(a.Values.Int("rank")), b.Values.Float("alpha")/float64(b.Values.Int("rank"))
				if a.Values["rslora"] == true {
					wantScale = a.Values.Float("alpha") / math.Sqrt(float64(a.Values.Int("rank")))
					gotScale = b.Values.Float("alpha") / math.Sqrt(float64(b.Values.Int("rank")))
				}
				if math.Abs(gotScale-wantScale) > 1e-12*wantScale || b.Values["rslora"] != a.Values["rslora"] {
					t.Errorf("scale: loaded %v (rslora %v), wrote %v (rslora %v)", gotScale, b.Values["rslora"], wantScale, a.Values["rslora"])
				}
				wl, _ := MatchLinear(m.Config, a.Values.List("targets"))
				gl, _ := MatchLinear(fresh.Config, b.Values.List("targets"))
				if fmt.Sprint(wl) != fmt.Sprint(gl) {
					t.Errorf("loaded adapts %v, wrote %v", gl, wl)
				}
			} else if fmt.Sprint(a.Values["length"]) != fmt.Sprint(b.Values["length"]) {
				t.Errorf("length: loaded %v, wrote %v", b.Values["length"], a.Values["length"])
			}
		})
	}
}

// The adapters of model/hfref, written in PEFT's layout by the reference,
// load as the test's own reader of PEFT's format applies them.
func TestLoadPEFTReferenceAdapters(t *testing.T) {
	for _, fixture := range []string{"gpt2", "llama", "llama3", "qwen2", "qwen3", "mistral", "llama-sharded"} {
		dir := filepath.Join(fixtureDir(fixture), "adapter")
		ids := fixtureIDs(t, fixture)
		ref := float64Copy(t, fixtureDir(fixture))
		importPEFT(t, ref, readPEFT(t, dir))
		want := sequenceLogits(t, ref, ids)
		m := float64Copy(t, fixtureDir(fixture))
		a, err := LoadPEFT(&model.Base{Name: fixture, Model: m}, dir)
		if err != nil {
			t.Fatalf("%s: %v", fixture, err)
		}
		if d := worstDiff(sequenceLogits(t, m, ids, a.Hooks...), want); d > 1e-9 {
			t.Errorf("%s: logits differ from the merged reference adapter by %.2e", fixture, d)
		}
	}
}

func TestLoadPEFTErrors(t *testing.T) {
	var c peftCase
	for _, k := range peftCases() {
		if k.name == "lora-llama-all" {
			c = k
		}
	}
	m, a := peftAttach(t, c, 1)
	good := t.TempDir()
	savePEFT(t, c, m, a, good)
	weights, err := os.ReadFile(filepath.Join(good, PEFTWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]string{
		`"layers_to_transform"`: `{"peft_type": "LORA", "r": 2, "lora_alpha": 3, "layers_to_transform": [0]}`,
		`"peft_type"`:           `{"peft_type": "LOHA", "r": 2}`,
		`"loftq_config"`:        `{"peft_type": "LORA", "r": 2, "lora_alpha": 3, "loftq_config": {"loftq_bits": 4}}`,
		"rank 2":                `{"peft_type": "LORA", "r": 4, "lora_alpha": 3}`,
		"has no lora_alpha":     `{"peft_type": "LORA", "r": 2}`,
		"no prompt_embeddings":  `{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 5}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, PEFTConfigFile), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, PEFTWeightsFile), weights, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadPEFT(&model.Base{Model: float64Copy(t, fixtureDir(c.fixture))}, dir)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error %v, want it to say %s and name the folder", cfg, err, name)
		}
	}
}
