// Package tasks is peftbench's registry of evaluation tasks: it reads a
// task's declarative YAML config, loads its data (JSONL or CSV, optionally
// gzip-compressed), fills the prompt template, exposes the train,
// validation and test splits, draws nested stratified training subsets for
// data-size sweeps, and scores predictions.
//
// Two kinds of task exist. A classification task is evaluated the way
// lm-evaluation-harness evaluates multiple choice: the model scores each
// label's verbalizer as a continuation of the prompt and the most likely
// label wins; metrics are accuracy and macro-F1. A generation task is
// decoded greedily and scored by exact match on the normalised answer
// (NormaliseAnswer).
//
// Built-in tasks (Builtin) are YAML files embedded in the binary together
// with their processed data; a user task is a YAML file of the same format
// pointing at its own JSONL or CSV files, loaded with the same Load.
// The package deliberately knows nothing about tokenizers or models: the
// model side turns Example.Prompt and the verbalizers into tokens.
package tasks
