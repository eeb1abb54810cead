// Package reports turns a sweep's trial results into a Markdown report
// with figures: a summary table per task at each method's best validated
// configuration, LoRA rank and prompt-length curves, learning curves over
// data size, accuracy against memory and trainable parameters with their
// Pareto fronts, measured memory next to its analytic account, memory
// projected onto large models on GPUs, training throughput with
// model-FLOPs utilisation, a reproducibility block, and, where trials were
// augmented (LLM2LLM), a section setting them beside the plain methods,
// which every other section holds alone, and, where trials recorded each
// epoch's training time, the cost of the first epoch against the later
// ones (an activation cache, pac's, spends its backbone passes in the
// first).
//
// The package has three layers, one file per concern:
//
//   - aggregation (aggregate.go, summary.go, series.go, efficiency.go,
//     memory.go, throughput.go, repro.go): pure functions from
//     []*trial.Result to tables and series, which the tests check; the
//     statistics over seeds are package trial/aggregate's, shared with the
//     regression check. The literature, augmentation and cost-per-epoch
//     sections (literature.go, augment.go, epochs.go) keep their tables
//     and Markdown together;
//   - figures (style.go, render.go, figures.go): gonum/plot drawings of
//     those series, written as PNG and SVG;
//   - Markdown (table.go, markdown.go) and the entry point (report.go),
//     which reads DIR/trials and writes OUT/README.md atomically.
//
// It reads results through package trial's schema and task baselines from
// package tasks; it does not use the training engine.
package reports
