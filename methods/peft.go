package methods

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// Adapters in Hugging Face PEFT's format: adapter_config.json and
// adapter_model.safetensors, with PEFT's key names for the base model's
// architecture, so PeftModel.from_pretrained loads what a trial trained.

// PEFT's file names.
const (
	PEFTConfigFile  = "adapter_config.json"
	PEFTWeightsFile = "adapter_model.safetensors"
)

// PEFTExporter is implemented, in its own file, by a method whose weights
// PEFT's format can hold.
type PEFTExporter interface {
	// PEFT returns the adapter's config fields (peft_type and the
	// method's own; SavePEFT adds the common ones) and its tensors, keyed
	// as PEFT keys them without the "base_model.model." prefix (prompt
	// tuning's prompt_embeddings, which PEFT keys alone, gets none; a key
	// that starts with "base_model." is written as it is).
	PEFT(a *Attached, m *model.Model) (config map[string]any, tensors map[string]PEFTTensor, err error)
}

// PEFTTensor is one tensor of an adapter file, row-major.
type PEFTTensor struct {
	Shape  []int
	Values []float64
}

// ErrNoPEFT is SavePEFT's error for a method PEFT's format cannot hold.
var ErrNoPEFT = errors.New("no Hugging Face PEFT format")

// SavePEFT writes the attached method as a PEFT adapter into dir; base
// names the base model (base_model_name_or_path).
func (a *Attached) SavePEFT(m *model.Model, base, dir string) error {
	meth, err := Get(a.Method)
	if err != nil {
		return err
	}
	ex, ok := meth.(PEFTExporter)
	if !ok {
		return fmt.Errorf("methods: %s: %w", a.Method, ErrNoPEFT)
	}
	cfg, tensors, err := ex.PEFT(a, m)
	if err != nil {
		return fmt.Errorf("methods: %s: %w", a.Method, err)
	}
	cfg["task_type"] = "CAUSAL_LM"
	cfg["base_model_name_or_path"] = base
	cfg["inference_mode"] = true
	cfg["revision"] = nil
	raw, err := json.MarshalIndent(cfg, "", "  ") // keys sorted
	if err != nil {
		return err
	}
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	slices.Sort(names)
	// PEFT keeps prompt tuning's, P-tuning's and prefix tuning's
	// embeddings in the PeftModel's prompt encoder, outside the base
	// model, and loads them by the bare name prompt_embeddings.
	prefix := "base_model.model."
	if t := cfg["peft_type"]; t == "PROMPT_TUNING" || t == "P_TUNING" || t == "PREFIX_TUNING" {
		prefix = ""
	}
	params := make([]*nn.Param, len(names))
	for i, k := range names {
		t := tensors[k]
		name := prefix + k
		if strings.HasPrefix(k, "base_model.") {
			name = k // VeRA's shared matrices sit beside the model, keyed from the root
		}
		p := nn.NewParam(name, tensor.Float32, t.Shape...)
		SetValues(p, t.Values)
		params[i] = p
	}
	data, err := model.EncodeSafetensors(params, map[string]string{"format": "pt"})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, PEFTConfigFile), append(raw, '\n')); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, PEFTWeightsFile), data)
}

// peftShort is a module's name as target_modules gives it: PEFT matches a
// target by the module name's suffix, and GPT-2's two c_proj need their
// parent to tell them apart.
func peftShort(path string) string {
	parts := strings.Split(path, ".")
	if last := parts[len(parts)-1]; last != "c_proj" {
		return last
	}
	return strings.Join(parts[len(parts)-2:], ".")
}

// peftTargets is target_modules for a set of adapted modules (full
// paths): their last names ("q_proj", "c_attn") when every adapted block
// adapts the same ones and no other module has such a name, else the full
// paths, which PEFT matches exactly.
func peftTargets(m *model.Model, modules []string) ([]string, error) {
	short := peftShort
	want := map[string]bool{}
	for _, p := range modules {
		want[p] = true
	}
	var names []string
	seen := map[string]bool{}
	for _, p := range modules {
		if s := short(p); !seen[s] {
			seen[s] = true
			names = append(names, s)
		}
	}
	// The short names must pick exactly the adapted modules.
	for i := 0; i < m.Config.Layers; i++ {
		for _, l := range m.Config.LinearNames(i) {
			mod, _, _, err := model.HFModule(m, l)
			if err != nil {
				return nil, err
			}
			if seen[short(mod)] != want[mod] {
				return slices.Sorted(slices.Values(modules)), nil
			}
		}
	}
	slices.Sort(names)
	return names, nil
}
