"""The web page: its files through Flask, then the page itself in a real Chromium over HTTP."""

import csv
import json
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
from model.feedback_store import FeedbackStore

from ..helpers import ROOT, TESTS, start_gunicorn, stop

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
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
# The page's scripts; docs.js draws /docs, the API page (tests/service/test_openapi.py).
SCRIPTS = sorted(path.name for path in STATIC.glob("*.js") if path.name != "docs.js")
SCREENSHOTS = TESTS / "artifacts" / "screenshots"

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
    assert '<label id="text-label" for="text">' in html and '<textarea id="text"' in html
    assert 'href="v1/openapi.json"' in html
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    linked = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assets = [url for url in linked if url.startswith("assets/")]
    assert {"assets/app.js", "assets/style.css", "assets/favicon.svg"} <= set(assets)
    # The modules app.js imports, and theirs, are served beside it.
    for script in SCRIPTS:
        source = (STATIC / script).read_text(encoding="utf-8")
        assets += [
            f"assets/{name}" for name in re.findall(r'(?:from|import) "\./([\w.-]+\.js)"', source)
        ]
    assert {f"assets/{script}" for script in SCRIPTS} <= set(assets)
    for url in assets:
        assert fetch(client, f"/{url}")[0] == 200, url


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        *((f"/assets/{script}", "text/javascript") for script in SCRIPTS),
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
    script = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in SCRIPTS)
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not re.match(r"^(?:[a-z]+:)?//", url), url
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    # The one URL allowed is SVG's namespace name, which is never fetched.
    assert set(re.findall(r"https?://[^\s\"']+", script)) <= {"http://www.w3.org/2000/svg"}
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


@dataclass
class Server:
    base: str
    folder: Path

    @property
    def feedback(self) -> list[dict[str, Any]]:
        with FeedbackStore(self.folder / "feedback.sqlite3") as store:
            return store.list()


@pytest.fixture(scope="module")
def server_info(server, server_folder) -> Server:
    """The session's gunicorn (the one `page` opens) and the folder of its feedback store."""
    return Server(server, server_folder)


# A deployment with small limits of its own: the page must take them from GET /v1/model.
SMALL_LIMITS = {
    "MAX_DOCUMENT_CHARS": "200",
    "MAX_TEXTS": "3",
    "MAX_TEXT_CHARS": "50",
    "FEEDBACK_TOKEN": "s3cret-token",
}


@pytest.fixture(scope="module")
def small_server(model_dir, tmp_path_factory) -> Iterator[str]:
    process, base = start_gunicorn(
        model_dir, tmp_path_factory.mktemp("small-server"), workers=1, **SMALL_LIMITS
    )
    try:
        yield base
    finally:
        stop(process)


@pytest.fixture(scope="module")
def model_info(server) -> dict[str, Any]:
    return requests.get(f"{server}/v1/model", timeout=10).json()


