// The report's viewer: a filterable, sortable table of configurations, a
// Pareto plot with the reader's choice of cost axis per task and data size,
// and learning curves. DATA is written by the report (reports/viewer.go);
// Chart is chart.js, embedded above.
"use strict";

const errors = [];
window.addEventListener("error", (e) => {
  errors.push(String(e.message));
  document.body.dataset.errors = String(errors.length);
});

const $ = (id) => document.getElementById(id);
const MiB = 1 << 20;
const configs = DATA.configs.map((c, i) => Object.assign({ index: i }, c));

const sizeLabel = (n) => (n === 0 ? "all" : String(n));
const fmt = (x, digits) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));
const pct = (x) => (x === null || x === undefined ? "" : (100 * x).toFixed(1));
const trainablePct = (c) => {
  const p = (100 * c.trainable) / c.total;
  return p >= 1 ? p.toFixed(1) : p.toPrecision(2);
};
const big = (x) => (x === null || x === undefined ? "" : Number(x).toLocaleString("en"));

// Columns of the table: key, heading, cell text, sort value.
const COLUMNS = [
  { key: "task", head: "task", text: (c) => c.task, value: (c) => c.task, left: true },
  { key: "name", head: "configuration", text: (c) => (c.vs_majority !== null && !c.above_majority ? "◦ " : "") + c.name, value: (c) => c.name, left: true },
  { key: "method", head: "method", text: (c) => c.method, value: (c) => c.method, left: true },
  { key: "data_size", head: "data size", text: (c) => sizeLabel(c.data_size), value: (c) => (c.data_size === 0 ? Infinity : c.data_size) },
  { key: "lr", head: "lr", text: (c) => String(c.lr), value: (c) => c.lr },
  { key: "seeds", head: "seeds", text: (c) => String(c.seeds), value: (c) => c.seeds },
  { key: "test", head: "test acc. %", text: (c) => pct(c.test) + (c.test_std === null ? "" : " ± " + pct(c.test_std)), value: (c) => c.test },
  { key: "valid", head: "valid. acc. %", text: (c) => pct(c.valid), value: (c) => c.valid },
  { key: "vs_majority", head: "vs majority (points)", text: (c) => (c.vs_majority === null ? "" : (100 * c.vs_majority).toFixed(1)), value: (c) => c.vs_majority },
  { key: "trainable", head: "trainable params", text: (c) => big(c.trainable), value: (c) => c.trainable },
  { key: "trainable_pct", head: "trainable %", text: (c) => (c.total ? trainablePct(c) : ""), value: (c) => (c.total ? c.trainable / c.total : null) },
  { key: "peak_memory", head: "peak RSS MiB", text: (c) => fmt(c.peak_memory / MiB, 1), value: (c) => c.peak_memory },
  { key: "peak_heap", head: "peak heap MiB", text: (c) => (c.peak_heap === null ? "" : fmt(c.peak_heap / MiB, 1)), value: (c) => c.peak_heap },
  { key: "tokens_per_sec", head: "tokens/s", text: (c) => fmt(c.tokens_per_sec, 0), value: (c) => c.tokens_per_sec },
  { key: "train_time", head: "train time s", text: (c) => fmt(c.train_time, 1), value: (c) => c.train_time },
];

// Cost axes of the Pareto plot: lower is better except throughput.
const AXES = {
  trainable: { label: "trainable parameters", value: (c) => c.trainable, higher: false, log: true },
  peak_heap: { label: "peak Go heap (MiB)", value: (c) => (c.peak_heap === null ? null : c.peak_heap / MiB), higher: false, log: false },
  peak_memory: { label: "peak resident memory (MiB)", value: (c) => (c.peak_memory === null ? null : c.peak_memory / MiB), higher: false, log: false },
  accounted: { label: "accounted memory (MiB)", value: (c) => (c.accounted === null ? null : c.accounted / MiB), higher: false, log: false },
  tokens_per_sec: { label: "training tokens/s", value: (c) => c.tokens_per_sec, higher: true, log: false },
  train_time: { label: "train time (s)", value: (c) => c.train_time, higher: false, log: false },
};

