package trial

// StepPoint is one optimiser step of a trial's last fit: the batch's mean
// loss, the learning rate the step took, the gradient norm before
// clipping, the step's real (non-padding) tokens per second and the
// training time up to the end of the step, compiling included on the first
// step of each batch shape (scoring validation excluded).
type StepPoint struct {
	Step         int     `json:"step"` // 1-based
	Epoch        int     `json:"epoch"`
	Loss         float64 `json:"loss"`
	LR           float64 `json:"lr"`
	GradNorm     float64 `json:"grad_norm"`
	TokensPerSec float64 `json:"tokens_per_sec"`
	Time         float64 `json:"time"` // seconds
}

// StepLogCap bounds a result's step log: at most this many evenly spaced
// steps, and the last.
const StepLogCap = 256

// StepLog keeps a bounded, evenly spaced record of a fit's steps: every
// step until Cap are kept, then every other one of those and every second
// step from then on, and so on, doubling the stride each time it fills.
// The first step and the last are always kept.
type StepLog struct {
	Cap    int // StepLogCap when 0
	stride int
	kept   []StepPoint
	last   StepPoint
	n      int
}

// Add records one step; steps come in order.
func (l *StepLog) Add(p StepPoint) {
	if l.Cap <= 0 {
		l.Cap = StepLogCap
	}
	if l.stride == 0 {
		l.stride = 1
		l.kept = make([]StepPoint, 0, l.Cap+1)
	}
	if l.n%l.stride == 0 {
		l.kept = append(l.kept, p)
		if len(l.kept) > l.Cap {
			half := l.kept[:0]
			for i := 0; i < len(l.kept); i += 2 {
				half = append(half, l.kept[i])
			}
			l.kept = half
			l.stride *= 2
		}
	}
	l.last = p
	l.n++
}

// Points returns the steps kept, the last step included; nil for none.
func (l *StepLog) Points() []StepPoint {
	if l.n == 0 {
		return nil
	}
	out := append([]StepPoint(nil), l.kept...)
	if out[len(out)-1].Step != l.last.Step {
		out = append(out, l.last)
	}
	return out
}

// Len is the number of steps added.
func (l *StepLog) Len() int { return l.n }
