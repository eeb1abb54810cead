package device

import _ "embed"

// Local is the number of threads of every work group (block) the kernels
// are launched with; their shared-memory reductions assume it.
const Local = 256

//go:embed kernels.cl
var kernelSource string

// The dialect preludes, after CLBlast's CLCudaAPI: the words of kernels.cl
// that OpenCL C and CUDA C++ spell differently.
const preludeOpenCL = `
#define KERNEL __kernel
#define DEVICE
#define GLOBAL __global
#define SHARED __local
#define LOCALPTR __local
#define LONG long
#define GROUP(d) ((LONG)get_group_id(d))
#define NGROUPS(d) ((LONG)get_num_groups(d))
#define LID ((int)get_local_id(0))
#define LSIZE ((int)get_local_size(0))
#define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#define EXP(x) exp(x)
#define LOG(x) log(x)
#define SQRT(x) sqrt(x)
#define TANH(x) tanh(x)
#define FMAX(a, b) fmax(a, b)
#define INFINITY_F INFINITY
`

const preludeCUDA = `
#define KERNEL extern "C" __global__
#define DEVICE __device__
#define GLOBAL
#define SHARED __shared__
#define LOCALPTR
#define LONG long long
#define GROUP(d) ((LONG)((d) == 0 ? blockIdx.x : blockIdx.y))
#define NGROUPS(d) ((LONG)((d) == 0 ? gridDim.x : gridDim.y))
#define LID ((int)threadIdx.x)
#define LSIZE ((int)blockDim.x)
#define BARRIER() __syncthreads()
#define EXP(x) expf(x)
#define LOG(x) logf(x)
#define SQRT(x) sqrtf(x)
#define TANH(x) tanhf(x)
#define FMAX(a, b) fmaxf(a, b)
#define INFINITY_F __int_as_float(0x7f800000)
`

// Source is the kernel source in the dialect "opencl" or "cuda": its
// prelude followed by kernels.cl.
func Source(dialect string) string {
	if dialect == "cuda" {
		return preludeCUDA + "#line 1 \"kernels.cl\"\n" + kernelSource
	}
	return preludeOpenCL + "#line 1 \"kernels.cl\"\n" + kernelSource
}
