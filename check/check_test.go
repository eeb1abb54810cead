package check

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
)

var methodParams = map[string]map[string]any{
	"full":   {},
	"lora":   {"rank": 4, "alpha": 8.0},
	"prompt": {"length": 8},
}

var baseAcc = map[string]float64{"full": 0.80, "lora": 0.78, "prompt": 0.70}

var baseLoss = map[string]float64{"full": 0.2, "lora": 0.5, "prompt": 1.5}

// testExamples is the size of the synthetic test split.
const testExamples = 1000

// seedOffset gives each configuration a small seed spread (±10 examples).
var seedOffset = map[int]float64{1: 0.01, 2: -0.01, 3: 0}

// synthetic is a sweep of one task, three methods and three seeds, each
// trial right on the first examples of the test split up to its accuracy;
// edit, when given, changes each trial before it is returned.
func synthetic(edit func(*Trial)) []Trial {
	var out []Trial
	for _, m := range []string{"full", "lora", "prompt"} {
		for _, seed := range []int{1, 2, 3} {
			spec := trial.Spec{Model: "tiny", Task: "sentiment", DataSize: 64, Method: m, Name: m, MethodParams: methodParams[m], Seed: seed,
				Train: trial.Settings{LR: 1e-3, Epochs: 3, Batch: 16, Select: true}}
			r := &trial.Result{ID: spec.ID(), Status: trial.Success, Spec: spec,
				Metrics:         trial.Metrics{TrainLoss: baseLoss[m]},
				TokensPerSec:    1000 + 10*float64(seed),
				PeakMemoryBytes: 200 << 20,
				Env:             machine.Info{GitCommit: "0123456789abcdef", CPU: "test cpu", Cores: 2, BLAS: "gonum", GoVersion: "go1.26", OS: "linux/amd64"}}
			t := Trial{Result: r}
			setAcc(&t, baseAcc[m]+seedOffset[seed])
			if edit != nil {
				edit(&t)
			}
			out = append(out, t)
		}
	}
	return out
}

// setAcc makes a trial right on the first acc·testExamples test examples.
func setAcc(t *Trial, acc float64) {
	idx, right := make([]int, testExamples), make([]bool, testExamples)
	k := int(math.Round(acc * testExamples))
	for i := range idx {
		idx[i], right[i] = i, i < k
	}
	t.Outcomes = []trial.Outcomes{trial.NewOutcomes("test", idx, right)}
	t.Metrics.TestAccuracy = float64(k) / testExamples
}

// only applies f to the trials of one method.
func only(method string, f func(*Trial)) func(*Trial) {
	return func(t *Trial) {
		if t.Spec.Method == method {
			f(t)
		}
	}
}

func both(fs ...func(*Trial)) func(*Trial) {
	return func(t *Trial) {
		for _, f := range fs {
			f(t)
		}
	}
}

func shiftAcc(d float64) func(*Trial) { return func(t *Trial) { setAcc(t, t.Metrics.TestAccuracy+d) } }

// spread replaces the seed spread with a wide one (±80 examples).
func spread(t *Trial) { setAcc(t, baseAcc[t.Spec.Method]+8*seedOffset[t.Spec.Seed]) }

func flat(t *Trial) { setAcc(t, baseAcc[t.Spec.Method]) }

func noOutcomes(t *Trial) { t.Outcomes = nil }

func scaleLoss(f float64) func(*Trial) { return func(t *Trial) { t.Metrics.TrainLoss *= f } }

func setParam(k string, v any) func(*Trial) {
	return func(t *Trial) {
		p := map[string]any{}
		for a, b := range t.Spec.MethodParams {
			p[a] = b
		}
		p[k] = v
		t.Spec.MethodParams = p
	}
}

func scaleTPS(f float64) func(*Trial) { return func(t *Trial) { t.TokensPerSec *= f } }

func calibrate(g float64) func(*Trial) { return func(t *Trial) { t.CalibrationGFLOPS = g } }