@dataclass
class PageLog:
    """What a page did: console errors (and uncaught exceptions), and every request it sent."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    posts: list[tuple[str, Any]] = field(default_factory=list)

    def sent(self, path: str) -> list[Any]:
        return [body for url, body in self.posts if url.endswith(path)]


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


def open_page(browser, base: str, page_log: PageLog, url: str = "/", **options) -> "Page":
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and page_log.errors.append(m.text))
    page.on("pageerror", lambda error: page_log.errors.append(str(error)))
    page.on("request", lambda request: page_log.requests.append(request.url))

    def posted(request):
        if request.method == "POST":
            page_log.posts.append((request.url, request.post_data_json))

    page.on("request", posted)
    page.goto(f"{base}{url}")
    expect(page.locator("#model-version")).not_to_have_text("loading…")
    return page


@pytest.fixture
def page(browser, server, page_log) -> Iterator["Page"]:
    """A fresh desktop-sized page on the Stance app, its console and requests in page_log."""
    page = open_page(browser, server, page_log)
    yield page
    page.context.close()


def screenshot(page: "Page", name: str) -> Path:
    """Keep a screenshot as a test artefact (tests/artifacts/screenshots, ignored by git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 10_000
    return path


def analysis_of(server: str, text: str) -> dict[str, Any]:
    """Return the API's own answer for text, to compare the page with."""
    response = requests.post(
        f"{server}/v1/analyze", json={"text": text, "explain": True, "actors": True}, timeout=30
    )
    assert response.status_code == 200
    return response.json()


def analyze_on(page: "Page", server: str, text: str) -> dict[str, Any]:
    page.get_by_role("textbox", name="Text to analyze").fill(text)
    page.get_by_role("button", name="Analyze").click()
    analysis = analysis_of(server, text)
    wait_for_result(page, len(analysis["sentences"]))
    return analysis


def wait_for_result(page: "Page", sentences: int) -> None:
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#result")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#document .sentence")).to_have_count(sentences)


MARKER = "(node) => getComputedStyle(node, '::before').content.replaceAll('\"', '')"


def assert_highlights_match(page: "Page", text: str, analysis: dict[str, Any]) -> None:
    """One highlight per sentence, with the API's label as data, marker and hidden text."""
    spans = page.locator("#document .sentence")
    assert spans.count() == len(analysis["sentences"])
    for i, call in enumerate(analysis["sentences"]):
        span = spans.nth(i)
        label = call["label"]
        assert span.get_attribute("data-label") == label
        assert span.locator(".marker").evaluate(MARKER) == LABEL_MARKERS[label]
        assert span.locator(".sr-only").text_content().startswith(label.capitalize())
        assert span.locator(".sentence-text").text_content() == call["text"]
        assert span.get_attribute("tabindex") == "0"
    assert page.evaluate(SHOWN_TEXT) == text


# What style.css gives each label; the test reads them back from the rendered page.
LABEL_MARKERS = {"conciliatory": "◆", "neutral": "●", "warning": "▲"}


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


def is_function_term(term: str, function_words: set[str]) -> bool:
    return all(word.removeprefix("not_") in function_words for word in term.split())


def expected_terms(terms: list[dict], function_words: set[str]) -> tuple[list[str], list[str]]:
    """The content words (top 5) and the function words (top 3) the page should show."""
    names = [t["term"] for t in terms]
    content = [t for t in names if not is_function_term(t, function_words)][:5]
    functional = [t for t in names if is_function_term(t, function_words)][:3]
    return content, functional


def assert_details_explain(page: "Page", call: dict[str, Any], function_words: set[str]) -> None:
    details = page.locator("#details")
    expect(details).to_be_visible()
    label = call["label"]
    expect(details.locator(".details-head")).to_contain_text(label.capitalize())
    for name in LABELS:
        row = details.locator(f".probability[data-label={name}]")
        assert row.locator(".probability-value").inner_text() == shown_percent(
            call["probabilities"][name]
        )
    for kind in ("toward", "against"):
        content, functional = expected_terms(call["explanation"][kind], function_words)
        box = details.locator(f".terms-{kind}")
        shown_content = box.locator(".term-list:not(.is-function) .term-text").all_inner_texts()
        shown_function = box.locator(".term-list.is-function .term-text").all_inner_texts()
        assert (shown_content, shown_function) == (content, functional)
    expect(details.locator(".terms-toward .terms-title")).to_have_text(f"Words for {label}")


def test_an_article_typed_and_sent_with_the_button(page, page_log, server, predictor, model_info):
    expect(page.locator("#model-version")).to_have_text(predictor.version)
    textarea = page.get_by_role("textbox", name="Text to analyze")
    textarea.fill(ARTICLE[:-80])
    textarea.press("Control+End")
    textarea.press_sequentially(ARTICLE[-80:])  # the last part as real key strokes
    expect(textarea).to_have_value(ARTICLE)
    limit = model_info["limits"]["max_document_chars"]
    expect(page.locator("#char-count")).to_have_text(f"{len(ARTICLE)} / {limit:,} characters")

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
    # The page asked for the actors and the explanations in one request.
    assert page_log.sent("/v1/analyze") == [{"text": ARTICLE, "explain": True, "actors": True}]
    assert page_log.errors == []
    assert page_log.requests and all(url.startswith(f"{server}/") for url in page_log.requests)
    page.locator("#document .sentence").nth(3).hover()
    screenshot(page, "desktop-analysis")


def test_labels_and_their_colours_come_from_the_server(page, server, model_info):
    assert model_info["labels"] == list(LABELS)
    legend = page.locator("#legend-labels .legend-item")
    assert [legend.nth(i).get_attribute("data-label") for i in range(legend.count())] == list(
        LABELS
    )
    expect(page.locator(".tagline")).to_contain_text(", ".join(LABELS))
    colours = [
        legend.nth(i).locator(".marker").evaluate("(node) => getComputedStyle(node).color")
        for i in range(legend.count())
    ]
    markers = [legend.nth(i).locator(".marker").evaluate(MARKER) for i in range(legend.count())]
    assert len(set(colours)) == len(LABELS) and len(set(markers)) == len(LABELS)
    # Nothing in the page's files lists the labels: they come from GET /v1/model.
    for name in [*SCRIPTS, "index.html"]:
        source = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"""["'](?:conciliatory|neutral|warning)["']""", source), name


