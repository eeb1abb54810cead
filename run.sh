#!/usr/bin/env bash
# The front door.
#   ./run.sh              the main job (go run ./harness: see README.md)
#   ./run.sh test         every test: format, vet, unit tests with pure-Go BLAS
#                         and with OpenBLAS, and short fuzzing runs
#   ./run.sh harness ...  any harness subcommand, built with OpenBLAS when it is installed
set -euo pipefail
cd "$(dirname "$0")"
# go-nvml's cgo header declares many deprecated NVML calls; keep builds quiet.
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -Wno-deprecated-declarations"

# OpenBLAS (Debian's libopenblas-dev) backs the fast build; install it when
# missing and we can, otherwise fall back to pure-Go gonum.
have_openblas() { ldconfig -p 2>/dev/null | grep 'libopenblas\.so ' >/dev/null; } # not grep -q: an early exit would SIGPIPE ldconfig under pipefail
ensure_openblas() {
  if ! have_openblas && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: installing libopenblas-dev" >&2
    (apt-get install -y -qq libopenblas-dev >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq libopenblas-dev >/dev/null; }) || true
  fi
  have_openblas
}
# Built, then executed, rather than `go run`: go run turns every failing
# exit into 1, and the harness's exit codes (README, "Exit codes") matter.
# Each build lands under its own name and is renamed into place, so runs
# started side by side never execute a half-written binary.
harness() {
  mkdir -p bin
  local tmp
  tmp=$(mktemp bin/.harness.XXXXXX)
  if ensure_openblas; then
    CGO_LDFLAGS=-lopenblas go build -tags openblas -o "$tmp" ./harness || { rm -f "$tmp"; return 1; }
  else
    go build -o "$tmp" ./harness || { rm -f "$tmp"; return 1; }
  fi
  mv -f "$tmp" bin/harness
  exec bin/harness "$@"
}

case "${1:-}" in
test)
  unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
  if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
  go vet ./...
  echo "== tests, pure-Go BLAS"
  go test ./...
  if ensure_openblas; then
    echo "== tests, OpenBLAS"
    CGO_LDFLAGS=-lopenblas go vet -tags openblas ./nn/ ./model/ ./train/ ./bench/
    CGO_LDFLAGS=-lopenblas go test -tags openblas ./nn/ ./model/ ./train/ ./bench/
  else
    echo "run.sh: libopenblas-dev is not installed: OpenBLAS tests skipped" >&2
  fi
  echo "== fuzzing, a few seconds per target"
  # Budgets are counts, not durations: a duration ends in a race in Go's
  # fuzz coordinator (golang/go#75804) that fails the run with "context
  # deadline exceeded" and no failing input.
  go test ./model/tokenizer/ -run '^$' -fuzz '^FuzzRoundTrip$' -fuzztime 20000x
  for f in FuzzLoadJSONL FuzzLoadCSV FuzzParseYAML; do
    go test ./tasks/ -run '^$' -fuzz "^$f\$" -fuzztime 6000x
  done
  ;;
harness)
  shift
  harness "$@"
  ;;
"")
  harness
  ;;
*)
  echo "usage: ./run.sh [test | harness ARGS...]" >&2
  exit 2
  ;;
esac
