"""Describe the labelled corpus: size, label balance, lengths, actors and near-duplicates.

Actors come from model/actors.csv, one row per actor: its name, its region and a pattern (the id,
kind, office and place columns are model/actors.py's). The pattern is a case-sensitive regular
expression, usually a list of aliases joined by "|" ("China|Chinese|Beijing"); it matches whole
words only, so "Niger" does not match "Nigeria" and "UN" does not match "UNHCR". Case matters so
that "US" and "us", "Chad" the country and "chad" stay apart. Every alias starts with a letter or
digit and belongs to one actor, except a leader's name listed once per office (Rutte for the
Netherlands, then NATO): the report counts it for the first row. Leaders are actors of their own,
counted in their country's region.
North Africa is filed under Africa; Turkey, the Caucasus and Central Asia under Europe and Russia.
"""

import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.features import ACTORS_FILE, actor_pattern
from model.labels import LABEL_COLUMN, LABELS, TEXT_COLUMN
from training.data import near_duplicates, read_labelled
from training.registers import opening, register_masks, spelling

TOP_ACTORS = 25
TOP_OPENINGS = 10
# The guidelines ask for statements of 4 to 60 words.
MIN_WORDS, MAX_WORDS = 4, 60
LENGTH_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("1-5", 1, 5),
    ("6-12", 6, 12),
    ("13-20", 13, 20),
    ("21-35", 21, 35),
    ("36-60", 36, 60),
    ("61+", 61, float("inf")),
)
HISTOGRAM_WIDTH = 40


