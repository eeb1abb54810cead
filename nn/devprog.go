package nn

import (
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/peftbench/peftbench/nn/device"
)

// DeviceWeights holds the device copies of the leaves programs on one
// device share: parameters and constants, copied in once and kept there
// (an optimiser step on the device updates them in place). Programs
// compiled for each batch shape of one trainer share one DeviceWeights,
// as they share one Arena on the CPU.
type DeviceWeights struct {
	Dev  device.Device
	bufs map[*tensor.Dense]device.Buffer
	// scalars are leaf scalars (the seed of differentiation), by value.
	scalars map[float32]device.Buffer
	tables  map[*RoPETable][2]device.Buffer
}

// NewDeviceWeights starts an empty store on dev.
func NewDeviceWeights(dev device.Device) *DeviceWeights {
	return &DeviceWeights{Dev: dev, bufs: map[*tensor.Dense]device.Buffer{}, scalars: map[float32]device.Buffer{}, tables: map[*RoPETable][2]device.Buffer{}}
}

// of returns the device copy of a host tensor, copying it in on first use.
func (w *DeviceWeights) of(t *tensor.Dense) (device.Buffer, error) {
	if b, ok := w.bufs[t]; ok {
		return b, nil
	}
	var b device.Buffer
	var err error
	switch t.Dtype() {
	case tensor.Float32:
		if b, err = w.Dev.Alloc(t.Shape().TotalSize()); err == nil {
			err = w.Dev.WriteFloats(device.View{Buf: b}, t.Float32s())
		}
	case tensor.Int:
		ids := t.Ints()
		if b, err = w.Dev.Alloc(len(ids)); err == nil {
			err = w.Dev.WriteInts(device.View{Buf: b}, int32s(ids, nil))
		}
	default:
		return nil, fmt.Errorf("nn: device programs compute in float32, not %v", t.Dtype())
	}
	if err != nil {
		return nil, err
	}
	w.bufs[t] = b
	return b, nil
}

func (w *DeviceWeights) scalar(x float32) (device.Buffer, error) {
	if b, ok := w.scalars[x]; ok {
		return b, nil
	}
	b, err := w.Dev.Alloc(2)
	if err == nil {
		err = w.Dev.WriteFloats(device.View{Buf: b}, []float32{x})
	}
	if err != nil {
		return nil, err
	}
	w.scalars[x] = b
	return b, nil
}

func (w *DeviceWeights) table(t *RoPETable) ([2]device.Buffer, error) {
	if b, ok := w.tables[t]; ok {
		return b, nil
	}
	cos, ok1 := t.cos.([]float32)
	sin, ok2 := t.sin.([]float32)
	if !ok1 || !ok2 {
		return [2]device.Buffer{}, fmt.Errorf("nn: device programs compute in float32, not a %v RoPE table", t.Dtype)
	}
	var b [2]device.Buffer
	for i, s := range [][]float32{cos, sin} {
		buf, err := w.Dev.Alloc(len(s))
		if err == nil {
			err = w.Dev.WriteFloats(device.View{Buf: buf}, s)
		}
		if err != nil {
			return b, err
		}
		b[i] = buf
	}
	w.tables[t] = b
	return b, nil
}

