"""The web page: its files through Flask, then the page itself in a real Chromium over HTTP."""

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from model import LABELS

from .conftest import ROOT, start_gunicorn, stop

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # reported by the browser fixture: a skip here, a failure in CI
    sync_playwright = None

STATIC = ROOT / "service" / "static"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MARKERS = {"conciliatory": "◆", "neutral": "●", "warning": "▲"}
MAX_CHARS = 100_000

# An emoji before later sentences: JavaScript counts it as two characters and Python as one,
# so the page must convert the API's offsets to place the highlights.
# The long URL must wrap rather than widen a phone screen.
ARTICLE = (
    "VIENNA, June 3 (Reuters) - Iran and the three European powers agreed on Tuesday to resume "
    "talks on the nuclear programme next week, diplomats said. The foreign minister welcomed "
    'the decision: "We are ready to work with all parties in good faith 🤝," he wrote.\n\n'
    "But Washington warned that further enrichment would bring new sanctions and a firm response. "
    "The next round is scheduled for June 10 in Geneva.\n\n"
    "Full statement: https://example.org/press/2026/06/03/statement-on-the-resumption-of-talks-"
    "and-the-verification-arrangements-with-the-agency"
)

# Rebuild the analysed text from the page: the gaps between sentences plus each sentence's text.
SHOWN_TEXT = """() => Array.from(document.getElementById("document").childNodes, (node) =>
    node.nodeType === Node.TEXT_NODE ? node.data : node.querySelector(".sentence-text").textContent
).join("")"""


def shown_percent(p: float) -> str:
    """Format a probability as the page does (JavaScript's Math.round rounds halves up)."""
    if p >= 0.995:
        return ">99%"
    if p < 0.005:
        return "<1%"
    return f"{math.floor(p * 100 + 0.5)}%"


# ---- the files, through Flask's test client ----


def fetch(client, path: str) -> tuple[int, str, dict[str, str], bytes]:
    """GET path and close the response: file responses hold their file open until then."""
    with client.get(path) as response:
        return response.status_code, response.mimetype, dict(response.headers), response.data


def test_the_page_is_served_with_its_files(client):
    status, mimetype, headers, body = fetch(client, "/")
    assert status == 200
    assert mimetype == "text/html"
    html = body.decode("utf-8")
    assert '<label for="text">' in html and '<textarea id="text"' in html
    assert 'href="v1/openapi.json"' in html
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    linked = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assets = [url for url in linked if url.startswith("assets/")]
    assert {"assets/app.js", "assets/style.css", "assets/favicon.svg"} <= set(assets)
    for url in assets:
        assert fetch(client, f"/{url}")[0] == 200, url


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/assets/app.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
        ("/assets/favicon.svg", "image/svg+xml"),
        ("/assets/index.html", "text/html"),
    ],
)
def test_static_files_have_their_types(client, path, mimetype):
    status, served_as, headers, body = fetch(client, path)
    assert status == 200
    assert served_as == mimetype
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body == (STATIC / Path(path).name).read_bytes()


def test_a_missing_static_file_is_a_problem_not_a_page(client):
    status, mimetype, _, _ = fetch(client, "/assets/nothing-here.js")
    assert status == 404
    assert mimetype == "application/problem+json"


def test_the_page_loads_nothing_from_elsewhere():
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not re.match(r"^(?:[a-z]+:)?//", url), url
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    assert not re.search(r"https?://", script)
    # User and server text goes in as text, never as markup.
    assert not re.search(r"\.(?:inner|outer)HTML\b|insertAdjacentHTML|document\.write", script)


# ---- the page in a real browser ----


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """Debian's Chromium driven by Playwright; skipped where it is missing, except in CI."""
    missing = None
    if sync_playwright is None:
        missing = "Playwright is not installed (pip install playwright)"
    elif not CHROMIUM.exists():
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must run the browser tests")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory) -> Iterator[str]:
    # One worker boots in half the time of two, and the page sends one request at a time.
    process, base = start_gunicorn(model_dir, tmp_path_factory.mktemp("web-server"), workers=1)
    try:
        yield base
    finally:
        stop(process)


@dataclass
class PageLog:
    """What a page did: console errors (and uncaught exceptions), and every URL it requested."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser, server, page_log) -> Iterator["Page"]:
    """A fresh desktop-sized page on the Stance app, its console and requests in page_log."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and page_log.errors.append(m.text))
    page.on("pageerror", lambda error: page_log.errors.append(str(error)))
    page.on("request", lambda request: page_log.requests.append(request.url))
    page.goto(f"{server}/")
    yield page
    context.close()


def analysis_of(server: str, text: str) -> dict[str, Any]:
    """Return the API's own answer for text, to compare the page with."""
    response = requests.post(
        f"{server}/v1/analyze", json={"text": text, "explain": True}, timeout=30
    )
    assert response.status_code == 200
    return response.json()


def wait_for_result(page: "Page", sentences: int) -> None:
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#result")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#document .sentence")).to_have_count(sentences)


