// sllm-bench leaderboard page: reads leaderboard.json (same folder), draws a sortable,
// filterable table and an SVG chart of decode tokens/s against peak memory.
// Every string from the results file is inserted as text (textContent, createTextNode,
// setAttribute), never parsed as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                 "#e377c2"];
const SHAPES = ["circle", "square", "triangle", "diamond"];

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v) => (v === null || v === undefined ? "" : String(v));
const fmt = (v, d) => (num(v) === null ? "\u2013" : num(v).toFixed(d));
const get = (obj, path) => path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), obj);

function modelMB(r) {
  const m = num(get(r, "memory.model_size_mb"));
  return m !== null ? m : num(get(r, "model.size_mb"));
}

const HEADLINE = [["acc", "acc"], ["exact_match", "em"], ["token_perplexity", "ppl"]];

function qualityTasks(r) {
  return (Array.isArray(r.quality) ? r.quality : []).filter((t) => t && typeof t === "object")
    .map((t) => ({task: str(t.task), n: num(t.n), metrics: t.metrics && typeof t.metrics === "object" ? t.metrics : {}}));
}

const qfmt = (v) => (num(v) === null ? "\u2013" : v.toFixed(Math.abs(v) >= 10 ? 1 : 3));

function qualityText(r) {  // one headline metric per task; every metric is in the title
  return qualityTasks(r).map((t) => {
    const h = HEADLINE.find(([k]) => k in t.metrics) || [Object.keys(t.metrics)[0], Object.keys(t.metrics)[0]];
    return t.task + " " + str(h[1]) + " " + qfmt(t.metrics[h[0]]);
  }).join("\n");
}

function qualityTitle(r) {
  return qualityTasks(r).map((t) => t.task + (t.n !== null ? " (" + t.n + " items)" : "") + ": " +
    Object.keys(t.metrics).map((k) => k + " " + qfmt(t.metrics[k])).join(", ")).join("\n");
}

function provenanceText(r) {
  const p = r.provenance || {};
  return str(get(p, "host.cpu_model")) + " \u00b7 " + str(p.date).slice(0, 10);
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

// key, label, value for sorting, text for display, numeric column?
const COLUMNS = [
  {key: "rank", label: "#", value: (r) => num(r.rank), text: (r) => fmt(r.rank, 0), num: true},
  {key: "score", label: "score", value: (r) => num(r.score), text: (r) => fmt(r.score, 1), num: true},
  {key: "model", label: "model", value: (r) => str(get(r, "model.id")), text: (r) => str(get(r, "model.id"))},
  {key: "backend", label: "backend", value: (r) => str(r.backend) + (r.precision ? " " + str(r.precision) : ""),
   text: (r) => str(r.backend) + (r.precision ? " (" + str(r.precision) + ")" : "")},
  {key: "device", label: "device", value: (r) => str(r.device), text: (r) => str(r.device)},
  {key: "prompt", label: "prompt", value: (r) => num(get(r, "settings.prompt_tokens")), text: (r) => fmt(get(r, "settings.prompt_tokens"), 0), num: true},
  {key: "gen", label: "gen", value: (r) => num(get(r, "settings.gen_tokens")), text: (r) => fmt(get(r, "settings.gen_tokens"), 0), num: true},
  {key: "threads", label: "threads", value: (r) => num(get(r, "settings.threads")), text: (r) => fmt(get(r, "settings.threads"), 0), num: true},
  {key: "ttft", label: "TTFT ms", value: (r) => num(get(r, "speed.ttft_ms")), text: (r) => fmt(get(r, "speed.ttft_ms"), 1), num: true},
  {key: "prefill", label: "prefill tok/s", value: (r) => num(get(r, "speed.prefill_tps")), text: (r) => fmt(get(r, "speed.prefill_tps"), 1), num: true},
  {key: "decode", label: "decode tok/s", value: (r) => num(get(r, "speed.decode_tps")), text: (r) => fmt(get(r, "speed.decode_tps"), 1), num: true},
  {key: "itl99", label: "ITL p99 ms", value: (r) => num(get(r, "speed.itl_p99_ms")), text: (r) => fmt(get(r, "speed.itl_p99_ms"), 2), num: true},
  {key: "load", label: "load s", value: (r) => num(get(r, "speed.load_s")), text: (r) => fmt(get(r, "speed.load_s"), 2), num: true},
  {key: "rss", label: "peak RSS MB", value: (r) => num(get(r, "memory.peak_rss_mb")), text: (r) => fmt(get(r, "memory.peak_rss_mb"), 0), num: true},
  {key: "size", label: "model MB", value: modelMB, text: (r) => fmt(modelMB(r), 1), num: true},
  {key: "quality", label: "quality", value: qualityText, text: (r) => qualityText(r) || "\u2013"},
  {key: "verdict", label: "verdict", value: (r) => str(get(r, "verdict.verdict")), text: (r) => str(get(r, "verdict.verdict")) || "\u2013"},
  {key: "provenance", label: "provenance", value: provenanceText, text: provenanceText},
];

const state = {rows: [], sortKey: null, sortDir: 1};
const $ = (id) => document.getElementById(id);

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

function fillSelect(select, values) {
  for (const v of [...new Set(values)].sort()) {
    const o = el("option", v);
    o.value = v;
    select.appendChild(o);
  }
}

function filtered() {
  const device = $("f-device").value, backend = $("f-backend").value;
  const maxSize = num(parseFloat($("f-size").value));
  const model = $("f-model").value.trim().toLowerCase();
  return state.rows.filter((r) =>
    (!device || str(r.device) === device) && (!backend || str(r.backend) === backend) &&
    (maxSize === null || (modelMB(r) !== null && modelMB(r) <= maxSize)) &&
    (!model || str(get(r, "model.id")).toLowerCase().includes(model)));
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

function renderHead() {
  const tr = $("head");
  for (const col of COLUMNS) {
    const th = el("th", col.label, col.num ? "num" : "");
    th.dataset.key = col.key;
    th.tabIndex = 0;
    th.setAttribute("aria-sort", "none");
    const click = () => {
      state.sortDir = state.sortKey === col.key ? -state.sortDir : 1;
      state.sortKey = col.key;
      for (const h of tr.children) h.setAttribute("aria-sort", "none");
      th.setAttribute("aria-sort", state.sortDir > 0 ? "ascending" : "descending");
      render();
    };
    th.addEventListener("click", click);
    th.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); click(); } });
    tr.appendChild(th);
  }
}

