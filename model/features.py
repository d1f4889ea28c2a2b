"""The features: how a statement becomes the words the model weighs.

`Analyzer` is the vectorizer's tokenizer. It is pickled into every artifact by name
(`model.features.Analyzer`) with only its settings, so a stored model keeps working while the
code around it moves; `tests/model/test_artifact.py` pins the names stored models refer to.
"""

import csv
import hashlib
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import simplemma
from breame.data.spelling_constants import BRITISH_ENGLISH_SPELLINGS
from simplemma.strategies import DefaultStrategy
from simplemma.strategies.dictionaries import DEFAULT_DICTIONARY_FACTORY

# Words ("de-escalation" and "won't" stay whole: the pieces mean less apart) and clause
# punctuation, which ends the scope of a negation.
PIECE = re.compile(r"(?u)\b\w[\w'-]*\b|[.,;:!?]")
CLAUSE_END = frozenset(".,;:!?")
NEGATIONS = frozenset({"not", "no", "never", "nor", "without"})
# How many words after a negation are marked as negated ("will not cross the border").
NEGATION_SCOPE = 3

# The gazetteer: one row per actor (state, organisation or leader) with a regular expression of
# the names, demonyms, capitals and seats that stand for it.
ACTORS_FILE = Path(__file__).with_name("actors.csv")
# What every actor name becomes when actors are masked: lower-case text cannot contain it by
# accident (the underscores), and it reads plainly in an explanation.
ACTOR_TOKEN = "_actor_"
# What a name is replaced by: spaces around the token keep it a word of its own ("China's").
ACTOR_MASK = f" {ACTOR_TOKEN} "

# Words breame's table lacks that our corpus and real copy use.
EXTRA_BRITISH_SPELLINGS = {
    "militarisation": "militarization",
    "demilitarisation": "demilitarization",
    "normalisation": "normalization",
    "destabilisation": "destabilization",
    "annexe": "annex",
    "whilst": "while",
    "amongst": "among",
}
AMERICAN_SPELLING = {**BRITISH_ENGLISH_SPELLINGS, **EXTRA_BRITISH_SPELLINGS}


def american(word: str) -> str:
    """Return the American spelling of a lower-case word ("neighbours" -> "neighbors")."""
    return AMERICAN_SPELLING.get(word, word)


LANGUAGE = "en"
# simplemma's English dictionary as it ships: decoding it takes a third of a second, most of a
# scoring run's start-up, so a model version stores a decoded copy (see `Lemmas.stored`).
SIMPLEMMA_DATA = Path(simplemma.__file__).parent / "strategies" / "dictionaries" / "data"


def simplemma_source() -> str:
    """The SHA-256 of the dictionary file simplemma reads: what a stored copy must come from."""
    return hashlib.sha256((SIMPLEMMA_DATA / f"{LANGUAGE}.plzma").read_bytes()).hexdigest()


def english_dictionary() -> dict[str, str]:
    """simplemma's English dictionary as it ships, decoded: word -> lemma."""
    shipped = DEFAULT_DICTIONARY_FACTORY.get_dictionary(LANGUAGE)
    return {word: shipped[word] for word in shipped}


class StoredEnglish:
    """A simplemma dictionary factory: English from a decoded copy, the rest as shipped."""

    def __init__(self, english: Mapping[str, str]):
        self.english = english

    def get_dictionary(self, lang: str) -> Mapping[str, str]:
        if lang == LANGUAGE:
            return self.english
        return DEFAULT_DICTIONARY_FACTORY.get_dictionary(lang)


