"""Compares the same sweep run on two devices, trial by trial: how many
optimizer steps agree (losses within 1e-3, relative, from the first step),
selected epoch, test accuracy, test outcomes that differ, training tokens/s
and device memory. Usage: gpu/compare.py CPU_RESULTS GPU_RESULTS. Exits
non-zero when a trial failed or the first step disagrees. Rounding
differences grow over a run (two CPUs' BLAS kernels do the same), so later
steps, the selected epoch and some outcomes may differ: they are shown, not
held to."""

import glob
import json
import os
import sys


def load(folder):
    out = {}
    for path in glob.glob(os.path.join(folder, "trials", "*.json")):
        with open(path) as f:
            r = json.load(f)
        out[r["spec"].get("name") or r["spec"]["method"]] = r
    return out


cpu, gpu = load(sys.argv[1]), load(sys.argv[2])
bad = 0
def agreeing(a, b):
    """Steps from the first whose losses agree within 1e-3, relative."""
    n = 0
    for p, q in zip(a.get("step_log") or [], b.get("step_log") or []):
        if abs(p["loss"] - q["loss"]) > 1e-3 * max(1.0, abs(p["loss"])):
            break
        n = p["step"]
    return n


print(f"{'configuration':<16} {'agree':>7} {'epoch':>9} {'test accuracy':>15} {'differ':>7} {'tokens/s cpu':>13} {'tokens/s gpu':>13} {'speed-up':>9} {'device peak':>12}")
for name in sorted(cpu):
    c, g = cpu[name], gpu.get(name)
    if g is None or c["status"] != "success" or g["status"] != "success":
        print(f"{name:<16} failed or missing: cpu {c['status']} {c['error']}; gpu {g and (g['status'] + ' ' + g['error'])}")
        bad += 1
        continue
    oc, og = c["outcomes"][0]["correct"], g["outcomes"][0]["correct"]
    differ = sum(a != b for a, b in zip(oc, og))
    ce, ge = c.get("best_epoch", 0), g.get("best_epoch", 0)
    tc, tg = c["tokens_per_sec"], g["tokens_per_sec"]
    peak = (g.get("device") or {}).get("peak_memory_bytes", 0) / 2**20
    speed = f"{tg / tc:.1f}x" if tc > 0 else "-"
    agree = agreeing(c, g)
    steps = c.get("steps", 0)
    print(f"{name:<16} {agree:>3}/{steps:<3} {ce:>4}/{ge:<4} {c['metrics']['test_accuracy']:>7.3f}/{g['metrics']['test_accuracy']:<7.3f} {differ:>7} {tc:>13.0f} {tg:>13.0f} {speed:>9} {peak:>9.1f} MiB")
    if steps > 0 and agree == 0:
        bad += 1
dev = next((r.get("device") for r in gpu.values() if r.get("device")), None)
print("GPU trials ran on:", dev and f"{dev['name']} ({dev['kind']}, {dev['info'].get('matmul_precision')})")
sys.exit(1 if bad else 0)
