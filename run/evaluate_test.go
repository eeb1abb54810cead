package run

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

// An adapter a trial wrote in PEFT's format, evaluated from its folder,
// gives the trial's own test outcomes, example for example; its spec
// carries the method and settings read from the adapter and the adapter's
// hash.
func TestEvaluateAdapterGivesTheTrialsOutcomes(t *testing.T) {
	base := tinyBase(t)
	adapters := t.TempDir()
	t.Setenv(AdaptersEnv, adapters)
	ids := map[string]bool{}
	for _, c := range []struct {
		method string
		params map[string]any
	}{
		{"lora", map[string]any{"rank": 2, "targets": "q,v,fc"}}, {"ia3", nil}, {"prompt", map[string]any{"length": 3}},
	} {
		t.Run(c.method, func(t *testing.T) {
			spec := teaSpec(base, c.method, c.params)
			r := Trial(spec, quiet)
			if r.Status != trial.Success {
				t.Fatalf("%s: %s", r.Status, r.Error)
			}
			dir := filepath.Join(adapters, r.ID)
			e := Evaluate(trial.Spec{Model: base, Task: spec.Task, Train: trial.Settings{Batch: 3}}, dir, quiet)
			if e.Status != trial.Success {
				t.Fatalf("%s: %s", e.Status, e.Error)
			}
			if !reflect.DeepEqual(e.Outcomes[0], r.Outcomes[0]) || e.Metrics.TestAccuracy != r.Metrics.TestAccuracy {
				t.Errorf("evaluated %+v (%.4f), the trial tested %+v (%.4f)", e.Outcomes[0], e.Metrics.TestAccuracy, r.Outcomes[0], r.Metrics.TestAccuracy)
			}
			if e.Spec.Method != c.method || e.Spec.AdapterHash == "" || e.Adapter != dir || e.Spec.ModelHash == "" || e.NumTrainableParams != r.NumTrainableParams {
				t.Errorf("spec %+v, adapter %q, %d trainable (the trial %d)", e.Spec, e.Adapter, e.NumTrainableParams, r.NumTrainableParams)
			}
			if e.Spec.Name != c.method+" adapter="+r.ID {
				t.Errorf("name %q", e.Spec.Name)
			}
			if ids[e.ID] || e.ID == r.ID {
				t.Errorf("id %s is not its own", e.ID)
			}
			ids[e.ID] = true
		})
	}
	// A folder that is not an adapter fails as a result, with the reason.
	e := Evaluate(trial.Spec{Model: base, Task: "../tasks/examples/tea.yaml", Train: trial.Settings{Batch: 3}}, os.TempDir(), quiet)
	if e.Status != trial.Failed || e.Error == "" {
		t.Errorf("no adapter: %s %q", e.Status, e.Error)
	}
	z := Evaluate(trial.Spec{Model: base, Task: "../tasks/examples/tea.yaml", Train: trial.Settings{Batch: 3}}, "", quiet)
	if z.Status != trial.Success || z.Spec.Method != trial.ZeroShot {
		t.Errorf("no adapter: %s %s %s", z.Status, z.Error, z.Spec.Method)
	}
}
