"""Float64 reference forward passes for Hugging Face checkpoints of
GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM and
MistralForCausalLM, with PEFT's LoRA.

This file is the independent side of the Go loader's tests: it reads a model
folder (config.json plus model.safetensors, or a sharded set with
model.safetensors.index.json) by HF's field and tensor names and computes
logits in float64 the way transformers' modeling_gpt2 / modeling_llama /
modeling_qwen2 / modeling_qwen3 / modeling_mistral do in eval mode (no dropout, no KV cache, no padding mask).

Deliberate differences from HF, all below float32 resolution:
  * everything runs in float64, including the rotary inverse frequencies and
    cos/sin tables that HF builds in float32;
  * the causal mask sets masked scores to -inf instead of HF's
    finfo(dtype).min; both give exactly zero attention weight.

Only the standard library, numpy and torch are used; safetensors files are
parsed here rather than by the safetensors package so that the format itself
is checked too.
"""

import json
import math
import os
import struct

import numpy as np
import torch

# ---------------------------------------------------------------------------
# safetensors

# dtype name in the header -> (numpy dtype of the raw little-endian words,
# bytes per element). BF16 has no numpy dtype; its words are widened below.
_ST_DTYPES = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),
}


def bf16_words_to_float32(words):
    """bfloat16 is the top half of a float32, so widening is a 16-bit shift
    and is exact."""
    return (words.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path):
    """Returns ({name: float64 numpy array}, {name: dtype string}, metadata).

    The header is validated the way a strict reader should: offsets lie in
    the data section, tensors neither overlap nor leave gaps, and the byte
    count of each tensor matches dtype and shape."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n :]
    metadata = header.pop("__metadata__", None)
    arrays, dtypes, spans = {}, {}, []
    for name, info in header.items():
        npdt, size = _ST_DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        begin, end = info["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        if end - begin != count * size or not 0 <= begin <= end <= len(data):
            raise ValueError(f"{path}: bad data_offsets for {name}")
        raw = np.frombuffer(data[begin:end], dtype=npdt).reshape(shape)
        if info["dtype"] == "BF16":
            raw = bf16_words_to_float32(raw)
        arrays[name] = raw.astype(np.float64)
        dtypes[name] = info["dtype"]
        spans.append((begin, end))
    spans.sort()
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise ValueError(f"{path}: tensor data is not contiguous at byte {begin}")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes after the last tensor")
    return arrays, dtypes, metadata


def load_checkpoint(folder):
    """Reads config.json and all weights of an HF model folder. Returns
    (config dict, {name: float64 torch tensor}, {name: stored dtype})."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        files = sorted(set(weight_map.values()))
    else:
        weight_map, files = None, ["model.safetensors"]
    state, dtypes = {}, {}
    for name in files:
        arrays, dts, _ = read_safetensors(os.path.join(folder, name))
        for key, arr in arrays.items():
            if key in state:
                raise ValueError(f"{key} is stored twice")
            if weight_map is not None and weight_map.get(key) != name:
                raise ValueError(f"{key} found in {name}, index says {weight_map.get(key)}")
            state[key] = torch.from_numpy(arr)
            dtypes[key] = dts[key]
    if weight_map is not None and set(weight_map) != set(state):
        raise ValueError("index weight_map and shard contents differ")
    return config, state, dtypes


# ---------------------------------------------------------------------------
# LoRA (PEFT)


