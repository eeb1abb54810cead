package train

import (
	"math"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// recordingHook is a StepHook and a LossHook: it adds c·w[0] to the loss
// (through a one-element weight w it owns), records what each step tells
// it, and after step setAt sets w back to zero.
type recordingHook struct {
	w       *nn.Param
	c       float64
	setAt   int
	steps   []int
	totals  []int
	grads   [][]float64
	wAfter  [][]float64 // w's host value as the hook sees it
	noGrads int         // calls of grad for a weight that did not train
	frozen  *nn.Param
}

func (h *recordingHook) HookLoss(c *model.Ctx, loss *model.Node) (*model.Node, error) {
	pen, err := nn.Scale(c.Graph.Param(h.w), h.c)
	if err != nil {
		return nil, err
	}
	return nn.AddPenalty(loss, pen)
}

func (h *recordingHook) HookStep(step, total int, grad func(*nn.Param) ([]float64, error)) (bool, error) {
	h.steps, h.totals = append(h.steps, step), append(h.totals, total)
	g, err := grad(h.w)
	if err != nil {
		return false, err
	}
	h.grads = append(h.grads, g)
	h.wAfter = append(h.wAfter, nn.Float64s(h.w.Value))
	if g, _ := grad(h.frozen); g == nil {
		h.noGrads++
	}
	if step == h.setAt {
		h.w.F32()[0] = 0
		return true, nil
	}
	return false, nil
}

// TestStepAndLossHooks: a LossHook's term reaches the loss and its
// gradient; a StepHook is told every step's 0-based index, the schedule's
// total and the step's gradients, sees the weights as the optimiser left
// them, and what it sets is what the next step starts from.
func TestStepAndLossHooks(t *testing.T) {
	tr := newTrainer(t, 1, 3e-3)
	w := nn.NewParam("w", tr.Model.Params[0].Value.Dtype(), 1)
	w.Trainable = true
	w.F32()[0] = 1
	h := &recordingHook{w: w, c: 0.25, setAt: 1, frozen: nn.NewParam("frozen", w.Value.Dtype(), 1)}
	if err := model.CheckHooks(h); err != nil {
		t.Fatal(err)
	}
	tr.Hooks = []model.Hook{h}
	plain := newTrainer(t, 1, 3e-3)
	withHook := losses(t, tr, 3)
	without := losses(t, plain, 1)
	// Step 0 starts from the same weights: the loss differs by c·w = 0.25.
	if d := withHook[0] - without[0]; math.Abs(d-0.25) > 1e-6 {
		t.Errorf("first loss %v with the hook, %v without: difference %v, want 0.25", withHook[0], without[0], d)
	}
	if len(h.steps) != 3 || h.steps[0] != 0 || h.steps[2] != 2 || h.totals[0] != 30 {
		t.Fatalf("steps %v, totals %v; want 0, 1, 2 of 30", h.steps, h.totals)
	}
	for i, g := range h.grads {
		if len(g) != 1 || math.Abs(g[0]-0.25) > 1e-6 {
			t.Errorf("step %d: gradient of w %v, want [0.25]", i, g)
		}
	}
	if h.noGrads != 3 {
		t.Errorf("grad of a weight that does not train was non-nil %d times of 3", 3-h.noGrads)
	}
	t.Logf("loss %.6f with the hook, %.6f without; w after steps: %.6f %.6f %.6f", withHook[0], without[0], h.wAfter[0][0], h.wAfter[1][0], h.wAfter[2][0])
	// AdamW moves w down by about the learning rate each step; the hook
	// zeroed it after step 1, so step 2 moves it from 0.
	if !(h.wAfter[0][0] < 1) || h.wAfter[2][0] >= 0 || h.wAfter[2][0] < -1e-2 {
		t.Errorf("w after steps 0, 1, 2: %v, %v, %v; want below 1, then just below 0 after the reset", h.wAfter[0][0], h.wAfter[1][0], h.wAfter[2][0])
	}
}