class Lemmas:
    """Lemmas of lower-case words, from one simplemma dictionary, cached.

    `plain` is what simplemma.lemmatize(word, lang="en") gives, keeping negation ("won't" ->
    "will not"); `folded` spells the word the American way first, so both spellings make one
    feature.
    """

    def __init__(self, factory: Any = DEFAULT_DICTIONARY_FACTORY):
        strategy = DefaultStrategy(dictionary_factory=factory)  # simplemma.lemmatize's own
        self._lemmatize = simplemma.Lemmatizer(lemmatization_strategy=strategy).lemmatize
        self.plain = lru_cache(maxsize=100_000)(self._plain)
        self.folded = lru_cache(maxsize=100_000)(self._folded)

    @classmethod
    def stored(cls, english: Mapping[str, str] | None, source: str | None) -> "Lemmas":
        """Lemmas from a stored copy of the English dictionary, if it was decoded from the file
        simplemma has now (then they are the same lemmas), else from simplemma's own."""
        if english is None or source != simplemma_source():
            return SHIPPED
        return cls(StoredEnglish(english))

    def _plain(self, word: str) -> tuple[str, ...]:
        if word.endswith("n't") and len(word) > 3:
            return (self._lemmatize(word[:-3], LANGUAGE), "not")
        return (self._lemmatize(word, LANGUAGE),)

    def _folded(self, word: str) -> tuple[str, ...]:
        return self.plain(american(word))


SHIPPED = Lemmas()
lemmas, folded_lemmas = SHIPPED.plain, SHIPPED.folded


def negation_marked(pieces: list[str], lemmatize) -> list[str]:
    """Lemmatise pieces, marking the few words after a negation: "not_use", "not_force".

    Negation marking lets "we will not use force" differ from "we will use force", which a bag
    of words otherwise cannot tell apart.
    """
    tokens: list[str] = []
    negated = 0
    for piece in pieces:
        if piece in CLAUSE_END:
            negated = 0
            continue
        for lemma in (piece,) if piece == ACTOR_TOKEN else lemmatize(piece):
            if lemma in NEGATIONS:
                tokens.append(lemma)
                negated = NEGATION_SCOPE
            elif negated:
                tokens.append("not_" + lemma)
                negated -= 1
            else:
                tokens.append(lemma)
    return tokens


def lemma_tokens(text: str) -> list[str]:
    """The first models' tokenizer, kept because their artifacts name it: lemmas and negation.

    Lemmas make "condemns", "condemned" and "condemn" one feature: a model trained on a few
    thousand statements sees only some forms of each verb, and real statements use the others.
    """
    return negation_marked(PIECE.findall(text), lemmas)


def top_level_alternatives(pattern: str) -> list[str]:
    """Split a regular expression on the "|" that are outside groups and character classes."""
    parts, depth, current, i = [], 0, "", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            current += pattern[i : i + 2]
            i += 2
            continue
        if char == "[":
            end = pattern.index("]", i + 1)
            current += pattern[i : end + 1]
            i = end + 1
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    return [*parts, current]


LOOKBEHIND = re.compile(r"\(\?<!((?:[^()\\]|\\.)*)\)")


def letter_first(name: str) -> tuple[str, str]:
    """Split an actor name's expression into its first letter and what must follow it.

    Its leading look-behinds move after the letter: (?<!X) before the letter L is (?<!XL) after
    it, the same condition.
    """
    lookbehinds = []
    while found := LOOKBEHIND.match(name):
        lookbehinds.append(found.group(1))
        name = name[found.end() :]
    letter = name[:1]
    if not letter.isalpha() or name[1:2] in ("?", "*", "+", "{"):
        raise ValueError(f"an actor name must start with a letter that is not optional: {name!r}")
    return letter, "".join(f"(?<!{x}{letter})" for x in lookbehinds) + name[1:]