function renderTable(rows) {
  const body = $("rows");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const col of COLUMNS) {
      const td = el("td", col.text(r), col.num ? "num" : "");
      td.dataset.col = col.key;
      if (col.key === "verdict" && r.verdict) {
        td.classList.add("verdict-" + str(r.verdict.verdict).replace(/[^a-z_]/g, ""));
        const b = Array.isArray(r.verdict.budgets) ? r.verdict.budgets : [];
        td.title = b.map((x) => str(x.metric) + ": " + str(x.status) +
                         (num(x.measured) !== null ? " (" + num(x.measured).toPrecision(4) + ")" : "")).join("\n");
      }
      if (col.key === "provenance") td.title = provenanceTitle(r);
      if (col.key === "quality" && r.quality && r.quality.length) td.title = qualityTitle(r);
      if (col.key === "model") td.title = str(get(r, "model.parameters")) + " " + str(get(r, "model.quantization"));
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $("count").textContent = rows.length + " of " + state.rows.length + " rows";
}

function niceTicks(max) {
  const raw = max / 5, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const ticks = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) ticks.push(t);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

function marker(shape, x, y, colour) {
  const s = 6, a = {fill: colour, stroke: "#222", "stroke-width": 0.8};
  if (shape === "square") return svg("rect", {...a, x: x - s, y: y - s, width: 2 * s, height: 2 * s});
  if (shape === "triangle") return svg("polygon", {...a, points: `${x},${y - s - 1} ${x - s - 1},${y + s} ${x + s + 1},${y + s}`});
  if (shape === "diamond") return svg("polygon", {...a, points: `${x},${y - s - 2} ${x - s - 2},${y} ${x},${y + s + 2} ${x + s + 2},${y}`});
  return svg("circle", {...a, cx: x, cy: y, r: s});
}

