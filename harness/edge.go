package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/peftbench/peftbench/edge"
	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/spf13/cobra"
)

func edgeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edge",
		Short: "Simulate fine-tuning on several nearby edge devices together (PAC-style pipeline and data parallelism)",
		Long: `Plan and simulate fine-tuning across nearby edge boards as Pluto and Charon
(PAC, arXiv 2408.10746) shares the work: pipeline parallelism for the
backbone (or data parallelism where the model fits on each device), data
parallelism for a side network's adapters over an activation cache. Times are predictions from times measured on this
machine, scaled by each board's assumed compute rate; nothing runs on a
board.`,
	}
	cmd.AddCommand(edgePlanCmd(), edgeDevicesCmd(), edgeProfileCmd(), edgeValidateCmd())
	return cmd
}

func edgePlanCmd() *cobra.Command {
	var workloads, method, devices, link string
	var epochs int
	cmd := &cobra.Command{
		Use:   "plan --workload FILE.json --devices LIST [--method NAME] [--epochs N]",
		Short: "Choose how devices share a method's training and simulate it against the best single device",
		Long: `Read measured workloads (a JSON array, one per method, as 'harness edge
profile' writes), choose for each method (or only --method) how the devices
share its training (which devices, in what pipeline order, which layers
each, which share of the data-parallel steps) so that the simulated total
time is least, and print the plan, each device's peak memory against what
it has, the simulated epochs and the speed-up over the best single device.
Every line is a simulation's output.

--devices lists presets ('harness edge devices'), a count before a name
repeating it: jetson-orin-nano,jetson-orin-nano,rpi5 or 2xjetson-orin-nano,rpi5.
--link replaces every device's own wired link: wifi5 (350 Mbit/s), ethernet
(gigabit), 10gbe, or a number of MB/s.`,
		Example: `  harness edge plan --workload edge-workloads.json --method pac --devices 2xjetson-orin-nano,rpi5 --epochs 3
  harness edge plan --workload edge-workloads.json --devices 4xrpi5 --link wifi5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ws, err := edge.ReadWorkloads(workloads)
			if err != nil {
				return err
			}
			if method != "" {
				w, err := edge.FindWorkload(ws, method)
				if err != nil {
					return err
				}
				ws = []edge.Workload{w}
			}
			devs, err := edge.ParseDevices(devices)
			if err != nil {
				return err
			}
			if devs, err = applyLink(devs, link); err != nil {
				return err
			}
			out := &labelled{w: cmd.OutOrStdout()}
			for i, w := range ws {
				if i > 0 {
					out.line("")
				}
				c, err := edge.Compare(w, devs, epochs)
				if err != nil {
					return err
				}
				printComparison(out, c)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workloads, "workload", "", "workloads file (JSON array of edge.Workload)")
	f.StringVar(&method, "method", "", "only this method's workload (default: every one in the file)")
	f.StringVar(&devices, "devices", "", "devices: preset names, comma-separated, NxNAME for N of one")
	f.StringVar(&link, "link", "", "network for every device: wifi5, ethernet, 10gbe or MB/s (default: each preset's wired port)")
	f.IntVar(&epochs, "epochs", 3, "epochs")
	_ = cmd.MarkFlagRequired("workload")
	_ = cmd.MarkFlagRequired("devices")
	return cmd
}

// applyLink sets every device's link from --link.
func applyLink(devs []edge.Device, link string) ([]edge.Device, error) {
	switch strings.ToLower(link) {
	case "":
		return devs, nil
	case "wifi5", "wifi", "wi-fi":
		return edge.WithLink(devs, edge.WiFi5MBps, "Wi-Fi 5 (350 Mbit/s)"), nil
	case "ethernet", "gbe", "gigabit":
		return edge.WithLink(devs, edge.GigabitEthernetMBps, "gigabit Ethernet"), nil
	case "10gbe":
		return edge.WithLink(devs, edge.TenGigabitEthernetMBps, "10 gigabit Ethernet"), nil
	}
	v, err := strconv.ParseFloat(link, 64)
	if err != nil || !(v > 0) {
		return nil, fmt.Errorf("--link %q: want wifi5, ethernet, 10gbe or a positive number of MB/s", link)
	}
	return edge.WithLink(devs, v, fmt.Sprintf("%g MB/s", v)), nil
}

// labelled writes lines, each marked as a simulation's output.
type labelled struct{ w io.Writer }

func (l *labelled) line(format string, a ...any) {
	fmt.Fprintln(l.w, strings.TrimSpace("simulated: "+fmt.Sprintf(format, a...)))
}

// deviceLabels names devices, numbering those that appear more than once.
func deviceLabels(devs []edge.Device) []string {
	count := map[string]int{}
	for _, d := range devs {
		count[d.Name]++
	}
	seen := map[string]int{}
	out := make([]string, len(devs))
	for i, d := range devs {
		out[i] = d.Name
		if count[d.Name] > 1 {
			seen[d.Name]++
			out[i] = fmt.Sprintf("%s#%d", d.Name, seen[d.Name])
		}
	}
	return out
}

func printComparison(out *labelled, c edge.Comparison) {
	p, r, w := c.Plan, c.Result, c.Plan.Workload
	names := deviceLabels(p.Devices)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	links := map[string]bool{}
	var linkNames []string
	for _, d := range p.Devices {
		if !links[d.Link] {
			links[d.Link] = true
			linkNames = append(linkNames, d.Link)
		}
	}
	step := max(w.StepMicrobatches, 1)
	out.line("%s on %s (%s); %d epoch(s) of %d microbatches (%d × %d tokens), %d a step",
		w.Method, strings.Join(names, ", "), strings.Join(linkNames, ", "), p.Epochs, w.Microbatches, w.Batch, w.Tokens, step)
	out.line("(measured reference times × %.1f GFLOPS / each device's assumed rate; nothing ran on these devices)", w.ReferenceGFLOPS)
	if len(p.Pipeline) > 0 {
		if w.SideNetwork {
			when := "first epoch"
			if !w.Cache {
				when = "every epoch (no cache)"
			}
			out.line("backbone forward, filling the activation cache (%s): pipeline of %d stage(s)", when, len(p.Pipeline))
		} else {
			out.line("backbone, every epoch: GPipe pipeline of %d stage(s)", len(p.Pipeline))
		}
		for i, s := range p.Pipeline {
			var extra []string
			if i == 0 {
				extra = append(extra, "embeddings")
			}
			if s.Last == w.Layers && !w.SideNetwork {
				extra = append(extra, "head and loss")
			}
			layers := fmt.Sprintf("layer %d", s.First+1)
			if s.Last-s.First > 1 {
				layers = fmt.Sprintf("layers %d-%d", s.First+1, s.Last)
			}
			if len(extra) > 0 {
				layers += " + " + strings.Join(extra, ", ")
			}
			out.line("  %-*s  %s", width, names[s.Device], layers)
		}
	}
	if w.SideNetwork && len(p.Pipeline) == 0 {
		when := "first epoch"
		if !w.Cache {
			when = "every epoch (no cache)"
		}
		out.line("backbone forward, filling the activation cache (%s): data-parallel, each device runs every layer over its own share", when)
	}
	if len(p.Parallel) > 0 {
		var shares []string
		for _, s := range p.Parallel {
			shares = append(shares, fmt.Sprintf("%s %.1f%%", names[s.Device], 100*s.Fraction))
		}
		what := "whole model on each device, data-parallel"
		if w.SideNetwork {
			what = "adapters (with head and loss), data-parallel over the cache"
		}
		if len(p.Parallel) == 1 {
			what = "whole model on one device"
			if w.SideNetwork {
				what = "adapters (with head and loss) on one device"
			}
			out.line("%s: %s", what, names[p.Parallel[0].Device])
		} else {
			out.line("%s: %s; ring all-reduce of %.2f MB: %.4f s a step", what, strings.Join(shares, ", "), float64(w.TrainableBytes)/1e6, r.AllReduce)
		}
	}
	out.line("peak memory, of usable / capacity:")
	for i, d := range p.Devices {
		if r.Peak[i] == 0 {
			out.line("  %-*s  unused", width, names[i])
			continue
		}
		out.line("  %-*s  %s of %s / %s", width, names[i], numfmt.GiB(r.Peak[i]), numfmt.GiB(d.Usable()), numfmt.GiB(d.MemoryBytes))
	}
	for i, e := range r.Epochs {
		detail := ""
		switch {
		case len(p.Pipeline) > 0 && (e.Fill > 0 || e.Exchange > 0):
			detail = fmt.Sprintf("  (cache fill %.3f s, cache exchange %.3f s, adapter steps %.3f s)", e.Fill, e.Exchange, e.Train)
		case e.Fill > 0:
			detail = fmt.Sprintf("  (cache fill %.3f s, adapter steps %.3f s)", e.Fill, e.Train)
		}
		out.line("epoch %d: %.3f s%s", i+1, e.Seconds, detail)
	}
	out.line("total: %.3f s (planner's closed-form estimate %.3f s)", r.Total, p.Estimate)
	if c.Single == nil {
		out.line("no single device can run %s alone, so there is no speed-up to give", w.Method)
		return
	}
	single := names[c.Single.Used()[0]]
	if len(p.Used()) == 1 {
		out.line("the plan is a single device (%s): speed-up %.2f×", single, c.Speedup)
		return
	}
	out.line("best single device, %s: %.3f s; speed-up %.2f×", single, c.SingleResult.Total, c.Speedup)
}

func edgeDevicesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "List the edge device presets with their assumed rates, memory, links and sources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := tablewriter.NewWriter(cmd.OutOrStdout())
			t.Header("device", "sustained GFLOPS", "peak GFLOPS", "memory", "usable", "link", "bandwidth, MB per s")
			ps := edge.Presets()
			for _, d := range ps {
				t.Append(d.Name, fmt.Sprintf("%.0f", d.GFLOPS), fmt.Sprintf("%.1f", d.PeakGFLOPS), numfmt.GiB(d.MemoryBytes),
					numfmt.GiB(d.Usable()), d.Link, fmt.Sprintf("%g", d.LinkMBps))
			}
			if err := t.Render(); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "\nSustained = %.0f%% of peak and %s reserved for the system on every board: assumptions, not measurements.\n",
				100*edge.SustainedFraction, numfmt.GiB(edge.ReservedBytes))
			fmt.Fprintf(w, "Links: gigabit Ethernet %g MB/s of TCP payload, 10GbE %g, Wi-Fi 5 (--link wifi5) %g.\nSources:\n",
				edge.GigabitEthernetMBps, edge.TenGigabitEthernetMBps, edge.WiFi5MBps)
			for _, d := range ps {
				fmt.Fprintf(w, "  %s: %s\n", d.Name, d.Source)
			}
			return nil
		},
	}
}
