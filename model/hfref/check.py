"""Self-checks of reference.py and of the fixtures in testdata/.

Usage: /usr/bin/python3 model/hfref/check.py
Prints one line per check and exits non-zero if any fails. It regenerates
the fixtures twice into temporary folders and compares them byte for byte
with each other and with testdata/, so a stale testdata/ fails here.
"""

import filecmp
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

# no __pycache__ next to the fixtures
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
import reference as ref  # noqa: E402

TESTDATA = os.path.join(mf.HERE, "testdata")
FAILED = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    if not ok:
        FAILED.append(name)


def maxdiff(a, b):
    return (torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)).abs().max().item()


def load_expected(name):
    with open(os.path.join(TESTDATA, name, "expected.json")) as f:
        return json.load(f)


def lora_from_expected(e, requires_grad=False):
    weights = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=requires_grad)
        for k, v in e["lora"]["weights"].items()
    }
    return ref.LoRA.from_peft(e["lora"]["config"], weights), weights


# ---------------------------------------------------------------------------
# primitives against torch's own implementations


def check_primitives():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 16, generator=g, dtype=torch.float64) * 3
    w = torch.randn(16, generator=g, dtype=torch.float64)
    b = torch.randn(16, generator=g, dtype=torch.float64)
    check("layer_norm == F.layer_norm", maxdiff(ref.layer_norm(x, w, b, 1e-5), F.layer_norm(x, (16,), w, b, 1e-5)) < 1e-13)
    check("gelu_new == F.gelu(approximate='tanh')", maxdiff(ref.gelu_tanh(x), F.gelu(x, approximate="tanh")) < 1e-13)
    check("silu == F.silu", maxdiff(ref.silu(x), F.silu(x)) < 1e-14)
    rms = x / torch.sqrt((x**2).sum(-1, keepdim=True) / 16 + 1e-6) * w
    check("rms_norm == x/sqrt(mean(x²)+eps)·w", maxdiff(ref.rms_norm(x, w, 1e-6), rms) < 1e-13)
    ids = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 0]])
    logits = torch.randn(2, 4, 7, generator=g, dtype=torch.float64)
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, 7), ids[:, 1:].reshape(-1))
    check("next_token_loss == F.cross_entropy on shifted ids", abs(ref.next_token_loss(logits, ids).item() - ce.item()) < 1e-14)

    # causal attention against an explicit loop over query positions
    q, k, v = (torch.randn(2, 3, 6, 4, generator=g, dtype=torch.float64) for _ in range(3))
    got = ref.causal_attention(q, k, v, 0.5)
    want = torch.zeros_like(got)
    for i in range(6):
        s = (q[:, :, i : i + 1, :] @ k[:, :, : i + 1, :].transpose(-1, -2)) * 0.5
        want[:, :, i, :] = (torch.softmax(s, -1) @ v[:, :, : i + 1, :])[:, :, 0, :]
    check("causal_attention == per-position loop", maxdiff(got, want) < 1e-14)


def check_bf16_f16_encoding():
    rng = np.random.default_rng(7)
    a = (rng.standard_normal(4096) * 0.3).astype(np.float32)
    # exact ties between two bfloat16 values, both parities of the kept bit
    ties = np.array([0x3F808000, 0x3F818000, 0xBF808000, 0xBF818000, 0x3F80FFFF, 0x00008000], dtype=np.uint32)
    a = np.concatenate([a, ties.view(np.float32)])
    mine = ref.bf16_words_to_float32(mf.float32_to_bf16_words(a)).astype(np.float64)
    torchs = torch.from_numpy(a).to(torch.bfloat16).to(torch.float64).numpy()
    check("bf16 rounding == torch .to(bfloat16) (incl. ties)", np.array_equal(mine, torchs))
    half = np.frombuffer(mf.encode(a, "F16"), dtype="<f2").astype(np.float64)
    check("f16 rounding == torch .half()", np.array_equal(half, torch.from_numpy(a).half().double().numpy()))


# ---------------------------------------------------------------------------
# the fixture files


