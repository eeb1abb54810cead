package run

import (
	"slices"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

// A pac trial with its activation cache learns exactly what one without
// does, holds the cache in its account, and times every epoch.
func TestPACTrialCache(t *testing.T) {
	base := tinyBase(t)
	cached := Trial(teaSpec(base, "pac", map[string]any{"bottleneck": 4}), quiet)
	plain := Trial(teaSpec(base, "pac", map[string]any{"bottleneck": 4, "cache_mb": 0}), quiet)
	if cached.Status != trial.Success || plain.Status != trial.Success {
		t.Fatalf("trials failed: %s / %s", cached.Error, plain.Error)
	}
	if !slices.Equal(cached.Metrics.EpochLoss, plain.Metrics.EpochLoss) || cached.Metrics.TestAccuracy != plain.Metrics.TestAccuracy {
		t.Errorf("losses %v with the cache, %v without", cached.Metrics.EpochLoss, plain.Metrics.EpochLoss)
	}
	if cached.MemoryAccounted.CacheBytes <= 0 || plain.MemoryAccounted.CacheBytes != 0 {
		t.Errorf("accounts: cached %+v, plain %+v", cached.MemoryAccounted, plain.MemoryAccounted)
	}
	for _, r := range []*trial.Result{cached, plain} {
		if len(r.EpochSeconds) != 3 || len(r.EpochPeakHeapBytes) != 3 || r.EpochSeconds[0] <= 0 || r.EpochPeakHeapBytes[0] <= 0 {
			t.Errorf("epoch meters %v, %v", r.EpochSeconds, r.EpochPeakHeapBytes)
		}
	}
}
