package gpu

import "testing"

func TestCatalogue(t *testing.T) {
	want := []string{"H100 SXM 80GB", "H100 PCIe 80GB", "H200 141GB", "A100 80GB", "A100 40GB", "L40S 48GB",
		"A10G 24GB", "RTX 4090 24GB", "RTX 3090 24GB", "T4 16GB", "V100 32GB"}
	have := map[string]GPU{}
	for _, g := range Catalogue() {
		if _, dup := have[g.Name]; dup {
			t.Errorf("%s listed twice", g.Name)
		}
		have[g.Name] = g
		if g.MemoryBytes < 8*GiB || g.MemoryBytes%GiB != 0 {
			t.Errorf("%s: memory %d bytes is not a whole number of GiB ≥ 8", g.Name, g.MemoryBytes)
		}
		if g.Source == "" || g.Architecture == "" || g.MemoryType == "" || g.BandwidthGBs <= 0 {
			t.Errorf("%s: missing source, architecture, memory type or bandwidth", g.Name)
		}
		if g.FP16TFLOPS <= g.FP32TFLOPS/2 || g.FP32TFLOPS <= 0 {
			t.Errorf("%s: FP16 tensor %.1f, FP32 %.1f TFLOPS look wrong", g.Name, g.FP16TFLOPS, g.FP32TFLOPS)
		}
		// Dense 16-bit tensor throughput is the same for BF16 and FP16 on
		// every GPU that has BF16; Volta and Turing have none.
		noBF16 := g.Architecture == "Volta" || g.Architecture == "Turing"
		if noBF16 != (g.BF16TFLOPS == 0) || (!noBF16 && g.BF16TFLOPS != g.FP16TFLOPS) {
			t.Errorf("%s (%s): BF16 %.1f, FP16 %.1f", g.Name, g.Architecture, g.BF16TFLOPS, g.FP16TFLOPS)
		}
		// No dense 16-bit figure exceeds the H100 SXM's 989.5: a larger one
		// would be a sparsity figure.
		if g.FP16TFLOPS > 990 {
			t.Errorf("%s: %.1f TFLOPS is a sparsity figure", g.Name, g.FP16TFLOPS)
		}
		if len(g.NVML) == 0 {
			t.Errorf("%s: no NVML name to look it up by", g.Name)
		}
	}
	for _, name := range want {
		if _, ok := have[name]; !ok {
			t.Errorf("catalogue lacks %s", name)
		}
	}
	// The catalogue is a copy.
	Catalogue()[0].MemoryBytes = 1
	if catalogue[0].MemoryBytes == 1 {
		t.Error("Catalogue returns the table itself")
	}
}

func TestLookup(t *testing.T) {
	for nvml, want := range map[string]string{
		"NVIDIA H100 80GB HBM3":   "H100 SXM 80GB",
		"NVIDIA H100 PCIe":        "H100 PCIe 80GB",
		"NVIDIA H200":             "H200 141GB",
		"NVIDIA A100-SXM4-80GB":   "A100 80GB",
		"NVIDIA A100-SXM4-40GB":   "A100 40GB",
		"NVIDIA L40S":             "L40S 48GB",
		"NVIDIA A10G":             "A10G 24GB",
		"NVIDIA GeForce RTX 4090": "RTX 4090 24GB",
		"NVIDIA GeForce RTX 3090": "RTX 3090 24GB",
		"Tesla T4":                "T4 16GB",
		"Tesla V100-SXM2-32GB":    "V100 32GB",
		"NVIDIA L4":               "L4 24GB",
		"a100 80gb":               "A100 80GB",
	} {
		g, ok := Lookup(nvml)
		if !ok || g.Name != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", nvml, g.Name, ok, want)
		}
	}
	if g, ok := Lookup("NVIDIA GeForce GTX 1080"); ok {
		t.Errorf("Lookup found %s for a GPU not in the catalogue", g.Name)
	}
}