def assert_highlights_match(page: "Page", text: str, analysis: dict[str, Any]) -> None:
    """One highlight per sentence, with the API's label as class, marker and hidden text."""
    spans = page.locator("#document .sentence")
    assert spans.count() == len(analysis["sentences"])
    for i, call in enumerate(analysis["sentences"]):
        span = spans.nth(i)
        label = call["label"]
        assert span.get_attribute("data-label") == label
        assert f"is-{label}" in span.get_attribute("class").split()
        assert span.locator(".marker").inner_text() == MARKERS[label]
        assert span.locator(".sr-only").text_content().startswith(label.capitalize())
        assert span.locator(".sentence-text").text_content() == call["text"]
        assert span.get_attribute("tabindex") == "0"
    assert page.evaluate(SHOWN_TEXT) == text


def assert_summary_matches(page: "Page", analysis: dict[str, Any]) -> None:
    summary = analysis["summary"]
    shown_tone = page.locator("#tone-value").inner_text().replace("\u2212", "-").replace("±", "")
    assert float(shown_tone) == pytest.approx(summary["tone"], abs=0.005)
    assert "average probability" in page.locator(".tone-card .note").inner_text()
    for label in LABELS:
        row = page.locator(f"#counts li[data-label={label}]")
        assert row.locator(".count-value").inner_text() == str(summary["counts"][label])
        assert (
            row.locator(".count-share").inner_text() == f"{round(summary['shares'][label] * 100)}%"
        )
    assert page.locator("#sentence-total").inner_text() == f"({len(analysis['sentences'])})"


def assert_details_explain(page: "Page", call: dict[str, Any]) -> None:
    details = page.locator("#details")
    expect(details).to_be_visible()
    label = call["label"]
    expect(details.locator(".details-head")).to_contain_text(label.capitalize())
    for name in LABELS:
        row = details.locator(f".probability[data-label={name}]")
        assert row.locator(".probability-value").inner_text() == shown_percent(
            call["probabilities"][name]
        )
    explanation = call["explanation"]
    toward = [t["term"] for t in explanation["toward"][:5]]
    against = [t["term"] for t in explanation["against"][:5]]
    assert details.locator(".terms-toward .term-text").all_inner_texts() == toward
    if against:
        assert details.locator(".terms-against .term-text").all_inner_texts() == against
    expect(details.locator(".terms-toward .terms-title")).to_have_text(f"Words for {label}")


def test_an_article_typed_and_sent_with_the_button(page, page_log, server, predictor, tmp_path):
    expect(page.locator("#model-version")).to_have_text(predictor.version)
    textarea = page.get_by_role("textbox", name="Text to analyze")
    textarea.fill(ARTICLE[:-80])
    textarea.press("Control+End")
    textarea.press_sequentially(ARTICLE[-80:])  # the last part as real key strokes
    expect(textarea).to_have_value(ARTICLE)
    expect(page.locator("#char-count")).to_have_text(f"{len(ARTICLE)} / 100,000 characters")

    page.get_by_role("button", name="Analyze").click()
    analysis = analysis_of(server, ARTICLE)
    wait_for_result(page, len(analysis["sentences"]))
    assert {call["label"] for call in analysis["sentences"]} == set(LABELS)
    assert_highlights_match(page, ARTICLE, analysis)
    assert_summary_matches(page, analysis)
    assert page.locator("#summary").get_attribute("aria-live") == "polite"
    expect(page.locator("#error")).to_be_empty()
    assert page.get_by_role("link", name="API description (OpenAPI)").get_attribute("href") == (
        "v1/openapi.json"
    )
    assert page_log.errors == []
    assert page_log.requests and all(url.startswith(f"{server}/") for url in page_log.requests)

    screenshot = tmp_path / "analysis.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_ctrl_enter_analyzes_and_tab_walks_through_the_explained_sentences(page, page_log, server):
    textarea = page.get_by_role("textbox", name="Text to analyze")
    textarea.fill(ARTICLE)
    textarea.press("Control+Enter")
    analysis = analysis_of(server, ARTICLE)
    wait_for_result(page, len(analysis["sentences"]))
    assert_highlights_match(page, ARTICLE, analysis)

    page.get_by_role("button", name="Clear").focus()
    for i, call in enumerate(analysis["sentences"]):
        page.keyboard.press("Tab")
        focused = page.locator("#document .sentence:focus")
        expect(focused).to_have_attribute("data-index", str(i))
        assert_details_explain(page, call)
    page.keyboard.press("Escape")
    expect(page.locator("#details")).to_be_hidden()

    # The pointer shows the same explanation.
    page.locator("#document .sentence").nth(2).hover()
    assert_details_explain(page, analysis["sentences"][2])
    assert page_log.errors == []


