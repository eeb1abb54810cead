package measure

import (
	"github.com/peftbench/peftbench/edge"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/train"
	"gorgonia.org/tensor"
)

// Measure fills a workload each method's way: a side network (pac) runs
// nothing backward through its blocks and keeps a cache unless told not
// to; LoRA runs backward through every block; full fine-tuning also trains
// the head's weights. Times are measured, so only their signs are tested.
func TestMeasure(t *testing.T) {
	cfg := model.Config{Vocab: 64, Context: 32, DModel: 16, Layers: 4, Heads: 2, DFF: 32}
	var batches []train.Batch
	for _, n := range []int{5, 9, 5} {
		pairs := []train.Pair{{Prompt: make([]int, n), Target: []int{1}}, {Prompt: make([]int, n+2), Target: []int{2}}}
		b, err := train.PairBatch(pairs, 2, cfg.Context)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	measure := func(method string, params map[string]any) edge.Workload {
		w, err := Workload(cfg, method, params, batches, 1)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if w.Layers != 4 || w.Microbatches != 3 || w.ReferenceGFLOPS <= 0 || w.TrainableBytes <= 0 {
			t.Errorf("%s: %+v", method, w)
		}
		return w
	}
	pac := measure("pac", map[string]any{"bottleneck": 4})
	if !pac.SideNetwork || !pac.Cache || pac.LayerBackward != 0 || pac.TrainableBytes != 4*4*(2*16*4+4+16) {
		t.Errorf("pac: %+v", pac)
	}
	if noCache := measure("pac", map[string]any{"cache_mb": 0}); noCache.Cache || !noCache.SideNetwork {
		t.Errorf("pac without its cache: %+v", noCache)
	}
	lora := measure("lora", map[string]any{"rank": 2})
	if lora.SideNetwork || lora.Cache || lora.HeadTrainableBytes != 0 {
		t.Errorf("lora: %+v", lora)
	}
	full := measure("full", nil)
	if full.SideNetwork || full.HeadTrainableBytes <= 0 || full.TrainableBytes != 4*int64(fullParams(t, cfg)) {
		t.Errorf("full: %+v", full)
	}
}

func fullParams(t *testing.T, cfg model.Config) int {
	m, err := model.New(cfg, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m.NumParams()
}
