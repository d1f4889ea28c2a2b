// Many statements at once: a CSV file (or pasted lines) scored through POST v1/predict in
// requests within the server's limits, shown as a table that filters by label and downloads as
// CSV or JSON, with the same columns `stance score` writes. Nothing is kept half-done.
import { CsvError, decodeUtf8, parseCsv, writeCsv } from "./csv.js";
import {
  callApi,
  codePointCount,
  download,
  el,
  formatCount,
  loadModel,
  marker,
  percent,
  ShownError,
  showError,
  utf8Bytes,
} from "./shared.js";
import { showTimeline, timelineColumns } from "./timeline.js";

// The page holds the whole file in memory; `stance score` streams files of any size.
const MAX_ROWS = 100000;
const MAX_FILE_BYTES = 50 * 1024 * 1024;
const PAGE_ROWS = 50;
const TEXT_COLUMN = "text";
const ACTOR_COLUMNS = ["speaker", "target"];
// Bytes of a predict request around its texts: {"texts":[...],"actors":false}.
const REQUEST_OVERHEAD = 64;

const $ = (id) => document.getElementById(id);
const fileInput = $("batch-file");
const linesInput = $("batch-lines");
const columnSelect = $("batch-column");
const errorBox = $("batch-error");
const status = $("batch-status");
const progress = $("batch-progress");
const scoreButton = $("batch-score");
const cancelButton = $("batch-cancel");

let source = null; // { name, header, rows, lines, scored }: what was read, before scoring
let table = null; // { name, header, rows, outputs }: the scored table
let filter = "all";
let page = 0;
let running = null; // the AbortController of a scoring run

const outputColumns = (labels) => ["label", "confidence", ...labels.map((l) => `p_${l}`)];

// ---- reading the input ----

async function readFile(file) {
  if (file.size > MAX_FILE_BYTES) {
    throw new ShownError(
      "The file is too large for the page",
      `${file.name} has ${formatCount(file.size)} bytes; the page reads at most ` +
        `${formatCount(MAX_FILE_BYTES)}. Score it with \`stance score ${file.name} -o OUT.csv\`.`,
    );
  }
  const text = decodeUtf8(new Uint8Array(await file.arrayBuffer()), file.name);
  return { name: file.name, ...parseCsv(text, file.name) };
}

function readLines(text) {
  const rows = [];
  const lines = [];
  text.split(/\r\n|\r|\n/).forEach((line, k) => {
    if (line.trim()) {
      rows.push([line]);
      lines.push(k + 1);
    }
  });
  return { name: "pasted lines", header: [TEXT_COLUMN], rows, lines, pasted: true };
}

function describeRow(input, k) {
  return input.pasted ? `line ${input.lines[k]}` : `row ${k + 2}`;
}

// What kind of input this is: to score, or scored already (then shown as it is).
function classify(input, labels) {
  if (input.rows.length > MAX_ROWS) {
    throw new ShownError(
      "Too many rows for the page",
      `${input.name} has ${formatCount(input.rows.length)} rows; the page scores at most ` +
        `${formatCount(MAX_ROWS)}. Score it with \`stance score\`, which reads files of any size.`,
    );
  }
  const outputs = outputColumns(labels);
  const present = outputs.filter((c) => input.header.includes(c));
  if (present.length === outputs.length) return { ...input, scored: true };
  if (present.length) {
    throw new ShownError(
      "The file cannot be scored",
      `${input.name}: the input already has output column(s) ${present.join(", ")}: rename ` +
        "them or score the original file",
    );
  }
  return { ...input, scored: false };
}

function offerColumns(input) {
  const field = $("column-field");
  if (input.pasted || input.scored) {
    field.hidden = true;
    return;
  }
  columnSelect.replaceChildren(...input.header.map((c) => new Option(c, c)));
  columnSelect.value = input.header.includes(TEXT_COLUMN) ? TEXT_COLUMN : input.header[0];
  field.hidden = false;
}

// ---- scoring: requests within max_texts statements and max_body_bytes bytes ----

