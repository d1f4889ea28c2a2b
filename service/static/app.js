// The Stance page, one text: send it to POST v1/analyze and show each sentence with its call,
// the actors it names, why the model called it so, and a way to correct the call.
// Labels and limits come from GET v1/model; nothing here names a label.
import {
  callApi,
  codePointCount,
  el,
  formatCount,
  labelName,
  loadModel,
  marker,
  percent,
  ShownError,
  showError,
  signed,
  svg,
} from "./shared.js";
import "./batch.js";

const TOP_TERMS = 5; // content words shown per direction
const TOP_FUNCTION_TERMS = 3; // function words shown after them
const PERMALINK_PREFIX = "#r=";
const PERMALINK_VERSION = 1;

const EXAMPLES = {
  border:
    "NEW DELHI, March 4 — India and China agreed on Tuesday to hold a new round of border " +
    "talks next month, the foreign ministry said. Officials from both sides described the " +
    'meeting in Beijing as candid and constructive. "We are ready to work with our neighbours ' +
    'to restore peace and tranquillity along the frontier," the minister told reporters.\n\n' +
    "But the army chief warned that any attempt to change the status quo by force would be " +
    "met with a firm response. The talks are scheduled to open on April 12 in Chushul.",
  sanctions:
    "BRUSSELS — The European Union threatened on Monday to impose fresh sanctions if the " +
    'shelling of civilian areas continues. "Those responsible will be held accountable," the ' +
    "bloc's foreign policy chief said after an emergency meeting of ministers.\n\n" +
    "The ministers condemned the attack on the port, which killed at least twelve people. " +
    "The EU remains ready to support any genuine effort toward a negotiated settlement, the " +
    "joint statement added. The sanctions package would target banks and energy exports.",
  summit:
    "GENEVA — Leaders of the two countries shook hands on Thursday at the close of a summit " +
    "that both sides called a fresh start. They signed an agreement to reopen their embassies " +
    'and restore direct flights by the end of the year. "Today we chose dialogue over ' +
    'confrontation," the president said.\n\n' +
    "The summit was the first meeting between the two leaders since 2019. A joint commission " +
    "will meet in Vienna in June to review progress.",
};

const $ = (id) => document.getElementById(id);
const form = $("analyze-form");
const textarea = $("text");
const analyzeButton = $("analyze");
const charCount = $("char-count");
const errorBox = $("error");
const result = $("result");
const documentView = $("document");
const details = $("details");

let model = null; // GET v1/model's answer, once it came
let shown = null; // { text, analysis } of the result on screen
let inFlight = null; // the AbortController of the running request
const corrections = new Map(); // sentence index -> the stored correction, for the shown result

function toneWords(tone) {
  if (tone <= -0.5) return "strongly warning";
  if (tone <= -0.15) return "leans warning";
  if (tone < 0.15) return "balanced or mostly neutral";
  if (tone < 0.5) return "leans conciliatory";
  return "strongly conciliatory";
}

// Map code point offsets (the API's start/end) to UTF-16 offsets (String.slice's).
function utf16Offsets(text) {
  const offsets = [0];
  let position = 0;
  for (const character of text) {
    position += character.length;
    offsets.push(position);
  }
  return offsets;
}

// ---- the model's facts ----

async function startWithModel() {
  try {
    model = await loadModel();
  } catch (error) {
    $("model-version").textContent = "unavailable";
    showError($("model-error"), error);
    return;
  }
  $("model-version").textContent = model.version;
  $("tagline-labels").textContent = `: ${model.labels.join(", ")}`;
  const legend = $("legend-labels");
  legend.replaceChildren(
    ...model.labels.map((label) => {
      const item = el("span", "legend-item");
      item.dataset.label = label;
      item.append(marker(label), ` ${label}`);
      return item;
    }),
  );
  updateCount();
}

const maxChars = () => model.limits.max_document_chars;

// ---- input ----

function updateCount() {
  if (!model) return;
  const count = codePointCount(textarea.value);
  const over = count > maxChars();
  charCount.textContent =
    `${formatCount(count)} / ${formatCount(maxChars())} characters` +
    (over ? ` (${formatCount(count - maxChars())} too many)` : "");
  charCount.classList.toggle("is-over", over);
}

