package gpu

import "strings"

// GiB is 2³⁰ bytes.
const GiB = 1 << 30

// GPU is one accelerator model as its vendor specifies it.
//
// Memory is the datasheet's capacity in binary units: NVIDIA's "80GB" is
// 80 GiB of physical memory (an A100 80GB reports 81,920 MiB). The driver
// shows slightly less on some boards (reserved memory, and ECC on GDDR
// cards such as the L40S, A10G and T4 costs a few percent), and the CUDA
// context takes more; the projection counts the context, not the rest.
//
// Throughput is dense: NVIDIA's datasheets print tensor figures "with
// sparsity" (2:4 structured sparsity, which training does not use) next to
// or instead of the dense ones; dense is half the sparse figure. The 16-bit
// figures are for FP32 accumulation, the mode training uses (GeForce cards
// run FP16 accumulation twice as fast). FP32 is the non-tensor rate.
type GPU struct {
	Name         string  `json:"name"`
	Architecture string  `json:"architecture"`
	MemoryBytes  int64   `json:"memory_bytes"`
	MemoryType   string  `json:"memory_type"`
	BandwidthGBs float64 `json:"memory_bandwidth_gb_s"` // 10⁹ bytes per second
	// BF16TFLOPS is the dense BF16 tensor rate; 0 where the GPU has no BF16
	// (Turing, Volta), which then trains in FP16 with loss scaling: the
	// same bytes per value, so memory projections hold unchanged.
	BF16TFLOPS float64 `json:"bf16_tflops_dense"`
	FP16TFLOPS float64 `json:"fp16_tflops_dense"`
	FP32TFLOPS float64 `json:"fp32_tflops"`
	// Source names the vendor document the figures come from.
	Source string `json:"source"`
	// NVML lists substrings of the names NVML reports for this GPU, for
	// Lookup.
	NVML []string `json:"-"`
}

