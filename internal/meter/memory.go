// Package meter measures what a trial costs: peak resident memory of the
// process and peak Go heap, sampled while it runs.
package meter

import (
	"bufio"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GCPercent is the garbage collector's target while a trial is measured. Steps
// allocate nothing, but compiling programs, tokenising and scoring do; at
// Go's default of 100 that garbage doubled the sampled heap peak, so the
// measured memory of two methods differed by the collector's timing rather
// than by what they hold. At 10 the peak stays near what is live, for a
// few more collections outside the steps.
const GCPercent = 10

// PeakRSS is the process's peak resident set size (VmHWM) in bytes, or 0
// where /proc is unavailable.
func PeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// HeapSampler records the peak of the Go heap's live and unswept objects
// (runtime/metrics' /memory/classes/heap/objects:bytes) while it runs.
type HeapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

// StartHeapSampler samples every interval until Stop.
func StartHeapSampler(interval time.Duration) *HeapSampler {
	h := &HeapSampler{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: heapMetric}}
	read := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			h.peak = max(h.peak, sample[0].Value.Uint64())
		}
	}
	read()
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak in bytes.
func (h *HeapSampler) Stop() int64 {
	close(h.stop)
	h.done.Wait()
	return int64(h.peak)
}
