package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"slices"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Float is the element type of every tensor the engine computes on.
type Float interface{ float32 | float64 }

// opBase holds what every op here shares: no in-place writes, no cgo
// trampolines for gorgonia to worry about, and a hash built from String(),
// which each op makes unique to its kind and settings (gorgonia merges nodes
// whose op hash and inputs agree, so the hash must tell ops apart).
type opBase struct{ name string }

func (o opBase) ReturnsPtr() bool      { return false }
func (o opBase) CallsExtern() bool     { return false }
func (o opBase) OverwritesInput() int  { return -1 }
func (o opBase) String() string        { return o.name }
func (o opBase) WriteHash(h hash.Hash) { fmt.Fprint(h, o.name) }
func (o opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// noSymDiff marks ops that appear only in backward passes: the engine never
// differentiates twice.
type noSymDiff struct{}

func (noSymDiff) DiffWRT(n int) []bool { return make([]bool, n) }
func (noSymDiff) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("nn: second derivatives are not supported")
}

var tvA = hm.TypeVariable('a')

func matT() hm.Type { return G.TensorType{Dims: 2, Of: tvA} }
func vecT() hm.Type { return G.TensorType{Dims: 1, Of: tvA} }
func intVecT() hm.Type {
	return G.TensorType{Dims: 1, Of: tensor.Int}
}

// fnType builds the type of an op from its input types and result type.
func fnType(ts ...hm.Type) hm.Type { return hm.NewFnType(ts...) }

// shapeOf reads the shape a DimSizer describes.
func shapeOf(d G.DimSizer) tensor.Shape {
	if s, ok := d.(tensor.Shape); ok {
		return s
	}
	s := make(tensor.Shape, 0, 2)
	for i := 0; ; i++ {
		n, err := d.DimSize(i)
		if err != nil {
			break
		}
		s = append(s, n)
	}
	return s
}

// dense returns the backing slice of a tensor value.
// It reads the slice without Data(), whose interface result costs an
// allocation per call.
func dense[T Float](v G.Value) []T {
	d := v.(*tensor.Dense)
	if d.Dtype() == tensor.Float64 {
		s := d.Float64s()
		return *(*[]T)(unsafe.Pointer(&s))
	}
	s := d.Float32s()
	return *(*[]T)(unsafe.Pointer(&s))
}

// ints returns the backing slice of an integer tensor value.
func ints(v G.Value) []int { return v.(*tensor.Dense).Ints() }

// scalar reads a scalar value of either float type.
func scalar(v G.Value) float64 {
	switch x := v.(type) {
	case *G.F32:
		return float64(*x)
	case *G.F64:
		return float64(*x)
	case *tensor.Dense: // read without Data(), which allocates
		if x.Dtype() == tensor.Float64 {
			return x.Float64s()[0]
		}
		return float64(x.Float32s()[0])
	}
	panic(fmt.Sprintf("nn: not a scalar: %T", v))
}

// into is where a kernel writes its result: pre, the buffer a program
// keeps for the op across runs, or a new zeroed tensor of the given shape
// and like's dtype. A reused buffer holds the previous run's values, so
// kernels write every element (or clear first). The shape is copied before
// it can escape, so calls allocate nothing when pre is given.
func into(pre, like G.Value, shape ...int) *tensor.Dense {
	if pre != nil {
		return pre.(*tensor.Dense)
	}
	return tensor.New(tensor.Of(like.Dtype()), tensor.WithShape(slices.Clone(shape)...))
}

// floatInput is the first input holding floats: its dtype picks the
// kernel (embedding ops take integer ids first).
func floatInput(in []G.Value) G.Value {
	for _, v := range in {
		if dt := v.Dtype(); dt == tensor.Float32 || dt == tensor.Float64 {
			return v
		}
	}
	return in[0]
}

// isFinite reports whether x is neither NaN nor infinite.
func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// setScalar stores x in pre, a scalar buffer a program keeps across runs,
// or returns a new scalar of like's dtype.
func setScalar(pre, like G.Value, x float64) G.Value {
	switch p := pre.(type) {
	case *G.F32:
		*p = G.F32(x)
		return p
	case *G.F64:
		*p = G.F64(x)
		return p
	}
	if like.Dtype() == tensor.Float64 {
		return G.NewF64(x)
	}
	return G.NewF32(float32(x))
}

// scratch returns a work buffer of n elements, kept in *buf so that later
// runs reuse it.
func scratch[T Float](buf *any, n int) []T {
	if s, ok := (*buf).([]T); ok && len(s) >= n {
		return s[:n]
	}
	s := make([]T, n)
	*buf = s
	return s
}

// asF32 reinterprets s as []float32 when T is float32: kernels take a
// faster float32 path (float32 approximations of exp and tanh).
func asF32[T Float](s []T) ([]float32, bool) {
	var z T
	if unsafe.Sizeof(z) != 4 {
		return nil, false
	}
	return *(*[]float32)(unsafe.Pointer(&s)), true
}

// asF32Must is asF32 for a slice already known to be float32 (or nil).
func asF32Must[T Float](s []T) []float32 { f, _ := asF32(s); return f }
