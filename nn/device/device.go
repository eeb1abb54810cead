// Package device runs the engine's kernels on an accelerator: a Device
// allocates memory, copies data in and out, launches the kernels of one
// embedded source (kernels.cl) and multiplies matrices through the vendor's
// BLAS. Two backends implement it: OpenCL (OpenCL C, CLBlast), which CI runs
// on the CPU through pocl, and CUDA (the driver API, NVRTC, cuBLAS).
//
// Every library is loaded at run time (purego), so the binary builds and
// runs on a machine with neither: Open then returns an error that says which
// library it looked for and where (see Open and the README's "Run on a
// GPU").
//
// Every element on a device is 4 bytes: float32 values and int32 ids.
// Offsets and lengths are in elements.
package device

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Buffer is device memory of some number of 4-byte elements.
type Buffer interface {
	Len() int
}

// View is a place in a buffer: Off elements from its start.
type View struct {
	Buf Buffer
	Off int
}

// At returns the view i elements further on.
func (v View) At(i int) View { return View{v.Buf, v.Off + i} }

// Kernel is a compiled kernel of the embedded source.
type Kernel interface{ Name() string }

// Arg is one kernel argument: a view (passed as the buffer and its offset,
// the kernel adding them), an int64, an int32 or a float32. A launch reads
// only the args it is given: callers keep their []Arg across launches so
// that a launch allocates nothing.
type Arg struct {
	kind byte
	view View
	bits uint64
}

const (
	argView = iota + 1
	argLong
	argInt
	argFloat
)

// Ptr passes a view.
func Ptr(v View) Arg { return Arg{kind: argView, view: v} }

// Long passes an int64 (the kernels' LONG: sizes and offsets).
func Long(x int) Arg { return Arg{kind: argLong, bits: uint64(int64(x))} }

// Int passes an int32.
func Int(x int) Arg { return Arg{kind: argInt, bits: uint64(uint32(int32(x)))} }

// Float passes a float32.
func Float(x float32) Arg { return Arg{kind: argFloat, bits: uint64(f32bits(x))} }

// Device is one accelerator with its memory, its compiled kernels and its
// matrix products. Calls are ordered: each runs after the ones before it
// (one queue or stream), and Read waits for them. A Device is not safe for
// concurrent use.
type Device interface {
	// Kind is "opencl" or "cuda".
	Kind() string
	// Name is the device's name as its driver reports it.
	Name() string
	// Info describes the device, driver and libraries for result files.
	Info() map[string]string
	// Memory is the free and total memory of the device, in bytes.
	Memory() (free, total int64, err error)
	// Allocated is the memory this Device's buffers hold now and the most
	// they have held at once (the allocator's high-water mark), in bytes.
	Allocated() (now, peak int64)

	// Alloc returns a zeroed buffer of n elements.
	Alloc(n int) (Buffer, error)
	// Free releases a buffer.
	Free(Buffer) error
	// Write copies src into the device at dst, Read copies the device at
	// src into dst (waiting for earlier calls to finish).
	WriteFloats(dst View, src []float32) error
	WriteInts(dst View, src []int32) error
	ReadFloats(dst []float32, src View) error
	ReadInts(dst []int32, src View) error

	// Kernel returns the kernel of the embedded source with that name.
	Kernel(name string) (Kernel, error)
	// Launch runs k over groups[0]·groups[1] work groups of local threads
	// each (one dimension of threads per group).
	Launch(k Kernel, groups [2]int, local int, args []Arg) error

	// Gemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices:
	// op(A) is m×k, op(B) k×n, C m×n; lda, ldb and ldc are row strides.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a View, lda int, b View, ldb int, beta float32, c View, ldc int) error
	// GemmBatched runs Gemm count times, the i-th on matrices strideA,
	// strideB and strideC elements after the (i−1)-th.
	GemmBatched(transA, transB bool, m, n, k int, alpha float32, a View, lda, strideA int, b View, ldb, strideB int, beta float32, c View, ldc, strideC int, count int) error

	// Sync waits until every call so far has finished.
	Sync() error
	// Close releases the device's memory, kernels and libraries' handles.
	Close() error
}

// ErrUnavailable wraps every error that means the backend cannot run on
// this machine: a library or a device is missing.
var ErrUnavailable = errors.New("device unavailable")

// Names are the device names Open accepts.
var Names = []string{"cpu", "cuda", "opencl", "auto"}

// Open opens the backend called name: "cuda" (the first CUDA GPU), or
// "opencl" (the first OpenCL device, of the platform $PEFTBENCH_OPENCL_PLATFORM
// names when set, a substring of its name). "cpu" is not a device here:
// callers keep the engine's own kernels for it. "auto" opens CUDA when it
// can and reports ErrUnavailable otherwise.
func Open(name string) (Device, error) {
	switch name {
	case "cuda", "auto":
		d, err := openCUDA()
		if err != nil && name == "auto" {
			return nil, fmt.Errorf("%w: auto: no CUDA device: %v", ErrUnavailable, err)
		}
		return d, err
	case "opencl":
		return openOpenCL(os.Getenv("PEFTBENCH_OPENCL_PLATFORM"))
	case "cpu":
		return nil, fmt.Errorf("device: cpu is the engine itself, not a device to open")
	}
	return nil, fmt.Errorf("device: unknown device %q (want one of %s)", name, strings.Join(Names, ", "))
}

// tally counts the bytes a backend's buffers hold, for Allocated.
type tally struct{ used, peak int64 }

func (t *tally) alloc(n int) {
	t.used += int64(4 * n)
	t.peak = max(t.peak, t.used)
}

func (t *tally) free(n int) { t.used -= int64(4 * n) }

func (t *tally) Allocated() (now, peak int64) { return t.used, t.peak }

// groupsFor is the number of groups of local threads covering n threads.
func groupsFor(n, local int) int { return max(1, (n+local-1)/local) }

// Cover is the grid covering n threads in groups of local: groups for
// Launch.
func Cover(n, local int) [2]int {
	g := groupsFor(n, local)
	if g <= maxGroupsX {
		return [2]int{g, 1}
	}
	return [2]int{maxGroupsX, (g + maxGroupsX - 1) / maxGroupsX}
}

// maxGroupsX bounds the first grid dimension: CUDA's y dimension allows
// 65,535 blocks, x 2^31−1; kernels index element-wise work by
// group(1)·groups(0)+group(0), so very large launches spread over both.
const maxGroupsX = 1 << 20
