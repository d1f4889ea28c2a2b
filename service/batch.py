"""Score a file of statements in chunks: flat memory, one vectorised call per chunk.

CSV, JSON Lines and Parquet in and out. Every input field is read as a string. Chunks can be
scored and formatted in worker processes forked after the model is loaded; the output keeps the
input's row order and appears only once it is complete.

A chunk is a `Columns`: plain lists, so CSV in and out needs neither pandas nor pyarrow, whose
imports were a third of a run's start-up. JSON Lines and Parquet bring them in when used.
"""

import contextlib
import csv
import fcntl
import io
import itertools
import json
import math
import multiprocessing
import operator
import os
import re
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from model import LABELS, TEXT_COLUMN, Predictor
from model.atomic import atomic_file
from model.labels import ACTOR_COLUMNS, SCORE_COLUMNS
from model.predict import collector_paused
from service.files import CHUNK_ROWS, EXTENSIONS, STDIO

try:  # where CSV records end, in C (service/_records.c), where a compiler built it; without
    # it the main process parses every row of a CSV itself
    from service import _records as RECORDS
except ImportError:
    RECORDS = None

if TYPE_CHECKING:  # imported where a format needs them
    import pandas as pd
    import pyarrow as pa

OUTPUT_COLUMNS = SCORE_COLUMNS  # stated once, in model/labels.py
# The added columns' names when the input already has some of them: a labelled file keeps its
# own label column, and the model's call goes beside it as pred_label.
PREDICTION_PREFIX = "pred_"
PARTIAL = ".partial"


class ScoreError(Exception):
    """The input cannot be scored; the message is one line that names the problem."""


@dataclass
class ScoreSummary:
    """What a scoring run did."""

    rows: int = 0
    empty: int = 0
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)
    prefix: str = ""  # of the added columns, when the input had their names (ColumnSpec)

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        per_label = ", ".join(f"{label} {self.counts[label]}" for label in LABELS)
        line = (
            f"scored {self.rows} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s): "
            f"{per_label}; {self.empty} empty"
        )
        if self.prefix:
            line += f"; written as {self.prefix}label, ... (the input has those names)"
        return line


@dataclass(frozen=True)
class ColumnSpec:
    """The input columns scoring reads, and whether it adds the actors.

    Every input column passes through unchanged; a date or source column is named so that a
    file without it is refused at once, and with the actors the date picks a leader's office.
    """

    text: str = TEXT_COLUMN
    date: str | None = None
    source: str | None = None
    actors: bool = False
    prefix: str = ""  # of the added columns' names; see for_input

    @property
    def added(self) -> tuple[str, ...]:
        names = OUTPUT_COLUMNS + (ACTOR_COLUMNS if self.actors else ())
        return tuple(self.prefix + name for name in names)

    @property
    def label(self) -> str:
        return self.prefix + OUTPUT_COLUMNS[0]

    def for_input(self, columns: list[str]) -> "ColumnSpec":
        """Return the spec that scores an input with these columns, or refuse the input.

        The named columns must be there. When the input already has an added column (a
        labelled file has `label`), every added column gets PREDICTION_PREFIX.
        """
        named = {"text": self.text, "date": self.date, "source": self.source}
        for option, column in named.items():
            if column is not None and column not in columns:
                raise ScoreError(
                    f"no column {column!r} in the input; its columns are: {', '.join(columns)} "
                    f"(choose one with --{option}-column)"
                )
        if not set(self.added) & set(columns):
            return self
        prefixed = replace(self, prefix=PREDICTION_PREFIX)
        clashing = [c for c in prefixed.added if c in columns]
        if clashing:
            raise ScoreError(
                f"the input already has output column(s) {', '.join(clashing)}: rename them or "
                f"score the original file"
            )
        return prefixed

    def schema(self, columns: list[str]) -> "pa.Schema":
        """The output's schema: every field is text but the confidence and probabilities."""
        import pyarrow as pa

        numbers = {self.prefix + c for c in OUTPUT_COLUMNS[1:]}
        fields = [*columns, *self.added]
        return pa.schema(
            [pa.field(c, pa.float64() if c in numbers else pa.string()) for c in fields]
        )


def statement_dates(values: "pd.Series") -> "pd.Series":
    """Parse dates as files write them (ISO, with or without a time and zone) to UTC, else NaT."""
    import pandas as pd

    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    # pandas reads "-1" as the year -1, which Python's dates cannot hold: no date, as for junk.
    return parsed.where(parsed.dt.year >= 1)


