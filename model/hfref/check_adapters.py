"""Applies PEFT adapters written by the Go side to their base checkpoints, in
float64 PyTorch, from the adapter files alone, and compares the logits with
the ones the Go side computed.

Usage: /usr/bin/python3 model/hfref/check_adapters.py DIR

Every subfolder of DIR holds
  adapter_config.json         PEFT's config (peft_type LORA, IA3, VERA, LOHA, LOKR, OFT,
                              ADALORA, LN_TUNING, PROMPT_TUNING, P_TUNING or PREFIX_TUNING)
  adapter_model.safetensors   the adapter's tensors under PEFT's keys
  base                        the name of a fixture in model/hfref/testdata
  expected.json               {"input_ids": [B][T], "logits": [B][T][vocab]}:
                              what the Go side computed with the adapter

The adapter is applied as PeftModelForCausalLM would apply it in eval mode,
reading nothing but these files: the modules it wraps come from
target_modules (a list: a module whose name equals an entry or ends with
"." + entry; a string: a regular expression the whole name must match),
and every wrapped module must find its tensors, every tensor its module.

  LORA           y = base(x) + (x·Aᵀ·Bᵀ)·lora_alpha/r (lora_alpha/√r with
                 use_rslora), A = lora_A.weight [r, in], B = lora_B.weight
                 [out, r]; a module that rank_pattern and alpha_pattern
                 name (a key ending its path after a dot) has its own r and
                 lora_alpha. With use_dora, W + ΔW's rows are rescaled to
                 lora_magnitude_vector [out]. fan_in_fan_out must say how the module stores its
                 weight (GPT-2's Conv1D: [in, out]; nn.Linear: [out, in]),
                 and is what the merged check below transposes by.
  IA3            l = ia3_l.weight: [out, 1] scales the module's output, bias
                 included; [1, in] scales the input of a module that
                 feedforward_modules names (a list: name ends with an entry;
                 a string: a full regular-expression match).
  VERA           shared base_model.vera_A [r, in_max] and vera_B [out_max, r]
                 (save_projection), per module vera_lambda_b [out] and
                 vera_lambda_d [r]: y = base(x) + b∘(B[:out]·(d∘(A[:, :in]·x))).
  LN_TUNING      <module>.ln_tuning_layers.weight (and .bias) replace the
                 norm's own parameters.
  LOHA           y = base(x) + x·ΔWᵀ, ΔW = (hada_w1_a·hada_w1_b) ∘
                 (hada_w2_a·hada_w2_b)·alpha/r, w*_a [out, r], w*_b [r, in];
                 nn.Linear modules only (GPT-2's Conv1D is refused, as PEFT
                 refuses it).
  LOKR           ΔW = kron(W1, W2)·alpha/r, the shapes PEFT's update_layer
                 makes from factorization(in, decompose_factor) and
                 (out, ...): lokr_w1 or lokr_w1_a·lokr_w1_b (decompose_both),
                 lokr_w2 or lokr_w2_a·lokr_w2_b (r < max(b, d)/2).
  OFT            oft_R.weight [r, b(b−1)/2] per module: block k's skew-symmetric
                 S = U − Uᵀ, U holding the vector above the diagonal row by
                 row; R_k = I + 2S + … + 2S^(p−1) + S^p, p = max(n − 1, 3),
                 the Cayley–Neumann series of n = num_cayley_neumann_terms
                 (use_cayley_neumann); the input is rotated before the
                 frozen layer, y = base(x·R) with R = diag(R_1 … R_r), so
                 ΔW = W·(Rᵀ − I) for nn.Linear's W [out, in].
  ADALORA        lora_A [k, in], lora_E [k, 1], lora_B [out, k] per module
                 (ParameterDict entries, no ".weight"), k the triplets
                 rank_pattern keeps ("<module>.lora_E": a list of init_r
                 booleans; at least one, λ zero, for a module that keeps
                 none): y = base(x) + x·(A∘E)ᵀ·Bᵀ·lora_alpha/(init_r + 1e-5),
                 the scale PEFT's SVDLinear applies with ranknum init_r, as
                 the Go side writes it. Whether PEFT, resizing a loaded
                 model by rank_pattern, resets ranknum to k is not checked
                 here (no PEFT install).
  PREFIX_TUNING  prompt_embeddings [P, num_layers·2·token_dim] (no
                 prefix_projection), reshaped as PEFT's get_prompt does:
                 view(batch, P, 2·num_layers, heads, token_dim/heads),
                 permute(2, 0, 3, 1, 4), split(2): layer i's cached key and
                 value [batch, heads, P, head_dim], heads the key/value
                 heads. The model runs the tokens after that cache, at
                 positions P … P+T−1, the cached keys used as they are
                 (Llama's family; GPT-2's prefix is not written).
  PROMPT_TUNING  prompt_embeddings [num_virtual_tokens, token_dim], under
                 that bare key, put in front of the input embeddings. The
                 model then sees P + T positions, numbered 0 … P+T−1 (GPT-2's
                 learned positions and Llama's rotary ones alike: PEFT drops
                 any position_ids it is given), and returns logits for all of
                 them; those of the P virtual positions are dropped here, as
                 the Go side drops them.
  P_TUNING       as PROMPT_TUNING: prompt_embeddings holds the prompt
                 encoder's output, which PEFT in inference mode puts in front
                 as it is, building no encoder.

LoRA, IA3, LoHa and LoKr are also merged into the weights, as PEFT's
merge_and_unload does (fan_in_fan_out transposing the update), and the merged model must give
the same logits. Prints one line per adapter with the largest difference and
exits non-zero if any logit differs from the Go side's by more than 1e-4 or
a file is not what PEFT would load.
"""

