package methods

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// adalora is AdaLoRA (Zhang et al., 2023, arXiv 2303.10512), as HF PEFT's
// ADALORA tuner defines it: each targeted linear layer W gains an update
// in SVD form, y = x·W + b + s·dropout(x)·P·diag(λ)·Q, with P [in, r]
// (PEFT's lora_A, transposed), λ [r] (lora_E) and Q [r, out] (lora_B,
// transposed), r = init_r and s = lora_alpha/(init_r + 1e-5) as PEFT
// scales it (its ranknum stays init_r). λ starts at zero, so training
// starts from the base model exactly; P and Q are normal(0, 0.02).
//
// Two things beside the update make it AdaLoRA. The loss gains
// orth_reg_weight times the mean, over every P and Q, of ‖PᵀP − I‖_F and
// ‖QQᵀ − I‖_F (PEFT's Frobenius norm, not its square). And after every
// optimiser step a rank allocator (the hook's HookStep) scores each
// triplet (P's column, λ's entry, Q's row) by smoothed sensitivity times
// uncertainty and zeroes the λ entries below the budget, which falls
// cubically from init_r to target_r per layer between tinit and
// total_step − tfinal; total_step is the trainer's planned number of
// optimiser steps (the schedule's Total), not a hyper-parameter.
type adalora struct{}

func init() { Register(adalora{}) }

func (adalora) Name() string { return "adalora" }
func (adalora) Doc() string {
	return "AdaLoRA: SVD-form update P·diag(λ)·Q on targeted linear layers, an orthogonality penalty, and λ masked to a cubically falling rank budget"
}

// DefaultLR is LoRA's: the update starts at zero as LoRA's does, and its
// scale alpha/init_r is LoRA's order of magnitude (8/12 against 16/8).
func (adalora) DefaultLR() float64 { return 1e-2 }

func (adalora) Params() []Spec {
	return []Spec{
		{Name: "rank", Kind: Int, Default: 8, Min: 1, Max: 4096, Doc: "target_r: the average rank per layer the budget falls to"},
		{Name: "init_r", Kind: Int, Default: 12, Min: 1, Max: 4096, Doc: "initial rank of every layer's update"},
		{Name: "alpha", Kind: Float, Default: 8.0, Min: 0, Max: math.Inf(1), Doc: "lora_alpha: the update is multiplied by alpha/init_r"},
		{Name: "dropout", Kind: Float, Default: 0.0, Min: 0, Max: 0.99, Doc: "dropout on the update's input while training"},
		{Name: "tinit", Kind: Int, Default: 0, Min: 0, Max: math.Inf(1), Doc: "steps of initial warm-up at the full budget"},
		{Name: "tfinal", Kind: Int, Default: 0, Min: 0, Max: math.Inf(1), Doc: "final steps at the target budget, with the rank pattern fixed"},
		{Name: "deltaT", Kind: Int, Default: 1, Min: 1, Max: math.Inf(1), Doc: "steps between two budget allocations"},
		{Name: "beta1", Kind: Float, Default: 0.85, Min: 0, Max: 1, Doc: "smoothing of the sensitivity |θ·∇θ|"},
		{Name: "beta2", Kind: Float, Default: 0.85, Min: 0, Max: 1, Doc: "smoothing of its uncertainty"},
		{Name: "orth_reg_weight", Kind: Float, Default: 0.5, Min: 0, Max: math.Inf(1), Doc: "weight of the orthogonality penalty in the loss"},
		linearTargets("q,v"),
	}
}

// adaloraLayer is the update of one linear layer.
type adaloraLayer struct {
	p, e, q *nn.Param // [in, r], [r], [r, out]
	scale   float64
}

// delta is s·(P·diag(λ)·Q)ᵀ, [out, in].
func (l *adaloraLayer) delta() []float64 {
	s := l.p.Value.Shape()
	in, r := s[0], s[1]
	out := l.q.Value.Shape()[1]
	p, e, q := nn.Float64s(l.p.Value), nn.Float64s(l.e.Value), nn.Float64s(l.q.Value)
	d := make([]float64, out*in)
	for i := range in {
		for k := range r {
			pk := p[i*r+k] * e[k] * l.scale
			if pk == 0 {
				continue
			}
			for o := range out {
				d[o*in+i] += pk * q[k*out+o]
			}
		}
	}
	return d
}