def _speakers_and_targets(texts: list[str], dates: list[str] | None) -> tuple[list, list]:
    from model.actors import find_actors, speaker_and_target

    if dates is None:
        days = [None] * len(texts)
    else:  # pandas parses the dates: only when there are some
        import pandas as pd

        parsed = statement_dates(pd.Series(dates, dtype=str))
        days = [None if pd.isna(day) else day for day in parsed.dt.date.tolist()]
    speakers, targets = [], []
    for text, on in zip(texts, days, strict=True):
        # on is None without a date, or with one that does not parse: no office check
        speaker, target = speaker_and_target(find_actors(text, on)) if text.strip() else ("", "")
        speakers.append(speaker or "")
        targets.append(target or "")
    return speakers, targets


def format_of(path: str | Path, given: str | None = None, default: str = "csv") -> str:
    """Return the format named by given, else by the file's extension, else default."""
    if given:
        return given
    return EXTENSIONS.get(Path(str(path)).suffix.lower(), default)


@dataclass
class Columns:
    """A chunk of a file: its column names and one sequence of values per column.

    Input columns hold strings; the added ones the labels, and the numbers as float arrays.
    """

    names: list[str]
    values: list[Any]

    @classmethod
    def of_rows(cls, names: list[str], rows: list[list[str]]) -> "Columns":
        if not rows:
            return cls(names, [[] for _ in names])
        # itemgetter rather than zip(*rows): zip makes an iterator per row, and strict checks each
        return cls(names, [list(map(operator.itemgetter(i), rows)) for i in range(len(names))])

    def column(self, name: str) -> Any:
        return self.values[self.names.index(name)]

    def __len__(self) -> int:
        return len(self.values[0])


def frame_columns(frame: "pd.DataFrame") -> Columns:
    """A DataFrame (the Dask engine's partitions) as Columns."""
    import pandas as pd

    values = [
        frame[name].to_numpy(np.float64)
        if pd.api.types.is_float_dtype(frame[name].dtype)
        else frame[name].tolist()
        for name in frame.columns
    ]
    return Columns(list(frame.columns), values)


def columns_frame(chunk: Columns) -> "pd.DataFrame":
    """Columns as a DataFrame: strings as str, numbers as float64."""
    import pandas as pd

    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=np.float64 if _numbers(values) else str)
            for name, values in zip(chunk.names, chunk.values, strict=True)
        },
        columns=chunk.names,
    )


def _numbers(values: Any) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind == "f"


def score_columns(predictor: Predictor | None, chunk: Columns, spec: ColumnSpec) -> Columns:
    """Return chunk with the output columns added; rows with empty text get an empty label.

    A chunk without rows needs no model: predictor may then be None (the Dask engine's empty
    partitions are scored without loading one).
    """
    texts = chunk.column(spec.text)
    if len(texts):
        has_text = np.fromiter(map(bool, map(str.strip, texts)), dtype=bool, count=len(texts))
        labels, confidence, probabilities = predictor.scores(texts, has_text, missing_label="")
    else:
        labels = np.empty(0, dtype=object)
        confidence, probabilities = np.empty(0), np.empty((0, len(LABELS)))
    added = [labels, confidence, *probabilities.T]
    if spec.actors:
        added += _speakers_and_targets(texts, chunk.column(spec.date) if spec.date else None)
    return Columns([*chunk.names, *spec.added], [*chunk.values, *added])


def score_frame(predictor: Predictor | None, frame: "pd.DataFrame", spec: ColumnSpec):
    """score_columns for a DataFrame: what the Dask engine's workers run on each partition."""
    return columns_frame(score_columns(predictor, frame_columns(frame), spec))


# Reading: one function per format. Each yields Columns of strings, at least one (an empty
# one for a file with a header and no rows), and reports progress through a _Position.


@dataclass
class _Position:
    """How far the reading got, in unit, out of total when that is known."""

    unit: str
    total: int | None = None
    done: int = 0


class _NotUtf8(Exception):
    def __init__(self, offset: int, line: int, reason: str):
        self.offset, self.line, self.reason = offset, line, reason


