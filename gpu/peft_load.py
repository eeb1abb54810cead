"""Loads every adapter the harness writes in Hugging Face PEFT's format with
PEFT itself: transformers builds the base model from a model/hfref fixture
(config.json and safetensors), peft.PeftModel.from_pretrained applies the
adapter folder, and the logits are compared with the ones the Go side
computed. Needs torch, transformers and peft (the GPU machines have them).

Usage: python3 gpu/peft_load.py DIR   (DIR as .ci/peft-reference.sh writes:
one folder per adapter with adapter_config.json, adapter_model.safetensors,
base and expected.json)."""

import json
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model", "hfref", "testdata")
LIMIT = 1e-4


def check(folder):
    with open(os.path.join(folder, "base")) as f:
        base = os.path.join(TESTDATA, f.read().strip())
    with open(os.path.join(folder, "expected.json")) as f:
        want = json.load(f)
    model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float64)
    model = PeftModel.from_pretrained(model, folder).eval()
    ids = torch.tensor(want["input_ids"])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    logits = logits[:, -ids.shape[1]:, :]  # prompt tuning's virtual positions come first
    exp = torch.tensor(want["logits"], dtype=torch.float64)
    return (logits - exp).abs().max().item()


def main():
    root = sys.argv[1]
    failed = []
    names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
    for name in names:
        try:
            worst = check(os.path.join(root, name))
        except Exception as e:  # a load PEFT refuses is a finding, not a crash
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            failed.append(name)
            continue
        ok = worst <= LIMIT
        print(f"{'ok  ' if ok else 'FAIL'} {name}: PEFT's logits within {worst:.2e} of the harness's")
        if not ok:
            failed.append(name)
    print(f"{len(names) - len(failed)} of {len(names)} adapters load in PEFT and agree within {LIMIT:g}")
    sys.exit(1 if failed or not names else 0)


if __name__ == "__main__":
    main()
