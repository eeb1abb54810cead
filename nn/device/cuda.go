package device

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"github.com/ebitengine/purego"
)

// The CUDA backend: the driver API (libcuda), the kernels compiled at run
// time by NVRTC for the device's architecture and cached on disk, matrix
// products through cuBLAS (GemmEx and GemmStridedBatchedEx, TF32 tensor
// cores for float32 unless PEFTBENCH_CUDA_TF32=0).
//
// It has been built and reviewed but has not yet run on a GPU: the
// machines this project was developed on have none. gpu/check.sh is the
// first check to run where one is.

var (
	cudaLib   = library{"the CUDA driver (libcuda, from the NVIDIA driver)", []string{"libcuda.so.1", "libcuda.so"}}
	nvrtcLib  = library{"NVRTC (libnvrtc, from the CUDA toolkit or the nvidia-cuda-nvrtc wheel)", []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"}}
	cublasLib = library{"cuBLAS (libcublas, from the CUDA toolkit or the nvidia-cublas wheel)", []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}}
	// cuBLAS needs cuBLASLt beside it; loading it first from the same
	// folders lets a wheel's copy be found without LD_LIBRARY_PATH.
	cublasLtLib = library{"cuBLASLt (libcublasLt)", []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"}}
)

const (
	cuAttrCCMajor            = 75
	cuAttrCCMinor            = 76
	cuErrorOutOfMemory       = 2
	cuErrorInvalidContext    = 201
	cudaR32F                 = 0
	cublasCompute32F         = 68
	cublasCompute32FFastTF32 = 77
	cublasGemmDefault        = -1
	cublasOpN, cublasOpT     = 0, 1
)

type cudaAPI struct {
	init, driverVersion, deviceGet, deviceGetName, deviceGetAttribute      uintptr
	primaryCtxRetain, primaryCtxRelease, ctxSetCurrent, ctxSynchronize     uintptr
	memAlloc, memFree, memsetD32, memcpyHtoD, memcpyDtoH, memGetInfo       uintptr
	moduleLoadData, moduleUnload, moduleGetFunction, launchKernel, errName uintptr

	nvrtcVersion, nvrtcCreate, nvrtcCompile, nvrtcLogSize, nvrtcLog uintptr
	nvrtcCubinSize, nvrtcCubin, nvrtcDestroy                        uintptr

	cublasCreate, cublasDestroy, cublasVersion, cublasGemmEx, cublasGemmBatchedEx uintptr
}

func loadCUDA() (*cudaAPI, map[string]string, error) {
	user := envDirs("PEFTBENCH_CUDA_PATH")
	extra := cudaDirs()
	paths := map[string]string{}
	open := func(lib library) uintptr {
		h, path, err := openLibrary(lib, user, extra)
		if err != nil {
			return 0
		}
		paths[lib.names[0]] = path
		return h
	}
	hc, pc, err := openLibrary(cudaLib, user, extra)
	if err != nil {
		return nil, nil, err
	}
	hn, pn, err := openLibrary(nvrtcLib, user, extra)
	if err != nil {
		return nil, nil, err
	}
	open(cublasLtLib)
	hb, pb, err := openLibrary(cublasLib, user, extra)
	if err != nil {
		return nil, nil, err
	}
	paths = map[string]string{"libcuda": pc, "libnvrtc": pn, "libcublas": pb}
	a := &cudaAPI{}
	sym := func(p *uintptr, lib uintptr, name string) {
		if err != nil {
			return
		}
		if *p, err = purego.Dlsym(lib, name); err != nil {
			err = fmt.Errorf("%w: symbol %s: %v", ErrUnavailable, name, err)
		}
	}
	sym(&a.init, hc, "cuInit")
	sym(&a.driverVersion, hc, "cuDriverGetVersion")
	sym(&a.deviceGet, hc, "cuDeviceGet")
	sym(&a.deviceGetName, hc, "cuDeviceGetName")
	sym(&a.deviceGetAttribute, hc, "cuDeviceGetAttribute")
	sym(&a.primaryCtxRetain, hc, "cuDevicePrimaryCtxRetain")
	sym(&a.primaryCtxRelease, hc, "cuDevicePrimaryCtxRelease_v2")
	sym(&a.ctxSetCurrent, hc, "cuCtxSetCurrent")
	sym(&a.ctxSynchronize, hc, "cuCtxSynchronize")
	sym(&a.memAlloc, hc, "cuMemAlloc_v2")
	sym(&a.memFree, hc, "cuMemFree_v2")
	sym(&a.memsetD32, hc, "cuMemsetD32_v2")
	sym(&a.memcpyHtoD, hc, "cuMemcpyHtoD_v2")
	sym(&a.memcpyDtoH, hc, "cuMemcpyDtoH_v2")
	sym(&a.memGetInfo, hc, "cuMemGetInfo_v2")
	sym(&a.moduleLoadData, hc, "cuModuleLoadData")
	sym(&a.moduleUnload, hc, "cuModuleUnload")
	sym(&a.moduleGetFunction, hc, "cuModuleGetFunction")
	sym(&a.launchKernel, hc, "cuLaunchKernel")
	sym(&a.errName, hc, "cuGetErrorName")
	sym(&a.nvrtcVersion, hn, "nvrtcVersion")
	sym(&a.nvrtcCreate, hn, "nvrtcCreateProgram")
	sym(&a.nvrtcCompile, hn, "nvrtcCompileProgram")
	sym(&a.nvrtcLogSize, hn, "nvrtcGetProgramLogSize")
	sym(&a.nvrtcLog, hn, "nvrtcGetProgramLog")
	sym(&a.nvrtcCubinSize, hn, "nvrtcGetCUBINSize")
	sym(&a.nvrtcCubin, hn, "nvrtcGetCUBIN")
	sym(&a.nvrtcDestroy, hn, "nvrtcDestroyProgram")
	sym(&a.cublasCreate, hb, "cublasCreate_v2")
	sym(&a.cublasDestroy, hb, "cublasDestroy_v2")
	sym(&a.cublasVersion, hb, "cublasGetVersion_v2")
	sym(&a.cublasGemmEx, hb, "cublasGemmEx")
	sym(&a.cublasGemmBatchedEx, hb, "cublasGemmStridedBatchedEx")
	if err != nil {
		return nil, nil, err
	}
	return a, paths, nil
}

// call calls the C function fn. Like purego.SyscallN it keeps the objects
// its arguments point at alive and in place for the call, so callers
// convert pointers to uintptr in the call expression itself.
//
//go:uintptrescapes
func call(fn uintptr, args ...uintptr) int32 {
	r, _, _ := purego.SyscallN(fn, args...)
	return int32(r)
}

type cuBuffer struct {
	ptr uintptr // CUdeviceptr
	n   int
}

func (b *cuBuffer) Len() int { return b.n }

type cuKernel struct {
	name string
	f    uintptr
}

func (k *cuKernel) Name() string { return k.name }

type cuda struct {
	tally
	api     *cudaAPI
	dev     int32
	ctx     uintptr
	mod     uintptr
	blas    uintptr
	name    string
	info    map[string]string
	compute uintptr // cuBLAS compute type
	kernels map[string]*cuKernel
	// Launch arguments: vals holds each argument's bytes, params points
	// at them (cuLaunchKernel's kernelParams); both on the heap, set up
	// once, so a launch allocates nothing.
	vals   *[64]uint64
	params *[64]uintptr
	ab     *[2]float32 // alpha and beta of the product in flight
}

func (d *cuda) errorf(what string, rc int32) error {
	var s *byte
	name := ""
	if d.api.errName != 0 && call(d.api.errName, uintptr(rc), uintptr(unsafe.Pointer(&s))) == 0 && s != nil {
		name = goString(unsafe.Slice(s, 64))
	}
	if rc == cuErrorOutOfMemory {
		return fmt.Errorf("device: cuda: %s: out of device memory (%s)", what, name)
	}
	return fmt.Errorf("device: cuda: %s: error %d %s", what, rc, name)
}

// current makes the device's context current on this thread: goroutines
// move between threads, and a CUDA context is current per thread.
func (d *cuda) current() error {
	if rc := call(d.api.ctxSetCurrent, d.ctx); rc != 0 {
		return d.errorf("cuCtxSetCurrent", rc)
	}
	return nil
}

// do makes the context current and calls fn, once more if the thread
// changed in between (an invalid-context error). Its arguments follow
// call's rule.
//
//go:uintptrescapes
func (d *cuda) do(what string, fn uintptr, args ...uintptr) error {
	for try := 0; ; try++ {
		if err := d.current(); err != nil {
			return err
		}
		rc := call(fn, args...)
		if rc == 0 {
			return nil
		}
		if rc != cuErrorInvalidContext || try > 0 {
			return d.errorf(what, rc)
		}
	}
}

func openCUDA() (Device, error) {
	api, paths, err := loadCUDA()
	if err != nil {
		return nil, err
	}
	d := &cuda{api: api, kernels: map[string]*cuKernel{}, vals: new([64]uint64), params: new([64]uintptr), ab: new([2]float32)}
	for i := range d.params {
		d.params[i] = uintptr(unsafe.Pointer(&d.vals[i]))
	}
	if rc := call(api.init, 0); rc != 0 {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, d.errorf("cuInit (no GPU, or the driver cannot reach it)", rc))
	}
	if rc := call(api.deviceGet, uintptr(unsafe.Pointer(&d.dev)), 0); rc != 0 {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, d.errorf("cuDeviceGet 0", rc))
	}
	nameBuf := make([]byte, 256)
	call(api.deviceGetName, uintptr(unsafe.Pointer(&nameBuf[0])), 256, uintptr(d.dev))
	d.name = goString(nameBuf)
	var major, minor, drv int32
	call(api.deviceGetAttribute, uintptr(unsafe.Pointer(&major)), cuAttrCCMajor, uintptr(d.dev))
	call(api.deviceGetAttribute, uintptr(unsafe.Pointer(&minor)), cuAttrCCMinor, uintptr(d.dev))
	call(api.driverVersion, uintptr(unsafe.Pointer(&drv)))
	if rc := call(api.primaryCtxRetain, uintptr(unsafe.Pointer(&d.ctx)), uintptr(d.dev)); rc != 0 {
		return nil, d.errorf("cuDevicePrimaryCtxRetain", rc)
	}
	if err := d.current(); err != nil {
		d.Close()
		return nil, err
	}
	arch := fmt.Sprintf("sm_%d%d", major, minor)
	cubin, nvrtcVer, err := d.compile(arch)
	if err != nil {
		d.Close()
		return nil, err
	}
	if rc := call(api.moduleLoadData, uintptr(unsafe.Pointer(&d.mod)), uintptr(unsafe.Pointer(&cubin[0]))); rc != 0 {
		d.Close()
		return nil, d.errorf("loading the kernels", rc)
	}
	if rc := call(api.cublasCreate, uintptr(unsafe.Pointer(&d.blas))); rc != 0 {
		d.Close()
		return nil, fmt.Errorf("device: cuda: cublasCreate: status %d", rc)
	}
	var bv int32
	call(api.cublasVersion, d.blas, uintptr(unsafe.Pointer(&bv)))
	precision := "tf32"
	d.compute = cublasCompute32FFastTF32
	if os.Getenv("PEFTBENCH_CUDA_TF32") == "0" {
		d.compute, precision = cublasCompute32F, "fp32"
	}
	d.info = map[string]string{"device": d.name, "backend": "cuda", "arch": arch,
		"driver": cudaVersion(drv), "nvrtc": nvrtcVer, "cublas": strconv.Itoa(int(bv)), "matmul_precision": precision,
		"libraries": paths["libcuda"] + ", " + paths["libnvrtc"] + ", " + paths["libcublas"]}
	return d, nil
}

