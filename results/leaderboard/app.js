// sllm-bench leaderboard page. The data is the JSON block embedded in index.html (so the
// page opens from disk); without it, leaderboard.json is fetched from the same folder.
// Rows are shown group by group (one device profile x host x workload): ranks compare
// rows of one group only. Each group has a chart of decode tokens/s against peak memory
// with the Pareto front of its ranked rows, and a sortable table.
// Every string from the data is inserted as text (textContent, createTextNode,
// setAttribute), never parsed as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                 "#e377c2"];
const SCHEMA_VERSION = 2;

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v) => (v === null || v === undefined ? "" : String(v));
const arr = (v) => (Array.isArray(v) ? v.filter((x) => x && typeof x === "object") : []);
const fmt = (v, d) => (num(v) === null ? "\u2013" : num(v).toFixed(d));
const get = (obj, path) => path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), obj);
const qfmt = (v) => (num(v) === null ? "\u2013" : v.toFixed(Math.abs(v) >= 10 ? 1 : 3));
const $ = (id) => document.getElementById(id);

function modelMB(r) {
  const m = num(get(r, "memory.model_size_mb"));
  return m !== null ? m : num(get(r, "model.size_mb"));
}

const SHORT = {acc: "acc", acc_norm: "acc_norm", acc_per_token: "acc/tok", exact_match: "em",
               token_perplexity: "ppl", word_perplexity: "word ppl", byte_perplexity: "byte ppl"};

function qualityLines(r) {  // one headline metric (± standard error) per task
  const lines = arr(r.quality).map((t) => {
    const h = t.headline && typeof t.headline === "object" ? t.headline : {};
    const se = num(h.se) !== null ? " \u00b1" + qfmt(h.se) : "";
    const failed = arr(r.quality_floors).some((f) => str(f.task) === str(t.task) && f.status !== "pass");
    return {text: str(t.task) + " " + str(SHORT[str(h.metric)] || h.metric) + " " + qfmt(h.value) + se, bad: failed};
  });
  const via = [...new Set(arr(r.quality).map((t) => str(t.measured_by)).filter((b) => b && b !== str(r.backend)))];
  if (via.length) lines.push({text: "(via " + via.join(", ") + ")", bad: false});
  return lines;
}

function qualityTitle(r) {
  const m = (t) => (t.metrics && typeof t.metrics === "object" ? t.metrics : {});
  const lines = arr(r.quality).map((t) => str(t.task) + (num(t.n) !== null ? " (" + t.n + " items)" : "") + ": " +
    Object.keys(m(t)).map((k) => k + " " + qfmt(m(t)[k])).join(", ") + "; measured by " + str(t.measured_by) +
    " on " + str(t.device) + ", run " + str(t.run_id));
  for (const f of arr(r.quality_floors)) {
    lines.push("floor " + str(f.task) + " " + str(f.metric) + (num(f.min) !== null ? " >= " + f.min : "") +
               (num(f.max) !== null ? " <= " + f.max : "") + ": " + str(f.status));
  }
  return lines.join("\n");
}

function parityText(r) {
  const p = r.parity;
  if (!p || typeof p !== "object") return "\u2013";
  if (p.status === "not measured") return "not measured";
  const ppl = num(p.ppl_diff_pct) === null ? "" : " \u00b7 ppl " + (p.ppl_diff_pct >= 0 ? "+" : "") + p.ppl_diff_pct.toFixed(1) + "%";
  return "KL " + fmt(p.mean_kl, 4) + " \u00b7 top-1 " + fmt(p.top1_agreement, 3) + ppl;
}

function parityTitle(r) {
  const p = r.parity;
  if (!p || typeof p !== "object") return "not a port: no parity needed";
  if (p.status === "not measured") return "a port (ONNX from a GGUF) with no parity record against its GGUF";
  return [str(p.status) + ": against " + str(p.reference) + " (the GGUF), measured through " + str(p.measured_by),
          "mean KL " + fmt(p.mean_kl, 5) + " nats, top-1 agreement " + fmt(p.top1_agreement, 4) +
            ", perplexity difference " + fmt(p.ppl_diff_pct, 2) + "% over " + str(p.tokens) + " tokens",
          num(p.greedy_prompts) !== null ? "greedy continuations identical: " + str(p.greedy_identical) + "/" + str(p.greedy_prompts) : "",
          "run " + str(p.run_id) + ", " + str(p.date)].filter((x) => x).join("\n");
}