def gazetteer_names(path: Path = ACTORS_FILE) -> list[str]:
    """Every name's expression in the gazetteer, in file order."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [n for row in csv.DictReader(handle) for n in top_level_alternatives(row["pattern"])]


# The characters that are not plain in an expression, and those of them that follow a plain
# character and make it optional or repeated.
SPECIAL_CHARACTERS = "\\.^$*+?{}[]|()"
QUANTIFIERS = "?*+{"


def literal_start(name: str) -> str:
    """The plain text every match of a name's expression starts with ("al-Assad" -> itself)."""
    while found := LOOKBEHIND.match(name):
        name = name[found.end() :]
    end = 0
    while end < len(name) and name[end] not in SPECIAL_CHARACTERS:
        end += 1
    if end < len(name) and name[end] in QUANTIFIERS:
        end -= 1  # a quantifier makes the character before it optional
    return name[:end]


def literal_head(expression: str) -> tuple[str, str] | None:
    """Split off the expression's first character when it is a plain one that must be there
    ("K" of "Korea", "\\." of "\\.S"), else None (a group, a class, an assertion, "n?")."""
    if expression[:1] == "\\":
        unit = expression[:2]
        if len(unit) < 2 or unit[1].isalnum():  # \w, \s, \b...: a class or an assertion
            return None
    elif not expression or expression[0] in SPECIAL_CHARACTERS:
        return None
    else:
        unit = expression[0]
    rest = expression[len(unit) :]
    if rest[:1] and rest[0] in QUANTIFIERS:
        return None
    return unit, rest


def factored(alternatives: list[str]) -> list[str]:
    """Alternatives, tried in this order, as fewer alternatives that match the same, in the
    same order: those that start with the same plain character share it ("Sa(?:udi|hel)").

    The engine then tries a shared start once, not once per name. Only where the order cannot
    change what matches: an alternative joins an earlier one's group unless one that could
    match at the same place (not a plain character, which would differ) comes between them.
    """
    items: list[str | tuple[str, list[str]]] = []
    # The group of each plain start since the last alternative that is not one: the group a
    # later alternative with that start joins (a look back over items made this quadratic).
    open_groups: dict[str, tuple[str, list[str]]] = {}
    for expression in dict.fromkeys(alternatives):  # a repeat can match only where the first did
        head = literal_head(expression)
        if head is None:
            items.append(expression)
            open_groups.clear()
            continue
        unit, rest = head
        if unit in open_groups:
            open_groups[unit][1].append(rest)
        else:
            open_groups[unit] = (unit, [rest])
            items.append(open_groups[unit])
    parts = []
    for item in items:
        if isinstance(item, str):
            parts.append(item)
            continue
        unit, rests = item
        inner = factored(rests)
        parts.append(unit + (inner[0] if len(inner) == 1 else f"(?:{'|'.join(inner)})"))
    return parts


def one_expression(names: list[str], path: Path) -> re.Pattern[str]:
    """One expression matching any of names, longest first, each starting a word.

    Each name starts with a letter; the expression is one branch per first letter, and each
    branch begins with that letter as a plain character. Python's regex engine then skips, in C,
    every character that cannot start a name and tries only the names of that letter where one
    can, their shared starts once (`factored`): 1.6x faster than a look-ahead per letter, which
    was 8x faster than one flat list of names, and factoring took off a fifth more (measured on
    data/test.csv; tests/model/test_actors.py checks the same matches as the flat list).
    """
    by_letter: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        try:
            letter, rest = letter_first(name)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        by_letter.setdefault(letter, []).append((name, rest))

    def longest_first(group: list[tuple[str, str]]) -> str:
        # Alternatives are tried in order: a longer name must win over its prefix.
        ordered = sorted(group, key=lambda pair: len(pair[0]), reverse=True)
        return "|".join(factored([rest for _, rest in ordered]))

    # (?<!\wL) after the letter L is (?<!\w) before it: a name starts a word.
    branches = "|".join(
        f"{letter}(?<!\\w{letter})(?:{longest_first(group)})"
        for letter, group in sorted(by_letter.items())
    )
    return re.compile(rf"(?:{branches})(?!\w)")


@cache
def actor_pattern(path: Path = ACTORS_FILE) -> re.Pattern[str]:
    """Return one expression matching any actor name of the gazetteer, longest names first."""
    return one_expression(gazetteer_names(path), path)


