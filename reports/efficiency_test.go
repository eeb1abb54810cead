package reports

import (
	"slices"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

// Configurations of one method share its marker, so each point is named
// by its headline hyper-parameter, with the symbol display declares; the
// learning rate is added where two share the value, and a method with no
// headline is left to its marker.
func TestEfficiencyPointsNamedByHeadline(t *testing.T) {
	pt := func(method string, params map[string]any, lr, cost, acc float64) effPoint {
		g := &group{config: config{Model: "tiny", Task: "spam", Method: method, Train: trial.Settings{LR: lr}}, MethodParams: params}
		return effPoint{Group: g, Cost: cost, Acc: acc}
	}
	ps := []effPoint{
		pt("full", nil, 1e-4, 1e6, 0.95),
		pt("lora", map[string]any{"rank": 4.0}, 1e-3, 4e3, 0.93),
		pt("lora", map[string]any{"rank": 8.0}, 1e-3, 8e3, 0.94),
		pt("lora", map[string]any{"rank": 8.0}, 3e-3, 8e3, 0.92),
		pt("prompt", map[string]any{"length": 16.0}, 3e-2, 1e3, 0.80),
	}
	want := []string{"", "r=4", "r=8, lr=0.001", "r=8, lr=0.003", "L=16"}
	if got := headlineLabels(ps); !slices.Equal(got, want) {
		t.Errorf("labels %q, want %q", got, want)
	}
	f, err := efficiencyFigure(taskKey{"tiny", "spam"}, []frontier{{taskKey: taskKey{"tiny", "spam"}, Cost: costParams, Points: ps, Front: ps[:1]}},
		newNaming([]taskKey{{"tiny", "spam"}}))
	if err != nil {
		t.Fatal(err)
	}
	if f.pointLabels != 4 {
		t.Errorf("%d points labelled, want the 4 with a headline", f.pointLabels)
	}
}
