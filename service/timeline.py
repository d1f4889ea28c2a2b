"""Tone over time per dyad: aggregate a scored CSV by actors and period, and draw the chosen dyads.

The input is what `stance score` writes (label and p_<label> columns) with a date column and the
actor columns to group by (speaker and target by default). It may be one CSV file or a folder of
CSV parts (a parallel engine's output): the parts are read in name order, in chunks, and only
per-group sums are kept, so memory stays flat whatever the size.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from model.atomic import atomic_file
from model.document import tone
from model.labels import ACTOR_COLUMNS, DATE_COLUMN, LABELS
from service.batch import statement_dates

FREQUENCIES = {"W": "weekly", "M": "monthly", "Q": "quarterly"}
CHUNK_ROWS = 100_000
PROBABILITY_COLUMNS = [f"p_{label}" for label in LABELS]
DYAD_SEPARATOR = "-"
# Enough lines to compare, few enough to tell apart.
DEFAULT_TOP = 4


class TimelineError(Exception):
    """The input cannot be aggregated; the message is one line that names the problem."""


@dataclass
class TimelineSummary:
    rows: int = 0
    used: int = 0
    no_date: int = 0
    no_actor: int = 0
    unscored: int = 0
    dyads: tuple[str, ...] = ()

    def line(self) -> str:
        return (
            f"read {self.rows} rows: {self.used} in the timeline; skipped {self.no_date} without "
            f"a date, {self.no_actor} without actors, {self.unscored} unscored"
        )


def parts_of(source: Path) -> list[Path]:
    """The CSV files that make up source: itself, or a folder's *.csv files in name order."""
    if source.is_dir():
        parts = sorted(p for p in source.iterdir() if p.suffix == ".csv" and p.is_file())
        if not parts:
            raise TimelineError(f"{source}: a folder with no .csv files")
        return parts
    if not source.is_file():
        raise TimelineError(f"{source}: no such file or folder")
    return [source]


def chunks(source: Path, columns: Sequence[str]) -> Iterator[pd.DataFrame]:
    for part in parts_of(source):
        try:
            header = pd.read_csv(part, nrows=0, encoding="utf-8").columns.tolist()
        except (pd.errors.EmptyDataError, UnicodeDecodeError, pd.errors.ParserError) as error:
            raise TimelineError(f"{part}: not a readable CSV ({error})".strip()) from None
        missing = [c for c in columns if c not in header]
        if missing:
            raise TimelineError(
                f"{part}: no column(s) {', '.join(missing)}; its columns are: {', '.join(header)}"
            )
        yield from pd.read_csv(
            part,
            usecols=list(columns),
            dtype=str,
            keep_default_na=False,
            encoding="utf-8",
            chunksize=CHUNK_ROWS,
        )


def columns_needed(by: Sequence[str], date_column: str) -> list[str]:
    """The columns a timeline reads from a scored file."""
    return [date_column, *by, "label", *PROBABILITY_COLUMNS]


def aggregate(
    source: Path, by: Sequence[str], freq: str, date_column: str = DATE_COLUMN
) -> tuple[pd.DataFrame, TimelineSummary]:
    """Return one row per group and period: counts, shares and tone (as analyze defines it)."""
    frames = chunks(source, columns_needed(by, date_column))  # read lazily, after the checks
    return aggregate_chunks(frames, by, freq, date_column, str(source))


def aggregate_chunks(
    frames: Iterable[pd.DataFrame], by: Sequence[str], freq: str, date_column: str, name: str
) -> tuple[pd.DataFrame, TimelineSummary]:
    """Aggregate chunks of a scored file (string columns, as read) named `name` in messages."""
    if freq not in FREQUENCIES:
        raise TimelineError(f"unknown frequency {freq!r}; choose one of {', '.join(FREQUENCIES)}")
    summary = TimelineSummary()
    partials = []
    for chunk in frames:
        summary.rows += len(chunk)
        scored = chunk["label"].isin(LABELS)
        dates = statement_dates(chunk[date_column])
        dated = dates.notna()
        named = (chunk[list(by)] != "").all(axis=1)
        summary.unscored += int((~scored).sum())
        summary.no_date += int((scored & ~dated).sum())
        summary.no_actor += int((scored & dated & ~named).sum())
        keep = scored & dated & named
        if not keep.any():
            continue
        rows = chunk[keep]
        # Periods are calendar periods of the UTC date; to_period wants naive times.
        period = dates[keep].dt.tz_convert(None).dt.to_period(freq)
        frame = pd.DataFrame({column: rows[column] for column in by})
        frame["period"] = period
        frame["statements"] = 1
        for label in LABELS:
            frame[f"n_{label}"] = (rows["label"] == label).astype(int)
        for column in PROBABILITY_COLUMNS:
            frame[f"sum_{column}"] = pd.to_numeric(rows[column], errors="raise")
        partials.append(frame.groupby([*by, "period"], sort=False).sum())
        summary.used += int(keep.sum())
    if not partials:
        raise TimelineError(
            f"{name}: no scored row has both a date in {date_column!r} and actors in "
            f"{', '.join(by)}"
        )
    totals = pd.concat(partials).groupby(level=[*by, "period"]).sum().reset_index()
    table = pd.DataFrame({column: totals[column] for column in by})
    table.insert(0, "period", totals["period"].astype(str))
    table.insert(1, "period_start", totals["period"].dt.start_time.dt.date.astype(str))
    table["dyad"] = totals[list(by)].agg(DYAD_SEPARATOR.join, axis=1)
    table["statements"] = totals["statements"]
    for label in LABELS:
        table[f"n_{label}"] = totals[f"n_{label}"]
    for label in LABELS:
        table[f"share_{label}"] = (totals[f"n_{label}"] / totals["statements"]).round(4)
    means = {c: totals[f"sum_{c}"] / totals["statements"] for c in PROBABILITY_COLUMNS}
    table["tone"] = tone(means["p_conciliatory"], means["p_warning"]).round(4)
    table = table.sort_values(["dyad", "period_start"], kind="stable", ignore_index=True)
    return table, summary


