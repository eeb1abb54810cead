package reports

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// The hand-made results in testdata/sweep/trials: tasks sentiment and spam,
// methods full, lora (ranks 4 and 8), prompt (lengths 4 and 8) and prefix,
// data sizes 100 and all on sentiment, seeds 1 and 2, one failed trial.
const testSweep = "testdata/sweep"

const mib = 1 << 20

func loadTestResults(t *testing.T) []*trial.Result {
	t.Helper()
	rs, err := trial.ReadAll(testSweep)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 28 {
		t.Fatalf("read %d results, want 28", len(rs))
	}
	return rs
}

// testInputs are made-up baselines and the real size of sentiment's
// training split; spam's is left unknown on purpose.
var testInputs = Inputs{
	Baselines: map[string]tasks.Baseline{
		"sentiment": {Task: "sentiment", Majority: 0.658, BoWLR: &tasks.BoWResult{Accuracy: 0.781}},
		"spam":      {Task: "spam", Majority: 0.705, BoWLR: &tasks.BoWResult{Accuracy: 0.967}},
	},
	TrainSizes: map[string]int{"sentiment": 3500},
}

// two is the Stat of two seeds a and b, computed by hand: the sample
// standard deviation of two values is |a − b|/√2, and the 95% interval
// is the mean ± t(0.975, 1)·sd/√2.
func two(a, b float64) Stat {
	m, sd := (a+b)/2, math.Abs(a-b)/math.Sqrt2
	h := tQuantile975(1) * sd / math.Sqrt2
	return Stat{N: 2, Mean: m, Std: sd, Lo: m - h, Hi: m + h}
}

func one(a float64) Stat {
	nan := math.NaN()
	return Stat{N: 1, Mean: a, Std: nan, Lo: nan, Hi: nan}
}

func TestGroupResults(t *testing.T) {
	groups := GroupResults(loadTestResults(t))
	var ids []string
	for _, g := range groups {
		ids = append(ids, strings.Join(g.IDs, "+"))
	}
	// Sorted by task, method (full, lora, prefix, prompt), data size (all
	// last), hyper-parameters, learning rate; the failed trial is left out.
	want := []string{
		"sentiment-full-100-s1+sentiment-full-100-s2",
		"sentiment-full-all-s1+sentiment-full-all-s2",
		"sentiment-lora8-100-s1+sentiment-lora8-100-s2",
		"sentiment-lora4-all-s1+sentiment-lora4-all-s2",
		"sentiment-lora8-all-s1+sentiment-lora8-all-s2",
		"sentiment-prefix8-all-s1+sentiment-prefix8-all-s2",
		"sentiment-prompt4-all-s1+sentiment-prompt4-all-s2",
		"sentiment-prompt8-all-s1+sentiment-prompt8-all-s2",
		"spam-full-all-s1+spam-full-all-s2",
		"spam-lora4-all-s1+spam-lora4-all-s2",
		"spam-lora8-all-s1+spam-lora8-all-s2",
		"spam-lora8-all-lr3e-3-s1+spam-lora8-all-lr3e-3-s2",
		"spam-prefix8-all-s1+spam-prefix8-all-s2",
		"spam-prompt8-all-s1",
	}
	if d := cmp.Diff(want, ids); d != "" {
		t.Fatalf("groups (-want +got):\n%s", d)
	}

	// One group in full: sentiment, LoRA rank 8, all data.
	valid := two(0.80, 0.82)
	wantGroup := &Group{
		Config: Config{Model: "tiny", Task: "sentiment", Method: "lora",
			Params: `{"alpha":16,"dropout":0,"rank":8,"targets":["q","v"]}`, DataSize: 0,
			Train: trial.Settings{LR: 1e-3, Epochs: 3, Batch: 16, WeightDecay: 0.01, WarmupFrac: 0.1, Select: true}},
		MethodParams:    map[string]any{"alpha": 16.0, "dropout": 0.0, "rank": 8.0, "targets": []any{"q", "v"}},
		Seeds:           []int{1, 2},
		IDs:             []string{"sentiment-lora8-all-s1", "sentiment-lora8-all-s2"},
		Test:            two(0.81, 0.83),
		Valid:           &valid,
		TrainableParams: 16384,
		TotalParams:     1090000 + 16384,
		PeakMemoryBytes: (210 + 214) / 2 * mib,
		TokensPerSec:    two(1450, 1550),
		FileSize:        16384*4 + 200,
	}
	if d := cmp.Diff(wantGroup, groups[4], approx); d != "" {
		t.Errorf("sentiment lora rank 8 group (-want +got):\n%s", d)
	}
	// No validation score: Valid is nil and the score falls back to test.
	prefix := groups[12]
	if prefix.Valid != nil {
		t.Errorf("spam prefix: Valid = %+v, want nil", prefix.Valid)
	}
	if s, on := prefix.Score(); on != OnTest || math.Abs(s-0.89) > 1e-12 {
		t.Errorf("spam prefix Score() = %v, %s; want 0.89, test", s, on)
	}
	// One seed: no spread, no interval.
	if d := cmp.Diff(one(0.80), groups[13].Test, approx); d != "" {
		t.Errorf("spam prompt (one seed) (-want +got):\n%s", d)
	}
}

