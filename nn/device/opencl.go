package device

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// The OpenCL backend: OpenCL C compiled by the platform's driver at Open,
// matrix products through CLBlast. On a CPU it runs on pocl, which is how
// CI checks every kernel; on AMD and Intel GPUs it is a real device.

const (
	clSuccess              = 0
	clDeviceTypeAll        = 0xFFFFFFFF
	clPlatformName         = 0x0902
	clDeviceName           = 0x102B
	clDeviceVersion        = 0x102F
	clDriverVersion        = 0x102D
	clDeviceGlobalMemSize  = 0x101F
	clDeviceMaxWorkGroup   = 0x1004
	clMemReadWrite         = 1
	clProgramBuildLog      = 0x1183
	clBlastLayoutRowMajor  = 101
	clBlastTransposeNo     = 111
	clBlastTransposeYes    = 112
	clInvalidBufferSize    = -61
	clMemObjectAllocFailed = -4
	clOutOfResources       = -5
	clOutOfHostMemory      = -6
)

var (
	openclLib  = library{"the OpenCL loader (libOpenCL; Debian: ocl-icd-libopencl1, and a driver such as pocl-opencl-icd)", []string{"libOpenCL.so.1", "libOpenCL.so"}}
	clblastLib = library{"CLBlast (libclblast; Debian: libclblast-dev)", []string{"libclblast.so.1", "libclblast.so"}}
)

// clAPI holds the OpenCL and CLBlast entry points.
type clAPI struct {
	getPlatformIDs       func(n uint32, ids *uintptr, num *uint32) int32
	getPlatformInfo      func(p uintptr, param uint32, size uintptr, val unsafe.Pointer, ret *uintptr) int32
	getDeviceIDs         func(p uintptr, typ uint64, n uint32, ids *uintptr, num *uint32) int32
	getDeviceInfo        func(d uintptr, param uint32, size uintptr, val unsafe.Pointer, ret *uintptr) int32
	createContext        func(props uintptr, n uint32, devs *uintptr, notify, user uintptr, err *int32) uintptr
	createCommandQueue   func(ctx, dev uintptr, props uint64, err *int32) uintptr
	createBuffer         func(ctx uintptr, flags uint64, size uintptr, host uintptr, err *int32) uintptr
	releaseMemObject     func(m uintptr) int32
	enqueueWriteBuffer   func(q, m uintptr, blocking uint32, off, size uintptr, ptr unsafe.Pointer, nw uint32, wait, ev uintptr) int32
	enqueueReadBuffer    func(q, m uintptr, blocking uint32, off, size uintptr, ptr unsafe.Pointer, nw uint32, wait, ev uintptr) int32
	enqueueFillBuffer    func(q, m uintptr, pattern unsafe.Pointer, psize, off, size uintptr, nw uint32, wait, ev uintptr) int32
	createProgramWithSrc func(ctx uintptr, n uint32, srcs **byte, lens *uintptr, err *int32) uintptr
	buildProgram         func(p uintptr, n uint32, devs *uintptr, opts *byte, notify, user uintptr) int32
	getProgramBuildInfo  func(p, d uintptr, param uint32, size uintptr, val unsafe.Pointer, ret *uintptr) int32
	createKernel         func(p uintptr, name *byte, err *int32) uintptr
	releaseKernel        func(k uintptr) int32
	releaseProgram       func(p uintptr) int32
	releaseCommandQueue  func(q uintptr) int32
	releaseContext       func(c uintptr) int32
	finish               func(q uintptr) int32
	setKernelArg         uintptr // called through SyscallN: no allocation per launch
	enqueueNDRangeKernel uintptr
	sgemm                func(layout, ta, tb int32, m, n, k uintptr, alpha float32, a, aoff, lda, b, boff, ldb uintptr, beta float32, c, coff, ldc uintptr, q *uintptr, ev uintptr) int32
	sgemmStridedBatched  func(layout, ta, tb int32, m, n, k uintptr, alpha float32, a, aoff, lda, sa, b, boff, ldb, sb uintptr, beta float32, c, coff, ldc, sc, count uintptr, q *uintptr, ev uintptr) int32
}