function batches(texts, limits, input) {
  const budget = limits.max_body_bytes - REQUEST_OVERHEAD;
  const runs = [];
  let current = [];
  let bytes = 0;
  texts.forEach((text, k) => {
    if (!text.trim()) return; // an empty text gets an empty label, as `stance score` gives it
    const length = codePointCount(text);
    if (length > limits.max_text_chars) {
      throw new ShownError(
        "A statement is too long",
        `${input.name} ${describeRow(input, k)}: the text has ${formatCount(length)} ` +
          `characters; at most ${formatCount(limits.max_text_chars)} are allowed per statement.`,
      );
    }
    const size = utf8Bytes(JSON.stringify(text)) + 1;
    if (size > budget) {
      throw new ShownError(
        "A statement is too large to send",
        `${input.name} ${describeRow(input, k)}: the text takes ${formatCount(size)} bytes; ` +
          `the server takes at most ${formatCount(limits.max_body_bytes)} bytes per request.`,
      );
    }
    if (current.length === limits.max_texts || bytes + size > budget) {
      runs.push(current);
      current = [];
      bytes = 0;
    }
    current.push(k);
    bytes += size;
  });
  if (current.length) runs.push(current);
  return runs;
}

async function score(input, model, actors, controller) {
  const column = input.pasted ? TEXT_COLUMN : columnSelect.value;
  const textIndex = input.header.indexOf(column);
  const clash = actors ? ACTOR_COLUMNS.filter((c) => input.header.includes(c)) : [];
  if (clash.length) {
    throw new ShownError(
      "The file has actor columns already",
      `${input.name} has column(s) ${clash.join(", ")}: untick "Find speaker and target", or ` +
        "rename them.",
    );
  }
  const texts = input.rows.map((row) => row[textIndex]);
  const runs = batches(texts, model.limits, input);
  const predictions = new Array(texts.length).fill(null);
  const total = runs.reduce((n, run) => n + run.length, 0);
  let done = 0;
  progress.hidden = false;
  progress.max = Math.max(total, 1);
  for (const run of runs) {
    status.textContent = `Scoring: ${formatCount(done)} of ${formatCount(total)} statements…`;
    progress.value = done;
    let answer;
    try {
      answer = await callApi("v1/predict", {
        body: { texts: run.map((k) => texts[k]), actors },
        signal: controller.signal,
        expect: (body) => Array.isArray(body.predictions) && body.predictions.length === run.length,
      });
    } catch (error) {
      const rows = `${describeRow(input, run[0])} to ${describeRow(input, run[run.length - 1])}`;
      throw new ShownError(error.heading || "Scoring failed", `${rows}: ${error.message}`);
    }
    if (answer === null) return null; // stopped
    run.forEach((k, j) => {
      predictions[k] = answer.predictions[j];
    });
    done += run.length;
  }
  progress.value = done;
  const outputs = outputColumns(model.labels);
  const header = [...input.header, ...(actors ? ACTOR_COLUMNS : []), ...outputs];
  const rows = input.rows.map((row, k) => {
    const p = predictions[k];
    const found = actors ? [p?.actors.speaker || "", p?.actors.target || ""] : [];
    const calls = p
      ? [p.label, String(p.confidence), ...model.labels.map((l) => String(p.probabilities[l]))]
      : outputs.map(() => "");
    return [...row, ...found, ...calls];
  });
  const empty = texts.length - total;
  return { ...input, header, rows, textColumn: column, empty };
}