def choose_dyads(table: pd.DataFrame, dyads: Sequence[str] | None, top: int) -> list[str]:
    """The dyads asked for (each must be in the table), or the top ones by statements."""
    if dyads:
        known = set(table["dyad"])
        unknown = [d for d in dyads if d not in known]
        if unknown:
            raise TimelineError(f"no statements for dyad(s) {', '.join(unknown)}")
        return list(dyads)
    counts = table.groupby("dyad")["statements"].sum()
    return counts.sort_values(ascending=False, kind="stable").index[:top].tolist()


def draw(table: pd.DataFrame, dyads: Sequence[str], freq: str) -> Figure:
    """Tone per period for each dyad (top) above the statements behind each point (bottom)."""
    figure = Figure(figsize=(10, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    tone_axes, count_axes = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    shown = table[table["dyad"].isin(dyads)]
    # Every period from the first to the last, so a quiet month is a gap, not a missing tick.
    periods = pd.period_range(
        pd.Period(shown["period_start"].min(), freq), pd.Period(shown["period_start"].max(), freq)
    )
    position = {str(p.start_time.date()): i for i, p in enumerate(periods)}
    width = 0.8 / len(dyads)
    for k, dyad in enumerate(dyads):
        colour = f"C{k}"
        rows = shown[shown["dyad"] == dyad].sort_values("period_start")
        x = np.array([position[p] for p in rows["period_start"]])
        total = int(rows["statements"].sum())
        tone_axes.plot(
            x,
            rows["tone"],
            marker="o",
            color=colour,
            label=f"{dyad} ({total} statement{'' if total == 1 else 's'})",
        )
        # Few statements make a noisy point: the number beside each one says how much to trust it.
        for xi, yi, n in zip(x, rows["tone"], rows["statements"], strict=True):
            tone_axes.annotate(
                str(n), (xi, yi), textcoords="offset points", xytext=(0, 7), ha="center",
                fontsize=7, color=colour,
            )  # fmt: skip
        count_axes.bar(x - 0.4 + width * (k + 0.5), rows["statements"], width, color=colour)
    tone_axes.axhline(0, color="0.5", linewidth=0.8)
    tone_axes.set_ylim(-1.1, 1.15)
    tone_axes.set_yticks([-1, -0.5, 0, 0.5, 1])
    tone_axes.set_yticklabels(["-1 warning", "-0.5", "0", "+0.5", "+1 conciliatory"])
    tone_axes.set_ylabel("tone")
    tone_axes.legend(
        loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(dyads), 4), fontsize=8,
        frameon=False,
    )  # fmt: skip
    tone_axes.grid(axis="y", color="0.9")
    figure.suptitle(
        f"Tone by dyad, {FREQUENCIES[freq]} (mean p(conciliatory) - mean p(warning)); "
        "the numbers are statements per point",
        fontsize=10,
    )
    count_axes.set_ylabel("statements")
    count_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    # A week is named by its Monday; past about 16 ticks only every few are labelled.
    names = [str(p.start_time.date()) if freq == "W" else str(p) for p in periods]
    step = max(1, -(-len(periods) // 16))
    count_axes.set_xticks(range(0, len(periods), step))
    count_axes.set_xticklabels(names[::step], rotation=45, ha="right", fontsize=8)
    count_axes.grid(axis="y", color="0.9")
    count_axes.set_axisbelow(True)
    return figure


def write_png(figure: Figure, path: Path, dyads: Sequence[str]) -> None:
    """Save the figure atomically; the PNG's metadata names the dyads drawn."""
    with atomic_file(path, binary=True) as handle:
        figure.savefig(handle, format="png", dpi=120, metadata={"Description": ", ".join(dyads)})


def write_timeline(
    source: Path,
    destination: Path,
    by: Sequence[str] = ACTOR_COLUMNS,
    freq: str = "M",
    date_column: str = DATE_COLUMN,
    dyads: Sequence[str] | None = None,
    top: int = DEFAULT_TOP,
) -> tuple[Path, TimelineSummary]:
    """Write the table to destination and the chart beside it (same name, .png); return its path."""
    if destination.is_dir() or not destination.parent.is_dir():
        raise TimelineError(f"{destination}: give a CSV file name in an existing folder")
    table, summary = aggregate(source, by, freq, date_column)
    chosen = choose_dyads(table, dyads, top)
    with atomic_file(destination, suffix=".partial", newline="") as handle:
        table.to_csv(handle, index=False)
    png = destination.with_suffix(".png")
    write_png(draw(table, chosen, freq), png, chosen)
    summary.dyads = tuple(chosen)
    return png, summary
