"""Sentence splitting: the hand-written news cases, offset properties, and worst-case inputs."""

import csv
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import model.sentences
from model.sentences import Sentence, split_sentences, split_with

from ..helpers import DATA, ROOT, TESTS

CASES = json.loads((TESTS / "sentences" / "cases.json").read_text(encoding="utf-8"))


def statements(count: int) -> list[str]:
    with DATA.open(encoding="utf-8", newline="") as file:
        return [row["text"] for _, row in zip(range(count), csv.DictReader(file), strict=False)]


def assert_exact_spans(text: str, sentences: list[Sentence]) -> None:
    """Check that the sentences are non-empty, trimmed, ordered slices covering all of text."""
    assert bool(sentences) == bool(text.strip())
    previous_end = 0
    for sentence in sentences:
        assert text[sentence.start : sentence.end] == sentence.text
        assert sentence.text and sentence.text == sentence.text.strip()
        assert previous_end <= sentence.start < sentence.end
        assert text[previous_end : sentence.start].strip() == ""
        previous_end = sentence.end
    assert text[previous_end:].strip() == ""


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case(case):
    sentences = split_sentences(case["text"])
    assert [sentence.text for sentence in sentences] == case["sentences"]
    assert_exact_spans(case["text"], sentences)


def test_cases_are_many_and_named_once():
    names = [case["name"] for case in CASES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


def test_real_statements_as_an_article():
    # Paragraphs of real statements, a headline, CRLF, doubled spaces and hard-wrapped lines.
    text, statement_ends = "Headline without a full stop\r\n\r\n", []
    for number, statement in enumerate(statements(120), start=1):
        statement = statement.replace(", ", ",\n", 1) if number % 5 == 0 else statement
        text += statement
        statement_ends.append(len(text))
        text += "\n\n" if number % 4 == 0 else "  "
    sentences = split_sentences(text)
    assert_exact_spans(text, sentences)
    assert sentences[0].text == "Headline without a full stop"
    sentence_ends = {sentence.end for sentence in sentences}
    for end in statement_ends:
        if text[end - 1] in '.!?"':
            assert end in sentence_ends, text[end - 80 : end + 40]


def test_long_line_is_split_as_if_whole(monkeypatch):
    text = " ".join(statements(60))
    assert len(text) > 3 * model.sentences.WINDOW_CHARS
    windowed = split_sentences(text)
    monkeypatch.setattr(model.sentences, "WINDOW_CHARS", len(text) + 1)
    assert split_sentences(text) == windowed
    assert_exact_spans(text, windowed)


def test_offsets_survive_a_segmenter_that_alters_text():
    text = "First one here.  Second one?\nThird"
    # Reflowed whitespace, a changed character and a dropped final character.
    sentences = split_with(text, lambda block: [block.upper().replace(" ", "")[:-1]])
    assert_exact_spans(text, sentences)


def test_as_dict():
    (sentence,) = split_sentences("  Talks resumed. ")
    assert sentence.as_dict() == {"text": "Talks resumed.", "start": 2, "end": 16}


def test_threads_share_nothing():
    texts = [" ".join(statements(40)[i : i + 8]) for i in range(0, 40, 8)] * 4
    expected = [split_sentences(text) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(split_sentences, texts)) == expected


def test_worst_case_inputs_finish():
    texts = {
        # pySBD issue #79: exponential backtracking on a period before bracketed numbers.
        "numbered_reference": "He left..[" + " ".join(["111"] * 40) + "]",
        "unclosed_reference": "x......[289852000000260698,289852000000260744" * 50,
        # Quadratic in abbreviations per pysbd call: 50 KB in one call takes half a minute.
        "dense_abbreviations": "U.S. " * 10_000,
    }
    # In a child process, so a regression fails on the timeout instead of hanging the suite.
    code = (
        "import json, sys; from model.sentences import split_sentences\n"
        "for name, text in json.load(sys.stdin).items():\n"
        "    print(name, len(split_sentences(text)), flush=True)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=20,
        check=True,
    )
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(texts)