function checkText(text) {
  if (!text.trim()) {
    throw new ShownError("Nothing to analyze", "Paste or type a text first.");
  }
  const count = codePointCount(text);
  if (count > maxChars()) {
    throw new ShownError(
      "The text is too long",
      `It has ${formatCount(count)} characters; at most ` +
        `${formatCount(maxChars())} are allowed. Shorten it or analyze it in parts.`,
    );
  }
}

function clearError() {
  showError(errorBox, null);
  textarea.removeAttribute("aria-invalid");
}

// ---- talking to the API ----

async function analyze() {
  const text = textarea.value;
  clearError();
  try {
    model = await loadModel();
    checkText(text);
  } catch (error) {
    if (model) textarea.setAttribute("aria-invalid", "true");
    hideResult();
    showError(errorBox, error);
    return;
  }
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  setBusy(true);
  try {
    const analysis = await callApi("v1/analyze", {
      body: { text, explain: true, actors: true },
      signal: controller.signal,
      expect: (body) => Array.isArray(body.sentences) && typeof body.summary === "object",
    });
    if (analysis === null || inFlight !== controller) return;
    render(text, trimmed(text, analysis), false);
  } catch (error) {
    if (inFlight !== controller) return;
    // The shown result belongs to an earlier text: keep it from passing for this one's.
    hideResult();
    showError(errorBox, error);
  } finally {
    if (inFlight === controller) {
      inFlight = null;
      setBusy(false);
    }
  }
}

function hideResult() {
  hideDetails();
  result.hidden = true;
  shown = null;
}

function setBusy(busy) {
  analyzeButton.textContent = busy ? "Analyzing…" : "Analyze";
  analyzeButton.classList.toggle("is-busy", busy);
  result.setAttribute("aria-busy", String(busy));
  form.setAttribute("aria-busy", String(busy));
}

// ---- explanations: content words first, function words in a group of their own ----

// A term ("of the", "not_to") is a function term when each of its words is a function word.
function isFunctionTerm(term) {
  return term
    .split(" ")
    .every((word) => model.functionWords.has(word.startsWith("not_") ? word.slice(4) : word));
}

function groupTerms(terms) {
  const content = [];
  const functional = [];
  for (const term of terms) (isFunctionTerm(term.term) ? functional : content).push(term);
  return { content: content.slice(0, TOP_TERMS), functional: functional.slice(0, TOP_FUNCTION_TERMS) };
}

// Keep what the page shows and drops the rest, so a permalink stays short; grouping the kept
// terms again gives the same groups.
function trimmed(text, analysis) {
  const keep = (terms) => {
    const { content, functional } = groupTerms(terms);
    return [...content, ...functional];
  };
  return {
    model_version: analysis.model_version,
    summary: analysis.summary,
    sentences: analysis.sentences.map((call) => ({
      start: call.start,
      end: call.end,
      label: call.label,
      confidence: call.confidence,
      probabilities: call.probabilities,
      explanation: call.explanation && {
        toward: keep(call.explanation.toward),
        against: keep(call.explanation.against),
      },
      actors: call.actors && call.actors.hints.length ? call.actors : undefined,
    })),
  };
}

// ---- the result ----

function render(text, analysis, restored) {
  hideDetails();
  corrections.clear();
  const offsets = utf16Offsets(text);
  for (const call of analysis.sentences) {
    call.text = text.slice(offsets[call.start], offsets[call.end]);
  }
  shown = { text, analysis };
  $("model-version").textContent = analysis.model_version;
  renderSummary(analysis.summary, analysis.sentences.length);
  renderChart(analysis.sentences);
  renderDocument(text, offsets, analysis.sentences);
  $("restored").hidden = !restored;
  $("permalink-box").hidden = true;
  const wasHidden = result.hidden;
  result.hidden = false;
  if (wasHidden && result.getBoundingClientRect().top > window.innerHeight * 0.6) {
    const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    result.scrollIntoView({ behavior: smooth ? "smooth" : "auto", block: "start" });
  }
}

