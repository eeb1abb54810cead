package edge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWorkloadJSONRoundTrip(t *testing.T) {
	ws := illustrative(t)
	b, err := json.Marshal(ws)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := ReadWorkloads(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ws, back) {
		t.Errorf("round trip changed the workloads:\n%+v\n%+v", ws, back)
	}
	// Every key is snake_case and none is lost.
	var raw []map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for k := range raw[0] {
		if k != strings.ToLower(k) || strings.Contains(k, "-") {
			t.Errorf("key %q is not snake_case", k)
		}
	}
	for _, k := range []string{"method", "layers", "batch", "tokens", "microbatches", "reference_gflops",
		"layer_forward_s", "layer_backward_s", "head_forward_s", "head_backward_s", "adapter_forward_s",
		"adapter_backward_s", "optimizer_step_s", "activation_bytes", "layer_saved_bytes", "layer_weight_bytes",
		"head_weight_bytes", "trainable_bytes", "cache", "side_network"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("key %q missing from %v", k, raw[0])
		}
	}
}

func TestWorkloadValidate(t *testing.T) {
	ws := illustrative(t)
	pac, _ := FindWorkload(ws, "pac")
	lora, _ := FindWorkload(ws, "lora")
	broken := map[string]Workload{}
	w := pac
	w.LayerBackward = 0.1
	broken["side network with a backbone backward"] = w
	w = lora
	w.Cache = true
	broken["cache without a side network"] = w
	w = lora
	w.AdapterForward = 0.1
	broken["adapters without a side network"] = w
	w = lora
	w.ReferenceGFLOPS = 0
	broken["no reference rate"] = w
	w = lora
	w.Microbatches = 0
	broken["no microbatches"] = w
	for what, w := range broken {
		if err := w.Validate(); err == nil {
			t.Errorf("%s: valid", what)
		}
	}
	if _, err := FindWorkload(ws, "dora"); err == nil {
		t.Error("FindWorkload found a method that is not there")
	}
}

func TestPresetsAndParsing(t *testing.T) {
	for _, d := range Presets() {
		if d.Source == "" || d.GFLOPS != d.PeakGFLOPS*SustainedFraction || d.Usable() <= 0 || d.LinkMBps <= 0 {
			t.Errorf("preset %+v", d)
		}
	}
	devs, err := ParseDevices("2xjetson-orin-nano, rpi5,3×jetson-tx2")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	want := []string{"jetson-orin-nano", "jetson-orin-nano", "rpi5", "jetson-tx2", "jetson-tx2", "jetson-tx2"}
	if !slices.Equal(names, want) {
		t.Errorf("parsed %v, want %v", names, want)
	}
	for _, bad := range []string{"", "toaster", "0xrpi5"} {
		if _, err := ParseDevices(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
