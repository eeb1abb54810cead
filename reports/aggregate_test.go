package reports

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
	"github.com/peftbench/peftbench/trial/aggregate"
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
var testInputs = inputs{
	Baselines: map[string]tasks.Baseline{
		"sentiment": {Task: "sentiment", Majority: 0.658, BoWLR: &tasks.BoWResult{Accuracy: 0.781}},
		"spam":      {Task: "spam", Majority: 0.705, BoWLR: &tasks.BoWResult{Accuracy: 0.967}},
	},
	TrainSizes: map[string]int{"sentiment": 3500},
}

// two is the Stat of two seeds a and b (package aggregate tests the
// statistics themselves; here what matters is which seeds are grouped).
func two(a, b float64) aggregate.Stat { return aggregate.StatOf([]float64{a, b}) }

// mfu is the model-FLOPs utilisation of tps tokens/s at fpt FLOPs per
// token against calib GFLOP/s, as the hand-made results state it.
func mfu(tps, fpt, calib float64) float64 { return tps * fpt / (calib * 1e9) }

func one(a float64) aggregate.Stat { return aggregate.StatOf([]float64{a}) }

func TestGroupResults(t *testing.T) {
	groups := groupResults(loadTestResults(t))
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
	wantGroup := &group{
		config: config{Model: "tiny", Task: "sentiment", Method: "lora",
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
		PeakHeapBytes:   (160 + 164) / 2 * mib,
		// Weights 4 B each of 1,106,384, AdamW 16 B per trainable weight,
		// the step values the rest of the 84 MiB total.
		Accounted: &aggregate.Memory{Weights: 4 * 1106384, Trainable: 4 * 16384, Gradients: 4 * 16384,
			Optimizer: 16 * 16384, Step: 84*mib - 4*1106384 - 16*16384, Total: 84 * mib},
		HeapToAccounted:   (160.0/84 + 164.0/84) / 2,
		MFU:               two(mfu(1450, 4.5e6, 50), mfu(1550, 4.5e6, 55)),
		NormTokensPerSec:  two(1450.0/50, 1550.0/55),
		CalibrationGFLOPS: two(50, 55),
	}
	if d := cmp.Diff(wantGroup, groups[4], approx, cmpopts.IgnoreFields(group{}, "Projected")); d != "" {
		t.Errorf("sentiment lora rank 8 group (-want +got):\n%s", d)
	}
	var totals []int64
	for _, p := range groups[4].Projected {
		totals = append(totals, p.TotalBytes)
	}
	if d := cmp.Diff([]int64{36546299264, 67327500288, 84696113152}, totals); d != "" {
		t.Errorf("sentiment lora rank 8 projected totals (-want +got):\n%s", d)
	}
	// Sentiment prefix: the second seed's file predates the new fields, so
	// the account, MFU and ratio come from the first seed alone; the peak
	// heap, which both files carry, is over both.
	sp := groups[5]
	if sp.PeakHeapBytes != 155*mib || sp.Accounted == nil || sp.Accounted.Total != 82*mib ||
		math.Abs(sp.HeapToAccounted-155.0/82) > 1e-12 {
		t.Errorf("sentiment prefix: heap %v, account %+v, ratio %v; want 155 MiB, 82 MiB total, 155/82",
			sp.PeakHeapBytes, sp.Accounted, sp.HeapToAccounted)
	}
	if d := cmp.Diff(one(mfu(1600, 4.45e6, 50)), sp.MFU, approx); d != "" {
		t.Errorf("sentiment prefix MFU (-want +got):\n%s", d)
	}
	// Spam prompt: its only file predates the new fields.
	pr := groups[13]
	if pr.Accounted != nil || pr.Projected != nil || pr.MFU.N != 0 || pr.NormTokensPerSec.N != 0 || !math.IsNaN(pr.HeapToAccounted) {
		t.Errorf("spam prompt from an older file: account %+v, projected %v, MFU %+v, tokens/s per GFLOP/s %+v, ratio %v; want none",
			pr.Accounted, pr.Projected, pr.MFU, pr.NormTokensPerSec, pr.HeapToAccounted)
	}
	// No validation score: Valid is nil and the score falls back to test.
	prefix := groups[12]
	if prefix.Valid != nil {
		t.Errorf("spam prefix: Valid = %+v, want nil", prefix.Valid)
	}
	if s, on := prefix.Score(); on != chosenOnTest || math.Abs(s-0.89) > 1e-12 {
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
	Test               aggregate.Stat
	Trainable          int
	Pct                float64
	MemMiB, TokPerSec  float64
}

func TestSummaries(t *testing.T) {
	sums := summaries(groupResults(loadTestResults(t)), nil, nil, testInputs)
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
			got[s.Task] = append(got[s.Task], summaryLine{Method: r.Method, Params: paramsLabel(g.MethodParams), On: r.SelectedOn,
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
			{Method: "full", Params: "", On: chosenOnValidation, LR: 1e-4, Configs: 1, Test: two(0.82, 0.86), Trainable: 1090000, Pct: 100, MemMiB: 305, TokPerSec: 1050},
			// Rank 8 (valid 0.81) beats rank 4 (valid 0.78).
			{Method: "lora", Params: loraP, On: chosenOnValidation, LR: 1e-3, Configs: 2, Test: two(0.81, 0.83), Trainable: 16384, Pct: pct(16384), MemMiB: 212, TokPerSec: 1500},
			{Method: "prefix", Params: prefixP, On: chosenOnValidation, LR: 1e-2, Configs: 1, Test: two(0.75, 0.77), Trainable: 8192, Pct: pct(8192), MemMiB: 205, TokPerSec: 1600},
			// Length 8 (valid 0.74) beats length 4 (valid 0.71).
			{Method: "prompt", Params: promptP, On: chosenOnValidation, LR: 3e-2, Configs: 2, Test: two(0.72, 0.76), Trainable: 1024, Pct: pct(1024), MemMiB: 195, TokPerSec: 1700},
		},
		"spam": {
			{Method: "full", Params: "", On: chosenOnValidation, LR: 1e-4, Configs: 1, Test: two(0.95, 0.97), Trainable: 1090000, Pct: 100, MemMiB: 300, TokPerSec: 950},
			// lr 3e-3 has the best validation accuracy (0.96) though not the
			// best test accuracy: selection never looks at test.
			{Method: "lora", Params: loraP, On: chosenOnValidation, LR: 3e-3, Configs: 3, Test: two(0.92, 0.94), Trainable: 16384, Pct: pct(16384), MemMiB: 210, TokPerSec: 1400},
			// No validation score: chosen on test.
			{Method: "prefix", Params: prefixP, On: chosenOnTest, LR: 1e-2, Configs: 1, Test: two(0.88, 0.90), Trainable: 8192, Pct: pct(8192), MemMiB: 205, TokPerSec: 1500},
			{Method: "prompt", Params: promptP, On: chosenOnValidation, LR: 3e-2, Configs: 1, Test: one(0.80), Trainable: 1024, Pct: pct(1024), MemMiB: 190, TokPerSec: 1700},
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
	Acc          []aggregate.Stat
}

func curves(ss []methodCurve) []curve {
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
	tb := tabulate(loadTestResults(t), testInputs)
	rank := []curve{
		{Task: "sentiment", Method: "lora", X: []float64{4, 8}, Labels: []string{"4", "8"}, Acc: []aggregate.Stat{two(0.78, 0.80), two(0.81, 0.83)}},
		// At rank 8 the lr 3e-3 configuration wins on validation.
		{Task: "spam", Method: "lora", X: []float64{4, 8}, Labels: []string{"4", "8"}, Acc: []aggregate.Stat{two(0.93, 0.95), two(0.92, 0.94)}},
	}
	if d := cmp.Diff(rank, curves(tb.Rank), approx); d != "" {
		t.Errorf("rank series (-want +got):\n%s", d)
	}
	// Prefix tuning and spam's prompt tuning have one length each: no curve.
	length := []curve{
		{Task: "sentiment", Method: "prompt", X: []float64{4, 8}, Labels: []string{"4", "8"}, Acc: []aggregate.Stat{two(0.70, 0.74), two(0.72, 0.76)}},
	}
	if d := cmp.Diff(length, curves(tb.Length), approx); d != "" {
		t.Errorf("length series (-want +got):\n%s", d)
	}
	// "all" sits at sentiment's 3,500 training examples; spam has one size.
	size := []curve{
		{Task: "sentiment", Method: "full", X: []float64{100, 3500}, Labels: []string{"100", "3500 (all)"}, Acc: []aggregate.Stat{two(0.70, 0.72), two(0.82, 0.86)}},
		{Task: "sentiment", Method: "lora", X: []float64{100, 3500}, Labels: []string{"100", "3500 (all)"}, Acc: []aggregate.Stat{two(0.66, 0.70), two(0.81, 0.83)}},
	}
	if d := cmp.Diff(size, curves(tb.DataSize), approx); d != "" {
		t.Errorf("data-size series (-want +got):\n%s", d)
	}
	// Without the training split size, "all" goes at twice the largest size.
	noSize := dataSizeSeries(tb.Groups, inputs{})
	if p := noSize[0].Points[1]; p.X != 200 || p.Label != "all" {
		t.Errorf("all without a known size at x = %v labelled %q, want 200, all", p.X, p.Label)
	}
}

func TestEfficiency(t *testing.T) {
	tb := tabulate(loadTestResults(t), testInputs)
	front := func(fs []frontier) map[string][]string {
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
	ps := []effPoint{{Cost: 1, Acc: 0.5}, {Cost: 1, Acc: 0.5}, {Cost: 2, Acc: 0.5}, {Cost: 3, Acc: 0.9}}
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
	tb := tabulate(loadTestResults(t), testInputs)
	type row struct {
		Task, Method     string
		Mean, Ratio      float64
		MFU, PerGFLOPS   float64
		MFUN, PerGFLOPSN int
	}
	var got []row
	for _, r := range tb.Throughput {
		got = append(got, row{r.Task, r.Method, r.TokensPerSec.Mean, r.RatioToFull, r.MFU.Mean, r.NormTokensPerSec.Mean, r.MFU.N, r.NormTokensPerSec.N})
	}
	// Seed 1 was calibrated at 50 GFLOP/s, seed 2 at 55; FLOPs per token
	// are 6.6M for full fine-tuning, 4.5M for LoRA rank 8, 4.45M for prefix
	// and 4.4M for prompt length 8. Sentiment's second prefix seed and
	// spam's prompt trial predate the fields.
	avg := func(a, b float64) float64 { return (a + b) / 2 }
	nan := math.NaN()
	want := []row{
		{"sentiment", "full", 1050, 1, avg(mfu(1000, 6.6e6, 50), mfu(1100, 6.6e6, 55)), avg(1000.0/50, 1100.0/55), 2, 2},
		{"sentiment", "lora", 1500, 1500.0 / 1050, avg(mfu(1450, 4.5e6, 50), mfu(1550, 4.5e6, 55)), avg(1450.0/50, 1550.0/55), 2, 2},
		{"sentiment", "prefix", 1600, 1600.0 / 1050, mfu(1600, 4.45e6, 50), 1600.0 / 50, 1, 1},
		{"sentiment", "prompt", 1700, 1700.0 / 1050, avg(mfu(1700, 4.4e6, 50), mfu(1700, 4.4e6, 55)), avg(1700.0/50, 1700.0/55), 2, 2},
		{"spam", "full", 950, 1, avg(mfu(900, 6.6e6, 50), mfu(1000, 6.6e6, 55)), avg(900.0/50, 1000.0/55), 2, 2},
		{"spam", "lora", 1400, 1400.0 / 950, avg(mfu(1300, 4.5e6, 50), mfu(1500, 4.5e6, 55)), avg(1300.0/50, 1500.0/55), 2, 2},
		{"spam", "prefix", 1500, 1500.0 / 950, avg(mfu(1500, 4.45e6, 50), mfu(1500, 4.45e6, 55)), avg(1500.0/50, 1500.0/55), 2, 2},
		{"spam", "prompt", 1700, 1700.0 / 950, nan, nan, 0, 0},
	}
	if d := cmp.Diff(want, got, approx); d != "" {
		t.Errorf("throughput (-want +got):\n%s", d)
	}
}

func TestMemoryRows(t *testing.T) {
	tb := tabulate(loadTestResults(t), testInputs)
	type row struct {
		Task, Method            string
		RSS, Heap, Total, Ratio float64 // MiB, and heap over accounted
	}
	var got []row
	for _, r := range tb.Measured {
		total := math.NaN()
		if r.Accounted != nil {
			total = r.Accounted.Total / mib
		}
		got = append(got, row{r.Task, r.Method, r.PeakRSS / mib, r.PeakHeap / mib, total, r.HeapToAccounted})
	}
	// The ratio is the mean over seeds of heap/accounted: sentiment's full
	// fine-tuning peaked at 250 and 260 MiB of heap against 130 MiB
	// accounted; spam's prompt trial predates the account.
	nan := math.NaN()
	want := []row{
		{"sentiment", "full", 305, 255, 130, (250.0/130 + 260.0/130) / 2},
		{"sentiment", "lora", 212, 162, 84, (160.0/84 + 164.0/84) / 2},
		{"sentiment", "prefix", 205, 155, 82, 155.0 / 82},
		{"sentiment", "prompt", 195, 145, 76, 145.0 / 76},
		{"spam", "full", 300, 250, 130, 250.0 / 130},
		{"spam", "lora", 210, 160, 84, 160.0 / 84},
		{"spam", "prefix", 205, 155, 82, 155.0 / 82},
		{"spam", "prompt", 190, 140, nan, nan},
	}
	if d := cmp.Diff(want, got, approx); d != "" {
		t.Errorf("memory rows (-want +got):\n%s", d)
	}
}

func TestProjections(t *testing.T) {
	tb := tabulate(loadTestResults(t), testInputs)
	type proj struct {
		Arch     string
		TotalGiB float64
		H100     bool
		Fits     int
	}
	type config struct {
		Method, Params string
		Batch          int
		Tasks          []string
		Projections    []proj
	}
	var got []config
	for _, c := range tb.Projected {
		g := config{Method: c.Method, Params: paramsLabel(c.MethodParams), Batch: c.Batch}
		for _, k := range c.Tasks {
			g.Tasks = append(g.Tasks, k.Task)
		}
		for _, p := range c.Projections {
			g.Projections = append(g.Projections, proj{p.Arch, float64(p.TotalBytes) / (1 << 30), fitsH100(p), len(p.FitsOn)})
		}
		got = append(got, g)
	}
	// Both tasks chose the same hyper-parameters and batch for every
	// method (spam's LoRA at another learning rate), so each configuration
	// is listed once. Spam's prompt trial has no projection; sentiment's
	// does. Totals in bytes from the result files over 2³⁰.
	both := []string{"sentiment", "spam"}
	want := []config{
		{"full", "", 16, both, []proj{
			{"gpt2-xl", 47024759040.0 / (1 << 30), true, 6},
			{"llama-2-7b", 126037835776.0 / (1 << 30), false, 1},
			{"llama-3-8b", 156337487872.0 / (1 << 30), false, 0}}},
		{"lora", "alpha=16 dropout=0 rank=8 targets=q,v", 16, both, []proj{
			{"gpt2-xl", 36546299264.0 / (1 << 30), true, 7},
			{"llama-2-7b", 67327500288.0 / (1 << 30), true, 4},
			{"llama-3-8b", 84696113152.0 / (1 << 30), true, 4}}},
		{"prefix", "hidden=64 length=8 projection=false", 16, both, []proj{
			{"gpt2-xl", 31507629440.0 / (1 << 30), true, 8},
			{"llama-2-7b", 58754342912.0 / (1 << 30), true, 4},
			{"llama-3-8b", 76060041216.0 / (1 << 30), true, 4}}},
		{"prompt", "init=vocab init_text=Classify this text: length=8", 16, both, []proj{
			{"gpt2-xl", 31874784384.0 / (1 << 30), true, 8},
			{"llama-2-7b", 59343314944.0 / (1 << 30), true, 4},
			{"llama-3-8b", 76955721728.0 / (1 << 30), true, 4}}},
	}
	if d := cmp.Diff(want, got, approx); d != "" {
		t.Errorf("projections (-want +got):\n%s", d)
	}
}

func TestGPUFit(t *testing.T) {
	for _, c := range []struct {
		name string
		fits []string
		h100 bool
		cell string
	}{
		{"mixed", []string{"H100 SXM 80GB", "H100 PCIe 80GB", "H200 141GB", "A100 80GB", "L40S 48GB", "RTX A6000 48GB"}, true,
			"fits 6 of 13 GPUs: L40S 48GB, RTX A6000 48GB, H100 SXM 80GB, …; not A100 40GB, V100 32GB, …"},
		{"one", []string{"H200 141GB"}, false, "fits 1 of 13 GPUs: H200 141GB; not H100 SXM 80GB, H100 PCIe 80GB, …"},
		{"none", nil, false, "fits none of the 13 GPUs, not even H200 141GB"},
		{"all", []string{"T4 16GB", "H100 SXM 80GB", "H100 PCIe 80GB", "H200 141GB", "A100 80GB", "A100 40GB", "L40S 48GB", "L4 24GB",
			"A10G 24GB", "RTX A6000 48GB", "RTX 4090 24GB", "RTX 3090 24GB", "V100 32GB"}, true, "fits all 13 GPUs, down to T4 16GB"},
		// A name outside the catalogue is listed last among the fits.
		{"unknown", []string{"Imaginary 96GB", "H100 PCIe 80GB"}, true, "fits 2 of 14 GPUs: H100 PCIe 80GB, Imaginary 96GB; not H200 141GB, H100 SXM 80GB, …"},
	} {
		p := trial.Projection{FitsOn: c.fits}
		if got := fitsH100(p); got != c.h100 {
			t.Errorf("%s: FitsH100 = %v, want %v", c.name, got, c.h100)
		}
		if got := fitCell(p); got != c.cell {
			t.Errorf("%s: fitCell = %q, want %q", c.name, got, c.cell)
		}
		want := map[bool]string{true: "fits on an H100 80 GB", false: "does not fit on an H100 80 GB"}[c.h100]
		if got := h100Cell(p); got != want {
			t.Errorf("%s: h100Cell = %q, want %q", c.name, got, want)
		}
	}
}

func TestReproducibility(t *testing.T) {
	r := reproducibility(loadTestResults(t))
	commit := "0123456789abcdef0123456789abcdef01234567"
	want := repro{
		Trials: 28, Succeeded: 27, Failed: 1,
		Failures: []failure{{ID: "spam-lora16-all-s1", Label: "spam/lora rank=16 n=all seed=1 lr=0.001",
			Error: "train: step 12: allocating 2 GiB | out of memory"}},
		Commits:    []count{{commit, 27}, {commit + " (uncommitted changes)", 1}},
		Machines:   []count{{"Example CPU @ 3.0GHz, 16 cores, linux/amd64", 28}},
		BLAS:       []count{{"openblas", 28}},
		GoVersions: []count{{"go1.26.8", 28}},
		// Two results predate env.gpu.
		GPUs:    []count{{"no NVIDIA GPU: NVML not available (libnvidia-ml.so.1: cannot open shared object file: No such file or directory)", 26}, {"—", 2}},
		Devices: []count{{"the CPU", 28}},
	}
	if d := cmp.Diff(want, r); d != "" {
		t.Errorf("reproducibility (-want +got):\n%s", d)
	}
}

// A configuration run on fewer seeds (a rate the tuning stage passed
// over) is never chosen over one run on more, however well its one seed
// did; among equals the validation score decides.
func TestBestComparesOnTheMostSeeds(t *testing.T) {
	valid := func(v float64) *aggregate.Stat { s := one(v); return &s }
	tuning := &group{config: config{Method: "full", Train: trial.Settings{LR: 1e-3}}, Seeds: []int{1}, Valid: valid(0.95)}
	chosen := &group{config: config{Method: "full", Train: trial.Settings{LR: 3e-4}}, Seeds: []int{1, 2, 3}, Valid: valid(0.80)}
	other := &group{config: config{Method: "full", Train: trial.Settings{LR: 1e-4}}, Seeds: []int{1, 2, 3}, Valid: valid(0.70)}
	if b := best([]*group{tuning, other, chosen}); b != chosen {
		t.Fatalf("best chose lr %g, want 3e-4 (the best of those on three seeds)", b.Train.LR)
	}
	if b := best([]*group{tuning}); b != tuning {
		t.Fatal("a lone configuration is its own best")
	}
}