def _lines(handle: Iterable[bytes], position: _Position, first: int = 0) -> Iterator[str]:
    """Decode a binary stream line by line, keeping the byte offset of each line; first is the
    number (from 0) of its first line.

    Decoding here rather than in a text wrapper is what lets an error name the byte in the file
    rather than in a read buffer; a byte-order mark (as Excel writes) is dropped.
    """
    for number, raw in enumerate(handle, start=first):
        try:
            text = raw.decode("utf-8-sig" if number == 0 else "utf-8")
        except UnicodeDecodeError as error:
            raise _NotUtf8(position.done + error.start, number + 1, error.reason) from None
        position.done += len(raw)
        yield text


class _Blocks:
    """A binary stream's lines, as iterating it gives them, decoded a block of lines at a time.

    Decoding a block's lines in one map costs a fraction of a generator step per line. A block
    that is not UTF-8 is decoded again line by line up to the bad line, so that the error names
    the line and byte that _lines would name.
    """

    READ_BYTES = 1 << 20

    def __init__(self, handle: IO[bytes], offset: int = 0, line: int = 0):
        """handle's bytes start at offset in the file, after line lines."""
        self.handle = handle
        self.end = offset  # the file offset just past the current block
        self.before = line  # the number of lines before it
        self.raw: list[bytes] = []  # its lines
        self.texts: Iterator[str] = iter(())  # its lines decoded, as far as they are read
        self.decoded = 0  # how many there are: all of them, or those before a bad line

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._decoded())

    def lines(self) -> int:
        """The number of lines read so far."""
        return self.before + self.decoded - operator.length_hint(self.texts)

    def done(self) -> int:
        """The file offset just past the lines read so far."""
        return self.end - sum(map(len, self.raw[self.lines() - self.before :]))

    def _decoded(self) -> Iterator[Iterator[str]]:
        for block in self._whole_lines():
            start, self.before = self.end, self.before + len(self.raw)
            self.raw, self.end = list(io.BytesIO(block)), start + len(block)
            try:
                texts = list(map(bytes.decode, self.raw))
                if start == 0:
                    texts[0] = self.raw[0].decode("utf-8-sig")  # drop a byte-order mark
            except UnicodeDecodeError:
                good, error = _up_to_the_error(self.raw, start, self.before)
                self.texts, self.decoded = iter(good), len(good)
                yield self.texts
                raise error from None
            self.texts, self.decoded = iter(texts), len(texts)
            yield self.texts

    def _whole_lines(self) -> Iterator[bytes]:
        """The stream in blocks that end after a newline, but for the last."""
        partial: list[bytes] = []  # a line longer than a read, in pieces
        while data := self.handle.read1(self.READ_BYTES):
            end = data.rfind(b"\n") + 1
            if end:
                yield b"".join([*partial, data[:end]])
                partial = []
            partial.append(data[end:])
        if rest := b"".join(partial):
            yield rest


def _up_to_the_error(raw: list[bytes], offset: int, line: int) -> tuple[list[str], _NotUtf8]:
    """Decode the lines raw, which start at offset on line (from 0), as _lines does, up to the
    first one that is not UTF-8; return them and that line's error."""
    texts: list[str] = []
    try:
        for text in _lines(raw, _Position("B", done=offset), first=line):
            texts.append(text)
    except _NotUtf8 as error:
        return texts, error
    raise AssertionError("a block that is not UTF-8 has lines that all are")


def _row(number: int, line: int) -> str:
    return f"row {number}" if number == line else f"row {number} (line {line})"


def _read_csv(handle: IO[bytes], name: str, chunk_rows: int, position: _Position):
    # The csv module rather than pandas: pandas pads short rows, shifts the fields of a long
    # first row into an index and renames duplicate columns, all without a word.
    lines = _Blocks(handle)
    read = iter(lines)  # one iterator for both readers: each reads only the lines of its rows
    header, header_lines = _csv_header(read, name)
    rows = _csv_rows(read, len(header), name, chunk_rows, header_lines)
    chunk = []  # a header with no rows gives one empty chunk
    try:
        for chunk in rows:
            position.done = lines.done()
            yield Columns.of_rows(header, chunk)
    except _RowProblem as problem:
        raise problem.error(rows_before=1) from None  # the rows are numbered from the header's
    if not chunk:
        position.done = lines.done()
        yield Columns.of_rows(header, [])


