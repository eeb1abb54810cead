#!/usr/bin/env bash
# Writes DIR/reference.json, the Hugging Face tokenizer reference data that
# model/tokenizer's TestHFReference compares against when
# PEFTBENCH_TOKENIZER_REFERENCE=DIR/reference.json; see
# model/tokenizer/reference/setup.sh.
#
#   .ci/tokenizer-reference.sh DIR
exec "$(dirname "$0")/../model/tokenizer/reference/setup.sh" "$@"