import json
import math
import os
import re
import sys

import torch

# no __pycache__ next to the fixtures
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
LIMIT = 1e-4
PREFIX = "base_model.model."


class AdapterError(Exception):
    """A file PEFT would refuse, or load into something else."""


# ---------------------------------------------------------------------------
# which modules PEFT wraps


def linear_modules(arch, state):
    """Module paths of the base model's linear layers (what LoRA and IA3 can
    wrap), with (in_features, out_features): GPT-2's Conv1D stores [in, out],
    nn.Linear [out, in]. The output head is left out, as PEFT leaves it."""
    out = {}
    for key, w in state.items():
        if not key.endswith(".weight") or w.dim() != 2:
            continue
        path = key[: -len(".weight")]
        last = path.rsplit(".", 1)[-1]
        if last in ("wte", "wpe", "embed_tokens", "lm_head"):
            continue
        out[path] = (w.shape[0], w.shape[1]) if arch == "gpt2" else (w.shape[1], w.shape[0])
    return out


def targeted(target_modules, path):
    """PEFT's check_target_module_exists for a str or a list."""
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, path) is not None
    return any(path == t or path.endswith("." + t) for t in target_modules)


def is_feedforward(feedforward_modules, path):
    """IA3's feed-forward test: a full regular-expression match for a str,
    else a plain suffix (no dot needed) of the module's name."""
    if isinstance(feedforward_modules, str):
        return re.fullmatch(feedforward_modules, path) is not None
    return any(path.endswith(f) for f in feedforward_modules)


def wrapped_modules(arch, state, cfg):
    target_modules = cfg.get("target_modules")
    if target_modules is None:
        # PEFT would pick its defaults for the architecture; an exported
        # adapter says what it adapted.
        raise AdapterError("target_modules is null")
    linears = linear_modules(arch, state)
    names = {k[: -len(".weight")] for k in state if k.endswith(".weight")}
    chosen = sorted(p for p in names if targeted(target_modules, p))
    if not chosen:
        raise AdapterError(f"target_modules {target_modules!r} matches no module")
    for p in chosen:
        if p not in linears:
            raise AdapterError(f"target_modules selects {p}, which is no linear layer")
    return {p: linears[p] for p in chosen}