def _csv_header(lines: Iterator[str], name: str) -> tuple[list[str], int]:
    """The header row of a CSV's lines, and how many lines it takes."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ScoreError(f"{name} row 1: not a readable CSV: {error}") from None
    except _NotUtf8 as error:
        raise ScoreError(f"{name} {_row(1, error.line)}: {_not_utf8(error)}") from None
    if header is None:
        raise ScoreError(f"{name}: empty file, expected a CSV with a header row")
    _check_unique(header, name)
    return header, reader.line_num


def _csv_rows(
    lines: Iterator[str], width: int, name: str, chunk_rows: int, line: int
) -> Iterator[list[list[str]]]:
    """The rows of a CSV's lines after its header, chunk_rows at a time, blank lines skipped;
    line is the number of lines before them. A row that is not width fields, not CSV or not
    UTF-8 raises a _RowProblem."""
    csv.field_size_limit(sys.maxsize)  # a statement can be longer than the 128 KiB default
    reader = csv.reader(lines, strict=True)
    row, rows = 0, []  # rows read so far
    try:
        for fields in reader:
            if not fields:
                continue  # a blank line, not a row
            row += 1
            if len(fields) != width:
                detail = f"{len(fields)} field(s), but the header has {width}"
                raise _RowProblem(name, row, line + reader.line_num, detail)
            rows.append(fields)
            if len(rows) == chunk_rows:
                yield rows
                rows = []
    except csv.Error as error:
        raise _RowProblem(name, row + 1, None, f"not a readable CSV: {error}") from None
    except _NotUtf8 as error:
        raise _RowProblem(name, row + 1, error.line, _not_utf8(error)) from None
    if rows:
        yield rows


def _not_utf8(error: _NotUtf8) -> str:
    return f"not UTF-8 text ({error.reason} at byte {error.offset} of the file)"


class _RowProblem(Exception):
    """A CSV row that cannot be read: row is its number among the rows of its part of the file
    (from 1), line its line in the file where known. Whoever knows how many rows come before
    that part makes the message (error)."""

    def __init__(self, name: str, row: int, line: int | None, detail: str):
        super().__init__(name, row, line, detail)  # as args, so that it pickles
        self.name, self.row, self.line, self.detail = name, row, line, detail

    def error(self, rows_before: int) -> ScoreError:
        row = rows_before + self.row
        where = f"row {row}" if self.line is None else _row(row, self.line)
        return ScoreError(f"{self.name} {where}: {self.detail}")


@dataclass
class _CsvPiece:
    """Whole records of a CSV file, as its bytes, for a worker to parse (see _read_csv_pieces)."""

    name: str
    names: list[str]  # the header's
    data: bytes
    offset: int  # of its first byte in the file
    line: int  # the number of lines before it

    def columns(self) -> Columns:
        # The common records in C; the csv module for any other, which names a problem.
        if (values := RECORDS.fields(self.data, len(self.names))) is not None:
            return Columns(self.names, values)
        lines = iter(_Blocks(io.BytesIO(self.data), self.offset, self.line))
        rows = _csv_rows(lines, len(self.names), self.name, sys.maxsize, self.line)
        return Columns.of_rows(self.names, next(rows, []))


def _read_csv_pieces(handle: IO[bytes], name: str, chunk_rows: int, position: _Position):
    """_read_csv's chunks, but only the header is parsed here: an empty chunk of its columns
    comes first, then _CsvPieces of chunk_rows records that the workers parse. Finding where
    records end (service/_records.c) costs a small part of parsing them, which was most of the
    main process's work. Row numbers in errors count from the piece: score_file adds the rows
    of the pieces before it; a worker reads a piece's records with service/_records.c where they
    are simple, else with the csv module."""
    buffer = bytearray()

    def records(wanted: int) -> bytes:
        """The bytes of the next wanted records (fewer at the end of the file)."""
        end, state = 0, 0  # read up to end, where the scan was in state
        while True:
            end, found, state = RECORDS.scan(buffer, end, wanted, state)
            wanted -= found
            if not wanted or not (more := handle.read1(_Blocks.READ_BYTES)):
                break
            buffer.extend(more)
        with memoryview(buffer) as view:
            taken = bytes(view[:end])
        del buffer[:end]
        return taken

    head = records(1)
    header, _ = _csv_header(iter(_Blocks(io.BytesIO(head))), name)
    offset, line = len(head), head.count(b"\n")
    position.done = offset
    yield Columns.of_rows(header, [])
    while data := records(chunk_rows):
        position.done = offset + len(data)
        yield _CsvPiece(name, header, data, offset, line)
        offset, line = offset + len(data), line + data.count(b"\n")


def _read_jsonl(handle: IO[bytes], name: str, chunk_rows: int, position: _Position):
    columns: list[str] | None = None
    rows, line = [], 0
    try:
        for line, text in enumerate(_lines(handle, position), start=1):
            if not text.strip():
                continue
            record = _json_record(text, name, line)
            if columns is None:
                columns, keys = list(record), set(record)
            elif record.keys() != keys:
                raise ScoreError(
                    f"{name} line {line}: its keys ({', '.join(record)}) are not those of the "
                    f"first record ({', '.join(columns)})"
                )
            rows.append([_json_text(record[c], name, line, c) for c in columns])
            if len(rows) == chunk_rows:
                yield Columns.of_rows(columns, rows)
                rows = []
    except _NotUtf8 as error:
        raise ScoreError(
            f"{name} line {line + 1}: not UTF-8 text ({error.reason} at byte {error.offset} of "
            f"the file)"
        ) from None
    if columns is None:
        raise ScoreError(f"{name}: empty file, expected one JSON object per line")
    if rows or not line:
        yield Columns.of_rows(columns, rows)


def _json_record(text: str, name: str, line: int) -> dict[str, Any]:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        record = dict(pairs)
        if len(record) != len(pairs):
            raise ScoreError(f"{name} line {line}: a key appears twice in the object")
        return record

    try:
        # Numbers keep the exact text they were written with: every field is read as a string.
        record = json.loads(text, parse_int=str, parse_float=str, object_pairs_hook=unique)
    except json.JSONDecodeError as error:
        raise ScoreError(f"{name} line {line}: not JSON: {error.msg}") from None
    if not isinstance(record, dict):
        raise ScoreError(f"{name} line {line}: expected a JSON object, not {text.strip()[:40]}")
    return record


def _json_text(value: Any, name: str, line: int, column: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    raise ScoreError(f"{name} line {line}: {column!r} is a nested JSON value, not text")


def _read_parquet(path: str, name: str, chunk_rows: int, position: _Position):
    if path == STDIO:
        raise ScoreError("Parquet cannot be read from stdin (it is read from its end): give a file")
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except pa.ArrowInvalid as error:
        raise ScoreError(f"{name}: not a readable Parquet file: {error}") from None
    schema = parquet.schema_arrow
    _check_unique(schema.names, name)
    as_text = text_schema(schema)
    position.total = parquet.metadata.num_rows
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        position.done += batch.num_rows
        yield frame_columns(parquet_text(pa.Table.from_batches([batch]), as_text, name))
    if position.total == 0:
        yield Columns.of_rows(schema.names, [])


def parquet_text(table: "pa.Table", as_text: "pa.Schema", name: str) -> "pd.DataFrame":
    """Return a Parquet table as a frame of strings; both engines read Parquet through this."""
    import pyarrow as pa

    try:
        table = table.cast(as_text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise ScoreError(f"{name}: a column cannot be read as text: {error}") from None
    return table.to_pandas().fillna("")  # a null is an empty field, as in a CSV


def text_schema(schema: "pa.Schema") -> "pa.Schema":
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.string()) for f in schema])


def _check_unique(columns: list[str], name: str) -> None:
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise ScoreError(f"{name}: the column name(s) {', '.join(map(repr, twice))} appear twice")


@contextlib.contextmanager
def _reading(source: str | Path, fmt: str, chunk_rows: int) -> Iterator[tuple[Iterator, _Position]]:
    name = "stdin" if str(source) == STDIO else str(source)
    if fmt == "parquet":
        position = _Position(" rows")
        yield _read_parquet(str(source), name, chunk_rows, position), position
        return
    csv_reader = _read_csv if RECORDS is None else _read_csv_pieces
    read = {"csv": csv_reader, "jsonl": _read_jsonl}[fmt]
    if str(source) == STDIO:
        position = _Position(" rows")  # stdin has no size; the bar counts rows instead
        yield read(sys.stdin.buffer, name, chunk_rows, position), position
        return
    try:
        handle = open(source, "rb")  # noqa: SIM115 (closed below, after the generator is done)
    except FileNotFoundError:
        raise ScoreError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise ScoreError(f"{source}: is a directory, not a file") from None
    except PermissionError:
        raise ScoreError(f"{source}: permission denied") from None
    with handle:
        position = _Position("B", total=os.fstat(handle.fileno()).st_size)
        yield read(handle, name, chunk_rows, position), position


# Writing: the workers turn scored chunks into bytes (formatting is a large share of the cost);
# the main process only appends them in order.


def _format(scored: Columns, fmt: str, schema: "pa.Schema | None") -> bytes:
    if fmt == "csv":
        return csv_rows(scored).encode("utf-8")
    frame = columns_frame(scored)
    if fmt == "jsonl":
        lines = frame.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n")
        return (lines + "\n").encode("utf-8") if lines else b""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as stream:
        stream.write_table(table)
    return sink.getvalue().to_pybytes()


def csv_rows(scored: Columns) -> str:
    """The rows as pandas' to_csv writes them (six decimals, NaN as empty), with no call a number.

    Each text column is quoted as csv.writer(lineterminator="\n") quotes it, each run of number
    columns is formatted by numpy as one string per row, and a row joins them with commas.
    """
    if not len(scored):
        return ""
    fields = []
    for numbers, group in itertools.groupby(scored.values, _numbers):
        if numbers:
            fields.append(_six_decimals(list(group)))
        else:
            fields.extend(map(_csv_fields, group))
    if len(fields) == 1:  # csv.writer quotes a row's only field when it is empty
        return "".join('""\n' if field == "" else field + "\n" for field in fields[0])
    # Every field, each followed by its comma or its row's newline, in one list joined once:
    # twice as fast as a join per row.
    step = 2 * len(fields)
    flat = [","] * (step * len(scored))
    for i, column in enumerate(fields):
        flat[2 * i :: step] = column
    flat[step - 1 :: step] = itertools.repeat("\n", len(scored))
    return "".join(flat)


def _csv_fields(values: Any) -> Any:
    """The values as csv.writer writes them in a row: quoted when they hold , " or a newline."""
    try:
        joined = "".join(values)
    except TypeError:  # not all str: csv.writer writes None as empty, others as str() does
        return [_csv_field("" if v is None else str(v)) for v in values]
    if any(c in joined for c in ',"\n\r'):
        return [_csv_field(v) for v in values]
    return values  # a column like the labels, which needs no quotes (the common case)


