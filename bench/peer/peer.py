"""PyTorch peer of `harness bench`: trains the same model, method, batch and
optimiser as peftbench's engine and prints one JSON line per configuration.

The model is peftbench's base model (model/model.go): a GPT-2-style decoder
with pre-LayerNorm blocks, learned positions, separate q/k/v/o projections,
GELU (tanh), and the output head tied to the token embedding. The step is
forward, masked mean cross-entropy, backward, global-norm clipping at 1 and
AdamW (beta 0.9/0.999, eps 1e-8, decay on matrices only), as in nn/optim.go.

Usage: python3 peer.py, then one JSON case per line on stdin (see
bench/peer.go); it answers each with one JSON line.
"""

import json
import math
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

    def __init__(self, d_in, d_out, rank=0, alpha=0.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(d_in, d_out) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(d_out))
        self.rank = rank
        if rank:
            bound = 1 / math.sqrt(d_in)
            self.lora_A = torch.nn.Parameter(torch.empty(d_in, rank).uniform_(-bound, bound))
            self.lora_B = torch.nn.Parameter(torch.zeros(rank, d_out))
            self.scale = alpha / rank

    def forward(self, x):
        y = torch.addmm(self.bias, x, self.weight)
        if self.rank:
            y = y + self.scale * ((x @ self.lora_A) @ self.lora_B)
        return y


class Block(torch.nn.Module):
    def __init__(self, c, lora):
        super().__init__()
        d = c["n_embd"]
        self.heads = c["n_head"]
        self.ln_1 = torch.nn.LayerNorm(d, eps=1e-5)
        r = lambda name: (lora["rank"], lora["alpha"]) if lora and name in lora["targets"] else (0, 0.0)
        self.q = Linear(d, d, *r("q"))
        self.k = Linear(d, d, *r("k"))
        self.v = Linear(d, d, *r("v"))
        self.o = Linear(d, d, *r("o"))
        self.ln_2 = torch.nn.LayerNorm(d, eps=1e-5)
        self.fc = Linear(d, c["n_inner"], *r("fc"))
        self.proj = Linear(c["n_inner"], d, *r("proj"))

    def forward(self, x, B, T, mask):
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


class Model(torch.nn.Module):
    def __init__(self, c, lora):
        super().__init__()
        self.wte = torch.nn.Parameter(torch.randn(c["vocab_size"], c["n_embd"]) * 0.02)
        self.wpe = torch.nn.Parameter(torch.randn(c["n_positions"], c["n_embd"]) * 0.01)
        self.blocks = torch.nn.ModuleList(Block(c, lora) for _ in range(c["n_layer"]))
        self.ln_f = torch.nn.LayerNorm(c["n_embd"], eps=1e-5)

    def forward(self, ids, targets, weights):
        B, T = ids.shape
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = (self.wte[ids] + self.wpe[:T]).reshape(B * T, -1)
        for b in self.blocks:
            x = b(x, B, T, mask)
        logits = self.ln_f(x) @ self.wte.t()
        loss = F.cross_entropy(logits, targets.reshape(-1), reduction="none")
        return (loss * weights.reshape(-1)).sum() / weights.sum()


class Case:
    """One configuration, built once and measured as often as asked."""

    def __init__(self, cfg):
        torch.manual_seed(cfg["seed"])
        c, B, T = cfg["model"], cfg["batch"], cfg["length"]
        lora = cfg.get("lora")
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
        self.batches = [torch.randint(c["vocab_size"], (B, T + 1), generator=g) for _ in range(8)]
        self.weights = torch.ones(B, T)
        self.tokens = B * T
        self.threads = None

    def step(self, i):
        seq = self.batches[i % len(self.batches)]
        loss = self.model(seq[:, :-1], seq[:, 1:], self.weights)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return loss.item()

    def measure(self, cfg):
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
        return {
            "name": cfg["name"],
            "tokens_per_sec": self.tokens / secs,
            "ms_per_step": 1000 * secs,
            "trainable_params": sum(p.numel() for p in self.params),
            "loss": loss,
            "torch": torch.__version__,
            "threads": self.threads,
        }


def main():
    # One JSON configuration per input line, one JSON result per output
    # line: the harness alternates the engines case by case.
    cases = {}
    for line in sys.stdin:
        cfg = json.loads(line)
        if cfg["name"] not in cases:
            cases[cfg["name"]] = Case(cfg)
        print(json.dumps(cases[cfg["name"]].measure(cfg)), flush=True)


if __name__ == "__main__":
    main()