const uniq = (xs) => [...new Set(xs)];
const tasks = uniq(configs.map((c) => c.task)).sort();
const methods = uniq(configs.map((c) => c.method));
const sizes = (list) => uniq(list.map((c) => c.data_size)).sort((a, b) => (a === 0 ? Infinity : a) - (b === 0 ? Infinity : b));
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
const colour = (method) => PALETTE[methods.indexOf(method) % PALETTE.length];

// The view's state, kept in the address's fragment.
const state = { task: "", size: "", method: "", text: "", chosen: false, sort: "test", asc: false, ptask: "", psize: "", x: "trainable", logx: true };

function readHash() {
  const h = new URLSearchParams(location.hash.replace(/^#/, ""));
  for (const k of Object.keys(state)) {
    if (!h.has(k)) continue;
    const v = h.get(k);
    state[k] = typeof state[k] === "boolean" ? v === "1" : v;
  }
}

function writeHash() {
  const h = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) {
    if (typeof v === "boolean") h.set(k, v ? "1" : "0");
    else if (v !== "") h.set(k, v);
  }
  if (location.hash.includes("selftest")) h.set("selftest", "1");
  history.replaceState(null, "", "#" + h.toString());
}

function options(select, values, labels, all) {
  select.innerHTML = "";
  if (all) select.add(new Option("all", ""));
  values.forEach((v, i) => select.add(new Option(labels ? labels[i] : v, String(v))));
}

function visible() {
  const text = state.text.toLowerCase();
  return configs.filter(
    (c) =>
      (state.task === "" || c.task === state.task) &&
      (state.size === "" || String(c.data_size) === state.size) &&
      (state.method === "" || c.method === state.method) &&
      (!state.chosen || c.chosen) &&
      (text === "" || (c.name + " " + c.params + " " + c.augment).toLowerCase().includes(text))
  );
}

function renderTable(list) {
  const head = $("configs").tHead;
  head.innerHTML = "";
  const tr = head.insertRow();
  for (const col of COLUMNS) {
    const th = document.createElement("th");
    th.textContent = col.head;
    th.dataset.key = col.key;
    if (col.left) th.className = "text";
    if (state.sort === col.key) th.classList.add("sorted", ...(state.asc ? ["asc"] : []));
    th.addEventListener("click", () => {
      state.asc = state.sort === col.key ? !state.asc : col.left === true;
      state.sort = col.key;
      update();
    });
    tr.appendChild(th);
  }
  const col = COLUMNS.find((c) => c.key === state.sort) || COLUMNS[0];
  const sorted = list.slice().sort((a, b) => {
    const x = col.value(a), y = col.value(b);
    if (x === y) return a.index - b.index;
    if (x === null || x === undefined) return 1; // missing values last
    if (y === null || y === undefined) return -1;
    const d = x < y ? -1 : 1;
    return state.asc ? d : -d;
  });
  const body = $("configs").tBodies[0];
  body.innerHTML = "";
  for (const c of sorted) {
    const row = body.insertRow();
    row.dataset.config = String(c.index);
    if (c.chosen) row.className = "chosen";
    for (const col of COLUMNS) {
      const td = row.insertCell();
      td.textContent = col.text(c);
      if (col.left) td.className = "text";
    }
  }
  $("count").textContent = `${list.length} of ${configs.length} configurations`;
}

const charts = {};
function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options);
  charts[id] = new Chart($(id), config);
}

// front returns the Pareto-optimal points: none other is at least as good
// on both axes and better on one.
function front(points, higher) {
  const better = (a, b) => (higher ? a > b : a < b);
  return points
    .filter((p) => !points.some((q) => q !== p && (better(q.x, p.x) || q.x === p.x) && q.y >= p.y && (better(q.x, p.x) || q.y > p.y)))
    .sort((a, b) => a.x - b.x);
}