// catalogue holds the GPUs people fine-tune on, newest first within a
// vendor line. Add an entry with its source; never a figure from memory or
// a sparsity figure.
var catalogue = []GPU{
	// NVIDIA H100 Tensor Core GPU datasheet (H100 SXM column): 80 GB HBM3,
	// 3.35 TB/s; FP32 67 TFLOPS; BF16 and FP16 Tensor Core 1,979 TFLOPS
	// "with sparsity", so 989.5 dense.
	{Name: "H100 SXM 80GB", Architecture: "Hopper", MemoryBytes: 80 * GiB, MemoryType: "HBM3", BandwidthGBs: 3350,
		BF16TFLOPS: 989.5, FP16TFLOPS: 989.5, FP32TFLOPS: 67,
		Source: "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM", NVML: []string{"H100 80GB HBM3", "H100-SXM"}},
	// Same datasheet, H100 PCIe column: 80 GB HBM2e, 2 TB/s; FP32 51
	// TFLOPS; BF16/FP16 Tensor Core 1,513 TFLOPS with sparsity, so 756.5
	// dense.
	{Name: "H100 PCIe 80GB", Architecture: "Hopper", MemoryBytes: 80 * GiB, MemoryType: "HBM2e", BandwidthGBs: 2000,
		BF16TFLOPS: 756.5, FP16TFLOPS: 756.5, FP32TFLOPS: 51,
		Source: "NVIDIA H100 Tensor Core GPU datasheet, H100 PCIe", NVML: []string{"H100 PCIe"}},
	// NVIDIA H200 Tensor Core GPU datasheet (H200 SXM column): 141 GB
	// HBM3e, 4.8 TB/s; FP32 67 TFLOPS; BF16/FP16 Tensor Core 1,979 TFLOPS
	// with sparsity, so 989.5 dense (the H100 SXM's compute).
	{Name: "H200 141GB", Architecture: "Hopper", MemoryBytes: 141 * GiB, MemoryType: "HBM3e", BandwidthGBs: 4800,
		BF16TFLOPS: 989.5, FP16TFLOPS: 989.5, FP32TFLOPS: 67,
		Source: "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM", NVML: []string{"H200"}},
	// NVIDIA A100 Tensor Core GPU datasheet (A100 80GB SXM column): 80 GB
	// HBM2e, 2,039 GB/s; FP32 19.5 TFLOPS; BF16/FP16 Tensor Core 312
	// TFLOPS dense (624 with sparsity).
	{Name: "A100 80GB", Architecture: "Ampere", MemoryBytes: 80 * GiB, MemoryType: "HBM2e", BandwidthGBs: 2039,
		BF16TFLOPS: 312, FP16TFLOPS: 312, FP32TFLOPS: 19.5,
		Source: "NVIDIA A100 Tensor Core GPU datasheet, A100 80GB SXM", NVML: []string{"A100-SXM4-80GB", "A100 80GB", "A100-SXM-80GB"}},
	// Same datasheet, A100 40GB: 40 GB HBM2, 1,555 GB/s; same compute.
	{Name: "A100 40GB", Architecture: "Ampere", MemoryBytes: 40 * GiB, MemoryType: "HBM2", BandwidthGBs: 1555,
		BF16TFLOPS: 312, FP16TFLOPS: 312, FP32TFLOPS: 19.5,
		Source: "NVIDIA A100 Tensor Core GPU datasheet, A100 40GB", NVML: []string{"A100-SXM4-40GB", "A100-PCIE-40GB", "A100 40GB"}},
	// NVIDIA L40S datasheet: 48 GB GDDR6 with ECC, 864 GB/s; FP32 91.6
	// TFLOPS; BF16/FP16 Tensor Core 362.05 dense | 733 with sparsity.
	{Name: "L40S 48GB", Architecture: "Ada Lovelace", MemoryBytes: 48 * GiB, MemoryType: "GDDR6", BandwidthGBs: 864,
		BF16TFLOPS: 362.05, FP16TFLOPS: 362.05, FP32TFLOPS: 91.6,
		Source: "NVIDIA L40S GPU datasheet", NVML: []string{"L40S"}},
	// NVIDIA L4 Tensor Core GPU datasheet: 24 GB GDDR6, 300 GB/s; FP32
	// 30.3 TFLOPS; BF16/FP16 Tensor Core 242 TFLOPS with sparsity, so 121
	// dense.
	{Name: "L4 24GB", Architecture: "Ada Lovelace", MemoryBytes: 24 * GiB, MemoryType: "GDDR6", BandwidthGBs: 300,
		BF16TFLOPS: 121, FP16TFLOPS: 121, FP32TFLOPS: 30.3,
		Source: "NVIDIA L4 Tensor Core GPU datasheet", NVML: []string{"NVIDIA L4"}},
	// The A10G is an AWS-only variant of the A10 (EC2 G5) with no NVIDIA
	// datasheet of its own; AWS and NVIDIA publish only its memory (24 GB
	// GDDR6, 600 GB/s). The throughput here is the A10G column of the
	// A10/A10G comparison Baseten published from AWS's figures: FP32 35
	// TFLOPS, BF16/FP16 tensor 70 TFLOPS dense (the A10's datasheet says
	// 31.2 and 125). Treat these two numbers as less certain than the rest
	// of the table.
	{Name: "A10G 24GB", Architecture: "Ampere", MemoryBytes: 24 * GiB, MemoryType: "GDDR6", BandwidthGBs: 600,
		BF16TFLOPS: 70, FP16TFLOPS: 70, FP32TFLOPS: 35,
		Source: "AWS EC2 G5 (A10G) figures as tabulated by Baseten, 'NVIDIA A10 vs A10G for ML model inference'; no NVIDIA datasheet", NVML: []string{"A10G"}},
	// NVIDIA RTX A6000 datasheet: 48 GB GDDR6 with ECC, 768 GB/s; FP32
	// 38.7 TFLOPS; Tensor 309.7 TFLOPS with sparsity, so 154.8 dense.
	{Name: "RTX A6000 48GB", Architecture: "Ampere", MemoryBytes: 48 * GiB, MemoryType: "GDDR6", BandwidthGBs: 768,
		BF16TFLOPS: 154.8, FP16TFLOPS: 154.8, FP32TFLOPS: 38.7,
		Source: "NVIDIA RTX A6000 datasheet", NVML: []string{"RTX A6000"}},
	// NVIDIA Ada Lovelace architecture whitepaper, appendix table for the
	// GeForce RTX 4090: 24 GB GDDR6X, 1,008 GB/s; FP32 82.6 TFLOPS;
	// FP16 and BF16 tensor with FP32 accumulate 165.2 dense (330.4 with
	// sparsity).
	{Name: "RTX 4090 24GB", Architecture: "Ada Lovelace", MemoryBytes: 24 * GiB, MemoryType: "GDDR6X", BandwidthGBs: 1008,
		BF16TFLOPS: 165.2, FP16TFLOPS: 165.2, FP32TFLOPS: 82.6,
		Source: "NVIDIA Ada Lovelace GPU architecture whitepaper, GeForce RTX 4090", NVML: []string{"RTX 4090"}},
	// NVIDIA Ampere GA102 GPU architecture whitepaper, GeForce RTX 3090:
	// 24 GB GDDR6X, 936 GB/s; FP32 35.6 TFLOPS; FP16 and BF16 tensor with
	// FP32 accumulate 71 dense (142 with sparsity).
	{Name: "RTX 3090 24GB", Architecture: "Ampere", MemoryBytes: 24 * GiB, MemoryType: "GDDR6X", BandwidthGBs: 936,
		BF16TFLOPS: 71, FP16TFLOPS: 71, FP32TFLOPS: 35.6,
		Source: "NVIDIA Ampere GA102 GPU architecture whitepaper, GeForce RTX 3090", NVML: []string{"RTX 3090"}},
	// NVIDIA V100 Tensor Core GPU datasheet (V100 SXM2 column): 32 GB
	// HBM2, 900 GB/s; FP32 15.7 TFLOPS; Tensor (FP16 mixed precision) 125
	// TFLOPS; no BF16 (Volta).
	{Name: "V100 32GB", Architecture: "Volta", MemoryBytes: 32 * GiB, MemoryType: "HBM2", BandwidthGBs: 900,
		BF16TFLOPS: 0, FP16TFLOPS: 125, FP32TFLOPS: 15.7,
		Source: "NVIDIA V100 Tensor Core GPU datasheet, V100 SXM2", NVML: []string{"V100-SXM2-32GB", "V100-PCIE-32GB", "V100S", "V100 32GB"}},
	// NVIDIA T4 Tensor Core GPU datasheet: 16 GB GDDR6, 320 GB/s; FP32
	// 8.1 TFLOPS; mixed precision (FP16/FP32) 65 TFLOPS; no BF16 (Turing).
	{Name: "T4 16GB", Architecture: "Turing", MemoryBytes: 16 * GiB, MemoryType: "GDDR6", BandwidthGBs: 320,
		BF16TFLOPS: 0, FP16TFLOPS: 65, FP32TFLOPS: 8.1,
		Source: "NVIDIA T4 Tensor Core GPU datasheet", NVML: []string{"Tesla T4", "NVIDIA T4"}},
}

