"""Who speaks and to whom: actor hints with offsets, ids and roles, from the gazetteer.

The gazetteer is model/actors.csv, one row per actor:

- `actor`, `region`: its name and the region the data report files it under;
- `pattern`: a case-sensitive regular expression of its names (the same names features.py masks);
- `id`: what a hint reports: ISO 3166-1 alpha-3 for states (XKX for Kosovo, as the EU and IMF
  use it; SOMALILAND, which has none), a documented upper-case id for organisations (UN, UNSC,
  NATO, EU, AU, ...) and armed groups (HAMAS, HEZBOLLAH, ...); for a leader, the id of the state
  or body they speak for;
- `kind`: state, organisation, group, leader or seat;
- `office`: for a leader, the periods they held office, `start/end;start/end` (ISO dates, end
  exclusive, an open end means in office when the row was written);
- `place`: for a seat, the id it stands for when it is only a place ("a meeting in Brussels" is
  Belgium, "Brussels warned" is the EU).

Roles come from a small rule-based parser of one news sentence, because wire copy is regular:
"<subject> <stance or reporting verb> <object>", "<content>, <subject> said", "according to X",
"Y was warned by X". The speaker is an actor in the subject of the first stance or reporting
verb; the target is the first other actor after that verb (or in the reported content), unless it
only names a place ("in Geneva"). Everything else is mentioned. studies/actor_roles_study.py
measures it on tests/actors/roles.csv.
"""

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from model.features import (
    ACTORS_FILE,
    actor_names,
    lemmas,
    letter_first,
    top_level_alternatives,
)

SPEAKER, TARGET, MENTIONED = "speaker", "target", "mentioned"


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Verbs (as lemmas) whose subject takes a stance or reports one, and whose object receives it.
STANCE_VERBS = words(
    """warn threaten urge press demand accuse condemn denounce criticize criticise slam blast
    rebuke chide admonish caution protest summon sanction praise thank welcome congratulate
    hail commend applaud offer invite reassure assure pledge promise vow agree propose express
    extend reject dismiss blame veto impose accept rebuff refuse deny back support endorse defend
    recognize recognise appeal call ask tell challenge oppose deplore lament regret question
    object respond retaliate vow insist plan seek hope wish commit sign reach strike open send
    signal stress reiterate renew pledge lash hit attack order suspend lift cut expel inform
    notify hand recall withdraw censure brief share give embrace raise sever restore ban seize
    lodge deliver convey present grant"""
)
REPORTING_VERBS = words(
    """say tell state announce declare add note argue claim write post tweet reply comment
    confirm indicate suggest report"""
)
HEAD_VERBS = STANCE_VERBS | REPORTING_VERBS
# A verb lemma after one of these is a noun ("the warning", "an offer", "its call").
DETERMINERS = words("a an the its their his her this that these those our your my")
# Auxiliaries that make a following participle passive ("was warned by").
PASSIVE_AUX = words("is are was were be been being")
IRREGULAR_PARTICIPLES = words("told sent held met cut hit struck made brought sought")
# Before one of these an actor names a place or a topic, not the party addressed.
# ("from" is not one: "withdrew its envoy from France" addresses France.)
PLACE_WORDS = words("in at near inside across around throughout via outside within into")
# In a subject, an actor after one of these is not the one speaking ("the envoy to the UN");
# after "in", "from" or "for" it is ("officials in Beijing", "a spokesperson for the embassy").
NOT_SUBJECT_WORDS = PLACE_WORDS - {"in"} | words(
    "to with against toward towards on over about than by between"
)
# A leading phrase like "In Brussels, ..." or "After talks with Iran, ..." names no speaker.
LEADING_PREPOSITIONS = words(
    "in at on after before during following amid with as when while despite since"
)
FORMER = frozenset({"former", "ex", "ex-", "late", "then"})
CLAUSE_MARKS = frozenset(',;:"()\u201c\u201d\u2014\u2013')  # quotes, dashes
# Words, or any other single non-space character.
TOKEN = re.compile("(?u)\\w+(?:[-'\u2019]\\w+)*|[^\\w\\s]")


