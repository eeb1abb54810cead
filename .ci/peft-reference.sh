#!/usr/bin/env bash
# Writes the adapters of methods' TestPEFTReferenceAdapters (every method
# with Hugging Face PEFT's format, on the model/hfref fixtures,
# with the logits the Go side computes) into a temporary directory, then
# has model/hfref/check_adapters.py apply each in float64 PyTorch from its
# files alone; fails if any logit differs by more than 1e-4. Needs Debian's
# PyTorch (apt-get install -y python3-torch) under /usr/bin/python3.
#
#   .ci/peft-reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
PEFTBENCH_PEFT_OUT=$dir go test -count=1 -run '^TestPEFTReferenceAdapters$' ./methods/
# The test skips rather than fails without the variable; an empty
# directory means it did not write.
[ -n "$(ls -A "$dir")" ] || { echo "peft-reference.sh: no adapters were written to $dir" >&2; exit 1; }
/usr/bin/python3 model/hfref/check_adapters.py "$dir"
