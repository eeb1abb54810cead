package methods

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// oft is OFT, orthogonal fine-tuning (Qiu et al., 2023, arXiv 2306.07280),
// as HF PEFT's OFTConfig defines it for linear layers since PEFT 0.14
// (read at the version whose defaults are r = 0, oft_block_size = 32,
// use_cayley_neumann = true, num_cayley_neumann_terms = 5). Each targeted
// layer's input is rotated before the frozen layer sees it,
//
//	y = (x·R)·W + b,  R = diag(R_1, …, R_r),  R_k [b, b]
//
// which is W' = R·W in this package's [in, out] layout (PEFT's merge,
// oft_mat·Wᵀ in its [out, in] one). Block k is built from its trained
// vector q_k of b(b−1)/2 entries, PEFT's oft_R.weight [r, b(b−1)/2]: the
// skew-symmetric S_k has q_k above the diagonal, row by row, and −q_k below
// (PEFT's _pytorch_skew_symmetric: S = U − Uᵀ). R_k is the Cayley transform
// (I + S)(I − S)⁻¹ as PEFT's default computes it, by the truncated
// Neumann series of (I − S)⁻¹:
//
//	R = I + 2S + 2S² + … + 2S^(p−1) + S^p,  p = max(n − 1, 3)
//
// for n = num_cayley_neumann_terms ≥ 3 (n = 2: I + 2S; n = 1: I), exactly
// PEFT's _cayley_batch loop. R is then orthogonal only to the truncation's
// order (RᵀR − I is O(|S|^p)); PEFT's exact path
// (use_cayley_neumann = false, a linear solve) is not offered here: the
// engine has no solve op. Note that PEFT's exact path computes
// (I − S)(I + S)⁻¹, the transpose of the series' limit.
//
// q starts at zero (PEFT's init_weights), so R = I and training starts from
// the base model exactly. Exactly one of r (blocks per layer) and
// oft_block_size is non-zero; a value that does not divide a layer's input
// width is moved to the nearest divisor, as PEFT's adjust_oft_parameters
// does. PEFT's coft, block_share and module_dropout are declared at their
// defaults; other values are refused.
type oft struct{}

func init() { Register(oft{}) }

func (oft) Name() string { return "oft" }
func (oft) Doc() string {
	return "OFT: a trained block-diagonal orthogonal rotation (Cayley, in PEFT's Neumann form) of targeted linear layers' inputs"
}

// DefaultLR is LoRA's: the update starts at zero as LoRA's does and
// R ≈ I + 2S, so a step on q moves each layer by twice the step, the scale
// LoRA's alpha/r = 2 gives; not probed on its own.
func (oft) DefaultLR() float64 { return 1e-2 }

func (oft) Params() []Spec {
	return []Spec{
		{Name: "r", Kind: Int, Default: 0, Min: 0, Max: 1 << 20, Doc: "blocks per adapted layer (PEFT's r); 0: set by oft_block_size"},
		{Name: "oft_block_size", Kind: Int, Default: 32, Min: 0, Max: 1 << 20, Doc: "width b of each orthogonal block (PEFT's oft_block_size, default 32); 0: set by r"},
		{Name: "use_cayley_neumann", Kind: Bool, Default: true, Doc: "the Cayley transform by its truncated Neumann series, PEFT's default (the exact solve is not offered)"},
		{Name: "num_cayley_neumann_terms", Kind: Int, Default: 5, Min: 1, Max: 64, Doc: "terms of the Neumann series (PEFT's default 5)"},
		{Name: "module_dropout", Kind: Float, Default: 0.0, Min: 0, Max: 1, Doc: "PEFT's multiplicative block dropout: only 0 is supported"},
		{Name: "coft", Kind: Bool, Default: false, Doc: "PEFT's constrained OFT: only false is supported"},
		{Name: "eps", Kind: Float, Default: 6e-5, Min: 0, Max: math.Inf(1), Doc: "COFT's radius (PEFT's eps); unused without coft"},
		{Name: "block_share", Kind: Bool, Default: false, Doc: "one block shared by every block of a layer (PEFT's block_share): only false is supported"},
		linearTargets("q,v"),
	}
}