// Catalogue returns the GPU table, a copy the caller may change.
func Catalogue() []GPU {
	out := make([]GPU, len(catalogue))
	copy(out, catalogue)
	return out
}

// Lookup finds a catalogue entry by its name ("A100 80GB") or by a name
// NVML reports ("NVIDIA A100-SXM4-80GB"), ignoring case. An alias matches
// whole words only ("NVIDIA L4" is not in "NVIDIA L40S"), and the longest
// matching alias wins.
func Lookup(name string) (GPU, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	best, bestLen := -1, 0
	for i, g := range catalogue {
		if strings.ToLower(g.Name) == n {
			return g, true
		}
		for _, alias := range g.NVML {
			a := strings.ToLower(alias)
			if containsWord(n, a) && len(a) > bestLen {
				best, bestLen = i, len(a)
			}
		}
	}
	if best < 0 {
		return GPU{}, false
	}
	return catalogue[best], true
}

// containsWord reports whether s holds sub with no letter or digit right
// before or after it.
func containsWord(s, sub string) bool {
	word := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	for from := 0; ; {
		i := strings.Index(s[from:], sub)
		if i < 0 {
			return false
		}
		i += from
		j := i + len(sub)
		if (i == 0 || !word(s[i-1])) && (j == len(s) || !word(s[j])) {
			return true
		}
		from = i + 1
	}
}