def check_files():
    to_torch = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    for name, (builder, dtype, targets, _) in mf.FIXTURES.items():
        folder = os.path.join(TESTDATA, name)
        config, state, dtypes = ref.load_checkpoint(folder)
        _, items = builder()
        same = set(state) == {n for n, _ in items} and all(
            torch.equal(state[n], torch.from_numpy(a).to(to_torch[dtype]).to(torch.float64)) for n, a in items
        )
        check(f"{name}: reader gives torch's {dtype} rounding of the generated weights", same)
        check(f"{name}: every tensor stored as {dtype}", set(dtypes.values()) == {dtype})
        tied = config.get("tie_word_embeddings", ref.arch_of(config) == "gpt2")
        check(f"{name}: lm_head.weight present iff untied", ("lm_head.weight" in state) != tied)
        with open(os.path.join(folder, "model.safetensors"), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        order = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
        check(f"{name}: header 8-byte aligned, data order differs from key order",
              n % 8 == 0 and [k for _, k in order] != sorted(k for _, k in order))

    _, s1, _ = ref.load_checkpoint(os.path.join(TESTDATA, "llama"))
    _, s2, _ = ref.load_checkpoint(os.path.join(TESTDATA, "llama-sharded"))
    check("llama-sharded: same tensors as llama", set(s1) == set(s2) and all(torch.equal(s1[k], s2[k]) for k in s1))
    check("llama-sharded: expected.json identical to llama's",
          filecmp.cmp(os.path.join(TESTDATA, "llama", "expected.json"),
                      os.path.join(TESTDATA, "llama-sharded", "expected.json"), shallow=False))
    with open(os.path.join(TESTDATA, "llama-sharded", "model.safetensors.index.json")) as f:
        index = json.load(f)
    check("llama-sharded: index total_size = sum of tensor bytes",
          index["metadata"]["total_size"] == sum(4 * t.numel() for t in s2.values()))


def check_expected():
    for name in list(mf.FIXTURES) + [mf.SHARDED[0]]:
        folder = os.path.join(TESTDATA, name)
        config, state, _ = ref.load_checkpoint(folder)
        arch = ref.arch_of(config)
        e = load_expected(name)
        ids = torch.tensor(e["input_ids"])
        vocab = config["vocab_size"]
        shapes_ok = ids.shape == (2, 7) and torch.tensor(e["logits"]).shape == (2, 7, vocab) \
            and torch.tensor(e["lora"]["logits"]).shape == (2, 7, vocab)
        check(f"{name}: shapes input_ids [2,7], logits [2,7,{vocab}]", shapes_ok)
        with torch.no_grad():
            logits = ref.forward(config, state, ids)
        check(f"{name}: stored logits match a fresh forward (rel 1e-8)",
              maxdiff(logits, e["logits"]) <= 1e-8 * logits.abs().max().item())

        lora, weights = lora_from_expected(e, requires_grad=True)
        n_mod = len(lora.modules)
        want_mod = config.get("n_layer", config.get("num_hidden_layers")) * len(e["lora"]["config"]["target_modules"])
        check(f"{name}: {n_mod} adapted modules", n_mod == want_mod and n_mod == len(weights) // 2)
        lora_logits = ref.forward(config, state, ids, lora)
        loss = ref.next_token_loss(lora_logits, ids)
        loss.backward()
        check(f"{name}: stored LoRA logits and loss match",
              maxdiff(lora_logits, e["lora"]["logits"]) <= 1e-8 * lora_logits.abs().max().item()
              and abs(loss.item() - e["lora"]["loss"]) < 1e-8 * abs(loss.item()))
        gmax = max(maxdiff(weights[k].grad, g) / max(weights[k].grad.abs().max().item(), 1e-300)
                   for k, g in e["lora"]["grads"].items())
        check(f"{name}: stored LoRA gradients match autograd", gmax < 1e-8, f"max rel {gmax:.1e}")
        sizes = {k: weights[k].grad.abs().max().item() for k in weights}
        check(f"{name}: every lora_A and lora_B gradient informative (max |g| > 1e-4)",
              min(sizes.values()) > 1e-4, f"smallest max|g| {min(sizes.values()):.2e}")
        delta = maxdiff(lora_logits, logits)
        check(f"{name}: LoRA moves the logits", delta > 0.1, f"max |Δ| {delta:.3f}")

        # the adapter files PEFT would load give the same adapter
        adapter_dir = os.path.join(folder, "adapter")
        with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
            acfg = json.load(f)
        arrays, _, _ = ref.read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
        same = acfg == e["lora"]["config"] and set(arrays) == set(weights) and all(
            np.array_equal(arrays[k], weights[k].detach().numpy()) for k in arrays)
        check(f"{name}: adapter/ files hold exactly expected.json's LoRA weights", same)

        # merged weights give the adapter's logits
        with torch.no_grad():
            merged = ref.forward(config, ref.merge_lora(arch, state, lora), ids)
        d = maxdiff(merged, lora_logits)
        check(f"{name}: LoRA merged into the weights == adapter applied (1e-10)", d < 1e-10, f"max |Δ| {d:.1e}")

        # central differences on a few entries of the first A and B
        with torch.no_grad():
            for key in sorted(weights)[:2]:
                w = weights[key]
                worst = 0.0
                for idx in [(0, 0), (w.shape[0] - 1, w.shape[1] - 1), (1, 2)]:
                    h, old = 1e-5, w[idx].item()
                    w[idx] = old + h
                    up = ref.next_token_loss(ref.forward(config, state, ids, lora), ids).item()
                    w[idx] = old - h
                    dn = ref.next_token_loss(ref.forward(config, state, ids, lora), ids).item()
                    w[idx] = old
                    worst = max(worst, abs((up - dn) / (2 * h) - w.grad[idx].item()))
                check(f"{name}: finite differences agree with {key.split('.')[-2]} gradient", worst < 1e-8,
                      f"max |Δ| {worst:.1e}")


def check_predictions():
    """The stored predictions are the base model's, are far from a float32
    tie, and on an untied checkpoint tell its head from the embedding."""
    for name in list(mf.FIXTURES) + [mf.SHARDED[0]]:
        config, state, _ = ref.load_checkpoint(os.path.join(TESTDATA, name))
        p = load_expected(name)["predictions"]
        with torch.no_grad():
            # greedy's tokens are the argmax of one forward pass over the
            # whole decoded sequence, position by position (teacher forcing)
            forced = True
            for prompt, new in zip(p["prompts"], p["greedy"]):
                seq = torch.tensor([prompt + new], dtype=torch.int64)
                best = ref.forward(config, state, seq)[0].argmax(dim=-1).tolist()
                forced &= best[len(prompt) - 1:len(prompt) + len(new) - 1] == new
            check(f"{name}: greedy tokens == argmax of one pass over the decoded sequence", forced)
            gap = min(p["greedy_margin"])
            scores = p["label_log_probs"]
            label_gap = min(sorted(r)[-1] - sorted(r)[-2] for r in scores)
            check(f"{name}: predictions far from a float32 tie (top-2 gaps > 1e-3)", gap > 1e-3 and label_gap > 1e-3,
                  f"greedy {gap:.2e}, labels {label_gap:.2e}")
            check(f"{name}: label_choice is the best label_log_probs", p["label_choice"] == [int(np.argmax(r)) for r in scores])
            if config.get("tie_word_embeddings", ref.arch_of(config) == "gpt2"):
                continue
            # the embedding as the head (a tied head where the model has
            # its own) changes the predictions, so a test of them catches it
            emb = "model.embed_tokens.weight"
            wrong = dict(state, **{"lm_head.weight": state[emb]})
            greedy_same = sum(ref.greedy(config, wrong, q, len(n))[0] == n for q, n in zip(p["prompts"], p["greedy"]))
            labels_same = sum(int(np.argmax(ref.label_scores(config, wrong, q, p["labels"]))) == c
                              for q, c in zip(p["prompts"], p["label_choice"]))
            check(f"{name}: with the embedding as head, greedy and label predictions change", greedy_same == 0 and labels_same < len(p["prompts"]),
                  f"{greedy_same} greedy and {labels_same} label predictions of {len(p['prompts'])} unchanged")


# ---------------------------------------------------------------------------
# attention layouts


def loop_attention(config, state, prefix, x, kv_of_head):
    """Llama self-attention written without repeat_kv, rotate_half or
    batched matmuls: per head and query position, RoPE applied as an explicit
    rotation of the pairs (m, m + head_dim/2) by angle pos·inv_freq[m], key
    head kv_of_head(h)."""
    heads = config["num_attention_heads"]
    hd = ref.llama_head_dim(config)
    inv_freq, _ = ref.rope_inv_freq(config)
    wq, wk, wv = (state[prefix + n + ".weight"] for n in ("q_proj", "k_proj", "v_proj"))
    wo = state[prefix + "o_proj.weight"]
    b, t, _ = x.shape

    def rot(vec, pos):
        out = vec.clone()
        half = hd // 2
        for m in range(half):
            c, s = math.cos(pos * inv_freq[m].item()), math.sin(pos * inv_freq[m].item())
            out[m] = vec[m] * c - vec[m + half] * s
            out[m + half] = vec[m] * s + vec[m + half] * c
        return out

    out = torch.zeros(b, t, heads * hd, dtype=torch.float64)
    for bi in range(b):
        for h in range(heads):
            g = kv_of_head(h)
            qh, kh, vh = wq[h * hd : (h + 1) * hd], wk[g * hd : (g + 1) * hd], wv[g * hd : (g + 1) * hd]
            keys = [rot(kh @ x[bi, j], j) for j in range(t)]
            vals = [vh @ x[bi, j] for j in range(t)]
            for i in range(t):
                q = rot(qh @ x[bi, i], i)
                s = [float(q @ keys[j]) / math.sqrt(hd) for j in range(i + 1)]
                mx = max(s)
                p = [math.exp(v - mx) for v in s]
                z = sum(p)
                out[bi, i, h * hd : (h + 1) * hd] = sum((p[j] / z) * vals[j] for j in range(i + 1))
    return out @ wo.T


def check_attention():
    rng = np.random.default_rng(11)
    d, heads, hd, t = 32, 4, 8, 6

    def weights(kv, hd=hd):
        return {
            "a.q_proj.weight": torch.tensor(rng.standard_normal((heads * hd, d)) * 0.2),
            "a.k_proj.weight": torch.tensor(rng.standard_normal((kv * hd, d)) * 0.2),
            "a.v_proj.weight": torch.tensor(rng.standard_normal((kv * hd, d)) * 0.2),
            "a.o_proj.weight": torch.tensor(rng.standard_normal((d, heads * hd)) * 0.2),
        }

    x = torch.tensor(rng.standard_normal((2, t, d)))
    cfg = {"hidden_size": d, "num_attention_heads": heads, "num_key_value_heads": heads, "rope_theta": 10000.0}
    cos, sin = ref.rope_cos_sin(cfg, t)
    st = weights(heads)
    got = ref.llama_attention(cfg, st, "a.", x, cos, sin)
    d1 = maxdiff(got, loop_attention(cfg, st, "a.", x, lambda h: h))
    check("GQA code with num_key_value_heads == num_attention_heads == plain multi-head attention", d1 < 1e-12,
          f"max |Δ| {d1:.1e}")

    # 2 kv heads: query head h reads kv head h // 2, which is the same as
    # multi-head attention with each kv head's k/v rows duplicated
    cfg2 = dict(cfg, num_key_value_heads=2)
    st2 = weights(2)
    got2 = ref.llama_attention(cfg2, st2, "a.", x, cos, sin)
    d2 = maxdiff(got2, loop_attention(cfg2, st2, "a.", x, lambda h: h // 2))
    dup = dict(st2)
    for n in ("a.k_proj.weight", "a.v_proj.weight"):
        dup[n] = st2[n].view(2, hd, d).repeat_interleave(2, dim=0).reshape(heads * hd, d)
    d3 = maxdiff(got2, ref.llama_attention(cfg, dup, "a.", x, cos, sin))
    check("GQA (2 kv heads) == loop with kv head h//2 == MHA with duplicated k/v rows",
          d2 < 1e-12 and d3 < 1e-12, f"max |Δ| {max(d2, d3):.1e}")
    other = maxdiff(got2, loop_attention(cfg2, st2, "a.", x, lambda h: h % 2))
    check("GQA head mapping is distinguishable (h % 2 differs)", other > 1e-3)

    # a config head_dim that is not hidden/heads (none of the fixtures has one)
    cfg3 = dict(cfg2, head_dim=16)
    st3 = weights(2, hd=16)
    cos3, sin3 = ref.rope_cos_sin(cfg3, t)
    d4 = maxdiff(ref.llama_attention(cfg3, st3, "a.", x, cos3, sin3),
                 loop_attention(cfg3, st3, "a.", x, lambda h: h // 2))
    check("config head_dim 16 != hidden/heads: q_proj [64, 32] attention == loop",
          st3["a.q_proj.weight"].shape == (64, 32) and d4 < 1e-12, f"max |Δ| {d4:.1e}")


def check_variants():
    # llama3: every branch of the rule used, and the scaling shows in logits
    config, state, _ = ref.load_checkpoint(os.path.join(TESTDATA, "llama3"))
    hd = ref.llama_head_dim(config)
    base = 1.0 / config["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    scaled, _ = ref.rope_inv_freq(config)
    f = config["rope_scaling"]["factor"]
    kept = int(torch.isclose(scaled, base, rtol=0, atol=0).sum())
    divided = int(torch.isclose(scaled, base / f, rtol=1e-15, atol=0).sum())
    smoothed = len(base) - kept - divided
    check("llama3: rope frequencies kept / smoothed / divided", kept >= 1 and smoothed >= 1 and divided >= 1,
          f"{kept} / {smoothed} / {divided}")
    ids = torch.tensor(load_expected("llama3")["input_ids"])
    with torch.no_grad():
        with_scaling = ref.forward(config, state, ids)
        without = ref.forward(dict(config, rope_scaling=None), state, ids)
    d = maxdiff(with_scaling, without)
    check("llama3: rope_scaling changes the logits", d > 1e-2, f"max |Δ| {d:.3f}")

    # qwen3: the per-head q/k norms matter
    config, state, _ = ref.load_checkpoint(os.path.join(TESTDATA, "qwen3"))
    ids = torch.tensor(load_expected("qwen3")["input_ids"])
    plain = dict(state)
    for key in state:
        if key.endswith(("q_norm.weight", "k_norm.weight")):
            plain[key] = torch.ones_like(state[key])
    d = (ref.forward(config, state, ids) - ref.forward(config, plain, ids)).abs().max().item()
    check("qwen3: q_norm/k_norm gains change the logits", d > 1e-2, f"max |Δ| {d:.3f}")
    check("qwen3: head_dim 16 with 4 heads is not hidden/heads", ref.llama_head_dim(config) * 4 != config["hidden_size"])

    # mistral: the sliding window masks keys the causal mask shows, and
    # equals the causal mask when the window covers the sequence
    config, state, _ = ref.load_checkpoint(os.path.join(TESTDATA, "mistral"))
    ids = torch.tensor(load_expected("mistral")["input_ids"])
    wide = dict(config, sliding_window=ids.shape[1])
    none = dict(config, sliding_window=None)
    d = (ref.forward(config, state, ids) - ref.forward(none, state, ids)).abs().max().item()
    check("mistral: a window of 4 over 7 tokens changes the logits", d > 1e-2, f"max |Δ| {d:.3f}")
    d0 = (ref.forward(config, state, ids[:, :4]) - ref.forward(none, state, ids[:, :4])).abs().max().item()
    dw = (ref.forward(wide, state, ids) - ref.forward(none, state, ids)).abs().max().item()
    check("mistral: no change while the window covers the keys", d0 == 0 and dw == 0, f"max |Δ| {max(d0, dw):.1e}")

    # qwen2: the q/k/v biases matter
    config, state, _ = ref.load_checkpoint(os.path.join(TESTDATA, "qwen2"))
    ids = torch.tensor(load_expected("qwen2")["input_ids"])
    no_bias = {k: (torch.zeros_like(v) if k.endswith("_proj.bias") else v) for k, v in state.items()}
    with torch.no_grad():
        d = maxdiff(ref.forward(config, state, ids), ref.forward(config, no_bias, ids))
    check("qwen2: q/k/v biases change the logits", d > 1e-2, f"max |Δ| {d:.3f}")

    # gpt2: the unprefixed layout of the original hub files reads the same
    config, state, _ = ref.load_checkpoint(os.path.join(TESTDATA, "gpt2"))
    ids = torch.tensor(load_expected("gpt2")["input_ids"])
    bare = {k[len("transformer."):]: v for k, v in state.items()}
    with torch.no_grad():
        d = maxdiff(ref.forward(config, state, ids), ref.forward(config, bare, ids))
    check("gpt2: names without 'transformer.' give the same logits", d == 0.0)


def check_determinism():
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        mf.generate(a)
        mf.generate(b)

        def files(root):
            return sorted(os.path.relpath(os.path.join(dp, f), root)
                          for dp, _, fs in os.walk(root) for f in fs)

        fa, fb, ft = files(a), files(b), files(TESTDATA)
        same_ab = fa == fb and all(filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False) for f in fa)
        check("regenerating twice gives identical bytes", same_ab, f"{len(fa)} files")
        same_t = fa == ft and all(filecmp.cmp(os.path.join(a, f), os.path.join(TESTDATA, f), shallow=False) for f in fa)
        check("testdata/ is what make_fixtures.py writes now", same_t)
    total = sum(os.path.getsize(os.path.join(TESTDATA, f)) for f in ft)
    # seven fixtures of about 150 kB each
    check("testdata/ under 1.25 MB", total < 1_250_000, f"{total} bytes")


def main():
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    check_primitives()
    check_bf16_f16_encoding()
    check_files()
    check_expected()
    check_predictions()
    check_attention()
    check_variants()
    check_determinism()
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