func scaleMem(f float64) func(*Trial) {
	return func(t *Trial) { t.PeakMemoryBytes = int64(float64(t.PeakMemoryBytes) * f) }
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name      string
		base, run func(*Trial)
		tol       func(*Tolerances)
		wantFail  bool
		want      map[string]string // method → verdict; others must be "ok"
		wantMoved []string          // methods in the table
		errHas    string
	}{
		{name: "unchanged rerun passes"},
		{name: "paired accuracy drop fails and names the configuration",
			run:      only("lora", shiftAcc(-0.05)),
			wantFail: true, want: map[string]string{"lora": "regression: accuracy"}, wantMoved: []string{"lora"},
			errHas: "sentiment/lora n=64 (accuracy)"},
		{name: "drop within the seed noise passes",
			base: spread, run: both(spread, only("lora", shiftAcc(-0.03)))},
		{name: "a significant drop below the floor passes",
			base: flat, run: both(flat, only("lora", shiftAcc(-0.008)))},
		{name: "a significant drop above the floor fails",
			base: flat, run: both(flat, only("prompt", shiftAcc(-0.015))),
			wantFail: true, want: map[string]string{"prompt": "regression: accuracy"}, wantMoved: []string{"prompt"}},
		{name: "without outcomes, means above the floor fail",
			base: noOutcomes, run: both(noOutcomes, only("lora", shiftAcc(-0.05))),
			wantFail: true, want: map[string]string{"lora": "regression: accuracy"}, wantMoved: []string{"lora"}},
		{name: "accuracy gain moves but passes",
			run: only("full", shiftAcc(0.1)), wantMoved: []string{"full"}},
		{name: "final loss five times higher fails",
			run:      only("lora", scaleLoss(5)),
			wantFail: true, want: map[string]string{"lora": "regression: loss"}, wantMoved: []string{"lora"}},
		{name: "a configuration whose every trial failed is a regression",
			run: only("prompt", func(t *Trial) {
				t.Status, t.Error, t.Metrics = trial.Failed, "train: nothing to train: every parameter is frozen", trial.Metrics{}
			}),
			wantFail: true, want: map[string]string{"prompt": "regression: failed"}, wantMoved: []string{"prompt"},
			errHas: "sentiment/prompt n=64 (failed)"},
		{name: "a run that records no training loss fails",
			run:      only("prompt", func(t *Trial) { t.Metrics.TrainLoss = 0 }),
			wantFail: true, want: map[string]string{"prompt": "regression: loss"}, wantMoved: []string{"prompt"}},
		{name: "final loss 20% higher passes",
			run: scaleLoss(1.2)},
		{name: "a changed hyper-parameter under the same name fails",
			run:      only("lora", setParam("alpha", 16)),
			wantFail: true, want: map[string]string{"lora": "regression: changed"}, wantMoved: []string{"lora"},
			errHas: "sentiment/lora n=64 (changed)"},
		{name: "a changed learning rate fails",
			run:      only("full", func(t *Trial) { t.Spec.Train.LR = 1e-5 }),
			wantFail: true, want: map[string]string{"full": "regression: changed"}, wantMoved: []string{"full"}},
		{name: "changed task data fails",
			run:      only("prompt", func(t *Trial) { t.Spec.TaskHash = "beef" }),
			wantFail: true, want: map[string]string{"prompt": "regression: changed"}, wantMoved: []string{"prompt"}},
		{name: "a run on another device fails, whatever its throughput",
			run: only("prompt", func(t *Trial) {
				t.Device = &trial.DeviceUse{Kind: "cuda", Name: "NVIDIA H100 80GB HBM3"}
				t.TokensPerSec *= 50
			}),
			wantFail: true, want: map[string]string{"prompt": "regression: changed"}, wantMoved: []string{"prompt"}},
		{name: "throughput falling 40% fails",
			run:      only("prompt", scaleTPS(0.6)),
			wantFail: true, want: map[string]string{"prompt": "regression: throughput"}, wantMoved: []string{"prompt"}},
		{name: "throughput falling 20% passes",
			run: scaleTPS(0.8)},
		{name: "normalised throughput: a slower machine is no regression",
			base: calibrate(10), run: both(scaleTPS(0.6), calibrate(6))},
		{name: "normalised throughput: the same machine slower fails",
			base: calibrate(10), run: both(only("full", scaleTPS(0.6)), calibrate(10)),
			wantFail: true, want: map[string]string{"full": "regression: throughput"}, wantMoved: []string{"full"}},
		{name: "memory growing 50% fails",
			run:      only("full", scaleMem(1.5)),
			wantFail: true, want: map[string]string{"full": "regression: memory"}, wantMoved: []string{"full"}},
		{name: "memory growing 20% passes",
			run: scaleMem(1.2)},
		{name: "several reasons at once",
			run:      only("lora", both(shiftAcc(-0.1), scaleMem(2))),
			wantFail: true, want: map[string]string{"lora": "regression: accuracy, memory"}, wantMoved: []string{"lora"}},
		{name: "a failed trial is a regression",
			run: func(t *Trial) {
				if t.Spec.Method == "prompt" && t.Spec.Seed == 2 {
					t.Status, t.Error, t.Metrics = trial.Failed, "panic: boom", trial.Metrics{}
				}
			},
			wantFail: true, want: map[string]string{"prompt": "regression: failed"}, wantMoved: []string{"prompt"},
			errHas: "sentiment/prompt n=64 (failed)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBaseline(synthetic(tc.base))
			if err != nil {
				t.Fatal(err)
			}
			tol := DefaultTolerances()
			if tc.tol != nil {
				tc.tol(&tol)
			}
			rep := Compare(b, synthetic(tc.run), tol)
			if len(rep.Rows) != 3 {
				t.Fatalf("%d rows, want 3", len(rep.Rows))
			}
			for _, row := range rep.Rows {
				want := tc.want[row.Key.Name]
				if want == "" {
					want = "ok"
				}
				if got := row.Verdict(); got != want {
					t.Errorf("%s: verdict %q, want %q (drop %.4f, p %.3g, loss ×%.2f, throughput ×%.2f, memory ×%.2f, notes %v)",
						row.Label, got, want, row.AccDrop, row.AccP, row.LossRatio, row.ThroughputRatio, row.MemoryRatio, row.Notes)
				}
			}
			var moved []string
			for _, row := range rep.Moved() {
				moved = append(moved, row.Key.Name)
			}
			if diff := cmp.Diff(tc.wantMoved, moved); diff != "" {
				t.Errorf("moved rows (-want +got):\n%s", diff)
			}
			if rep.Failed() != tc.wantFail || (rep.Err() != nil) != tc.wantFail {
				t.Errorf("Failed() = %v, Err() = %v; want failure %v", rep.Failed(), rep.Err(), tc.wantFail)
			}
			if tc.errHas != "" && (rep.Err() == nil || !strings.Contains(rep.Err().Error(), tc.errHas)) {
				t.Errorf("Err() = %v, want it to contain %q", rep.Err(), tc.errHas)
			}
		})
	}
}