def check_fan_in_fan_out(arch, cfg):
    # PEFT overrides a wrong value with a warning; an exported adapter should
    # state it right.
    want = arch == "gpt2"
    if bool(cfg.get("fan_in_fan_out", False)) != want:
        raise AdapterError(f"fan_in_fan_out {cfg.get('fan_in_fan_out')} for {arch} (its layers want {want})")


def take(tensors, used, key, shape):
    if key not in tensors:
        raise AdapterError(f"no tensor {key}")
    t = tensors[key]
    if tuple(t.shape) != tuple(shape):
        raise AdapterError(f"{key} has shape {list(t.shape)}, PEFT makes {list(shape)}")
    used.add(key)
    return t


# ---------------------------------------------------------------------------
# the three methods


def lora_adapter(arch, state, cfg, tensors, used):
    check_fan_in_fan_out(arch, cfg)
    if cfg.get("bias", "none") != "none":
        raise AdapterError(f"bias {cfg['bias']!r} is not applied by this checker")
    if cfg.get("layers_to_transform") is not None:
        raise AdapterError("layers_to_transform is not applied by this checker")
    r, alpha, rslora = cfg["r"], cfg["lora_alpha"], cfg.get("use_rslora", False)
    scaling = alpha / math.sqrt(r) if rslora else alpha / r
    modules = {}
    for path, (fin, fout) in wrapped_modules(arch, state, cfg).items():
        rm = pattern_value(cfg.get("rank_pattern"), path, r)
        am = pattern_value(cfg.get("alpha_pattern"), path, alpha)
        a = take(tensors, used, f"{PREFIX}{path}.lora_A.weight", (rm, fin))
        b = take(tensors, used, f"{PREFIX}{path}.lora_B.weight", (fout, rm))
        # The reference applies one scaling; a module's own rank and alpha
        # rescale its B to it.
        own = am / math.sqrt(rm) if rslora else am / rm
        modules[path] = (a, b * (own / scaling))
    return ref.LoRA(r, alpha, modules, rslora)


def pattern_value(patterns, path, default):
    """A module's entry of rank_pattern or alpha_pattern, matched as PEFT's
    get_pattern_key matches it: the key ends the module's path after a dot."""
    for key, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({key})$", path):
            return value
    return default


class IA3:
    """PEFT's IA3 in the reference's forward: the reference adds delta(x,
    path) to a module's output y = base(x), so output scaling adds
    (l − 1)·base(x) and input scaling base'((l − 1)·x), base' without bias:
    y + delta is l·base(x) or base(l·x)."""

    def __init__(self, arch, state, vectors):
        self.arch, self.state, self.vectors = arch, state, vectors

    def _base(self, x, path, bias=True):
        w = self.state[path + ".weight"]
        y = x @ w if self.arch == "gpt2" else x @ w.T
        b = self.state.get(path + ".bias")
        if bias and b is not None:
            y = y + b
        return y

    def delta(self, x, path):
        v = self.vectors.get(path)
        if v is None:
            return None
        l, feedforward = v
        if feedforward:
            return self._base(x * (l.flatten() - 1), path, bias=False)
        return self._base(x, path) * (l.flatten() - 1)


def ia3_adapter(arch, state, cfg, tensors, used):
    check_fan_in_fan_out(arch, cfg)
    ff = cfg.get("feedforward_modules")
    if ff is None:
        # PEFT would fill in its defaults for the architecture.
        raise AdapterError("feedforward_modules is null")
    tm = cfg["target_modules"]
    if isinstance(ff, list) and isinstance(tm, list) and not set(ff) <= set(tm):
        raise AdapterError(f"feedforward_modules {ff} is not a subset of target_modules {tm}")
    vectors = {}
    for path, (fin, fout) in wrapped_modules(arch, state, cfg).items():
        feedforward = is_feedforward(ff, path)
        shape = (1, fin) if feedforward else (fout, 1)
        vectors[path] = (take(tensors, used, f"{PREFIX}{path}.ia3_l.weight", shape), feedforward)
    return IA3(arch, state, vectors)