// cudaVersion writes 12040 as 12.4.
func cudaVersion(v int32) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// compile returns the kernels as a CUBIN for arch, from the cache in the
// user's cache folder (peftbench/cuda) when this source, architecture and
// NVRTC have been compiled before.
func (d *cuda) compile(arch string) ([]byte, string, error) {
	var maj, min int32
	call(d.api.nvrtcVersion, uintptr(unsafe.Pointer(&maj)), uintptr(unsafe.Pointer(&min)))
	ver := fmt.Sprintf("%d.%d", maj, min)
	src := Source("cuda")
	sum := sha256.Sum256([]byte(src + "\x00" + arch + "\x00" + ver))
	var cacheFile string
	if dir, err := os.UserCacheDir(); err == nil {
		cacheFile = filepath.Join(dir, "peftbench", "cuda", hex.EncodeToString(sum[:12])+"."+arch+".cubin")
		if b, err := os.ReadFile(cacheFile); err == nil && len(b) > 0 {
			return b, ver, nil
		}
	}
	var prog uintptr
	if rc := call(d.api.nvrtcCreate, uintptr(unsafe.Pointer(&prog)), uintptr(unsafe.Pointer(cString(src))), uintptr(unsafe.Pointer(cString("kernels.cu"))), 0, 0, 0); rc != 0 {
		return nil, ver, fmt.Errorf("device: cuda: nvrtcCreateProgram: status %d", rc)
	}
	defer call(d.api.nvrtcDestroy, uintptr(unsafe.Pointer(&prog)))
	opts := []*byte{cString("--gpu-architecture=" + arch), cString("--std=c++14")}
	if rc := call(d.api.nvrtcCompile, prog, uintptr(len(opts)), uintptr(unsafe.Pointer(&opts[0]))); rc != 0 {
		var n uintptr
		call(d.api.nvrtcLogSize, prog, uintptr(unsafe.Pointer(&n)))
		log := make([]byte, n+1)
		call(d.api.nvrtcLog, prog, uintptr(unsafe.Pointer(&log[0])))
		return nil, ver, fmt.Errorf("device: cuda: NVRTC %s could not compile the kernels for %s (status %d):\n%s", ver, arch, rc, goString(log))
	}
	var n uintptr
	if rc := call(d.api.nvrtcCubinSize, prog, uintptr(unsafe.Pointer(&n))); rc != 0 || n == 0 {
		return nil, ver, fmt.Errorf("device: cuda: nvrtcGetCUBINSize: status %d", rc)
	}
	cubin := make([]byte, n)
	call(d.api.nvrtcCubin, prog, uintptr(unsafe.Pointer(&cubin[0])))
	if cacheFile != "" { // best effort: a cache that cannot be written only costs a compile
		if os.MkdirAll(filepath.Dir(cacheFile), 0o755) == nil {
			tmp := cacheFile + ".tmp" + strconv.Itoa(os.Getpid())
			if os.WriteFile(tmp, cubin, 0o644) == nil {
				os.Rename(tmp, cacheFile)
			}
		}
	}
	return cubin, ver, nil
}

