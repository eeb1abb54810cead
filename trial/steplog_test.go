package trial

import "testing"

func TestStepLogBoundedAndEven(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 100, 1000, 4097} {
		l := StepLog{Cap: 8}
		for s := 1; s <= n; s++ {
			l.Add(StepPoint{Step: s, Loss: float64(s)})
		}
		ps := l.Points()
		if n == 0 {
			if ps != nil {
				t.Errorf("no steps: %v", ps)
			}
			continue
		}
		if len(ps) > 9 || (n <= 8 && len(ps) != n) {
			t.Errorf("%d steps: %d points kept, want min(n, 8) (+ the last)", n, len(ps))
		}
		if ps[0].Step != 1 || ps[len(ps)-1].Step != n {
			t.Errorf("%d steps: first %d, last %d", n, ps[0].Step, ps[len(ps)-1].Step)
		}
		// Every kept step but the last lies on one stride from the first.
		if len(ps) > 2 {
			stride := ps[1].Step - ps[0].Step
			for i := 1; i < len(ps)-1; i++ {
				if ps[i].Step-ps[i-1].Step != stride {
					t.Errorf("%d steps: uneven %v", n, ps)
					break
				}
			}
			if n > 8 && len(ps) < 5 {
				t.Errorf("%d steps: only %d points kept of a cap of 8", n, len(ps))
			}
		}
	}
}
