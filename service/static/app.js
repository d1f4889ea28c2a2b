// The Stance page: send the text to POST v1/analyze and show each sentence with its call.
// Every piece of text from the user or the server goes in through textContent, never innerHTML.
"use strict";

(() => {
  // The API's default limit (MAX_DOCUMENT_CHARS); the server checks it again and has the last word.
  const MAX_CHARS = 100000;
  const TIMEOUT_MS = 60000;
  const TOP_TERMS = 5;
  const LABELS = ["conciliatory", "neutral", "warning"];
  const MARKERS = { conciliatory: "◆", neutral: "●", warning: "▲" };
  const NAMES = { conciliatory: "Conciliatory", neutral: "Neutral", warning: "Warning" };
  const HEADINGS = {
    400: "The request was not understood",
    413: "The text is too large to send",
    415: "The request was not understood",
    422: "The text cannot be analyzed",
    503: "The service is not ready",
  };

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
  const numberFormat = new Intl.NumberFormat("en-US");

  let calls = []; // the sentences of the shown result, in order
  let inFlight = null; // the AbortController of the running request

  class ShownError extends Error {
    constructor(heading, detail) {
      super(detail);
      this.heading = heading;
    }
  }

  // Relative to the page, so the page also works when the app is mounted under a prefix.
  const apiUrl = (path) => new URL(path, document.baseURI).href;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The server counts characters as Python does (code points); JavaScript counts UTF-16 units.
  function codePointCount(text) {
    const pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
    return text.length - (pairs ? pairs.length : 0);
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

  // Never round a near-certain call up to a flat "100%" or an unlikely label down to "0%".
  const percent = (p) => (p >= 0.995 ? ">99%" : p < 0.005 ? "<1%" : `${Math.round(p * 100)}%`);
  const signed = (x, digits) => (x > 0 ? "+" : x < 0 ? "−" : "±") + Math.abs(x).toFixed(digits);

  function toneWords(tone) {
    if (tone <= -0.5) return "strongly warning";
    if (tone <= -0.15) return "leans warning";
    if (tone < 0.15) return "balanced or mostly neutral";
    if (tone < 0.5) return "leans conciliatory";
    return "strongly conciliatory";
  }

  // ---- input ----

  function updateCount() {
    const count = codePointCount(textarea.value);
    const over = count > MAX_CHARS;
    charCount.textContent =
      `${numberFormat.format(count)} / ${numberFormat.format(MAX_CHARS)} characters` +
      (over ? ` (${numberFormat.format(count - MAX_CHARS)} too many)` : "");
    charCount.classList.toggle("is-over", over);
  }

  function checkText(text) {
    if (!text.trim()) {
      throw new ShownError("Nothing to analyze", "Paste or type a text first.");
    }
    const count = codePointCount(text);
    if (count > MAX_CHARS) {
      throw new ShownError(
        "The text is too long",
        `It has ${numberFormat.format(count)} characters; at most ` +
          `${numberFormat.format(MAX_CHARS)} are allowed. Shorten it or analyze it in parts.`,
      );
    }
  }

  // ---- messages ----

  function showError(error) {
    errorBox.replaceChildren();
    const heading = error instanceof ShownError ? error.heading : "Something went wrong";
    const detail =
      error instanceof ShownError ? error.message : `The page hit an error: ${error.message}`;
    errorBox.append(el("strong", "alert-heading", heading), el("span", "alert-detail", detail));
  }

  function clearError() {
    errorBox.replaceChildren();
    textarea.removeAttribute("aria-invalid");
  }

  // ---- talking to the API ----

  async function readJson(response) {
    const type = response.headers.get("Content-Type") || "";
    if (!/[/+]json\b/.test(type)) return null;
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  async function requestAnalysis(text, controller) {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, TIMEOUT_MS);
    let response;
    let body;
    try {
      response = await fetch(apiUrl("v1/analyze"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ text, explain: true }),
        signal: controller.signal,
      });
      body = await readJson(response);
    } catch (error) {
      if (error.name === "AbortError" && !timedOut) return null; // replaced by a newer request
      if (timedOut) {
        throw new ShownError(
          "The server took too long",
          `No answer came within ${TIMEOUT_MS / 1000} seconds. Try again, or a shorter text.`,
        );
      }
      throw new ShownError(
        "Cannot reach the Stance server",
        "The request did not get through: the server may be stopped or the network down. " +
          "Check that the service is running, then try again.",
      );
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      if (body && typeof body.detail === "string") {
        const heading = HEADINGS[response.status] ||
          (response.status >= 500 ? "The server failed" : body.title || "The request failed");
        throw new ShownError(`${heading} (HTTP ${response.status})`, body.detail);
      }
      throw new ShownError(
        `The server answered with an error (HTTP ${response.status})`,
        "The answer was not the API's JSON, so the server or a proxy in front of it may be " +
          "down or misconfigured. Try again in a moment.",
      );
    }
    if (!body || !Array.isArray(body.sentences) || typeof body.summary !== "object") {
      const type = response.headers.get("Content-Type") || "no content type";
      throw new ShownError(
        "Unexpected answer from the server",
        `Expected the analysis as JSON but got ${type}. The server may be misconfigured.`,
      );
    }
    return body;
  }

  async function analyze() {
    const text = textarea.value;
    clearError();
    try {
      checkText(text);
    } catch (error) {
      textarea.setAttribute("aria-invalid", "true");
      hideResult();
      showError(error);
      return;
    }
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    setBusy(true);
    try {
      const analysis = await requestAnalysis(text, controller);
      if (analysis === null || inFlight !== controller) return;
      render(text, analysis);
    } catch (error) {
      if (inFlight !== controller) return;
      // The shown result belongs to an earlier text: keep it from passing for this one's.
      hideResult();
      showError(error);
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
  }

  function setBusy(busy) {
    analyzeButton.textContent = busy ? "Analyzing…" : "Analyze";
    analyzeButton.classList.toggle("is-busy", busy);
    result.setAttribute("aria-busy", String(busy));
    form.setAttribute("aria-busy", String(busy));
  }

  async function showModelVersion() {
    const target = $("model-version");
    try {
      const response = await fetch(apiUrl("v1/model"), { headers: { Accept: "application/json" } });
      const body = await readJson(response);
      target.textContent = response.ok && body && body.version ? body.version : "not loaded";
    } catch {
      target.textContent = "unavailable";
    }
  }

  // ---- the result ----

  function render(text, analysis) {
    hideDetails();
    calls = analysis.sentences;
    $("model-version").textContent = analysis.model_version;
    renderSummary(analysis.summary, calls.length);
    renderDocument(text, calls);
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
    for (const label of LABELS) {
      const share = summary.shares[label];
      if (share > 0) {
        const segment = el("span", `share is-${label}`);
        segment.style.width = `${share * 100}%`;
        bar.append(segment);
      }
      const item = el("li", `count is-${label}`);
      item.dataset.label = label;
      const marker = el("span", "marker", MARKERS[label]);
      marker.setAttribute("aria-hidden", "true");
      item.append(
        marker,
        el("span", "count-name", label),
        el("span", "count-value", String(summary.counts[label])),
        el("span", "count-share", `${Math.round(share * 100)}%`),
      );
      list.append(item);
    }
  }

  function renderDocument(text, sentences) {
    const offsets = utf16Offsets(text);
    const fragment = document.createDocumentFragment();
    let previous = 0;
    sentences.forEach((call, index) => {
      const start = offsets[call.start];
      const end = offsets[call.end];
      if (start > previous) fragment.append(document.createTextNode(text.slice(previous, start)));
      const span = el("span", `sentence is-${call.label}`);
      span.tabIndex = 0;
      span.dataset.index = String(index);
      span.dataset.label = call.label;
      span.setAttribute("aria-describedby", "details");
      const marker = el("span", "marker", MARKERS[call.label]);
      marker.setAttribute("aria-hidden", "true");
      span.append(
        marker,
        el("span", "sr-only", `${NAMES[call.label]}, ${percent(call.confidence)}: `),
        el("span", "sentence-text", text.slice(start, end)),
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

  // ---- sentence details (hover, tap or focus) ----

  let shownSentence = null;
  let hideTimer = 0;

  function fillDetails(call) {
    const label = call.label;
    const head = el("p", `details-head is-${label}`);
    const marker = el("span", "marker", MARKERS[label]);
    marker.setAttribute("aria-hidden", "true");
    const sure = el("span", "muted", `${percent(call.confidence)} sure`);
    head.append(marker, el("strong", null, NAMES[label]), sure);

    const probabilities = el("ul", "probabilities");
    for (const name of LABELS) {
      const p = call.probabilities[name];
      const row = el("li", `probability is-${name}`);
      row.dataset.label = name;
      const bar = el("span", "probability-bar");
      const fill = el("span", "probability-fill");
      fill.style.width = `${p * 100}%`;
      bar.append(fill);
      bar.setAttribute("aria-hidden", "true");
      const value = el("span", "probability-value", percent(p));
      row.append(el("span", "probability-name", name), bar, value);
      probabilities.append(row);
    }
    details.replaceChildren(head, probabilities);

    const explanation = call.explanation;
    if (!explanation) return;
    const toward = explanation.toward.slice(0, TOP_TERMS);
    const against = explanation.against.slice(0, TOP_TERMS);
    if (toward.length === 0 && against.length === 0) {
      const note = "No word of this sentence is known to the model: the call rests on its prior.";
      details.append(el("p", "muted", note));
      return;
    }
    details.append(
      termList(`Words for ${label}`, "toward", toward),
      termList(`Words against ${label}`, "against", against),
      el("p", "details-note", "Numbers are each word's weight in the score for this label."),
    );
  }

  function termList(title, kind, terms) {
    const box = el("div", `terms terms-${kind}`);
    box.append(el("p", "terms-title", title));
    if (terms.length === 0) {
      box.append(el("p", "muted", "none"));
      return box;
    }
    const list = el("ul", "term-list");
    for (const term of terms) {
      const item = el("li", "term");
      const weight = el("span", "term-weight", signed(term.weight, 2));
      item.append(el("span", "term-text", term.term), weight);
      list.append(item);
    }
    box.append(list);
    return box;
  }

  function placeDetails(span) {
    const card = details.offsetParent;
    if (!card) return;
    const box = card.getBoundingClientRect();
    const rects = span.getClientRects();
    const first = rects[0];
    const last = rects[rects.length - 1];
    const width = details.offsetWidth;
    const height = details.offsetHeight;
    const gap = 6;
    let left = last.left - box.left - card.clientLeft;
    left = Math.max(0, Math.min(left, card.clientWidth - width));
    let top = last.bottom - box.top - card.clientTop + gap;
    const roomBelow = window.innerHeight - last.bottom;
    if (roomBelow < height + gap && first.top > height + gap) {
      top = first.top - box.top - card.clientTop - height - gap;
    }
    details.style.left = `${left}px`;
    details.style.top = `${top}px`;
  }

  function showDetails(span) {
    clearTimeout(hideTimer);
    if (shownSentence !== span) {
      if (shownSentence) shownSentence.classList.remove("is-active");
      shownSentence = span;
      span.classList.add("is-active");
      fillDetails(calls[Number(span.dataset.index)]);
    }
    details.hidden = false;
    placeDetails(span);
  }

  function hideDetails() {
    clearTimeout(hideTimer);
    if (shownSentence) shownSentence.classList.remove("is-active");
    shownSentence = null;
    details.hidden = true;
  }

  // When the pointer leaves, fall back to the focused sentence if there is one.
  function settleDetails() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => {
      const focused = document.activeElement;
      if (focused && focused.classList && focused.classList.contains("sentence")) {
        showDetails(focused);
      } else if (!details.matches(":hover")) {
        hideDetails();
      }
    }, 150);
  }

  const sentenceOf = (node) => (node instanceof Element ? node.closest(".sentence") : null);

  documentView.addEventListener("mouseover", (event) => {
    const span = sentenceOf(event.target);
    if (span) showDetails(span);
  });
  documentView.addEventListener("mouseout", (event) => {
    if (sentenceOf(event.target) !== sentenceOf(event.relatedTarget)) settleDetails();
  });
  documentView.addEventListener("focusin", (event) => {
    const span = sentenceOf(event.target);
    if (span) showDetails(span);
  });
  documentView.addEventListener("focusout", (event) => {
    if (!sentenceOf(event.relatedTarget)) settleDetails();
  });
  details.addEventListener("mouseenter", () => clearTimeout(hideTimer));
  details.addEventListener("mouseleave", settleDetails);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !details.hidden) hideDetails();
  });
  window.addEventListener("resize", () => {
    if (shownSentence) placeDetails(shownSentence);
  });

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
    textarea.focus();
  });

  const platform =
    (navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || "";
  if (/mac|iphone|ipad/i.test(platform)) {
    const hint = $("shortcut-hint");
    hint.replaceChildren("or press ", el("kbd", null, "⌘ Cmd"), " + ", el("kbd", null, "Enter"));
  }
  updateCount();
  showModelVersion();
})();