function referenceLines(task, xs) {
  const b = DATA.baselines[task] || {};
  const out = [];
  const lo = Math.min(...xs), hi = Math.max(...xs);
  if (!isFinite(lo)) return out;
  if (b.majority !== null && b.majority !== undefined)
    out.push({ label: "majority class", data: [{ x: lo, y: 100 * b.majority }, { x: hi, y: 100 * b.majority }], type: "line", borderColor: "#999", borderDash: [6, 4], pointRadius: 0, borderWidth: 1 });
  if (b.bow !== null && b.bow !== undefined)
    out.push({ label: "bag-of-words LR", data: [{ x: lo, y: 100 * b.bow }, { x: hi, y: 100 * b.bow }], type: "line", borderColor: "#555", borderDash: [2, 3], pointRadius: 0, borderWidth: 1 });
  return out;
}

function renderPareto(list) {
  const axis = AXES[state.x];
  const here = list.filter((c) => c.task === state.ptask && String(c.data_size) === state.psize && c.test !== null && axis.value(c) !== null && !c.untrained);
  const points = here.map((c) => ({ x: axis.value(c), y: 100 * c.test, c }));
  const datasets = [];
  for (const m of methods) {
    const ps = points.filter((p) => p.c.method === m);
    if (ps.length) datasets.push({ label: m, data: ps, backgroundColor: colour(m), borderColor: colour(m), pointRadius: 5, pointStyle: ps.map((p) => (p.c.chosen ? "circle" : "crossRot")) });
  }
  const f = front(points, axis.higher);
  if (f.length > 1) datasets.push({ label: "Pareto front", data: f, type: "line", borderColor: "#000", borderWidth: 1, pointRadius: 0, fill: false });
  datasets.push(...referenceLines(state.ptask, points.map((p) => p.x)));
  const logx = state.logx && points.every((p) => p.x > 0);
  draw("pareto", {
    type: "scatter",
    data: { datasets },
    options: {
      plugins: {
        title: { display: true, text: `${state.ptask}, ${sizeLabel(Number(state.psize))} examples: test accuracy against ${axis.label} (● chosen, × others)` },
        tooltip: { callbacks: { label: (ctx) => (ctx.raw.c ? `${ctx.raw.c.name} lr=${ctx.raw.c.lr}: ${ctx.raw.y.toFixed(1)}%, ${ctx.raw.x.toPrecision(3)}` : ctx.dataset.label) } },
      },
      scales: { x: { type: logx ? "logarithmic" : "linear", title: { display: true, text: axis.label } }, y: { title: { display: true, text: "test accuracy (%)" } } },
    },
  });
}

function renderCurves(list) {
  const chosen = list.filter((c) => c.task === state.ptask && c.chosen && c.test !== null && !c.untrained);
  const datasets = [];
  const xs = [];
  for (const m of methods) {
    const ps = chosen.filter((c) => c.method === m && c.examples > 0).map((c) => ({ x: c.examples, y: 100 * c.test })).sort((a, b) => a.x - b.x);
    xs.push(...ps.map((p) => p.x));
    if (ps.length) datasets.push({ label: m, data: ps, borderColor: colour(m), backgroundColor: colour(m), showLine: true, pointRadius: 4 });
  }
  datasets.push(...referenceLines(state.ptask, xs));
  draw("curve", {
    type: "scatter",
    data: { datasets },
    options: {
      plugins: { title: { display: true, text: `${state.ptask}: test accuracy against training examples` } },
      scales: { x: { type: xs.every((x) => x > 0) && xs.length ? "logarithmic" : "linear", title: { display: true, text: "training examples" } }, y: { title: { display: true, text: "test accuracy (%)" } } },
    },
  });
  const withLoss = list.filter((c) => c.task === state.ptask && String(c.data_size) === state.psize && c.loss.length > 0).slice(0, 30);
  draw("loss", {
    type: "scatter",
    data: {
      datasets: withLoss.map((c) => ({
        label: `${c.name} lr=${c.lr}`,
        data: c.loss.filter((p) => p[1] !== null).map((p) => ({ x: p[0], y: p[1] })),
        showLine: true, pointRadius: 0, borderWidth: 1.5, borderColor: colour(c.method), borderDash: c.chosen ? [] : [4, 3],
      })),
    },
    options: {
      plugins: { title: { display: true, text: `${state.ptask}, ${sizeLabel(Number(state.psize))} examples: training loss by step (solid: chosen)` }, legend: { labels: { boxWidth: 12, font: { size: 10 } } } },
      scales: { x: { title: { display: true, text: "step" } }, y: { title: { display: true, text: "training loss" } } },
    },
  });
  $("chart-note").textContent = withLoss.length === 0 ? "No step logs at this task and data size (results written before step logs were kept)." : "";
}