def test_ctrl_enter_analyzes_and_tab_walks_through_the_explained_sentences(
    page, page_log, server, model_info
):
    function_words = set(model_info["function_words"])
    textarea = page.get_by_role("textbox", name="Text to analyze")
    textarea.fill(ARTICLE)
    textarea.press("Control+Enter")
    analysis = analysis_of(server, ARTICLE)
    wait_for_result(page, len(analysis["sentences"]))
    assert_highlights_match(page, ARTICLE, analysis)

    page.get_by_label("Actors:").focus()  # what comes just before the text
    for i, call in enumerate(analysis["sentences"]):
        page.keyboard.press("Tab")
        focused = page.locator("#document .sentence:focus")
        expect(focused).to_have_attribute("data-index", str(i))
        assert_details_explain(page, call, function_words)
    page.keyboard.press("Escape")
    expect(page.locator("#details")).to_be_hidden()

    # The pointer shows the same explanation.
    page.locator("#document .sentence").nth(2).hover()
    assert_details_explain(page, analysis["sentences"][2], function_words)
    assert page_log.errors == []


def test_function_words_are_shown_after_the_content_words(page, server, model_info):
    function_words = set(model_info["function_words"])
    assert {"the", "to", "and"} <= function_words and "not" not in function_words
    text = "We will not use force to settle the dispute, and the talks will go on."
    analysis = analyze_on(page, server, text)
    [call] = analysis["sentences"]
    toward = [t["term"] for t in call["explanation"]["toward"][:5]]
    # The model's own top five mix in function words: the page must not show them as reasons.
    assert any(is_function_term(t, function_words) for t in toward), toward
    page.locator("#document .sentence").first.hover()
    assert_details_explain(page, call, function_words)
    content = page.locator("#details .terms-toward .term-list:not(.is-function) .term-text")
    assert not any(is_function_term(t, function_words) for t in content.all_inner_texts())
    expect(page.locator("#details .terms-toward .terms-subtitle")).to_have_text(
        "and function words"
    )


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
    analyze_on(page, server, text)
    assert page.locator("#injected, #bold").count() == 0
    assert page.evaluate(SHOWN_TEXT) == text


