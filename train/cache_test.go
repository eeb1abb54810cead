package train_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/train"
	"gorgonia.org/tensor"
)

// cacheSetup is a small float32 model with a method attached and random
// fine-tuning pairs of varied lengths (some longer than maxLen).
func cacheSetup(t *testing.T, method string) (*model.Model, *methods.Attached, []train.Pair) {
	t.Helper()
	m, err := model.New(model.Config{Vocab: 50, Context: 24, DModel: 16, Layers: 3, Heads: 2, DFF: 32}, tensor.Float32, 7)
	if err != nil {
		t.Fatal(err)
	}
	a, err := methods.Attach(&model.Base{Name: "test", Model: m}, method, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pairs := make([]train.Pair, 11)
	for i := range pairs {
		p := train.Pair{Prompt: make([]int, 3+rng.IntN(25)), Target: []int{rng.IntN(50), rng.IntN(50)}}
		for j := range p.Prompt {
			p.Prompt[j] = rng.IntN(50)
		}
		pairs[i] = p
	}
	return m, a, pairs
}

// fitEpochs trains epoch by epoch, as a trial does, and returns the
// epochs' losses and the trained weights.
func fitEpochs(t *testing.T, tr *train.Trainer, a *methods.Attached, m *model.Model, pairs []train.Pair) ([]float64, [][]float32) {
	t.Helper()
	var losses []float64
	for e := range 3 {
		curve, err := train.FineTune(tr, pairs, 4, 20, 1, uint64(100+e))
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, curve...)
	}
	var w [][]float32
	for _, p := range a.Trainable(m) {
		w = append(w, slices.Clone(p.F32()))
	}
	return losses, w
}

// Training pac on cached block outputs gives the same losses and weights
// as running the backbone every epoch (bit for bit with the engine's own
// kernels); the cache holds what
// CacheNeed says.
func TestCachedTrainingMatchesUncached(t *testing.T) {
	sched := nn.Schedule{Peak: 1e-2, Warmup: 2, Total: 9}
	m, a, pairs := cacheSetup(t, "pac")
	plain := train.NewTrainer(m, sched, 0.01, a.Hooks...)
	wantLoss, wantW := fitEpochs(t, plain, a, m, pairs)
	plain.Close()

	m2, a2, _ := cacheSetup(t, "pac")
	tr := train.NewTrainer(m2, sched, 0.01, a2.Hooks...)
	defer tr.Close()
	need := train.CacheNeed(pairs, 3, 16, 20)
	tr.Cache = train.NewActivationCache(need)
	gotLoss, gotW := fitEpochs(t, tr, a2, m2, pairs)
	// Bit for bit with the engine's own kernels; OpenBLAS may choose a
	// matrix product's kernel by its buffers' alignment, and the cached
	// pass's inputs are not the whole pass's buffers.
	tol := 0.0
	if nn.BLAS() != "gonum" {
		tol = 1e-5
	}
	close := func(a, b float64) bool { return math.Abs(a-b) <= tol*max(1, math.Abs(a)) }
	for i := range wantLoss {
		if !close(wantLoss[i], gotLoss[i]) {
			t.Errorf("losses with the cache %v, without %v", gotLoss, wantLoss)
			break
		}
	}
	for i := range wantW {
		for j := range wantW[i] {
			if !close(float64(wantW[i][j]), float64(gotW[i][j])) {
				t.Errorf("trainable tensor %d differs with the cache at %d: %v, %v", i, j, gotW[i][j], wantW[i][j])
				break
			}
		}
	}
	if tr.Cache.Bytes() != need || need == 0 {
		t.Errorf("the cache holds %d bytes, CacheNeed says %d", tr.Cache.Bytes(), need)
	}
}

// A cache over its limit is refused before any step; so is a cache for a
// method that changes the backbone.
func TestCacheRefusals(t *testing.T) {
	m, a, pairs := cacheSetup(t, "pac")
	tr := train.NewTrainer(m, nn.Schedule{Peak: 1e-2, Total: 3}, 0, a.Hooks...)
	defer tr.Close()
	tr.Cache = train.NewActivationCache(train.CacheNeed(pairs, 3, 16, 20) - 1)
	if _, err := train.FineTune(tr, pairs, 4, 20, 1, 1); err == nil || !strings.Contains(err.Error(), "over its limit") || tr.Steps != 0 {
		t.Errorf("a cache over its limit: %v after %d steps", err, tr.Steps)
	}
	for _, method := range []string{"lora", "full", "prompt"} {
		m, a, pairs := cacheSetup(t, method)
		tr := train.NewTrainer(m, nn.Schedule{Peak: 1e-2, Total: 3}, 0, a.Hooks...)
		tr.Cache = train.NewActivationCache(1 << 30)
		if _, err := train.FineTune(tr, pairs, 4, 20, 1, 1); err == nil || tr.Steps != 0 {
			t.Errorf("%s trained on a cache: %v", method, err)
		}
		tr.Close()
	}
}
