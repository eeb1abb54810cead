"""PyTorch peer of `harness bench`: trains the same model, method, batch and
optimiser as peftbench's engine and prints one JSON line per configuration.

The model is peftbench's base model (model/model.go), in either family. GPT-2:
pre-LayerNorm blocks, learned positions, separate q/k/v/o projections, GELU
(tanh). Llama: pre-RMSNorm blocks, rotary embeddings on q and k (HF's
rotate_half), grouped-query attention, SwiGLU MLP, no biases (Qwen2: on q, k
and v). The output head is tied to the token embedding unless the config
says otherwise. Weights are initialised as model.New does: N(0, 0.02), the
projections back into the residual stream N(0, 0.02/sqrt(2·layers)),
positions N(0, 0.01), biases zero, norm gains one. The step is forward,
masked mean cross-entropy, backward, global-norm clipping at 1 and AdamW
(beta 0.9/0.999, eps 1e-8, decay on matrices only), as in nn/optim.go.

Usage: python3 peer.py, then one JSON case per line on stdin (see
bench/peer.go); it answers each with one JSON line.
"""

import gc
import json
import math
import os
import resource
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the harness reads this line and skips the peer
    print(json.dumps({"error": "torch is not installed (Debian: apt-get install python3-torch)"}))
    sys.exit(0)


class Linear(torch.nn.Module):
    """y = x·W + b with W stored [in, out] as in GPT-2's Conv1D; with a rank
    it also carries a LoRA update scale·(x·A)·B, A uniform, B zero."""

    def __init__(self, d_in, d_out, rank=0, alpha=0.0, bias=True, std=0.02):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(d_in, d_out) * std)
        self.bias = torch.nn.Parameter(torch.zeros(d_out)) if bias else None
        self.rank = rank
        if rank:
            bound = 1 / math.sqrt(d_in)
            self.lora_A = torch.nn.Parameter(torch.empty(d_in, rank).uniform_(-bound, bound))
            self.lora_B = torch.nn.Parameter(torch.zeros(rank, d_out))
            self.scale = alpha / rank

    def forward(self, x):
        y = x @ self.weight if self.bias is None else torch.addmm(self.bias, x, self.weight)
        if self.rank:
            y = y + self.scale * ((x @ self.lora_A) @ self.lora_B)
        return y


def lora_of(lora):
    """Maps a layer's short name (q, v, fc…) to its (rank, alpha): LoRA's
    for a target, none for the rest."""
    return lambda name: (lora["rank"], lora["alpha"]) if lora and name in lora["targets"] else (0, 0.0)


class Block(torch.nn.Module):
    """GPT-2's block."""

    def __init__(self, c, lora):
        super().__init__()
        d = c["n_embd"]
        self.heads = c["n_head"]
        res = 0.02 / math.sqrt(2 * c["n_layer"])
        self.ln_1 = torch.nn.LayerNorm(d, eps=1e-5)
        r = lora_of(lora)
        self.q = Linear(d, d, *r("q"))
        self.k = Linear(d, d, *r("k"))
        self.v = Linear(d, d, *r("v"))
        self.o = Linear(d, d, *r("o"), std=res)
        self.ln_2 = torch.nn.LayerNorm(d, eps=1e-5)
        self.fc = Linear(d, c["n_inner"], *r("fc"))
        self.proj = Linear(c["n_inner"], d, *r("proj"), std=res)

    def forward(self, x, B, T, mask, rope=None):
        a = self.ln_1(x)
        H, dh = self.heads, x.shape[1] // self.heads
        split = lambda t: t.view(B, T, H, dh).transpose(1, 2)  # [B, H, T, dh]
        q, k, v = split(self.q(a)), split(self.k(a)), split(self.v(a))
        s = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(dh))
        p = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
        o = (p @ v).transpose(1, 2).reshape(B * T, H * dh)
        x = x + self.o(o)
        f = self.proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))
        return x + f


class RMSNorm(torch.nn.Module):
    """x / sqrt(mean(x²) + eps) · gain, as HF's LlamaRMSNorm and nn.RMSNorm."""

    def __init__(self, d, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x, cos, sin):
    """Rotary embeddings on x [B, heads, T, dh] in HF's rotate_half pairing:
    column j turns with column j + dh/2."""
    h = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * sin