// oftCheck refuses the settings this package does not implement, naming
// the field.
func oftCheck(v Values) error {
	switch {
	case v.Int("r") == 0 && v.Int("oft_block_size") == 0:
		return errors.New(`fields "r" and "oft_block_size": one must be non-zero`)
	case v.Int("r") != 0 && v.Int("oft_block_size") != 0:
		return fmt.Errorf(`fields "r" (%d) and "oft_block_size" (%d): give one, not both (r·oft_block_size is the input width), as PEFT asks; set the other to 0`, v.Int("r"), v.Int("oft_block_size"))
	case !v.Bool("use_cayley_neumann"):
		return errors.New(`field "use_cayley_neumann": false (the exact Cayley transform by a linear solve) is not supported; the engine has no solve op`)
	case v.Float("module_dropout") != 0:
		return errors.New(`field "module_dropout": multiplicative block dropout is not supported (only 0)`)
	case v.Bool("coft"):
		return errors.New(`field "coft": constrained OFT is not supported (only false)`)
	case v.Bool("block_share"):
		return errors.New(`field "block_share": sharing one block across a layer is not supported (only false)`)
	}
	return nil
}

// oftAdjust is PEFT's adjust_oft_parameters: the divisor of in nearest p,
// the lower one on a tie; in itself when p ≥ in.
func oftAdjust(in, p int) int {
	if p >= in {
		return in
	}
	higher := p
	for higher <= in && in%higher != 0 {
		higher++
	}
	lower := p
	for lower > 1 && in%lower != 0 {
		lower--
	}
	if p-lower <= higher-p {
		return lower
	}
	return higher
}

// oftSplit is PEFT's update_layer for a linear layer of input width in:
// the number of blocks and their width.
func oftSplit(in, r, size int) (blocks, b int, err error) {
	if r == 0 {
		if in%size != 0 || size > in {
			size = oftAdjust(in, size)
		}
		blocks, b = in/size, size
	} else {
		if in%r != 0 || r > in {
			r = oftAdjust(in, r)
		}
		blocks, b = r, in/r
	}
	if b < 2 {
		return 0, 0, fmt.Errorf(`fields "r" and "oft_block_size": blocks of width %d on a layer of input width %d have nothing to rotate`, b, in)
	}
	return blocks, b, nil
}

// oftPowers is the Neumann series' highest power p and each power's
// coefficient (index k for S^k, k ≥ 1), as PEFT's _cayley_batch sums them.
func oftPowers(terms int) []float64 {
	switch {
	case terms <= 1:
		return nil
	case terms == 2:
		return []float64{0, 2}
	}
	p := max(terms-1, 3)
	c := make([]float64, p+1)
	for k := 1; k < p; k++ {
		c[k] = 2
	}
	c[p] = 1
	return c
}

// oftExpansion is the frozen 0/±1 matrices that build the block-diagonal
// S [in, in] from q [r, n] (n = b(b−1)/2) by the engine's ops:
//
//	S = ((Er·q) ∘ A)·B ∘ M
//
// Er [in, r] copies block k's vector to its b rows; A [in, n] keeps, in row
// k·b+i, the entries whose pair (i, j) holds i, with sign + where i is the
// smaller index and − where it is the larger; B [n, in] sends entry (i, j)
// to columns i and j of every block; M [in, in] keeps the off-diagonal
// entries of the diagonal blocks (B's copies into the row's own column and
// into other blocks are the ones it drops). They are no adapter weights:
// not saved, and shared by the layers of one shape.
type oftExpansion struct{ er, a, b, mask *nn.Param }

func newOFTExpansion(m *model.Model, in, r, b int) *oftExpansion {
	n := b * (b - 1) / 2
	name := fmt.Sprintf("oft_expand_%dx%d", r, b)
	e := &oftExpansion{er: newOwn(m, name+".er", in, r), a: newOwn(m, name+".a", in, n),
		b: newOwn(m, name+".b", n, in), mask: newOwn(m, name+".mask", in, in)}
	er, a, bm, mask := make([]float64, in*r), make([]float64, in*n), make([]float64, n*in), make([]float64, in*in)
	for k := range r {
		for i := range b {
			er[(k*b+i)*r+k] = 1
			for j := range b {
				if i != j {
					mask[(k*b+i)*in+k*b+j] = 1
				}
			}
		}
	}
	l := 0
	for i := range b {
		for j := i + 1; j < b; j++ {
			for k := range r {
				a[(k*b+i)*n+l], a[(k*b+j)*n+l] = 1, -1
				bm[l*in+k*b+i], bm[l*in+k*b+j] = 1, 1
			}
			l++
		}
	}
	for p, vals := range map[*nn.Param][]float64{e.er: er, e.a: a, e.b: bm, e.mask: mask} {
		p.Trainable = false
		SetValues(p, vals)
	}
	return e
}

// oftLayer is one adapted layer: q, PEFT's oft_R.weight [blocks, b(b−1)/2].
type oftLayer struct {
	q         *nn.Param
	blocks, b int
	coef      []float64 // oftPowers
	ex        *oftExpansion
}

