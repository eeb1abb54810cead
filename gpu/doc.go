// Package gpu answers, for the architectures people fine-tune on GPUs,
// what peftbench's CPU measurements on a small GPT-2-style model leave
// open: how many parameters a method trains on a large model, how much GPU
// memory a training step needs, which GPUs that fits on, and, when a GPU is
// present, what a trial actually used.
//
// It has three parts:
//
//   - the catalogue (catalogue.go): GPUs people fine-tune on, with memory,
//     bandwidth and dense tensor and FP32 throughput from vendor datasheets,
//     each entry naming its source;
//   - the projection (package gpu/projection, which knows the methods): an architecture (Arch; GPT-2 XL,
//     Llama-2-7B, Llama-3-8B, Llama-3.2-3B, or any peftbench model
//     config), a method with its hyper-parameters as a trial spec holds
//     them, and a batch shape give the trainable parameters and a memory
//     breakdown (weights, master weights, gradients, optimizer state,
//     activations, logits, CUDA overhead), every projected quantity named
//     projected_* in JSON, with the assumptions stated where they are made;
//   - telemetry (nvml.go): Discover lists NVIDIA GPUs through NVML, loaded
//     at run time, and a Sampler records peak memory, mean utilisation and
//     mean power during a trial. Without a GPU, or without the NVML library,
//     both say so ("no NVIDIA GPU: NVML not available (...)") and return
//     zero values; nothing fails to build or run.
//
// Projections are estimates from closed forms, not measurements: the tests
// hold them against hand calculations, against the parameter counts of
// peftbench's own methods, and against the peak memory HF PEFT's method
// comparison published for Llama-3.2-3B, and say how close they come.
package gpu