// adaloraHook adds the updates, the penalty, and allocates the ranks.
type adaloraHook struct {
	layers  map[string]*adaloraLayer
	order   []string
	dropout float64
	seed    uint64
	// The penalty's constants, per dtype of the graph: −I [r, r], a row of
	// ones [1, r] and a one [1, 1], frozen.
	negEye, onesRow, one *nn.Param
	orth                 float64
	alloc                *rankAllocator
}

func (adalora) Attach(base *model.Base, v Values, seed uint64) (*Attached, error) {
	m := base.Model
	names, err := linearLayers(m, v.List("targets"))
	if err != nil {
		return nil, err
	}
	r, target := v.Int("init_r"), v.Int("rank")
	if target > r {
		return nil, fmt.Errorf("field \"rank\": target_r %d exceeds init_r %d", target, r)
	}
	if v.Float("orth_reg_weight") <= 0 {
		return nil, fmt.Errorf("field \"orth_reg_weight\": must be positive, as PEFT requires")
	}
	for _, b := range []string{"beta1", "beta2"} {
		if x := v.Float(b); x <= 0 || x >= 1 {
			return nil, fmt.Errorf("field %q: %v is not in (0, 1)", b, x)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0xada))
	h := &adaloraHook{layers: map[string]*adaloraLayer{}, order: names, dropout: v.Float("dropout"), seed: seed,
		orth: v.Float("orth_reg_weight")}
	var own []*nn.Param
	for _, name := range names {
		in, out := linearDims(m, name)
		l := &adaloraLayer{p: newOwn(m, name+".lora_A", in, r), e: newOwn(m, name+".lora_E", r), q: newOwn(m, name+".lora_B", r, out),
			scale: adaloraScale(v)}
		// PEFT's order: E zero, then A and B normal(0, 0.02).
		normalInit(l.p, rng, 0.02)
		normalInit(l.q, rng, 0.02)
		h.layers[name] = l
		own = append(own, l.p, l.e, l.q)
	}
	h.negEye, h.onesRow, h.one = newOwn(m, "adalora.neg_eye", r, r), newOwn(m, "adalora.ones", 1, r), newOwn(m, "adalora.one", 1, 1)
	eye := make([]float64, r*r)
	for i := range r {
		eye[i*r+i] = -1
	}
	SetValues(h.negEye, eye)
	SetValues(h.onesRow, slices.Repeat([]float64{1}, r))
	SetValues(h.one, []float64{1})
	for _, c := range []*nn.Param{h.negEye, h.onesRow, h.one} {
		c.Trainable = false
	}
	h.alloc = newRankAllocator(h, v)
	m.SetTrainable(false)
	mg := &deltaMerger{m: m, method: "adalora", order: names,
		delta: func(name string) []float64 { return h.layers[name].delta() },
		zero:  func(name string) *nn.Param { return h.layers[name].e }}
	return &Attached{Hooks: []model.Hook{h}, Own: own, Merger: mg}, nil
}

// adaloraScale is PEFT's lora_alpha/(ranknum + 1e-5), ranknum = init_r
// (lora_alpha 0 means init_r, as PEFT reads it).
func adaloraScale(v Values) float64 {
	r, alpha := float64(v.Int("init_r")), v.Float("alpha")
	if alpha <= 0 {
		alpha = r
	}
	return alpha / (r + 1e-5)
}

