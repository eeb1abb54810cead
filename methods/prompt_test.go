package methods

import (
	"slices"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/model/tokenizer"
	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

func TestPromptCount(t *testing.T) {
	// L·d_model: the virtual embeddings and nothing else.
	checkCount(t, "prompt", nil, func(c model.Config) int { return 4 * c.DModel })
	checkCount(t, "prompt", map[string]any{"length": 7, "init": "random"}, func(c model.Config) int { return 7 * c.DModel })
	checkCount(t, "prompt", map[string]any{"length": 1}, func(c model.Config) int { return c.DModel })
}

func TestPromptRejects(t *testing.T) {
	checkRejects(t, "prompt", map[string]map[string]any{
		"length":    {"length": 0},
		"init":      {"init": "zeros"},
		"init_text": {"init": "text"}, // the test base has no tokenizer
		"colour":    {"colour": 3},
	})
	// shapeA's context is 12: 12 virtual tokens leave no room, nor do more.
	checkRejects(t, "prompt", map[string]map[string]any{"length": {"length": 12}})
	checkRejects(t, "prompt", map[string]map[string]any{"length": {"length": 40}})
	// 11 leaves one position, so it attaches.
	attach(t, newBase(t, shapeA, tensor.Float32), "prompt", map[string]any{"length": 11})
}

func promptEmb(t *testing.T, a *Attached) *nn.Param {
	t.Helper()
	h, ok := a.Hooks[0].(*promptHook)
	if !ok || len(a.Own) != 1 || a.Own[0] != h.emb {
		t.Fatalf("unexpected hooks %v and weights %v", a.Hooks, a.Own)
	}
	return h.emb
}

// rowsOf splits a parameter's values into rows of d.
func rowsOf(p *nn.Param, d int) [][]float64 {
	vals := nn.Float64s(p.Value)
	var rows [][]float64
	for i := 0; i < len(vals); i += d {
		rows = append(rows, vals[i:i+d])
	}
	return rows
}

// With init vocab each virtual token starts as a copy of a real token's
// embedding, and no two start as the same token.
func TestPromptVocabInit(t *testing.T) {
	for _, c := range []model.Config{shapeA, shapeB} {
		base := newBase(t, c, tensor.Float32)
		a := attach(t, base, "prompt", map[string]any{"length": 6, "init": "vocab"})
		wte := rowsOf(base.Model.Param("wte.weight"), c.DModel)
		used := map[int]bool{}
		for i, row := range rowsOf(promptEmb(t, a), c.DModel) {
			id := slices.IndexFunc(wte, func(w []float64) bool { return slices.Equal(w, row) })
			if id < 0 {
				t.Fatalf("%+v: virtual token %d is no row of wte", c, i)
			}
			if used[id] {
				t.Fatalf("%+v: token %d sampled twice", c, id)
			}
			used[id] = true
		}
	}
	// Longer than the vocabulary: rows repeat, but each is still a token's.
	small := model.Config{Vocab: 3, Context: 12, DModel: 8, Layers: 1, Heads: 2, DFF: 8}
	m, err := model.New(small, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := attach(t, &model.Base{Name: "small", Model: m}, "prompt", map[string]any{"length": 5})
	wte := rowsOf(m.Param("wte.weight"), 8)
	for i, row := range rowsOf(promptEmb(t, a), 8) {
		if !slices.ContainsFunc(wte, func(w []float64) bool { return slices.Equal(w, row) }) {
			t.Fatalf("virtual token %d is no row of wte", i)
		}
	}
}

// The seed decides the sampled tokens and the random start.
func TestPromptInitSeeded(t *testing.T) {
	for _, init := range []string{"vocab", "random"} {
		get := func(seed uint64) []float64 {
			a, err := Attach(newBase(t, shapeB, tensor.Float32), "prompt", map[string]any{"init": init}, seed)
			if err != nil {
				t.Fatal(err)
			}
			return nn.Float64s(a.Own[0].Value)
		}
		if !slices.Equal(get(3), get(3)) {
			t.Errorf("init %s: same seed, different prompts", init)
		}
		if slices.Equal(get(3), get(4)) {
			t.Errorf("init %s: different seeds, same prompt", init)
		}
	}
}

// With init text the virtual tokens start as the text's token embeddings,
// repeated to fill L or cut to it.
func TestPromptTextInit(t *testing.T) {
	tok, err := tokenizer.Train([]string{"Classify this text: good or bad. Classify that one too."}, 270)
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{Vocab: tok.VocabSize(), Context: 64, DModel: 8, Layers: 1, Heads: 2, DFF: 8}
	m, err := model.New(cfg, tensor.Float64, 2)
	if err != nil {
		t.Fatal(err)
	}
	base := &model.Base{Name: "text", Model: m, Tokenizer: tok}
	text := "Classify this text:"
	ids := tok.Encode(text)
	if len(ids) < 2 || 2*len(ids)+1 >= cfg.Context {
		t.Fatalf("%q encodes to %v: not 2 to 31 tokens", text, ids)
	}
	wte := rowsOf(m.Param("wte.weight"), cfg.DModel)
	for _, L := range []int{1, len(ids), 2*len(ids) + 1} {
		a := attach(t, base, "prompt", map[string]any{"length": L, "init": "text", "init_text": text})
		rows := rowsOf(promptEmb(t, a), cfg.DModel)
		if len(rows) != L {
			t.Fatalf("L=%d: %d rows", L, len(rows))
		}
		for i, row := range rows {
			if !slices.Equal(row, wte[ids[i%len(ids)]]) {
				t.Fatalf("L=%d: virtual token %d is not the embedding of token %d", L, i, ids[i%len(ids)])
			}
		}
	}
	_, err = Attach(base, "prompt", map[string]any{"init": "text", "init_text": ""}, 1)
	if err == nil || !containsStr(err.Error(), `"init_text"`) {
		t.Fatalf("empty init_text: error %v does not name \"init_text\"", err)
	}
	// The text matters only with init text.
	attach(t, base, "prompt", map[string]any{"init": "vocab", "init_text": ""})
}

// The real positions' logits depend on the virtual embeddings, and the
// virtual positions are not among the outputs.
func TestPromptSteersLogits(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float64)
	plain := logits(t, base.Model)
	a := attach(t, base, "prompt", nil)
	before := logits(t, base.Model, a.Hooks...)
	if len(before) != len(plain) {
		t.Fatalf("%d logits with the prompt, %d without", len(before), len(plain))
	}
	emb := promptEmb(t, a)
	vals := nn.Float64s(emb.Value)
	for i := range vals {
		vals[i] = -3 * vals[i]
	}
	SetValues(emb, vals)
	after := logits(t, base.Model, a.Hooks...)
	if d := maxDiff(before, after); d < 1e-6 {
		t.Fatalf("changing the virtual embeddings moves the logits by only %.3g", d)
	}
	// Causal attention: every real position sees the whole prompt, so each
	// one's logits move, the first token's included.
	v := shapeA.Vocab
	for pos := range 10 {
		if d := maxDiff(before[pos*v:(pos+1)*v], after[pos*v:(pos+1)*v]); d < 1e-9 {
			t.Errorf("position %d unaffected by the prompt (%.3g)", pos, d)
		}
	}
}

// The virtual tokens take positions: a batch longer than context − L
// cannot be built, so training must cut sequences to context − L.
func TestPromptUsesContext(t *testing.T) {
	base := newBase(t, shapeA, tensor.Float32)
	a := attach(t, base, "prompt", map[string]any{"length": 5})
	if _, err := base.Model.Build(nn.NewGraph(tensor.Float32), 1, shapeA.Context-5, a.Hooks...); err != nil {
		t.Fatalf("context − L tokens: %v", err)
	}
	if _, err := base.Model.Build(nn.NewGraph(tensor.Float32), 1, shapeA.Context-4, a.Hooks...); err == nil {
		t.Fatal("context − L + 1 tokens built")
	}
}

func TestPromptTakesPositions(t *testing.T) {
	a := attach(t, newBase(t, shapeA, tensor.Float32), "prompt", map[string]any{"length": 5})
	if a.Positions != 5 {
		t.Fatalf("prompt of 5 virtual tokens reports %d positions", a.Positions)
	}
}