class LlamaBlock(torch.nn.Module):
    """A Llama-family block: RMSNorm, rotary q and k, grouped-query
    attention (query head h reads key/value head h // (heads/kv_heads), as
    HF's repeat_kv lays them out), SwiGLU MLP down(silu(gate(x)) · up(x))."""

    def __init__(self, c, lora):
        super().__init__()
        d, f = c["n_embd"], c["n_inner"]
        self.heads, self.kv_heads = c["n_head"], c["n_kv_head"]
        dkv = self.kv_heads * d // self.heads
        res = 0.02 / math.sqrt(2 * c["n_layer"])
        r, qkv_bias = lora_of(lora), c["qkv_bias"]
        self.ln_1 = RMSNorm(d, c["norm_eps"])
        self.q = Linear(d, d, *r("q"), bias=qkv_bias)
        self.k = Linear(d, dkv, *r("k"), bias=qkv_bias)
        self.v = Linear(d, dkv, *r("v"), bias=qkv_bias)
        self.o = Linear(d, d, *r("o"), bias=False, std=res)
        self.ln_2 = RMSNorm(d, c["norm_eps"])
        self.gate = Linear(d, f, *r("gate"), bias=False)
        self.up = Linear(d, f, *r("up"), bias=False)
        self.down = Linear(f, d, *r("down"), bias=False, std=res)

    def forward(self, x, B, T, mask, rope):
        a = self.ln_1(x)
        H, KVH, dh = self.heads, self.kv_heads, x.shape[1] // self.heads
        q = rotate(self.q(a).view(B, T, H, dh).transpose(1, 2), *rope)
        k = rotate(self.k(a).view(B, T, KVH, dh).transpose(1, 2), *rope)
        v = self.v(a).view(B, T, KVH, dh).transpose(1, 2)
        if KVH != H:
            k, v = k.repeat_interleave(H // KVH, dim=1), v.repeat_interleave(H // KVH, dim=1)
        s = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(dh))
        p = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
        o = (p @ v).transpose(1, 2).reshape(B * T, H * dh)
        x = x + self.o(o)
        a = self.ln_2(x)
        return x + self.down(F.silu(self.gate(a)) * self.up(a))


class Model(torch.nn.Module):
    def __init__(self, c, lora):
        super().__init__()
        self.llama = c.get("family") == "llama"
        d = c["n_embd"]
        self.wte = torch.nn.Parameter(torch.randn(c["vocab_size"], d) * 0.02)
        if self.llama:
            # Inverse frequencies theta^(-2j/dh), in float64 as nn.RoPETable
            # computes them; the angles are rounded to float32 once.
            dh = d // c["n_head"]
            self.inv_freq = 1 / c["rope_theta"] ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh)
            self.blocks = torch.nn.ModuleList(LlamaBlock(c, lora) for _ in range(c["n_layer"]))
            self.ln_f = RMSNorm(d, c["norm_eps"])
        else:
            self.wpe = torch.nn.Parameter(torch.randn(c["n_positions"], d) * 0.01)
            self.blocks = torch.nn.ModuleList(Block(c, lora) for _ in range(c["n_layer"]))
            self.ln_f = torch.nn.LayerNorm(d, eps=1e-5)
        self.lm_head = torch.nn.Parameter(torch.randn(c["vocab_size"], d) * 0.02) if c.get("untied_head") else None

    def rope(self, T):
        angles = torch.arange(T, dtype=torch.float64)[:, None] * self.inv_freq[None, :]
        angles = torch.cat((angles, angles), dim=-1)  # [T, dh]: columns j and j + dh/2 share an angle
        return angles.cos().float(), angles.sin().float()

    def forward(self, ids, targets, weights):
        B, T = ids.shape
        mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).triu(1)
        rope = None
        if self.llama:
            x = self.wte[ids].reshape(B * T, -1)
            rope = tuple(r.to(ids.device) for r in self.rope(T))
        else:
            x = (self.wte[ids] + self.wpe[:T]).reshape(B * T, -1)
        for b in self.blocks:
            x = b(x, B, T, mask, rope)
        logits = self.ln_f(x) @ (self.wte if self.lm_head is None else self.lm_head).t()
        loss = F.cross_entropy(logits, targets.reshape(-1), reduction="none")
        return (loss * weights.reshape(-1)).sum() / weights.sum()