def _csv_field(value: str) -> str:
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        if "\r" in value:  # csv.writer quotes "\r" or not depending on the Python version
            out = _Strings()
            csv.writer(out, lineterminator="\n").writerow([value, ""])
            return out[0][: -len(",\n")]
        return '"' + value.replace('"', '""') + '"'
    return value


class _Strings(list):
    write = list.append  # a file for csv.writer that keeps each row it writes


def _six_decimals(columns: list[np.ndarray]) -> list[str]:
    """Each row's numbers as f"{v:.6f}", joined by commas, with NaN as empty.

    numpy writes the digits of round(v * 1e6), which is what f-strings round (half to even, of
    the binary value) but where v * 1e6 is within its rounding error of a tie; those values,
    and any outside [0, 1], NaN and -0.0, are written by f-strings.
    """
    values = np.column_stack(columns)
    scaled = values * 1e6
    whole = np.rint(scaled)
    with np.errstate(invalid="ignore"):  # inf - inf: not plain, as NaN is not
        tie = abs(scaled - whole) > 0.4999
    plain = (values >= 0) & (values <= 1) & ~np.signbit(values) & ~tie
    digits = np.where(plain, whole, 0).astype(np.int64)
    # Each value as 0.000000 and a comma, as UCS-4 code points; a row is a fixed-width string.
    chars = np.empty((*values.shape, 9), np.uint32)
    chars[..., 0], rest = np.divmod(digits, 1_000_000)
    chars[..., 0] += ord("0")
    chars[..., 1] = ord(".")
    for i in range(7, 1, -1):
        rest, chars[..., i] = np.divmod(rest, 10)
        chars[..., i] += ord("0")
    chars[..., 8] = ord(",")
    flat = np.ascontiguousarray(chars.reshape(len(values), -1)[:, :-1])
    rows = flat.view(f"U{flat.shape[1]}").ravel().tolist()
    for i in np.flatnonzero(~plain.all(axis=1)).tolist():
        rows[i] = ",".join("" if math.isnan(v) else f"{v:.6f}" for v in values[i].tolist())
    return rows


