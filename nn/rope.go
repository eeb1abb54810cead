package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Rotary position embeddings (Su et al., 2021) as HF's Llama applies them
// to queries and keys: each head's vector of dh columns is cut into halves
// and column j is rotated with column j + dh/2 (HF's rotate_half), by the
// angle p·invFreq[j] at position p,
//
//	y[j]      = x[j]·cos − x[j+dh/2]·sin
//	y[j+dh/2] = x[j+dh/2]·cos + x[j]·sin.
//
// This is not the interleaved pairing (2j, 2j+1) of the original paper and
// of Meta's checkpoints: HF's conversion permutes the rows of q_proj and
// k_proj so that the halves convention gives the same attention, and
// checkpoints in HF's layout need this one.

// RoPEScaling is a model config's rope_scaling. Only rope_type "llama3"
// (Llama 3.1 and later) changes the frequencies; Llama 2, Qwen2 and
// SmolLM2 configs have none (a nil *RoPEScaling, or Type "" or "default").
type RoPEScaling struct {
	Type                          string // rope_type (older configs: type)
	Factor                        float64
	LowFreqFactor                 float64 // low_freq_factor
	HighFreqFactor                float64 // high_freq_factor
	OriginalMaxPositionEmbeddings int     // original_max_position_embeddings
}

// RoPETable holds the rotation angles of every position a model runs at:
// the inverse frequencies of one head and their cosines and sines for
// positions 0..MaxPos−1, computed once in float64 and stored in the dtype
// of the graphs that use it. A model builds one table and shares it among
// its layers, for queries and keys, and among its graphs.
type RoPETable struct {
	HeadDim int
	MaxPos  int
	Dtype   tensor.Dtype
	// InvFreq[j] is the angle per position of columns j and j + HeadDim/2.
	InvFreq []float64
	// cos and sin are []float32 or []float64 of MaxPos·HeadDim/2
	// elements, row p holding the values at position p.
	cos, sin any
}

// NewRoPETable computes the rotations of heads of headDim columns for
// positions 0..maxPos−1 in dt: inverse frequencies theta^(−2j/headDim)
// (theta is the config's rope_theta), rescaled as scaling says. maxPos
// need only cover the longest sequence a model runs (plus any virtual
// tokens that take positions), not max_position_embeddings: the table
// holds maxPos·headDim values.
func NewRoPETable(dt tensor.Dtype, headDim int, theta float64, scaling *RoPEScaling, maxPos int) (*RoPETable, error) {
	if headDim <= 0 || headDim%2 != 0 {
		return nil, fmt.Errorf("nn: RoPE: head dimension %d is not a positive even number", headDim)
	}
	if !(theta > 0) || math.IsInf(theta, 0) {
		return nil, fmt.Errorf("nn: RoPE: rope_theta %v is not a positive number", theta)
	}
	if maxPos <= 0 {
		return nil, fmt.Errorf("nn: RoPE: table for %d positions", maxPos)
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("nn: RoPE: dtype %v is not float32 or float64", dt)
	}
	half := headDim / 2
	inv := make([]float64, half)
	for j := range inv {
		// HF: 1 / theta^(arange(0, dim, 2)/dim).
		inv[j] = 1 / math.Pow(theta, float64(2*j)/float64(headDim))
	}
	if err := scaling.apply(inv); err != nil {
		return nil, err
	}
	tb := &RoPETable{HeadDim: headDim, MaxPos: maxPos, Dtype: dt, InvFreq: inv}
	if dt == tensor.Float64 {
		tb.cos, tb.sin = ropeAngles[float64](inv, maxPos)
	} else {
		tb.cos, tb.sin = ropeAngles[float32](inv, maxPos)
	}
	return tb, nil
}

// ropeAngles returns cos and sin of p·inv[j] for positions 0..maxPos−1,
// computed in float64 whatever T is.
func ropeAngles[T Float](inv []float64, maxPos int) (cos, sin []T) {
	half := len(inv)
	cos, sin = make([]T, maxPos*half), make([]T, maxPos*half)
	for p := range maxPos {
		for j, f := range inv {
			s, c := math.Sincos(float64(p) * f)
			cos[p*half+j], sin[p*half+j] = T(c), T(s)
		}
	}
	return cos, sin
}