class Case:
    """One configuration, built once and measured as often as asked."""

    def __init__(self, cfg):
        torch.manual_seed(cfg["seed"])
        c, B, T = cfg["model"], cfg["batch"], cfg["length"]
        lora = cfg.get("lora")
        # "cuda" trains on the GPU, with TF32 products as the harness's
        # cuBLAS uses them unless PEFTBENCH_CUDA_TF32=0.
        self.device = torch.device(cfg.get("device") or "cpu")
        if self.device.type == "cuda":
            tf32 = os.environ.get("PEFTBENCH_CUDA_TF32") != "0"
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        self.model = model = Model(c, lora)
        if lora:
            for name, p in model.named_parameters():
                p.requires_grad = "lora_" in name
        self.params = params = [p for p in model.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg["weight_decay"]},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        self.opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
        g = torch.Generator().manual_seed(cfg["seed"])
        seqs = [torch.randint(c["vocab_size"], (B, T + 1), generator=g) for _ in range(8)]
        self.batches = [(s[:, :-1], s[:, 1:]) for s in seqs]
        self.weights = torch.ones(B, T)
        self.tokens = B * T
        self.threads = None
        self.initial_loss = None
        if cfg.get("weights"):
            load_weights(model, cfg["weights"])
        if cfg.get("check_batch"):
            cb = cfg["check_batch"]
            self.batches = [(torch.tensor(cb["ids"]).view(B, T), torch.tensor(cb["targets"]).view(B, T))]
        if self.device.type != "cpu":
            model.to(self.device)  # in place: the optimiser's parameters move with it
            self.batches = [(i.to(self.device), t.to(self.device)) for i, t in self.batches]
            self.weights = self.weights.to(self.device)
        if cfg.get("check_batch"):
            with torch.no_grad():
                self.initial_loss = self.model(*self.batches[0], self.weights).item()

    def step(self, i):
        ids, targets = self.batches[i % len(self.batches)]
        loss = self.model(ids, targets, self.weights)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return loss.item()

    def measure(self, cfg):
        watching = reset_peak_rss()
        for i in range(cfg["warmup"]):
            self.step(i)
        if self.threads is None:
            # Keep the fastest intra-op thread count up to the limit: on
            # small models one thread often beats several.
            fastest = math.inf
            for n in range(1, max(1, cfg.get("threads", 0)) + 1):
                torch.set_num_threads(n)
                start = time.perf_counter()
                for i in range(3):
                    self.step(i)
                if time.perf_counter() - start < fastest:
                    self.threads, fastest = n, time.perf_counter() - start
        torch.set_num_threads(self.threads)
        times = []
        for i in range(cfg["steps"]):
            start = time.perf_counter()
            loss = self.step(i)
            times.append(time.perf_counter() - start)
        # The median step, as the harness takes it: robust to the bursts of
        # a shared machine.
        secs = statistics.median(times)
        # OpenBLAS's threads keep spinning for a while after their last
        # call; let them go to sleep before the other engine is timed.
        time.sleep(0.5)
        out = {
            "name": cfg["name"],
            "tokens_per_sec": self.tokens / secs,
            "ms_per_step": 1000 * secs,
            "trainable_params": sum(p.numel() for p in self.params),
            "loss": loss,
            "torch": torch.__version__,
            "threads": self.threads,
            "peak_rss_bytes": peak_rss(watching),
            "device": str(self.device) if self.device.type == "cpu" else "cuda " + torch.cuda.get_device_name(self.device),
        }
        if self.device.type == "cuda":
            out["peak_device_bytes"] = torch.cuda.max_memory_allocated(self.device)
        if self.initial_loss is not None:
            out["initial_loss"] = self.initial_loss
        return out


def reset_peak_rss():
    """Resets the process's resident-set high-water mark (Linux: 5 to
    /proc/self/clear_refs), so that the peak read after a case is that
    case's; says whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss(reset):
    """The resident set's peak in bytes: VmHWM since the reset, or, where
    it could not be reset, the process's lifetime peak from getrusage."""
    if reset:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kB


def peer_name(name):
    """The peer's name for one of peftbench's parameters: h.3.attn.q.weight
    is blocks.3.q.weight, h.3.attn.q.lora_A blocks.3.q.lora_A, wte.weight
    wte."""
    if name in ("wte.weight", "wpe.weight", "lm_head.weight"):
        return name.split(".")[0]
    parts = name.split(".")
    if parts[0] == "h":
        return ".".join(["blocks", parts[1]] + [p for p in parts[2:] if p not in ("attn", "mlp")])
    return name


def load_weights(model, path):
    """Replaces every parameter with peftbench's, from path/index.json
    ([name, shape] pairs) and path/<name>.bin (little-endian float32), so
    the harness's tests can check that both engines compute the same loss.
    Every parameter must be replaced."""
    with open(os.path.join(path, "index.json")) as f:
        index = json.load(f)
    params = dict(model.named_parameters())
    seen = set()
    for name, shape in index:
        p = params.get(peer_name(name))
        if p is None or list(p.shape) != shape:
            raise ValueError(f"weights: {name} {shape} has no match (peer: {peer_name(name)}, {None if p is None else list(p.shape)})")
        with open(os.path.join(path, name + ".bin"), "rb") as f:
            data = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
        with torch.no_grad():
            p.copy_(data.view(shape))
        seen.add(peer_name(name))
    if seen != set(params):
        raise ValueError(f"weights: no value for {sorted(set(params) - seen)}")


def main():
    # One JSON configuration per input line, one JSON result per output
    # line: the harness alternates the engines case by case.
    cases = {}
    for line in sys.stdin:
        cfg = json.loads(line)
        if cfg["name"] not in cases:
            cases[cfg["name"]] = Case(cfg)
        out = cases[cfg["name"]].measure(cfg)
        if cfg.get("release"):
            # A large case is built again when next asked for, so that
            # the memory of each is its own.
            del cases[cfg["name"]]
            gc.collect()
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