function update() {
  const list = visible();
  renderTable(list);
  // The Pareto panel's size follows its task: the sizes run there.
  const psizes = sizes(configs.filter((c) => c.task === state.ptask));
  if (!psizes.map(String).includes(state.psize)) state.psize = psizes.length ? String(psizes[psizes.length - 1]) : "";
  options($("p-size"), psizes, psizes.map(sizeLabel), false);
  $("p-size").value = state.psize;
  renderPareto(list);
  renderCurves(list);
  writeHash();
}

function bind(id, key, event) {
  const el = $(id);
  if (el.type === "checkbox") el.checked = state[key];
  else el.value = state[key];
  el.addEventListener(event || "change", () => {
    state[key] = el.type === "checkbox" ? el.checked : el.value;
    if (key === "task" && state.task !== "") state.ptask = state.task; // the plots follow the table's task
    if (key === "size" && state.size !== "") state.psize = state.size;
    if (key === "x") $("p-logx").checked = state.logx = AXES[state.x].log; // each axis opens on its own scale
    update();
  });
}

function init() {
  readHash();
  if (!tasks.includes(state.ptask)) state.ptask = state.task !== "" ? state.task : tasks[0] || "";
  if (!(state.x in AXES)) state.x = "trainable";
  options($("f-task"), tasks, null, true);
  options($("f-size"), sizes(configs), sizes(configs).map(sizeLabel), true);
  options($("f-method"), methods, null, true);
  options($("p-task"), tasks, null, false);
  options($("p-x"), Object.keys(AXES), Object.values(AXES).map((a) => a.label), false);
  bind("f-task", "task");
  bind("f-size", "size");
  bind("f-method", "method");
  bind("f-text", "text", "input");
  bind("f-chosen", "chosen");
  bind("p-task", "ptask");
  bind("p-size", "psize");
  bind("p-x", "x");
  bind("p-logx", "logx");
  update();
  if (location.hash.includes("selftest")) selftest();
}

// selftest drives the page as a reader would (a change event on the task
// filter) and writes what it saw into the page, for the headless-browser
// test to read.
function selftest() {
  const rows = () => $("configs").tBodies[0].rows.length;
  const out = { total: configs.length, before: rows(), steps: [] };
  const el = $("f-task");
  for (const t of tasks) {
    el.value = t;
    el.dispatchEvent(new Event("change"));
    out.steps.push({ task: t, rows: rows(), want: configs.filter((c) => c.task === t).length, pareto: charts.pareto.data.datasets.length });
  }
  el.value = "";
  el.dispatchEvent(new Event("change"));
  out.after = rows();
  out.errors = errors;
  const pre = document.createElement("pre");
  pre.id = "selftest";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}

try {
  init();
} catch (e) {
  errors.push(String(e && e.stack ? e.stack : e));
  document.body.dataset.errors = String(errors.length);
  throw e;
}