function renderSummary(summary, total) {
  const tone = summary.tone;
  $("tone-value").textContent = signed(tone, 2);
  $("tone-words").textContent = toneWords(tone);
  $("tone-pin").style.left = `${((tone + 1) / 2) * 100}%`;
  $("sentence-total").textContent = `(${total})`;
  const bar = $("share-bar");
  const list = $("counts");
  bar.replaceChildren();
  list.replaceChildren();
  for (const label of model.labels) {
    const share = summary.shares[label];
    if (share > 0) {
      const segment = el("span", "share");
      segment.dataset.label = label;
      segment.style.width = `${share * 100}%`;
      bar.append(segment);
    }
    const item = el("li", "count");
    item.dataset.label = label;
    item.append(
      marker(label),
      el("span", "count-name", label),
      el("span", "count-value", String(summary.counts[label])),
      el("span", "count-share", `${Math.round(share * 100)}%`),
    );
    list.append(item);
  }
}

// One bar per sentence: colour the call, height the confidence; a click reads the sentence.
function renderChart(sentences) {
  const box = $("sentence-chart");
  const height = 64;
  const width = Math.max(sentences.length, 1) * 10;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-labelledby": "sentence-chart-title sentence-chart-summary",
  });
  const counts = new Map();
  sentences.forEach((call, index) => {
    counts.set(call.label, (counts.get(call.label) || 0) + 1);
    const barHeight = Math.max(call.confidence * height, 2);
    const bar = svg("rect", {
      class: "bar",
      x: index * 10 + 1,
      y: height - barHeight,
      width: 8,
      height: barHeight,
      "data-label": call.label,
      "data-index": index,
    });
    const title = svg("title");
    title.textContent = `Sentence ${index + 1}: ${call.label}, ${percent(call.confidence)} sure`;
    bar.append(title);
    chart.append(bar);
  });
  const summary = el(
    "span",
    "sr-only",
    `${sentences.length} sentences in order: ` +
      sentences.map((call) => call.label).join(", "),
  );
  summary.id = "sentence-chart-summary";
  // A short text's bars stay bars, not slabs: at most 2.5rem each.
  chart.style.maxWidth = `${Math.max(sentences.length, 1) * 2.5}rem`;
  box.replaceChildren(chart, summary);
}

function renderDocument(text, offsets, sentences) {
  const fragment = document.createDocumentFragment();
  let previous = 0;
  sentences.forEach((call, index) => {
    const start = offsets[call.start];
    const end = offsets[call.end];
    if (start > previous) fragment.append(document.createTextNode(text.slice(previous, start)));
    const span = el("span", "sentence");
    span.tabIndex = 0;
    span.dataset.index = String(index);
    span.dataset.label = call.label;
    span.setAttribute("aria-describedby", "details");
    span.append(
      marker(call.label),
      el("span", "sr-only", `${labelName(call.label)}, ${percent(call.confidence)}: `),
      sentenceText(text, offsets, call),
    );
    fragment.append(span);
    previous = end;
  });
  if (previous < text.length) fragment.append(document.createTextNode(text.slice(previous)));
  if (sentences.length === 0) {
    fragment.append(el("p", "muted", "No sentences were found in this text."));
  }
  documentView.replaceChildren(fragment);
}

// The sentence's text, with the actors it names marked by their role.
function sentenceText(text, offsets, call) {
  const node = el("span", "sentence-text");
  const end = offsets[call.end];
  let position = offsets[call.start];
  const hints = call.actors ? [...call.actors.hints].sort((a, b) => a.start - b.start) : [];
  for (const hint of hints) {
    const from = offsets[hint.start];
    const to = offsets[hint.end];
    if (from < position || to > end) continue; // overlapping or outside: leave it plain
    if (from > position) node.append(text.slice(position, from));
    const mark = el("mark", "actor", text.slice(from, to));
    mark.dataset.role = hint.role;
    mark.dataset.id = hint.id;
    mark.title = `${hint.actor} (${hint.id}), ${hint.role}`;
    node.append(mark);
    position = to;
  }
  if (end > position) node.append(text.slice(position, end));
  return node;
}