// summaryLine is the part of a summary row the test states by hand.
type summaryLine struct {
	Method, Params, On string
	LR                 float64
	DataSize, Configs  int
	Test               Stat
	Trainable          int
	Pct                float64
	MemMiB, TokPerSec  float64
}

func TestSummaries(t *testing.T) {
	sums := Summaries(GroupResults(loadTestResults(t)), testInputs)
	got := map[string][]summaryLine{}
	for _, s := range sums {
		if s.Model != "tiny" || s.DataSize != 0 {
			t.Errorf("%s: model %q, data size %d; want tiny, all", s.Task, s.Model, s.DataSize)
		}
		if s.Baseline == nil || s.Baseline.Majority != testInputs.Baselines[s.Task].Majority {
			t.Errorf("%s: baseline %+v not passed through", s.Task, s.Baseline)
		}
		for _, r := range s.Rows {
			g := r.Best
			got[s.Task] = append(got[s.Task], summaryLine{Method: r.Method, Params: ParamsLabel(g.MethodParams), On: r.SelectedOn,
				LR: g.Train.LR, DataSize: g.DataSize, Configs: r.Configs, Test: g.Test, Trainable: g.TrainableParams,
				Pct: r.TrainablePct, MemMiB: g.PeakMemoryBytes / mib, TokPerSec: g.TokensPerSec.Mean})
		}
	}
	if s := sums[0]; s.Task != "sentiment" || s.Examples != 3500 {
		t.Errorf("first summary: %s with %d examples, want sentiment with 3500", s.Task, s.Examples)
	}
	if s := sums[1]; s.Task != "spam" || s.Examples != 0 {
		t.Errorf("second summary: %s with %d examples, want spam with 0 (unknown)", s.Task, s.Examples)
	}
	const loraP, promptP, prefixP = "alpha=16 dropout=0 rank=8 targets=q,v", "init=vocab init_text=Classify this text: length=8", "hidden=64 length=8 projection=false"
	pct := func(trainable int) float64 { return 100 * float64(trainable) / float64(1090000+trainable) }
	want := map[string][]summaryLine{
		"sentiment": {
			// Only one full configuration at all data; the size-100 one is not a candidate.
			{Method: "full", Params: "", On: OnValidation, LR: 1e-4, Configs: 1, Test: two(0.82, 0.86), Trainable: 1090000, Pct: 100, MemMiB: 305, TokPerSec: 1050},
			// Rank 8 (valid 0.81) beats rank 4 (valid 0.78).
			{Method: "lora", Params: loraP, On: OnValidation, LR: 1e-3, Configs: 2, Test: two(0.81, 0.83), Trainable: 16384, Pct: pct(16384), MemMiB: 212, TokPerSec: 1500},
			{Method: "prefix", Params: prefixP, On: OnValidation, LR: 1e-2, Configs: 1, Test: two(0.75, 0.77), Trainable: 8192, Pct: pct(8192), MemMiB: 205, TokPerSec: 1600},
			// Length 8 (valid 0.74) beats length 4 (valid 0.71).
			{Method: "prompt", Params: promptP, On: OnValidation, LR: 3e-2, Configs: 2, Test: two(0.72, 0.76), Trainable: 1024, Pct: pct(1024), MemMiB: 195, TokPerSec: 1700},
		},
		"spam": {
			{Method: "full", Params: "", On: OnValidation, LR: 1e-4, Configs: 1, Test: two(0.95, 0.97), Trainable: 1090000, Pct: 100, MemMiB: 300, TokPerSec: 950},
			// lr 3e-3 has the best validation accuracy (0.96) though not the
			// best test accuracy: selection never looks at test.
			{Method: "lora", Params: loraP, On: OnValidation, LR: 3e-3, Configs: 3, Test: two(0.92, 0.94), Trainable: 16384, Pct: pct(16384), MemMiB: 210, TokPerSec: 1400},
			// No validation score: chosen on test.
			{Method: "prefix", Params: prefixP, On: OnTest, LR: 1e-2, Configs: 1, Test: two(0.88, 0.90), Trainable: 8192, Pct: pct(8192), MemMiB: 205, TokPerSec: 1500},
			{Method: "prompt", Params: promptP, On: OnValidation, LR: 3e-2, Configs: 1, Test: one(0.80), Trainable: 1024, Pct: pct(1024), MemMiB: 190, TokPerSec: 1700},
		},
	}
	if d := cmp.Diff(want, got, approx); d != "" {
		t.Errorf("summaries (-want +got):\n%s", d)
	}
}

