// Package nn is peftbench's engine layer over gorgonia: parameters, fused
// operations with hand-written backward passes, compiled training programs,
// optimisers and schedules, and the choice of BLAS.
//
// Every heavy operation is a gorgonia custom Op whose forward and backward
// passes are written here, over row-major matrices, in float32 for training
// and float64 for gradient checks. gorgonia supplies the expression graph
// and symbolic differentiation; programs run the graph in planned, reused
// buffers (program.go) rather than on gorgonia's tape machine, which
// allocates every value on every run. gorgonia's own SoftMax, ByIndices,
// InverseSqrt and Dropout are never used: each has a wrong forward or
// backward pass on current releases (SoftMax subtracts the whole tensor's
// maximum, not each row's; the others' gradients are wrong).
//
// Activations are 2-D: a batch of B sequences of length T is a matrix of
// B·T rows. Attention ops carry B, T and the head count themselves, so no
// reshapes or transposes appear in the graph.
package nn
