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
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
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
		"Pareto front, accuracy against peak memory (5 of 6 configurations",
		"1.43×",
		// Reproducibility: the spec, machine and rebuild command.
		"name: reports-testdata", "Example CPU @ 3.0GHz, 16 cores, linux/amd64 (28 trials)", "BLAS: openblas (28 trials)",
		"go run ./harness report testdata/sweep --out " + out + " --spec testdata/sweep.yaml",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("README.md lacks %q", s)
		}
	}
	// Summary rows: sentiment's LoRA at rank 8, lr 0.001, with mean ± sd
	// and interval (82.0 ± 1.4, 82.0 ∓ 12.706·1.0); spam's LoRA at lr 0.003.
	for _, re := range []string{
		`\| lora +\| alpha=16 dropout=0 rank=8 targets=q,v +\| +0\.001 \| +all \| +2 \| +82\.0 ± 1\.4 \| +\[69\.3, 94\.7\] \|`,
		`\| lora +\| alpha=16 dropout=0 rank=8 targets=q,v +\| +0\.003 \| +all \| +2 \| +93\.0 ± 1\.4 \|`,
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
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "trials"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sentiment-full-all-s1", "sentiment-full-all-s2"} {
		b, err := os.ReadFile(filepath.Join(testSweep, "trials", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "trials", id+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
