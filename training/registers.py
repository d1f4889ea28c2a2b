"""Registers: what kind of copy a statement reads as (wire copy, first person, headline, long).

Real news differs from what a team writes by hand in these ways (README, "Real text"), so the
corpus report counts them and the evaluation report scores each one separately. A statement can
belong to several registers (a quote inside wire copy is both wire copy and first person).
"""

import re
from collections.abc import Callable

import pandas as pd
from breame.data.spelling_constants import BRITISH_ENGLISH_SPELLINGS

DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
# Attributed or dated reporting: a reporting verb, a spokesperson or officials as the source, a
# weekday, or an agency credit.
WIRE_MARKERS = re.compile(
    r"\b(?:said|says|told|according to|announced|stated|added|quoted|reported|"
    r"spokesman|spokeswoman|spokesperson|officials)\b"
    rf"|\b(?:on|last|next|late|early) (?:{DAYS})\b"
    r"|\((?:AP|Reuters|AFP|UPI|Xinhua|Kyodo|Yonhap|Anadolu)\)",
    re.IGNORECASE,
)
FIRST_PERSON = re.compile(r"\b(?:we|our|us|ours|my|me)\b|\bI\b", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
LONG_WORDS = 30
HEADLINE_WORDS = 16

BRITISH = frozenset(BRITISH_ENGLISH_SPELLINGS)
AMERICAN = frozenset(BRITISH_ENGLISH_SPELLINGS.values()) - BRITISH


def words(text: str) -> int:
    return len(text.split())


def is_wire_copy(text: str) -> bool:
    return WIRE_MARKERS.search(text) is not None


def is_first_person(text: str) -> bool:
    # "US" in capitals is the country, not the pronoun.
    return any(m.group() != "US" for m in FIRST_PERSON.finditer(text))


def is_headline(text: str) -> bool:
    """Short, no closing full stop, and most words capitalised: "China Warns U.S. Over Taiwan"."""
    tokens = WORD.findall(text)
    if not tokens or words(text) > HEADLINE_WORDS or text.rstrip().endswith((".", '."', ".'")):
        return False
    capitalised = sum(t[0].isupper() for t in tokens if len(t) > 3)
    return capitalised >= max(2, 0.6 * sum(len(t) > 3 for t in tokens))


def is_long(text: str) -> bool:
    return words(text) > LONG_WORDS


REGISTERS: dict[str, Callable[[str], bool]] = {
    "wire copy": is_wire_copy,
    "first person": is_first_person,
    "headline": is_headline,
    f"long (over {LONG_WORDS} words)": is_long,
}


def spelling(text: str) -> str | None:
    """Return "american" or "british" when the text uses one spelling of a dual-spelled word."""
    lower = {w.lower() for w in WORD.findall(text)}
    british, american = bool(lower & BRITISH), bool(lower & AMERICAN)
    if british == american:
        return None  # neither, or both (a quote in the other spelling)
    return "british" if british else "american"


def register_masks(texts: pd.Series) -> dict[str, pd.Series]:
    """Return, for each register, a boolean Series marking the texts that read as it."""
    return {name: texts.map(test).astype(bool) for name, test in REGISTERS.items()}


def opening(text: str, n: int = 2) -> str:
    """The first n words, lower-cased: how many rows share one shows a corpus's variety."""
    return " ".join(text.lower().split()[:n])