@dataclass(frozen=True)
class Actor:
    """One row of the gazetteer."""

    name: str
    id: str
    kind: str
    region: str
    office: tuple[tuple[date, date | None], ...]
    place: str | None
    regex: re.Pattern[str]

    def in_office(self, on: date) -> bool:
        return any(start <= on and (end is None or on < end) for start, end in self.office)


@dataclass(frozen=True)
class Hint:
    """An actor named in a text: where, who (its id), and its role in the statement."""

    start: int
    end: int
    text: str
    id: str
    actor: str
    kind: str
    role: str

    def as_dict(self, offset: int = 0) -> dict[str, Any]:
        return {
            "start": self.start + offset,
            "end": self.end + offset,
            "text": self.text,
            "id": self.id,
            "actor": self.actor,
            "kind": self.kind,
            "role": self.role,
        }


def parse_office(field: str) -> tuple[tuple[date, date | None], ...]:
    """Read "2017-01-20/2021-01-20;2025-01-20/" as periods (end exclusive, None = open)."""
    periods = []
    for period in filter(None, field.split(";")):
        start, _, end = period.partition("/")
        periods.append((date.fromisoformat(start), date.fromisoformat(end) if end else None))
    return tuple(periods)


@cache
def gazetteer(path: Path = ACTORS_FILE) -> tuple[Actor, ...]:
    """Return the gazetteer's rows, each with its names compiled."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(
        Actor(
            name=row["actor"],
            id=row["id"],
            kind=row["kind"],
            region=row["region"],
            office=parse_office(row.get("office") or ""),
            place=row.get("place") or None,
            regex=re.compile(f"(?:{row['pattern']})"),
        )
        for row in rows
    )


@cache
def by_first_letter(path: Path = ACTORS_FILE) -> dict[str, tuple[Actor, ...]]:
    """The gazetteer's rows under each letter their names start with, to try a few, not all."""
    index: dict[str, list[Actor]] = {}
    for actor in gazetteer(path):
        names = top_level_alternatives(actor.regex.pattern[3:-1])  # inside "(?:...)"
        for letter in {letter_first(name)[0] for name in names}:
            index.setdefault(letter, []).append(actor)
    return {letter: tuple(actors) for letter, actors in index.items()}


def actor_at(text: str, start: int, end: int, on: date | None, path: Path) -> Actor | None:
    """Return the gazetteer row for the name at text[start:end] (by date when names are shared)."""
    rows = by_first_letter(path).get(text[start], ())
    found = [a for a in rows if a.regex.fullmatch(text, start, end)]
    if not found:
        return None
    if len(found) > 1 and any(a.office for a in found):
        # One name, two offices (Rutte for the Netherlands, then NATO): the date decides; without
        # one, the latest office.
        if on is not None:
            serving = [a for a in found if a.office and a.in_office(on)]
            if serving:
                return serving[0]
        return max(found, key=lambda a: max((s for s, _ in a.office), default=date.min))
    return found[0]


@dataclass
class Token:
    text: str  # lower-cased (a name keeps its case)
    start: int
    end: int
    raw: str
    actor: int | None = None  # index into the hints, for a name
    possessive: bool = False


def tokens_of(text: str, spans: Sequence[tuple[int, int]]) -> list[Token]:
    """Words and marks of text, each actor name one token (with its "'s" folded in)."""
    tokens: list[Token] = []
    position = 0
    for index, (start, end) in enumerate([*spans, (len(text), len(text))]):
        tokens += [
            Token(m.group().lower(), m.start() + position, m.end() + position, m.group())
            for m in TOKEN.finditer(text[position:start])
        ]
        if index == len(spans):
            break
        possessive = text[end : end + 2] in ("'s", "\u2019s")
        tokens.append(Token(text[start:end], start, end, text[start:end], index, possessive))
        position = end + (2 if possessive else 0)
    return tokens


