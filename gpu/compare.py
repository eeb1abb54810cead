"""Compares the same sweep run on two devices, trial by trial: selected
epoch, test accuracy, test outcomes that differ, training tokens/s and
device memory. Usage: gpu/compare.py CPU_RESULTS GPU_RESULTS. Exits non-zero
when a trial failed, selected another epoch, or more than 2% of its test
outcomes differ."""

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
print(f"{'configuration':<16} {'epoch':>9} {'test accuracy':>15} {'differ':>7} {'tokens/s cpu':>13} {'tokens/s gpu':>13} {'speed-up':>9} {'device peak':>12}")
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
    print(f"{name:<16} {ce:>4}/{ge:<4} {c['metrics']['test_accuracy']:>7.3f}/{g['metrics']['test_accuracy']:<7.3f} {differ:>7} {tc:>13.0f} {tg:>13.0f} {speed:>9} {peak:>9.1f} MiB")
    if ce != ge or differ > 0.02 * len(oc):
        bad += 1
dev = next((r.get("device") for r in gpu.values() if r.get("device")), None)
print("GPU trials ran on:", dev and f"{dev['name']} ({dev['kind']}, {dev['info'].get('matmul_precision')})")
sys.exit(1 if bad else 0)
