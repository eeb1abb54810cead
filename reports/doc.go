// Package reports turns a sweep's trial results into a Markdown report
// with figures, and an offline viewer of the same results (index.html).
// The report opens with the findings the paired tests support and, where
// the results bear on them, the literature's claims set beside them; then
// come a summary table per task at each method's best validated
// configuration, every paired test at every task and data size, accuracy
// against rank and prompt length with full fine-tuning's across them,
// learning curves over data size (a control far below the methods marked
// at the axis edge), accuracy against memory and trainable parameters
// with their Pareto fronts, measured memory next to its analytic account, memory projected
// onto large models on GPUs, training throughput with model-FLOPs
// utilisation, a reproducibility block, and, where the results call for
// them, a section setting augmented trials (LLM2LLM) beside the plain
// methods, which every other section holds alone, the cost of the first
// epoch against the later ones where trials recorded each epoch's time
// (an activation cache, pac's, spends its backbone passes in the first),
// and measured workloads simulated on collaborating edge devices.
//
// The package has three layers, one file per concern:
//
//   - aggregation (aggregate.go, summary.go, significance.go, series.go,
//     efficiency.go, memory.go, throughput.go, repro.go,
//     configurations.go): pure functions from []*trial.Result to tables,
//     paired tests and series, which the tests check; the statistics over
//     seeds are package trial/aggregate's, shared with the regression
//     check, and configurations.go lists every configuration with its
//     aggregates for `harness export` and the viewer. The findings,
//     literature, augmentation, cost-per-epoch and edge sections
//     (findings.go, literature.go, augment.go, epochs.go, edgesim.go) keep
//     their tables and Markdown together;
//   - figures (style.go, render.go, figures.go): gonum/plot drawings of
//     those series, written as PNG and SVG;
//   - Markdown (table.go, markdown.go), the viewer (viewer.go, with its
//     page, script and charting library under viewer/) and the entry
//     point (report.go), which reads DIR/trials and writes OUT/README.md
//     (findings, summary, figures), OUT/APPENDIX.md (the full tables:
//     every paired test, memory, projections, cost per epoch) and
//     OUT/index.html atomically.
//
// It reads results through package trial's schema, task baselines from
// package tasks, and what each method is (a control or not, the
// hyper-parameter that sizes it) and how it is drawn from package
// methods/display; it does not use the training engine.
package reports