// The paired comparison is the run against the baseline over the shared
// test examples, its p-value Holm-adjusted over the check's rows, and a
// changed setup is listed field by field.
func TestPairedArithmetic(t *testing.T) {
	b, err := NewBaseline(synthetic(flat))
	if err != nil {
		t.Fatal(err)
	}
	rep := Compare(b, synthetic(both(flat, only("lora", both(shiftAcc(-0.05), setParam("alpha", 16))))), DefaultTolerances())
	row := rep.Rows[1]
	c := row.Paired
	// Every seed right on 780 examples in the baseline and 730 in the run:
	// 50 examples flip, none the other way, with no seed variance.
	if c == nil || c.N != testExamples || c.OnlyA != 0 || c.OnlyB != 50 || math.Abs(c.Diff+0.05) > 1e-12 || c.SeedsA != 3 {
		t.Fatalf("paired %+v", c)
	}
	// Three rows are paired; the two unchanged have p = 1, so Holm
	// multiplies the smallest by 3.
	if math.Abs(row.AccP-math.Min(1, 3*c.P)) > 1e-15 {
		t.Errorf("Holm p %g from raw %g", row.AccP, c.P)
	}
	if diff := cmp.Diff([]string{"method_params.alpha: 8 → 16"}, row.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if row.Verdict() != "regression: changed, accuracy" {
		t.Errorf("verdict %q", row.Verdict())
	}
}

func TestMissingAndNew(t *testing.T) {
	b, err := NewBaseline(synthetic(nil))
	if err != nil {
		t.Fatal(err)
	}
	var run []Trial
	for _, tr := range synthetic(nil) {
		switch tr.Spec.Method {
		case "prompt":
			continue // missing from the run
		case "lora":
			tr.Spec.Name = "lora rank=8" // a new configuration
		}
		run = append(run, tr)
	}
	for _, failMissing := range []bool{false, true} {
		tol := DefaultTolerances()
		tol.FailMissing = failMissing
		rep := Compare(b, run, tol)
		got := map[string]Status{}
		for _, row := range rep.Rows {
			got[row.Label] = row.Status
		}
		want := map[string]Status{
			"sentiment/full n=64": OK, "sentiment/lora n=64": Missing, "sentiment/lora rank=8 n=64": New, "sentiment/prompt n=64": Missing,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		if rep.Failed() != failMissing {
			t.Errorf("FailMissing=%v: Failed() = %v", failMissing, rep.Failed())
		}
		if failMissing && !strings.Contains(rep.Err().Error(), "sentiment/prompt") {
			t.Errorf("Err() = %v, want it to name the missing configuration", rep.Err())
		}
	}
}

func TestRowsSortedStably(t *testing.T) {
	b, err := NewBaseline(synthetic(nil))
	if err != nil {
		t.Fatal(err)
	}
	run := synthetic(nil)
	for i, j := 0, len(run)-1; i < j; i, j = i+1, j-1 {
		run[i], run[j] = run[j], run[i]
	}
	var labels []string
	for _, row := range Compare(b, run, DefaultTolerances()).Rows {
		labels = append(labels, row.Label)
	}
	if diff := cmp.Diff([]string{"sentiment/full n=64", "sentiment/lora n=64", "sentiment/prompt n=64"}, labels); diff != "" {
		t.Errorf("row order (-want +got):\n%s", diff)
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	b, err := NewBaseline(synthetic(calibrate(12.5)))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Configs) != 3 || b.Trials != 9 || b.Throughput != Normalized || b.CodeVersion != "0123456789ab" {
		t.Fatalf("baseline: %d configs, %d trials, throughput %q, code %q", len(b.Configs), b.Trials, b.Throughput, b.CodeVersion)
	}
	lora := b.Configs[1]
	if lora.Key.Name != "lora" || lora.Setup.Method != "lora" || lora.TrainLoss != 0.5 || lora.Seeds[0].Outcomes == nil || lora.Accuracy.N != 3 || lora.Accuracy.Mean < 0.7799 || lora.Accuracy.Mean > 0.7801 ||
		lora.Accuracy.Std < 0.0099 || lora.Accuracy.Std > 0.0101 || lora.TokensPerSec != 1020 || lora.NormalizedThroughput != 1020/12.5 {
		t.Fatalf("lora summary %+v", lora)
	}
	path := filepath.Join(t.TempDir(), "baselines", "ci.json")
	if err := b.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("round trip (-wrote +read):\n%s", diff)
	}
	// A round-tripped baseline still matches its own results.
	if rep := Compare(got, synthetic(calibrate(12.5)), DefaultTolerances()); rep.Failed() || len(rep.Moved()) != 0 {
		t.Errorf("read baseline against its results: %v, %d moved", rep.Err(), len(rep.Moved()))
	}
}

func TestReadBaselineErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := NewBaseline(synthetic(nil))
	if err != nil {
		t.Fatal(err)
	}
	dup := *good
	dup.Configs = append(append([]Config(nil), good.Configs...), good.Configs[0])
	dupJSON, _ := json.Marshal(dup)
	tests := []struct {
		name, content, want string
	}{
		{"missing", "", "does not exist"},
		{"syntax", "{\n  \"format\": \"peftbench-baseline/2\",\n  \"configs\": [\n}", "line 4"},
		{"no format", `{"configs": []}`, `no "format" field`},
		{"other format", `{"format": "peftbench-baseline/9"}`, `format "peftbench-baseline/9"`},
		{"empty", `{"format": "peftbench-baseline/2", "configs": []}`, "no configurations"},
		{"old format", `{"format": "peftbench-baseline/1", "configs": []}`, "regenerate it"},
		{"duplicate", string(dupJSON), "repeats the configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".json")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ReadBaseline(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s and saying %q", err, path, tc.want)
			}
		})
	}
}