func (h *adaloraHook) HookLinear(c *model.Ctx, name string, x, y *model.Node) (*model.Node, error) {
	l, ok := h.layers[name]
	if !ok {
		return y, nil
	}
	x, err := layerDropout(c, name, x, h.dropout, h.seed)
	if err != nil {
		return nil, err
	}
	g := c.Graph
	xp, err := nn.MatMul(x, g.Param(l.p), false, false)
	if err != nil {
		return nil, err
	}
	if xp, err = nn.ScaleColumns(xp, g.Param(l.e)); err != nil {
		return nil, err
	}
	u, err := nn.MatMul(xp, g.Param(l.q), false, false)
	if err != nil {
		return nil, err
	}
	if u, err = nn.Scale(u, l.scale); err != nil {
		return nil, err
	}
	return nn.Add(y, u)
}

// HookLoss adds orth_reg_weight·mean(‖PᵀP − I‖_F, ‖QQᵀ − I‖_F over every
// layer's P and Q) to the loss, as PEFT's AdaLoraModel.forward does with
// its lora_A·lora_Aᵀ and lora_Bᵀ·lora_B (the same r×r products).
func (h *adaloraHook) HookLoss(c *model.Ctx, loss *model.Node) (*model.Node, error) {
	var sum *model.Node
	for _, name := range h.order {
		l := h.layers[name]
		for _, f := range []struct {
			w      *nn.Param
			ta, tb bool
		}{{l.p, true, false}, {l.q, false, true}} {
			w := c.Graph.Param(f.w)
			n, err := h.orthNorm(c, w, f.ta, f.tb)
			if err != nil {
				return nil, err
			}
			if sum == nil {
				sum = n
			} else if sum, err = nn.Add(sum, n); err != nil {
				return nil, err
			}
		}
	}
	pen, err := nn.Scale(sum, h.orth/float64(2*len(h.order)))
	if err != nil {
		return nil, err
	}
	return nn.AddPenalty(loss, pen)
}

// orthNorm is ‖op(w)·op'(w) − I‖_F as a vector of one, from the engine's
// ops: the column norms of the difference, laid out as a column by a
// row of ones and a product, and that column's norm.
func (h *adaloraHook) orthNorm(c *model.Ctx, w *model.Node, ta, tb bool) (*model.Node, error) {
	g := c.Graph
	cov, err := nn.MatMul(w, w, ta, tb)
	if err != nil {
		return nil, err
	}
	if cov, err = nn.Add(cov, g.Param(h.negEye)); err != nil {
		return nil, err
	}
	cols, err := nn.ColNorm(cov)
	if err != nil {
		return nil, err
	}
	row, err := nn.ScaleColumns(g.Param(h.onesRow), cols)
	if err != nil {
		return nil, err
	}
	col, err := nn.MatMul(row, g.Param(h.one), true, false)
	if err != nil {
		return nil, err
	}
	return nn.ColNorm(col)
}

// HookStep runs the rank allocator after each optimiser step.
func (h *adaloraHook) HookStep(step, total int, grad func(*nn.Param) ([]float64, error)) (bool, error) {
	return h.alloc.step(step, total, grad)
}

// RankPattern is the allocator's last rank pattern: per adapted layer,
// which of its init_r triplets are kept (nil before the first masking).
func (h *adaloraHook) RankPattern() map[string][]bool { return h.alloc.pattern }

// rankAllocator is PEFT's RankAllocator with AdaLoraModel.update_and_allocate
// around it.
type rankAllocator struct {
	h                        *adaloraHook
	tinit, tfinal, deltaT    int
	beta1, beta2             float64
	initBudget, targetBudget int
	expIpt, expUnc           map[*nn.Param][]float64
	pattern                  map[string][]bool
	total                    int // the trainer's planned steps, as last told
}

func newRankAllocator(h *adaloraHook, v Values) *rankAllocator {
	n := len(h.order)
	return &rankAllocator{h: h, tinit: v.Int("tinit"), tfinal: v.Int("tfinal"), deltaT: v.Int("deltaT"),
		beta1: v.Float("beta1"), beta2: v.Float("beta2"),
		initBudget: v.Int("init_r") * n, targetBudget: v.Int("rank") * n}
}