// apply rescales inverse frequencies as HF's _compute_llama3_parameters
// does: wavelengths 2π/f longer than original_max_position_embeddings /
// low_freq_factor are stretched by factor, those shorter than
// original_max_position_embeddings / high_freq_factor are kept, and those
// between are interpolated by how many of them fit the original context.
func (s *RoPEScaling) apply(inv []float64) error {
	if s == nil || s.Type == "" || s.Type == "default" {
		return nil
	}
	if s.Type != "llama3" {
		return fmt.Errorf("nn: RoPE: rope_type %q is not supported (only llama3 scaling)", s.Type)
	}
	if !(s.Factor > 0) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositionEmbeddings <= 0 {
		return fmt.Errorf("nn: RoPE: llama3 scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0; have %+v", *s)
	}
	orig := float64(s.OriginalMaxPositionEmbeddings)
	lowWavelen, highWavelen := orig/s.LowFreqFactor, orig/s.HighFreqFactor
	for j, f := range inv {
		switch wavelen := 2 * math.Pi / f; {
		case wavelen > lowWavelen:
			inv[j] = f / s.Factor
		case wavelen < highWavelen:
		default:
			smooth := (orig/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
			inv[j] = f * ((1-smooth)/s.Factor + smooth)
		}
	}
	return nil
}

// RoPEShape fixes the layout RoPE rotates: B sequences of T rows, each row
// H heads of the table's HeadDim columns side by side (H is the number of
// query heads for queries, of key/value heads for keys). Row b·T+t is at
// position Start+t.
type RoPEShape struct{ B, T, H, Start int }

func (s RoPEShape) key() string { return fmt.Sprintf("B%d,T%d,H%d,start%d", s.B, s.T, s.H, s.Start) }

// ropeOp rotates every head of every row by its position's angles; with
// inv set it rotates by the negative angles, which is its backward pass (a
// rotation's transpose is its inverse).
type ropeOp struct {
	opBase
	RoPEShape
	tab *RoPETable
	inv bool
	t   task
}

// RoPE returns x [B·T, H·dh] with each head rotated by the angles of its
// row's position, read from tab (dh = tab.HeadDim; x's dtype must be
// tab.Dtype). The table is part of the op, not an input: it has nothing
// to train. Keys that must stay unrotated (prefix tuning's prefixes) are
// prepended after RoPE; Start is the position of each sequence's first
// row.
func RoPE(x *G.Node, s RoPEShape, tab *RoPETable) (*G.Node, error) {
	if tab == nil {
		return nil, fmt.Errorf("nn: RoPE: no table")
	}
	if x.Dtype() != tab.Dtype {
		return nil, fmt.Errorf("nn: RoPE: x is %v, the table %v", x.Dtype(), tab.Dtype)
	}
	if s.B <= 0 || s.T <= 0 || s.H <= 0 || s.Start < 0 || s.Start+s.T > tab.MaxPos {
		return nil, fmt.Errorf("nn: RoPE: shape %+v does not fit a table of %d positions", s, tab.MaxPos)
	}
	// The table's address tells ops on different tables apart: gorgonia
	// merges nodes whose ops hash alike and read the same inputs.
	op := &ropeOp{opBase: opBase{fmt.Sprintf("RoPE{%s,%p}", s.key(), tab)}, RoPEShape: s, tab: tab}
	return G.ApplyOp(op, x)
}

func (op *ropeOp) Arity() int    { return 1 }
func (op *ropeOp) Type() hm.Type { return fnType(matT(), matT()) }
func (op *ropeOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x := shapeOf(in[0])
	if len(x) != 2 || x[0] != op.B*op.T || x[1] != op.H*op.tab.HeadDim {
		return nil, fmt.Errorf("nn: %s: x %v is not [%d, %d]", op.name, x, op.B*op.T, op.H*op.tab.HeadDim)
	}
	return x.Clone(), nil
}
func (op *ropeOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }
func (op *ropeOp) UsePreallocDo(pre G.Value, in ...G.Value) (G.Value, error) {
	return byDtype(op, pre, in, ropeDo[float32], ropeDo[float64])
}
func ropeDo[T Float](op *ropeOp, pre G.Value, in []G.Value) (G.Value, error) {
	n, d := in[0].Shape()[0], in[0].Shape()[1]
	out := into(pre, in[0], n, d)
	split(&op.t, op, ropeRows[float32], ropeRows[float64], in, out, n, rowGrain(d))
	return out, nil
}

func ropeRows[T Float](t *task, _, lo, hi int) {
	op := t.op.(*ropeOp)
	d := t.in[0].Shape()[1]
	x, y := dense[T](t.in[0])[lo*d:hi*d], dense[T](t.out)[lo*d:hi*d]
	ropeRange(x, y, op.tab.cos.([]T), op.tab.sin.([]T), d, op.tab.HeadDim, op.T, op.Start, lo, op.inv)
}

// ropeRange rotates the rows of x (d columns each, heads of dh) into y.
// The first is row lo of the whole matrix, and row r is at position
// start + r mod seq. With inv the angles are negated.
func ropeRange[T Float](x, y, cos, sin []T, d, dh, seq, start, lo int, inv bool) {
	half := dh / 2
	for r := range len(x) / d {
		p := start + (lo+r)%seq
		c, s := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
		for h := 0; h < d; h += dh {
			x1, x2 := x[r*d+h:r*d+h+half], x[r*d+h+half:r*d+h+dh]
			y1, y2 := y[r*d+h:r*d+h+half], y[r*d+h+half:r*d+h+dh]
			if inv {
				for j := range half {
					y1[j] = x1[j]*c[j] + x2[j]*s[j]
					y2[j] = x2[j]*c[j] - x1[j]*s[j]
				}
				continue
			}
			for j := range half {
				y1[j] = x1[j]*c[j] - x2[j]*s[j]
				y2[j] = x2[j]*c[j] + x1[j]*s[j]
			}
		}
	}
}

func (op *ropeOp) DiffWRT(int) []bool { return []bool{!op.inv} }
func (op *ropeOp) SymDiff(_ G.Nodes, _, g *G.Node) (G.Nodes, error) {
	back := &ropeOp{opBase: opBase{fmt.Sprintf("RoPEGrad{%s,%p}", op.key(), op.tab)}, RoPEShape: op.RoPEShape, tab: op.tab, inv: true}
	dx, err := G.ApplyOp(back, g)
	return G.Nodes{dx}, err
}