// ---- sentence details (hover, tap or focus; a click or Enter keeps them open) ----

let shownSentence = null;
let pinned = false;
let hideTimer = 0;
let refocusing = false; // focus going back to a sentence whose card was just closed
// Whether the pointer moved since the keyboard last chose a sentence: a card that moves under a
// resting pointer must not make the pointer's sentence replace the focused one.
let pointerMoved = true;

function fillDetails(call, index) {
  const label = call.label;
  const head = el("p", "details-head");
  head.dataset.label = label;
  head.append(
    marker(label),
    el("strong", null, labelName(label)),
    el("span", "muted", `${percent(call.confidence)} sure`),
  );

  const probabilities = el("ul", "probabilities");
  for (const name of model.labels) {
    const p = call.probabilities[name];
    const row = el("li", "probability");
    row.dataset.label = name;
    const bar = el("span", "probability-bar");
    const fill = el("span", "probability-fill");
    fill.style.width = `${p * 100}%`;
    bar.append(fill);
    bar.setAttribute("aria-hidden", "true");
    row.append(el("span", "probability-name", name), bar, el("span", "probability-value", percent(p)));
    probabilities.append(row);
  }
  details.replaceChildren(head, probabilities);
  const actors = actorLine(call.actors);
  if (actors) details.append(actors);

  const explanation = call.explanation;
  if (explanation) {
    const toward = groupTerms(explanation.toward);
    const against = groupTerms(explanation.against);
    const none = [toward, against].every((g) => !g.content.length && !g.functional.length);
    if (none) {
      const note = "No word of this sentence is known to the model: the call rests on its prior.";
      details.append(el("p", "muted", note));
    } else {
      details.append(
        termList(`Words for ${label}`, "toward", toward),
        termList(`Words against ${label}`, "against", against),
        el("p", "details-note", "Numbers are each word's weight in the score for this label."),
      );
    }
  }
  details.append(feedbackArea(call, index));
}

function actorLine(actors) {
  if (!actors) return null;
  const name = (id, role) => {
    const hint = actors.hints.find((h) => h.id === id && h.role === role);
    return hint ? `${hint.actor} (${id})` : id;
  };
  const parts = [];
  if (actors.speaker) parts.push(`Speaker: ${name(actors.speaker, "speaker")}`);
  if (actors.target) parts.push(`Target: ${name(actors.target, "target")}`);
  const mentioned = [...new Set(actors.hints.filter((h) => h.role === "mentioned").map((h) => h.actor))];
  if (mentioned.length) parts.push(`Mentioned: ${mentioned.join(", ")}`);
  return parts.length ? el("p", "details-actors", parts.join(" · ")) : null;
}

function termList(title, kind, groups) {
  const box = el("div", `terms terms-${kind}`);
  box.append(el("p", "terms-title", title));
  const { content, functional } = groups;
  if (!content.length && !functional.length) {
    box.append(el("p", "muted", "none"));
    return box;
  }
  if (content.length) box.append(terms(content));
  if (functional.length) {
    // Named for what they are, after the content words: "the" is never the reason when
    // content words carry weight, but its weight is real and shown.
    const title = content.length ? "and function words" : "only function words";
    box.append(el("p", "terms-subtitle", title), terms(functional, "is-function"));
  }
  return box;
}

function terms(list, className) {
  const node = el("ul", `term-list ${className || ""}`.trim());
  for (const term of list) {
    const item = el("li", "term");
    item.append(el("span", "term-text", term.term), el("span", "term-weight", signed(term.weight, 2)));
    node.append(item);
  }
  return node;
}

// ---- "This call is wrong": a correction to POST v1/feedback ----

function feedbackArea(call, index) {
  const area = el("div", "feedback");
  showFeedbackButton(area, call, index);
  return area;
}

function showFeedbackButton(area, call, index) {
  const sent = corrections.get(index);
  if (sent) {
    area.replaceChildren(acknowledgement(sent));
    return;
  }
  const open = el("button", "button secondary small", "This call is wrong");
  open.type = "button";
  open.addEventListener("click", () => {
    pin();
    area.replaceChildren(feedbackForm(call, index, area));
    area.querySelector("input").focus();
  });
  area.replaceChildren(open);
}