async function run() {
  showError(errorBox, null);
  status.textContent = "";
  let model;
  try {
    model = await loadModel();
    if (!source) {
      throw new ShownError("Nothing to score", "Choose a CSV file or paste statements first.");
    }
  } catch (error) {
    showError(errorBox, error);
    return;
  }
  if (source.scored) {
    showTable({ ...source, textColumn: source.header.includes(TEXT_COLUMN) ? TEXT_COLUMN : null }, model);
    status.textContent = `${source.name} is scored already (it has the label and probability columns): shown as it is.`;
    return;
  }
  const controller = new AbortController();
  running = controller;
  setRunning(true);
  try {
    const scored = await score(source, model, $("batch-actors").checked, controller);
    if (scored === null) {
      status.textContent = "Stopped: nothing was kept.";
      return;
    }
    showTable(scored, model);
    status.textContent =
      `Scored ${formatCount(scored.rows.length - scored.empty)} statements` +
      (scored.empty ? `; ${formatCount(scored.empty)} rows with no text have no label.` : ".");
  } catch (error) {
    status.textContent = "";
    hideTable();
    showError(errorBox, error);
  } finally {
    running = null;
    setRunning(false);
  }
}

function setRunning(busy) {
  scoreButton.disabled = busy;
  scoreButton.textContent = busy ? "Scoring…" : "Score";
  cancelButton.hidden = !busy;
  if (!busy) progress.hidden = true;
}

// ---- the table ----

function hideTable() {
  table = null;
  $("batch-result").hidden = true;
}

function showTable(scored, model) {
  table = { ...scored, labels: model.labels };
  table.labelIndex = scored.header.indexOf("label");
  filter = "all";
  page = 0;
  renderFilter();
  renderTable();
  $("batch-result").hidden = false;
  const columns = timelineColumns(scored.header, model.labels);
  showTimeline(columns ? table : null);
}

function labelOf(row) {
  return row[table.labelIndex];
}

// The indexes of the rows the filter keeps.
function shownRows() {
  const wanted = filter === "none" ? "" : filter;
  const kept = [];
  table.rows.forEach((row, k) => {
    if (filter === "all" || labelOf(row) === wanted) kept.push(k);
  });
  return kept;
}

// Where a row was in the input: its row in the file (the header is row 1), or its line.
const rowNumber = (k) => (table.pasted ? table.lines[k] : k + 2);

function renderFilter() {
  const counts = new Map();
  for (const row of table.rows) counts.set(labelOf(row), (counts.get(labelOf(row)) || 0) + 1);
  const options = [["all", "all", table.rows.length]];
  for (const label of table.labels) options.push([label, label, counts.get(label) || 0]);
  if (counts.get("")) options.push(["none", "no label", counts.get("")]);
  $("batch-filter").replaceChildren(
    ...options.map(([value, name, count]) => {
      const option = el("label", "filter-option");
      if (table.labels.includes(value)) option.dataset.label = value;
      const radio = el("input");
      radio.type = "radio";
      radio.name = "batch-filter";
      radio.value = value;
      radio.checked = value === filter;
      radio.addEventListener("change", () => {
        filter = value;
        page = 0;
        renderTable();
      });
      option.append(radio);
      if (option.dataset.label) option.append(marker(value));
      option.append(` ${name} `, el("span", "filter-count", `(${formatCount(count)})`));
      return option;
    }),
  );
}

// The columns the table shows; the downloads have them all.
function displayColumns() {
  const wanted = [table.textColumn, "date", ...ACTOR_COLUMNS];
  return wanted.filter((c, k) => c && table.header.includes(c) && wanted.indexOf(c) === k);
}