def merged_ia3(arch, state, ia3):
    """PEFT's IA3 merge: the weight's output rows (and the bias) or input
    columns of a [out, in] weight scaled, transposed for Conv1D."""
    merged = dict(state)
    for path, (l, feedforward) in ia3.vectors.items():
        w = state[path + ".weight"]
        wt = w.T if arch == "gpt2" else w  # [out, in]
        wt = wt * l.flatten()[None, :] if feedforward else wt * l.flatten()[:, None]
        merged[path + ".weight"] = wt.T if arch == "gpt2" else wt
        if not feedforward and path + ".bias" in state:
            merged[path + ".bias"] = state[path + ".bias"] * l.flatten()
    return merged


def dora_merged(arch, state, lora, tensors, used):
    """DoRA as PEFT merges it: W' = m / ‖W + ΔW‖ · (W + ΔW), the norm of
    each output's row over the inputs, m = lora_magnitude_vector [out]
    (the bias is not rescaled)."""
    merged = ref.merge_lora(arch, state, lora)
    for path in lora.modules:
        w = merged[path + ".weight"]
        wt = w.T if arch == "gpt2" else w  # [out, in]
        m = take(tensors, used, f"{PREFIX}{path}.lora_magnitude_vector", (wt.shape[0],)).double()
        wt = wt * (m / wt.norm(dim=1))[:, None]
        merged[path + ".weight"] = wt.T if arch == "gpt2" else wt
    return merged


class VeRA:
    """PEFT's VeRA: y = base(x) + lambda_b * ((lambda_d * (x @ A[:, :in].T)) @ B[:out].T)
    with the shared A = base_model.vera_A [r, in_max], B = base_model.vera_B
    [out_max, r], each module taking their top-left corner."""

    def __init__(self, a, b, modules):
        self.a, self.b, self.modules = a, b, modules

    def delta(self, x, path):
        m = self.modules.get(path)
        if m is None:
            return None
        fin, fout, lb, ld = m
        return lb * ((ld * (x @ self.a[:, :fin].T)) @ self.b[:fout].T)


def vera_adapter(arch, state, cfg, tensors, used):
    check_fan_in_fan_out(arch, cfg)
    if not cfg.get("save_projection"):
        raise AdapterError("save_projection is false: the projections would come from PEFT's generator")
    r = cfg["r"]
    modules = wrapped_modules(arch, state, cfg)
    fin_max = max(fin for fin, _ in modules.values())
    fout_max = max(fout for _, fout in modules.values())
    a = take(tensors, used, "base_model.vera_A", (r, fin_max)).double()
    b = take(tensors, used, "base_model.vera_B", (fout_max, r)).double()
    own = {}
    for path, (fin, fout) in modules.items():
        lb = take(tensors, used, f"{PREFIX}{path}.vera_lambda_b", (fout,)).double()
        ld = take(tensors, used, f"{PREFIX}{path}.vera_lambda_d", (r,)).double()
        own[path] = (fin, fout, lb, ld)
    return VeRA(a, b, own)


class Dense:
    """An adapter that adds a dense ΔW [out, in] to each wrapped module's
    output, y = base(x) + x·ΔWᵀ, as PEFT's LyCORIS layers (LoHa, LoKr)
    apply get_delta_weight with F.linear in eval mode."""

    def __init__(self, deltas):
        self.deltas = deltas

    def delta(self, x, path):
        d = self.deltas.get(path)
        return None if d is None else x @ d.T


def lycoris_check(arch, cfg):
    if arch == "gpt2":
        # Their tuners wrap torch.nn.Linear and Conv layers only.
        raise AdapterError(f"{cfg['peft_type']} cannot wrap GPT-2's Conv1D modules")
    for field in ("rank_pattern", "alpha_pattern", "layers_to_transform"):
        if cfg.get(field):
            raise AdapterError(f"{field} is not applied by this checker")
    return cfg["alpha"] / cfg["r"]


