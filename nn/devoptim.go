package nn

import (
	"fmt"
	"math"

	"github.com/peftbench/peftbench/nn/device"
)

// DeviceAdamW is AdamW for programs on a device: the moments live on the
// device beside the weights (float32, where the CPU optimiser keeps
// float64), and a step reads back one number, the gradient norm that
// clipping needs. The settings and the step count are those of the AdamW
// it wraps.
type DeviceAdamW struct {
	*AdamW
	W *DeviceWeights

	moments map[*Param]device.Buffer // m then v, 2·Size elements
	// partial holds each gradient's partial sums of squares (normGroups
	// per gradient), sums their total; both grow to the largest program.
	partial, sums device.Buffer
	host          []float32
	args          []device.Arg
	kernels       map[string]device.Kernel
}

// normGroups is the number of work groups each gradient's sum of squares
// is split over: fixed, so the norm's bits do not depend on the device.
const normGroups = 64

// NewDeviceAdamW runs o's updates on the device of w.
func NewDeviceAdamW(o *AdamW, w *DeviceWeights) *DeviceAdamW {
	return &DeviceAdamW{AdamW: o, W: w, moments: map[*Param]device.Buffer{}, host: make([]float32, 1), kernels: map[string]device.Kernel{}}
}

func (o *DeviceAdamW) kernel(name string) (device.Kernel, error) {
	if k, ok := o.kernels[name]; ok {
		return k, nil
	}
	k, err := o.W.Dev.Kernel(name)
	if err == nil {
		o.kernels[name] = k
	}
	return k, err
}

// Step updates dp's trainable parameters on the device from the
// gradients of its last run, at learning rate lr, and returns the gradient
// norm before clipping.
func (o *DeviceAdamW) Step(dp *DeviceProgram, lr float64) (float64, error) {
	dev := o.W.Dev
	p := dp.P
	need := normGroups * len(p.Params)
	if o.partial == nil || o.partial.Len() < need {
		if o.partial != nil {
			dev.Free(o.partial)
		}
		var err error
		if o.partial, err = dev.Alloc(need); err != nil {
			return 0, err
		}
	}
	if o.sums == nil {
		var err error
		if o.sums, err = dev.Alloc(1); err != nil {
			return 0, err
		}
	}
	sq, err := o.kernel("sumsq_partial")
	if err != nil {
		return 0, err
	}
	for i, g := range p.Grads {
		gv, _ := dp.view(g)
		o.args = append(o.args[:0], device.Ptr(device.View{Buf: o.partial, Off: i * normGroups}), device.Ptr(gv), device.Long(p.Params[i].Size()))
		if err := dev.Launch(sq, [2]int{normGroups, 1}, device.Local, o.args); err != nil {
			return 0, err
		}
	}
	rs, err := o.kernel("reduce_sum")
	if err != nil {
		return 0, err
	}
	o.args = append(o.args[:0], device.Ptr(device.View{Buf: o.sums}), device.Ptr(device.View{Buf: o.partial}), device.Long(need))
	if err := dev.Launch(rs, [2]int{1, 1}, device.Local, o.args); err != nil {
		return 0, err
	}
	if err := dev.ReadFloats(o.host[:1], device.View{Buf: o.sums}); err != nil {
		return 0, err
	}
	norm := math.Sqrt(float64(o.host[0]))
	if !isFinite(norm) {
		return norm, fmt.Errorf("nn: gradient norm is %v", norm)
	}
	scale := 1.0
	if o.ClipNorm > 0 && norm > o.ClipNorm {
		scale = o.ClipNorm / norm
	}
	o.step++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.step))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.step))
	ad, err := o.kernel("adamw")
	if err != nil {
		return 0, err
	}
	for i, prm := range p.Params {
		w, ok := o.W.bufs[prm.Value]
		if !ok {
			return 0, fmt.Errorf("nn: %s has no device copy", prm.Name)
		}
		mv, ok := o.moments[prm]
		if !ok {
			if mv, err = o.place(prm); err != nil {
				return 0, err
			}
		}
		decay := 0.0
		if prm.Value.Dims() >= 2 {
			decay = o.WeightDecay
		}
		rate := lr
		if prm.LRScale > 0 { // as AdamW.Step: LoRA+ trains B faster
			rate = lr * prm.LRScale
		}
		gv, _ := dp.view(p.Grads[i])
		n := prm.Size()
		o.args = append(o.args[:0], device.Ptr(device.View{Buf: w}), device.Ptr(gv), device.Ptr(device.View{Buf: mv}), device.Ptr(device.View{Buf: mv, Off: n}),
			device.Long(n), device.Float(float32(o.Beta1)), device.Float(float32(o.Beta2)), device.Float(float32(o.Eps)), device.Float(float32(rate)),
			device.Float(float32(decay)), device.Float(float32(scale)), device.Float(float32(bc1)), device.Float(float32(bc2)))
		if err := dev.Launch(ad, device.Cover(n, device.Local), device.Local, o.args); err != nil {
			return 0, err
		}
	}
	return norm, nil
}

// place allocates prm's moments on the device, starting from the host
// AdamW's where it has them (a resumed checkpoint), else from zero.
func (o *DeviceAdamW) place(prm *Param) (device.Buffer, error) {
	n := prm.Size()
	mv, err := o.W.Dev.Alloc(2 * n)
	if err != nil {
		return nil, err
	}
	if m, v := o.AdamW.Moments(prm); m != nil {
		both := make([]float32, 2*n)
		for i := range n {
			both[i], both[n+i] = float32(m[i]), float32(v[i])
		}
		if err := o.W.Dev.WriteFloats(device.View{Buf: mv}, both); err != nil {
			o.W.Dev.Free(mv)
			return nil, err
		}
	}
	o.moments[prm] = mv
	return mv, nil
}

// Download copies the moments from the device into the host AdamW (for a
// checkpoint): exactly, float32 values widened to float64.
func (o *DeviceAdamW) Download() error {
	moments := map[*Param][2][]float64{}
	for prm, mv := range o.moments {
		n := prm.Size()
		both := make([]float32, 2*n)
		if err := o.W.Dev.ReadFloats(both, device.View{Buf: mv}); err != nil {
			return err
		}
		m, v := make([]float64, n), make([]float64, n)
		for i := range n {
			m[i], v[i] = float64(both[i]), float64(both[n+i])
		}
		moments[prm] = [2][]float64{m, v}
	}
	o.AdamW.Restore(o.step, moments)
	return nil
}

// Close frees the moments and work buffers.
func (o *DeviceAdamW) Close() error {
	for _, b := range o.moments {
		o.W.Dev.Free(b)
	}
	for _, b := range []device.Buffer{o.partial, o.sums} {
		if b != nil {
			o.W.Dev.Free(b)
		}
	}
	o.moments, o.partial, o.sums = map[*Param]device.Buffer{}, nil, nil
	return nil
}
