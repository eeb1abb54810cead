"""Writes the tiny random HF checkpoints in testdata/ and their expected
outputs from reference.py.

Usage: /usr/bin/python3 model/hfref/make_fixtures.py [OUTDIR]
(OUTDIR defaults to model/hfref/testdata). The output is a pure function of
the seeds below: rerunning rewrites identical bytes (check.py verifies it).

Each fixture folder holds
  config.json                  HF's field names, indent 2, sorted keys
  model.safetensors            or the two shards plus model.safetensors.index.json
  adapter/adapter_config.json  PEFT LoRA config
  adapter/adapter_model.safetensors  the LoRA A/B weights under PEFT's names, F32
  expected.json                inputs, logits, loss, LoRA weights, LoRA logits,
                               LoRA loss and gradients (see README.md)
"""

import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

# no __pycache__ next to the fixtures
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Output digits for computed values. Inputs (weights, LoRA matrices) are
# written exactly instead, so a reader gets the very numbers used here.
DIGITS = 9

LORA_R = 4
LORA_ALPHA = 8

# Weight scales: large enough that a wrong transpose, a missing bias, a
# swapped norm or a wrong rotary convention moves the logits well beyond
# float32 noise.
STD_LINEAR = 0.2
STD_BIAS = 0.1
STD_EMBED = 0.3
STD_GAIN = 0.1  # norm gains are 1 + N(0, STD_GAIN²)
STD_LORA = 0.2


# ---------------------------------------------------------------------------
# encoding and writing


def float32_to_bf16_words(a):
    """Round-to-nearest-even from float32 to bfloat16 (what torch's
    .to(torch.bfloat16) does for finite values): add 0x7FFF plus the lowest
    kept bit, then drop the low 16 bits."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2")


def encode(a, dtype):
    """Little-endian bytes of float32 array a stored as dtype."""
    if dtype == "F32":
        return np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "F16":
        # numpy's float32 -> float16 conversion rounds to nearest even
        return np.ascontiguousarray(a, dtype=np.float32).astype("<f2").tobytes()
    if dtype == "BF16":
        return float32_to_bf16_words(a).tobytes()
    raise ValueError(dtype)


def safetensors_bytes(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes), stored in that order
    with contiguous offsets. The header's keys are sorted (so its order is not
    the data order), and it is padded with spaces to a multiple of 8 bytes as
    the safetensors library does."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        offset += len(raw)
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(raw for _, _, _, raw in tensors)


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_json_hf(path, obj):
    """HF's own layout for config.json and index files."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _scalar(v):
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        # repr is the shortest string that reads back as the same float64
        r = repr(v)
        if r in ("nan", "inf", "-inf"):
            raise ValueError("non-finite value in expected output")
        return r
    return json.dumps(v)