func (d *cuda) Kind() string            { return "cuda" }
func (d *cuda) Name() string            { return d.name }
func (d *cuda) Info() map[string]string { return d.info }

func (d *cuda) Memory() (int64, int64, error) {
	var free, total uintptr
	if err := d.do("cuMemGetInfo", d.api.memGetInfo, uintptr(unsafe.Pointer(&free)), uintptr(unsafe.Pointer(&total))); err != nil {
		return 0, 0, err
	}
	return int64(free), int64(total), nil
}

func (d *cuda) Alloc(n int) (Buffer, error) {
	n = max(n, 1)
	b := &cuBuffer{n: n}
	if err := d.do(fmt.Sprintf("allocating %d bytes", 4*n), d.api.memAlloc, uintptr(unsafe.Pointer(&b.ptr)), uintptr(4*n)); err != nil {
		return nil, err
	}
	if err := d.do("cuMemsetD32", d.api.memsetD32, b.ptr, 0, uintptr(n)); err != nil {
		call(d.api.memFree, b.ptr)
		return nil, err
	}
	d.alloc(n)
	return b, nil
}

func (d *cuda) Free(b Buffer) error {
	cb := b.(*cuBuffer)
	if cb.ptr == 0 {
		return nil
	}
	err := d.do("cuMemFree", d.api.memFree, cb.ptr)
	cb.ptr = 0
	d.free(cb.n)
	return err
}