// budget is PEFT's budget_schedule at step: the whole budget up to tinit,
// the target after total − tfinal, and between them the cubic
// (init − target)·(1 − (step − tinit)/(total − tfinal − tinit))³ + target,
// truncated, with a masking every deltaT steps.
func (ra *rankAllocator) budget(step, total int) (int, bool) {
	switch {
	case step <= ra.tinit:
		return ra.initBudget, false
	case step > total-ra.tfinal:
		return ra.targetBudget, true
	}
	mul := 1 - float64(step-ra.tinit)/float64(total-ra.tfinal-ra.tinit)
	b := int(float64(ra.initBudget-ra.targetBudget)*mul*mul*mul + float64(ra.targetBudget))
	return b, step%ra.deltaT == 0
}

func (ra *rankAllocator) step(step, total int, grad func(*nn.Param) ([]float64, error)) (bool, error) {
	if total <= 0 {
		return false, fmt.Errorf("adalora: the rank allocator needs the trainer's planned number of steps (its schedule's Total)")
	}
	if ra.tinit >= total-ra.tfinal {
		return false, fmt.Errorf("adalora: tinit %d leaves no budgeting phase before total_step %d − tfinal %d", ra.tinit, total, ra.tfinal)
	}
	ra.total = total
	if step == 0 { // a fresh fit: PEFT's allocator starts with its model
		ra.expIpt, ra.expUnc, ra.pattern = map[*nn.Param][]float64{}, map[*nn.Param][]float64{}, nil
	}
	end := total - ra.tfinal
	switch {
	case step < end:
		if err := ra.updateIpt(grad); err != nil {
			return false, err
		}
		b, mask := ra.budget(step, total)
		if !mask {
			return false, nil
		}
		ra.pattern = ra.maskToBudget(b)
	case step == end:
		b, _ := ra.budget(step, total)
		ra.pattern = ra.maskToBudget(b)
		ra.expIpt, ra.expUnc = map[*nn.Param][]float64{}, map[*nn.Param][]float64{}
	default:
		ra.maskByPattern()
	}
	return true, nil
}

// updateIpt smooths every weight's sensitivity |θ·∇θ| with beta1 and its
// uncertainty |sensitivity − smoothed| with beta2.
func (ra *rankAllocator) updateIpt(grad func(*nn.Param) ([]float64, error)) error {
	for _, name := range ra.h.order {
		l := ra.h.layers[name]
		for _, p := range []*nn.Param{l.p, l.e, l.q} {
			g, err := grad(p)
			if err != nil {
				return err
			}
			if g == nil {
				return fmt.Errorf("adalora: %s received no gradient", p.Name)
			}
			if ra.expIpt[p] == nil {
				ra.expIpt[p], ra.expUnc[p] = make([]float64, p.Size()), make([]float64, p.Size())
			}
			ei, eu := ra.expIpt[p], ra.expUnc[p]
			for i, x := range nn.Float64s(p.Value) {
				ipt := math.Abs(x * g[i])
				ei[i] = ra.beta1*ei[i] + (1-ra.beta1)*ipt
				eu[i] = ra.beta2*eu[i] + (1-ra.beta2)*math.Abs(ipt-ei[i])
			}
		}
	}
	return nil
}

// score is a weight's smoothed sensitivity times its uncertainty, 0 for
// a weight not yet scored.
func (ra *rankAllocator) score(p *nn.Param) []float64 {
	s := make([]float64, p.Size())
	for i := range s {
		if ra.expIpt[p] != nil {
			s[i] = ra.expIpt[p][i] * ra.expUnc[p][i]
		}
	}
	return s
}

// triplets scores each of a layer's triplets: λ's entry's score plus the
// mean score of P's column and of Q's row (PEFT's lora_A row, lora_B
// column).
func (ra *rankAllocator) triplets(l *adaloraLayer) []float64 {
	sp, se, sq := ra.score(l.p), ra.score(l.e), ra.score(l.q)
	r := len(se)
	in, out := len(sp)/r, len(sq)/r
	t := make([]float64, r)
	for k := range r {
		var a, b float64
		for i := range in {
			a += sp[i*r+k]
		}
		for o := range out {
			b += sq[k*out+o]
		}
		t[k] = se[k] + a/float64(in) + b/float64(out)
	}
	return t
}

