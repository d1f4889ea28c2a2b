// The timeline of a scored table with dates and actors: the server counts and computes the tone
// per dyad and period (POST v1/timeline, the same code as `stance timeline`); this only draws.
import {
  callApi,
  el,
  formatCount,
  loadModel,
  ShownError,
  showError,
  signed,
  svg,
  utf8Bytes,
} from "./shared.js";

const BY = ["speaker", "target"];
const DATE = "date";
const MAX_SHOWN = 8; // lines a reader can still tell apart
const FREQ_NAMES = { W: "week", M: "month", Q: "quarter" };

const $ = (id) => document.getElementById(id);
const section = $("timeline");
const errorBox = $("timeline-error");
const status = $("timeline-status");
const chartBox = $("timeline-chart");

let table = null; // the scored table it was asked for
let answer = null; // the server's periods
let chosen = []; // the dyads drawn, in order
let request = null;

// The columns a timeline needs, or null when the table lacks one.
export function timelineColumns(header, labels) {
  const needed = [DATE, ...BY, "label", ...labels.map((l) => `p_${l}`)];
  return needed.every((c) => header.includes(c)) ? needed : null;
}

export function showTimeline(scored) {
  table = scored;
  answer = null;
  section.hidden = !scored;
  chartBox.replaceChildren();
  $("timeline-dyads").hidden = true;
  $("timeline-numbers").hidden = true;
  showError(errorBox, null);
  status.textContent = "";
  if (scored) draw();
}

async function draw() {
  showError(errorBox, null);
  if (request) request.abort();
  const controller = new AbortController();
  request = controller;
  const freq = $("timeline-freq").value;
  try {
    const model = await loadModel();
    const columns = timelineColumns(table.header, model.labels);
    const indexes = columns.map((c) => table.header.indexOf(c));
    const rows = table.rows.map((row) => Object.fromEntries(columns.map((c, j) => [c, row[indexes[j]]])));
    const { max_timeline_rows: maxRows, max_body_bytes: maxBytes } = model.limits;
    const command = `stance timeline ${table.name} --by ${BY.join(",")} --freq ${freq} -o timeline.csv`;
    if (rows.length > maxRows) {
      throw new ShownError(
        "Too many rows for the page's timeline",
        `${table.name} has ${formatCount(rows.length)} rows; the server draws timelines of at ` +
          `most ${formatCount(maxRows)} rows per request. Run \`${command}\` instead.`,
      );
    }
    const body = { rows, freq, by: BY };
    const bytes = utf8Bytes(JSON.stringify(body));
    if (bytes > maxBytes) {
      throw new ShownError(
        "Too many rows for the page's timeline",
        `The rows of ${table.name} take ${formatCount(bytes)} bytes; the server takes at most ` +
          `${formatCount(maxBytes)} bytes per request. Run \`${command}\` instead.`,
      );
    }
    status.textContent = "Counting…";
    const result = await callApi("v1/timeline", {
      body,
      signal: controller.signal,
      expect: (b) => Array.isArray(b.periods) && Array.isArray(b.dyads),
    });
    if (result === null || request !== controller) return;
    answer = result;
    chosen = [...result.dyads];
    const s = result.summary;
    status.textContent =
      `${formatCount(s.used)} of ${formatCount(s.rows)} rows in the timeline; left out: ` +
      `${formatCount(s.no_date)} without a date, ${formatCount(s.no_actor)} without a speaker ` +
      `or target, ${formatCount(s.unscored)} without a label.`;
    renderDyadOptions();
    render();
  } catch (error) {
    if (request !== controller) return;
    status.textContent = "";
    chartBox.replaceChildren();
    showError(errorBox, error);
  } finally {
    if (request === controller) request = null;
  }
}