def csv_header(names: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(names)
    return out.getvalue()


@dataclass
class _Scored:
    payload: bytes
    rows: int
    empty: int
    counts: Counter


def _score_chunk(
    predictor: Predictor,
    spec: ColumnSpec,
    fmt: str,
    schema: "pa.Schema | None",
    chunk: "Columns | _CsvPiece",
) -> _Scored:
    if isinstance(chunk, _CsvPiece):
        chunk = chunk.columns()
    return pack(score_columns(predictor, chunk, spec), fmt, schema, spec.label)


def pack(scored: Columns, fmt: str, schema: "pa.Schema | None", label: str = "label") -> _Scored:
    """Format a scored chunk for the output and count its labels (both engines, per chunk)."""
    labels = np.asarray(scored.column(label), dtype=object)
    return _Scored(
        _format(scored, fmt, schema),
        len(scored),
        int((labels == "").sum()),
        Counter(labels[labels != ""].tolist()),
    )


class _Writer:
    """Append formatted chunks to the output; an OSError names the output file."""

    def __init__(
        self, handle: IO[bytes], fmt: str, names: list[str], schema: "pa.Schema | None", name: str
    ):
        self.handle, self.fmt, self.name = handle, fmt, name
        self.parquet = None
        with self._naming_the_file():
            if fmt == "csv":
                handle.write(csv_header(names).encode("utf-8"))
            elif fmt == "parquet":
                import pyarrow.parquet as pq

                self.parquet = pq.ParquetWriter(handle, schema)

    def write(self, payload: bytes) -> None:
        with self._naming_the_file():
            if self.parquet is None:
                self.handle.write(payload)
            else:
                import pyarrow as pa

                self.parquet.write_table(pa.ipc.open_stream(payload).read_all())

    def close(self) -> None:
        with self._naming_the_file():
            if self.parquet is not None:
                self.parquet.close()
            self.handle.flush()

    @contextlib.contextmanager
    def _naming_the_file(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise OSError(error.errno, error.strerror, self.name) from None


def _remove_stale_partials(destination: Path) -> None:
    """Remove temp files that a killed run (SIGKILL, power loss) left beside destination.

    A live run holds a lock on its temp file, so only the files no process holds are removed.
    """
    pattern = re.compile(rf"\.{re.escape(destination.name)}\.[a-z0-9_]{{8}}{re.escape(PARTIAL)}")
    for path in destination.parent.iterdir():
        if not pattern.fullmatch(path.name):
            continue
        try:
            with open(path, "rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink()
        except (BlockingIOError, FileNotFoundError):
            continue  # a run is writing it, or another run removed it first


@contextlib.contextmanager
def _atomic_output(destination: str | Path) -> Iterator[IO[bytes]]:
    """Yield a binary handle whose content appears at destination only if the block completes."""
    if str(destination) == STDIO:
        yield sys.stdout.buffer
        return
    destination = Path(destination)
    if destination.is_dir():
        raise ScoreError(f"{destination}: is a directory; give a file name for the output")
    if not destination.parent.is_dir():
        raise ScoreError(f"{destination.parent}: no such folder for the output")
    _remove_stale_partials(destination)
    with atomic_file(destination, suffix=PARTIAL) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # tells later runs this temp file is not stale
        yield handle.buffer  # the text layer stays empty: chunks arrive as encoded bytes


# Worker processes: forked once the model is loaded, so each has it without pickling it; only
# the chunks go out and the formatted bytes come back. One pipe per worker and chunks dealt in
# turn keep the order with no thread in the main process, so an interrupt can always stop them
# (concurrent.futures' feeder thread hangs at exit once its workers are killed).


def _start_worker() -> None:
    # Ctrl+C reaches the whole process group: the main process alone decides what to do (stop
    # the workers, remove its temp file). SIGTERM gets its default back from the parent's handler.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform == "linux":  # die with the parent, even when it is SIGKILLed
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(1)


def _work(connection: Connection, job: Callable[[Columns], _Scored]) -> None:
    _start_worker()
    while (chunk := connection.recv()) is not None:
        try:
            connection.send(_paused(job, chunk))
        except Exception as error:  # a row it cannot read (_RowProblem), or a bug: the main
            connection.send(error)  # process raises it, in the chunk's turn


def _paused(step: Callable, *args: Any) -> Any:
    """step(*args) with the cyclic collector paused: reading or scoring a chunk makes a list
    per row and holds them all, which the collector walked again and again. They hold no
    cycles; any other step's are found by the collector's next run, once it is back."""
    with collector_paused():
        return step(*args)


def _read_paused(chunks: Iterator[Columns]) -> Iterator[Columns]:
    while (chunk := _paused(next, chunks, None)) is not None:
        yield chunk


def _receive(connection: Connection) -> _Scored:
    try:
        result = connection.recv()
    except EOFError:
        raise ChildProcessError("a scoring worker process died (out of memory?)") from None
    if isinstance(result, Exception):
        raise result
    return result


def _in_order(connections: list[Connection], chunks: Iterator[Columns]) -> Iterator[_Scored]:
    """Deal chunks to the workers in turn, one per worker in flight, and yield results in order.

    A worker is sent its next chunk only once its previous result is read, so neither side ever
    blocks writing to the other; the next chunk is parsed while the workers score theirs.
    """
    n = len(connections)
    sent = 0
    for chunk in chunks:
        if sent >= n:
            yield _receive(connections[sent % n])  # the oldest chunk in flight is this worker's
        connections[sent % n].send(chunk)
        sent += 1
    for i in range(max(0, sent - n), sent):
        yield _receive(connections[i % n])


@contextlib.contextmanager
def _scoring(
    job: Callable[[Columns], _Scored], jobs: int
) -> Iterator[Callable[[Iterator[Columns]], Iterator[_Scored]]]:
    """Yield a function that maps chunks to job(chunk), in order, on jobs processes.

    The workers start here, before the output is opened and before the progress bar starts its
    thread, so they hold neither; at most jobs chunks are in flight, so memory stays flat.
    """
    if jobs == 1:
        yield partial(map, partial(_paused, job))
        return
    context = multiprocessing.get_context("fork")
    workers: list[tuple[multiprocessing.Process, Connection]] = []
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking with threads running: the only one here is
            # numpy's idle BLAS pool, which the workers never use.
            warnings.filterwarnings("ignore", ".* fork", DeprecationWarning)
            for _ in range(jobs):
                ours, theirs = context.Pipe()
                process = context.Process(target=_work, args=(theirs, job), daemon=True)
                process.start()
                theirs.close()
                workers.append((process, ours))
        yield partial(_in_order, [connection for _, connection in workers])
        for process, connection in workers:
            connection.send(None)
            process.join()
    finally:
        for process, connection in workers:
            if process.is_alive():
                process.kill()
                process.join()
            connection.close()


def score_file(
    predictor: Predictor,
    source: str | Path,
    destination: str | Path,
    spec: ColumnSpec = ColumnSpec(),
    chunk_rows: int = CHUNK_ROWS,
    on_progress: Callable[[int, int | None, str], None] | None = None,
    jobs: int = 1,
    input_format: str | None = None,
    output_format: str | None = None,
) -> ScoreSummary:
    """Score source into destination ("-" for stdin/stdout); destination appears only when done.

    Formats come from the arguments, else the file extensions; the output defaults to the
    input's format. on_progress(done, total, unit) is called after each chunk.
    """
    fmt_in = format_of(source, input_format)
    fmt_out = format_of(destination, output_format, default=fmt_in)
    summary = ScoreSummary()
    started = time.perf_counter()
    with _reading(source, fmt_in, chunk_rows) as (chunks, position):
        first = next(chunks)
        columns = list(first.names)
        spec = spec.for_input(columns)
        summary.prefix = spec.prefix
        schema = spec.schema(columns) if fmt_out == "parquet" else None
        job = partial(_score_chunk, predictor, spec, fmt_out, schema)
        name = "stdout" if str(destination) == STDIO else str(destination)
        with _scoring(job, jobs) as score, _atomic_output(destination) as handle:
            writer = _Writer(handle, fmt_out, [*columns, *spec.added], schema, name)
            try:
                for scored in score(itertools.chain([first], _read_paused(chunks))):
                    writer.write(scored.payload)
                    summary.rows += scored.rows
                    summary.empty += scored.empty
                    summary.counts.update(scored.counts)
                    if on_progress:
                        on_progress(position.done, position.total, position.unit)
            except _RowProblem as problem:  # in a _CsvPiece, after the rows written so far
                raise problem.error(rows_before=1 + summary.rows) from None
            writer.close()
    summary.seconds = time.perf_counter() - started
    return summary