// maskToBudget zeroes every λ entry whose triplet scores at or below the
// (initBudget − budget)-th smallest score of all layers (PEFT's kthvalue
// and masked_fill_ on ≤), and returns which entries stay.
func (ra *rankAllocator) maskToBudget(budget int) map[string][]bool {
	scores := map[string][]float64{}
	var all []float64
	for _, name := range ra.h.order {
		scores[name] = ra.triplets(ra.h.layers[name])
		all = append(all, scores[name]...)
	}
	threshold := math.Inf(-1) // nothing to mask
	if k := ra.initBudget - budget; k > 0 {
		sort.Float64s(all)
		threshold = all[min(k, len(all))-1]
	}
	pattern := map[string][]bool{}
	for _, name := range ra.h.order {
		keep := make([]bool, len(scores[name]))
		for k, s := range scores[name] {
			keep[k] = s > threshold
		}
		pattern[name] = keep
	}
	ra.pattern = pattern
	ra.maskByPattern()
	return pattern
}

// maskByPattern zeroes the λ entries the rank pattern drops.
func (ra *rankAllocator) maskByPattern() {
	for name, keep := range ra.pattern {
		e := ra.h.layers[name].e
		vals := nn.Float64s(e.Value)
		for k, ok := range keep {
			if !ok {
				vals[k] = 0
			}
		}
		SetValues(e, vals)
	}
}

// Footprint: init_r·(in + out + 1) weights per adapted linear layer, and
// the backward pass runs from the earliest adapted block. Per token each
// adapted layer keeps x·P and its λ-scaled copy (r wide each, for λ's and
// Q's gradients), its input cast to the adapter's dtype where that differs
// from the activations' for P's gradient, and with dropout the dropped
// input and its mask.
func (adalora) Footprint(a ProjectionArch, v Values) (*Footprint, error) {
	L, e, A := a.Layers, a.ActivationBytes, a.AddedBytes
	r := int64(v.Int("init_r"))
	dropout := v.Float("dropout") > 0
	chosen, skipped, err := projectedTargets(a, v.List("targets"))
	if err != nil {
		return nil, err
	}
	fp := &Footprint{First: L, PerToken: make([]int64, L), Skipped: skipped}
	seen := map[string]bool{}
	for _, t := range chosen {
		fp.First = min(fp.First, t.layer)
		for _, l := range a.Linears {
			if l.Ours != t.suffix {
				continue
			}
			in, out := int64(l.In), int64(l.Out)
			fp.Added += r * (in + out + 1)
			tok := 2 * r * A // x·P and x·P·diag(λ)
			if A != e {
				tok += in * A
			}
			if dropout {
				tok += in * (A + 1)
			}
			fp.PerToken[t.layer] += tok
			if !seen[l.Module] {
				seen[l.Module] = true
				fp.Modules = append(fp.Modules, l.Module)
			}
		}
	}
	fp.Notes = append(fp.Notes, "AdaLoRA's masked triplets keep their weights (PEFT masks λ and does not resize): the count is init_r's")
	return fp, nil
}

// Display: LoRA's blue darkened, an open triangle.
func (adalora) Display() display.Style {
	return display.Style{Order: 21, Color: color.RGBA{0x00, 0x4c, 0x7a, 0xff}, Marker: display.OpenTriangle}
}

// errAdaLoRAFused says why GPT-2's c_attn cannot hold two or three of q, k
// and v adapted: PEFT gives a module one SVD triplet set of init_r, with
// its rank_pattern a list of init_r, so the layers' triplets cannot be
// stacked as LoRA's are.
var errAdaLoRAFused = fmt.Errorf("%w for AdaLoRA on more than one of GPT-2's q, k and v: PEFT's fused c_attn has one set of init_r triplets", ErrNoPEFT)

