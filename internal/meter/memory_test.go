package meter

import (
	"testing"
	"time"
)

func TestPeaksSeeAnAllocation(t *testing.T) {
	h := StartHeapSampler(time.Millisecond)
	rss0 := PeakRSS()
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	time.Sleep(20 * time.Millisecond)
	peak := h.Stop()
	if peak < 64<<20 {
		t.Errorf("heap peak %d below the 64 MiB just allocated", peak)
	}
	if rss := PeakRSS(); rss < rss0 || rss < 64<<20 {
		t.Errorf("peak RSS %d (was %d) does not include 64 MiB", rss, rss0)
	}
	_ = buf[len(buf)-1]
}
