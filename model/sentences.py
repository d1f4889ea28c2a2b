"""Split news text into sentences with exact character offsets into the original text."""

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pysbd
from pysbd.lang.english import English

# A segmenter takes one block of text without line breaks and returns its sentences as strings.
# Only their non-whitespace characters are used, so it may trim or reflow whitespace freely.
BlockSegmenter = Callable[[str], Iterable[str]]

# Longer blocks are segmented a window at a time (see _segment_in_windows); news paragraphs
# rarely come near this, an article pasted as one line does.
WINDOW_CHARS = 2_000

_CONTENT_LINE = re.compile(r"[^\r\n]*\S[^\r\n]*")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A line that ends mid-clause is a hard wrap, not the end of a headline or bullet.
_CONTINUING_LINE_END = (",", ";")
# Terminal punctuation inside a closing quote, then a capital: the quote ended the sentence.
# (Curly quotes and the ellipsis are escaped: \u2018 \u2019 \u201c \u201d \u2026.)
_QUOTE_THEN_CAPITAL = re.compile(r"""[.!?\u2026]['"\u2019\u201d]+(\s+)['"\u2018\u201c(]?(\w)""")

# pysbd 0.3.4's reference pattern (".[12 13]") backtracks exponentially: "..[111 111 111 111
# 111 111 111 111 111]" takes 40 s and each further number multiplies that (pySBD issue #79,
# still open). This one has the same groups and the same matches, but takes each number whole,
# so it runs in linear time. Set on the class pysbd reads it from, once, at import.
English.NUMBERED_REFERENCE_REGEX = (
    r"(?<=[^\d\s])(\.|∯)((\[(\d{1,3}(?!\d)(?:,?\s?-?\s?(?<!\d)\d{1,3}(?!\d))*+)\])+"
    r"|((\d{1,3}\s?)?\d{1,3}))(\s)(?=[A-Z])"
)


@dataclass(frozen=True)
class Sentence:
    """One sentence and where it sits in the original text: text == original[start:end]."""

    text: str
    start: int
    end: int

    def as_dict(self) -> dict[str, str | int]:
        return {"text": self.text, "start": self.start, "end": self.end}


def split_sentences(text: str) -> list[Sentence]:
    """Split text into sentences, in order, with offsets into text and no surrounding space."""
    return split_with(text, _pysbd_sentences)


def split_with(text: str, segment_block: BlockSegmenter) -> list[Sentence]:
    """Split text into line blocks, let segment_block split each, then apply the quote rules."""
    sentences = []
    for block_start, block_end in _blocks(text):
        block = text[block_start:block_end]
        # Same length, so positions stay valid; the segmenter sees one line per block.
        flat = block.replace("\r", " ").replace("\n", " ")
        spans = _join_lowercase_starts(block, _segment_in_windows(block, flat, segment_block))
        for start, end in spans:
            for sub_start, sub_end in _split_after_quoted_sentence(block, start, end):
                first, last = block_start + sub_start, block_start + sub_end
                sentences.append(Sentence(text[first:last], first, last))
    return sentences


def _pysbd_sentences(block: str) -> list[str]:
    # A new Segmenter per call: segment() keeps the text on the instance, so sharing one
    # across threads is unsafe. The processor is called directly because segment() then
    # searches each sentence in the text again (quadratic) and silently drops any it changed.
    return pysbd.Segmenter(language="en", clean=False).processor(block).process()


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of runs of lines that can hold one sentence across a line break.

    A blank line always ends a block. A single line break ends one too (a headline, a dateline,
    a bullet, a list item) unless the next line starts in lower case or the line ends with a
    comma or semicolon: then the text was hard-wrapped mid-sentence.
    """
    block: tuple[int, int] | None = None
    previous_line = ""
    for line in _CONTENT_LINE.finditer(text):
        start, end = line.span()
        wrapped = (
            block is not None
            and len(_LINE_BREAK.findall(text, block[1], start)) == 1
            and (
                line.group().lstrip()[0].islower()
                or previous_line.rstrip().endswith(_CONTINUING_LINE_END)
            )
        )
        if wrapped:
            block = (block[0], end)
        else:
            if block is not None:
                yield _trimmed(text, *block)
            block = (start, end)
        previous_line = line.group()
    if block is not None:
        yield _trimmed(text, *block)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while text[start].isspace():
        start += 1
    while text[end - 1].isspace():
        end -= 1
    return start, end


def _segment_in_windows(
    block: str, flat: str, segment_block: BlockSegmenter
) -> list[tuple[int, int]]:
    """Segment a block a window at a time, so a long one costs linear time.

    pysbd's abbreviation pass is quadratic in the abbreviations per call ("U.S. " * 4000 takes
    5 s in one call). Every window but the last hands its last sentence, which the window may
    have cut, on to the next window.
    """
    spans: list[tuple[int, int]] = []
    offset = 0
    while offset < len(block):
        end = len(block)
        if end - offset > WINDOW_CHARS:
            # Cut at a space if there is one, so no word is split when a sentence outgrows it.
            space = flat.rfind(" ", offset + 1, offset + WINDOW_CHARS)
            end = space if space > offset else offset + WINDOW_CHARS
        found = _align(block[offset:end], segment_block(flat[offset:end]))
        if end < len(block) and len(found) > 1:
            found, offset_after = found[:-1], offset + found[-1][0]
        else:
            offset_after = end
        spans.extend((offset + start, offset + stop) for start, stop in found)
        offset = offset_after
    return spans


def _align(block: str, segments: Iterable[str]) -> list[tuple[int, int]]:
    """Map segment strings onto block positions by counting their non-whitespace characters.

    By construction every non-whitespace character of the block lands in exactly one span, in
    order, even if the segmenter altered a character or dropped one (the rest joins the last).
    """
    visible = [i for i, char in enumerate(block) if not char.isspace()]
    spans: list[tuple[int, int]] = []
    taken = 0
    for segment in segments:
        count = sum(1 for char in segment if not char.isspace())
        if count == 0 or taken >= len(visible):
            continue
        last = min(taken + count, len(visible)) - 1
        spans.append((visible[taken], visible[last] + 1))
        taken = last + 1
    if taken < len(visible):
        if spans:
            spans[-1] = (spans[-1][0], visible[-1] + 1)
        else:
            spans.append((visible[0], visible[-1] + 1))
    return spans


def _join_lowercase_starts(block: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join a span that starts in lower case to the one before: "...Niamey? asked the envoy."."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        if joined and block[start].islower():
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def _split_after_quoted_sentence(block: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Split a span where a quotation ends with . ! ? and the next word is capitalised."""
    for match in _QUOTE_THEN_CAPITAL.finditer(block, start, end):
        if match.group(2).isupper():
            yield start, match.start(1)
            start = match.end(1)
    yield start, end
