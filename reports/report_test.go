package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// figureRefs lists the files README.md links to: images and the vector
// versions beside them.
var figureRefs = regexp.MustCompile(`\]\((fig-[a-z0-9-]+\.(?:png|svg))\)`)

func readmeFigures(t *testing.T, md string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, m := range figureRefs.FindAllStringSubmatch(md, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// checkFigures asserts every referenced figure exists as PNG and SVG.
func checkFigures(t *testing.T, out string, refs []string) {
	t.Helper()
	for _, name := range refs {
		stem := strings.TrimSuffix(strings.TrimSuffix(name, ".png"), ".svg")
		for ext, magic := range map[string][]byte{".png": []byte("\x89PNG\r\n\x1a\n"), ".svg": []byte("<svg")} {
			b, err := os.ReadFile(filepath.Join(out, stem+ext))
			if err != nil {
				t.Errorf("figure %s: %v", stem+ext, err)
				continue
			}
			if !bytes.Contains(b[:min(len(b), 512)], magic) {
				t.Errorf("figure %s is not a %s file", stem+ext, ext)
			}
		}
	}
}

func TestBuild(t *testing.T) {
	out := t.TempDir()
	// A figure of an earlier report that this one does not draw, and a file
	// that is not a figure.
	for _, f := range []string{"fig-old.png", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(out, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	readme, err := Build(testSweep, Options{Out: out, Spec: "testdata/sweep.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	md := readPages(t, readme)
	refs := readmeFigures(t, md)
	want := []string{
		"fig-datasize-sentiment.png", "fig-datasize-sentiment.svg",
		"fig-efficiency-sentiment.png", "fig-efficiency-sentiment.svg",
		"fig-efficiency-spam.png", "fig-efficiency-spam.svg",
		"fig-length.png", "fig-length.svg",
		"fig-rank.png", "fig-rank.svg",
		"fig-throughput.png", "fig-throughput.svg",
	}
	if d := cmp.Diff(want, refs); d != "" {
		t.Errorf("figures referenced (-want +got):\n%s", d)
	}
	checkFigures(t, out, refs)
	if _, err := os.Stat(filepath.Join(out, "fig-old.png")); !os.IsNotExist(err) {
		t.Errorf("stale figure fig-old.png was not removed (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(out, "notes.txt")); err != nil {
		t.Errorf("a file that is not a figure was touched: %v", err)
	}

	for _, s := range []string{
		// The failed trial, with its error (the pipe escaped for the table).
		"`spam-lora16-all-s1`", `allocating 2 GiB \| out of memory`,
		"28 (27 succeeded, 1 failed)",
		"all (3,500 training examples)",
		"_majority class (baseline)_", "_bag-of-words LR (baseline)_",
		"prefix †", "† chosen on test accuracy",
		// Spam has one data size: its learning curve is skipped, with a line.
		"_Skipped: no method was run on spam at two or more data sizes._",
		"Pareto front, accuracy against peak Go heap (5 of 6 configurations",
		// Captions say what the figures draw.
		"The long-dashed horizontal line is full at the same data size, what the rank is to close on. Error bars: standard deviation over seeds.",
		"for prompt tuning, chosen per length",
		"1.43×",
		// Reproducibility: the spec, machine and rebuild command.
		"name: reports-testdata", "Example CPU @ 3.0GHz, 16 cores, linux/amd64 (28 trials)", "BLAS: openblas (28 trials)",
		"- GPU: no NVIDIA GPU: NVML not available (libnvidia-ml.so.1: cannot open shared object file: No such file or directory) (26 trials); — (2 trials).",
		// The new sections, linked from the contents.
		// The full tables, in the appendix and linked there.
		"7. [Memory, measured and accounted](APPENDIX.md#7-memory-measured-and-accounted)", "## 7. Memory, measured and accounted",
		"8. [Memory projected to large models](APPENDIX.md#8-memory-projected-to-large-models)", "## 8. Memory projected to large models",
		"2. [Paired tests](APPENDIX.md#2-paired-tests)", "# peftbench report: sweep, appendix",
		"**These are projections, not measurements.**", "package gpu/projection", "precision `bf16-fp32-adam`", "a sequence length of 512 tokens",
		"1 GiB of CUDA overhead",
		"Calibration is the GFLOP/s of a fixed float32 matrix product measured in the same process",
		"(see [section 10](#10-reproducibility))",
		"go run ./harness report testdata/sweep --out " + out + " --spec testdata/sweep.yaml",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("README.md lacks %q", s)
		}
	}
	// Summary rows: sentiment's LoRA at rank 8, lr 0.001, with mean ± sd
	// and interval (82.0 ± 1.4, 82.0 ∓ 12.706·1.0); spam's LoRA at lr 0.003.
	//
	// Projections, in GiB from the result files' bytes: full fine-tuning
	// on GPT-2 XL 47,024,759,040 / 2³⁰ = 43.8, on Llama-2-7B
	// 126,037,835,776 / 2³⁰ = 117.4 (only an H200 holds it), on Llama-3-8B
	// 156,337,487,872 / 2³⁰ = 145.6 (no GPU); LoRA rank 8 on Llama-3-8B
	// 84,696,113,152 / 2³⁰ = 78.9, under an H100's 80 GiB.
	//
	// Measured and accounted: sentiment's full fine-tuning peaked at 305
	// MiB resident, 255 MiB of heap, against 130 MiB accounted: (250/130 +
	// 260/130)/2 = 1.96. Spam's prompt trial predates the account.
	//
	// MFU: sentiment's full fine-tuning, 1000 and 1100 tokens/s at 6.6M
	// FLOPs per token against 50 and 55 GFLOP/s, is 13.2% both seeds and
	// 20.0 tokens/s per GFLOP/s; LoRA (1450·4.5M/50G + 1550·4.5M/55G)/2 =
	// 12.9%, (29 + 28.18)/2 = 28.6.
	for _, re := range []string{
		// Sentiment's LoRA ran at one rate (marked untuned), spam's at two.
		`\| lora +\| alpha=16 dropout=0 rank=8 targets=q,v +\| +0\.001 § \| +all \| +2 \| +82\.0 ± 1\.4 \| +\[69\.3, 94\.7\] \|`,
		`\| lora +\| alpha=16 dropout=0 rank=8 targets=q,v +\| +0\.003 \| +all \| +2 \| +93\.0 ± 1\.4 \|`,
		`\| full +\| — +\| sentiment, spam +\| GPT-2 XL +\| +16 × 512 \| +1,557,611,200 \| +2\.9 GiB \| +2\.9 GiB \| +11\.6 GiB \| +25\.4 GiB \| +43\.8 GiB \| fits on an H100 80 GB +\| fits 6 of 13 GPUs: L40S 48GB, RTX A6000 48GB, H100 SXM 80GB, …; not A100 40GB, V100 32GB, … +\|`,
		`\| full +\| — +\| sentiment, spam +\| Llama-2-7B +\|.*\| +117\.4 GiB \| does not fit on an H100 80 GB \| fits 1 of 13 GPUs: H200 141GB; not H100 SXM 80GB, H100 PCIe 80GB, … +\|`,
		`\| full +\| — +\| sentiment, spam +\| Llama-3-8B +\|.*\| +145\.6 GiB \| does not fit on an H100 80 GB \| fits none of the 13 GPUs, not even H200 141GB +\|`,
		`\| lora +\| alpha=16 dropout=0 rank=8 targets=q,v +\| sentiment, spam +\| Llama-3-8B +\|.*\| +78\.9 GiB \| fits on an H100 80 GB +\|`,
		`\| full +\| — +\| +305\.0 MiB \| +255\.0 MiB \| +4\.2 MiB \| +4\.2 MiB \| +4\.2 MiB \| +16\.6 MiB \| +109\.2 MiB \| +— \| +— \| +130\.0 MiB \| +1\.96 \|`,
		`\| lora +\| alpha=16 dropout=0 rank=8 targets=q,v +\| +212\.0 MiB \| +162\.0 MiB \|.*\| +84\.0 MiB \| +1\.93 \|`,
		`\| prompt +\| init=vocab init_text=Classify this text: length=8 \| +190\.0 MiB \| +140\.0 MiB \|( +— \|){9}`,
		`\| sentiment \| full +\| +1,050 ± 71 \| +13\.2% \| +20\.0 \| +1\.00× \|`,
		`\| sentiment \| lora +\| +1,500 ± 71 \| +12\.9% \| +28\.6 \| +1\.43× \|`,
		`\| spam +\| prompt \| +1,700 \| +— \| +— \| +1\.79× \|`,
	} {
		if !regexp.MustCompile(re).MatchString(md) {
			t.Errorf("README.md has no row matching %s", re)
		}
	}
	if t.Failed() {
		t.Logf("README.md:\n%s", md)
	}
}

// TestBuildSkips builds a report from a sweep with one configuration per
// task: the figures without data are skipped with a line, not drawn empty.
func TestBuildSkips(t *testing.T) {
	dir := trialsDir(t, "sentiment-full-all-s1", "sentiment-full-all-s2")
	readme, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "report", "README.md"); readme != want {
		t.Errorf("README at %s, want %s", readme, want)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, s := range []string{
		"_Skipped: no task has LoRA (or DoRA) trials at two or more ranks._",
		"_Skipped: no task has prompt- or prefix-tuning trials at two or more lengths._",
		"_Skipped: no method was run at two or more data sizes._",
		"_Skipped: no task has two or more configurations at its summary data size._",
		"Sweep spec: not given", "No trial failed.",
		"go run ./harness report " + dir + "\n",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("README.md lacks %q", s)
		}
	}
	refs := readmeFigures(t, md)
	if d := cmp.Diff([]string{"fig-throughput.png", "fig-throughput.svg"}, refs); d != "" {
		t.Errorf("figures referenced (-want +got):\n%s", d)
	}
	checkFigures(t, filepath.Join(dir, "report"), refs)
	if t.Failed() {
		t.Logf("README.md:\n%s", md)
	}
}

// TestBuildOlderResults builds a report from result files of which one
// predates the memory account, the projections, the calibration and the
// GPU status: its cells show dashes, the rest renders as usual.
func TestBuildOlderResults(t *testing.T) {
	md := buildREADME(t, trialsDir(t, "spam-full-all-s1", "spam-prompt8-all-s1"))
	for _, re := range []string{
		`\| full +\| — +\| +300\.0 MiB \| +250\.0 MiB \|.*\| +130\.0 MiB \| +1\.92 \|`,
		`\| prompt +\| init=vocab init_text=Classify this text: length=8 \| +190\.0 MiB \| +140\.0 MiB \|( +— \|){9}$`,
		`\| full +\| — +\| spam +\| GPT-2 XL +\|.*\| +43\.8 GiB \| fits on an H100 80 GB +\|`,
		`\| prompt +\| init=vocab init_text=Classify this text: length=8 \| spam +\| — +\| +16 × — \|( +— +\|){8}$`,
		`\| spam \| full +\| +900 \| +11\.9% \| +18\.0 \| +1\.00× \|`,
		`\| spam \| prompt \| +1,700 \| +— \| +— \| +1\.89× \|`,
		`- GPU: no NVIDIA GPU: .* \(1 trial\); — \(1 trial\)\.`,
	} {
		if !regexp.MustCompile("(?m)" + re).MatchString(md) {
			t.Errorf("README.md has no line matching %s", re)
		}
	}
	if t.Failed() {
		t.Logf("README.md:\n%s", md)
	}
}

// TestBuildNoProjections builds a report from a result that predates
// projections only: the projection section is skipped with a line.
func TestBuildNoProjections(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "trials"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(testSweep, "trials", "spam-prompt8-all-s1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trials", "spam-prompt8-all-s1.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	md := buildREADME(t, dir)
	for _, s := range []string{"_Skipped: no trial at a summary configuration carries a projection._", "- GPU: — (1 trial)."} {
		if !strings.Contains(md, s) {
			t.Errorf("README.md lacks %q", s)
		}
	}
}

func TestBuildNoResults(t *testing.T) {
	if _, err := Build(t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "no trial results") {
		t.Errorf("Build of an empty directory: error %v, want one saying there are no results", err)
	}
}

// TestBuildAllFailed builds a report where no trial succeeded: every
// section says why it is empty and the failure is listed.
func TestBuildAllFailed(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "trials"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(testSweep, "trials", "spam-lora16-all-s1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trials", "spam-lora16-all-s1.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	readme, err := Build(dir, Options{Out: filepath.Join(dir, "out")})
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"_Skipped: no trial succeeded._", "_Skipped: no trial recorded its training throughput._",
		"1 (0 succeeded, 1 failed)", "`spam-lora16-all-s1`"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("README.md lacks %q", s)
		}
	}
	if refs := readmeFigures(t, string(md)); len(refs) != 0 {
		t.Errorf("figures referenced with no successful trial: %v", refs)
	}
}

// trialsDir is a results folder holding the test sweep's trials ids.
func trialsDir(t *testing.T, ids ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "trials"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		b, err := os.ReadFile(filepath.Join(testSweep, "trials", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "trials", id+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildREADME builds dir's report and returns its README.
func buildREADME(t *testing.T, dir string) string {
	t.Helper()
	readme, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return readPages(t, readme)
}

// readPages reads a report's README and its appendix, one after the other.
func readPages(t *testing.T, readme string) string {
	t.Helper()
	var md string
	for _, f := range []string{readme, filepath.Join(filepath.Dir(readme), AppendixFile)} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		md += string(b)
	}
	return md
}

// writeFigures writes figures to a temporary folder and checks the files
// they reference.
func writeFigures(t *testing.T, figs []*figure) {
	t.Helper()
	out := t.TempDir()
	var refs []string
	for _, f := range figs {
		if err := f.write(out); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, f.Files()...)
	}
	checkFigures(t, out, refs)
}

// renderBoth renders a page, its main page and appendix one after the
// other, for tests that look for a section wherever it is.
func renderBoth(p *page) (string, []*figure, error) {
	md, appendix, figs, err := p.render()
	return md + appendix, figs, err
}
