package reports

import (
	"strings"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

// A constructed sweep whose verdicts are known: on 1,000 test examples
// (majority class right on the first 600), full fine-tuning is right on
// the first 750 at 64 examples and 610 at 16; LoRA r=16 is 0.2 points
// below full and r=1 10 points below; prompt tuning with L=16 is half a
// point above L=4; prefix tuning is at 70% at both sizes; pac is 4 points
// below adapters, at 2.5 times their training throughput and twice their
// peak memory, half of it its activation cache. Two seeds each, with the
// same outcomes.
func TestLiteratureVerdicts(t *testing.T) {
	const n = 1000
	upTo := func(k int) []bool { return pattern(n, func(i int) bool { return i < k }) }
	var results []*trial.Result
	add := func(method string, size int, params map[string]any, trainable, right int) {
		tokensPerSec, peak, cache := 1000.0, int64(100<<20), int64(0)
		if method == "pac" {
			tokensPerSec, peak, cache = 2500, 200*(1<<20), 100<<20
		}
		for seed := 1; seed <= 2; seed++ {
			r := toyResult(method, size, seed, 0, upTo(right))
			r.Spec.MethodParams = params
			r.ID = r.Spec.ID()
			r.NumTrainableParams = trainable
			r.Metrics.ValidAccuracy = &r.Metrics.TestAccuracy
			r.TokensPerSec, r.PeakMemoryBytes = tokensPerSec, peak
			r.MemoryAccounted.TotalBytes, r.MemoryAccounted.CacheBytes = 1, cache
			results = append(results, r)
		}
	}
	add("full", 64, map[string]any{}, 1000, 750)
	add("full", 16, map[string]any{}, 1000, 610)
	add("lora", 64, map[string]any{"rank": 1}, 20, 650)
	add("lora", 64, map[string]any{"rank": 16}, 50, 748)
	add("prompt", 64, map[string]any{"length": 4}, 5, 600)
	add("prompt", 64, map[string]any{"length": 16}, 6, 605)
	add("prefix", 64, map[string]any{}, 30, 700)
	add("prefix", 16, map[string]any{}, 30, 700)
	add("adapter", 64, map[string]any{}, 60, 740)
	add("pac", 64, map[string]any{}, 60, 700)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	in := inputs{Majority: map[string]trial.Outcomes{"toy": trial.NewOutcomes("test", idx, upTo(600))}}
	tabs := tabulate(results, in)
	p := &page{t: tabs, in: in, nm: newNaming(tabs.Tasks), dir: "toy"}
	p.cur = &p.main
	p.literature()
	md := p.main.String()
	for _, want := range []string{
		"Holm-adjusted over the 14 tests of this section",
		"LoRA closes on full fine-tuning as its rank grows. **Reproduced**: largest against smallest rank: lora r=16 74.8% vs lora r=1 65.0%: +9.8 points",
		"full 75.0% vs lora r=16 74.8%: +0.2 points",
		"prompt tuning falls well short of full fine-tuning (the gap closes only at billions of parameters). **Reproduced**: full 75.0% vs prompt 60.5%",
		"Longer prompts do better (up to about 20 tokens). **Not resolved at this scale**: prompt L=16 60.5% vs prompt L=4 60.0%: +0.5 points",
		"Every method gains accuracy from more training data. **Reproduced for 1 of 2 methods**: significant gains: full at 64 75.0% vs full at 16 61.0%",
		"no significant gain: prefix at 64 70.0% vs prefix at 16 70.0%",
		"prefix tuning outperforms full fine-tuning. **Reproduced**: prefix at 16 70.0% vs full at 16 61.0%",
		"matches full fine-tuning. **Consistent**: the fewest trainable parameters shown within ±2 points of full fine-tuning or above it: lora r=16 (50 trainable, 5.00% of full's). On the front: prompt L=4 (5 trainable, 0.50% of full's) 60.0% vs full 75.0%: -15.0 points",
		"lora r=16 (50 trainable, 5.00% of full's) 74.8% vs full 75.0%: -0.2 points [-0.5, 0.1], p = 0.471; within ±2 points: p < 1e-12.",
		"lora r=16 (50 trainable, 5.00% of full's) 74.8% vs full 75.0%: -0.2 points",
		"without losing accuracy against adapters in the backbone. **Contradicted on accuracy**: pac 70.0% vs adapter 74.0%: -4.0 points",
		"training throughput 2.50× adapter's (2,500 against 1,000 tokens/s); peak memory 2.00× adapter's (200.0 MiB against 100.0 MiB, the activation cache 100.0 MiB of it)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("literature section lacks %q:\n%s", want, md)
		}
	}

	// Where full fine-tuning learnt nothing, parity with it says nothing
	// and the claim is left out; with no LoRA ranks or prompt lengths the
	// section keeps only what the results bear on.
	var flat []*trial.Result
	for _, r := range results {
		if r.Spec.Method == "full" && r.Spec.DataSize == 64 {
			r = toyResult("full", 64, r.Spec.Seed, 0, upTo(600))
			r.NumTrainableParams = 1000
		}
		if r.Spec.Method != "lora" && r.Spec.Method != "prompt" && r.Spec.Method != "adapter" {
			flat = append(flat, r)
		}
	}
	tabs = tabulate(flat, in)
	p = &page{t: tabs, in: in, nm: newNaming(tabs.Tasks), dir: "toy"}
	p.cur = &p.main
	p.literature()
	md = p.main.String()
	for _, absent := range []string{"Houlsby", "Hu et al.", "Lester", "Ouyang"} {
		if strings.Contains(md, absent) {
			t.Errorf("a claim the results do not bear on (%s) is in the section:\n%s", absent, md)
		}
	}
	if !strings.Contains(md, "Li & Liang") {
		t.Errorf("the low-data claim is missing:\n%s", md)
	}
}