def test_too_long_and_empty_texts_are_refused_before_sending(page, page_log, model_info):
    limit = model_info["limits"]["max_document_chars"]
    textarea = page.get_by_role("textbox", name="Text to analyze")
    alert = page.locator("#error")
    textarea.fill("We condemn the attack.")
    page.get_by_role("button", name="Analyze").click()
    wait_for_result(page, 1)
    sent = len(page_log.sent("/v1/analyze"))

    textarea.fill("  \n ")
    page.get_by_role("button", name="Analyze").click()
    expect(alert).to_contain_text("Nothing to analyze")
    # The result of the earlier text must not pass for this one's.
    expect(page.locator("#result")).to_be_hidden()

    # Characters are counted as the server counts them: an emoji is one, not two.
    textarea.fill("🤝" * 3)
    expect(page.locator("#char-count")).to_have_text(f"3 / {limit:,} characters")
    expect(alert).to_be_empty()  # editing the text clears the complaint about it

    textarea.fill("Talks. " * (limit // 7 + 1))
    expect(page.locator("#char-count")).to_contain_text("too many")
    page.get_by_role("button", name="Analyze").click()
    expect(alert).to_contain_text("The text is too long")
    expect(alert).to_contain_text(f"at most {limit:,} are allowed")
    expect(textarea).to_have_attribute("aria-invalid", "true")
    assert len(page_log.sent("/v1/analyze")) == sent


@pytest.mark.server
def test_a_deployments_own_limits_reach_the_page(browser, small_server, page_log, tmp_path):
    """Limits set in the app's config (STANCE_MAX_*) are the ones the page checks and shows."""
    page = open_page(browser, small_server, page_log)
    textarea = page.get_by_role("textbox", name="Text to analyze")
    alert = page.locator("#error")
    expect(page.locator("#char-count")).to_have_text("0 / 200 characters")
    textarea.fill(ARTICLE)
    expect(page.locator("#char-count")).to_contain_text(f"{len(ARTICLE) - 200} too many")
    page.get_by_role("button", name="Analyze").click()
    expect(alert).to_contain_text(f"It has {len(ARTICLE)} characters; at most 200 are allowed")
    assert page_log.sent("/v1/analyze") == []

    # Pasted lines go out three to a request, the deployment's MAX_TEXTS.
    expect(page.locator("#batch-per-request")).to_have_text("3")
    lines = [f"Talks on item {i} will resume on Monday." for i in range(7)]
    page.get_by_label("Or paste statements, one a line").fill("\n".join(lines))
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#batch-status")).to_have_text("Scored 7 statements.")
    assert [body["texts"] for body in page_log.sent("/v1/predict")] == [
        lines[0:3],
        lines[3:6],
        lines[6:7],
    ]
    # A statement over MAX_TEXT_CHARS is named by its line before anything is sent.
    long_line = "We condemn the attack on the port in the strongest terms."
    assert len(long_line) > 50
    page.get_by_label("Or paste statements, one a line").fill(f"{lines[0]}\n\n{long_line}")
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#batch-error")).to_contain_text(
        f"pasted lines line 3: the text has {len(long_line)} characters; at most 50 are allowed"
    )
    expect(page.locator("#batch-result")).to_be_hidden()
    assert len(page_log.sent("/v1/predict")) == 3

    # The server refuses the correction (it wants a token): the page says so, in its words.
    textarea.fill("We condemn the attack.")
    page.get_by_role("button", name="Analyze").click()
    wait_for_result(page, 1)
    page.locator("#document .sentence").first.click()
    page.get_by_role("button", name="This call is wrong").click()
    page.locator("#details input[type=radio]").first.check()
    page.get_by_role("button", name="Send correction").click()
    problem = page.locator("#details .alert")
    expect(problem).to_contain_text("(HTTP 401)")
    expect(problem).to_contain_text("Bearer")
    assert page_log.errors == [] or all("401" in e for e in page_log.errors)
    page.context.close()


@pytest.mark.server
def test_server_errors_and_a_stopped_server_are_shown(browser, model_dir, tmp_path, page_log):
    process, base = start_gunicorn(model_dir, tmp_path, workers=1)
    try:
        page = open_page(browser, base, page_log)
        textarea = page.get_by_role("textbox", name="Text to analyze")
        alert = page.locator("#error")
        # What the server says when it refuses, here a text the page let through.
        page.route(
            "**/v1/analyze",
            lambda route: route.fulfill(
                status=422,
                content_type="application/problem+json",
                body=json.dumps({"status": 422, "title": "x", "detail": "text is odd."}),
            ),
        )
        textarea.fill("We condemn the attack.")
        page.get_by_role("button", name="Analyze").click()
        expect(alert).to_contain_text("The server refused the request (HTTP 422)")
        expect(alert).to_contain_text("text is odd.")
        page.unroute("**/v1/analyze")
        page.get_by_role("button", name="Analyze").click()
        wait_for_result(page, 1)
        expect(alert).to_be_empty()
    finally:
        stop(process)

    page.get_by_role("button", name="Analyze").click()
    expect(alert).to_contain_text("Cannot reach the Stance server")
    expect(textarea).to_have_value("We condemn the attack.")
    expect(page.locator("#result")).to_be_hidden()
    page.context.close()


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
    expect(page.locator("#error")).to_contain_text(expected)
    assert page.locator("#proxy").count() == 0


# ---- the detail card, corrections, the chart, the permalink, actors ----

OVERLAP = """(span) => {
    const card = document.getElementById("details").getBoundingClientRect();
    return Array.from(span.getClientRects()).some((r) =>
        r.left < card.right && card.left < r.right && r.top < card.bottom && card.top < r.bottom);
}"""


def assert_card_never_covers_its_sentence(page: "Page", analysis: dict[str, Any]) -> None:
    spans = page.locator("#document .sentence")
    for i in range(len(analysis["sentences"])):
        spans.nth(i).focus()
        expect(page.locator("#details")).to_be_visible()
        assert not spans.nth(i).evaluate(OVERLAP), f"the card covers sentence {i}"


def wait_until_clear(page: "Page", span: "Locator") -> None:
    """Wait for the card to leave span clear: a ResizeObserver places it after the layout that
    made it taller, so a check made at once could still see it where it was (it failed once)."""
    page.wait_for_function(f"(span) => !({OVERLAP})(span)", arg=span.element_handle())


def test_the_card_never_covers_the_sentence_it_explains(page, server):
    analysis = analyze_on(page, server, ARTICLE)
    assert_card_never_covers_its_sentence(page, analysis)
    # Scrolled so the last sentence sits at the bottom of the window: the card goes above it.
    last = page.locator("#document .sentence").last
    last.evaluate(
        "(span) => window.scrollBy(0, span.getBoundingClientRect().bottom - innerHeight + 4)"
    )
    last.click()
    assert not last.evaluate(OVERLAP)
    # The correction form makes the card taller: it moves, and still leaves the sentence clear.
    page.get_by_role("button", name="This call is wrong").click()
    expect(page.locator("#details form")).to_be_visible()
    wait_until_clear(page, last)


def test_a_correction_is_sent_from_the_card_and_acknowledged(page, server_info, page_log):
    analysis = analyze_on(page, server_info.base, ARTICLE)
    call = analysis["sentences"][1]
    wrong = next(label for label in LABELS if label != call["label"])
    # By keyboard: Tab to the sentence, Enter keeps its card open and enters it.
    spans = page.locator("#document .sentence")
    spans.nth(0).focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="This call is wrong")).to_be_focused()
    page.keyboard.press("Enter")
    choices = page.locator("#details .feedback-labels input")
    # The model's own call is not offered as a correction.
    assert sorted(choices.evaluate_all("(boxes) => boxes.map((b) => b.value)")) == sorted(
        label for label in LABELS if label != call["label"]
    )
    page.get_by_role("button", name="Send correction").click()
    expect(page.locator("#details .alert")).to_contain_text("Choose a label")
    page.locator(f"#details input[value={wrong}]").check()
    page.get_by_label("Note (optional)").fill("The minister was reassuring.")
    screenshot(page, "desktop-correction-form")
    page.get_by_role("button", name="Send correction").click()
    ack = page.locator("#details .feedback-ack")
    expect(ack).to_contain_text(f"({call['label']} → {wrong}) is stored as #")
    expect(ack).to_be_focused()
    # The session's server also keeps what other tests sent: find this correction by its note.
    [stored] = [r for r in server_info.feedback if r["note"] == "The minister was reassuring."]
    assert (stored["text"], stored["label"], stored["note"]) == (
        call["text"],
        wrong,
        "The minister was reassuring.",
    )
    expect(ack).to_contain_text(f"#{stored['id']} for model {stored['model_version']}")
    assert page_log.sent("/v1/feedback") == [
        {"text": call["text"], "label": wrong, "note": "The minister was reassuring."}
    ]
    # Escape closes the card and gives the focus back to the sentence.
    page.keyboard.press("Escape")
    expect(page.locator("#details")).to_be_hidden()
    expect(spans.nth(1)).to_be_focused()
    # The card remembers the correction for as long as the result is shown.
    spans.nth(1).click()
    expect(page.locator("#details .feedback-ack")).to_be_visible()


