package methods

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/nlpodyssey/safetensors"
	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/x448/float16"
)

// LoadPEFT reads a Hugging Face PEFT adapter folder (adapter_config.json,
// adapter_model.safetensors), trained here or anywhere else, and attaches
// it to base as this package's method of its peft_type (LoRA, DoRA, VeRA,
// LN tuning, IA3, LoHa, LoKr, OFT, prompt and prefix tuning, and P-tuning
// as prompt tuning: every format SavePEFT writes), its weights set from the
// file: the inverse of SavePEFT, so the attached method computes what
// PeftModel computes. Which layers (or norms) are adapted is
// read from the tensors (target_modules may be a regular expression to
// PEFT); every other config field must be one the method supports
// (FromPEFTConfig), and every tensor must belong to a module of the base
// model.
func LoadPEFT(base *model.Base, dir string) (*Attached, error) {
	cfgFile := filepath.Join(dir, PEFTConfigFile)
	raw, err := os.ReadFile(cfgFile)
	if err != nil {
		return nil, fmt.Errorf("methods: %w", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("methods: %s: %w", cfgFile, err)
	}
	method := peftMethod(cfg)
	switch method {
	case "lora", "dora", "vera", "lntuning", "ia3", "prompt", "loha", "lokr", "oft", "prefix", "ptuning", "adalora":
	case "": // no PEFT type of this package's: fromPEFT's error lists them
	default:
		return nil, fmt.Errorf("methods: %s: field \"peft_type\": %v adapters (method %s here) cannot be loaded yet (LORA, with or without use_dora, VERA, LN_TUNING, IA3, LOHA, LOKR, OFT, ADALORA, PROMPT_TUNING, P_TUNING and PREFIX_TUNING can)", cfgFile, cfg["peft_type"], method)
	}
	lowRank := method == "lora" || method == "dora"
	rest := map[string]any{}
	for k, v := range cfg {
		// A P_TUNING file holds the encoder's output alone (ptuning.PEFT),
		// which PEFT in inference mode uses as it is, building no encoder:
		// the encoder's fields describe what made it, whatever they say
		// (an LSTM's adapter loads too).
		encoder := method == "ptuning" && strings.HasPrefix(k, "encoder_")
		if k != "target_modules" && k != "feedforward_modules" && !(lowRank && (k == "rank_pattern" || k == "alpha_pattern")) && !encoder &&
			!(method == "adalora" && k == "rank_pattern") {
			rest[k] = v
		}
	}
	settings, err := fromPEFT(method, cfgFile, rest)
	if err != nil {
		return nil, err
	}
	if method == "prefix" {
		// PEFT's token_dim for a prefix is the key/value width, and
		// num_attention_heads the key/value heads (grouped queries).
		m := base.Model
		if err := prefixPEFTCheck(m); err != nil {
			return nil, fmt.Errorf("methods: %s: %w", dir, err)
		}
		for _, f := range []struct {
			field string
			want  int
		}{{"num_layers", m.Config.Layers}, {"token_dim", m.Config.DKV()}, {"num_attention_heads", m.Config.KV()}} {
			if v, ok := cfg[f.field]; ok && v != nil && toFloat(v) != float64(f.want) {
				return nil, fmt.Errorf("methods: %s: field %q is %v; the base model's is %d (a prefix's token_dim is the key/value width, num_attention_heads the key/value heads)", cfgFile, f.field, v, f.want)
			}
		}
	}
	wFile := filepath.Join(dir, PEFTWeightsFile)
	tensors, err := readPEFTTensors(wFile)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	get := func(key string) (PEFTTensor, bool) {
		t, ok := tensors[key]
		if ok {
			used[key] = true
		}
		return t, ok
	}
	m := base.Model
	var set func(a *Attached) error
	attachAs := method
	switch method {
	case "lora", "dora":
		set, err = loraFromPEFT(m, settings, loraPatternsOf(cfg), get, method == "dora")
	case "vera":
		set, err = veraFromPEFT(m, settings, get)
	case "lntuning":
		set, err = lnFromPEFT(m, settings, get)
	case "ia3":
		set, err = ia3FromPEFT(m, settings, get)
	case "prompt":
		set, err = promptFromPEFT(m, settings, get)
	case "ptuning":
		// PEFT's P_TUNING file holds the virtual tokens, not the encoder
		// that made them: it loads as the prompt tuning they are.
		set, err = promptFromPEFT(m, settings, get)
		attachAs = "prompt"
	case "loha":
		set, err = lohaFromPEFT(m, settings, get)
	case "lokr":
		set, err = lokrFromPEFT(m, settings, get)
	case "oft":
		set, err = oftFromPEFT(m, settings, get)
	case "prefix":
		set, err = prefixFromPEFT(m, settings, get)
	case "adalora":
		set, err = adaloraFromPEFT(m, settings, cfg["rank_pattern"], get)
	}
	if err != nil {
		return nil, fmt.Errorf("methods: %s: %w", wFile, err)
	}
	var extra []string
	for k := range tensors {
		if !used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, fmt.Errorf("methods: %s: tensor %q belongs to no module this %s adapter can adapt in the base model", wFile, extra[0], method)
	}
	a, err := Attach(base, attachAs, settings, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := set(a); err != nil {
		return nil, fmt.Errorf("methods: %s: %w", wFile, err)
	}
	return a, nil
}

// PEFTHash is the content hash of an adapter folder: the hex SHA-256,
// shortened to 16 characters, of its config and weights files' names and
// SHA-256s, as model.ContentHash hashes a model.
func PEFTHash(dir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{PEFTConfigFile, PEFTWeightsFile} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("methods: %w", err)
		}
		fmt.Fprintf(h, "%s %x\n", name, sha256.Sum256(raw))
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// loraPatterns are a LoRA config's rank_pattern and alpha_pattern: a rank
// and an alpha per module, keyed by a module name or its last parts.
type loraPatterns struct{ rank, alpha map[string]any }

func loraPatternsOf(cfg map[string]any) loraPatterns {
	p := loraPatterns{}
	p.rank, _ = cfg["rank_pattern"].(map[string]any)
	p.alpha, _ = cfg["alpha_pattern"].(map[string]any)
	return p
}

// of returns the pattern's value for module mod (a full module path), as
// PEFT matches keys: the key is the path or ends it after a dot.
func (loraPatterns) of(pattern map[string]any, mod string, def float64) float64 {
	for k, v := range pattern {
		if mod == k || strings.HasSuffix(mod, "."+k) {
			return toFloat(v)
		}
	}
	return def
}

// loraFromPEFT finds the layers an adapter's lora_A and lora_B adapt and
// returns the setter of their A [in, r] = lora_Aᵀ and B [r, out] =
// lora_Bᵀ (GPT-2's fused c_attn: B's rows of the layer's columns, a layer
// whose rows are all zero left out, as it has no update). With dora, each
// module's lora_magnitude_vector [out] sets its layers' magnitudes; a
// fused part is left out only when its magnitude is also its weight's
// column norms, for otherwise DoRA rescales it even without an update.
func loraFromPEFT(m *model.Model, settings map[string]any, pat loraPatterns, get func(string) (PEFTTensor, bool), dora bool) (func(*Attached) error, error) {
	type src struct {
		a, b       PEFTTensor
		col, width int
		R          int       // the module's rank in the file
		ranks      []int     // the rank components of the module's that this layer uses
		mag        []float64 // DoRA: the layer's part of the magnitude
	}
	srcs := map[string]src{}
	var targets []any
	r, scale := 0, 0.0 // the largest rank in the file; the update's scale, alpha/rank
	err := peftModules(m, get, []string{"lora_A.weight", "lora_B.weight"}, func(p *peftModule) error {
		if err := p.need("lora_A.weight", "lora_B.weight"); err != nil {
			return err
		}
		name, mod, key, col, width, in, out, full := p.name, p.mod, p.key, p.col, p.width, p.in, p.out, p.full
		A, B := p.tensors["lora_A.weight"], p.tensors["lora_B.weight"]
		if len(A.Shape) != 2 || len(B.Shape) != 2 || A.Shape[1] != in || B.Shape[0] != full || B.Shape[1] != A.Shape[0] {
			return fmt.Errorf("%s: lora_A %v and lora_B %v do not fit a %d×%d layer", key, A.Shape, B.Shape, in, full)
		}
		var mag []float64
		if dora {
			M, ok := get(key + ".lora_magnitude_vector")
			if !ok {
				M, ok = get(key + ".lora_magnitude_vector.weight") // older PEFT's key
			}
			if !ok {
				return fmt.Errorf("%s has lora_A and lora_B but no lora_magnitude_vector, which a DoRA adapter (use_dora) has for every module", key)
			}
			if !slices.Equal(M.Shape, []int{full}) {
				return fmt.Errorf("%s: lora_magnitude_vector has shape %v, not [%d]", key, M.Shape, full)
			}
			mag = M.Values[col : col+out]
		}
		R := A.Shape[0]
		if want := int(pat.of(pat.rank, mod, toFloat(settings["rank"]))); want != R && settings["rank"] != nil {
			return fmt.Errorf("%s: rank %d, but adapter_config.json gives it %d (r or rank_pattern)", key, R, want)
		}
		if _, ok := settings["alpha"]; !ok {
			return fmt.Errorf("%s has no lora_alpha", PEFTConfigFile)
		}
		alpha := pat.of(pat.alpha, mod, toFloat(settings["alpha"]))
		s := alpha / float64(R)
		if settings["rslora"] == true {
			s = alpha / math.Sqrt(float64(R))
		}
		if scale == 0 {
			scale = s
		} else if math.Abs(s-scale) > 1e-12*math.Abs(scale) {
			return fmt.Errorf("%s: scale %v, other modules %v: LoRA here has one scale for every layer", key, s, scale)
		}
		r = max(r, R)
		if width > 0 && allEqual(B.Values[col*R:(col+width)*R], 0) && (!dora || normsOf(m, name, mag)) {
			return nil // a fused module's part without an update
		}
		srcs[name] = src{A, B, col, width, R, nil, mag}
		targets = append(targets, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no lora_A/lora_B tensor of a module of the base model")
	}
	// A fused module whose layers' updates were stacked (SavePEFT's q and
	// v in GPT-2's c_attn, each with its own A, its rank in rank_pattern)
	// uses only some of its rank components in each layer: when every
	// layer uses as many, that is the rank. A component is used where B is
	// non-zero. Otherwise every module must have one rank.
	used := -1
	same := true
	for name, s := range srcs {
		_, out := linearDims(m, name)
		for j := 0; j < s.R; j++ {
			for o := 0; o < out; o++ {
				if s.b.Values[(s.col+o)*s.R+j] != 0 {
					s.ranks = append(s.ranks, j)
					break
				}
			}
		}
		srcs[name] = s
		if used == -1 || used == len(s.ranks) {
			used = len(s.ranks)
		} else {
			used = 0
		}
		same = same && s.R == r
	}
	rank := used
	if used <= 0 {
		if !same {
			return nil, fmt.Errorf("modules of ranks up to %d whose layers use different ranks: LoRA here has one rank", r)
		}
		rank = r
		for name, s := range srcs {
			s.ranks = nil
			for j := 0; j < s.R; j++ {
				s.ranks = append(s.ranks, j)
			}
			srcs[name] = s
		}
	}
	if settings["rslora"] == true {
		settings["alpha"] = scale * math.Sqrt(float64(rank))
	} else {
		settings["alpha"] = scale * float64(rank)
	}
	settings["rank"], settings["targets"] = rank, compactTargets(m.Config, targets)
	return func(a *Attached) error {
		for name, s := range srcs {
			var l *loraLayer
			switch h := a.Hooks[0].(type) {
			case *loraHook:
				l = h.layers[name]
			case *doraHook:
				l = h.layers[name].loraLayer
				SetValues(h.layers[name].mag, s.mag)
			}
			in, out := linearDims(m, name)
			av, bv := make([]float64, in*rank), make([]float64, rank*out)
			for x := 0; x < in; x++ {
				for j, k := range s.ranks {
					av[x*rank+j] = s.a.Values[k*in+x]
				}
			}
			for j, k := range s.ranks {
				for o := 0; o < out; o++ {
					bv[j*out+o] = s.b.Values[(s.col+o)*s.R+k]
				}
			}
			SetValues(l.a, av)
			SetValues(l.b, bv)
		}
		return nil
	}, nil
}

// normsOf says whether mag is, within float32 rounding, the column norms
// of the layer's base weight: the magnitude that leaves it unchanged.
func normsOf(m *model.Model, name string, mag []float64) bool {
	for j, n := range colNorms(m.Param(name + ".weight")) {
		if math.Abs(mag[j]-n) > 1e-6*n {
			return false
		}
	}
	return true
}

// veraFromPEFT reads VeRA's shared base_model.vera_A [r, in_max] and
// base_model.vera_B [out_max, r] and each module's vera_lambda_d [r] and
// vera_lambda_b [out], and returns their setter; each layer takes the
// matrices' corners as PEFT slices them (vera_A's first in columns,
// vera_B's rows of the layer's columns in its module). A fused module's
// part whose b is zero has no update and is left out.
func veraFromPEFT(m *model.Model, settings map[string]any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	A, okA := get("base_model.vera_A")
	B, okB := get("base_model.vera_B")
	if !okA || !okB {
		return nil, fmt.Errorf("no base_model.vera_A and base_model.vera_B: VeRA's shared projections must be in the file (save_projection true), as PEFT's regeneration from projection_prng_key with torch's generator is not reproduced here")
	}
	if len(A.Shape) != 2 || len(B.Shape) != 2 || A.Shape[0] != B.Shape[1] {
		return nil, fmt.Errorf("base_model.vera_A %v and base_model.vera_B %v are not [r, in] and [out, r]", A.Shape, B.Shape)
	}
	r := A.Shape[0]
	if n, ok := settings["rank"]; ok && n != r {
		return nil, fmt.Errorf("base_model.vera_A has rank %d, adapter_config.json's r is %v", r, n)
	}
	type src struct {
		mod      string
		col, out int
		b        []float64
	}
	srcs := map[string]src{}
	ds := map[string][]float64{}
	var targets []any
	err := peftModules(m, get, []string{"vera_lambda_b", "vera_lambda_d"}, func(p *peftModule) error {
		if err := p.need("vera_lambda_b", "vera_lambda_d"); err != nil {
			return err
		}
		lb, ld := p.tensors["vera_lambda_b"], p.tensors["vera_lambda_d"]
		if !slices.Equal(lb.Shape, []int{p.full}) || !slices.Equal(ld.Shape, []int{r}) {
			return fmt.Errorf("%s: vera_lambda_b %v and vera_lambda_d %v, not [%d] and [%d]", p.key, lb.Shape, ld.Shape, p.full, r)
		}
		if p.in > A.Shape[1] || p.full > B.Shape[0] {
			return fmt.Errorf("%s is %d×%d, larger than base_model.vera_A %v and base_model.vera_B %v reach", p.key, p.in, p.full, A.Shape, B.Shape)
		}
		part := lb.Values[p.col : p.col+p.out]
		if p.width > 0 && allEqual(part, 0) {
			return nil // a fused module's part without an update
		}
		srcs[p.name] = src{p.mod, p.col, p.out, part}
		ds[p.mod] = ld.Values
		targets = append(targets, p.name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no vera_lambda_b/vera_lambda_d tensor of a module of the base model")
	}
	settings["rank"], settings["targets"] = r, compactTargets(m.Config, targets)
	return func(a *Attached) error {
		h := a.Hooks[0].(*veraHook)
		// The shared matrices as this package stores them, [in_max, r] and
		// [r, out_max], its own maxima no larger than the file's (its
		// layers are the file's, or fewer).
		inMax, outMax := h.sharedA.Value.Shape()[0], h.sharedB.Value.Shape()[1]
		if inMax > A.Shape[1] || outMax > B.Shape[0] {
			return fmt.Errorf("base_model.vera_A %v and base_model.vera_B %v are smaller than the adapted layers' %d inputs and %d outputs", A.Shape, B.Shape, inMax, outMax)
		}
		sa, sb := make([]float64, inMax*r), make([]float64, r*outMax)
		for x := range inMax {
			for k := range r {
				sa[x*r+k] = A.Values[k*A.Shape[1]+x]
			}
		}
		for k := range r {
			for o := range outMax {
				sb[k*outMax+o] = B.Values[o*r+k]
			}
		}
		SetValues(h.sharedA, sa)
		SetValues(h.sharedB, sb)
		for name, s := range srcs {
			l := h.layers[name]
			in := l.a.Value.Shape()[0]
			SetValues(l.a, sa[:in*r])
			corner := make([]float64, r*s.out)
			for k := range r {
				copy(corner[k*s.out:(k+1)*s.out], sb[k*outMax+s.col:k*outMax+s.col+s.out])
			}
			SetValues(l.b, corner)
			SetValues(l.d, ds[s.mod])
			SetValues(l.lb, s.b)
		}
		return nil
	}, nil
}

// lnFromPEFT reads LN tuning's norms, <module>.ln_tuning_layers.weight
// (and .bias for LayerNorm), and returns the setter of the base model's
// norms they replace. The norms group is the least that holds them: a
// norm of the group the file does not hold keeps its base values, which
// is what PEFT computes for a norm it does not tune.
func lnFromPEFT(m *model.Model, settings map[string]any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	vals := map[string][]float64{}
	block, final := false, false
	for _, p := range lnParams(m, "all") {
		dot := strings.LastIndex(p.Name, ".")
		mod, err := hfNorm(m, p.Name[:dot])
		if err != nil {
			return nil, err
		}
		key := "base_model.model." + mod + ".ln_tuning_layers" + p.Name[dot:]
		t, ok := get(key)
		if !ok {
			continue
		}
		if !slices.Equal(t.Shape, []int{p.Size()}) {
			return nil, fmt.Errorf("%s has shape %v, not [%d]", key, t.Shape, p.Size())
		}
		vals[p.Name] = t.Values
		if strings.HasPrefix(p.Name, "ln_f.") {
			final = true
		} else {
			block = true
		}
	}
	switch {
	case block && final:
		settings["norms"] = "all"
	case block:
		settings["norms"] = "blocks"
	case final:
		settings["norms"] = "final"
	default:
		return nil, fmt.Errorf("no ln_tuning_layers tensor of a norm of the base model")
	}
	return func(*Attached) error {
		for name, v := range vals {
			SetValues(m.Param(name), v)
		}
		return nil
	}, nil
}

// ia3FromPEFT reads IA3's vectors: a [n, 1] vector scales a module's
// outputs (k and v here), a [1, n] one a feed-forward module's input (the
// MLP's output layer). A module's part that ia3 cannot scale here (GPT-2's
// q in the fused c_attn, any other layer) must be all ones.
func ia3FromPEFT(m *model.Model, settings map[string]any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	vals := map[string][]float64{}
	want := map[string]bool{}
	err := peftModules(m, get, []string{"ia3_l.weight"}, func(p *peftModule) error {
		l := p.tensors["ia3_l.weight"]
		key, name, i := p.key+".ia3_l.weight", p.name, 0
		fmt.Sscanf(name, "h.%d.", &i)
		var part []float64
		kind := ""
		switch {
		case slices.Equal(l.Shape, []int{p.full, 1}):
			part = l.Values[p.col : p.col+p.out]
			switch strings.TrimPrefix(name, fmt.Sprintf("h.%d.", i)) {
			case "attn.k":
				kind = "k"
			case "attn.v":
				kind = "v"
			}
		case slices.Equal(l.Shape, []int{1, p.in}) && p.width == 0:
			part = l.Values
			if name == m.Config.MLPOut(i) {
				kind = "ff"
			}
		default:
			return fmt.Errorf("%s has shape %v, neither [%d 1] nor [1 %d]", key, l.Shape, p.full, p.in)
		}
		if p.width > 0 && allEqual(part, 1) {
			return nil // a fused module's part left unscaled
		}
		if kind == "" {
			if !allEqual(part, 1) {
				return fmt.Errorf("%s scales %s, which IA3 here does not (it scales the outputs of k and v and the input of the MLP's output layer)", key, name)
			}
			return nil
		}
		want[kind] = true
		vals[name] = part
		return nil
	})
	if err != nil {
		return nil, err
	}
	var targets []any
	for _, k := range []string{"k", "v", "ff"} {
		if want[k] {
			targets = append(targets, k)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no ia3_l tensor that IA3 here can scale")
	}
	settings["targets"] = targets
	return func(a *Attached) error {
		h := a.Hooks[0].(*ia3Hook)
		for name, s := range h.scales {
			if v, ok := vals[name]; ok {
				SetValues(s.l, v)
			}
		}
		return nil
	}, nil
}

// promptFromPEFT reads prompt tuning's prompt_embeddings, [L, d_model].
func promptFromPEFT(m *model.Model, settings map[string]any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	p, ok := get("prompt_embeddings")
	if !ok {
		return nil, fmt.Errorf("no prompt_embeddings tensor")
	}
	if len(p.Shape) != 2 || p.Shape[1] != m.Config.DModel {
		return nil, fmt.Errorf("prompt_embeddings has shape %v; the base model's embeddings are %d wide", p.Shape, m.Config.DModel)
	}
	if n, ok := settings["length"]; ok && n != p.Shape[0] {
		return nil, fmt.Errorf("prompt_embeddings holds %d virtual tokens, adapter_config.json's num_virtual_tokens is %v", p.Shape[0], n)
	}
	settings["length"], settings["init"] = p.Shape[0], "random"
	return func(a *Attached) error {
		SetValues(a.Hooks[0].(*promptHook).emb, p.Values)
		return nil
	}, nil
}

// compactTargets writes adapted layers as the suffixes every block adapts
// alike (attn.q, mlp.up), else as their full names.
func compactTargets(c model.Config, layers []any) []any {
	per := map[int][]string{}
	for _, l := range layers {
		var i int
		var rest string
		fmt.Sscanf(l.(string), "h.%d.", &i)
		rest = strings.TrimPrefix(l.(string), fmt.Sprintf("h.%d.", i))
		per[i] = append(per[i], rest)
	}
	first := per[0]
	for i := 0; i < c.Layers; i++ {
		if !slices.Equal(per[i], first) {
			return layers
		}
	}
	out := make([]any, len(first))
	for i, s := range first {
		out[i] = s
	}
	return out
}

func toFloat(x any) float64 {
	f, _ := numfmt.Number(x)
	return f
}

func allEqual(v []float64, x float64) bool {
	for _, e := range v {
		if e != x {
			return false
		}
	}
	return true
}

// readPEFTTensors reads an adapter's tensors (F32, F16 or BF16) as
// float64, keyed by name with PEFT's adapter name (".default", inside the
// name or ending it) dropped where a file keeps it.
func readPEFTTensors(file string) (map[string]PEFTTensor, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("methods: %w", err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return nil, fmt.Errorf("methods: %s: %w", file, err)
	}
	out := map[string]PEFTTensor{}
	for _, nt := range st.Tensors() {
		raw := nt.TensorView.Data()
		var at func(i int) float64
		switch nt.TensorView.DType() {
		case safetensors.F32:
			at = func(i int) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))) }
		case safetensors.F16:
			at = func(i int) float64 { return float64(float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()) }
		case safetensors.BF16:
			at = func(i int) float64 {
				return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16))
			}
		default:
			return nil, fmt.Errorf("methods: %s: tensor %q is %v (F32, F16 and BF16 are supported)", file, nt.Name, nt.TensorView.DType())
		}
		var shape []int
		n := 1
		for _, s := range nt.TensorView.Shape() {
			shape = append(shape, int(s))
			n *= int(s)
		}
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = at(i)
		}
		name := strings.TrimSuffix(strings.Replace(nt.Name, ".default.", ".", 1), ".default")
		out[name] = PEFTTensor{Shape: shape, Values: vals}
	}
	return out, nil
}