func loadOpenCL() (*clAPI, string, error) {
	h, path, err := openLibrary(openclLib, envDirs("PEFTBENCH_OPENCL_PATH"), nil)
	if err != nil {
		return nil, "", err
	}
	hb, bpath, err := openLibrary(clblastLib, envDirs("PEFTBENCH_OPENCL_PATH"), nil)
	if err != nil {
		return nil, "", err
	}
	api := &clAPI{}
	reg := func(fn any, lib uintptr, name string) {
		if err == nil {
			err = register(fn, lib, name)
		}
	}
	reg(&api.getPlatformIDs, h, "clGetPlatformIDs")
	reg(&api.getPlatformInfo, h, "clGetPlatformInfo")
	reg(&api.getDeviceIDs, h, "clGetDeviceIDs")
	reg(&api.getDeviceInfo, h, "clGetDeviceInfo")
	reg(&api.createContext, h, "clCreateContext")
	reg(&api.createCommandQueue, h, "clCreateCommandQueue")
	reg(&api.createBuffer, h, "clCreateBuffer")
	reg(&api.releaseMemObject, h, "clReleaseMemObject")
	reg(&api.enqueueWriteBuffer, h, "clEnqueueWriteBuffer")
	reg(&api.enqueueReadBuffer, h, "clEnqueueReadBuffer")
	reg(&api.enqueueFillBuffer, h, "clEnqueueFillBuffer")
	reg(&api.createProgramWithSrc, h, "clCreateProgramWithSource")
	reg(&api.buildProgram, h, "clBuildProgram")
	reg(&api.getProgramBuildInfo, h, "clGetProgramBuildInfo")
	reg(&api.createKernel, h, "clCreateKernel")
	reg(&api.releaseKernel, h, "clReleaseKernel")
	reg(&api.releaseProgram, h, "clReleaseProgram")
	reg(&api.releaseCommandQueue, h, "clReleaseCommandQueue")
	reg(&api.releaseContext, h, "clReleaseContext")
	reg(&api.finish, h, "clFinish")
	reg(&api.sgemm, hb, "CLBlastSgemm")
	reg(&api.sgemmStridedBatched, hb, "CLBlastSgemmStridedBatched")
	if err != nil {
		return nil, "", err
	}
	if api.setKernelArg, err = purego.Dlsym(h, "clSetKernelArg"); err != nil {
		return nil, "", fmt.Errorf("%w: %s: clSetKernelArg: %v", ErrUnavailable, path, err)
	}
	if api.enqueueNDRangeKernel, err = purego.Dlsym(h, "clEnqueueNDRangeKernel"); err != nil {
		return nil, "", fmt.Errorf("%w: %s: clEnqueueNDRangeKernel: %v", ErrUnavailable, path, err)
	}
	return api, path + ", " + bpath, nil
}

// register binds fn to the symbol name of lib, or says which is missing.
func register(fn any, lib uintptr, name string) error {
	sym, err := purego.Dlsym(lib, name)
	if err != nil {
		return fmt.Errorf("%w: symbol %s: %v", ErrUnavailable, name, err)
	}
	purego.RegisterFunc(fn, sym)
	return nil
}

type clBuffer struct {
	mem uintptr
	n   int
}

func (b *clBuffer) Len() int { return b.n }

type clKernel struct {
	name string
	k    uintptr
}

func (k *clKernel) Name() string { return k.name }

type openCL struct {
	tally
	api      *clAPI
	libs     string
	platform string
	dev      uintptr
	ctx      uintptr
	queue    uintptr
	prog     uintptr
	name     string
	info     map[string]string
	total    int64
	maxLocal int
	kernels  map[string]*clKernel
	argVal   *[2]uint64 // heap scratch for one argument's bytes
	gws, lws *[2]uintptr
}

func clError(what string, code int32) error {
	switch code {
	case clMemObjectAllocFailed, clOutOfResources, clOutOfHostMemory, clInvalidBufferSize:
		return fmt.Errorf("device: opencl: %s: out of device memory (error %d)", what, code)
	}
	return fmt.Errorf("device: opencl: %s: error %d", what, code)
}