def test_the_sentence_chart_is_the_document_in_order(page, server):
    analysis = analyze_on(page, server, ARTICLE)
    bars = page.locator("#sentence-chart .bar")
    assert bars.count() == len(analysis["sentences"])
    for i, call in enumerate(analysis["sentences"]):
        assert bars.nth(i).get_attribute("data-label") == call["label"]
        height = float(bars.nth(i).get_attribute("height"))
        assert height == pytest.approx(max(call["confidence"] * 64, 2), abs=0.01)
    colours = {
        bars.nth(i).evaluate("(bar) => getComputedStyle(bar).fill") + call["label"]
        for i, call in enumerate(analysis["sentences"])
    }
    assert len(colours) == len({call["label"] for call in analysis["sentences"]})
    bars.nth(3).click()
    expect(page.locator("#document .sentence").nth(3)).to_be_focused()
    expect(page.locator("#details .details-head")).to_contain_text(
        analysis["sentences"][3]["label"].capitalize()
    )


def test_a_permalink_restores_the_text_and_result_without_the_server(
    browser, page, server, page_log
):
    analysis = analyze_on(page, server, ARTICLE)
    page.get_by_role("button", name="Link to this result").click()
    link = page.locator("#permalink-url")
    expect(link).to_have_value(re.compile(r"#r="))
    url = link.input_value()
    assert ARTICLE[:20] not in url  # compressed, not readable in a log
    assert page.evaluate("location.href") == url

    restored_log = PageLog()
    other = open_page(browser, server, restored_log, url="/" + url.split("/", 3)[3])
    wait_for_result(other, len(analysis["sentences"]))
    expect(other.locator("#restored")).to_be_visible()
    expect(other.get_by_role("textbox", name="Text to analyze")).to_have_value(ARTICLE)
    assert_highlights_match(other, ARTICLE, analysis)
    assert_summary_matches(other, analysis)
    other.locator("#document .sentence").nth(2).hover()
    assert_details_explain(
        other,
        analysis["sentences"][2],
        set(requests.get(f"{server}/v1/model").json()["function_words"]),
    )
    # Nothing about the text left the browser: only the model's facts were asked for.
    assert restored_log.posts == []
    assert all("r=" not in u.split("#")[0] for u in restored_log.requests)

    damaged = url[: len(url) - 40]
    other.goto(damaged)
    other.reload()
    expect(other.locator("#error")).to_contain_text("This link cannot be read")
    other.context.close()


SEED = (
    "The U.S. has warned China against interfering in the elections. Taiwan's presidential "
    "candidate expressed openness to discussions with Beijing on equal terms."
)


def test_actors_are_highlighted_by_role(page, server):
    analysis = analyze_on(page, server, SEED)
    marks = page.locator("#document mark.actor")
    hints = [hint for call in analysis["sentences"] for hint in call["actors"]["hints"]]
    assert marks.count() == len(hints) >= 3
    for i, hint in enumerate(hints):
        assert marks.nth(i).inner_text() == SEED[hint["start"] : hint["end"]] == hint["text"]
        assert marks.nth(i).get_attribute("data-role") == hint["role"]
        assert marks.nth(i).get_attribute("data-id") == hint["id"]
    first = page.locator("#document .sentence").first
    assert first.locator("mark[data-role=speaker]").inner_text() == "U.S."
    assert first.locator("mark[data-role=target]").inner_text() == "China"
    first.hover()
    expect(page.locator("#details .details-actors")).to_contain_text("Speaker: United States (USA)")
    expect(page.locator("#details .details-actors")).to_contain_text("Target: China (CHN)")
    styles = [
        marks.nth(i).evaluate("(m) => getComputedStyle(m).textDecorationStyle") for i in range(2)
    ]
    assert styles == ["solid", "dashed"]
    page.get_by_label("Actors:").uncheck()
    assert marks.first.evaluate("(m) => getComputedStyle(m).textDecorationLine") == "none"
    assert page.evaluate(SHOWN_TEXT) == SEED