function hostText(r) {
  const h = get(r, "provenance.host") || {};
  return str(h.cpu_model) + " \u00b7 " + str(get(r, "provenance.date")).slice(0, 10);
}

function provenanceTitle(r) {
  const p = r.provenance || {};
  const h = p.host || {};
  const rt = p.runtimes && typeof p.runtimes === "object" ? p.runtimes : {};
  return ["run " + str(p.run_id) + " #" + str(p.seq) + ", " + str(p.date),
          "model sha256 " + str(get(r, "model.sha256")),
          "sllm-bench " + str(p.harness_version) + " " + str(p.git_commit),
          "host " + str(h.id) + ": " + str(h.cpu_model) + ", " + str(h.cores_logical) + " cores, " +
            fmt(num(h.memory_bytes) === null ? null : h.memory_bytes / 2 ** 30, 1) + " GiB, " + str(h.os),
          "runtimes: " + Object.keys(rt).filter((k) => rt[k]).map((k) => k + " " + str(rt[k])).join(", ")]
    .join("\n");
}

function statusLines(r) {
  const why = arr(r.unranked).map((u) => str(u.reason));
  const cond = str(get(r, "conditions.state"));
  if (r.rank !== null && r.rank !== undefined) {
    return ["ranked"].concat(cond && cond !== "ok" ? ["conditions " + cond] : []);
  }
  return ["not ranked"].concat(why);
}

// backend settings the run set (--set): another setting is another row
const optionsText = (r) => Object.entries(get(r, "settings.backend_options") || {}).map(([k, v]) => k + "=" + str(v)).join(" ");
const backendText = (r) => str(r.backend) + (r.precision ? " (" + str(r.precision) + ")" : "") +
  (optionsText(r) ? " " + optionsText(r) : "");

// key, label, sort value, display text, numeric?
const COLUMNS = [
  {key: "rank", label: "#", value: (r) => num(r.rank), text: (r) => fmt(r.rank, 0), num: true},
  {key: "score", label: "score", value: (r) => num(r.score), text: (r) => fmt(r.score, 1), num: true},
  {key: "model", label: "model", value: (r) => str(get(r, "model.id")), text: (r) => str(get(r, "model.id"))},
  {key: "backend", label: "backend", value: backendText, text: backendText},
  {key: "status", label: "ranking", value: (r) => statusLines(r).join(" "), lines: statusLines},
  {key: "ttft", label: "TTFT ms", value: (r) => num(get(r, "speed.ttft_ms")), text: (r) => fmt(get(r, "speed.ttft_ms"), 1), num: true},
  {key: "prefill", label: "prefill tok/s", value: (r) => num(get(r, "speed.prefill_tps")), text: (r) => fmt(get(r, "speed.prefill_tps"), 1), num: true},
  {key: "decode", label: "decode tok/s", value: (r) => num(get(r, "speed.decode_tps")), text: (r) => fmt(get(r, "speed.decode_tps"), 1), num: true},
  {key: "itl99", label: "ITL p99 ms", value: (r) => num(get(r, "speed.itl_p99_ms")), text: (r) => fmt(get(r, "speed.itl_p99_ms"), 2), num: true},
  {key: "rss", label: "peak RSS MB", value: (r) => num(get(r, "memory.peak_rss_mb")), text: (r) => fmt(get(r, "memory.peak_rss_mb"), 0), num: true},
  {key: "size", label: "model MB", value: modelMB, text: (r) => fmt(modelMB(r), 1), num: true},
  {key: "quality", label: "quality (\u00b1 SE)", value: (r) => qualityLines(r).map((l) => l.text).join(" "),
   lines: (r) => { const l = qualityLines(r); return l.length ? l : ["\u2013"]; }},
  {key: "parity", label: "parity vs GGUF", value: parityText, text: parityText},
  {key: "verdict", label: "verdict", value: (r) => str(get(r, "verdict.verdict")), text: (r) => str(get(r, "verdict.verdict")) || "\u2013"},
  {key: "host", label: "host", value: hostText, text: hostText},
];

const state = {doc: null, rows: [], groups: [], sortKey: null, sortDir: 1};

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k of Object.keys(attrs || {})) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = text;
  return e;
}

function option(select, value, label) {
  const o = el("option", label);
  o.value = value;
  select.appendChild(o);
}

const workloadText = (w) => "prompt " + str(get(w, "prompt_tokens")) + " \u00b7 gen " + str(get(w, "gen_tokens")) +
  " \u00b7 threads " + str(get(w, "threads")) + " \u00b7 depth " + str(get(w, "depth")) +
  (str(get(w, "prompt_source")) && get(w, "prompt_source") !== "synthetic" ? " \u00b7 " + str(get(w, "prompt_source")) : "");

