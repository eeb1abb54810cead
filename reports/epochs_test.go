package reports

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/trial"
)

// epochSweep is a constructed sweep on toy at 256 examples, two seeds of
// three epochs each, on 1,000 test examples: pac with its cache, whose
// later epochs run 4× faster than its first (1.2 s then 0.3 s; 1.0 s then
// 0.25 s), pac without it (1.2 s then 1.15 s; 1.0 s then 0.95 s), LoRA
// (1.1 s then 1.0 s, both seeds) and full fine-tuning (2.0 s every epoch;
// 2.2 s). pac is right on 880 examples, LoRA on 900, full on 902. With
// timed false no result records its epochs.
func epochSweep(timed bool) []*trial.Result {
	upTo := func(k int) []bool { return pattern(1000, func(i int) bool { return i < k }) }
	var out []*trial.Result
	add := func(method string, params map[string]any, right int, total, cache int64, epochs [2][]float64, heap [2][]int64) {
		for seed := 1; seed <= 2; seed++ {
			r := toyResult(method, 256, seed, 0, upTo(right))
			r.Spec.MethodParams = params
			r.Spec.Train.Epochs = 3
			r.ID = r.Spec.ID()
			r.MemoryAccounted = trial.Memory{TotalBytes: total, CacheBytes: cache}
			r.Env = machine.Info{CPU: "Example CPU", Cores: 2, OS: "linux/amd64"}
			if timed {
				r.EpochSeconds, r.EpochPeakHeapBytes = epochs[seed-1], heap[seed-1]
			}
			out = append(out, r)
		}
	}
	flat := [2][]int64{{40 * mib, 40 * mib, 40 * mib}, {40 * mib, 40 * mib, 40 * mib}}
	add("full", map[string]any{}, 902, 50*mib, 0, [2][]float64{{2, 2, 2}, {2.2, 2.2, 2.2}}, flat)
	add("lora", map[string]any{"rank": 8}, 900, 15*mib, 0, [2][]float64{{1.1, 1, 1}, {1.1, 1, 1}}, flat)
	add("pac", map[string]any{"bottleneck": 16, "cache_mb": 1024}, 880, 20*mib, 8*mib,
		[2][]float64{{1.2, 0.3, 0.3}, {1, 0.25, 0.25}}, [2][]int64{{40 * mib, 30 * mib, 32 * mib}, {40 * mib, 30 * mib, 30 * mib}})
	add("pac", map[string]any{"bottleneck": 16, "cache_mb": 0}, 880, 12*mib, 0, [2][]float64{{1.2, 1.15, 1.15}, {1, 0.95, 0.95}}, flat)
	return out
}