function feedbackForm(call, index, area) {
  const maxNote = model.limits.max_note_chars;
  const formNode = el("form", "feedback-form");
  formNode.noValidate = true;
  const choices = el("fieldset", "feedback-labels");
  choices.append(el("legend", null, "The right label"));
  for (const label of model.labels.filter((name) => name !== call.label)) {
    const option = el("label", "feedback-label");
    option.dataset.label = label;
    const radio = el("input");
    radio.type = "radio";
    radio.name = "label";
    radio.value = label;
    option.append(radio, marker(label), ` ${label}`);
    choices.append(option);
  }
  const noteId = `feedback-note-${index}`;
  const noteLabel = el("label", "feedback-note-label", "Note (optional)");
  noteLabel.htmlFor = noteId;
  const note = el("textarea", "feedback-note");
  note.id = noteId;
  note.rows = 2;
  const count = el("span", "char-count");
  const countNote = () => {
    const n = codePointCount(note.value);
    count.textContent = `${formatCount(n)} / ${formatCount(maxNote)}`;
    count.classList.toggle("is-over", n > maxNote);
  };
  note.addEventListener("input", countNote);
  countNote();
  const send = el("button", "button primary small", "Send correction");
  send.type = "submit";
  const cancel = el("button", "button secondary small", "Cancel");
  cancel.type = "button";
  const problem = el("div", "alert");
  problem.setAttribute("role", "alert");
  const buttons = el("div", "feedback-buttons");
  buttons.append(send, cancel, count);
  formNode.append(choices, noteLabel, note, buttons, problem);

  cancel.addEventListener("click", () => {
    showFeedbackButton(area, call, index);
    area.querySelector("button").focus();
  });
  formNode.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(problem, null);
    const chosen = formNode.querySelector("input[name=label]:checked");
    const noteText = note.value.trim();
    try {
      if (!chosen) throw new ShownError("Choose a label", "Which label should this sentence have?");
      if (codePointCount(noteText) > maxNote) {
        throw new ShownError(
          "The note is too long",
          `It has ${formatCount(codePointCount(noteText))} characters; at most ` +
            `${formatCount(maxNote)} are allowed.`,
        );
      }
      send.disabled = true;
      const body = { text: call.text, label: chosen.value };
      if (noteText) body.note = noteText;
      const stored = await callApi("v1/feedback", { body, expect: (b) => b.label === chosen.value });
      const record = { ...stored, from: call.label };
      corrections.set(index, record);
      area.replaceChildren(acknowledgement(record));
      area.querySelector(".feedback-ack").focus();
    } catch (error) {
      showError(problem, error);
    } finally {
      send.disabled = false;
    }
  });
  return formNode;
}

function acknowledgement(record) {
  const text =
    `Thank you: your correction (${record.from} → ${record.label}) is stored as #${record.id}` +
    ` for model ${record.model_version}.`;
  const node = el("p", "feedback-ack", text);
  node.setAttribute("role", "status");
  node.tabIndex = -1;
  return node;
}

// ---- placing the card: below the sentence, or above it, never over it ----

function placeDetails(span) {
  const card = details.offsetParent;
  if (!card || details.hidden) return;
  const box = card.getBoundingClientRect();
  const rects = span.getClientRects();
  if (!rects.length) return;
  const first = rects[0];
  const last = rects[rects.length - 1];
  const width = details.offsetWidth;
  const height = details.offsetHeight;
  const gap = 6;
  let left = last.left - box.left - card.clientLeft;
  left = Math.max(0, Math.min(left, card.clientWidth - width));
  const below = last.bottom - box.top - card.clientTop + gap;
  const above = first.top - box.top - card.clientTop - height - gap;
  const roomBelow = window.innerHeight - last.bottom;
  // Above only when it fits there whole; otherwise below, where the page can scroll to it.
  const top = roomBelow < height + gap && first.top > height + gap ? above : below;
  details.style.left = `${left}px`;
  details.style.top = `${top}px`;
}

