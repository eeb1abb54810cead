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
# 4. fine-tunes through the trainer and runs whole trials on CUDA against
#    the CPU (train/ and run/ device tests, float32 products);
# 5. times one training step of LoRA and full fine-tuning at a small GPT-2
#    shape on the CPU engine and on the GPU (TF32, the default);
# 6. runs gpu/sweep.yaml with --device cpu and --device cuda and compares
#    them trial by trial (gpu/compare.py: selected epoch, accuracy, test
#    outcomes that differ, tokens/s, device memory);
# 7. writes the adapters the harness exports in PEFT's format and loads each
#    with Hugging Face PEFT's PeftModel.from_pretrained on a transformers
#    model of the same fixture (gpu/peft_load.py), logits within 1e-4;
# 8. pre-trains tiny's recipe for 200 steps on the CPU and on the GPU
#    (harness pretrain --device), tokens/s and held-out bits per byte;
# 9. prints a summary: each stage passed or failed.
#
# Not in it yet: the PyTorch + PEFT throughput peer (harness bench --peer
# runs on the CPU only).
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
stage trainer env PEFTBENCH_TEST_DEVICE=cuda PEFTBENCH_CUDA_TF32=0 go test -count=1 -v -run 'TestFineTuneOnDevice|TestTrialOnDevice' ./train/ ./run/
stage bench env PEFTBENCH_TEST_DEVICE=cuda go test -count=1 -run XXX -bench BenchmarkStepOnDevice -benchtime 20x ./methods/
sweep_on() { "$out/harness" sweep gpu/sweep.yaml --device "$1" --out "$out/sweep-$1" --workers "$2"; }
stage sweep-cpu sweep_on cpu 4
stage sweep-cuda sweep_on cuda 1
stage sweep-compare python3 gpu/compare.py "$out/sweep-cpu" "$out/sweep-cuda"
mkdir -p "$out/adapters"
stage peft-write env PEFTBENCH_PEFT_OUT="$out/adapters" go test -count=1 -run '^TestPEFTReferenceAdapters$' ./methods/
stage peft-load python3 gpu/peft_load.py "$out/adapters"
pretrain_on() { "$out/harness" pretrain --device "$1" --steps 200 --warmup 20 --checkpoint-every 0 --eval-every 0 --out "$out/pretrain-$1"; }
stage pretrain-cpu pretrain_on cpu
stage pretrain-cuda pretrain_on cuda
echo "== summary"
printf '%s\n' "${summary[@]}"
grep -h -E 'TestCUDA|map\[' "$out/open.log" | head -3
grep -h -E '^Benchmark' "$out/bench.log"
cat "$out/sweep-compare.log"
tail -1 "$out/peft-load.log"
grep -h -E '^(pre-trained|held-out)' "$out/pretrain-cpu.log" "$out/pretrain-cuda.log"
! printf '%s\n' "${summary[@]}" | grep -q '^FAIL'