function totals() {
  const counts = new Map();
  for (const p of answer.periods) counts.set(p.dyad, (counts.get(p.dyad) || 0) + p.statements);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function renderDyadOptions() {
  const box = $("timeline-dyad-options");
  const options = totals().map(([dyad, count]) => {
    const option = el("label", "dyad-option");
    const box = el("input");
    box.type = "checkbox";
    box.value = dyad;
    box.checked = chosen.includes(dyad);
    box.addEventListener("change", () => {
      const order = totals().map(([d]) => d);
      const picked = new Set(chosen);
      if (box.checked) picked.add(dyad);
      else picked.delete(dyad);
      chosen = order.filter((d) => picked.has(d));
      limitChoices();
      render();
    });
    option.append(box, ` ${dyad} `, el("span", "muted", `(${formatCount(count)})`));
    return option;
  });
  box.replaceChildren(...options);
  $("timeline-dyads").hidden = false;
  limitChoices();
}

function limitChoices() {
  for (const box of $("timeline-dyad-options").querySelectorAll("input")) {
    box.disabled = !box.checked && chosen.length >= MAX_SHOWN;
  }
}

// Every period from the first to the last, so a quiet one is a gap, not a missing tick.
function periodsBetween(first, last, freq) {
  const starts = [];
  const day = new Date(`${first}T00:00:00Z`);
  const end = new Date(`${last}T00:00:00Z`);
  while (day <= end) {
    starts.push(day.toISOString().slice(0, 10));
    if (freq === "W") day.setUTCDate(day.getUTCDate() + 7);
    else day.setUTCMonth(day.getUTCMonth() + (freq === "Q" ? 3 : 1));
  }
  return starts;
}

function periodName(start, freq) {
  if (freq === "M") return start.slice(0, 7);
  if (freq === "Q") return `${start.slice(0, 4)}Q${Math.floor(Number(start.slice(5, 7)) / 3) + 1}`;
  return start;
}

function render() {
  const freq = answer.freq;
  const shown = answer.periods.filter((p) => chosen.includes(p.dyad));
  if (!shown.length) {
    chartBox.replaceChildren(el("p", "muted", "Choose at least one dyad to draw."));
    $("timeline-numbers").hidden = true;
    return;
  }
  const sortedStarts = shown.map((p) => p.period_start).sort();
  const starts = periodsBetween(sortedStarts[0], sortedStarts[sortedStarts.length - 1], freq);
  const position = new Map(starts.map((s, i) => [s, i]));

  const W = 760;
  const left = 64;
  const right = 12;
  const top = 14;
  const toneHeight = 220;
  const gap = 44;
  const countHeight = 84;
  const bottom = 58;
  const H = top + toneHeight + gap + countHeight + bottom;
  const plotWidth = W - left - right;
  const slot = plotWidth / starts.length;
  const x = (i) => left + (i + 0.5) * slot;
  const y = (tone) => top + ((1 - tone) / 2) * toneHeight;
  const countTop = top + toneHeight + gap;
  const maxCount = Math.max(...shown.map((p) => p.statements));
  const barY = (n) => countTop + countHeight - (n / maxCount) * countHeight;

  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label":
      `Tone per ${FREQ_NAMES[freq]} for ${chosen.join(", ")}, from ${periodName(starts[0], freq)} ` +
      `to ${periodName(starts[starts.length - 1], freq)}; the numbers are in the table below.`,
  });
  chart.classList.add("timeline-svg");
  for (const tone of [-1, -0.5, 0, 0.5, 1]) {
    chart.append(svg("line", { class: tone === 0 ? "axis zero" : "grid", x1: left, x2: W - right, y1: y(tone), y2: y(tone) }));
    const tick = svg("text", { class: "tick", x: left - 6, y: y(tone) + 4, "text-anchor": "end" });
    tick.textContent = tone === 0 ? "0" : signed(tone, tone % 1 ? 1 : 0);
    chart.append(tick);
  }
  const toneTitle = svg("text", { class: "axis-title", x: 14, y: top + toneHeight / 2, transform: `rotate(-90 14 ${top + toneHeight / 2})`, "text-anchor": "middle" });
  toneTitle.textContent = "tone";
  const countTitle = svg("text", { class: "axis-title", x: 14, y: countTop + countHeight / 2, transform: `rotate(-90 14 ${countTop + countHeight / 2})`, "text-anchor": "middle" });
  countTitle.textContent = "statements";
  chart.append(toneTitle, countTitle);
  chart.append(svg("line", { class: "axis", x1: left, x2: W - right, y1: countTop + countHeight, y2: countTop + countHeight }));
  const maxTick = svg("text", { class: "tick", x: left - 6, y: countTop + 4, "text-anchor": "end" });
  maxTick.textContent = formatCount(maxCount);
  chart.append(maxTick, svg("line", { class: "grid", x1: left, x2: W - right, y1: countTop, y2: countTop }));

  const barWidth = (slot * 0.8) / chosen.length;
  chosen.forEach((dyad, k) => {
    const group = svg("g", { class: `series series-${k}`, "data-dyad": dyad });
    const points = shown
      .filter((p) => p.dyad === dyad)
      .map((p) => ({ ...p, i: position.get(p.period_start) }))
      .sort((a, b) => a.i - b.i);
    // A line joins neighbouring periods only: a gap stays a gap.
    let path = "";
    points.forEach((p, j) => {
      const joined = j > 0 && points[j - 1].i === p.i - 1;
      path += `${joined ? "L" : "M"}${x(p.i).toFixed(1)} ${y(p.tone).toFixed(1)} `;
    });
    group.append(svg("path", { class: "line", d: path.trim() }));
    for (const p of points) {
      const point = svg("circle", { class: "point", cx: x(p.i), cy: y(p.tone), r: 4 });
      const title = svg("title");
      title.textContent = `${dyad}, ${p.period}: tone ${signed(p.tone, 2)}, ${p.statements} statements`;
      point.append(title);
      const count = svg("text", { class: "count", x: x(p.i), y: y(p.tone) - 8, "text-anchor": "middle" });
      count.textContent = String(p.statements);
      const bar = svg("rect", {
        class: "bar",
        x: x(p.i) - slot * 0.4 + barWidth * k,
        y: barY(p.statements),
        width: Math.max(barWidth - 1, 1),
        height: countTop + countHeight - barY(p.statements),
      });
      group.append(point, count, bar);
    }
    chart.append(group);
  });
  const every = Math.max(1, Math.ceil(starts.length / 14));
  starts.forEach((start, i) => {
    if (i % every) return;
    const ty = countTop + countHeight + 14;
    const label = svg("text", { class: "tick", x: x(i), y: ty, "text-anchor": "end", transform: `rotate(-35 ${x(i)} ${ty})` });
    label.textContent = periodName(start, freq);
    chart.append(label);
  });

  const legend = el("ul", "timeline-legend");
  const counts = new Map(totals());
  chosen.forEach((dyad, k) => {
    const item = el("li", `series series-${k}`);
    const swatch = el("span", "swatch");
    swatch.setAttribute("aria-hidden", "true");
    const n = counts.get(dyad);
    item.append(swatch, `${dyad} (${formatCount(n)} statement${n === 1 ? "" : "s"})`);
    legend.append(item);
  });
  chartBox.replaceChildren(legend, chart);
  renderNumbers(shown);
}

function renderNumbers(shown) {
  const labels = Object.keys(shown[0]).filter((k) => k.startsWith("n_")).map((k) => k.slice(2));
  const head = el("tr");
  for (const name of ["period", "dyad", "statements", ...labels, "tone"]) head.append(el("th", null, name));
  const rows = [...shown].sort((a, b) => chosen.indexOf(a.dyad) - chosen.indexOf(b.dyad) || a.period_start.localeCompare(b.period_start));
  const body = rows.map((p) => {
    const tr = el("tr");
    tr.append(el("td", null, p.period), el("td", null, p.dyad), el("td", "num", String(p.statements)));
    for (const label of labels) tr.append(el("td", "num", String(p[`n_${label}`])));
    tr.append(el("td", "num", signed(p.tone, 2)));
    return tr;
  });
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  tbody.append(...body);
  $("timeline-table").replaceChildren(thead, tbody);
  $("timeline-numbers").hidden = false;
}

$("timeline-draw").addEventListener("click", () => table && draw());
$("timeline-freq").addEventListener("change", () => table && draw());
