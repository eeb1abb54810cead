// Package edge answers, by simulation, how long a fine-tuning run measured
// on peftbench's reference machine would take on a few nearby edge boards
// working together, in the way Pluto and Charon (PAC; Ouyang, Ye et al.,
// 2024, arXiv 2408.10746) shares the work:
//
//   - methods that train through the backbone (lora, full) run it as a
//     GPipe pipeline across devices, a contiguous run of layers per device,
//     or data-parallel with the whole model on every device, whichever the
//     simulation finds faster;
//   - side-network methods (pac: Parallel Adapters beside a frozen
//     backbone) run only the backbone's forward pass, in the first epoch,
//     storing every layer's output in an activation cache: either as a
//     pipeline, after which the cache is exchanged so that each device
//     holds all layers for its share of the examples, or, where the
//     backbone fits on each device, data-parallel, each device caching its
//     own share. The adapters then train data-parallel on the cache with a
//     ring all-reduce of their gradients. With the cache, later epochs run
//     only the adapters.
//
// It has four parts: the measured Workload (workload.go), device profiles
// with their sources (device.go), the planner (plan.go), which searches
// device orders and layer splits under each device's memory, and an
// event-driven simulator (sim.go), which is the reference for every time
// reported; compare.go puts them together (Compare, SpeedupCurve).
//
// Every number that comes out is a prediction: measured per-microbatch
// times scaled by the ratio of the reference machine's measured matmul rate
// to a device's assumed sustained rate, plus network transfers at an
// assumed bandwidth. Nothing here runs on a board.
package edge