func TestEpochTables(t *testing.T) {
	tabs := tabulate(epochSweep(true), inputs{})
	if len(tabs.Epochs) != 1 {
		t.Fatalf("%d cost-per-epoch tables, want 1 (toy at 256)", len(tabs.Epochs))
	}
	tab := tabs.Epochs[0]
	var labels []string
	for _, r := range tab.Rows {
		labels = append(labels, r.Label)
	}
	// In methodRank order; pac's two configurations named by the
	// hyper-parameter that tells them apart.
	if d := cmp.Diff([]string{"full", "lora", "pac cache_mb=0", "pac cache_mb=1024"}, labels); d != "" {
		t.Fatalf("rows (-want +got):\n%s", d)
	}
	if tab.Ref == nil || tab.Ref.Label != "full" {
		t.Fatalf("reference %v, want full", tab.Ref)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	pac, off := tab.Rows[3], tab.Rows[2]
	near("pac first", pac.Epochs.First.Mean, 1.1)
	near("pac later", pac.Epochs.Later.Mean, 0.275)
	near("pac first / later", pac.Epochs.Speedup(), 4)
	near("pac mean epoch ÷ full's", tab.relative(pac), 0.55/2.1)
	near("pac later peak heap", pac.Epochs.LaterHeap.Mean, 31*mib)
	near("pac cache", pac.CacheBytes, 8*mib)
	near("pac without cache, first / later", off.Epochs.Speedup(), 1.1/1.05)
	if u := tab.uncached(pac); u == nil || u.Label != "pac cache_mb=0" {
		t.Errorf("pac's uncached counterpart %v, want pac cache_mb=0", u)
	}
	if u := tab.uncached(off); u == nil || u.group != off.group {
		t.Errorf("an uncached row's uncached counterpart is %v, want itself", u)
	}
	if got := len(pac.Epochs.ByEpoch); got != 3 {
		t.Errorf("pac has %d epochs by index, want 3", got)
	}

	// Without full fine-tuning, LoRA is the reference.
	var noFull []*trial.Result
	for _, r := range epochSweep(true) {
		if r.Spec.Method != "full" {
			noFull = append(noFull, r)
		}
	}
	if ref := tabulate(noFull, inputs{}).Epochs[0].Ref; ref == nil || ref.Label != "lora" {
		t.Errorf("reference without full fine-tuning %v, want lora", ref)
	}
}

func TestEpochSection(t *testing.T) {
	tabs := tabulate(epochSweep(true), inputs{})
	p := &page{t: tabs, nm: newNaming(tabs.Tasks), dir: "toy"}
	md, figs, err := renderBoth(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md, "11. [Cost per epoch](APPENDIX.md#11-cost-per-epoch)") {
		t.Error("the contents do not link the cost-per-epoch section")
	}
	start := strings.Index(md, "## 11. Cost per epoch")
	if start < 0 {
		t.Fatalf("no cost-per-epoch section:\n%s", md)
	}
	section := md[start:]
	for _, want := range []string{
		"Measured on Example CPU, 2 cores, linux/amd64 (see [section 10](README.md#10-reproducibility))",
		"up to 8.64× end-to-end speed-up and 88.16% memory reduction",
		"- On toy with 256 training examples, pac cache_mb=1024's later epochs take 0.275 s against 1.10 s for its first (4.00× faster); " +
			"with the cache off (pac cache_mb=0) they take 1.05 s (1.05× faster than its first); " +
			"full's epochs take 2.10 s on average, pac cache_mb=1024's 0.550 s (0.26× as long). " +
			"Test accuracy: pac cache_mb=1024 88.0%, pac cache_mb=0 88.0%, full 90.2%. " +
			"Its activation cache holds 8.0 MiB of an accounted 20.0 MiB; its peak heap is 31.0 MiB in the later epochs against 40.0 MiB in the first.",
		"| mean epoch ÷ full's |",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("cost-per-epoch section lacks %q", want)
		}
	}
	for _, re := range []string{
		// Means ± standard deviations over seeds: pac's first epoch 1.2
		// and 1.0 s, its later ones 0.3 and 0.25; its mean epoch 0.55 s
		// against full's 2.1.
		`\| pac cache_mb=1024 \| +0\.001 \| +2 \| +88\.0 ± 0\.0 \| +1\.10 ± 0\.14 \| +0\.275 ± 0\.035 \| +4\.00× \| +0\.26× \| +40\.0 \| +31\.0 \| +8\.0 \| +20\.0 \|`,
		`\| pac cache_mb=0 +\| +0\.001 \| +2 \| +88\.0 ± 0\.0 \| +1\.10 ± 0\.14 \| +1\.05 ± 0\.14 +\| +1\.05× \| +0\.51× \| +40\.0 \| +40\.0 \| +0\.0 \| +12\.0 \|`,
		`\| lora +\| +0\.001 \| +2 \| +90\.0 ± 0\.0 \| +1\.10 ± 0\.00 \| +1\.00 ± 0\.00 +\| +1\.10× \| +0\.49× \|`,
		`\| full +\| +0\.001 \| +2 \| +90\.2 ± 0\.0 \| +2\.10 ± 0\.14 \| +2\.10 ± 0\.14 +\| +1\.00× \| +1\.00× \|`,
	} {
		if !regexp.MustCompile(re).MatchString(section) {
			t.Errorf("cost-per-epoch section has no row matching %s", re)
		}
	}
	var names []string
	for _, f := range figs {
		if strings.HasPrefix(f.Name, "fig-epochs") {
			names = append(names, f.Name)
		}
	}
	for n, want := range map[int]string{0: "all", 256: "256", 4346: "4346"} {
		if got := sizeFileName(n); got != want { // no "4,346" in a file name
			t.Errorf("sizeFileName(%d) = %q, want %q", n, got, want)
		}
	}
	if d := cmp.Diff([]string{"fig-epochs-256-toy"}, names); d != "" {
		t.Errorf("cost-per-epoch figures (-want +got):\n%s", d)
	}
	writeFigures(t, figs)
	if t.Failed() {
		t.Logf("README.md:\n%s", md)
	}
}