def loha_adapter(arch, state, cfg, tensors, used):
    """LoHa: ΔW = (w1_a·w1_b) ∘ (w2_a·w2_b)·alpha/r, w*_a [out, r], w*_b [r, in]."""
    scaling, r = lycoris_check(arch, cfg), cfg["r"]
    deltas = {}
    for path, (fin, fout) in wrapped_modules(arch, state, cfg).items():
        w = [take(tensors, used, f"{PREFIX}{path}.hada_{n}", shape).double()
             for n, shape in (("w1_a", (fout, r)), ("w1_b", (r, fin)), ("w2_a", (fout, r)), ("w2_b", (r, fin)))]
        deltas[path] = (w[0] @ w[1]) * (w[2] @ w[3]) * scaling
    return Dense(deltas)


def factorization(dimension, factor=-1):
    """LyCORIS's split of a dimension into two factors, from its
    definition: a factor that divides it is taken as it is, first;
    otherwise m walks up the divisors while m < dimension/m and m does not
    exceed the factor (-1: no bound), and the pair comes back smaller
    first."""
    if factor > 0 and dimension % factor == 0:
        return factor, dimension // factor
    bound = dimension if factor == -1 else factor
    m, n = 1, dimension
    while m < n:
        nxt = next(k for k in range(m + 1, dimension + 1) if dimension % k == 0)
        if nxt > bound:
            break
        m, n = nxt, dimension // nxt
    return (n, m) if m > n else (m, n)


def lokr_adapter(arch, state, cfg, tensors, used):
    """LoKr: ΔW = kron(W1, W2)·alpha/r, with out = a·b and in = c·d split by
    factorization(·, decompose_factor); W1 [a, c] is whole unless
    decompose_both and r < max(a, c)/2 (then lokr_w1_a [a, r] · lokr_w1_b
    [r, c]), W2 [b, d] whole unless r < max(b, d)/2 (then lokr_w2_a ·
    lokr_w2_b): the parameters PEFT's update_layer creates."""
    scaling, r = lycoris_check(arch, cfg), cfg["r"]
    f, both = cfg.get("decompose_factor", -1), cfg.get("decompose_both", False)
    deltas = {}

    def factor_of(path, name, rows, cols, whole):
        if whole:
            return take(tensors, used, f"{PREFIX}{path}.lokr_{name}", (rows, cols)).double()
        a = take(tensors, used, f"{PREFIX}{path}.lokr_{name}_a", (rows, r)).double()
        return a @ take(tensors, used, f"{PREFIX}{path}.lokr_{name}_b", (r, cols)).double()

    for path, (fin, fout) in wrapped_modules(arch, state, cfg).items():
        c, d = factorization(fin, f)
        a, b = factorization(fout, f)
        w1 = factor_of(path, "w1", a, c, not (both and r < max(a, c) / 2))
        w2 = factor_of(path, "w2", b, d, not (r < max(b, d) / 2))
        deltas[path] = torch.kron(w1, w2) * scaling
    return Dense(deltas)