func (d *cuda) addr(v View, n int) (uintptr, error) {
	b := v.Buf.(*cuBuffer)
	if v.Off < 0 || v.Off+n > b.n {
		return 0, fmt.Errorf("device: cuda: %d elements at %d overrun a buffer of %d", n, v.Off, b.n)
	}
	return b.ptr + uintptr(4*v.Off), nil
}

func (d *cuda) copyIn(dst View, n int, src unsafe.Pointer) error {
	a, err := d.addr(dst, n)
	if err != nil || n == 0 {
		return err
	}
	return d.do("cuMemcpyHtoD", d.api.memcpyHtoD, a, uintptr(src), uintptr(4*n))
}

func (d *cuda) copyOut(dst unsafe.Pointer, src View, n int) error {
	a, err := d.addr(src, n)
	if err != nil || n == 0 {
		return err
	}
	return d.do("cuMemcpyDtoH", d.api.memcpyDtoH, uintptr(dst), a, uintptr(4*n))
}

func (d *cuda) WriteFloats(dst View, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return d.copyIn(dst, len(src), unsafe.Pointer(&src[0]))
}
func (d *cuda) WriteInts(dst View, src []int32) error {
	if len(src) == 0 {
		return nil
	}
	return d.copyIn(dst, len(src), unsafe.Pointer(&src[0]))
}
func (d *cuda) ReadFloats(dst []float32, src View) error {
	if len(dst) == 0 {
		return nil
	}
	return d.copyOut(unsafe.Pointer(&dst[0]), src, len(dst))
}
func (d *cuda) ReadInts(dst []int32, src View) error {
	if len(dst) == 0 {
		return nil
	}
	return d.copyOut(unsafe.Pointer(&dst[0]), src, len(dst))
}

func (d *cuda) Kernel(name string) (Kernel, error) {
	if k, ok := d.kernels[name]; ok {
		return k, nil
	}
	k := &cuKernel{name: name}
	if err := d.do("kernel "+name, d.api.moduleGetFunction, uintptr(unsafe.Pointer(&k.f)), d.mod, uintptr(unsafe.Pointer(cString(name)))); err != nil {
		return nil, err
	}
	d.kernels[name] = k
	return k, nil
}