# ---- many statements: a CSV file scored, filtered, downloaded; the timeline ----

STATEMENTS = [
    ("The U.S. has warned China against interfering in the elections.", "2024-01-09"),
    ("Beijing thanked Washington for its constructive approach to the talks.", "2024-01-22"),
    (
        "The State Department said Washington would respond firmly to any provocation by Beijing.",
        "2024-02-05",
    ),
    ("Washington welcomed China's offer to resume military dialogue.", "2024-03-11"),
    ("The U.S. condemned China's drills near Taiwan as reckless.", "2024-03-19"),
    ("Russia warned Ukraine that strikes on its territory would bring retaliation.", "2024-01-15"),
    ("Moscow accused Kyiv of sabotaging the grain corridor.", "2024-02-20"),
    ("The talks are scheduled to open on April 12 in Geneva.", "2024-02-21"),
    ("", "2024-02-22"),
    ('He said: "We remain open to dialogue, without preconditions."', "not a date"),
]


def write_statements(folder: Path) -> Path:
    path = folder / "statements.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "date", "text"])
        for i, (text, date) in enumerate(STATEMENTS, start=1):
            writer.writerow([f"s{i}", date, text])
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_csv_is_scored_filtered_and_downloaded(page, server, page_log, tmp_path):
    source = write_statements(tmp_path)
    page.get_by_label("A CSV file with a header row").set_input_files(source)
    expect(page.locator("#batch-status")).to_have_text("statements.csv: 10 rows ready to score.")
    expect(page.get_by_label("Text column")).to_have_value("text")
    page.get_by_label("Find speaker and target").check()
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#batch-status")).to_contain_text(
        "Scored 9 statements; 1 rows with no text"
    )
    texts = [text for text, _ in STATEMENTS if text]
    [body] = page_log.sent("/v1/predict")
    assert body == {"texts": texts, "actors": True}
    answer = requests.post(f"{server}/v1/predict", json=body, timeout=30).json()["predictions"]

    rows = page.locator("#batch-table tbody tr")
    expect(rows).to_have_count(len(STATEMENTS))
    labels = [p["label"] for p in answer]
    shown = [
        rows.nth(i).locator(".label-cell").inner_text().strip() for i in range(len(STATEMENTS))
    ]
    assert [s for s in shown if s != "no text"] == labels
    assert rows.nth(0).locator("td").first.inner_text() == "2"  # the header is row 1
    screenshot(page, "desktop-batch")

    with page.expect_download() as info:
        page.get_by_role("button", name="CSV", exact=True).click()
    info.value.save_as(tmp_path / "scored.csv")
    scored = read_csv(tmp_path / "scored.csv")
    assert list(scored[0]) == [
        "id", "date", "text", "speaker", "target", "label", "confidence",
        *(f"p_{label}" for label in LABELS),
    ]  # fmt: skip
    assert [row["text"] for row in scored] == [text for text, _ in STATEMENTS]
    with_text = [row for row in scored if row["text"]]
    for row, prediction in zip(with_text, answer, strict=True):
        assert row["label"] == prediction["label"]
        assert float(row["confidence"]) == prediction["confidence"]
        for label in LABELS:
            assert float(row[f"p_{label}"]) == prediction["probabilities"][label]
        assert (row["speaker"], row["target"]) == (
            prediction["actors"]["speaker"] or "",
            prediction["actors"]["target"] or "",
        )
    assert scored[0]["speaker"] == "USA" and scored[0]["target"] == "CHN"
    [empty] = [row for row in scored if not row["text"]]
    assert empty["label"] == empty["confidence"] == empty["p_warning"] == ""

    # Filter by a label: the table and the downloads keep only those rows.
    wanted = labels[0]
    page.locator(f"#batch-filter input[value={wanted}]").check()
    expect(rows).to_have_count(labels.count(wanted))
    expect(page.locator("#download-what")).to_have_text(
        f"Download the {labels.count(wanted)} rows shown:"
    )
    with page.expect_download() as info:
        page.get_by_role("button", name="JSON", exact=True).click()
    assert info.value.suggested_filename == "statements-scored.json"
    records = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert [r["label"] for r in records] == [wanted] * labels.count(wanted)
    assert all(isinstance(r["confidence"], float) and isinstance(r["id"], str) for r in records)
    assert page_log.errors == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"id,text\n1,Talks resume.\n2\n",
            "statements.csv row 3: 1 field(s), but the header has 2",
        ),
        (
            b'id,text\n1,"Talks resume.\n',
            "statements.csv row 2: not a readable CSV: unexpected end",
        ),
        (b"id,text\n1,Talks \xff resume.\n", "statements.csv line 2: not UTF-8 text"),
        (b"id,id\n1,2\n", "the column name(s) 'id' appear twice"),
        (b"text,label\nTalks.,warning\n", "the input already has output column(s) label"),
        (b"", "statements.csv: empty file, expected a CSV with a header row"),
    ],
)
def test_a_bad_csv_is_named_by_row_and_nothing_is_sent(page, page_log, tmp_path, content, message):
    path = tmp_path / "statements.csv"
    path.write_bytes(content)
    page.get_by_label("A CSV file with a header row").set_input_files(path)
    expect(page.locator("#batch-error")).to_contain_text(message)
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#batch-error")).to_contain_text("Nothing to score")
    expect(page.locator("#batch-result")).to_be_hidden()
    assert page_log.sent("/v1/predict") == []


