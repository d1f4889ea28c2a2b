"""Compare sentence splitters on cases.json and on ~100 KB of news statements; print a table.

Run with `.venv/bin/python tests/sentences/compare.py`. Libraries that are not installed are
skipped with a note: only pysbd is a project dependency; `pip install syntok spacy` into a
scratch environment (with the project installed) to compare all three.
"""

import csv
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from model.sentences import split_with

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).with_name("cases.json")
STATEMENTS = ROOT / "data" / "statements.csv"
CORPUS_CHARS = 100_000
STATEMENTS_PER_PARAGRAPH = 4
REPEATS = 3

Splitter = Callable[[str], list[str]]


def pysbd_splitter() -> Splitter:
    import pysbd

    # The documented API, one segmenter per call as a threaded server would need.
    return lambda text: pysbd.Segmenter(language="en", clean=False).segment(text)


def syntok_splitter() -> Splitter:
    from syntok import segmenter

    def split(text: str) -> list[str]:
        return [
            "".join(token.spacing + token.value for token in sentence)
            for paragraph in segmenter.analyze(text)
            for sentence in paragraph
        ]

    return split


def spacy_splitter() -> Splitter:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return lambda text: [sentence.text for sentence in nlp(text).sents]


# name: (make the splitter, module to import, what a fresh process runs to get ready)
CANDIDATES: dict[str, tuple[Callable[[], Splitter], str, str]] = {
    "pysbd": (pysbd_splitter, "pysbd", "import pysbd"),
    "syntok": (syntok_splitter, "syntok", "import syntok.segmenter"),
    "spaCy sentencizer (blank en)": (
        spacy_splitter,
        "spacy",
        "import spacy; spacy.blank('en').add_pipe('sentencizer')",
    ),
}


def load_cases() -> list[dict]:
    return json.loads(CASES.read_text(encoding="utf-8"))


def build_corpus() -> tuple[str, list[int]]:
    """Join statements into paragraphs of ~100 KB; return the text and each statement's end."""
    with STATEMENTS.open(encoding="utf-8", newline="") as file:
        statements = [
            " ".join(row["text"].split())
            for row in csv.DictReader(file)
            if re.search(r"""[.!?]['"\u2019\u201d]?$""", row["text"].strip())
        ]
    paragraphs, ends, offset = [], [], 0
    for first in range(0, len(statements), STATEMENTS_PER_PARAGRAPH):
        group = statements[first : first + STATEMENTS_PER_PARAGRAPH]
        for statement in group:
            offset += len(statement)
            ends.append(offset)
            offset += 1
        paragraphs.append(" ".join(group))
        offset += 1  # The paragraph's space became the first of "\n\n".
        if offset >= CORPUS_CHARS:
            break
    return "\n\n".join(paragraphs), ends


def score(split: Callable[[str], list[str]], cases: list[dict]) -> tuple[int, list[str]]:
    right, wrong = 0, []
    for case in cases:
        got = [sentence.strip() for sentence in split(case["text"]) if sentence.strip()]
        if got == case["sentences"]:
            right += 1
        else:
            wrong.append(case["name"])
    return right, wrong


def startup_time(code: str) -> float:
    """Time the import and setup in a fresh interpreter, where nothing is imported yet."""
    timer = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    result = subprocess.run([sys.executable, "-c", timer], capture_output=True, text=True)
    return float(result.stdout)


def best_time(function: Callable[[], object]) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    cases = load_cases()
    corpus, statement_ends = build_corpus()
    # Scraped articles often arrive with no line breaks at all: one block for the layer.
    one_line = corpus.replace("\n", " ")
    print(
        f"{len(cases)} cases; corpus {len(corpus):,} characters, "
        f"{len(statement_ends)} statements in paragraphs of {STATEMENTS_PER_PARAGRAPH}\n"
    )
    rows, failures, skipped = [], {}, []
    for name, (make, module, startup) in CANDIDATES.items():
        try:
            split = make()
        except ImportError:
            skipped.append(f"{name}: `{module}` is not installed (not a project dependency)")
            continue

        def layered(text: str, split: Splitter = split) -> list[str]:
            return [sentence.text for sentence in split_with(text, split)]

        raw_right, raw_wrong = score(split, cases)
        layered_right, wrong = score(layered, cases)
        failures[name] = raw_wrong, wrong
        sentences = split_with(corpus, split)
        found = {sentence.end for sentence in sentences}
        boundaries = sum(end in found for end in statement_ends)
        rows.append(
            f"| {name} | {raw_right}/{len(cases)} | {layered_right}/{len(cases)} "
            f"| {best_time(lambda split=split: split(corpus)):.2f} s "
            f"| {best_time(lambda layered=layered: layered(corpus)):.2f} s "
            f"| {best_time(lambda layered=layered: layered(one_line)):.2f} s "
            f"| {boundaries}/{len(statement_ends)} | {len(sentences)} "
            f"| {startup_time(startup):.2f} s |"
        )
    print(
        "| library | cases right, alone | cases right, with layer | 100 KB alone "
        "| 100 KB with layer | 100 KB as one line, with layer | statement ends found "
        "| sentences | import + setup |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    for name, (raw_wrong, wrong) in failures.items():
        print(f"{name} alone, wrong: {', '.join(raw_wrong) or 'none'}")
        print(f"{name} with layer, wrong: {', '.join(wrong) or 'none'}")
    for note in skipped:
        print(f"skipped {note}")


if __name__ == "__main__":
    main()