func (d *cuda) Launch(k Kernel, groups [2]int, local int, args []Arg) error {
	ck := k.(*cuKernel)
	i := 0
	for _, a := range args {
		if i+2 > len(d.vals) {
			return fmt.Errorf("device: cuda: %s: too many arguments", ck.name)
		}
		switch a.kind {
		case argView:
			d.vals[i] = uint64(a.view.Buf.(*cuBuffer).ptr)
			d.vals[i+1] = uint64(int64(a.view.Off))
			i += 2
		default: // the kernel reads 4 or 8 bytes of the little-endian value
			d.vals[i] = a.bits
			i++
		}
	}
	return d.do("launching "+ck.name, d.api.launchKernel, ck.f, uintptr(groups[0]), uintptr(max(groups[1], 1)), 1,
		uintptr(local), 1, 1, 0, 0, uintptr(unsafe.Pointer(d.params)), 0)
}

func cuTrans(t bool) uintptr {
	if t {
		return cublasOpT
	}
	return cublasOpN
}

// Gemm runs the row-major product as cuBLAS's column-major one of the
// transposes: Cᵀ = op(B)ᵀ·op(A)ᵀ, so A and B swap places.
func (d *cuda) Gemm(transA, transB bool, m, n, k int, alpha float32, a View, lda int, b View, ldb int, beta float32, c View, ldc int) error {
	if m == 0 || n == 0 {
		return nil
	}
	d.ab[0], d.ab[1] = alpha, beta
	pa, pb, pc := a.Buf.(*cuBuffer).ptr+uintptr(4*a.Off), b.Buf.(*cuBuffer).ptr+uintptr(4*b.Off), c.Buf.(*cuBuffer).ptr+uintptr(4*c.Off)
	if err := d.current(); err != nil {
		return err
	}
	rc := call(d.api.cublasGemmEx, d.blas, cuTrans(transB), cuTrans(transA), uintptr(n), uintptr(m), uintptr(k),
		uintptr(unsafe.Pointer(&d.ab[0])), pb, cudaR32F, uintptr(ldb), pa, cudaR32F, uintptr(lda),
		uintptr(unsafe.Pointer(&d.ab[1])), pc, cudaR32F, uintptr(ldc), d.compute, ^uintptr(0) /* CUBLAS_GEMM_DEFAULT */)
	if rc != 0 {
		return fmt.Errorf("device: cuda: cublasGemmEx %dx%dx%d: status %d", m, n, k, rc)
	}
	return nil
}

func (d *cuda) GemmBatched(transA, transB bool, m, n, k int, alpha float32, a View, lda, strideA int, b View, ldb, strideB int, beta float32, c View, ldc, strideC int, count int) error {
	if m == 0 || n == 0 || count == 0 {
		return nil
	}
	d.ab[0], d.ab[1] = alpha, beta
	pa, pb, pc := a.Buf.(*cuBuffer).ptr+uintptr(4*a.Off), b.Buf.(*cuBuffer).ptr+uintptr(4*b.Off), c.Buf.(*cuBuffer).ptr+uintptr(4*c.Off)
	if err := d.current(); err != nil {
		return err
	}
	rc := call(d.api.cublasGemmBatchedEx, d.blas, cuTrans(transB), cuTrans(transA), uintptr(n), uintptr(m), uintptr(k),
		uintptr(unsafe.Pointer(&d.ab[0])), pb, cudaR32F, uintptr(ldb), uintptr(strideB), pa, cudaR32F, uintptr(lda), uintptr(strideA),
		uintptr(unsafe.Pointer(&d.ab[1])), pc, cudaR32F, uintptr(ldc), uintptr(strideC), uintptr(count), d.compute, ^uintptr(0))
	if rc != 0 {
		return fmt.Errorf("device: cuda: cublasGemmStridedBatchedEx %dx%dx%d x%d: status %d", m, n, k, count, rc)
	}
	return nil
}

func (d *cuda) Sync() error { return d.do("cuCtxSynchronize", d.api.ctxSynchronize) }

func (d *cuda) Close() error {
	if d.ctx == 0 {
		return nil
	}
	d.current()
	if d.blas != 0 {
		call(d.api.cublasDestroy, d.blas)
		d.blas = 0
	}
	if d.mod != 0 {
		call(d.api.moduleUnload, d.mod)
		d.mod = 0
	}
	call(d.api.primaryCtxRelease, uintptr(d.dev))
	d.ctx = 0
	return nil
}