class LoRA:
    """PEFT LoRA adapter on a set of linear modules.

    modules maps a module path of the base model (e.g.
    "model.layers.0.self_attn.q_proj") to (A, B) with A = lora_A.weight of
    shape [r, in] and B = lora_B.weight of shape [out, r]. PEFT's forward is
        y = base(x) + lora_B(lora_A(dropout(x))) * scaling
          = base(x) + (x·Aᵀ·Bᵀ) * (lora_alpha / r)
    (lora_alpha / sqrt(r) with use_rslora). Dropout is the identity here: the
    reference is eval-mode, and the fixtures use lora_dropout = 0.
    For GPT-2's Conv1D modules PEFT sets fan_in_fan_out, which only changes
    how the delta is merged into the [in, out] weight (transposed), not the
    forward above; in and out are still the Conv1D's in and out features."""

    def __init__(self, r, lora_alpha, modules, use_rslora=False):
        self.r = r
        self.lora_alpha = lora_alpha
        self.scaling = lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r
        self.modules = modules

    def delta(self, x, path):
        pair = self.modules.get(path)
        if pair is None:
            return None
        a, b = pair
        return (x @ a.T @ b.T) * self.scaling

    @staticmethod
    def key(path, which):
        """The tensor name PEFT's save_pretrained writes (adapter name
        "default" stripped), e.g.
        base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight."""
        return f"base_model.model.{path}.lora_{which}.weight"

    @classmethod
    def from_peft(cls, adapter_config, tensors):
        """Builds an adapter from adapter_config.json's fields and a
        {PEFT key: tensor} mapping."""
        prefix, modules = "base_model.model.", {}
        for key in tensors:
            if not key.startswith(prefix) or not key.endswith(".lora_A.weight"):
                continue
            path = key[len(prefix) : -len(".lora_A.weight")]
            modules[path] = (tensors[key], tensors[cls.key(path, "B")])
        return cls(
            adapter_config["r"],
            adapter_config["lora_alpha"],
            modules,
            adapter_config.get("use_rslora", False),
        )


def target_module_paths(state, target_modules):
    """Module paths PEFT would wrap for a list-valued target_modules: those
    whose full name equals a target or ends with "." + target."""
    paths = sorted({k[: -len(".weight")] for k in state if k.endswith(".weight")})
    return [
        p
        for p in paths
        if any(p == t or p.endswith("." + t) for t in target_modules)
    ]


def merge_lora(arch, state, lora):
    """Returns a copy of state with every adapted weight replaced by
    W + ΔW, ΔW = (B·A)·scaling, transposed for Conv1D's [in, out] layout
    (PEFT's get_delta_weight with fan_in_fan_out)."""
    merged = dict(state)
    for path, (a, b) in lora.modules.items():
        delta = (b @ a) * lora.scaling
        if arch == "gpt2":
            delta = delta.T
        merged[path + ".weight"] = state[path + ".weight"] + delta
    return merged


# ---------------------------------------------------------------------------
# shared pieces


def _linear(x, state, path, lora, bias=False):
    """nn.Linear: weight [out, in], y = x·Wᵀ (+ b)."""
    y = x @ state[path + ".weight"].T
    if bias:
        y = y + state[path + ".bias"]
    if lora is not None:
        d = lora.delta(x, path)
        if d is not None:
            y = y + d
    return y


def _conv1d(x, state, path, lora):
    """GPT-2's Conv1D: weight [in, out], y = x·W + b."""
    y = x @ state[path + ".weight"] + state[path + ".bias"]
    if lora is not None:
        d = lora.delta(x, path)
        if d is not None:
            y = y + d
    return y


def layer_norm(x, weight, bias, eps):
    """nn.LayerNorm: biased variance, eps inside the square root."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def rms_norm(x, weight, eps):
    """LlamaRMSNorm / Qwen2RMSNorm: x·rsqrt(mean(x²) + eps), then the gain
    (plain weight, not 1 + weight)."""
    var = (x * x).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(var + eps))


def gelu_tanh(x):
    """GPT-2's "gelu_new": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gelu_exact(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def silu(x):
    return x * torch.sigmoid(x)


_GPT2_ACTS = {
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "gelu_fast": gelu_tanh,  # same function, HF evaluates it differently
    "gelu": gelu_exact,
    "relu": torch.relu,
}


