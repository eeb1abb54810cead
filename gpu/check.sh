#!/usr/bin/env bash
# The device check for a machine with an NVIDIA GPU, one command, well
# under ten minutes on one H100:
#
#   gpu/check.sh
#
# 1. builds the harness;
# 2. opens the GPU through the CUDA backend (libcuda, NVRTC, cuBLAS found
#    as README "Run on a GPU" says) and prints what it found;
# 3. runs every device op test (forward and backward of all 29 op types
#    against the CPU engine within 1e-5, the bit-identity of two runs, the
#    device AdamW) and one training step of every method on GPT-2, Llama and
#    Qwen2 shapes (1e-4 loss, 1e-3 gradients) on CUDA, with full float32
#    products (PEFTBENCH_CUDA_TF32=0: TF32 keeps 10 bits of mantissa, which
#    the 1e-5 bound does not allow);
# 4. times one training step of LoRA and full fine-tuning at a small GPT-2
#    shape on the CPU engine and on the GPU (TF32, the default);
# 5. prints a summary: each stage passed or failed.
#
# Not in it yet: the harness's --device flag (trials do not run on a device
# yet), so no sweep on cuda against cpu, and no PyTorch + PEFT peer.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
summary=()
stage() { # stage NAME COMMAND...: run it, log to $out/NAME.log, record the outcome
  local name=$1; shift
  echo "== $name"
  if "$@" 2>&1 | tee "$out/$name.log"; then summary+=("PASS $name"); else summary+=("FAIL $name (log: $out/$name.log)"); fi
}
export CGO_LDFLAGS="${CGO_LDFLAGS:--lopenblas}"
stage build go build -o "$out/harness" ./harness
stage open env PEFTBENCH_TEST_DEVICE=cuda go test -count=1 -v -run 'TestCUDA|TestOpenCLBuildsAndCopies|TestGemm' ./nn/device/
stage ops env PEFTBENCH_TEST_DEVICE=cuda PEFTBENCH_CUDA_TF32=0 go test -count=1 -run 'TestDevice' -v ./nn/
stage methods env PEFTBENCH_TEST_DEVICE=cuda PEFTBENCH_CUDA_TF32=0 go test -count=1 -run 'TestEveryMethodOnDevice' ./methods/
stage bench env PEFTBENCH_TEST_DEVICE=cuda go test -count=1 -run XXX -bench BenchmarkStepOnDevice -benchtime 20x ./methods/
echo "== summary"
printf '%s\n' "${summary[@]}"
grep -h -E 'TestCUDA|map\[' "$out/open.log" | head -3
grep -h -E '^Benchmark' "$out/bench.log"
! printf '%s\n' "${summary[@]}" | grep -q '^FAIL'
