package edge

import (
	"fmt"
	"strconv"
	"strings"
)

// GiB is 2³⁰ bytes.
const GiB = 1 << 30

// Link bandwidths in MB/s (10⁶ bytes per second) of payload, what a bulk
// TCP transfer gets after framing.
const (
	// GigabitEthernetMBps: 1000BASE-T carries about 941 Mbit/s of TCP
	// payload at a 1500-byte MTU (1448 payload bytes per 1538 on the wire).
	GigabitEthernetMBps = 117.5
	// TenGigabitEthernetMBps: the same framing at 10 Gbit/s.
	TenGigabitEthernetMBps = 1175.0
	// WiFi5MBps: 802.11ac (Wi-Fi 5), 2×2 at close range, typically carries
	// 300-400 Mbit/s of TCP payload; we take 350.
	WiFi5MBps = 43.75
)

// SustainedFraction is the share of a board's datasheet FP32 peak that we
// assume a training step sustains. It is an assumption, not a measurement:
// large SGEMMs reach well above half of peak on these parts, but a
// microbatch's matrices are small and a step also runs softmax, norms and
// the optimizer, which reach far less.
const SustainedFraction = 0.5

// ReservedBytes is the memory we leave to the operating system, the
// runtime and the CUDA context on every board (all of them share one DRAM
// between CPU and GPU): an assumption for a headless image.
const ReservedBytes = 1 * GiB

// Device is one edge board as the simulation sees it.
type Device struct {
	Name string `json:"name"`
	// PeakGFLOPS is the FP32 peak the source gives or implies.
	PeakGFLOPS float64 `json:"peak_gflops"`
	// GFLOPS is the sustained FP32 matmul rate assumed for training:
	// PeakGFLOPS × SustainedFraction for the presets.
	GFLOPS float64 `json:"gflops"`
	// MemoryBytes is the DRAM capacity; ReservedBytes of it is left to the
	// system, and the rest (Usable) is what a plan may fill.
	MemoryBytes   int64 `json:"memory_bytes"`
	ReservedBytes int64 `json:"reserved_bytes"`
	// LinkMBps is the network bandwidth to peers, MB/s of payload; a
	// transfer between two devices runs at the slower of their links.
	LinkMBps float64 `json:"link_mbps"`
	// Link says which network LinkMBps stands for.
	Link string `json:"link"`
	// Source names the documents the figures come from and how they were
	// derived.
	Source string `json:"source"`
}

// Usable is the memory a plan may fill.
func (d Device) Usable() int64 { return d.MemoryBytes - d.ReservedBytes }

// presets are the boards people fine-tune on at the edge. Peak FP32 is
// CUDA cores × 2 FLOP (one FMA) × the GPU's top clock for the Jetsons, and
// cores × FP32 FLOP per cycle × clock for the Raspberry Pis' CPUs (their
// GPUs are not used for training). Every preset uses the board's wired
// port; --link-mbps (or WithLink) models Wi-Fi instead.
var presets = []Device{
	// Jetson Nano module data sheet and developer kit page: 128-core
	// Maxwell GPU at up to 921.6 MHz, "472 GFLOPS" (FP16, twice FP32), so
	// 235.9 GFLOPS FP32; 4 GB 64-bit LPDDR4; gigabit Ethernet, no Wi-Fi.
	preset("jetson-nano", 128*2*0.9216, 4, GigabitEthernetMBps, "gigabit Ethernet",
		"NVIDIA Jetson Nano module data sheet / developer kit (developer.nvidia.com/embedded/jetson-nano-developer-kit): 128-core Maxwell GPU at 921.6 MHz, 472 GFLOPS FP16 = 235.9 FP32; 4 GB LPDDR4"),
	// Jetson TX2 module data sheet: 256-core Pascal GPU at up to 1.30
	// GHz (NVIDIA's "1.33 TFLOPS" is FP16), so 665.6 GFLOPS FP32; 8 GB
	// 128-bit LPDDR4; gigabit Ethernet and 802.11ac on the module.
	preset("jetson-tx2", 256*2*1.30, 8, GigabitEthernetMBps, "gigabit Ethernet",
		"NVIDIA Jetson TX2 System-on-Module data sheet (developer.nvidia.com/embedded/jetson-tx2): 256-core Pascal GPU at 1.30 GHz, 1.33 TFLOPS FP16 = 665.6 GFLOPS FP32; 8 GB LPDDR4"),
	// Jetson Orin Nano series data sheet, Orin Nano 8GB: 1024 CUDA cores,
	// GPU maximum operating frequency 625 MHz, so 1.28 TFLOPS FP32; 8 GB
	// 128-bit LPDDR5; the developer kit has gigabit Ethernet.
	preset("jetson-orin-nano", 1024*2*0.625, 8, GigabitEthernetMBps, "gigabit Ethernet",
		"NVIDIA Jetson Orin Nano Series data sheet, Orin Nano 8GB (developer.nvidia.com/embedded/jetson-orin): 1024 CUDA cores at 625 MHz = 1.28 TFLOPS FP32; 8 GB 128-bit LPDDR5"),
	// The same module in JetPack 6.1's "Super" mode (Jetson Orin Nano
	// Super Developer Kit, December 2024): GPU at 1020 MHz, 2.09 TFLOPS
	// FP32.
	preset("jetson-orin-nano-super", 1024*2*1.02, 8, GigabitEthernetMBps, "gigabit Ethernet",
		"NVIDIA Jetson Orin Nano Super Developer Kit data sheet (JetPack 6.1 MAXN SUPER): 1024 CUDA cores at 1020 MHz = 2.09 TFLOPS FP32; 8 GB 128-bit LPDDR5"),
	// Jetson AGX Orin Series Technical Brief: AGX Orin 64GB, 2048 CUDA
	// cores at up to 1.3 GHz, "5.3 FP32 TFLOPS"; 64 GB 256-bit LPDDR5; the
	// developer kit has 10 gigabit Ethernet.
	preset("jetson-agx-orin", 2048*2*1.3, 64, TenGigabitEthernetMBps, "10 gigabit Ethernet",
		"NVIDIA Jetson AGX Orin Series Technical Brief, AGX Orin 64GB: 2048 CUDA cores at 1.3 GHz, 5.3 TFLOPS FP32; 64 GB 256-bit LPDDR5; developer kit 10GbE"),
	// Raspberry Pi 4 Model B product brief: Broadcom BCM2711, four
	// Cortex-A72 at 1.8 GHz (1.5 GHz on boards before 2020); 4 GB LPDDR4;
	// gigabit Ethernet. The Cortex-A72 software optimization guide gives
	// one 128-bit FP FMA per cycle: 8 FP32 FLOP, so 57.6 GFLOPS.
	preset("rpi4", 4*1.8*8, 4, GigabitEthernetMBps, "gigabit Ethernet",
		"Raspberry Pi 4 Model B product brief (raspberrypi.com): BCM2711, 4× Cortex-A72 at 1.8 GHz, 4 GB LPDDR4; Arm Cortex-A72 Software Optimization Guide: one 128-bit FMA per cycle = 8 FP32 FLOP/cycle/core, 57.6 GFLOPS"),
	// Raspberry Pi 5 product brief: Broadcom BCM2712, four Cortex-A76 at
	// 2.4 GHz; 8 GB LPDDR4X; gigabit Ethernet. The Cortex-A76 software
	// optimization guide gives two 128-bit FP FMAs per cycle: 16 FP32
	// FLOP, so 153.6 GFLOPS.
	preset("rpi5", 4*2.4*16, 8, GigabitEthernetMBps, "gigabit Ethernet",
		"Raspberry Pi 5 product brief (raspberrypi.com): BCM2712, 4× Cortex-A76 at 2.4 GHz, 8 GB LPDDR4X; Arm Cortex-A76 Software Optimization Guide: two 128-bit FMAs per cycle = 16 FP32 FLOP/cycle/core, 153.6 GFLOPS"),
}