def test_a_text_column_of_another_name_is_chosen(page, tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text("who,quote\nA,We condemn the attack.\nB,Talks resume Monday.\n", "utf-8")
    page.get_by_label("A CSV file with a header row").set_input_files(path)
    page.get_by_label("Text column").select_option("quote")
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#batch-table tbody tr")).to_have_count(2)
    expect(page.locator("#batch-table thead")).to_contain_text("quote")


def timeline_of(server: str, scored: list[dict[str, str]], freq: str) -> dict[str, Any]:
    columns = ["date", "speaker", "target", "label", *(f"p_{label}" for label in LABELS)]
    rows = [{c: row[c] for c in columns} for row in scored]
    response = requests.post(f"{server}/v1/timeline", json={"rows": rows, "freq": freq}, timeout=30)
    assert response.status_code == 200
    return response.json()


def assert_timeline_drawn(page: "Page", answer: dict[str, Any]) -> None:
    expect(page.locator("#timeline .timeline-svg")).to_be_visible()
    series = page.locator("#timeline-chart svg .series")
    assert [series.nth(i).get_attribute("data-dyad") for i in range(series.count())] == answer[
        "dyads"
    ]
    for i, dyad in enumerate(answer["dyads"]):
        periods = [p for p in answer["periods"] if p["dyad"] == dyad]
        assert series.nth(i).locator(".point").count() == len(periods)
        counts = series.nth(i).locator(".count").all_text_contents()
        assert sorted(counts) == sorted(str(p["statements"]) for p in periods)
    table = page.locator("#timeline-table tbody tr")
    assert table.count() == len([p for p in answer["periods"] if p["dyad"] in answer["dyads"]])


def test_a_scored_csv_with_dates_gets_its_timeline(page, server, page_log, tmp_path):
    page.get_by_label("A CSV file with a header row").set_input_files(write_statements(tmp_path))
    page.get_by_label("Find speaker and target").check()
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#timeline")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("button", name="CSV", exact=True).click()
    info.value.save_as(tmp_path / "statements-scored.csv")
    scored = read_csv(tmp_path / "statements-scored.csv")

    # The server counted it: the page sent the rows and drew the answer.
    answer = timeline_of(server, scored, "M")
    assert "USA-CHN" in answer["dyads"]
    assert_timeline_drawn(page, answer)
    expect(page.locator("#timeline-status")).to_contain_text(
        f"{answer['summary']['used']} of {len(STATEMENTS)} rows in the timeline"
    )
    [sent] = page_log.sent("/v1/timeline")
    assert sent["freq"] == "M" and len(sent["rows"]) == len(STATEMENTS)

    # A file scored elsewhere (stance score --actors) is shown as it is and drawn the same way.
    page.reload()
    page.get_by_label("A CSV file with a header row").set_input_files(
        tmp_path / "statements-scored.csv"
    )
    expect(page.locator("#batch-status")).to_contain_text("scored already")
    page.get_by_role("button", name="Score", exact=True).click()
    assert_timeline_drawn(page, answer)
    page.get_by_label("Periods").select_option("Q")
    quarterly = timeline_of(server, scored, "Q")
    expect(page.locator("#timeline-table tbody tr")).to_have_count(
        len([p for p in quarterly["periods"] if p["dyad"] in quarterly["dyads"]])
    )
    # A dyad left out of the chart comes back when ticked.
    first = answer["dyads"][0]
    page.locator(f"#timeline-dyad-options input[value='{first}']").uncheck()
    expect(page.locator(f"#timeline-chart .series[data-dyad='{first}']")).to_have_count(0)
    page.locator(f"#timeline-dyad-options input[value='{first}']").check()
    expect(page.locator(f"#timeline-chart .series[data-dyad='{first}']")).to_have_count(1)
    page.locator("#timeline-numbers summary").click()
    page.locator("#timeline").scroll_into_view_if_needed()
    screenshot(page, "desktop-timeline")
    assert page_log.errors == []


def test_a_timeline_over_the_servers_row_limit_is_refused_with_the_way_out(
    page, page_log, tmp_path, model_info
):
    limit = model_info["limits"]["max_timeline_rows"]
    path = tmp_path / "big-scored.csv"
    header = ["date", "speaker", "target", "label", "confidence", *(f"p_{x}" for x in LABELS)]
    row = ["2024-01-01", "USA", "CHN", LABELS[0], "1", "1", "0", "0"]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *[row] * (limit + 1)])
    page.get_by_label("A CSV file with a header row").set_input_files(path)
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#timeline-error")).to_contain_text(
        f"at most {limit:,} rows per request. Run `stance timeline big-scored.csv"
    )
    assert page_log.sent("/v1/timeline") == []