// PEFT writes AdaLoRA as PEFT's save_pretrained does: per module lora_A
// [k, in], lora_E [k, 1] and lora_B [out, k] (ParameterDict entries: no
// ".weight"), cut to the k triplets the rank pattern keeps
// (resize_state_dict_by_rank_pattern), and the pattern in rank_pattern,
// keyed by the module's path and ".lora_E" (widened by any triplet whose
// λ is not zero, so that the file holds the model's update exactly);
// before any masking, every
// init_r triplet and rank_pattern null. A module with every triplet
// masked keeps its first, λ zero (the safetensors writer here holds no
// empty tensor). A GPT-2 c_attn with one of q, k, v
// adapted holds it in its columns; with more, errAdaLoRAFused.
func (adalora) PEFT(a *Attached, m *model.Model) (map[string]any, map[string]PEFTTensor, error) {
	h := a.Hooks[0].(*adaloraHook)
	tensors := map[string]PEFTTensor{}
	var modules []string
	seen := map[string]bool{}
	pattern := map[string]any{}
	for _, name := range h.order {
		mod, col, width, err := model.HFModule(m, name)
		if err != nil {
			return nil, nil, err
		}
		if seen[mod] {
			return nil, nil, errAdaLoRAFused
		}
		seen[mod] = true
		modules = append(modules, mod)
		l := h.layers[name]
		s := l.p.Value.Shape()
		in, r := s[0], s[1]
		out := l.q.Value.Shape()[1]
		full := out
		if width > 0 {
			full = 3 * width
		}
		p, e, q := nn.Float64s(l.p.Value), nn.Float64s(l.e.Value), nn.Float64s(l.q.Value)
		// The allocator's pattern, widened by any triplet whose λ is not
		// zero (an earlier epoch restored by selection, or λ regrown
		// since the last masking when deltaT > 1): the file is the
		// update the model holds, where PEFT's save would drop those.
		var keep []bool
		if pat := h.alloc.pattern[name]; pat != nil {
			keep = make([]bool, r)
			for k := range r {
				keep[k] = pat[k] || e[k] != 0
			}
		}
		var idx []int
		for k := range r {
			if keep == nil || keep[k] {
				idx = append(idx, k)
			}
		}
		if len(idx) == 0 {
			// Every triplet masked: PEFT would write empty tensors, which
			// the safetensors writer here cannot hold; keep the first
			// triplet with λ zero, the same update.
			keep, idx = slices.Clone(keep), []int{0}
			keep[0], e[0] = true, 0
		}
		n := len(idx)
		la, le, lb := make([]float64, n*in), make([]float64, n), make([]float64, full*n)
		for j, k := range idx {
			for i := range in {
				la[j*in+i] = p[i*r+k]
			}
			le[j] = e[k]
			for o := range out {
				lb[(col+o)*n+j] = q[k*out+o]
			}
		}
		tensors[mod+".lora_A"] = PEFTTensor{Shape: []int{n, in}, Values: la}
		tensors[mod+".lora_E"] = PEFTTensor{Shape: []int{n, 1}, Values: le}
		tensors[mod+".lora_B"] = PEFTTensor{Shape: []int{full, n}, Values: lb}
		if keep != nil {
			pattern[mod+".lora_E"] = keep
		}
	}
	targets, err := peftTargets(m, modules)
	if err != nil {
		return nil, nil, err
	}
	v := a.Values
	var rankPattern, totalStep any
	if len(pattern) > 0 {
		rankPattern = pattern
	}
	if h.alloc.total > 0 {
		totalStep = h.alloc.total
	}
	cfg := map[string]any{
		"peft_type": "ADALORA", "r": v.Int("init_r"), "init_r": v.Int("init_r"), "target_r": v.Int("rank"),
		"tinit": v.Int("tinit"), "tfinal": v.Int("tfinal"), "deltaT": v.Int("deltaT"), "beta1": v.Float("beta1"),
		"beta2": v.Float("beta2"), "orth_reg_weight": v.Float("orth_reg_weight"), "total_step": totalStep,
		"lora_alpha": v.Float("alpha"), "lora_dropout": v.Float("dropout"), "target_modules": targets,
		"fan_in_fan_out": m.Config.Family == model.GPT2, "bias": "none", "init_lora_weights": true,
		"use_rslora": false, "use_dora": false, "modules_to_save": nil, "layers_to_transform": nil,
		"layers_pattern": nil, "rank_pattern": rankPattern, "alpha_pattern": map[string]any{},
	}
	return cfg, tensors, nil
}