function renderChart(rows) {
  const chart = $("chart"), legend = $("legend");
  chart.replaceChildren();
  legend.replaceChildren();
  const W = 760, H = 380, L = 64, R = 20, T = 16, B = 48;
  const pts = rows.filter((r) => num(get(r, "memory.peak_rss_mb")) !== null && num(get(r, "speed.decode_tps")) !== null);
  const backends = [...new Set(state.rows.map((r) => str(r.backend)))].sort();
  const devices = [...new Set(state.rows.map((r) => str(r.device)))].sort();
  const colour = (b) => COLOURS[backends.indexOf(b) % COLOURS.length];
  const shape = (d) => SHAPES[devices.indexOf(d) % SHAPES.length];
  const xt = niceTicks(Math.max(1, ...pts.map((r) => get(r, "memory.peak_rss_mb"))));
  const yt = niceTicks(Math.max(1, ...pts.map((r) => get(r, "speed.decode_tps"))));
  const X = (v) => L + (v / xt[xt.length - 1]) * (W - L - R);
  const Y = (v) => H - B - (v / yt[yt.length - 1]) * (H - T - B);
  for (const t of xt) {
    chart.appendChild(svg("line", {x1: X(t), x2: X(t), y1: T, y2: H - B, class: "grid"}));
    chart.appendChild(svg("text", {x: X(t), y: H - B + 16, "text-anchor": "middle", class: "tick"}, String(+t.toFixed(2))));
  }
  for (const t of yt) {
    chart.appendChild(svg("line", {x1: L, x2: W - R, y1: Y(t), y2: Y(t), class: "grid"}));
    chart.appendChild(svg("text", {x: L - 6, y: Y(t) + 4, "text-anchor": "end", class: "tick"}, String(+t.toFixed(2))));
  }
  chart.appendChild(svg("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis"}));
  chart.appendChild(svg("line", {x1: L, x2: L, y1: T, y2: H - B, class: "axis"}));
  chart.appendChild(svg("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", class: "label"}, "peak resident memory (MB)"));
  chart.appendChild(svg("text", {x: 16, y: (T + H - B) / 2, "text-anchor": "middle", class: "label",
                                 transform: `rotate(-90 16 ${(T + H - B) / 2})`}, "decode tokens/s"));
  for (const r of pts) {
    const m = marker(shape(str(r.device)), X(r.memory.peak_rss_mb), Y(r.speed.decode_tps), colour(str(r.backend)));
    m.setAttribute("class", "point");
    m.appendChild(svg("title", {}, str(get(r, "model.id")) + " \u00b7 " + str(r.backend) + " \u00b7 " + str(r.device) +
                      "\ndecode " + fmt(r.speed.decode_tps, 1) + " tok/s, peak " + fmt(r.memory.peak_rss_mb, 0) + " MB"));
    chart.appendChild(m);
  }
  for (const b of backends) {
    const item = el("span", undefined, "legend-item");
    const sw = el("span", undefined, "swatch");
    sw.style.background = colour(b);  // CSSOM property, not an inline style attribute
    item.append(sw, document.createTextNode(b));
    legend.appendChild(item);
  }
  for (const d of devices) {
    const item = el("span", undefined, "legend-item");
    const s = svg("svg", {width: 14, height: 14, viewBox: "0 0 14 14"});
    s.appendChild(marker(shape(d), 7, 7, "#fff"));
    item.append(s, document.createTextNode(d));
    legend.appendChild(item);
  }
}

function render() {
  const rows = sorted(filtered());
  renderTable(rows);
  renderChart(rows);
}

function renderNotes(doc) {
  const score = doc.score || {}, s = doc.sources || {};
  $("score-def").textContent = str(score.description);
  $("score-formula").textContent = str(score.formula);
  $("sources").textContent = [
    str(s.records) + " record(s) from " + str(s.files_read) + " file(s)",
    str(s.failed_records) + " failed (not shown)",
    str(s.superseded_records) + " superseded by a later result",
    str(s.verdicts) + " verdict(s)",
    (Array.isArray(s.rejected) ? s.rejected.length : 0) + " file(s) rejected"].join("; ");
  for (const r of Array.isArray(s.rejected) ? s.rejected : []) {
    $("rejected").appendChild(el("li", str(r && r.path) + ": " + str(r && r.reason)));
  }
  const h = doc.harness || {};
  $("meta").textContent = "Generated " + str(doc.generated_at) + " by sllm-bench " + str(h.version) +
    " \u00b7 " + (doc.keep === "all" ? "every result" : "latest result per model, backend, device and settings") +
    " \u00b7 score and rank are within a device profile";
}

async function main() {
  try {
    const resp = await fetch("leaderboard.json", {cache: "no-store"});
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const doc = await resp.json();
    if (!doc || doc.schema !== "sllm-bench/leaderboard" || doc.schema_version !== 1) {
      throw new Error("not a sllm-bench/leaderboard file of schema version 1");
    }
    state.rows = Array.isArray(doc.rows) ? doc.rows.filter((r) => r && typeof r === "object") : [];
    renderNotes(doc);
    fillSelect($("f-device"), state.rows.map((r) => str(r.device)));
    fillSelect($("f-backend"), state.rows.map((r) => str(r.backend)));
    for (const id of ["f-device", "f-backend", "f-size", "f-model"]) {
      for (const ev of ["input", "change"]) $(id).addEventListener(ev, render);
    }
    renderHead();
    render();
    document.body.dataset.state = "ready";
  } catch (e) {
    const err = $("error");
    err.hidden = false;
    err.textContent = "Could not load leaderboard.json: " + e.message +
      ". Open this page through a web server (for example: python3 -m http.server in its folder).";
    $("meta").textContent = "";
    document.body.dataset.state = "error";
  }
}

main();
