#!/usr/bin/python3
"""Load a results folder's exports with pandas and compare them with the
JSON result files: every trial once, with its metrics, memory and
throughput as the result has them. Usage: export-pandas.py RESULTS EXPORT.
Parquet is read too where pandas has a Parquet engine (pyarrow or
fastparquet; Debian packages neither)."""
import glob
import json
import math
import os
import sys

import pandas as pd

results, export = sys.argv[1], sys.argv[2]
want = {}
for path in glob.glob(os.path.join(results, "trials", "*.json")):
    with open(path) as f:
        r = json.load(f)
    want[r["id"]] = r

tables = {
    "csv": pd.read_csv(os.path.join(export, "trials.csv"), dtype={"id": str, "env_git_commit": str}),
    "jsonl": pd.read_json(os.path.join(export, "trials.jsonl"), lines=True, dtype={"id": str, "env_git_commit": str}),
}
parquet = os.path.join(export, "trials.parquet")
if os.path.exists(parquet):
    try:
        tables["parquet"] = pd.read_parquet(parquet)
    except ImportError as e:
        print(f"export-pandas: parquet not read: {e}")

def same(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None
    return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(b)))

failures = 0
for fmt, df in tables.items():
    if sorted(df["id"]) != sorted(want):
        print(f"export-pandas: {fmt}: ids differ from the result files", file=sys.stderr)
        failures += 1
        continue
    for _, row in df.iterrows():
        r = want[row["id"]]
        for col, value in [
            ("test_accuracy", r["metrics"]["test_accuracy"]),
            ("valid_accuracy", r["metrics"].get("valid_accuracy")),
            ("train_loss", r["metrics"]["train_loss"]),
            ("num_trainable_params", r["num_trainable_params"]),
            ("peak_memory_bytes", r["peak_memory_bytes"]),
            ("tokens_per_sec", r["tokens_per_sec"]),
            ("total_time", r["wall_time"]),
            ("seed", r["spec"]["seed"]),
        ]:
            if not same(row[col], value):
                print(f"export-pandas: {fmt}: {row['id']} {col} = {row[col]}, result {value}", file=sys.stderr)
                failures += 1
        if row["peft_type"] != r["spec"]["method"] or row["task_name"] != r["spec"]["task"]:
            print(f"export-pandas: {fmt}: {row['id']} names another trial", file=sys.stderr)
            failures += 1
configs = pd.read_csv(os.path.join(export, "configurations.csv"))
if not 0 < len(configs) <= len(want):
    print(f"export-pandas: {len(configs)} configurations for {len(want)} trials", file=sys.stderr)
    failures += 1
if failures:
    sys.exit(1)
print(f"export-pandas: {', '.join(tables)} read by pandas {pd.__version__}: {len(want)} trials match their result files; {len(configs)} configurations")