// curve is a series as the test states it.
type curve struct {
	Task, Method string
	X            []float64
	Labels       []string
	Acc          []Stat
}

func curves(ss []Series) []curve {
	var out []curve
	for _, s := range ss {
		c := curve{Task: s.Task, Method: s.Method}
		for _, p := range s.Points {
			c.X = append(c.X, p.X)
			c.Labels = append(c.Labels, p.Label)
			c.Acc = append(c.Acc, p.Acc)
		}
		out = append(out, c)
	}
	return out
}

func TestSeries(t *testing.T) {
	tb := Aggregate(loadTestResults(t), testInputs)
	rank := []curve{
		{Task: "sentiment", Method: "lora", X: []float64{4, 8}, Labels: []string{"4", "8"}, Acc: []Stat{two(0.78, 0.80), two(0.81, 0.83)}},
		// At rank 8 the lr 3e-3 configuration wins on validation.
		{Task: "spam", Method: "lora", X: []float64{4, 8}, Labels: []string{"4", "8"}, Acc: []Stat{two(0.93, 0.95), two(0.92, 0.94)}},
	}
	if d := cmp.Diff(rank, curves(tb.Rank), approx); d != "" {
		t.Errorf("rank series (-want +got):\n%s", d)
	}
	// Prefix tuning and spam's prompt tuning have one length each: no curve.
	length := []curve{
		{Task: "sentiment", Method: "prompt", X: []float64{4, 8}, Labels: []string{"4", "8"}, Acc: []Stat{two(0.70, 0.74), two(0.72, 0.76)}},
	}
	if d := cmp.Diff(length, curves(tb.Length), approx); d != "" {
		t.Errorf("length series (-want +got):\n%s", d)
	}
	// "all" sits at sentiment's 3,500 training examples; spam has one size.
	size := []curve{
		{Task: "sentiment", Method: "full", X: []float64{100, 3500}, Labels: []string{"100", "3500 (all)"}, Acc: []Stat{two(0.70, 0.72), two(0.82, 0.86)}},
		{Task: "sentiment", Method: "lora", X: []float64{100, 3500}, Labels: []string{"100", "3500 (all)"}, Acc: []Stat{two(0.66, 0.70), two(0.81, 0.83)}},
	}
	if d := cmp.Diff(size, curves(tb.DataSize), approx); d != "" {
		t.Errorf("data-size series (-want +got):\n%s", d)
	}
	// Without the training split size, "all" goes at twice the largest size.
	noSize := DataSizeSeries(tb.Groups, Inputs{})
	if p := noSize[0].Points[1]; p.X != 200 || p.Label != "all" {
		t.Errorf("all without a known size at x = %v labelled %q, want 200, all", p.X, p.Label)
	}
}