// adaloraFromPEFT reads AdaLoRA's lora_A [k, in], lora_E [k, 1] and
// lora_B [out, k] per module, k the triplets its rank_pattern entry
// (module path + ".lora_E", a list of init_r) keeps, or init_r without
// one, and returns their setter: the kept triplets go back to their
// places among init_r, the dropped ones stay zero (λ, P and Q), and the
// allocator holds the pattern. GPT-2's fused c_attn is refused: which of
// q, k and v its columns adapt is not in the file.
func adaloraFromPEFT(m *model.Model, settings map[string]any, rankPattern any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	names := []string{"lora_A", "lora_E", "lora_B"}
	r := 12
	if n, ok := settings["init_r"]; ok {
		r = int(toFloat(n))
	}
	patterns, _ := rankPattern.(map[string]any)
	type src struct {
		t    map[string]PEFTTensor
		keep []bool
		mod  string
	}
	srcs := map[string]src{}
	var targets []any
	err := peftModules(m, get, names, func(p *peftModule) error {
		if p.width > 0 {
			return fmt.Errorf("%s: an AdaLoRA adapter on GPT-2's fused c_attn cannot be read here (which of q, k and v it adapts is not in the file)", p.key)
		}
		if err := p.need(names...); err != nil {
			return err
		}
		keep := make([]bool, r)
		n := r
		if raw, ok := patterns[p.mod+".lora_E"]; ok {
			list, ok := raw.([]any)
			if !ok || len(list) != r {
				return fmt.Errorf("rank_pattern[%q] is %v, not a list of init_r = %d", p.mod+".lora_E", raw, r)
			}
			n = 0
			for k, b := range list {
				keep[k], _ = b.(bool)
				if keep[k] {
					n++
				}
			}
		} else {
			for k := range keep {
				keep[k] = true
			}
		}
		for s, want := range map[string][]int{"lora_A": {n, p.in}, "lora_E": {n, 1}, "lora_B": {p.out, n}} {
			if t := p.tensors[s]; !slices.Equal(t.Shape, want) {
				return fmt.Errorf("%s.%s has shape %v, not %v (a %d×%d layer keeping %d of init_r = %d triplets)", p.key, s, t.Shape, want, p.out, p.in, n, r)
			}
		}
		srcs[p.name] = src{p.tensors, keep, p.mod}
		targets = append(targets, p.name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no lora_A, lora_E and lora_B tensors of a module of the base model")
	}
	settings["init_r"], settings["targets"] = r, compactTargets(m.Config, targets)
	return func(a *Attached) error {
		h := a.Hooks[0].(*adaloraHook)
		masked := false
		pattern := map[string][]bool{}
		for name, s := range srcs {
			l := h.layers[name]
			in, out := l.p.Value.Shape()[0], l.q.Value.Shape()[1]
			P, E, Q := make([]float64, in*r), make([]float64, r), make([]float64, r*out)
			A, e, B := s.t["lora_A"].Values, s.t["lora_E"].Values, s.t["lora_B"].Values
			n := len(e)
			j := 0
			for k, ok := range s.keep {
				if !ok {
					masked = true
					continue
				}
				for i := range in {
					P[i*r+k] = A[j*in+i]
				}
				E[k] = e[j]
				for o := range out {
					Q[k*out+o] = B[o*n+j]
				}
				j++
			}
			SetValues(l.p, P)
			SetValues(l.e, E)
			SetValues(l.q, Q)
			pattern[name] = s.keep
		}
		if masked {
			h.alloc.pattern = pattern
		}
		return nil
	}, nil
}