def test_an_example_is_one_click_away(page, server):
    page.get_by_role("button", name="Sanctions threat").click()
    text = page.get_by_role("textbox", name="Text to analyze").input_value()
    assert text.startswith("BRUSSELS")
    analysis = analysis_of(server, text)
    wait_for_result(page, len(analysis["sentences"]))
    assert_highlights_match(page, text, analysis)
    assert_summary_matches(page, analysis)


def test_text_is_shown_as_text_never_as_markup(page, server):
    text = '<img src=x id="injected"> Talks resume Monday. <b id="bold">We condemn the attack.</b>'
    page.get_by_role("textbox", name="Text to analyze").fill(text)
    page.get_by_role("button", name="Analyze").click()
    analysis = analysis_of(server, text)
    wait_for_result(page, len(analysis["sentences"]))
    assert page.locator("#injected, #bold").count() == 0
    assert page.evaluate(SHOWN_TEXT) == text


def test_too_long_and_empty_texts_are_refused_before_sending(page):
    textarea = page.get_by_role("textbox", name="Text to analyze")
    alert = page.get_by_role("alert")
    textarea.fill("We condemn the attack.")
    page.get_by_role("button", name="Analyze").click()
    wait_for_result(page, 1)
    analyze_requests: list[str] = []
    page.on("request", lambda r: "/v1/analyze" in r.url and analyze_requests.append(r.url))

    textarea.fill("  \n ")
    page.get_by_role("button", name="Analyze").click()
    expect(alert).to_contain_text("Nothing to analyze")
    # The result of the earlier text must not pass for this one's.
    expect(page.locator("#result")).to_be_hidden()

    # Characters are counted as the server counts them: an emoji is one, not two.
    textarea.fill("🤝" * 3)
    expect(page.locator("#char-count")).to_have_text("3 / 100,000 characters")
    expect(alert).to_be_empty()  # editing the text clears the complaint about it

    textarea.fill("Talks. " * (MAX_CHARS // 7 + 1))
    expect(page.locator("#char-count")).to_contain_text("too many")
    page.get_by_role("button", name="Analyze").click()
    expect(alert).to_contain_text("The text is too long")
    expect(alert).to_contain_text("at most 100,000 are allowed")
    expect(textarea).to_have_attribute("aria-invalid", "true")
    assert analyze_requests == []


def test_server_errors_and_a_stopped_server_are_shown(browser, model_dir, tmp_path):
    # A server with a small limit: the page's own check passes, the server's does not.
    process, base = start_gunicorn(model_dir, tmp_path, workers=1, MAX_DOCUMENT_CHARS="200")
    try:
        page = browser.new_page()
        page.goto(f"{base}/")
        textarea = page.get_by_role("textbox", name="Text to analyze")
        alert = page.get_by_role("alert")
        textarea.fill(ARTICLE)
        page.get_by_role("button", name="Analyze").click()
        expect(alert).to_contain_text("The text cannot be analyzed (HTTP 422)")
        expect(alert).to_contain_text(f"text has {len(ARTICLE)} characters; at most 200")

        textarea.fill("We condemn the attack.")
        page.get_by_role("button", name="Analyze").click()
        wait_for_result(page, 1)
        expect(page.locator("#error")).to_be_empty()
    finally:
        stop(process)

    page.get_by_role("button", name="Analyze").click()
    expect(alert).to_contain_text("Cannot reach the Stance server")
    expect(textarea).to_have_value("We condemn the attack.")
    expect(page.locator("#result")).to_be_hidden()
    page.screenshot(path=tmp_path / "server-stopped.png")
    page.close()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (502, "The server answered with an error (HTTP 502)"),
        (200, "Unexpected answer from the server"),
    ],
)
def test_an_answer_that_is_not_json_is_shown(page, status, expected):
    # What a proxy in front of a dead app sends: an HTML page instead of the API's JSON.
    page.route(
        "**/v1/analyze",
        lambda route: route.fulfill(
            status=status, content_type="text/html", body="<h1 id='proxy'>Bad Gateway</h1>"
        ),
    )
    page.get_by_role("textbox", name="Text to analyze").fill("We condemn the attack.")
    page.get_by_role("button", name="Analyze").click()
    expect(page.get_by_role("alert")).to_contain_text(expected)
    assert page.locator("#proxy").count() == 0


def test_a_phone_screen_needs_no_horizontal_scrolling(browser, server, tmp_path):
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(f"{server}/")
    page.get_by_role("textbox", name="Text to analyze").fill(ARTICLE)
    page.get_by_role("button", name="Analyze").click()
    analysis = analysis_of(server, ARTICLE)
    wait_for_result(page, len(analysis["sentences"]))
    page.locator("#document .sentence").last.tap()  # the URL sentence, with its details open
    expect(page.locator("#details")).to_be_visible()
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths == [375, 375]
    for selector in ["#document", "#details", ".tone-card", ".counts-card", "#analyze-form"]:
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, selector
    page.screenshot(path=tmp_path / "phone.png", full_page=True)
    assert (tmp_path / "phone.png").stat().st_size > 10_000
    context.close()