// The card grows when the correction form opens: keep it off the sentence.
new ResizeObserver(() => shownSentence && placeDetails(shownSentence)).observe(details);

function showDetails(span) {
  clearTimeout(hideTimer);
  if (shownSentence !== span) {
    if (shownSentence) shownSentence.classList.remove("is-active");
    shownSentence = span;
    pinned = false;
    span.classList.add("is-active");
    const index = Number(span.dataset.index);
    fillDetails(shown.analysis.sentences[index], index);
    for (const bar of document.querySelectorAll("#sentence-chart .bar")) {
      bar.classList.toggle("is-active", Number(bar.dataset.index) === index);
    }
  }
  details.hidden = false;
  placeDetails(span);
}

function pin() {
  pinned = true;
  details.classList.add("is-pinned");
}

function hideDetails() {
  clearTimeout(hideTimer);
  if (shownSentence) shownSentence.classList.remove("is-active");
  for (const bar of document.querySelectorAll("#sentence-chart .bar.is-active")) {
    bar.classList.remove("is-active");
  }
  shownSentence = null;
  pinned = false;
  details.classList.remove("is-pinned");
  details.hidden = true;
}

// When the pointer leaves, fall back to the focused sentence if there is one.
function settleDetails() {
  clearTimeout(hideTimer);
  if (pinned) return;
  hideTimer = setTimeout(() => {
    const focused = document.activeElement;
    if (focused && focused.classList && focused.classList.contains("sentence")) {
      showDetails(focused);
    } else if (!details.matches(":hover") && !details.contains(focused)) {
      hideDetails();
    }
  }, 150);
}

const sentenceOf = (node) => (node instanceof Element ? node.closest(".sentence") : null);

documentView.addEventListener("mouseover", (event) => {
  const span = sentenceOf(event.target);
  if (span && !pinned && pointerMoved) showDetails(span);
});
let pointerAt = "";
documentView.addEventListener("mousemove", (event) => {
  const at = `${event.screenX},${event.screenY}`;
  if (at === pointerAt) return; // the page moved under a resting pointer, not the hand
  pointerAt = at;
  pointerMoved = true;
  const span = sentenceOf(event.target);
  if (span && !pinned && span !== shownSentence) showDetails(span);
});
documentView.addEventListener("mouseout", (event) => {
  if (sentenceOf(event.target) !== sentenceOf(event.relatedTarget)) settleDetails();
});
documentView.addEventListener("focusin", (event) => {
  const span = sentenceOf(event.target);
  if (span && !refocusing) {
    pointerMoved = false;
    showDetails(span);
  }
});
documentView.addEventListener("focusout", (event) => {
  if (!sentenceOf(event.relatedTarget) && !details.contains(event.relatedTarget)) settleDetails();
});
documentView.addEventListener("click", (event) => {
  const span = sentenceOf(event.target);
  if (!span) return;
  showDetails(span);
  pin();
});
documentView.addEventListener("keydown", (event) => {
  const span = sentenceOf(event.target);
  if (!span || (event.key !== "Enter" && event.key !== " ")) return;
  event.preventDefault();
  showDetails(span);
  pin();
  details.querySelector(".feedback button, .feedback-ack").focus();
});
details.addEventListener("mouseenter", () => clearTimeout(hideTimer));
details.addEventListener("mouseleave", settleDetails);
details.addEventListener("focusout", (event) => {
  if (!details.contains(event.relatedTarget) && !sentenceOf(event.relatedTarget)) settleDetails();
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || details.hidden) return;
  const back = shownSentence;
  const inside = details.contains(document.activeElement);
  hideDetails();
  if (inside && back) {
    refocusing = true;
    back.focus({ preventScroll: true });
    refocusing = false;
  }
});
document.addEventListener("click", (event) => {
  // The path, not the target: a clicked button may have been replaced by what it opened.
  if (!pinned || event.composedPath().includes(details) || sentenceOf(event.target)) return;
  if (event.target instanceof Element && event.target.closest("#sentence-chart")) return;
  hideDetails();
});
window.addEventListener("resize", () => {
  if (shownSentence) placeDetails(shownSentence);
});
$("sentence-chart").addEventListener("click", (event) => {
  const bar = event.target instanceof Element ? event.target.closest(".bar") : null;
  if (!bar) return;
  const span = documentView.querySelector(`.sentence[data-index="${bar.dataset.index}"]`);
  span.focus({ preventScroll: true });
  span.scrollIntoView({ block: "center" });
  showDetails(span);
  pin();
});
$("show-actors").addEventListener("change", (event) => {
  documentView.classList.toggle("hide-actors", !event.target.checked);
});