func TestEfficiency(t *testing.T) {
	tb := Aggregate(loadTestResults(t), testInputs)
	front := func(fs []Frontier) map[string][]string {
		out := map[string][]string{}
		for _, f := range fs {
			if len(f.Points) != map[string]int{"sentiment": 6, "spam": 6}[f.Task] {
				t.Errorf("%s %s: %d points, want 6", f.Task, f.Cost, len(f.Points))
			}
			for _, p := range f.Front {
				out[f.Task] = append(out[f.Task], p.Group.IDs[0])
			}
		}
		return out
	}
	// Sentiment by memory (MiB, test %): prompt4 190 72, prompt8 195 74,
	// lora4 200 79, prefix 205 76 (beaten by lora4), lora8 212 82, full
	// 305 84. Spam: prompt8 190 80, lora4 200 94, prefix 205 89 (beaten by
	// lora4), lora8 210 95, lora8-lr3e-3 210 93 (beaten by lora8), full 300
	// 96.
	wantMem := map[string][]string{
		"sentiment": {"sentiment-prompt4-all-s1", "sentiment-prompt8-all-s1", "sentiment-lora4-all-s1", "sentiment-lora8-all-s1", "sentiment-full-all-s1"},
		"spam":      {"spam-prompt8-all-s1", "spam-lora4-all-s1", "spam-lora8-all-s1", "spam-full-all-s1"},
	}
	if d := cmp.Diff(wantMem, front(tb.Memory)); d != "" {
		t.Errorf("memory Pareto fronts (-want +got):\n%s", d)
	}
	// By trainable parameters prefix (8,192, 76) ties lora4's cost with
	// less accuracy; spam's lora4 (8,192, 94) beats prefix (8,192, 89).
	wantParams := map[string][]string{
		"sentiment": {"sentiment-prompt4-all-s1", "sentiment-prompt8-all-s1", "sentiment-lora4-all-s1", "sentiment-lora8-all-s1", "sentiment-full-all-s1"},
		"spam":      {"spam-prompt8-all-s1", "spam-lora4-all-s1", "spam-lora8-all-s1", "spam-full-all-s1"},
	}
	if d := cmp.Diff(wantParams, front(tb.Params)); d != "" {
		t.Errorf("parameter Pareto fronts (-want +got):\n%s", d)
	}
	// markPareto on its own: equal points both stay; a dominated one goes.
	ps := []EffPoint{{Cost: 1, Acc: 0.5}, {Cost: 1, Acc: 0.5}, {Cost: 2, Acc: 0.5}, {Cost: 3, Acc: 0.9}}
	markPareto(ps)
	var marks []bool
	for _, p := range ps {
		marks = append(marks, p.Pareto)
	}
	if d := cmp.Diff([]bool{true, true, false, true}, marks); d != "" {
		t.Errorf("markPareto (-want +got):\n%s", d)
	}
}

func TestThroughput(t *testing.T) {
	tb := Aggregate(loadTestResults(t), testInputs)
	type row struct {
		Task, Method string
		Mean, Ratio  float64
	}
	var got []row
	for _, r := range tb.Throughput {
		got = append(got, row{r.Task, r.Method, r.TokensPerSec.Mean, r.RatioToFull})
	}
	want := []row{
		{"sentiment", "full", 1050, 1}, {"sentiment", "lora", 1500, 1500.0 / 1050},
		{"sentiment", "prefix", 1600, 1600.0 / 1050}, {"sentiment", "prompt", 1700, 1700.0 / 1050},
		{"spam", "full", 950, 1}, {"spam", "lora", 1400, 1400.0 / 950},
		{"spam", "prefix", 1500, 1500.0 / 950}, {"spam", "prompt", 1700, 1700.0 / 950},
	}
	if d := cmp.Diff(want, got, approx); d != "" {
		t.Errorf("throughput (-want +got):\n%s", d)
	}
}

func TestReproducibility(t *testing.T) {
	r := Reproducibility(loadTestResults(t))
	commit := "0123456789abcdef0123456789abcdef01234567"
	want := Repro{
		Trials: 28, Succeeded: 27, Failed: 1,
		Failures: []Failure{{ID: "spam-lora16-all-s1", Label: "spam/lora rank=16 n=all seed=1 lr=0.001",
			Error: "train: step 12: allocating 2 GiB | out of memory"}},
		Commits:    []Count{{commit, 27}, {commit + " (uncommitted changes)", 1}},
		Machines:   []Count{{"Example CPU @ 3.0GHz, 16 cores, linux/amd64", 28}},
		BLAS:       []Count{{"openblas", 28}},
		GoVersions: []Count{{"go1.26.8", 28}},
	}
	if d := cmp.Diff(want, r); d != "" {
		t.Errorf("reproducibility (-want +got):\n%s", d)
	}
}