function renderTable() {
  const rows = shownRows();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
  page = Math.min(page, pages - 1);
  const first = page * PAGE_ROWS;
  const visible = rows.slice(first, first + PAGE_ROWS);
  const columns = displayColumns();
  const indexes = columns.map((c) => table.header.indexOf(c));
  const confidence = table.header.indexOf("confidence");
  const probabilities = table.labels.map((l) => table.header.indexOf(`p_${l}`));

  const head = el("tr");
  head.append(el("th", "num", table.pasted ? "line" : "row"));
  for (const c of columns) head.append(el("th", c === table.textColumn ? "text-col" : null, c));
  head.append(el("th", null, "label"), el("th", "num", "confidence"));
  for (const l of table.labels) head.append(el("th", "num", `p ${l}`));
  document.querySelector("#batch-table thead").replaceChildren(head);

  const body = document.createDocumentFragment();
  for (const k of visible) {
    const row = table.rows[k];
    const tr = el("tr");
    tr.append(el("td", "num", String(rowNumber(k))));
    indexes.forEach((c, j) => {
      tr.append(el("td", columns[j] === table.textColumn ? "text-col" : "short", row[c]));
    });
    const label = labelOf(row);
    const cell = el("td", "label-cell");
    if (label) {
      cell.dataset.label = label;
      cell.append(marker(label), ` ${label}`);
    } else {
      cell.append(el("span", "muted", "no text"));
    }
    tr.append(cell, el("td", "num", shownPercent(row[confidence])));
    for (const c of probabilities) tr.append(el("td", "num", shownPercent(row[c])));
    body.append(tr);
  }
  document.querySelector("#batch-table tbody").replaceChildren(body);

  const what = filter === "all" ? "" : ` labelled ${filter === "none" ? "nothing" : filter}`;
  $("batch-caption").textContent =
    `${formatCount(rows.length)} of ${formatCount(table.rows.length)} rows${what}, from ${table.name}`;
  $("page-status").textContent = rows.length
    ? `rows ${formatCount(first + 1)}–${formatCount(first + visible.length)} of ${formatCount(rows.length)}`
    : "no rows";
  $("page-prev").disabled = page === 0;
  $("page-next").disabled = page >= pages - 1;
  $("download-what").textContent = `Download the ${formatCount(rows.length)} rows shown:`;
}

const shownPercent = (text) => (text === "" ? "" : percent(Number(text)));

// ---- downloads: the rows shown, with every column ----

function baseName() {
  const name = table.name === "pasted lines" ? "statements" : table.name.replace(/\.csv$/i, "");
  return name.endsWith("-scored") ? name : `${name}-scored`;
}

function downloadCsv() {
  const rows = shownRows().map((k) => table.rows[k]);
  download(`${baseName()}.csv`, "text/csv;charset=utf-8", writeCsv(table.header, rows));
}

function downloadJson() {
  const numeric = new Set(["confidence", ...table.labels.map((l) => `p_${l}`)]);
  const records = shownRows().map((k) => table.rows[k]).map((row) =>
    Object.fromEntries(
      table.header.map((c, k) => [c, numeric.has(c) ? (row[k] === "" ? null : Number(row[k])) : row[k]]),
    ),
  );
  download(`${baseName()}.json`, "application/json", JSON.stringify(records, null, 1) + "\n");
}

// ---- wiring ----

async function takeInput(read) {
  showError(errorBox, null);
  status.textContent = "";
  source = null;
  try {
    const model = await loadModel();
    const input = await read();
    if (!input) return;
    source = classify(input, model.labels);
    offerColumns(source);
    const rows = formatCount(source.rows.length);
    status.textContent = source.scored
      ? `${source.name}: ${rows} rows, scored already. Press Score to show them.`
      : `${source.name}: ${rows} rows ready to score.`;
  } catch (error) {
    if (!(error instanceof ShownError || error instanceof CsvError)) throw error;
    showError(errorBox, error instanceof CsvError ? new ShownError("The file cannot be read", error.message) : error);
  }
}

fileInput.addEventListener("change", () => {
  const [file] = fileInput.files;
  if (file) linesInput.value = "";
  takeInput(async () => (file ? readFile(file) : null));
});
linesInput.addEventListener("input", () => {
  fileInput.value = "";
  $("column-field").hidden = true;
  const text = linesInput.value;
  takeInput(async () => (text.trim() ? readLines(text) : null));
});
$("batch-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!running) run();
});
cancelButton.addEventListener("click", () => running && running.abort());
$("page-prev").addEventListener("click", () => {
  page -= 1;
  renderTable();
});
$("page-next").addEventListener("click", () => {
  page += 1;
  renderTable();
});
$("download-csv").addEventListener("click", downloadCsv);
$("download-json").addEventListener("click", downloadJson);
loadModel().then(
  (model) => {
    $("batch-per-request").textContent = formatCount(model.limits.max_texts);
  },
  () => {},
);