func TestReadTrialsCalibration(t *testing.T) {
	dir := t.TempDir()
	for i, tr := range synthetic(nil)[:2] {
		if err := tr.Write(dir); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue
		}
		// A newer result carrying calibration and MFU.
		p := trial.Path(dir, tr.ID)
		var m map[string]any
		raw, _ := os.ReadFile(p)
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m["calibration_gflops"], m["mfu"] = 20.0, 0.25
		raw, _ = json.Marshal(m)
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadTrials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d trials, want 2", len(got))
	}
	var calibrated int
	for _, tr := range got {
		if tr.CalibrationGFLOPS == 20 && tr.MFU == 0.25 {
			calibrated++
			if v, ok := aggregate.NormalizedThroughput(tr.Result); !ok || v != tr.TokensPerSec/20 {
				t.Errorf("normalised throughput %v, %v", v, ok)
			}
		} else if tr.CalibrationGFLOPS != 0 {
			t.Errorf("trial %s: calibration %v", tr.ID, tr.CalibrationGFLOPS)
		}
	}
	if calibrated != 1 {
		t.Errorf("%d calibrated trials, want 1", calibrated)
	}
	if _, err := ReadTrials(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "no trial results") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestOutput(t *testing.T) {
	b, err := NewBaseline(synthetic(nil))
	if err != nil {
		t.Fatal(err)
	}
	rep := Compare(b, synthetic(only("lora", shiftAcc(-0.05))), DefaultTolerances())
	rep.BaselineFile, rep.RunDir = "results/baselines/ci.json", "results/ci"
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"sentiment/lora n=64", "regression: accuracy", "0.780 ± 0.010 (n=3)", "-5.0 pts [", "0.5 → 0.5 (1.00×)", "FAIL", "raw tokens/s"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "sentiment/full n=64") {
		t.Errorf("table shows an unchanged configuration:\n%s", s)
	}
	md := string(rep.Markdown())
	for _, want := range []string{"# Regression check: FAILED", "## Regressions", "**sentiment/lora n=64**", "significant over 1000 paired examples", "| sentiment/full n=64 | ok |", "`results/ci`"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}

	out.Reset()
	if err := Compare(b, synthetic(nil), DefaultTolerances()).WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "Nothing moved") || !strings.Contains(s, "PASS") {
		t.Errorf("unchanged run:\n%s", s)
	}
}

func TestTolerancesValidate(t *testing.T) {
	if err := DefaultTolerances().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func(*Tolerances){
		func(t *Tolerances) { t.AccFloor = -0.1 },
		func(t *Tolerances) { t.ThroughputRatio = 1.5 },
		func(t *Tolerances) { t.ThroughputRatio = 0 },
		func(t *Tolerances) { t.MemoryRatio = 0.9 },
		func(t *Tolerances) { t.LossRatio = 0.5 },
	} {
		tol := DefaultTolerances()
		f(&tol)
		if tol.Validate() == nil {
			t.Errorf("%+v accepted", tol)
		}
	}
}