def verb_forms(token: Token) -> set[str]:
    """The lemma and plain stems of a word: simplemma reads "thanked" as "thanke"."""
    if token.actor is not None:
        return set()
    word = token.text
    forms = {lemmas(word)[0], word}
    for suffix, keep in (("ed", ""), ("d", ""), ("es", ""), ("s", ""), ("ing", ""), ("ied", "y")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            forms.add(word[: -len(suffix)] + keep)
    return forms


def is_verb(tokens: list[Token], i: int, verbs: frozenset[str], headline: bool = False) -> bool:
    """Whether tokens[i] is one of verbs (not a noun like "the warning", "an offer")."""
    token = tokens[i]
    if not headline and not token.raw.islower():
        return False  # "Secretary of State James Baker": a verb in copy is lower-case
    if i == 0 or not verb_forms(token) & verbs:
        return False  # a first word is a noun or an opener ("Thanks were extended ...")
    if token.text.endswith("ing") and lemmas(token.text)[0] != token.text[:-3]:
        return False  # "warning", "offering": nouns far more often than verbs in copy
    before = tokens[i - 1] if i > 0 else None
    return before is None or not (
        before.text in DETERMINERS or before.possessive or before.text == "to"
    )


class Sentence:
    """The tokens of one statement and the questions the rules ask of them."""

    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.names = [i for i, t in enumerate(tokens) if t.actor is not None]

    def word_before(self, i: int) -> str:
        """The word before tokens[i], skipping articles ("to the UN" -> "to")."""
        j = i - 1
        while j >= 0 and self.tokens[j].text in ("the", "a", "an"):
            j -= 1
        return self.tokens[j].text if j >= 0 else ""

    def former(self, i: int) -> bool:
        """Whether a "former" or "ex-" qualifies the name ("former president Trump")."""
        for j in range(i - 1, max(i - 4, -1), -1):
            token = self.tokens[j]
            if token.text in FORMER:
                return True
            if token.actor is not None or token.text in CLAUSE_MARKS:
                return False
        return False

    def subject_names(self, first: int, last: int) -> list[int]:
        """Names in tokens[first:last] that can be the subject, not a place or an addressee."""
        return [
            i
            for i in self.names
            if first <= i < last
            and not self.former(i)
            and self.word_before(i) not in NOT_SUBJECT_WORDS
        ]

    def attribution(self) -> tuple[list[int], range] | None:
        """ "<content>, Russia's ministry said" or "<content>, said X": speakers and content."""
        tokens = self.tokens
        for r in range(len(tokens) - 1, 0, -1):
            if not is_verb(tokens, r, REPORTING_VERBS):
                continue
            if tokens[r - 1].text in CLAUSE_MARKS:
                following = [i for i in self.names if r < i <= r + 6]
                if following and r - 1 >= 3:
                    return following[:1], range(0, r - 1)
                continue
            marks = [m for m in range(r) if tokens[m].text in CLAUSE_MARKS]
            if not marks or marks[-1] < 3:
                continue
            speakers = self.subject_names(marks[-1] + 1, r)
            if speakers and not any(
                is_verb(tokens, i, HEAD_VERBS) for i in range(marks[-1] + 1, r)
            ):
                return speakers, range(0, marks[-1])
        return None

    def subject(self, verb: int) -> list[int]:
        """Speakers in the subject of verb: names before it, past a leading "In Brussels," or
        "Speaking in Doha,"."""
        tokens, start = self.tokens, 0
        opener = tokens[0] if tokens else None
        if (
            opener is not None
            and opener.actor is None
            and (opener.text in LEADING_PREPOSITIONS or opener.text.endswith("ing"))
        ):
            comma = next((i for i in range(verb) if tokens[i].text == ","), None)
            if comma is not None:
                start = comma + 1
        return self.subject_names(start, verb)

    def target(self, where: range, speakers: list[int], ids: Sequence[str]) -> int | None:
        """The first name in where that is not a speaker, a place, or a former leader."""
        speaker_ids = {ids[self.tokens[i].actor] for i in speakers}
        for i in self.names:
            if i not in where or i in speakers or self.former(i):
                continue
            if ids[self.tokens[i].actor] in speaker_ids or self.word_before(i) in PLACE_WORDS:
                continue
            return i
        return None


def is_participle(token: Token) -> bool:
    return token.text.endswith(("ed", "en", "wn")) or token.text in IRREGULAR_PARTICIPLES


def is_headline(tokens: list[Token]) -> bool:
    """Title Case copy ("Chinese Ambassador Summoned Over Drone Sightings")."""
    words_ = [t for t in tokens if t.actor is None and t.text.isalpha() and len(t.text) > 3]
    return len(words_) >= 3 and all(t.start == 0 or t.raw[:1].isupper() for t in words_)


def find_roles(tokens: list[Token], ids: Sequence[str]) -> list[str]:
    """Return the role of each name (in the order of ids), from the sentence's shape."""
    sentence = Sentence(tokens)
    roles = [MENTIONED] * len(ids)
    speakers: list[int] = []
    where: range | None = None
    everywhere = range(len(tokens))
    according = [
        i
        for i in sentence.names
        if sentence.word_before(i) == "to"
        and any(t.text == "according" for t in tokens[max(i - 4, 0) : i])
    ]
    headline = is_headline(tokens)
    verbs = [i for i in everywhere if is_verb(tokens, i, HEAD_VERBS, headline)]
    verb = verbs[0] if verbs else None
    found = sentence.attribution()
    if according:
        speakers = according[:1]
        where = range(according[0] + 1, len(tokens))
    elif (
        verb is not None
        and is_participle(tokens[verb])
        and (
            any(t.text in PASSIVE_AUX for t in tokens[max(verb - 2, 0) : verb])
            or is_headline(tokens)
        )
    ):
        # "Iran was warned by the IAEA": the agent speaks, the subject is addressed; with no
        # agent ("Eritrea was told", "Chinese Ambassador Summoned") only the target is known.
        agent = [i for i in sentence.names if i > verb and sentence.word_before(i) == "by"]
        speakers, where = agent[:1], everywhere
    elif found is not None and not (
        verb is not None and verb < found[1].stop and sentence.subject(verb)
    ):
        # "<content>, X said" when the content has no speaker of its own; "China offered
        # Pakistan a loan, Islamabad's finance ministry said" keeps China as the speaker.
        speakers, where = found
    elif verb is not None:
        speakers, where = sentence.subject(verb), range(verb + 1, len(tokens))
    for i in speakers:
        roles[tokens[i].actor] = SPEAKER
    if where is not None:
        target = sentence.target(where, speakers, ids)
        if target is not None:
            roles[tokens[target].actor] = TARGET
    return roles


def find_actors(text: str, on: date | None = None, path: Path = ACTORS_FILE) -> list[Hint]:
    """Return the actors named in one statement, in order, with their ids and roles.

    `on` is the statement's date: a leader out of office on that day does not speak for their
    state ("former", "ex-" before a name says the same without a date).
    """
    spans: list[tuple[int, int]] = []
    rows: list[Actor] = []
    for match in actor_names(path).for_text(text).finditer(text):
        actor = actor_at(text, match.start(), match.end(), on, path)
        if actor is not None:
            spans.append(match.span())
            rows.append(actor)
    if not rows:
        return []
    tokens = tokens_of(text, spans)
    ids = [a.id for a in rows]
    roles = find_roles(tokens, ids)
    hints = []
    for token in tokens:
        if token.actor is None:
            continue
        actor, role = rows[token.actor], roles[token.actor]
        actor_id = actor.id
        if actor.office and on is not None and not actor.in_office(on):
            role = MENTIONED  # a former leader speaks for no one
        if actor.place and role == MENTIONED:
            actor_id = actor.place  # "in Brussels" is a place in Belgium
        hints.append(
            Hint(token.start, token.end, token.text, actor_id, actor.name, actor.kind, role)
        )
    return hints


def speaker_and_target(hints: Sequence[Hint]) -> tuple[str | None, str | None]:
    """Return the statement's speaker and target ids: the first hint in each role."""
    speaker = next((h.id for h in hints if h.role == SPEAKER), None)
    target = next((h.id for h in hints if h.role == TARGET), None)
    return speaker, target


def actors_of(text: str, offset: int = 0, on: date | None = None) -> dict[str, Any]:
    """The API's shape: speaker and target ids, and every hint (offsets shifted by offset)."""
    hints = find_actors(text, on)
    speaker, target = speaker_and_target(hints)
    return {"speaker": speaker, "target": target, "hints": [h.as_dict(offset) for h in hints]}