def causal_attention(q, k, v, scale, window=None, past=0):
    """q, k, v: [batch, heads, T, head_dim] (k and v [.., past + T, ..]
    after `past` cached positions). softmax(q·kᵀ·scale + causal
    mask)·v, keys after the query's position masked out; with a sliding
    window also the keys `window` or more positions back (transformers'
    sliding_window_overlay: kv_idx > q_idx - sliding_window)."""
    t, s = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-1, -2)) * scale
    qi = torch.arange(t)[:, None] + past
    kj = torch.arange(s)[None, :]
    masked = kj > qi
    if window is not None:
        masked = masked | ~(kj > qi - window)
    scores = scores.masked_fill(masked, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _split_heads(x, heads, head_dim):
    b, t, _ = x.shape
    return x.reshape(b, t, heads, head_dim).transpose(1, 2)


def _merge_heads(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


# ---------------------------------------------------------------------------
# GPT-2


def gpt2_prefix(state):
    """GPT2LMHeadModel saves its body under "transformer."; the original
    openai-community/gpt2 files were saved from GPT2Model and have no
    prefix. Both are accepted."""
    if "transformer.wte.weight" in state:
        return "transformer."
    if "wte.weight" in state:
        return ""
    raise KeyError("no transformer.wte.weight (nor wte.weight) in checkpoint")


def gpt2_forward(config, state, input_ids, lora=None):
    """GPT2LMHeadModel logits [batch, T, vocab] for input_ids [batch, T]."""
    p = gpt2_prefix(state)
    d = config["n_embd"]
    heads = config["n_head"]
    head_dim = d // heads
    eps = config.get("layer_norm_epsilon", 1e-5)
    act = _GPT2_ACTS[config.get("activation_function", "gelu_new")]
    b, t = input_ids.shape
    if t > config["n_positions"]:
        raise ValueError("sequence longer than n_positions")
    x = state[p + "wte.weight"][input_ids] + state[p + "wpe.weight"][torch.arange(t)]
    for i in range(config["n_layer"]):
        h = f"{p}h.{i}."
        y = layer_norm(x, state[h + "ln_1.weight"], state[h + "ln_1.bias"], eps)
        qkv = _conv1d(y, state, h + "attn.c_attn", lora)
        q, k, v = (_split_heads(z, heads, head_dim) for z in qkv.split(d, dim=-1))
        scale = 1.0
        if config.get("scale_attn_weights", True):
            scale /= math.sqrt(head_dim)
        if config.get("scale_attn_by_inverse_layer_idx", False):
            scale /= float(i + 1)
        a = _merge_heads(causal_attention(q, k, v, scale))
        x = x + _conv1d(a, state, h + "attn.c_proj", lora)
        y = layer_norm(x, state[h + "ln_2.weight"], state[h + "ln_2.bias"], eps)
        y = act(_conv1d(y, state, h + "mlp.c_fc", lora))
        x = x + _conv1d(y, state, h + "mlp.c_proj", lora)
    x = layer_norm(x, state[p + "ln_f.weight"], state[p + "ln_f.bias"], eps)
    if config.get("tie_word_embeddings", True):
        head = state[p + "wte.weight"]
    else:
        head = state["lm_head.weight"]
    return x @ head.T


# ---------------------------------------------------------------------------
# Llama / Qwen2


def llama_head_dim(config):
    hd = config.get("head_dim")
    return hd if hd else config["hidden_size"] // config["num_attention_heads"]


def rope_inv_freq(config):
    """Rotary inverse frequencies and the cos/sin scale ("attention factor"),
    as transformers' modeling_rope_utils computes them for rope_type
    "default" and "llama3"."""
    dim = llama_head_dim(config)
    base = float(config.get("rope_theta", 10000.0))
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    scaling = config.get("rope_scaling")
    if not scaling:
        return inv_freq, 1.0
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type == "default":
        return inv_freq, 1.0
    if rope_type != "llama3":
        raise NotImplementedError(f"rope_type {rope_type!r}")
    factor = float(scaling["factor"])
    low = float(scaling["low_freq_factor"])
    high = float(scaling["high_freq_factor"])
    old_len = float(scaling["original_max_position_embeddings"])
    low_freq_wavelen = old_len / low
    high_freq_wavelen = old_len / high
    wavelen = 2 * math.pi / inv_freq
    # wavelengths longer than the original context: divided by factor
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    # in between: a linear blend of the scaled and unscaled frequency
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return torch.where(medium, smoothed, scaled), 1.0


def rope_cos_sin(config, t):
    """cos, sin of shape [T, head_dim]: the angle table pos·inv_freq is
    concatenated with itself (HF's emb = cat(freqs, freqs))."""
    inv_freq, attention_factor = rope_inv_freq(config)
    freqs = torch.outer(torch.arange(t, dtype=torch.float64), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos() * attention_factor, emb.sin() * attention_factor


def rotate_half(x):
    """[x1, x2] -> [-x2, x1] over the two halves of the last dimension: RoPE
    rotates the pairs (i, i + head_dim/2), not adjacent pairs."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


def repeat_kv(x, n_rep):
    """[b, kv_heads, T, d] -> [b, kv_heads·n_rep, T, d]: query head h reads
    key/value head h // n_rep (each kv head repeated n_rep times in place)."""
    if n_rep == 1:
        return x
    b, kv, t, d = x.shape
    return x[:, :, None, :, :].expand(b, kv, n_rep, t, d).reshape(b, kv * n_rep, t, d)


def llama_attention(config, state, prefix, x, cos, sin, lora=None, arch="llama", past_kv=None):
    """The self_attn block of one decoder layer on the normed input x;
    past_kv: the layer's cached (key, value) [batch, kv_heads, P, head_dim],
    keys as stored (already rotated, as transformers' cache holds them)."""
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = llama_head_dim(config)
    if arch == "qwen2":
        qkv_bias, o_bias = True, False
    elif arch == "mistral":
        qkv_bias = o_bias = False  # MistralAttention has no biases
    else:
        qkv_bias = o_bias = bool(config.get("attention_bias", False))
    q = _split_heads(_linear(x, state, prefix + "q_proj", lora, qkv_bias), heads, head_dim)
    k = _split_heads(_linear(x, state, prefix + "k_proj", lora, qkv_bias), kv_heads, head_dim)
    v = _split_heads(_linear(x, state, prefix + "v_proj", lora, qkv_bias), kv_heads, head_dim)
    if arch == "qwen3":
        # Qwen3Attention: RMSNorm over head_dim of each head of q and k
        # (q_norm, k_norm, gain [head_dim]) before the rotation
        eps = config.get("rms_norm_eps", 1e-6)
        q = rms_norm(q, state[prefix + "q_norm.weight"], eps)
        k = rms_norm(k, state[prefix + "k_norm.weight"], eps)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    past = 0
    if past_kv is not None:
        past = past_kv[0].shape[2]
        k, v = torch.cat([past_kv[0], k], dim=2), torch.cat([past_kv[1], v], dim=2)
    n_rep = heads // kv_heads
    window = config.get("sliding_window") if arch == "mistral" else None
    a = causal_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), head_dim**-0.5, window, past)
    return _linear(_merge_heads(a), state, prefix + "o_proj", lora, o_bias)


def llama_forward(config, state, input_ids, lora=None, arch="llama", past=None):
    """LlamaForCausalLM (arch "llama"), Qwen2ForCausalLM ("qwen2"),
    Qwen3ForCausalLM ("qwen3") or MistralForCausalLM ("mistral") logits
    [batch, T, vocab]. past: per layer a cached (key, value) of P earlier
    positions (past_key_values); the tokens then take positions P … P+T−1,
    as transformers numbers them from the cache's length."""
    if config.get("hidden_act", "silu") != "silu":
        raise NotImplementedError(f"hidden_act {config['hidden_act']!r}")
    b, t = input_ids.shape
    if arch in ("qwen2", "qwen3") and config.get("use_sliding_window") and t > config["sliding_window"]:
        raise NotImplementedError("sliding-window attention")
    eps = config.get("rms_norm_eps", 1e-6)
    mlp_bias = arch == "llama" and bool(config.get("mlp_bias", False))
    p0 = past[0][0].shape[2] if past else 0
    cos, sin = rope_cos_sin(config, p0 + t)
    cos, sin = cos[p0:], sin[p0:]
    x = state["model.embed_tokens.weight"][input_ids]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        y = rms_norm(x, state[p + "input_layernorm.weight"], eps)
        x = x + llama_attention(config, state, p + "self_attn.", y, cos, sin, lora, arch, past[i] if past else None)
        y = rms_norm(x, state[p + "post_attention_layernorm.weight"], eps)
        gate = _linear(y, state, p + "mlp.gate_proj", lora, mlp_bias)
        up = _linear(y, state, p + "mlp.up_proj", lora, mlp_bias)
        x = x + _linear(silu(gate) * up, state, p + "mlp.down_proj", lora, mlp_bias)
    x = rms_norm(x, state["model.norm.weight"], eps)
    # LlamaConfig, Qwen2Config, Qwen3Config and MistralConfig all default
    # tie_word_embeddings to False
    if config.get("tie_word_embeddings", False):
        head = state["model.embed_tokens.weight"]
    else:
        head = state["lm_head.weight"]
    return x @ head.T


# ---------------------------------------------------------------------------
# dispatch and loss

ARCHITECTURES = {
    "GPT2LMHeadModel": "gpt2",
    "LlamaForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "MistralForCausalLM": "mistral",
}


def arch_of(config):
    return ARCHITECTURES[config["architectures"][0]]


def forward(config, state, input_ids, lora=None, past=None):
    arch = arch_of(config)
    if arch == "gpt2":
        if past is not None:
            raise NotImplementedError("past_key_values for GPT-2")
        return gpt2_forward(config, state, input_ids, lora)
    return llama_forward(config, state, input_ids, lora, arch, past)


def next_token_loss(logits, input_ids):
    """Mean cross-entropy of predicting input_ids[:, t+1] from position t, for
    t = 0 .. T-2 of every sequence: batch·(T-1) terms, all weighted equally
    (what HF's causal-LM loss gives with labels = input_ids and no -100)."""
    v = logits.shape[-1]
    pred = logits[:, :-1, :].reshape(-1, v)
    target = input_ids[:, 1:].reshape(-1)
    logp = pred - torch.logsumexp(pred, dim=-1, keepdim=True)
    return -logp.gather(1, target[:, None]).mean()


# ---------------------------------------------------------------------------
# predictions: what an evaluation reads off the logits


def label_scores(config, state, prompt, labels, lora=None):
    """log p(label | prompt) for single-token labels: the log-softmax of the
    logits after the prompt's last token, read at each label's id (how a
    classification task ranks its labels)."""
    ids = torch.tensor([prompt], dtype=torch.int64)
    last = forward(config, state, ids, lora)[0, -1]
    logp = last - torch.logsumexp(last, dim=-1)
    return [logp[l].item() for l in labels]


def greedy(config, state, prompt, n_new, lora=None):
    """Greedy decoding: prompt extended n_new times by the most likely next
    token, each step a whole forward pass (no KV cache). Returns the new
    tokens and the smallest gap between the best and second-best logit over
    the steps, which says how far float32 rounding is from changing one."""
    seq, new, margin = list(prompt), [], math.inf
    for _ in range(n_new):
        last = forward(config, state, torch.tensor([seq], dtype=torch.int64), lora)[0, -1]
        top = torch.topk(last, 2).values
        margin = min(margin, (top[0] - top[1]).item())
        nxt = int(torch.argmax(last).item())
        seq.append(nxt)
        new.append(nxt)
    return new, margin