function rowVisible(r) {
  const device = $("f-device").value, backend = $("f-backend").value;
  const maxSize = num(parseFloat($("f-size").value));
  const model = $("f-model").value.trim().toLowerCase();
  return (!device || str(r.device) === device) && (!backend || str(r.backend) === backend) &&
    (maxSize === null || (modelMB(r) !== null && modelMB(r) <= maxSize)) &&
    (!model || str(get(r, "model.id")).toLowerCase().includes(model)) &&
    ($("f-unranked").checked || (r.rank !== null && r.rank !== undefined));
}

function groupVisible(g) {
  const view = $("f-view").value;
  if (view === "headline") {  // canonical groups; every group of a profile that names none
    return g.canonical === true || !state.groups.some((h) => h.device === g.device && h.canonical === true);
  }
  if (view.startsWith("w:")) return workloadText(g.workload) === view.slice(2);
  return true;
}

function sorted(rows) {
  if (!state.sortKey) return rows;
  const col = COLUMNS.find((c) => c.key === state.sortKey);
  return rows.map((r, i) => [r, i]).sort((a, b) => {
    const x = col.value(a[0]), y = col.value(b[0]);
    const xe = x === null || x === "", ye = y === null || y === "";
    if (xe || ye) return xe === ye ? a[1] - b[1] : (xe ? 1 : -1);  // blanks last
    const c = col.num ? x - y : String(x).localeCompare(String(y));
    return c === 0 ? a[1] - b[1] : c * state.sortDir;
  }).map((p) => p[0]);
}

function renderHead(table) {
  const tr = document.createElement("tr");
  for (const col of COLUMNS) {
    const th = el("th", col.label, col.num ? "num" : "");
    th.dataset.key = col.key;
    th.tabIndex = 0;
    th.setAttribute("aria-sort", state.sortKey === col.key ? (state.sortDir > 0 ? "ascending" : "descending") : "none");
    if (col.key === "score") th.title = str(get(state.doc, "score.description"));
    const click = () => {
      state.sortDir = state.sortKey === col.key ? -state.sortDir : 1;
      state.sortKey = col.key;
      render();
    };
    th.addEventListener("click", click);
    th.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); click(); } });
    tr.appendChild(th);
  }
  table.createTHead().appendChild(tr);
}

