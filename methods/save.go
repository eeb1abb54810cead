package methods

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/model"
)

// Save writes the method's own weights as safetensors, with the method and
// its hyper-parameters in the metadata, and returns the file size (HF PEFT's
// file_size).
func (a *Attached) Save(path string) (int64, error) {
	vals, err := json.Marshal(a.Values)
	if err != nil {
		return 0, err
	}
	data, err := model.EncodeSafetensors(a.Own, map[string]string{"method": a.Method, "params": string(vals)})
	if err != nil {
		return 0, err
	}
	if err := atomicfile.Write(path, data); err != nil {
		return 0, err
	}
	return int64(len(data)), nil
}

// Load reads weights written by Save into the method's own parameters.
func (a *Attached) Load(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("methods: %w", err)
	}
	return model.DecodeSafetensors(path, data, a.Own)
}