// Download copies the device copies of params back into their host
// tensors (after training on the device, before saving or merging).
func (w *DeviceWeights) Download(params []*Param) error {
	for _, p := range params {
		if b, ok := w.bufs[p.Value]; ok && p.Value.Dtype() == tensor.Float32 {
			if err := w.Dev.ReadFloats(p.Value.Float32s(), device.View{Buf: b}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Upload copies params' host values to their device copies (after the
// host changed them: a method's initialisation, a restart).
func (w *DeviceWeights) Upload(params []*Param) error {
	for _, p := range params {
		if b, ok := w.bufs[p.Value]; ok && p.Value.Dtype() == tensor.Float32 {
			if err := w.Dev.WriteFloats(device.View{Buf: b}, p.Value.Float32s()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close frees every device copy.
func (w *DeviceWeights) Close() error {
	for _, b := range w.bufs {
		w.Dev.Free(b)
	}
	for _, b := range w.scalars {
		w.Dev.Free(b)
	}
	for _, b := range w.tables {
		w.Dev.Free(b[0])
		w.Dev.Free(b[1])
	}
	w.bufs, w.scalars, w.tables = map[*tensor.Dense]device.Buffer{}, map[float32]device.Buffer{}, map[*RoPETable][2]device.Buffer{}
	return nil
}

// DeviceProgram is a Program whose steps run as kernels on a device: its
// values live in one device buffer planned as the CPU program's arena is,
// its weights in a DeviceWeights, and a run copies in only the graph's
// inputs (token ids, masks) and copies out nothing until asked (the loss,
// a value). Every buffer is allocated when it is compiled: a run allocates
// nothing on the device.
type DeviceProgram struct {
	P   *Program
	W   *DeviceWeights
	dev device.Device

	slab, scal device.Buffer
	views      []device.View // per slot of P
	own        []device.Buffer
	uploads    []devUpload
	steps      []func() error
	names      []string
	host       []float32 // scratch for reading values
}

// devUpload copies one host input in before each run.
type devUpload struct {
	host *tensor.Dense
	dst  device.View
	ids  []int32 // conversion buffer for integer inputs
}

// OnDevice compiles p for the device of w. Every step must have a device
// kernel, and the program must compute in float32.
func (p *Program) OnDevice(w *DeviceWeights) (*DeviceProgram, error) {
	dp := &DeviceProgram{P: p, W: w, dev: w.Dev, views: make([]device.View, len(p.slots))}
	ok := false
	defer func() {
		if !ok {
			dp.Close()
		}
	}()
	if p.need[1] > 0 {
		return nil, fmt.Errorf("nn: device programs compute in float32; this program has float64 values")
	}
	var err error
	if dp.slab, err = dp.alloc(p.need[0]); err != nil {
		return nil, err
	}
	nScal := 0
	for _, s := range p.slots {
		if !s.leaf && s.shape.IsScalar() {
			nScal++
		}
	}
	if dp.scal, err = dp.alloc(2 * nScal); err != nil {
		return nil, err
	}
	iScal := 0
	for i, s := range p.slots {
		switch {
		case s.leaf:
			v, err := dp.leaf(s.value)
			if err != nil {
				return nil, err
			}
			dp.views[i] = v
		case s.shape.IsScalar():
			dp.views[i] = device.View{Buf: dp.scal, Off: 2 * iScal}
			iScal++
		default:
			dp.views[i] = device.View{Buf: dp.slab, Off: s.offset}
		}
	}
	c := &devCompiler{dp: dp, kernels: map[string]device.Kernel{}, saved: map[any]device.View{}}
	if err := c.sharedScratch(); err != nil {
		return nil, err
	}
	for i := range p.steps {
		st := &p.steps[i]
		f, err := c.lower(st)
		if err != nil {
			return nil, fmt.Errorf("nn: %s on %s: %w", st.name, w.Dev.Kind(), err)
		}
		dp.steps = append(dp.steps, f)
		dp.names = append(dp.names, st.name)
	}
	ok = true
	return dp, nil
}

func (dp *DeviceProgram) alloc(n int) (device.Buffer, error) {
	b, err := dp.dev.Alloc(n)
	if err != nil {
		return nil, err
	}
	dp.own = append(dp.own, b)
	return b, nil
}

// leaf places a leaf value: inputs get a buffer of the program's own,
// copied into at every run; every other leaf is a weight or constant.
func (dp *DeviceProgram) leaf(v G.Value) (device.View, error) {
	switch x := v.(type) {
	case *G.F32:
		b, err := dp.W.scalar(float32(*x))
		return device.View{Buf: b}, err
	case *tensor.Dense:
		if !dp.P.inputs[x] {
			b, err := dp.W.of(x)
			return device.View{Buf: b}, err
		}
		n := x.Shape().TotalSize()
		b, err := dp.alloc(n)
		if err != nil {
			return device.View{}, err
		}
		u := devUpload{host: x, dst: device.View{Buf: b}}
		switch x.Dtype() {
		case tensor.Int:
			u.ids = make([]int32, n)
		case tensor.Float32:
		default:
			return device.View{}, fmt.Errorf("nn: device programs compute in float32, not %v", x.Dtype())
		}
		dp.uploads = append(dp.uploads, u)
		return u.dst, nil
	}
	return device.View{}, fmt.Errorf("nn: a leaf of type %T cannot go on a device", v)
}

// Run copies the inputs in and runs every step on the device. With a loss
// it reads the loss back (the one value a training step needs on the
// host) and checks that it is finite.
func (dp *DeviceProgram) Run() error {
	for i := range dp.uploads {
		u := &dp.uploads[i]
		var err error
		if u.ids != nil {
			err = dp.dev.WriteInts(u.dst, int32s(u.host.Ints(), u.ids))
		} else {
			err = dp.dev.WriteFloats(u.dst, u.host.Float32s())
		}
		if err != nil {
			return fmt.Errorf("nn: copying an input to the device: %w", err)
		}
	}
	for i, f := range dp.steps {
		if err := f(); err != nil {
			return fmt.Errorf("nn: %s: %w", dp.names[i], err)
		}
	}
	if dp.P.Loss != nil {
		l, err := dp.LossValue()
		if err != nil {
			return err
		}
		if !isFinite(l) {
			return fmt.Errorf("nn: loss is %v", l)
		}
	}
	return nil
}

// Read copies the value of node n from the last run to the host.
func (dp *DeviceProgram) Read(n *G.Node) ([]float32, error) {
	i, ok := dp.P.slotOf[n]
	if !ok {
		return nil, fmt.Errorf("nn: %s is not a value of the program", n.Name())
	}
	size := max(1, dp.P.slots[i].shape.TotalSize())
	out := make([]float32, size)
	return out, dp.dev.ReadFloats(out, dp.views[i])
}

// LossValue reads the loss of the last run.
func (dp *DeviceProgram) LossValue() (float64, error) {
	i := dp.P.slotOf[dp.P.Loss]
	if cap(dp.host) < 1 {
		dp.host = make([]float32, 1)
	}
	if err := dp.dev.ReadFloats(dp.host[:1], dp.views[i]); err != nil {
		return 0, err
	}
	return float64(dp.host[0]), nil
}

// Grad reads the gradient of P.Params[i] from the last run.
func (dp *DeviceProgram) Grad(i int) ([]float64, error) {
	v, err := dp.Read(dp.P.Grads[i])
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(v))
	for j, x := range v {
		out[j] = float64(x)
	}
	return out, nil
}

// view is the device place of node n's value.
func (dp *DeviceProgram) view(n *G.Node) (device.View, bool) {
	i, ok := dp.P.slotOf[n]
	if !ok {
		return device.View{}, false
	}
	return dp.views[i], true
}

// Close frees the program's own device buffers (not the shared weights).
func (dp *DeviceProgram) Close() error {
	for _, b := range dp.own {
		dp.dev.Free(b)
	}
	dp.own, dp.steps = nil, nil
	return nil
}

// int32s converts ids into dst (allocated when nil).
func int32s(ids []int, dst []int32) []int32 {
	if dst == nil {
		dst = make([]int32, len(ids))
	}
	for i, v := range ids {
		dst[i] = int32(v)
	}
	return dst
}

// devCompiler turns the program's steps into launches.
type devCompiler struct {
	dp      *DeviceProgram
	kernels map[string]device.Kernel
	// saved are the device buffers a forward op keeps for its backward
	// ops (LayerNorm's row statistics, dropout's mask), by forward op.
	saved map[any]device.View
	// ds is one work buffer for the score gradients of attention, shared
	// by every attention gradient step (they run one after another).
	ds device.View
}

func (c *devCompiler) sharedScratch() error {
	n := 0
	for _, st := range c.dp.P.steps {
		if op, ok := st.op.(*attnProbsGradOp); ok {
			n = max(n, op.B*op.H*op.T*op.S)
		}
	}
	if n == 0 {
		return nil
	}
	b, err := c.dp.alloc(n)
	c.ds = device.View{Buf: b}
	return err
}

func (c *devCompiler) scratch(n int) (device.View, error) {
	b, err := c.dp.alloc(n)
	return device.View{Buf: b}, err
}

// launch returns a step that runs kernel name over groups with args.
func (c *devCompiler) launch(name string, groups [2]int, args ...device.Arg) (func() error, error) {
	k, ok := c.kernels[name]
	if !ok {
		var err error
		if k, err = c.dp.dev.Kernel(name); err != nil {
			return nil, err
		}
		c.kernels[name] = k
	}
	dev := c.dp.dev
	return func() error { return dev.Launch(k, groups, device.Local, args) }, nil
}

// elems is the grid of one thread per element, rows that of one group per
// row.
func elems(n int) [2]int { return device.Cover(n, device.Local) }
func rows(n int) [2]int  { return device.Cover(n*device.Local, device.Local) }

// seq runs steps in order.
func seq(fs ...func() error) func() error {
	return func() error {
		for _, f := range fs {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}
}

// launches builds a step from several launches, stopping at the first
// error in building them.
type launches struct {
	c   *devCompiler
	fs  []func() error
	err error
}

func (l *launches) add(name string, groups [2]int, args ...device.Arg) {
	if l.err != nil {
		return
	}
	f, err := l.c.launch(name, groups, args...)
	if err != nil {
		l.err = err
		return
	}
	l.fs = append(l.fs, f)
}

func (l *launches) gemm(f func() error) {
	if l.err == nil {
		l.fs = append(l.fs, f)
	}
}

func (l *launches) done() (func() error, error) {
	if l.err != nil {
		return nil, l.err
	}
	if len(l.fs) == 1 {
		return l.fs[0], nil
	}
	return seq(l.fs...), nil
}

// Short names for kernel arguments, for the launch lists below.
var (
	aPtr   = device.Ptr
	aLong  = device.Long
	aInt   = device.Int
	aFloat = device.Float
)

// lower returns the launches computing one step.
func (c *devCompiler) lower(st *step) (func() error, error) {
	dp := c.dp
	in := make([]device.View, len(st.args))
	shp := make([]tensor.Shape, len(st.args))
	host := make([]G.Value, len(st.args))
	for j, a := range st.args {
		in[j], shp[j] = dp.views[a], dp.P.slots[a].shape
		if dp.P.slots[a].leaf {
			host[j] = dp.P.slots[a].value
		}
	}
	out, oshape := dp.views[st.out], dp.P.slots[st.out].shape
	n := oshape.TotalSize()
	dev := dp.dev
	L := &launches{c: c}
	switch op := st.op.(type) {
	case *addOp:
		L.add("add", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(n))
	case *scaleOp:
		L.add("scale", elems(n), aPtr(out), aPtr(in[0]), aLong(n), aFloat(float32(op.c)))
	case *addPenaltyOp: // a scalar and a vector of one are both one float on the device
		L.add("add", elems(1), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(1))
	case *scalarVecOp:
		L.add("scale", elems(1), aPtr(out), aPtr(in[0]), aLong(1), aFloat(1))
	case *binaryOp:
		div := 0
		if op.div {
			div = 1
		}
		L.add("binary", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(n), aInt(div))
	case *scaleColumnsOp:
		L.add("scale_columns", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(n), aLong(shp[0][1]))
	case *colSumOp:
		L.add("col_sum", elems(shp[0][1]), aPtr(out), aPtr(in[0]), aLong(shp[0][0]), aLong(shp[0][1]))
	case *colNormOp:
		L.add("col_norm", elems(shp[0][1]), aPtr(out), aPtr(in[0]), aLong(shp[0][0]), aLong(shp[0][1]))
	case *tanhOp:
		if op.grad {
			L.add("tanh_bwd", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(n))
		} else {
			L.add("tanh_fwd", elems(n), aPtr(out), aPtr(in[0]), aLong(n))
		}
	case *reluOp:
		if op.grad {
			L.add("relu_bwd", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(n))
		} else {
			L.add("relu_fwd", elems(n), aPtr(out), aPtr(in[0]), aLong(n))
		}
	case *geluOp:
		if op.grad {
			L.add("gelu_bwd", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(n))
		} else {
			L.add("gelu_fwd", elems(n), aPtr(out), aPtr(in[0]), aLong(n))
		}
	case *siluOp:
		if op.grad {
			L.add("silu_bwd", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(n))
		} else {
			L.add("silu_fwd", elems(n), aPtr(out), aPtr(in[0]), aLong(n))
		}
	case *matMulOp:
		m, nn, k, err := op.dims(shp[0], shp[1])
		if err != nil {
			return nil, err
		}
		a, b, ta, tb := in[0], in[1], op.transA, op.transB
		lda, ldb := shp[0][1], shp[1][1]
		L.gemm(func() error { return dev.Gemm(ta, tb, m, nn, k, 1, a, lda, b, ldb, 0, out, nn) })
	case *linearOp:
		rowsN, k, m := shp[0][0], shp[0][1], shp[1][1]
		L.add("bias_rows", elems(rowsN*m), aPtr(out), aPtr(in[2]), aLong(rowsN), aLong(m))
		x, w := in[0], in[1]
		L.gemm(func() error { return dev.Gemm(false, false, rowsN, m, k, 1, x, k, w, m, 1, out, m) })
	case *layerNormOp:
		stats, err := c.scratch(2 * shp[0][0])
		if err != nil {
			return nil, err
		}
		c.saved[op] = stats
		L.add("layernorm_fwd", rows(shp[0][0]), aPtr(out), aPtr(stats), aPtr(in[0]), aPtr(in[1]), aPtr(in[2]), aLong(shp[0][1]), aFloat(lnEps))
	case *layerNormGradOp:
		stats, ok := c.saved[op.fwd]
		if !ok {
			return nil, fmt.Errorf("its forward LayerNorm is not in the program")
		}
		r, d := shp[0][0], shp[0][1]
		if op.gamma {
			L.add("layernorm_bwd_gamma", elems(d), aPtr(out), aPtr(in[0]), aPtr(in[2]), aPtr(stats), aLong(r), aLong(d))
		} else {
			L.add("layernorm_bwd_x", rows(r), aPtr(out), aPtr(in[0]), aPtr(in[1]), aPtr(in[2]), aPtr(stats), aLong(d))
		}
	case *rmsNormOp:
		// Per-head RMSNorm (Qwen3) is RMSNorm over vectors as wide as gamma:
		// a row of x holds x[1]/d of them, contiguous.
		d := shp[1][0]
		r := normRows(shp[0], d)
		rstd, err := c.scratch(r)
		if err != nil {
			return nil, err
		}
		c.saved[op] = rstd
		L.add("rmsnorm_fwd", rows(r), aPtr(out), aPtr(rstd), aPtr(in[0]), aPtr(in[1]), aLong(d), aFloat(float32(op.eps)))
	case *rmsNormGradOp:
		rstd, ok := c.saved[op.fwd]
		if !ok {
			return nil, fmt.Errorf("its forward RMSNorm is not in the program")
		}
		d := shp[1][0]
		r := normRows(shp[0], d)
		if op.gamma {
			L.add("rmsnorm_bwd_gamma", elems(d), aPtr(out), aPtr(in[0]), aPtr(in[2]), aPtr(rstd), aLong(r), aLong(d))
		} else {
			L.add("rmsnorm_bwd_x", rows(r), aPtr(out), aPtr(in[0]), aPtr(in[1]), aPtr(in[2]), aPtr(rstd), aLong(d))
		}
	case *ropeOp:
		tb, err := dp.W.table(op.tab)
		if err != nil {
			return nil, err
		}
		r, d := shp[0][0], shp[0][1]
		inv := 0
		if op.inv {
			inv = 1
		}
		L.add("rope", elems(r*d/2), aPtr(out), aPtr(in[0]), aPtr(device.View{Buf: tb[0]}), aPtr(device.View{Buf: tb[1]}),
			aLong(r), aLong(d), aLong(op.tab.HeadDim), aLong(op.T), aLong(op.Start), aInt(inv))
	case *embeddingOp:
		ids, _ := host[0].(*tensor.Dense)
		v, d := shp[1][0], shp[1][1]
		f, err := c.launch("embedding", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(shp[0][0]), aLong(d))
		if err != nil {
			return nil, err
		}
		return func() error {
			if ids != nil { // the CPU op's check, on the host copy of the ids
				for i, id := range ids.Ints() {
					if id < 0 || id >= v {
						return fmt.Errorf("nn: Embedding: id %d at position %d outside the table's %d rows", id, i, v)
					}
				}
			}
			return f()
		}, nil
	case *embeddingGradOp:
		return c.embeddingGrad(op, host[0], in, shp, out)
	case *crossEntropyOp:
		r, v := shp[0][0], shp[0][1]
		rowloss, err := c.scratch(r)
		if err != nil {
			return nil, err
		}
		L.add("ce_rows", rows(r), aPtr(rowloss), aPtr(in[0]), aPtr(in[1]), aPtr(in[2]), aLong(v))
		L.add("ce_loss", [2]int{1, 1}, aPtr(out), aPtr(rowloss), aPtr(in[2]), aLong(r))
		f, err := L.done()
		if err != nil {
			return nil, err
		}
		return c.checkTargets(host[1], host[2], v, f), nil
	case *crossEntropyGradOp:
		r, v := shp[0][0], shp[0][1]
		total, err := c.scratch(1)
		if err != nil {
			return nil, err
		}
		L.add("reduce_sum", [2]int{1, 1}, aPtr(total), aPtr(in[2]), aLong(r))
		L.add("ce_grad", rows(r), aPtr(out), aPtr(in[0]), aPtr(in[1]), aPtr(in[2]), aPtr(in[3]), aPtr(total), aLong(v))
		f, err := L.done()
		if err != nil {
			return nil, err
		}
		return c.checkTargets(host[1], host[2], v, f), nil
	case *tokenLogProbOp:
		L.add("token_logprob", rows(shp[0][0]), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(shp[0][1]))
	case *attnProbsOp:
		c.attnProbs(L, op.AttnShape, in, shp, out)
	case *attnProbsGradOp:
		c.attnProbsGrad(L, op, in, shp, out)
	case *attnMixOp:
		c.attnMix(L, op.AttnShape, in, shp, out)
	case *attnMixGradOp:
		c.attnMixGrad(L, op, in, shp, out)
	case *dropoutOp:
		keep, err := c.scratch(n)
		if err != nil {
			return nil, err
		}
		c.saved[op] = keep
		f, err := c.launch("dropout", elems(n), aPtr(out), aPtr(in[0]), aPtr(keep), aLong(n), aFloat(float32(1/(1-op.p))))
		if err != nil {
			return nil, err
		}
		mask := make([]int32, n)
		return func() error {
			// The mask is drawn as the CPU op draws it (same generator, same
			// order), so a run on a device keeps the CPU run's bits of it.
			if len(op.mask) != n {
				op.mask = make([]bool, n)
				op.drawMask()
			} else if !op.hold {
				op.drawMask()
			}
			for i, k := range op.mask {
				mask[i] = 0
				if k {
					mask[i] = 1
				}
			}
			if err := dev.WriteInts(keep, mask); err != nil {
				return err
			}
			return f()
		}, nil
	case *dropoutGradOp:
		keep, ok := c.saved[op.fwd]
		if !ok {
			return nil, fmt.Errorf("its forward dropout is not in the program")
		}
		L.add("dropout", elems(n), aPtr(out), aPtr(in[0]), aPtr(keep), aLong(n), aFloat(float32(1/(1-op.fwd.p))))
	case *prependRowsOp:
		P, rowsX, d := shp[0][0], shp[1][0], shp[1][1]
		L.add("prepend_rows", elems(n), aPtr(out), aPtr(in[0]), aPtr(in[1]), aLong(P), aLong(rowsX/op.b), aLong(d), aLong(n))
	case *splitRowsOp:
		rowsX, d := shp[0][0], shp[0][1]
		per := rowsX / op.b
		if op.sumHead {
			L.add("split_rows_sum", elems(op.p*d), aPtr(out), aPtr(in[0]), aLong(op.b), aLong(per), aLong(op.p*d), aLong(d))
		} else {
			L.add("split_rows", elems(n), aPtr(out), aPtr(in[0]), aLong(op.p), aLong(per), aLong(d), aLong(n))
		}
	default:
		return nil, fmt.Errorf("no device kernel for %T", st.op)
	}
	return L.done()
}

// checkTargets wraps a cross-entropy step with the CPU op's check of the
// targets of weighted rows, on the host copies of targets and mask.
func (c *devCompiler) checkTargets(targets, mask G.Value, v int, f func() error) func() error {
	t, ok1 := targets.(*tensor.Dense)
	m, ok2 := mask.(*tensor.Dense)
	if !ok1 || !ok2 {
		return f
	}
	return func() error {
		if _, err := ceRows(t.Ints(), m.Float32s(), v); err != nil {
			return err
		}
		return f()
	}
}

// embeddingGrad sums the upstream rows of each distinct id without
// atomics: at every run the host sorts the positions by id (stably, so
// each id's rows sum in the CPU engine's order) and the kernel gives one
// thread to each (id, column).
func (c *devCompiler) embeddingGrad(op *embeddingGradOp, idsV G.Value, in []device.View, shp []tensor.Shape, out device.View) (func() error, error) {
	ids, ok := idsV.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("the ids must be an input of the graph")
	}
	n, d := shp[0][0], shp[1][1]
	rowsT := op.rows
	buf, err := c.scratch(3*n + 1)
	if err != nil {
		return nil, err
	}
	permV, startsV, uniqV := buf, buf.At(n), buf.At(2*n+1)
	host := make([]int32, 3*n+1)
	perm, starts, uniq := host[:n], host[n:2*n+1], host[2*n+1:]
	order := make([]int, n)
	clearF, err := c.launch("fill", elems(rowsT*d), aPtr(out), aLong(rowsT*d), aFloat(0))
	if err != nil {
		return nil, err
	}
	k, err := c.dp.dev.Kernel("embedding_grad")
	if err != nil {
		return nil, err
	}
	args := []device.Arg{aPtr(out), aPtr(permV), aPtr(startsV), aPtr(uniqV), aPtr(in[1]), aLong(0), aLong(d)}
	dev := c.dp.dev
	return func() error {
		idv := ids.Ints()
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return idv[a] - idv[b] })
		nu := 0
		for k, pos := range order {
			if id := idv[pos]; id < 0 || id >= rowsT {
				return fmt.Errorf("nn: EmbeddingGrad: id %d at position %d outside the table's %d rows", id, pos, rowsT)
			}
			if k == 0 || idv[pos] != idv[order[k-1]] {
				starts[nu], uniq[nu] = int32(k), int32(idv[pos])
				nu++
			}
			perm[k] = int32(pos)
		}
		starts[nu] = int32(n)
		if err := dev.WriteInts(permV, host); err != nil {
			return err
		}
		if err := clearF(); err != nil {
			return err
		}
		if nu == 0 {
			return nil
		}
		args[5] = aLong(nu)
		return dev.Launch(k, elems(nu*d), device.Local, args)
	}, nil
}

// The attention products run as H strided-batched products, one per head,
// each over the B sequences: head h of sequence b sits at a fixed stride
// from head h of sequence b−1 in every operand.

func (c *devCompiler) attnProbs(L *launches, a AttnShape, in []device.View, shp []tensor.Shape, out device.View) {
	d, dk := shp[0][1], shp[1][1]
	H, T, S, B, group := a.H, a.T, a.S, a.B, a.H/a.kvHeads()
	dh := d / H
	scale := float32(1 / math.Sqrt(float64(dh)))
	q, k, dev := in[0], in[1], c.dp.dev
	L.gemm(func() error {
		for h := range H {
			if err := dev.GemmBatched(false, true, T, S, dh, scale, q.At(h*dh), d, T*d, k.At(h/group*dh), dk, S*dk,
				0, out.At(h*T*S), S, H*T*S, B); err != nil {
				return err
			}
		}
		return nil
	})
	L.add("attn_softmax", rows(B*H*T), aPtr(out), aLong(S), aLong(T), aLong(a.Window))
}

func (c *devCompiler) attnProbsGrad(L *launches, op *attnProbsGradOp, in []device.View, shp []tensor.Shape, out device.View) {
	d, dk := shp[0][1], shp[1][1]
	H, T, S, B, KV := op.H, op.T, op.S, op.B, op.kvHeads()
	group := H / KV
	dh := d / H
	scale := float32(1 / math.Sqrt(float64(dh)))
	q, k, ds, dev := in[0], in[1], c.ds, c.dp.dev
	L.add("attn_softmax_grad", rows(B*H*T), aPtr(ds), aPtr(in[2]), aPtr(in[3]), aLong(S), aLong(T), aLong(op.Window), aFloat(scale))
	if op.wrtK {
		// dk[S,dh] = Σ over the group dSᵀ·Q: the first head overwrites,
		// the others add, in order.
		L.gemm(func() error {
			for j := range KV {
				for i := range group {
					h := j*group + i
					if err := dev.GemmBatched(true, false, S, dh, T, 1, ds.At(h*T*S), S, H*T*S, q.At(h*dh), d, T*d,
						float32(min(i, 1)), out.At(j*dh), dk, S*dk, B); err != nil {
						return err
					}
				}
			}
			return nil
		})
		return
	}
	L.gemm(func() error {
		for h := range H {
			if err := dev.GemmBatched(false, false, T, dh, S, 1, ds.At(h*T*S), S, H*T*S, k.At(h/group*dh), dk, S*dk,
				0, out.At(h*dh), d, T*d, B); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *devCompiler) attnMix(L *launches, a AttnShape, in []device.View, shp []tensor.Shape, out device.View) {
	dv := shp[1][1]
	H, T, S, B, group := a.H, a.T, a.S, a.B, a.H/a.kvHeads()
	d := a.width(dv)
	dh := d / H
	p, v, dev := in[0], in[1], c.dp.dev
	L.gemm(func() error {
		for h := range H {
			if err := dev.GemmBatched(false, false, T, dh, S, 1, p.At(h*T*S), S, H*T*S, v.At(h/group*dh), dv, S*dv,
				0, out.At(h*dh), d, T*d, B); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *devCompiler) attnMixGrad(L *launches, op *attnMixGradOp, in []device.View, shp []tensor.Shape, out device.View) {
	H, T, S, B, KV := op.H, op.T, op.S, op.B, op.kvHeads()
	group := H / KV
	dev := c.dp.dev
	if op.wrtV {
		p, g := in[0], in[1]
		d := shp[1][1]
		dh := d / H
		dvw := dh * KV
		L.gemm(func() error {
			for j := range KV {
				for i := range group {
					h := j*group + i
					if err := dev.GemmBatched(true, false, S, dh, T, 1, p.At(h*T*S), S, H*T*S, g.At(h*dh), d, T*d,
						float32(min(i, 1)), out.At(j*dh), dvw, S*dvw, B); err != nil {
						return err
					}
				}
			}
			return nil
		})
		return
	}
	g, v := in[0], in[1]
	d, dv := shp[0][1], shp[1][1]
	dh := d / H
	L.gemm(func() error {
		for h := range H {
			if err := dev.GemmBatched(false, true, T, S, dh, 1, g.At(h*dh), d, T*d, v.At(h/group*dh), dv, S*dv,
				0, out.At(h*T*S), S, H*T*S, B); err != nil {
				return err
			}
		}
		return nil
	})
}