function renderRows(table, rows) {
  const body = table.createTBody();
  for (const r of rows) {
    const tr = el("tr", undefined, "row " + (r.rank !== null && r.rank !== undefined ? "ranked" : "unranked"));
    for (const col of COLUMNS) {
      const td = el("td", undefined, col.num ? "num" : "");
      td.dataset.col = col.key;
      if (col.lines) {
        for (const line of col.lines(r)) {
          const d = el("div", typeof line === "string" ? line : line.text);
          if (line && line.bad) d.className = "bad";
          td.appendChild(d);
        }
      } else {
        td.textContent = col.text(r);
      }
      if (col.key === "verdict" && r.verdict) {
        td.classList.add("verdict-" + str(r.verdict.verdict).replace(/[^a-z_]/g, ""));
        td.title = arr(r.verdict.budgets).map((x) => str(x.metric) + ": " + str(x.status) +
                   (num(x.measured) !== null ? " (" + num(x.measured).toPrecision(4) + ")" : "")).join("\n");
      }
      if (col.key === "host") td.title = provenanceTitle(r);
      if (col.key === "quality" && arr(r.quality).length) td.title = qualityTitle(r);
      if (col.key === "parity") {
        td.title = parityTitle(r);
        if (r.parity && typeof r.parity === "object") td.classList.add("parity-" + str(r.parity.status).replace(/[^a-z]/g, ""));
      }
      if (col.key === "status" && !(r.rank !== null && r.rank !== undefined)) td.classList.add("bad");
      if (col.key === "model") td.title = str(get(r, "model.parameters")) + " " + str(get(r, "model.quantization"));
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function niceTicks(max) {
  const raw = max / 5, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const ticks = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) ticks.push(t);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

function renderChart(box, rows) {
  const W = 640, H = 260, L = 60, R = 16, T = 12, B = 42;
  const chart = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
                            "aria-label": "Decode tokens per second against peak resident memory"});
  const pts = rows.filter((r) => num(get(r, "memory.peak_rss_mb")) !== null && num(get(r, "speed.decode_tps")) !== null);
  const backends = [...new Set(state.rows.map((r) => str(r.backend)))].sort();
  const colour = (b) => COLOURS[backends.indexOf(b) % COLOURS.length];
  const xt = niceTicks(1.08 * Math.max(1, ...pts.map((r) => r.memory.peak_rss_mb)));
  const yt = niceTicks(1.08 * Math.max(1, ...pts.map((r) => r.speed.decode_tps)));
  const X = (v) => L + (v / xt[xt.length - 1]) * (W - L - R);
  const Y = (v) => H - B - (v / yt[yt.length - 1]) * (H - T - B);
  for (const t of xt) {
    chart.appendChild(svg("line", {x1: X(t), x2: X(t), y1: T, y2: H - B, class: "grid"}));
    chart.appendChild(svg("text", {x: X(t), y: H - B + 15, "text-anchor": "middle", class: "tick"}, String(+t.toFixed(2))));
  }
  for (const t of yt) {
    chart.appendChild(svg("line", {x1: L, x2: W - R, y1: Y(t), y2: Y(t), class: "grid"}));
    chart.appendChild(svg("text", {x: L - 6, y: Y(t) + 4, "text-anchor": "end", class: "tick"}, String(+t.toFixed(2))));
  }
  chart.appendChild(svg("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis"}));
  chart.appendChild(svg("line", {x1: L, x2: L, y1: T, y2: H - B, class: "axis"}));
  chart.appendChild(svg("text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "label"}, "peak resident memory (MB)"));
  chart.appendChild(svg("text", {x: 14, y: (T + H - B) / 2, "text-anchor": "middle", class: "label",
                                 transform: `rotate(-90 14 ${(T + H - B) / 2})`}, "decode tokens/s"));
  const front = pts.filter((r) => r.pareto === true && num(r.rank) !== null)
    .sort((a, b) => a.memory.peak_rss_mb - b.memory.peak_rss_mb);
  if (front.length) {  // a staircase: more memory must buy more decode speed
    const p = [];
    front.forEach((r, i) => {
      if (i) p.push(`${X(r.memory.peak_rss_mb)},${Y(front[i - 1].speed.decode_tps)}`);
      p.push(`${X(r.memory.peak_rss_mb)},${Y(r.speed.decode_tps)}`);
    });
    chart.appendChild(svg("polyline", {points: p.join(" "), class: "pareto"}));
  }
  for (const r of pts) {
    const ranked = num(r.rank) !== null;
    const m = svg("circle", {cx: X(r.memory.peak_rss_mb), cy: Y(r.speed.decode_tps), r: 6,
                             fill: ranked ? colour(str(r.backend)) : "#fff", stroke: ranked ? "#222" : colour(str(r.backend)),
                             class: "point " + (ranked ? "ranked" : "unranked") + (r.pareto ? " on-front" : "")});
    m.appendChild(svg("title", {}, str(get(r, "model.id")) + " \u00b7 " + backendText(r) +
                      "\ndecode " + fmt(r.speed.decode_tps, 1) + " tok/s, peak " + fmt(r.memory.peak_rss_mb, 0) + " MB" +
                      (ranked ? ", rank " + r.rank + (r.pareto ? ", on the Pareto front" : "") : "\n" + statusLines(r).join("; "))));
    chart.appendChild(m);
  }
  box.appendChild(chart);
  const legend = el("div", undefined, "legend");
  for (const b of [...new Set(pts.map((r) => str(r.backend)))].sort()) {
    const item = el("span", undefined, "legend-item");
    const sw = el("span", undefined, "swatch");
    sw.style.background = colour(b);  // CSSOM property, not an inline style attribute
    item.append(sw, document.createTextNode(b));
    legend.appendChild(item);
  }
  legend.append(el("span", "\u25cb hollow: not ranked", "legend-item"),
                el("span", "\u2014 Pareto front of ranked rows (decode vs memory)", "legend-item pareto-key"));
  box.appendChild(legend);
}

function hostLine(g) {
  const h = g.host;
  if (!h || typeof h !== "object") return "all hosts merged (--merge-hosts)";
  return "host " + str(h.id) + ": " + str(h.cpu_model) + ", " + str(h.cores_logical) + " logical cores, " +
    fmt(num(h.memory_bytes) === null ? null : h.memory_bytes / 2 ** 30, 1) + " GiB, " + str(h.os);
}

function render() {
  const box = $("groups");
  box.replaceChildren();
  let shown = 0;
  for (const g of state.groups.filter(groupVisible)) {
    const rows = sorted(state.rows.filter((r) => r.group === g.id && rowVisible(r)));
    if (!rows.length) continue;
    shown += rows.length;
    const sec = el("section", undefined, "group" + (g.canonical ? " canonical" : ""));
    sec.dataset.group = str(g.id);
    const h = el("h2");
    h.append(el("span", str(g.device), "group-device"), document.createTextNode(" \u00b7 " + workloadText(g.workload) + " "),
             el("span", g.canonical ? "canonical workload (headline)" : "other workload", g.canonical ? "badge" : "badge other"));
    sec.appendChild(h);
    const ranked = rows.filter((r) => num(r.rank) !== null).length;
    sec.appendChild(el("p", hostLine(g) + " \u00b7 " + ranked + " of " + rows.length + " shown row(s) ranked, against each other only", "group-meta"));
    const top = el("div", undefined, "group-chart");
    renderChart(top, rows);
    sec.appendChild(top);
    const wrap = el("div", undefined, "table-box");
    const table = el("table", undefined, "board");
    renderHead(table);
    renderRows(table, rows);
    wrap.appendChild(table);
    sec.appendChild(wrap);
    box.appendChild(sec);
  }
  if (!shown) box.appendChild(el("p", "No row matches the filters.", "empty"));
  $("count").textContent = shown + " of " + state.rows.length + " rows";
}

function renderNotes(doc) {
  const s = doc.sources || {};
  for (const rule of Array.isArray(get(doc, "ranking.rules")) ? doc.ranking.rules : []) $("rules").appendChild(el("li", str(rule)));
  $("score-formula").textContent = "score = " + str(get(doc, "score.formula"));
  $("sources").textContent = [
    str(s.records) + " record(s) from " + str(s.files_read) + " file(s)",
    str(s.quality_records) + " quality, " + str(s.parity_records) + " parity",
    str(s.failed_records) + " failed (not shown)",
    str(s.superseded_records) + " superseded by a later result",
    str(s.verdicts) + " verdict(s)",
    arr(s.rejected).length + " file(s) rejected"].join("; ");
  for (const r of arr(s.rejected)) $("rejected").appendChild(el("li", str(r.path) + ": " + str(r.reason)));
  const h = doc.harness || {};
  $("meta").textContent = "Generated " + str(doc.generated_at) + " by sllm-bench " + str(h.version) +
    " \u00b7 " + (doc.keep === "all" ? "every result" : "latest result per model, backend, profile, host and workload") +
    " \u00b7 ranks compare rows of one group (profile, host, workload) only";
}

function fillFilters() {
  const view = $("f-view");
  const hasCanonical = state.groups.some((g) => g.canonical === true);
  if (hasCanonical) option(view, "headline", "headline: each profile's canonical workload");  // default
  option(view, "all", "all workloads");
  for (const w of [...new Set(state.groups.map((g) => workloadText(g.workload)))].sort()) option(view, "w:" + w, w);
  view.value = hasCanonical ? "headline" : "all";
  for (const v of [...new Set(state.rows.map((r) => str(r.device)))].sort()) option($("f-device"), v, v);
  for (const v of [...new Set(state.rows.map((r) => str(r.backend)))].sort()) option($("f-backend"), v, v);
  for (const id of ["f-view", "f-device", "f-backend", "f-size", "f-model", "f-unranked"]) {
    for (const ev of ["input", "change"]) $(id).addEventListener(ev, render);
  }
}

async function load() {
  const block = $("leaderboard-data");
  const text = block ? block.textContent.trim() : "";
  if (text && !text.startsWith("<!--")) return JSON.parse(text);
  const resp = await fetch("leaderboard.json", {cache: "no-store"});
  if (!resp.ok) throw new Error("HTTP " + resp.status);
  return resp.json();
}

async function main() {
  try {
    const doc = await load();
    if (!doc || doc.schema !== "sllm-bench/leaderboard" || doc.schema_version !== SCHEMA_VERSION) {
      throw new Error("not a sllm-bench/leaderboard file of schema version " + SCHEMA_VERSION);
    }
    state.doc = doc;
    state.rows = arr(doc.rows);
    state.groups = arr(doc.groups);
    renderNotes(doc);
    fillFilters();
    render();
    document.body.dataset.state = "ready";
  } catch (e) {
    const err = $("error");
    err.hidden = false;
    err.textContent = "Could not load the leaderboard: " + e.message +
      ". Rebuild the page with sllm-bench leaderboard --html (it embeds the data), or open it through a web server.";
    $("meta").textContent = "";
    document.body.dataset.state = "error";
  }
}

main();
