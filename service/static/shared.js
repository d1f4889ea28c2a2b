// What the page's parts share: the model's facts from GET v1/model, talking to the API, and
// small helpers. Every piece of text from the user or the server goes in through textContent.

// Relative to the page, so the page also works when the app is mounted under a prefix.
export const apiUrl = (path) => new URL(path, document.baseURI).href;

export const numberFormat = new Intl.NumberFormat("en-US");
export const formatCount = (n) => numberFormat.format(n);

const TIMEOUT_MS = 60000;
const HEADINGS = {
  400: "The request was not understood",
  401: "The server wants a token",
  403: "The server refused the token",
  413: "The request is too large to send",
  415: "The request was not understood",
  422: "The server refused the request",
  429: "Too many requests",
  503: "The service is not ready",
};

export class ShownError extends Error {
  constructor(heading, detail) {
    super(detail);
    this.heading = heading;
  }
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

// A label's colour and marker come from style.css, keyed by the label's name (data-label).
export function marker(label) {
  const node = el("span", "marker");
  node.dataset.label = label;
  node.setAttribute("aria-hidden", "true");
  return node;
}

export const labelName = (label) => label.charAt(0).toUpperCase() + label.slice(1);

// The server counts characters as Python does (code points); JavaScript counts UTF-16 units.
export function codePointCount(text) {
  const pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
  return text.length - (pairs ? pairs.length : 0);
}

export const utf8Bytes = (text) => new TextEncoder().encode(text).length;

// Never round a near-certain call up to a flat "100%" or an unlikely label down to "0%".
export const percent = (p) =>
  p >= 0.995 ? ">99%" : p < 0.005 ? "<1%" : `${Math.round(p * 100)}%`;
export const signed = (x, digits) =>
  (x > 0 ? "+" : x < 0 ? "−" : "±") + Math.abs(x).toFixed(digits);

export function showError(box, error) {
  box.replaceChildren();
  if (!error) return;
  const heading = error instanceof ShownError ? error.heading : "Something went wrong";
  const detail =
    error instanceof ShownError ? error.message : `The page hit an error: ${error.message}`;
  box.append(el("strong", "alert-heading", heading), el("span", "alert-detail", detail));
}

async function readJson(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!/[/+]json\b/.test(type)) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// GET or POST the API; return its JSON, or throw a ShownError with the server's own detail.
// Returns null when the request was aborted by the caller (a newer request replaced it).
export async function callApi(path, { body, signal, expect } = {}) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, TIMEOUT_MS);
  const abort = () => controller.abort();
  if (signal) signal.addEventListener("abort", abort);
  let response;
  let answer;
  try {
    response = await fetch(apiUrl(path), {
      method: body === undefined ? "GET" : "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
    answer = await readJson(response);
  } catch (error) {
    if (error.name === "AbortError" && !timedOut) return null;
    if (timedOut) {
      throw new ShownError(
        "The server took too long",
        `No answer came within ${TIMEOUT_MS / 1000} seconds. Try again, or send less.`,
      );
    }
    throw new ShownError(
      "Cannot reach the Stance server",
      "The request did not get through: the server may be stopped or the network down. " +
        "Check that the service is running, then try again.",
    );
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", abort);
  }
  if (!response.ok) {
    if (answer && typeof answer.detail === "string") {
      const heading =
        HEADINGS[response.status] ||
        (response.status >= 500 ? "The server failed" : answer.title || "The request failed");
      throw new ShownError(`${heading} (HTTP ${response.status})`, answer.detail);
    }
    throw new ShownError(
      `The server answered with an error (HTTP ${response.status})`,
      "The answer was not the API's JSON, so the server or a proxy in front of it may be " +
        "down or misconfigured. Try again in a moment.",
    );
  }
  if (!answer || (expect && !expect(answer))) {
    const type = response.headers.get("Content-Type") || "no content type";
    throw new ShownError(
      "Unexpected answer from the server",
      `Expected the API's JSON but got ${type}. The server may be misconfigured.`,
    );
  }
  return answer;
}

// The model's facts, read once: labels, the limits this deployment enforces, function words.
let modelInfo = null;
export function loadModel() {
  modelInfo ||= callApi("v1/model", {
    expect: (body) => Array.isArray(body.labels) && body.limits && body.function_words,
  }).then(
    (body) => ({ ...body, functionWords: new Set(body.function_words) }),
    (error) => {
      modelInfo = null; // ask again next time: the server may be starting
      throw error;
    },
  );
  return modelInfo;
}

// Offer a file made in the browser as a download; nothing is uploaded.
export function download(name, type, content) {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const link = el("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
