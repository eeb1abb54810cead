package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/olekukonko/tablewriter/tw"
	"github.com/peftbench/peftbench/edge"
)

// EdgeWorkloads is the file in a results folder that `harness edge
// profile --out` writes: the measured workloads the report simulates on
// collaborating edge devices.
const EdgeWorkloads = "edge-workloads.json"

// edgeTitle names the optional section of simulated speed-ups.
const edgeTitle = "Collaborating edge devices (simulated)"

// Device counts and the device the section simulates.
var (
	edgeCounts = []int{1, 2, 4, 8}
	edgeDevice = "jetson-orin-nano"
)

// readEdgeWorkloads reads dir's workloads; none when the file is absent.
func readEdgeWorkloads(dir string) ([]edge.Workload, error) {
	b, err := os.ReadFile(filepath.Join(dir, EdgeWorkloads))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ws []edge.Workload
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, fmt.Errorf("reports: %s: %w", filepath.Join(dir, EdgeWorkloads), err)
	}
	for _, w := range ws {
		if err := w.Validate(); err != nil {
			return nil, fmt.Errorf("reports: %s: %w", filepath.Join(dir, EdgeWorkloads), err)
		}
	}
	return ws, nil
}

// edgeSection simulates the measured workloads on 1, 2, 4 and 8 identical
// edge devices (package edge's planner and event-driven simulation) and
// tables the speed-up over one device and the epoch times. Every figure
// in it is a simulation.
func (p *page) edgeSection(heading string) error {
	d, err := edge.Preset(edgeDevice)
	if err != nil {
		return err
	}
	epochs := p.edgeEpochs()
	curves, err := edge.SpeedupCurve(p.edge, d, edgeCounts, epochs)
	if err != nil {
		return err
	}
	p.line("## %s", heading)
	p.line("")
	p.line("**A simulation, not a measurement.** The workloads in `%s` were measured on this machine block by block (`harness edge profile`: each method's forward and backward time per microbatch for one block and for the rest of the model, or for pac the backbone per block and the pass on cached block outputs; its optimiser step, its activation and weight sizes); package `edge` scales them to %d %s devices (%s; %.0f GFLOP/s assumed sustained, %s) by the ratio of compute rates, plans how to use them (pipeline stages within each device's memory for the backbone, data parallelism for the adapters over pac's cache) and simulates %d epochs event by event. "+
		"Speed-up is the simulated time of the best plan on n devices against one device. Pluto and Charon (Ouyang, Ye et al., 2024) report up to 8.64× end-to-end speed-up from their system as a whole; this simulation tests the planning idea at this model's size, not their figures.",
		EdgeWorkloads, edgeCounts[len(edgeCounts)-1], d.Name, d.Source, d.GFLOPS, d.Link, epochs)
	p.line("")
	header := []string{"method"}
	for _, n := range edgeCounts {
		header = append(header, strconv.Itoa(n)+" device(s)")
	}
	header = append(header, "1 device: first epoch, s", "later epoch, s")
	align := []tw.Align{tw.AlignLeft}
	for range len(header) - 1 {
		align = append(align, alignR)
	}
	var rows [][]string
	for _, w := range p.edge {
		row := []string{w.Method}
		for _, s := range curves[w.Method] {
			if math.IsNaN(s) {
				row = append(row, "does not fit")
			} else {
				row = append(row, fmt.Sprintf("%.2f×", s))
			}
		}
		first, later := "—", "—"
		if plan, err := edge.Single(w, []edge.Device{d}, 0, epochs); err == nil {
			if r, err := edge.Simulate(plan); err == nil && len(r.Epochs) > 0 {
				first, later = fmt.Sprintf("%.3f", r.Epochs[0].Seconds), fmt.Sprintf("%.3f", r.Epochs[len(r.Epochs)-1].Seconds)
			}
		}
		rows = append(rows, append(row, first, later))
	}
	if err := p.table(header, rows, align); err != nil {
		return err
	}
	p.line("`harness edge plan --workload %s --devices 4x%s` prints a plan and its simulation; `harness edge validate --sweep SPEC` runs the sweep's trials, profiles each method right after its trial, and sets the one-device simulation on this machine's rate against the epochs the trial measured.", filepath.Join(p.dir, EdgeWorkloads), edgeDevice)
	p.line("")
	return nil
}

// edgeEpochs is the epochs the simulation runs: the most any trial of the
// report trained for (at least 2, so that a cache shows).
func (p *page) edgeEpochs() int {
	n := 2
	for _, g := range p.t.Groups {
		n = max(n, g.Train.Epochs)
	}
	return n
}