def oft_adapter(arch, state, cfg, tensors, used):
    """OFT: the input rotated by a block-diagonal R before the frozen layer;
    as a dense ΔW = W·(Rᵀ − I) on nn.Linear's W [out, in]."""
    if arch == "gpt2":
        raise AdapterError("OFT cannot wrap GPT-2's Conv1D modules")
    if not cfg.get("use_cayley_neumann", True):
        raise AdapterError("use_cayley_neumann false (the exact Cayley solve) is not applied by this checker")
    for field in ("coft", "block_share"):
        if cfg.get(field):
            raise AdapterError(f"{field} is not applied by this checker")
    terms = cfg.get("num_cayley_neumann_terms", 5)
    if terms <= 1:
        coefs = []
    elif terms == 2:
        coefs = [2.0]
    else:
        p = max(terms - 1, 3)
        coefs = [2.0] * (p - 1) + [1.0]
    deltas = {}
    for path, (fin, fout) in wrapped_modules(arch, state, cfg).items():
        key = f"{PREFIX}{path}.oft_R.weight"
        if key not in tensors:
            raise AdapterError(f"{path}: no {key}")
        r, n = tensors[key].shape
        b = int(round((1 + math.sqrt(1 + 8 * n)) / 2))
        if b * (b - 1) // 2 != n or r * b != fin:
            raise AdapterError(f"{key}: shape {list(tensors[key].shape)} is no {fin}-wide layer's blocks")
        q = take(tensors, used, key, (r, n)).double()
        rows, cols = torch.triu_indices(b, b, 1)
        R = torch.zeros(fin, fin, dtype=torch.float64)
        for k in range(r):
            u = torch.zeros(b, b, dtype=torch.float64)
            u[rows, cols] = q[k]
            S = u - u.T
            block, power = torch.eye(b, dtype=torch.float64), torch.eye(b, dtype=torch.float64)
            for c in coefs:
                power = power @ S
                block = block + c * power
            R[k * b:(k + 1) * b, k * b:(k + 1) * b] = block
        W = state[path + ".weight"].double()
        deltas[path] = W @ (R.T - torch.eye(fin, dtype=torch.float64))
    return Dense(deltas)


def adalora_adapter(arch, state, cfg, tensors, used):
    """AdaLoRA: ΔW = B·diag(E)·A·lora_alpha/(init_r + 1e-5), [out, in], with
    the triplets rank_pattern keeps."""
    init_r, alpha = cfg["init_r"], cfg.get("lora_alpha") or cfg["init_r"]
    scale = alpha / (init_r + 1e-5)
    pattern = cfg.get("rank_pattern") or {}
    deltas = {}
    for path, (fin, fout) in wrapped_modules(arch, state, cfg).items():
        key = f"{PREFIX}{path}.lora_E"
        if key not in tensors:
            raise AdapterError(f"{path}: no {key}")
        k = tensors[key].shape[0]
        kept = [v for name, v in pattern.items() if path.endswith(name[: -len(".lora_E")]) or name == f"{path}.lora_E"]
        if pattern and len(kept) != 1:
            raise AdapterError(f"{path}: rank_pattern has {len(kept)} entries for it")
        want = max(1, sum(bool(x) for x in kept[0])) if kept else init_r
        if kept and len(kept[0]) != init_r:
            raise AdapterError(f"{path}: rank_pattern lists {len(kept[0])} triplets, init_r is {init_r}")
        if k != want:
            raise AdapterError(f"{key}: {k} triplets, rank_pattern keeps {want}")
        a = take(tensors, used, f"{PREFIX}{path}.lora_A", (k, fin)).double()
        e = take(tensors, used, key, (k, 1)).double()
        b = take(tensors, used, f"{PREFIX}{path}.lora_B", (fout, k)).double()
        deltas[path] = b @ (a * e) * scale
    return Dense(deltas)


def merged_dense(arch, state, dense):
    """W + ΔW for every wrapped module, as PEFT's merge_and_unload does
    (GPT-2's Conv1D stores W as [in, out])."""
    merged = dict(state)
    for path, d in dense.deltas.items():
        w = state[path + ".weight"]
        merged[path + ".weight"] = w + (d.T if arch == "gpt2" else d)
    return merged


def ln_tuned(arch, state, cfg, tensors, used):
    """The state with every norm target_modules names replaced by its
    tuned copy, <module>.ln_tuning_layers.weight (and .bias)."""
    tuned = dict(state)
    targets = cfg["target_modules"]
    for key in tensors:
        path, sep, field = key[len(PREFIX):].rpartition(".ln_tuning_layers.")
        if not key.startswith(PREFIX) or not sep:
            raise AdapterError(f"{key} is no LN tuning tensor")
        if not (path in targets or any(path.endswith("." + t) for t in targets)):
            raise AdapterError(f"{key}: module {path} is not in target_modules {targets}")
        name = path + "." + field
        if arch == "gpt2":
            name = ref.gpt2_prefix(state) + name.removeprefix("transformer.")
        if name not in state or tuple(state[name].shape) != tuple(tensors[key].shape):
            raise AdapterError(f"{key}: the model has no norm parameter {name} of shape {list(tensors[key].shape)}")
        tuned[name] = tensors[key].to(state[name].dtype)
        used.add(key)
    return tuned