// TestEpochSectionAbsent: with no result recording two epochs or more,
// the section, its contents line and its figures are left out.
func TestEpochSectionAbsent(t *testing.T) {
	one := epochSweep(true)
	for _, r := range one {
		r.EpochSeconds, r.EpochPeakHeapBytes = r.EpochSeconds[:1], r.EpochPeakHeapBytes[:1]
	}
	for name, rs := range map[string][]*trial.Result{"no epoch times": epochSweep(false), "one epoch": one} {
		tabs := tabulate(rs, inputs{})
		if len(tabs.Epochs) != 0 {
			t.Errorf("%s: %d cost-per-epoch tables, want none", name, len(tabs.Epochs))
		}
		p := &page{t: tabs, nm: newNaming(tabs.Tasks), dir: "toy"}
		md, figs, err := renderBoth(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, absent := range []string{"Cost per epoch", "#11-"} {
			if strings.Contains(md, absent) {
				t.Errorf("%s: the report mentions %q", name, absent)
			}
		}
		for _, f := range figs {
			if strings.HasPrefix(f.Name, "fig-epochs") {
				t.Errorf("%s: figure %s drawn", name, f.Name)
			}
		}
	}
}

// TestOptionalNumbering: with augmented trials too, augmentation keeps
// section 11 and the cost per epoch follows as 12.
func TestOptionalNumbering(t *testing.T) {
	rs := append(epochSweep(true), augmentSweep()...)
	tabs := tabulate(rs, inputs{})
	p := &page{t: tabs, nm: newNaming(tabs.Tasks), dir: "toy"}
	md, _, err := renderBoth(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"in [section 11](#11-data-augmentation-llm2llm)",
		"11. [Data augmentation (LLM2LLM)](#11-data-augmentation-llm2llm)\n12. [Cost per epoch](APPENDIX.md#12-cost-per-epoch)\n",
		"## 11. Data augmentation (LLM2LLM)", "## 12. Cost per epoch",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	if strings.Index(md, "## 12.") < strings.Index(md, "## 11.") {
		t.Error("section 12 comes before section 11")
	}
}

// TestEpochFindingsWithoutCache: where no configuration keeps a cache the
// finding gives the range of first / later, and the paper's figures are
// not raised.
func TestEpochFindingsWithoutCache(t *testing.T) {
	var rs []*trial.Result
	for _, r := range epochSweep(true) {
		if r.MemoryAccounted.CacheBytes == 0 {
			rs = append(rs, r)
		}
	}
	tabs := tabulate(rs, inputs{})
	p := &page{t: tabs, nm: newNaming(tabs.Tasks), dir: "toy"}
	md, _, err := renderBoth(p)
	if err != nil {
		t.Fatal(err)
	}
	want := "- On toy with 256 training examples, no configuration keeps an activation cache: the first epoch takes 1.00× (full) to 1.10× (lora) as long as a later one."
	if !strings.Contains(md, want) {
		t.Errorf("README.md lacks %q", want)
	}
	for _, absent := range []string{"8.64×", "later epochs take"} {
		if strings.Contains(md, absent) {
			t.Errorf("README.md without a cache mentions %q", absent)
		}
	}
	// pac alone: its configuration is named by the method alone.
	if got := tabs.Epochs[0].Rows[2].Label; got != "pac" {
		t.Errorf("pac's only configuration labelled %q, want pac", got)
	}
}