class ActorNames(NamedTuple):
    """The gazetteer's expression for a text: the full one only where it can be needed.

    A few names start with a lower-case letter ("al-Assad", "von der Leyen"), and "a", "e" and
    "v" are everywhere in English: their branches made the engine stop at most letters of a
    text. A text that holds none of those names' plain starts cannot match one, so for it the
    expression without them finds the same names, 1.6x faster (data/test.csv and news_test.csv).
    The full expression is compiled on the first text that needs it, not at start-up.
    """

    path: Path
    capitalised: re.Pattern[str]  # every name that starts with a capital letter
    lower_case_starts: tuple[str, ...]  # the plain start of each other name

    def for_text(self, text: str) -> re.Pattern[str]:
        """The expression that finds text's names, exactly as `actor_pattern` does."""
        for start in self.lower_case_starts:
            if start in text:
                return actor_pattern(self.path)
        return self.capitalised

    def masked(self, texts: str, separator: str, replacement: str) -> str:
        """Texts joined by separator, each with its names replaced as for_text(it).sub does.

        The separator must be a character no name or look-around can match or reach across.
        Only the texts that hold a lower-case start get the full expression (one text in a
        batch that names al-Assad does not slow the rest), and the starts are looked for once
        per batch, not once per text.
        """
        spans = self._needing_all(texts, separator)
        if not spans:  # most batches, and most single texts: one call
            return self.capitalised.sub(replacement, texts)
        pieces, done = [], 0  # texts before done are masked
        for begin, end in spans:
            pieces.append(self.capitalised.sub(replacement, texts[done:begin]))
            pieces.append(actor_pattern(self.path).sub(replacement, texts[begin:end]))
            done = end
        pieces.append(self.capitalised.sub(replacement, texts[done:]))
        return "".join(pieces)

    def _needing_all(self, texts: str, separator: str) -> list[tuple[int, int]]:
        """The (begin, end) of each text of texts (joined by separator) that holds a lower-case
        start, in order."""
        spans = []
        for start in [s for s in self.lower_case_starts if s in texts]:  # `in` is the quickest
            at = texts.find(start)
            while at >= 0:
                end = texts.find(separator, at)
                end = len(texts) if end < 0 else end
                spans.append((texts.rfind(separator, 0, at) + 1, end))
                at = texts.find(start, end)
        return sorted(set(spans)) if spans else spans


@cache
def actor_names(path: Path = ACTORS_FILE) -> ActorNames:
    """The gazetteer's names as expressions (see ActorNames)."""
    names = gazetteer_names(path)
    lower = [n for n in names if not letter_first(n)[0].isupper()]
    return ActorNames(
        path=path,
        capitalised=one_expression([n for n in names if n not in lower], path),
        lower_case_starts=tuple(sorted({literal_start(n) for n in lower})),
    )


class Analyzer:
    """Text to tokens: actor names masked, case folded, spellings folded, lemmas, negation.

    Masking actors makes the model learn what is said, not who says it: our corpus names some
    states far more than real copy does, and a name should not carry a stance. The settings are
    the only state, so the pickle holds no code and no tables.
    """

    def __init__(self, fold_spelling: bool = True, mask_actors: bool = True):
        self.fold_spelling = fold_spelling
        self.mask_actors = mask_actors

    def __call__(self, text: str) -> list[str]:
        if self.mask_actors:
            # Case matters for names ("Turkey", "Chad"), so mask before lower-casing.
            text = actor_names().for_text(text).sub(ACTOR_MASK, text)
        lemmatize = folded_lemmas if self.fold_spelling else lemmas
        return negation_marked(PIECE.findall(text.lower()), lemmatize)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Analyzer) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(tuple(sorted(vars(self).items())))

    def __repr__(self) -> str:
        return f"Analyzer(fold_spelling={self.fold_spelling}, mask_actors={self.mask_actors})"