@cache
def load_actors(path: Path = ACTORS_FILE) -> pd.DataFrame:
    """Read the actor list (actor, region, pattern) and compile each pattern as a whole word."""
    actors = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    duplicated = actors["actor"][actors["actor"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"{path}: actors listed twice: {', '.join(duplicated)}")
    actors["regex"] = [re.compile(rf"(?<!\w)(?:{p})(?!\w)") for p in actors["pattern"]]
    return actors


def actor_of(alias: str, actors: pd.DataFrame) -> str:
    """Return the first listed actor whose pattern matches the whole alias."""
    matching = actors["actor"][[bool(regex.fullmatch(alias)) for regex in actors["regex"]]]
    return matching.iloc[0]


def actor_mentions(texts: pd.Series, path: Path = ACTORS_FILE) -> pd.DataFrame:
    """Return a boolean frame: one row per text, one column per actor, True where it is named."""
    actors = load_actors(path)
    # One scan per text with the gazetteer's one expression (the model masks with the same): a
    # scan per actor and text is ten times slower. The scan reads left to right, longest name
    # first, and each name consumes its words, so "Organization of American States" counts for
    # the OAS and not also for the United States.
    found = texts.reset_index(drop=True).str.findall(actor_pattern(path)).explode().dropna()
    owner = {alias: actor_of(alias, actors) for alias in found.unique()}
    column_of = {name: k for k, name in enumerate(actors["actor"])}
    rows = found.index.to_numpy(dtype=int)
    columns = found.map(owner).map(column_of).to_numpy(dtype=int)
    named = np.zeros((len(texts), len(actors)), dtype=bool)
    named[rows, columns] = True
    return pd.DataFrame(named, index=texts.index, columns=actors["actor"])


def label_section(labels: pd.Series) -> dict[str, dict[str, float]]:
    """Return count and share per label, Stance's labels first, then any unknown ones."""
    counts = labels.value_counts()
    order = [*LABELS, *sorted(set(counts.index) - set(LABELS))]
    return {
        label: {
            "count": int(counts.get(label, 0)),
            "share": round(float(counts.get(label, 0) / max(len(labels), 1)), 4),
        }
        for label in order
    }


def length_section(texts: pd.Series) -> dict[str, Any]:
    """Return the distribution of lengths in words: five-number summary and bucket counts."""
    words = texts.str.split().str.len()
    quartiles = words.quantile([0.25, 0.5, 0.75]) if len(words) else pd.Series([0.0] * 3)
    return {
        "min": int(words.min()) if len(words) else 0,
        "q1": float(quartiles.iloc[0]),
        "median": float(quartiles.iloc[1]),
        "q3": float(quartiles.iloc[2]),
        "max": int(words.max()) if len(words) else 0,
        "histogram": {
            name: int(words.between(low, high).sum()) for name, low, high in LENGTH_BUCKETS
        },
        "shorter_than_min": int((words < MIN_WORDS).sum()),
        "longer_than_max": int((words > MAX_WORDS).sum()),
    }


def actor_section(texts: pd.Series, path: Path = ACTORS_FILE) -> dict[str, Any]:
    """Return the most named actors, statements per region, and how many actors appear at all."""
    actors = load_actors(path)
    mentions = actor_mentions(texts, path)
    per_actor = mentions.sum().astype(int)
    region_of = dict(zip(actors["actor"], actors["region"], strict=True))
    # A statement naming China and Japan counts once for East Asia, not twice.
    per_region = mentions.T.groupby(actors["region"].to_numpy()).any().T.sum().astype(int)
    regions = list(dict.fromkeys(actors["region"]))
    seen = per_actor[per_actor > 0]
    top = seen.sort_values(ascending=False, kind="stable").head(TOP_ACTORS)
    return {
        "distinct": len(seen),
        "listed": len(actors),
        "statements_without_actor": int((~mentions.any(axis=1)).sum()),
        "top": [
            {"actor": name, "region": region_of[name], "statements": int(count)}
            for name, count in top.items()
        ],
        "regions": {region: int(per_region.get(region, 0)) for region in regions},
    }


def register_section(texts: pd.Series) -> dict[str, Any]:
    """Return how the file reads: registers, spelling mix and the variety of its openings."""
    rows = max(len(texts), 1)
    spellings = texts.map(spelling)
    shown = int(spellings.notna().sum())
    openings = texts.map(opening).value_counts()
    return {
        "registers": {
            name: {"count": int(mask.sum()), "share": round(float(mask.sum() / rows), 4)}
            for name, mask in register_masks(texts).items()
        },
        "spelling": {
            "american": int((spellings == "american").sum()),
            "british": int((spellings == "british").sum()),
            # Of the statements that use one spelling of a dual-spelled word.
            "american_share": round(float((spellings == "american").sum() / shown), 4)
            if shown
            else None,
        },
        "openings": {
            "distinct_two_word": len(openings),
            "largest_share": round(float(openings.iloc[0] / rows), 4) if len(openings) else 0.0,
            "top": [
                {"opening": o, "statements": int(n)} for o, n in openings.head(TOP_OPENINGS).items()
            ],
        },
    }


def file_report(path: Path, actors_path: Path = ACTORS_FILE) -> dict[str, Any]:
    """Return the report on one labelled file."""
    frame = read_labelled(path)
    texts = frame[TEXT_COLUMN]
    return {
        "path": str(path),
        "rows": len(frame),
        "labels": label_section(frame[LABEL_COLUMN]),
        "length_words": length_section(texts),
        **register_section(texts),
        "actors": actor_section(texts, actors_path),
        "near_duplicates": [
            {
                "first_row": int(pair.first_line),
                "second_row": int(pair.second_line),
                "similarity": float(pair.similarity),
                "first": pair.first,
                "second": pair.second,
            }
            for pair in near_duplicates(texts)
        ],
    }


def corpus_report(
    train_path: Path, test_path: Path, news_test_path: Path | None = None
) -> dict[str, Any]:
    """Return a JSON-ready report on the training and held-out files; rows are spreadsheet rows."""
    report = {"train": file_report(Path(train_path)), "test": file_report(Path(test_path))}
    if news_test_path is not None:
        report["news_test"] = file_report(Path(news_test_path))
    return report


def _bar(count: int, largest: int) -> str:
    return "#" * round(HISTOGRAM_WIDTH * count / largest) if largest else ""


def _shorten(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_file_report(name: str, report: dict[str, Any]) -> list[str]:
    """Return the lines describing one file."""
    rows = report["rows"]
    lines = [f"{name}: {report['path']}", f"  {rows} statements", "", "  Labels"]
    for label, figures in report["labels"].items():
        lines.append(f"    {label:<14}{figures['count']:>6}  {figures['share']:6.1%}")

    length = report["length_words"]
    lines += [
        "",
        "  Length in words",
        f"    min {length['min']}, quartiles {length['q1']:g} / {length['median']:g} / "
        f"{length['q3']:g}, max {length['max']}",
        f"    outside {MIN_WORDS}-{MAX_WORDS} words: {length['shorter_than_min']} shorter, "
        f"{length['longer_than_max']} longer",
    ]
    largest = max(length["histogram"].values(), default=0)
    for bucket, count in length["histogram"].items():
        lines.append(f"    {bucket:>6} {count:>6}  {_bar(count, largest)}".rstrip())

    lines += ["", "  Registers (a statement may read as several)"]
    for register, figures in report["registers"].items():
        lines.append(f"    {register:<24}{figures['count']:>6}  {figures['share']:6.1%}")
    spelled = report["spelling"]
    share = spelled["american_share"]
    lines += [
        "",
        f"  Spelling: {spelled['american']} American, {spelled['british']} British "
        f"({'-' if share is None else f'{share:.1%}'} American of those that show one)",
        "",
        f"  Openings: {report['openings']['distinct_two_word']} distinct first two words; "
        f"the commonest starts {report['openings']['largest_share']:.1%} of statements",
    ]
    for entry in report["openings"]["top"]:
        lines.append(f"    {entry['opening']:<32}{entry['statements']:>6}")

    actors = report["actors"]
    lines += [
        "",
        f"  Actors: {actors['distinct']} of {actors['listed']} listed actors named; "
        f"{actors['statements_without_actor']} statements name none",
        f"    {'actor':<32}{'region':<28}{'statements':>10}",
    ]
    for entry in actors["top"]:
        lines.append(f"    {entry['actor']:<32}{entry['region']:<28}{entry['statements']:>10}")
    lines += ["", "  Statements per region (a statement may name several)"]
    for region, count in actors["regions"].items():
        share = count / rows if rows else 0.0
        lines.append(f"    {region:<32}{count:>6}  {share:6.1%}")

    pairs = report["near_duplicates"]
    lines += ["", f"  Near-duplicates within the file: {len(pairs) or 'none'}"]
    for pair in pairs:
        lines += [
            f"    rows {pair['first_row']} and {pair['second_row']} "
            f"(similarity {pair['similarity']:g})",
            f"      {_shorten(pair['first'])}",
            f"      {_shorten(pair['second'])}",
        ]
    return lines


def format_corpus_report(report: dict[str, Any]) -> str:
    """Return the report as plain text for a terminal."""
    lines = format_file_report("Training file", report["train"])
    lines += ["", *format_file_report("Held-out file", report["test"])]
    if "news_test" in report:
        lines += ["", *format_file_report("Held-out news file", report["news_test"])]
    return "\n".join(lines) + "\n"