// ---- the permalink: the text and the result, compressed into the URL's fragment ----

function toBase64Url(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

async function pack(value) {
  const stream = new Blob([JSON.stringify(value)])
    .stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return toBase64Url(new Uint8Array(await new Response(stream).arrayBuffer()));
}

async function unpack(text) {
  const stream = new Blob([fromBase64Url(text)])
    .stream()
    .pipeThrough(new DecompressionStream("deflate-raw"));
  return JSON.parse(await new Response(stream).text());
}

async function makePermalink() {
  if (!shown) return;
  const sentences = shown.analysis.sentences.map(({ text, ...call }) => call);
  const data = await pack({
    v: PERMALINK_VERSION,
    text: shown.text,
    analysis: { ...shown.analysis, sentences },
  });
  const url = new URL(window.location.href);
  url.hash = PERMALINK_PREFIX.slice(1) + data;
  history.replaceState(null, "", url.href);
  const box = $("permalink-box");
  const field = $("permalink-url");
  box.hidden = false;
  field.value = url.href;
  field.select();
  $("permalink-status").textContent =
    `The link is ${formatCount(url.href.length)} characters long.`;
}

async function copyPermalink() {
  const field = $("permalink-url");
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    $("permalink-status").textContent = "Copied.";
  } catch {
    $("permalink-status").textContent = "Select the link above and copy it (Ctrl+C).";
  }
}

async function restoreFromLink() {
  if (!window.location.hash.startsWith(PERMALINK_PREFIX)) return false;
  try {
    const data = await unpack(window.location.hash.slice(PERMALINK_PREFIX.length));
    if (data.v !== PERMALINK_VERSION || typeof data.text !== "string" || !data.analysis) {
      throw new Error("not a Stance result");
    }
    model = await loadModel();
    textarea.value = data.text;
    updateCount();
    clearError();
    setBusy(false);
    render(data.text, data.analysis, true);
  } catch (error) {
    if (error instanceof ShownError) throw error;
    hideResult();
    showError(
      errorBox,
      new ShownError(
        "This link cannot be read",
        "Its result is damaged or incomplete (was it cut short when copied?). " +
          "Paste the text and analyze it again.",
      ),
    );
  }
  return true;
}

// ---- wiring ----

form.addEventListener("submit", (event) => {
  event.preventDefault();
  analyze();
});
form.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    analyze();
  }
});
textarea.addEventListener("input", () => {
  updateCount();
  if (textarea.getAttribute("aria-invalid")) clearError();
});
for (const button of document.querySelectorAll("button.example")) {
  button.addEventListener("click", () => {
    textarea.value = EXAMPLES[button.dataset.example];
    updateCount();
    analyze();
  });
}
$("clear").addEventListener("click", () => {
  if (inFlight) inFlight.abort();
  textarea.value = "";
  updateCount();
  clearError();
  hideResult();
  if (window.location.hash) history.replaceState(null, "", window.location.pathname);
  textarea.focus();
});
$("permalink").addEventListener("click", makePermalink);
$("permalink-copy").addEventListener("click", copyPermalink);
window.addEventListener("hashchange", () => restoreFromLink().catch((e) => showError(errorBox, e)));

const platform =
  (navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || "";
if (/mac|iphone|ipad/i.test(platform)) {
  const hint = $("shortcut-hint");
  hint.replaceChildren("or press ", el("kbd", null, "⌘ Cmd"), " + ", el("kbd", null, "Enter"));
}
startWithModel().then(() => restoreFromLink().catch((e) => showError(errorBox, e)));