// skew is S_k [b, b], row-major, for block k from q's current values.
func (l *oftLayer) skew(q []float64, k int) []float64 {
	b, n := l.b, l.b*(l.b-1)/2
	s := make([]float64, b*b)
	idx := 0
	for i := range b {
		for j := i + 1; j < b; j++ {
			v := q[k*n+idx]
			s[i*b+j], s[j*b+i] = v, -v
			idx++
		}
	}
	return s
}

// rotations are R_1 … R_r [b, b] each, row-major, from q's current values,
// by the series the graph computes.
func (l *oftLayer) rotations() [][]float64 {
	q := nn.Float64s(l.q.Value)
	b := l.b
	out := make([][]float64, l.blocks)
	for k := range out {
		s := l.skew(q, k)
		r := make([]float64, b*b)
		for i := range b {
			r[i*b+i] = 1
		}
		pow := s
		for p := 1; p < len(l.coef); p++ {
			if p > 1 {
				pow = matProduct(pow, s, b, b, b)
			}
			for i := range r {
				r[i] += l.coef[p] * pow[i]
			}
		}
		out[k] = r
	}
	return out
}

type oftHook struct {
	layers map[string]*oftLayer
	order  []string
}

func (oft) Attach(base *model.Base, v Values, _ uint64) (*Attached, error) {
	if err := oftCheck(v); err != nil {
		return nil, err
	}
	m := base.Model
	names, err := linearLayers(m, v.List("targets"))
	if err != nil {
		return nil, err
	}
	h := &oftHook{layers: map[string]*oftLayer{}, order: names}
	expansions := map[[2]int]*oftExpansion{}
	var own []*nn.Param
	for _, name := range names {
		in, _ := linearDims(m, name)
		r, b, err := oftSplit(in, v.Int("r"), v.Int("oft_block_size"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		e, ok := expansions[[2]int{r, b}]
		if !ok {
			e = newOFTExpansion(m, in, r, b)
			expansions[[2]int{r, b}] = e
		}
		// q starts at zero (newOwn's values): R = I.
		l := &oftLayer{q: newOwn(m, name+".oft_R", r, b*(b-1)/2), blocks: r, b: b,
			coef: oftPowers(v.Int("num_cayley_neumann_terms")), ex: e}
		h.layers[name] = l
		own = append(own, l.q)
	}
	m.SetTrainable(false)
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: &oftMerger{m: m, h: h}}, nil
}

// HookLinearInput rotates the layer's input, x [N, in] → x·R = x + x·(R − I),
// with R − I = Σ c_k S^k built densely [in, in] once per graph (the
// block-diagonal S and its powers stay block-diagonal).
func (h *oftHook) HookLinearInput(c *model.Ctx, name string, x *model.Node) (*model.Node, error) {
	l, ok := h.layers[name]
	if !ok || len(l.coef) < 2 {
		return x, nil
	}
	g := c.Graph
	e := l.ex
	rows, err := nn.MatMul(g.Param(e.er), g.Param(l.q), false, false) // [in, n]
	if err != nil {
		return nil, err
	}
	if rows, err = nn.Mul(rows, g.Param(e.a)); err != nil {
		return nil, err
	}
	s, err := nn.MatMul(rows, g.Param(e.b), false, false) // [in, in]
	if err != nil {
		return nil, err
	}
	if s, err = nn.Mul(s, g.Param(e.mask)); err != nil {
		return nil, err
	}
	var sum, pow *model.Node
	for k := 1; k < len(l.coef); k++ {
		if k == 1 {
			pow = s
		} else if pow, err = nn.MatMul(pow, s, false, false); err != nil {
			return nil, err
		}
		term := pow
		if l.coef[k] != 1 {
			if term, err = nn.Scale(pow, l.coef[k]); err != nil {
				return nil, err
			}
		}
		if sum == nil {
			sum = term
		} else if sum, err = nn.Add(sum, term); err != nil {
			return nil, err
		}
	}
	u, err := nn.MatMul(x, sum, false, false)
	if err != nil {
		return nil, err
	}
	return nn.Add(x, u)
}

// oftMerger folds each layer's rotation into its base weight, W ← R·W
// ([in, out]), and zeroes q, so that R = I and the hooks, and programs
// already compiled, compute the merged layers. It keeps copies of both,
// so Unmerge restores them exactly (PEFT's unmerge multiplies by R⁻¹
// instead, which rounds).
type oftMerger struct {
	m     *model.Model
	h     *oftHook
	saved map[*nn.Param][]float64
}

func (om *oftMerger) Merge() error {
	if om.saved != nil {
		return errors.New("methods: oft: already merged")
	}
	om.saved = map[*nn.Param][]float64{}
	for _, name := range om.h.order {
		l := om.h.layers[name]
		w := om.m.Param(name + ".weight")
		_, out := linearDims(om.m, name)
		vals := nn.Float64s(w.Value)
		om.saved[w], om.saved[l.q] = vals, nn.Float64s(l.q.Value)
		merged := make([]float64, len(vals))
		for k, r := range l.rotations() {
			// Rows k·b … k·b+b−1 of R·W mix the same rows of W.
			block := matProduct(r, vals[k*l.b*out:(k+1)*l.b*out], l.b, l.b, out)
			copy(merged[k*l.b*out:], block)
		}
		SetValues(w, merged)
		SetValues(l.q, make([]float64, l.q.Size()))
	}
	return nil
}

func (om *oftMerger) Unmerge() error { return restore(&om.saved, "oft") }

// Footprint: r·b(b−1)/2 weights per adapted layer, in·(b−1)/2. Per token
// only the input cast to the adapter's dtype where that differs from the
// activations' (R's gradient reads the input; the rotated input feeds a
// frozen layer and is not kept). Beside the batch, PEFT's batched products
// keep each adapted layer's S and its powers up to S^(p−1) and R itself for
// the backward pass: about n·in·b values per layer for n terms.
func (oft) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	if err := oftCheck(v); err != nil {
		return nil, err
	}
	L, e, A := a.Layers, a.ActivationBytes, a.AddedBytes
	chosen, skipped, err := projectedTargets(a, v.List("targets"))
	if err != nil {
		return nil, err
	}
	terms := int64(max(v.Int("num_cayley_neumann_terms"), 1))
	fp := &Footprint{First: L, PerToken: make([]int64, L), Skipped: skipped}
	seen := map[string]bool{}
	for _, t := range chosen {
		fp.First = min(fp.First, t.layer)
		for _, l := range a.Linears {
			if l.Ours != t.suffix {
				continue
			}
			r, b, err := oftSplit(l.In, v.Int("r"), v.Int("oft_block_size"))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.Module, err)
			}
			fp.Added += int64(r * b * (b - 1) / 2)
			if A != e {
				fp.PerToken[t.layer] += int64(l.In) * A
			}
			fp.Global += terms * int64(l.In) * int64(b) * A
			if !seen[l.Module] {
				seen[l.Module] = true
				fp.Modules = append(fp.Modules, l.Module)
			}
		}
	}
	fp.Notes = append(fp.Notes, "OFT keeps each adapted layer's skew-symmetric blocks, their Neumann powers and R for the backward pass")
	return fp, nil
}