func preset(name string, peak float64, gib int64, link float64, linkName, source string) Device {
	return Device{Name: name, PeakGFLOPS: peak, GFLOPS: peak * SustainedFraction,
		MemoryBytes: gib * GiB, ReservedBytes: ReservedBytes, LinkMBps: link, Link: linkName,
		Source: source + fmt.Sprintf("; sustained = %.0f%% of peak (assumed)", SustainedFraction*100)}
}

// Presets returns the device presets.
func Presets() []Device { return append([]Device(nil), presets...) }

// Preset returns the preset of that name.
func Preset(name string) (Device, error) {
	var names []string
	for _, d := range presets {
		if strings.EqualFold(d.Name, name) {
			return d, nil
		}
		names = append(names, d.Name)
	}
	return Device{}, fmt.Errorf("edge: no device preset %q (have %s)", name, strings.Join(names, ", "))
}

// Reference is a device equal to the reference machine the workload was
// measured on, with memBytes of usable memory and a gigabit link: on it
// the simulation should reproduce the measured times.
func Reference(w Workload, memBytes int64) Device {
	return Device{Name: "reference", PeakGFLOPS: w.ReferenceGFLOPS, GFLOPS: w.ReferenceGFLOPS,
		MemoryBytes: memBytes, LinkMBps: GigabitEthernetMBps, Link: "gigabit Ethernet",
		Source: "the machine the workload was measured on (its measured matmul rate)"}
}

// WithLink returns the devices with every link set to mbps (MB/s), named
// by what; mbps ≤ 0 leaves them as they are.
func WithLink(devs []Device, mbps float64, what string) []Device {
	out := append([]Device(nil), devs...)
	if mbps <= 0 {
		return out
	}
	for i := range out {
		out[i].LinkMBps = mbps
		out[i].Link = what
	}
	return out
}

// ParseDevices reads a comma-separated list of preset names, each
// optionally with a count: "jetson-orin-nano,jetson-orin-nano,rpi5" or
// "2xjetson-orin-nano,rpi5".
func ParseDevices(spec string) ([]Device, error) {
	var out []Device
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n, name := 1, item
		for _, sep := range []string{"x", "×", "*"} {
			if i := strings.Index(item, sep); i > 0 {
				if c, err := strconv.Atoi(item[:i]); err == nil {
					n, name = c, item[i+len(sep):]
					break
				}
			}
		}
		if n < 1 {
			return nil, fmt.Errorf("edge: %q: a count must be at least 1", item)
		}
		d, err := Preset(name)
		if err != nil {
			return nil, err
		}
		for range n {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("edge: no devices in %q", spec)
	}
	return out, nil
}
