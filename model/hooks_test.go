package model

import (
	"strings"
	"testing"

	"github.com/peftbench/peftbench/nn"
	"gorgonia.org/tensor"
)

// mistypedHook meant to be a LinearHook but dropped the input argument: it
// compiles, and without the check it would never be called.
type mistypedHook struct{}

func (mistypedHook) HookLinear(c *Ctx, name string, y *Node) (*Node, error) { return y, nil }

// halfMistypedHook has one good hook method and one mistyped one.
type halfMistypedHook struct{}

func (halfMistypedHook) HookBlock(c *Ctx, layer int, branch string, h *Node) (*Node, error) {
	return h, nil
}
func (halfMistypedHook) HookPrefix(c *Ctx, layer string) (k, v *Node, err error) {
	return nil, nil, nil
}

// misnamedHook names a hook point that does not exist.
type misnamedHook struct{}

func (misnamedHook) HookOutput(c *Ctx, x *Node) (*Node, error) { return x, nil }

// pointerHook implements BlockHook on its pointer only.
type pointerHook struct{}

func (*pointerHook) HookBlock(c *Ctx, layer int, branch string, h *Node) (*Node, error) {
	return h, nil
}

func TestMistypedHooksRejected(t *testing.T) {
	m, err := New(small, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hook Hook
		want []string // in the error
	}{
		{mistypedHook{}, []string{"model.mistypedHook", "HookLinear", "model.LinearHook"}},
		{halfMistypedHook{}, []string{"model.halfMistypedHook", "HookPrefix", "model.PrefixHook"}},
		{misnamedHook{}, []string{"model.misnamedHook", "HookOutput", "no hook point"}},
		{struct{ n int }{}, []string{"struct { n int }", "implements no hook interface"}},
		{pointerHook{}, []string{"model.pointerHook", "pass a pointer"}},
		{nil, []string{"hook 1 is nil"}},
	} {
		hooks := []Hook{&pointerHook{}, c.hook}
		if err := CheckHooks(hooks...); err == nil || !containsAll(err.Error(), c.want) {
			t.Errorf("CheckHooks(%T): %v, want an error with %q", c.hook, err, c.want)
		}
		if _, err := m.BuildLM(nn.NewGraph(tensor.Float32), 1, 4, hooks...); err == nil || !containsAll(err.Error(), c.want) {
			t.Errorf("BuildLM with %T: %v, want an error with %q", c.hook, err, c.want)
		}
	}
	if err := CheckHooks(&pointerHook{}, &testHooks{}); err != nil {
		t.Errorf("well-typed hooks rejected: %v", err)
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