# ---- phone, dark mode, contrast ----


def test_a_phone_screen_needs_no_horizontal_scrolling(browser, server, page_log):
    page = open_page(
        browser, server, page_log, viewport={"width": 375, "height": 740}, is_mobile=True,
        has_touch=True,
    )  # fmt: skip
    expect(page.locator("#shortcut-hint")).to_be_hidden()  # no Ctrl+Enter on a phone
    analysis = analyze_on(page, server, ARTICLE)
    page.locator("#document .sentence").last.tap()  # the URL sentence, with its details open
    expect(page.locator("#details")).to_be_visible()
    assert not page.locator("#document .sentence").last.evaluate(OVERLAP)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths == [375, 375]
    for selector in ["#document", "#details", ".tone-card", ".counts-card", "#analyze-form",
                     "#sentence-chart", "#batch-form"]:  # fmt: skip
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, selector
    screenshot(page, "phone-analysis")
    page.keyboard.press("Escape")
    assert_card_never_covers_its_sentence(page, analysis)
    page.context.close()


def test_the_desktop_shows_the_shortcut(page):
    expect(page.locator("#shortcut-hint")).to_be_visible()
    expect(page.locator("#shortcut-hint")).to_contain_text("Enter")


# The WCAG contrast ratio of each element's text on the colour behind it.
CONTRAST = """(selectors) => {
    const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 4).map(Number);
    const lum = ([r, g, b]) => {
        const f = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const behind = (node) => {
        for (; node; node = node.parentElement) {
            const c = rgb(getComputedStyle(node).backgroundColor);
            if (c.length < 4 || c[3] > 0.5) return c;
        }
        return [255, 255, 255];
    };
    const out = {};
    for (const selector of selectors) {
        const node = document.querySelector(selector);
        if (!node) { out[selector] = null; continue; }
        const [a, b] = [lum(rgb(getComputedStyle(node).color)), lum(behind(node))];
        out[selector] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }
    return out;
}"""
READ_SELECTORS = [
    "body", ".tagline", ".hint", "#document .sentence[data-label=conciliatory] .sentence-text",
    "#document .sentence[data-label=neutral] .sentence-text",
    "#document .sentence[data-label=warning] .sentence-text", ".tone-words", ".count-share",
    "#details .probability-name", "#details .term-weight", "#details .terms-subtitle",
    "#analyze", ".example", "#batch-table td", ".legend-item[data-label=warning]",
]  # fmt: skip


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_is_readable_in_light_and_dark_mode(browser, server, page_log, tmp_path, scheme):
    page = open_page(browser, server, page_log, color_scheme=scheme)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(v) for v in re.findall(r"\d+", background)[:3]]
    assert (sum(channels) / 3 < 60) == (scheme == "dark"), background
    analyze_on(page, server, ARTICLE)
    page.get_by_label("Or paste statements, one a line").fill("We condemn the attack.\nTalks.")
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#batch-table tbody tr")).to_have_count(2)
    page.locator("#document .sentence").nth(2).hover()
    ratios = page.evaluate(CONTRAST, READ_SELECTORS)
    low = {selector: round(ratio, 2) for selector, ratio in ratios.items() if ratio and ratio < 4.5}
    assert low == {}, low
    assert None not in ratios.values()  # every selector found something to measure
    screenshot(page, f"{scheme}-analysis")
    page.context.close()


def test_dark_mode_timeline(browser, server, page_log, tmp_path):
    page = open_page(browser, server, page_log, color_scheme="dark")
    page.get_by_label("A CSV file with a header row").set_input_files(write_statements(tmp_path))
    page.get_by_label("Find speaker and target").check()
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("#timeline .timeline-svg")).to_be_visible()
    line = page.locator("#timeline-chart .series .line").first
    stroke = line.evaluate("(l) => getComputedStyle(l).stroke")
    assert sum(int(v) for v in re.findall(r"\d+", stroke)[:3]) / 3 > 120, stroke  # light on dark
    screenshot(page, "dark-batch-timeline")
    page.context.close()