def dump_json(obj, indent=0):
    """Deterministic JSON: sorted keys, one-space indentation per level, and
    every list of scalars on one line (keeps the files small and diffable)."""
    pad = " " * indent
    if isinstance(obj, dict):
        items = [
            f'{pad} {json.dumps(k)}: {dump_json(obj[k], indent + 1)}' for k in sorted(obj)
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in obj):
            return "[" + ", ".join(_scalar(v) for v in obj) + "]"
        items = [pad + " " + dump_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return _scalar(obj)


def rounded(t):
    """Nested lists of a float64 tensor, each value rounded to DIGITS
    significant digits."""
    arr = t.detach().to(torch.float64).numpy()
    return np.vectorize(lambda x: float(f"{x:.{DIGITS}g}"), otypes=[object])(arr).tolist()


def exact(t):
    """Nested lists of the exact float64 values."""
    return t.detach().to(torch.float64).numpy().tolist()


# ---------------------------------------------------------------------------
# fixture definitions


def input_ids(vocab):
    """Two fixed sequences of 7 ids: a repeated id, id 0 and the last id of
    the vocabulary are all present."""
    return [[1, 17, 42, 93, 5, 63, 28], [88, 3, 3, 51, 70, 0, vocab - 1]]


class Params:
    """Ordered float32 weights drawn from one seeded generator."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.items = []

    def normal(self, name, shape, std, mean=0.0):
        a = (mean + std * self.rng.standard_normal(shape)).astype(np.float32)
        self.items.append((name, a))


def gpt2_fixture():
    v, d, layers, heads, n_pos = 101, 32, 2, 4, 64
    config = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": v - 1,
        "embd_pdrop": 0.1,
        "eos_token_id": v - 1,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": n_pos,
        "n_embd": d,
        "n_head": heads,
        "n_inner": None,
        "n_layer": layers,
        "n_positions": n_pos,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": v,
    }
    p = Params(1001)
    p.normal("transformer.wte.weight", (v, d), STD_EMBED)
    p.normal("transformer.wpe.weight", (n_pos, d), STD_EMBED)
    for i in range(layers):
        h = f"transformer.h.{i}."
        p.normal(h + "ln_1.weight", (d,), STD_GAIN, 1.0)
        p.normal(h + "ln_1.bias", (d,), STD_BIAS)
        p.normal(h + "attn.c_attn.weight", (d, 3 * d), STD_LINEAR)
        p.normal(h + "attn.c_attn.bias", (3 * d,), STD_BIAS)
        p.normal(h + "attn.c_proj.weight", (d, d), STD_LINEAR)
        p.normal(h + "attn.c_proj.bias", (d,), STD_BIAS)
        p.normal(h + "ln_2.weight", (d,), STD_GAIN, 1.0)
        p.normal(h + "ln_2.bias", (d,), STD_BIAS)
        p.normal(h + "mlp.c_fc.weight", (d, 4 * d), STD_LINEAR)
        p.normal(h + "mlp.c_fc.bias", (4 * d,), STD_BIAS)
        p.normal(h + "mlp.c_proj.weight", (4 * d, d), STD_LINEAR)
        p.normal(h + "mlp.c_proj.bias", (d,), STD_BIAS)
    p.normal("transformer.ln_f.weight", (d,), STD_GAIN, 1.0)
    p.normal("transformer.ln_f.bias", (d,), STD_BIAS)
    return config, p.items


def llama_like_fixture(arch, seed, vocab, tied, torch_dtype, extra):
    d, inter, layers, heads, kv = 32, 64, 2, 4, 2
    names = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM", "mistral": "MistralForCausalLM"}
    config = {
        "architectures": [names[arch]],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": d,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "max_position_embeddings": 64,
        "model_type": arch,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": tied,
        "torch_dtype": torch_dtype,
        "use_cache": True,
        "vocab_size": vocab,
    }
    if arch == "llama":
        config.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
    config.update(extra)
    hd = ref.llama_head_dim(config)
    p = Params(seed)
    p.normal("model.embed_tokens.weight", (vocab, d), STD_EMBED)
    for i in range(layers):
        h = f"model.layers.{i}."
        p.normal(h + "input_layernorm.weight", (d,), STD_GAIN, 1.0)
        for name, rows in (("q_proj", heads * hd), ("k_proj", kv * hd), ("v_proj", kv * hd)):
            p.normal(h + f"self_attn.{name}.weight", (rows, d), STD_LINEAR)
            if arch == "qwen2":
                # larger than STD_BIAS: a dropped q/k bias must show despite RoPE
                p.normal(h + f"self_attn.{name}.bias", (rows,), 0.3)
        p.normal(h + "self_attn.o_proj.weight", (d, heads * hd), STD_LINEAR)
        if arch == "qwen3":
            # larger than STD_GAIN: per-head norms must show in the logits
            p.normal(h + "self_attn.q_norm.weight", (hd,), 0.3, 1.0)
            p.normal(h + "self_attn.k_norm.weight", (hd,), 0.3, 1.0)
        p.normal(h + "post_attention_layernorm.weight", (d,), STD_GAIN, 1.0)
        p.normal(h + "mlp.gate_proj.weight", (inter, d), STD_LINEAR)
        p.normal(h + "mlp.up_proj.weight", (inter, d), STD_LINEAR)
        p.normal(h + "mlp.down_proj.weight", (d, inter), STD_LINEAR)
    p.normal("model.norm.weight", (d,), STD_GAIN, 1.0)
    if not tied:
        p.normal("lm_head.weight", (vocab, d), STD_LINEAR)
    return config, p.items


def llama_fixture():
    return llama_like_fixture("llama", 1002, 100, False, "float32", {})


def llama3_fixture():
    # head_dim is written out, as Llama 3.2's config does, and equals
    # hidden/heads. With rope_theta 1e4 and head_dim 8 the rotary wavelengths
    # 2π/inv_freq are 6.3, 62.8, 628 and 6283; original_max_position_embeddings
    # 128 with low/high factors 1/4 puts the first below 128/4 = 32 (kept), the
    # second between 32 and 128 (smoothed, blend weight 0.35) and the last two
    # above 128 (divided by 8), so every branch of the llama3 rule is used.
    # (With 16 the kept branch is never reached: inv_freq[0] = 1 has
    # wavelength 2π > 16/4.)
    extra = {
        "head_dim": 8,
        "max_position_embeddings": 1024,
        "rope_scaling": {
            "factor": 8.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 128,
            "rope_type": "llama3",
        },
    }
    return llama_like_fixture("llama", 1003, 98, True, "bfloat16", extra)


def qwen2_fixture():
    extra = {
        "max_window_layers": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 64,
        "use_sliding_window": False,
    }
    return llama_like_fixture("qwen2", 1004, 104, True, "float16", extra)


def qwen3_fixture():
    # head_dim 16 with 4 heads: q is 64 wide against hidden_size 32, as
    # Qwen3-0.6B's 16 heads of 128 against 1024
    extra = {
        "attention_bias": False,
        "head_dim": 16,
        "max_window_layers": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "use_sliding_window": False,
    }
    return llama_like_fixture("qwen3", 1005, 103, True, "bfloat16", extra)


def mistral_fixture():
    # a window of 4 keys, shorter than the fixtures' 7 tokens, so that the
    # window masks keys the causal mask alone would show
    extra = {"sliding_window": 4, "rope_theta": 10000.0}
    return llama_like_fixture("mistral", 1006, 99, False, "float16", extra)


# name -> (builder, storage dtype, LoRA targets, fan_in_fan_out)
FIXTURES = {
    "gpt2": (gpt2_fixture, "F32", ["c_attn"], True),
    "llama": (llama_fixture, "F32", ["q_proj", "v_proj"], False),
    "llama3": (llama3_fixture, "BF16", ["q_proj", "v_proj"], False),
    "qwen2": (qwen2_fixture, "F16", ["q_proj", "v_proj"], False),
    "qwen3": (qwen3_fixture, "BF16", ["q_proj", "v_proj"], False),
    "mistral": (mistral_fixture, "F16", ["q_proj", "v_proj"], False),
}
SHARDED = ("llama-sharded", "llama")


def adapter_config(targets, fan_in_fan_out):
    """adapter_config.json as PEFT writes it for a causal LM (fields that
    matter for the forward pass plus the usual bookkeeping ones)."""
    return {
        "base_model_name_or_path": None,
        "bias": "none",
        "fan_in_fan_out": fan_in_fan_out,
        "inference_mode": True,
        "init_lora_weights": True,
        "lora_alpha": LORA_ALPHA,
        "lora_dropout": 0.0,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": LORA_R,
        "target_modules": sorted(targets),
        "task_type": "CAUSAL_LM",
        "use_rslora": False,
    }


def lora_weights(arch, state, targets, seed):
    """Random float32 A [r, in] and B [out, r] for every targeted module, in
    module-path order. B is not zero (PEFT initialises it to zero, which would
    make A's gradient vanish)."""
    rng = np.random.default_rng(seed)
    out = {}
    for path in ref.target_module_paths(state, targets):
        w = state[path + ".weight"]
        d_in, d_out = (w.shape[0], w.shape[1]) if arch == "gpt2" else (w.shape[1], w.shape[0])
        a = (STD_LORA * rng.standard_normal((LORA_R, d_in))).astype(np.float32)
        b = (STD_LORA * rng.standard_normal((d_out, LORA_R))).astype(np.float32)
        out[path] = (a, b)
    return out


def prediction_prompts(vocab):
    """Prompts of 1, 4 and 7 ids for label scoring and greedy decoding; the
    harness pads the shorter ones when it batches them with the longest."""
    a, b = input_ids(vocab)
    return [b[:1], a[:4], b]


# Single-token label ids that every fixture's vocabulary holds.
PREDICTION_LABELS = [2, 17, 42, 63]
GREEDY_NEW = 6


def predictions(config, state):
    """Per-prompt predictions of the base model: which label a
    classification task picks, the labels' log-probabilities, and greedy
    decoding's new tokens with the smallest top-2 logit gap seen."""
    with torch.no_grad():
        out = {"prompts": prediction_prompts(config["vocab_size"]), "labels": PREDICTION_LABELS,
               "label_log_probs": [], "label_choice": [], "greedy": [], "greedy_margin": []}
        for p in out["prompts"]:
            scores = ref.label_scores(config, state, p, PREDICTION_LABELS)
            out["label_log_probs"].append([float(f"{s:.{DIGITS}g}") for s in scores])
            out["label_choice"].append(int(np.argmax(scores)))
            new, margin = ref.greedy(config, state, p, GREEDY_NEW)
            out["greedy"].append(new)
            out["greedy_margin"].append(float(f"{margin:.{DIGITS}g}"))
    return out


def expected_for(folder, fan_in_fan_out, targets, lora_seed):
    """Loads the written checkpoint back through reference.py and computes
    every expected value from the stored (rounded) weights."""
    config, state, _ = ref.load_checkpoint(folder)
    arch = ref.arch_of(config)
    ids = torch.tensor(input_ids(config["vocab_size"]), dtype=torch.int64)
    with torch.no_grad():
        logits = ref.forward(config, state, ids)
        loss = ref.next_token_loss(logits, ids)

    raw = lora_weights(arch, state, targets, lora_seed)
    modules = {
        path: (
            torch.tensor(a, dtype=torch.float64, requires_grad=True),
            torch.tensor(b, dtype=torch.float64, requires_grad=True),
        )
        for path, (a, b) in raw.items()
    }
    lora = ref.LoRA(LORA_R, LORA_ALPHA, modules)
    lora_logits = ref.forward(config, state, ids, lora)
    lora_loss = ref.next_token_loss(lora_logits, ids)
    lora_loss.backward()

    weights, grads, adapter_tensors = {}, {}, []
    for path, (a, b) in modules.items():
        for which, t, t32 in (("A", a, raw[path][0]), ("B", b, raw[path][1])):
            key = ref.LoRA.key(path, which)
            weights[key] = exact(t)
            grads[key] = rounded(t.grad)
            adapter_tensors.append((key, "F32", t32.shape, encode(t32, "F32")))

    expected = {
        "input_ids": ids.tolist(),
        "logits": rounded(logits),
        "loss": float(f"{loss.item():.{DIGITS}g}"),
        "lora": {
            "config": adapter_config(targets, fan_in_fan_out),
            "scaling": lora.scaling,
            "weights": weights,
            "logits": rounded(lora_logits),
            "loss": float(f"{lora_loss.item():.{DIGITS}g}"),
            "grads": grads,
        },
    }
    if arch != "gpt2":
        inv_freq, _ = ref.rope_inv_freq(config)
        expected["rope_inv_freq"] = rounded(inv_freq)
    expected["predictions"] = predictions(config, state)
    adapter_tensors.sort(key=lambda item: item[0])
    return expected, adapter_tensors


def write_fixture(root, name, config, items, dtype, targets, fan_in_fan_out, lora_seed, shards=None):
    folder = os.path.join(root, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(os.path.join(folder, "adapter"))
    write_json_hf(os.path.join(folder, "config.json"), config)
    tensors = [(n, dtype, a.shape, encode(a, dtype)) for n, a in items]
    meta = {"format": "pt"}
    if shards is None:
        write_bytes(os.path.join(folder, "model.safetensors"), safetensors_bytes(tensors, meta))
    else:
        weight_map, count = {}, len(shards)
        for k, names in enumerate(shards):
            fname = f"model-{k + 1:05d}-of-{count:05d}.safetensors"
            part = [t for t in tensors if t[0] in names]
            write_bytes(os.path.join(folder, fname), safetensors_bytes(part, meta))
            weight_map.update({t[0]: fname for t in part})
        if set(weight_map) != {t[0] for t in tensors}:
            raise AssertionError("shards do not cover every tensor exactly once")
        total = sum(len(raw) for _, _, _, raw in tensors)
        write_json_hf(
            os.path.join(folder, "model.safetensors.index.json"),
            {"metadata": {"total_size": total}, "weight_map": weight_map},
        )
    expected, adapter_tensors = expected_for(folder, fan_in_fan_out, targets, lora_seed)
    write_json_hf(
        os.path.join(folder, "adapter", "adapter_config.json"), expected["lora"]["config"]
    )
    write_bytes(
        os.path.join(folder, "adapter", "adapter_model.safetensors"),
        safetensors_bytes(adapter_tensors, {"format": "pt"}),
    )
    write_bytes(os.path.join(folder, "expected.json"), (dump_json(expected) + "\n").encode())


def generate(root):
    # one thread: float64 BLAS results then cannot depend on how work is split
    torch.set_num_threads(1)
    os.makedirs(root, exist_ok=True)
    for k, (name, (builder, dtype, targets, fifo)) in enumerate(FIXTURES.items()):
        config, items = builder()
        write_fixture(root, name, config, items, dtype, targets, fifo, 2001 + k)
    # the sharded copy: embeddings and layer 0 in the first file, the rest
    # in the second
    name, base = SHARDED
    builder, dtype, targets, fifo = FIXTURES[base]
    config, items = builder()
    first = {n for n, _ in items if n.startswith(("model.embed_tokens.", "model.layers.0."))}
    second = {n for n, _ in items} - first
    lora_seed = 2001 + list(FIXTURES).index(base)
    write_fixture(root, name, config, items, dtype, targets, fifo, lora_seed, [first, second])


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "testdata")
    generate(root)
    print(f"fixtures written to {root}")


if __name__ == "__main__":
    main()
