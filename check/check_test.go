package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/trial"
)

var methodParams = map[string]map[string]any{
	"full":   {},
	"lora":   {"rank": 4, "alpha": 8.0},
	"prompt": {"length": 8},
}

var baseAcc = map[string]float64{"full": 0.80, "lora": 0.78, "prompt": 0.70}

// seedOffset gives each configuration a small seed spread (sd 0.01), so
// two standard errors of the difference (0.016 with n = 3) lie under the
// default floor.
var seedOffset = map[int]float64{1: 0.01, 2: -0.01, 3: 0}

// synthetic is a sweep of one task, three methods and three seeds; edit,
// when given, changes each trial before it is returned.
func synthetic(edit func(*Trial)) []Trial {
	var out []Trial
	for _, m := range []string{"full", "lora", "prompt"} {
		for _, seed := range []int{1, 2, 3} {
			spec := trial.Spec{Model: "tiny", Task: "sentiment", DataSize: 64, Method: m, MethodParams: methodParams[m], Seed: seed,
				Train: trial.Settings{LR: 1e-3, Epochs: 3, Batch: 16, Select: true, MaxEval: 100}}
			r := &trial.Result{ID: spec.ID(), Status: trial.Success, Spec: spec,
				Metrics:         trial.Metrics{TestAccuracy: baseAcc[m] + seedOffset[seed]},
				TokensPerSec:    1000 + 10*float64(seed),
				PeakMemoryBytes: 200 << 20,
				Env:             machine.Info{GitCommit: "0123456789abcdef", CPU: "test cpu", Cores: 2, BLAS: "gonum", GoVersion: "go1.26", OS: "linux/amd64"}}
			t := Trial{Result: r}
			if edit != nil {
				edit(&t)
			}
			out = append(out, t)
		}
	}
	return out
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

func shiftAcc(d float64) func(*Trial) { return func(t *Trial) { t.Metrics.TestAccuracy += d } }

// spread replaces the seed spread with a wide one (sd 0.08).
func spread(t *Trial) {
	t.Metrics.TestAccuracy = baseAcc[t.Spec.Method] + 8*seedOffset[t.Spec.Seed]
}

func flat(t *Trial) { t.Metrics.TestAccuracy = baseAcc[t.Spec.Method] }

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
		{name: "accuracy drop beyond tolerance fails and names the method",
			run:      only("lora", shiftAcc(-0.05)),
			wantFail: true, want: map[string]string{"lora": "regression: accuracy"}, wantMoved: []string{"lora"},
			errHas: "sentiment/lora (accuracy)"},
		{name: "drop within the seed noise passes",
			base: spread, run: both(spread, only("lora", shiftAcc(-0.06)))},
		{name: "drop below the floor passes with zero spread",
			base: flat, run: both(flat, only("lora", shiftAcc(-0.015)))},
		{name: "drop above the floor fails with zero spread",
			base: flat, run: both(flat, only("prompt", shiftAcc(-0.025))),
			wantFail: true, want: map[string]string{"prompt": "regression: accuracy"}, wantMoved: []string{"prompt"}},
		{name: "a lower floor catches a small drop",
			run: only("lora", shiftAcc(-0.018)), tol: func(t *Tolerances) { t.AccFloor = 0.01 },
			wantFail: true, want: map[string]string{"lora": "regression: accuracy"}, wantMoved: []string{"lora"}},
		{name: "accuracy gain moves but passes",
			run: only("full", shiftAcc(0.1)), wantMoved: []string{"full"}},
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
			errHas: "sentiment/prompt (failed)"},
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
				want := tc.want[row.Key.Method]
				if want == "" {
					want = "ok"
				}
				if got := row.Verdict(); got != want {
					t.Errorf("%s: verdict %q, want %q (drop %.4f, tol %.4f, throughput ×%.2f, memory ×%.2f)",
						row.Label, got, want, row.AccDrop, row.AccTol, row.ThroughputRatio, row.MemoryRatio)
				}
			}
			var moved []string
			for _, row := range rep.Moved() {
				moved = append(moved, row.Key.Method)
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

func TestToleranceArithmetic(t *testing.T) {
	b, err := NewBaseline(synthetic(spread))
	if err != nil {
		t.Fatal(err)
	}
	rep := Compare(b, synthetic(both(spread, shiftAcc(-0.05))), DefaultTolerances())
	row := rep.Rows[0]
	// sd 0.08 on both sides, n = 3: 2·√(2·0.0064/3) = 0.1306.
	if diff := row.AccNoise - 0.13064; diff > 1e-4 || diff < -1e-4 {
		t.Errorf("noise %.5f, want 0.13064", row.AccNoise)
	}
	if row.AccTol != row.AccNoise || row.AccDrop < 0.0499 || row.AccDrop > 0.0501 {
		t.Errorf("tol %.5f drop %.5f", row.AccTol, row.AccDrop)
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
			tr.Spec.MethodParams = map[string]any{"rank": 8, "alpha": 8.0} // a new configuration
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
			"sentiment/full": OK, "sentiment/lora rank=4": Missing, "sentiment/lora rank=8": New, "sentiment/prompt": Missing,
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
	if diff := cmp.Diff([]string{"sentiment/full", "sentiment/lora", "sentiment/prompt"}, labels); diff != "" {
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
	if lora.Key.Method != "lora" || lora.Accuracy.N != 3 || lora.Accuracy.Mean < 0.7799 || lora.Accuracy.Mean > 0.7801 ||
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
		{"syntax", "{\n  \"format\": \"peftbench-baseline/1\",\n  \"configs\": [\n}", "line 4"},
		{"no format", `{"configs": []}`, `no "format" field`},
		{"other format", `{"format": "peftbench-baseline/9"}`, `format "peftbench-baseline/9"`},
		{"empty", `{"format": "peftbench-baseline/1", "configs": []}`, "no configurations"},
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
			if v, ok := tr.NormalizedThroughput(); !ok || v != tr.TokensPerSec/20 {
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
	for _, want := range []string{"sentiment/lora", "regression: accuracy", "0.780 ± 0.010 (n=3)", "FAIL", "raw tokens/s"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "sentiment/full") {
		t.Errorf("table shows an unchanged configuration:\n%s", s)
	}
	md := string(rep.Markdown())
	for _, want := range []string{"# Regression check: FAILED", "## Regressions", "**sentiment/lora**", "| sentiment/full | ok |", "`results/ci`"} {
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
		func(t *Tolerances) { t.AccSigmas = -1 },
	} {
		tol := DefaultTolerances()
		f(&tol)
		if tol.Validate() == nil {
			t.Errorf("%+v accepted", tol)
		}
	}
}