// Display: sky blue's darker kin, an open diamond (a square turned: a
// rotation).
func (oft) Display() display.Style {
	return display.Style{Order: 28, Color: color.RGBA{0x1f, 0x5f, 0x8b, 0xff}, Marker: display.OpenDiamond}
}

// errOFTGPT2 says why GPT-2's layers have no PEFT OFT file: PEFT's OFT
// wraps torch's Linear and Conv2d layers, not transformers' Conv1D.
var errOFTGPT2 = fmt.Errorf("%w for GPT-2: PEFT's OFT wraps torch.nn.Linear, not the Conv1D modules of GPT-2", ErrNoPEFT)

// PEFT writes OFT as HF PEFT keys it: oft_R.weight [r, b(b−1)/2] per
// module, as stored, with OFTConfig's fields at the values trained with
// (PEFT recomputes each layer's split from r and oft_block_size as
// oftSplit does). Llama's family only (errOFTGPT2).
func (oft) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	if m.Config.Family != model.Llama {
		return nil, nil, errOFTGPT2
	}
	h := a.Hooks[0].(*oftHook)
	tensors := map[string]PEFTTensor{}
	var modules []string
	for _, name := range h.order {
		mod, _, _, err := model.HFModule(m, name)
		if err != nil {
			return nil, nil, err
		}
		modules = append(modules, mod)
		q := h.layers[name].q
		tensors[mod+".oft_R.weight"] = PEFTTensor{Shape: q.Value.Shape().Clone(), Values: nn.Float64s(q.Value)}
	}
	targets, err := peftTargets(m, modules)
	if err != nil {
		return nil, nil, err
	}
	v := a.Values
	return map[string]any{
		"peft_type": "OFT", "r": v.Int("r"), "oft_block_size": v.Int("oft_block_size"), "module_dropout": 0.0,
		"target_modules": targets, "fan_in_fan_out": false, "bias": "none", "exclude_modules": nil, "init_weights": true,
		"layers_to_transform": nil, "layers_pattern": nil, "modules_to_save": nil, "coft": false, "eps": v.Float("eps"),
		"block_share": false, "use_cayley_neumann": true, "num_cayley_neumann_terms": v.Int("num_cayley_neumann_terms"),
	}, tensors, nil
}