def prefix_logits(arch, config, cfg, tensors, used, state, input_ids):
    """Logits with PEFT's prefix as past_key_values, built from the file
    as PeftModel.get_prompt builds it."""
    if arch == "gpt2":
        raise AdapterError("PREFIX_TUNING on GPT-2 is not written by the Go side")
    if cfg.get("num_transformer_submodules", 1) != 1 or cfg.get("prefix_projection"):
        raise AdapterError("num_transformer_submodules 1 and no prefix_projection are checked here")
    p, layers = cfg["num_virtual_tokens"], cfg["num_layers"]
    token_dim, heads = cfg["token_dim"], cfg["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or config["num_attention_heads"]
    if layers != config["num_hidden_layers"] or heads != kv_heads or token_dim != kv_heads * ref.llama_head_dim(config):
        raise AdapterError(f"num_layers {layers}, token_dim {token_dim}, num_attention_heads {heads} for this model")
    emb = take(tensors, used, "prompt_embeddings", (p, layers * 2 * token_dim)).double()
    b = input_ids.shape[0]
    kv = emb.repeat(b, 1, 1).view(b, p, layers * 2, heads, token_dim // heads)
    kv = kv.permute([2, 0, 3, 1, 4]).split(2)
    past = [(layer[0], layer[1]) for layer in kv]
    return ref.forward(config, state, input_ids, past=past)


def embedding_key(arch, state):
    return ref.gpt2_prefix(state) + "wte.weight" if arch == "gpt2" else "model.embed_tokens.weight"


def prompt_logits(arch, config, state, cfg, tensors, used, input_ids):
    """Logits of the real tokens with the prompt in front. The reference
    takes token ids, so the prompt's P rows are appended to the embedding
    matrix as ids V … V+P−1 and each sequence is prefixed with them:
    embedding lookup is exact, so the model sees exactly cat(prompt,
    embeddings). A tied head then has P more rows, whose logit columns are
    dropped with the virtual positions."""
    if cfg.get("num_transformer_submodules", 1) != 1:
        raise AdapterError(f"num_transformer_submodules {cfg['num_transformer_submodules']} on a decoder-only model")
    d = config["n_embd"] if arch == "gpt2" else config["hidden_size"]
    if cfg["token_dim"] != d:
        raise AdapterError(f"token_dim {cfg['token_dim']}, the model's embeddings are {d} wide")
    p = cfg["num_virtual_tokens"]
    if "prompt_embeddings" not in tensors:
        # PEFT's loader looks the prompt up by this bare key.
        raise AdapterError(f"no tensor prompt_embeddings (keys: {sorted(tensors)})")
    prompt = take(tensors, used, "prompt_embeddings", (p, d))
    key = embedding_key(arch, state)
    v = state[key].shape[0]
    extended = dict(state)
    extended[key] = torch.cat([state[key], prompt])
    b, t = input_ids.shape
    virtual = torch.arange(v, v + p).expand(b, p)
    logits = ref.forward(config, extended, torch.cat([virtual, input_ids], dim=1))
    return logits[:, p:, :v]


# ---------------------------------------------------------------------------


def maxdiff(a, b):
    return (a - b).abs().max().item()


def check_one(folder):
    """Returns (report line, largest difference)."""
    with open(os.path.join(folder, "adapter_config.json")) as f:
        cfg = json.load(f)
    tensors, dtypes, _ = ref.read_safetensors(os.path.join(folder, "adapter_model.safetensors"))
    tensors = {k: torch.from_numpy(v) for k, v in tensors.items()}
    with open(os.path.join(folder, "base")) as f:
        base = f.read().strip()
    with open(os.path.join(folder, "expected.json")) as f:
        expected = json.load(f)
    config, state, _ = ref.load_checkpoint(os.path.join(TESTDATA, base))
    arch = ref.arch_of(config)
    if cfg.get("task_type") != "CAUSAL_LM":
        raise AdapterError(f"task_type {cfg.get('task_type')!r}, want CAUSAL_LM")
    for k, dt in dtypes.items():
        if dt != "F32":
            raise AdapterError(f"{k} is {dt}")
    input_ids = torch.tensor(expected["input_ids"], dtype=torch.long)
    want = torch.tensor(expected["logits"], dtype=torch.float64)
    plain = ref.forward(config, state, input_ids)
    used = set()
    kind = cfg.get("peft_type")
    if kind == "LORA" and cfg.get("use_dora"):
        lora = lora_adapter(arch, state, cfg, tensors, used)
        got = ref.forward(config, dora_merged(arch, state, lora, tensors, used), input_ids)
        merged = None
    elif kind == "LORA":
        lora = lora_adapter(arch, state, cfg, tensors, used)
        got = ref.forward(config, state, input_ids, lora)
        merged = ref.forward(config, ref.merge_lora(arch, state, lora), input_ids)
    elif kind == "IA3":
        ia3 = ia3_adapter(arch, state, cfg, tensors, used)
        got = ref.forward(config, state, input_ids, ia3)
        merged = ref.forward(config, merged_ia3(arch, state, ia3), input_ids)
    elif kind == "PREFIX_TUNING":
        got = prefix_logits(arch, config, cfg, tensors, used, state, input_ids)
        merged = None
    elif kind in ("PROMPT_TUNING", "P_TUNING"):
        got = prompt_logits(arch, config, state, cfg, tensors, used, input_ids)
        merged = None
    elif kind == "VERA":
        got = ref.forward(config, state, input_ids, vera_adapter(arch, state, cfg, tensors, used))
        merged = None
    elif kind == "LN_TUNING":
        got = ref.forward(config, ln_tuned(arch, state, cfg, tensors, used), input_ids)
        merged = None
    elif kind in ("LOHA", "LOKR", "OFT", "ADALORA"):
        build = {"LOHA": loha_adapter, "LOKR": lokr_adapter, "OFT": oft_adapter, "ADALORA": adalora_adapter}[kind]
        dense = build(arch, state, cfg, tensors, used)
        got = ref.forward(config, state, input_ids, dense)
        merged = ref.forward(config, merged_dense(arch, state, dense), input_ids)
    else:
        raise AdapterError(f"peft_type {kind!r} is not checked here")
    unused = sorted(set(tensors) - used)
    if unused:
        raise AdapterError(f"tensors no wrapped module loads: {unused[:4]}")
    if got.shape != want.shape:
        raise AdapterError(f"logits {list(got.shape)}, expected.json has {list(want.shape)}")
    worst = maxdiff(got, want)
    line = f"{kind} on {base}: Go vs PyTorch {worst:.2e}"
    if merged is not None:
        worst = max(worst, maxdiff(merged, want))
        line += f", merged {maxdiff(merged, want):.2e}"
    line += f" (the adapter moves the logits by up to {maxdiff(got, plain):.3f})"
    return line, worst


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_adapters.py DIR")
    torch.set_num_threads(1)
    root = sys.argv[1]
    names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
    if not names:
        sys.exit(f"check_adapters.py: no adapter folders in {root}")
    failed = []
    for name in names:
        try:
            line, worst = check_one(os.path.join(root, name))
        except (AdapterError, KeyError, ValueError, OSError) as e:
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            failed.append(name)
            continue
        ok = worst <= LIMIT and math.isfinite(worst)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {line}")
        if not ok:
            failed.append(name)
    if failed:
        print(f"{len(failed)} of {len(names)} adapters differ by more than {LIMIT:g} or do not load: {', '.join(failed)}")
        sys.exit(1)
    print(f"all {len(names)} adapters within {LIMIT:g}")


if __name__ == "__main__":
    main()