func openOpenCL(platformWant string) (Device, error) {
	api, libs, err := loadOpenCL()
	if err != nil {
		return nil, err
	}
	var np uint32
	if rc := api.getPlatformIDs(0, nil, &np); rc != clSuccess || np == 0 {
		return nil, fmt.Errorf("%w: opencl: no platform (clGetPlatformIDs: %d; is an ICD such as pocl-opencl-icd installed?)", ErrUnavailable, rc)
	}
	plats := make([]uintptr, np)
	api.getPlatformIDs(np, &plats[0], nil)
	d := &openCL{api: api, libs: libs, kernels: map[string]*clKernel{}, argVal: new([2]uint64), gws: new([2]uintptr), lws: new([2]uintptr)}
	for _, p := range plats {
		name := clInfoString(func(size uintptr, v unsafe.Pointer, ret *uintptr) int32 {
			return api.getPlatformInfo(p, clPlatformName, size, v, ret)
		})
		if platformWant != "" && !strings.Contains(strings.ToLower(name), strings.ToLower(platformWant)) {
			continue
		}
		var nd uint32
		if api.getDeviceIDs(p, clDeviceTypeAll, 1, &d.dev, &nd) == clSuccess && nd > 0 {
			d.platform = name
			break
		}
	}
	if d.dev == 0 {
		return nil, fmt.Errorf("%w: opencl: no device on the platforms found (PEFTBENCH_OPENCL_PLATFORM=%q)", ErrUnavailable, platformWant)
	}
	info := func(param uint32) string {
		return clInfoString(func(size uintptr, v unsafe.Pointer, ret *uintptr) int32 {
			return api.getDeviceInfo(d.dev, param, size, v, ret)
		})
	}
	d.name = strings.TrimSpace(info(clDeviceName))
	var mem uint64
	api.getDeviceInfo(d.dev, clDeviceGlobalMemSize, 8, unsafe.Pointer(&mem), nil)
	d.total = int64(mem)
	var wg uintptr
	api.getDeviceInfo(d.dev, clDeviceMaxWorkGroup, unsafe.Sizeof(wg), unsafe.Pointer(&wg), nil)
	d.maxLocal = int(wg)
	if d.maxLocal < Local {
		return nil, fmt.Errorf("%w: opencl: %s allows work groups of %d, the kernels need %d", ErrUnavailable, d.name, d.maxLocal, Local)
	}
	d.info = map[string]string{"device": d.name, "backend": "opencl", "platform": d.platform,
		"driver": info(clDriverVersion), "opencl": info(clDeviceVersion), "libraries": libs}
	var rc int32
	d.ctx = api.createContext(0, 1, &d.dev, 0, 0, &rc)
	if rc != clSuccess {
		return nil, clError("clCreateContext", rc)
	}
	d.queue = api.createCommandQueue(d.ctx, d.dev, 0, &rc)
	if rc != clSuccess {
		d.Close()
		return nil, clError("clCreateCommandQueue", rc)
	}
	if err := d.build(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// clInfoString reads a string property through get (clGet*Info).
func clInfoString(get func(size uintptr, v unsafe.Pointer, ret *uintptr) int32) string {
	var n uintptr
	if get(0, nil, &n) != clSuccess || n == 0 {
		return ""
	}
	b := make([]byte, n)
	get(n, unsafe.Pointer(&b[0]), nil)
	return goString(b)
}

func (d *openCL) build() error {
	src := Source("opencl")
	p := cString(src)
	n := uintptr(len(src))
	var rc int32
	d.prog = d.api.createProgramWithSrc(d.ctx, 1, &p, &n, &rc)
	if rc != clSuccess {
		return clError("clCreateProgramWithSource", rc)
	}
	if rc := d.api.buildProgram(d.prog, 1, &d.dev, cString(""), 0, 0); rc != clSuccess {
		log := clInfoString(func(size uintptr, v unsafe.Pointer, ret *uintptr) int32 {
			return d.api.getProgramBuildInfo(d.prog, d.dev, clProgramBuildLog, size, v, ret)
		})
		return fmt.Errorf("device: opencl: building the kernels failed (%d):\n%s", rc, log)
	}
	return nil
}

func (d *openCL) Kind() string            { return "opencl" }
func (d *openCL) Name() string            { return d.name }
func (d *openCL) Info() map[string]string { return d.info }

// Memory is the device's memory less what this process allocated: OpenCL
// has no query for free memory.
func (d *openCL) Memory() (int64, int64, error) { return d.total - d.tally.used, d.total, nil }

func (d *openCL) Alloc(n int) (Buffer, error) {
	if n <= 0 {
		n = 1
	}
	var rc int32
	m := d.api.createBuffer(d.ctx, clMemReadWrite, uintptr(4*n), 0, &rc)
	if rc != clSuccess {
		return nil, clError(fmt.Sprintf("allocating %d bytes", 4*n), rc)
	}
	var zero uint32
	if rc := d.api.enqueueFillBuffer(d.queue, m, unsafe.Pointer(&zero), 4, 0, uintptr(4*n), 0, 0, 0); rc != clSuccess {
		d.api.releaseMemObject(m)
		return nil, clError("clEnqueueFillBuffer", rc)
	}
	d.alloc(n)
	return &clBuffer{m, n}, nil
}

func (d *openCL) Free(b Buffer) error {
	cb := b.(*clBuffer)
	if cb.mem == 0 {
		return nil
	}
	d.free(cb.n)
	rc := d.api.releaseMemObject(cb.mem)
	cb.mem = 0
	if rc != clSuccess {
		return clError("clReleaseMemObject", rc)
	}
	return nil
}

func (d *openCL) check(v View, n int) (*clBuffer, error) {
	b := v.Buf.(*clBuffer)
	if v.Off < 0 || v.Off+n > b.n {
		return nil, fmt.Errorf("device: opencl: %d elements at %d overrun a buffer of %d", n, v.Off, b.n)
	}
	return b, nil
}

func (d *openCL) write(dst View, n int, p unsafe.Pointer) error {
	if n == 0 {
		return nil
	}
	b, err := d.check(dst, n)
	if err != nil {
		return err
	}
	if rc := d.api.enqueueWriteBuffer(d.queue, b.mem, 1, uintptr(4*dst.Off), uintptr(4*n), p, 0, 0, 0); rc != clSuccess {
		return clError("clEnqueueWriteBuffer", rc)
	}
	return nil
}

func (d *openCL) read(src View, n int, p unsafe.Pointer) error {
	if n == 0 {
		return nil
	}
	b, err := d.check(src, n)
	if err != nil {
		return err
	}
	if rc := d.api.enqueueReadBuffer(d.queue, b.mem, 1, uintptr(4*src.Off), uintptr(4*n), p, 0, 0, 0); rc != clSuccess {
		return clError("clEnqueueReadBuffer", rc)
	}
	return nil
}

func (d *openCL) WriteFloats(dst View, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return d.write(dst, len(src), unsafe.Pointer(&src[0]))
}
func (d *openCL) WriteInts(dst View, src []int32) error {
	if len(src) == 0 {
		return nil
	}
	return d.write(dst, len(src), unsafe.Pointer(&src[0]))
}
func (d *openCL) ReadFloats(dst []float32, src View) error {
	if len(dst) == 0 {
		return nil
	}
	return d.read(src, len(dst), unsafe.Pointer(&dst[0]))
}
func (d *openCL) ReadInts(dst []int32, src View) error {
	if len(dst) == 0 {
		return nil
	}
	return d.read(src, len(dst), unsafe.Pointer(&dst[0]))
}

func (d *openCL) Kernel(name string) (Kernel, error) {
	if k, ok := d.kernels[name]; ok {
		return k, nil
	}
	var rc int32
	k := d.api.createKernel(d.prog, cString(name), &rc)
	if rc != clSuccess {
		return nil, clError("kernel "+name, rc)
	}
	kk := &clKernel{name, k}
	d.kernels[name] = kk
	return kk, nil
}

func (d *openCL) setArg(k uintptr, i int, size uintptr) error {
	rc, _, _ := purego.SyscallN(d.api.setKernelArg, k, uintptr(i), size, uintptr(unsafe.Pointer(d.argVal)))
	if int32(rc) != clSuccess {
		return clError(fmt.Sprintf("clSetKernelArg %d", i), int32(rc))
	}
	return nil
}

func (d *openCL) Launch(k Kernel, groups [2]int, local int, args []Arg) error {
	ck := k.(*clKernel)
	i := 0
	for _, a := range args {
		switch a.kind {
		case argView:
			d.argVal[0] = uint64(a.view.Buf.(*clBuffer).mem)
			if err := d.setArg(ck.k, i, 8); err != nil {
				return fmt.Errorf("%s: %w", ck.name, err)
			}
			d.argVal[0] = uint64(int64(a.view.Off))
			if err := d.setArg(ck.k, i+1, 8); err != nil {
				return fmt.Errorf("%s: %w", ck.name, err)
			}
			i += 2
			continue
		case argLong:
			d.argVal[0] = a.bits
			if err := d.setArg(ck.k, i, 8); err != nil {
				return fmt.Errorf("%s: %w", ck.name, err)
			}
		default:
			d.argVal[0] = a.bits
			if err := d.setArg(ck.k, i, 4); err != nil {
				return fmt.Errorf("%s: %w", ck.name, err)
			}
		}
		i++
	}
	d.gws[0], d.gws[1] = uintptr(groups[0]*local), uintptr(max(groups[1], 1))
	d.lws[0], d.lws[1] = uintptr(local), 1
	rc, _, _ := purego.SyscallN(d.api.enqueueNDRangeKernel, d.queue, ck.k, 2, 0,
		uintptr(unsafe.Pointer(d.gws)), uintptr(unsafe.Pointer(d.lws)), 0, 0, 0)
	if int32(rc) != clSuccess {
		return clError("launching "+ck.name, int32(rc))
	}
	return nil
}

func clTrans(t bool) int32 {
	if t {
		return clBlastTransposeYes
	}
	return clBlastTransposeNo
}

func (d *openCL) Gemm(transA, transB bool, m, n, k int, alpha float32, a View, lda int, b View, ldb int, beta float32, c View, ldc int) error {
	if m == 0 || n == 0 {
		return nil
	}
	rc := d.api.sgemm(clBlastLayoutRowMajor, clTrans(transA), clTrans(transB), uintptr(m), uintptr(n), uintptr(k), alpha,
		a.Buf.(*clBuffer).mem, uintptr(a.Off), uintptr(lda), b.Buf.(*clBuffer).mem, uintptr(b.Off), uintptr(ldb), beta,
		c.Buf.(*clBuffer).mem, uintptr(c.Off), uintptr(ldc), &d.queue, 0)
	if rc != 0 {
		return fmt.Errorf("device: opencl: CLBlastSgemm %dx%dx%d: status %d", m, n, k, rc)
	}
	return nil
}

func (d *openCL) GemmBatched(transA, transB bool, m, n, k int, alpha float32, a View, lda, strideA int, b View, ldb, strideB int, beta float32, c View, ldc, strideC int, count int) error {
	if m == 0 || n == 0 || count == 0 {
		return nil
	}
	rc := d.api.sgemmStridedBatched(clBlastLayoutRowMajor, clTrans(transA), clTrans(transB), uintptr(m), uintptr(n), uintptr(k), alpha,
		a.Buf.(*clBuffer).mem, uintptr(a.Off), uintptr(lda), uintptr(strideA), b.Buf.(*clBuffer).mem, uintptr(b.Off), uintptr(ldb), uintptr(strideB), beta,
		c.Buf.(*clBuffer).mem, uintptr(c.Off), uintptr(ldc), uintptr(strideC), uintptr(count), &d.queue, 0)
	if rc != 0 {
		return fmt.Errorf("device: opencl: CLBlastSgemmStridedBatched %dx%dx%d x%d: status %d", m, n, k, count, rc)
	}
	return nil
}

func (d *openCL) Sync() error {
	if rc := d.api.finish(d.queue); rc != clSuccess {
		return clError("clFinish", rc)
	}
	return nil
}

func (d *openCL) Close() error {
	for _, k := range d.kernels {
		d.api.releaseKernel(k.k)
	}
	d.kernels = nil
	if d.prog != 0 {
		d.api.releaseProgram(d.prog)
		d.prog = 0
	}
	if d.queue != 0 {
		d.api.finish(d.queue)
		d.api.releaseCommandQueue(d.queue)
		d.queue = 0
	}
	if d.ctx != 0 {
		d.api.releaseContext(d.ctx)
		d.ctx = 0
	}
	return nil
}