// peftModule is one linear layer of the base model as a PEFT file keys
// its module, with the tensors of the module's the file holds.
type peftModule struct {
	name       string // the layer here (h.0.attn.q)
	mod, key   string // PEFT's module path, and its key, "base_model.model." + mod
	col, width int    // the layer's columns in a fused module (GPT-2's c_attn; width 0: not fused)
	in, out    int    // the layer's inputs and outputs
	full       int    // the module's outputs: out, or 3·width for a fused one
	tensors    map[string]PEFTTensor
}

// peftModules calls each, in the base model's order, for every linear
// layer whose module has a tensor key + "." + suffix for one of suffixes
// (a fused module's tensors are handed to each of its layers).
func peftModules(m *model.Model, get func(string) (PEFTTensor, bool), suffixes []string, each func(p *peftModule) error) error {
	for i := 0; i < m.Config.Layers; i++ {
		for _, name := range m.Config.LinearNames(i) {
			mod, col, width, err := model.HFModule(m, name)
			if err != nil {
				return err
			}
			p := &peftModule{name: name, mod: mod, key: "base_model.model." + mod, col: col, width: width, tensors: map[string]PEFTTensor{}}
			for _, s := range suffixes {
				if t, ok := get(p.key + "." + s); ok {
					p.tensors[s] = t
				}
			}
			if len(p.tensors) == 0 {
				continue
			}
			p.in, p.out = linearDims(m, name)
			p.full = p.out
			if width > 0 {
				p.full = 3 * width
			}
			if err := each(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// need checks that the module has every one of suffixes' tensors; its
// error names the module's key, what it has and what it lacks.
func (p *peftModule) need(suffixes ...string) error {
	var missing []string
	for _, s := range suffixes {
		if _, ok := p.tensors[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s has %s but no %s", p.key, strings.Join(slices.Sorted(maps.Keys(p.tensors)), " and "), strings.Join(missing, " nor "))
}

// lohaFromPEFT reads LoHa's hada_w1_a [out, r], hada_w1_b [r, in],
// hada_w2_a [out, r] and hada_w2_b [r, in] per module (nn.Linear layers
// only: PEFT's LoHa does not wrap GPT-2's Conv1D), one rank r for every
// module, and returns their setter; the factors are stored here as the
// file holds them.
func lohaFromPEFT(m *model.Model, settings map[string]any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	if m.Config.Family != model.Llama {
		return nil, errLycorisGPT2
	}
	names := []string{"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"}
	srcs := map[string]map[string]PEFTTensor{}
	var targets []any
	r, from := 0, "the rank of the first module's hada_w1_a"
	if n, ok := settings["rank"]; ok {
		r, from = int(toFloat(n)), "adapter_config.json's r"
	}
	err := peftModules(m, get, names, func(p *peftModule) error {
		if err := p.need(names...); err != nil {
			return err
		}
		if r == 0 {
			if s := p.tensors["hada_w1_a"].Shape; len(s) == 2 {
				r = s[1]
			}
		}
		for i, n := range names {
			want := []int{p.out, r}
			if i%2 == 1 {
				want = []int{r, p.in}
			}
			if t := p.tensors[n]; !slices.Equal(t.Shape, want) {
				return fmt.Errorf("%s.%s has shape %v, not %v (a %d×%d layer at rank %d, %s)", p.key, n, t.Shape, want, p.out, p.in, r, from)
			}
		}
		srcs[p.name] = p.tensors
		targets = append(targets, p.name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no hada_w1_a … hada_w2_b tensors of a module of the base model")
	}
	settings["rank"], settings["targets"] = r, compactTargets(m.Config, targets)
	return func(a *Attached) error {
		h := a.Hooks[0].(*lohaHook)
		for name, t := range srcs {
			l := h.layers[name]
			for i, p := range []*nn.Param{l.w1a, l.w1b, l.w2a, l.w2b} {
				SetValues(p, t[names[i]].Values)
			}
		}
		return nil
	}, nil
}

// lokrFromPEFT reads LoKr's factors per module: lokr_w1 [a, c] or
// lokr_w1_a [a, r] and lokr_w1_b [r, c], lokr_w2 [b, d] or lokr_w2_a
// [b, r] and lokr_w2_b [r, d], with out = a·b and in = c·d split, and
// each factor whole or a pair, as PEFT's update_layer makes them from r,
// decompose_both and decompose_factor (lokrSplit); a module whose tensors
// are not those is refused. nn.Linear layers only, as LoHa's.
func lokrFromPEFT(m *model.Model, settings map[string]any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	if m.Config.Family != model.Llama {
		return nil, errLycorisGPT2
	}
	v, err := Resolve(lokr{}, settings)
	if err != nil {
		return nil, err
	}
	r, factor, both := v.Int("rank"), v.Int("decompose_factor"), v.Bool("decompose_both")
	all := []string{"lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b"}
	srcs := map[string]map[string]PEFTTensor{}
	var targets []any
	err = peftModules(m, get, all, func(p *peftModule) error {
		s := lokrSplit(p.in, p.out, r, factor, both)
		want := map[string][]int{}
		if s.whole1 {
			want["lokr_w1"] = []int{s.a, s.c}
		} else {
			want["lokr_w1_a"], want["lokr_w1_b"] = []int{s.a, r}, []int{r, s.c}
		}
		if s.whole2 {
			want["lokr_w2"] = []int{s.b, s.d}
		} else {
			want["lokr_w2_a"], want["lokr_w2_b"] = []int{s.b, r}, []int{r, s.d}
		}
		how := fmt.Sprintf("r %d, decompose_both %v and decompose_factor %d split the %d×%d layer as W1 [%d %d] ⊗ W2 [%d %d]", r, both, factor, p.out, p.in, s.a, s.c, s.b, s.d)
		for _, n := range slices.Sorted(maps.Keys(p.tensors)) {
			if _, ok := want[n]; !ok {
				return fmt.Errorf("%s.%s: PEFT makes no such tensor here (%s, W1 %s and W2 %s)", p.key, n, how, wholeOrPair(s.whole1), wholeOrPair(s.whole2))
			}
		}
		if err := p.need(slices.Sorted(maps.Keys(want))...); err != nil {
			return fmt.Errorf("%w (%s)", err, how)
		}
		for n, shape := range want {
			if t := p.tensors[n]; !slices.Equal(t.Shape, shape) {
				return fmt.Errorf("%s.%s has shape %v, not %v (%s)", p.key, n, t.Shape, shape, how)
			}
		}
		srcs[p.name] = p.tensors
		targets = append(targets, p.name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no lokr_w1 … lokr_w2_b tensors of a module of the base model")
	}
	settings["targets"] = compactTargets(m.Config, targets)
	return func(a *Attached) error {
		h := a.Hooks[0].(*lokrHook)
		for name, t := range srcs {
			l := h.layers[name]
			for i, p := range []*nn.Param{l.w1, l.w1a, l.w1b, l.w2, l.w2a, l.w2b} {
				if p != nil {
					SetValues(p, t[all[i]].Values)
				}
			}
		}
		return nil
	}, nil
}

// oftFromPEFT reads OFT's oft_R.weight [r, b(b−1)/2] per module, r and b
// split from the config's r and oft_block_size as PEFT's update_layer
// splits each layer (oftSplit), and returns its setter; q is stored as the
// file holds it. nn.Linear layers only (errOFTGPT2).
func oftFromPEFT(m *model.Model, settings map[string]any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	if m.Config.Family != model.Llama {
		return nil, errOFTGPT2
	}
	v, err := Resolve(oft{}, settings)
	if err != nil {
		return nil, err
	}
	srcs := map[string]PEFTTensor{}
	var targets []any
	err = peftModules(m, get, []string{"oft_R.weight"}, func(p *peftModule) error {
		r, b, err := oftSplit(p.in, v.Int("r"), v.Int("oft_block_size"))
		if err != nil {
			return fmt.Errorf("%s: %w", p.key, err)
		}
		want := []int{r, b * (b - 1) / 2}
		if t := p.tensors["oft_R.weight"]; !slices.Equal(t.Shape, want) {
			return fmt.Errorf("%s.oft_R.weight has shape %v, not %v (r %d and oft_block_size %d give %d blocks of %d on its %d inputs)",
				p.key, t.Shape, want, v.Int("r"), v.Int("oft_block_size"), r, b, p.in)
		}
		srcs[p.name] = p.tensors["oft_R.weight"]
		targets = append(targets, p.name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no oft_R.weight tensors of a module of the base model")
	}
	settings["targets"] = compactTargets(m.Config, targets)
	return func(a *Attached) error {
		h := a.Hooks[0].(*oftHook)
		for name, t := range srcs {
			SetValues(h.layers[name].q, t.Values)
		}
		return nil
	}, nil
}

func wholeOrPair(whole bool) string {
	if whole {
		return "whole"
	}
	return "a rank-r pair"
}

// prefixFromPEFT reads PREFIX_TUNING's prompt_embeddings [L,
// layers·2·token_dim] (prefix.PEFT's layout) and returns the setter of a
// prefix without projection holding its key/values, each key turned back
// by L positions (prefix.PEFT says why). A file saved with
// prefix_projection holds the projection's outputs, which PEFT uses as
// they are in inference mode: it loads as the same plain prefix.
func prefixFromPEFT(m *model.Model, settings map[string]any, get func(string) (PEFTTensor, bool)) (func(*Attached) error, error) {
	if err := prefixPEFTCheck(m); err != nil {
		return nil, err
	}
	dkv, layers := m.Config.DKV(), m.Config.Layers
	p, ok := get("prompt_embeddings")
	if !ok {
		return nil, fmt.Errorf("no prompt_embeddings tensor")
	}
	width := layers * 2 * dkv
	if len(p.Shape) != 2 || p.Shape[1] != width {
		return nil, fmt.Errorf("prompt_embeddings has shape %v, not [num_virtual_tokens %d] (%d layers × key and value × %d)", p.Shape, width, layers, dkv)
	}
	L := p.Shape[0]
	if n, ok := settings["length"]; ok && toFloat(n) != float64(L) {
		return nil, fmt.Errorf("prompt_embeddings holds %d virtual tokens, adapter_config.json's num_virtual_tokens is %v", L, n)
	}
	freq, err := m.RotaryFrequencies()
	if err != nil {
		return nil, err
	}
	keys, values := make([][]float64, layers), make([][]float64, layers)
	for i := range layers {
		k, v := make([]float64, L*dkv), make([]float64, L*dkv)
		for r := range L {
			copy(k[r*dkv:(r+1)*dkv], p.Values[r*width+2*i*dkv:])
			copy(v[r*dkv:(r+1)*dkv], p.Values[r*width+(2*i+1)*dkv:])
		}
		keys[i], values[i] = rotateRows(k, L, dkv, freq, -float64(L)), v
	}
	settings["length"], settings["projection"] = L, false
	delete(settings, "hidden")
	return func(a *Attached) error {
		h := a.Hooks[0].(*prefixHook)
		for i := range layers {
			SetValues(h.keys[i], keys[i])
			SetValues(h.values[i], values[i])
		}
		return nil
	}, nil
}
