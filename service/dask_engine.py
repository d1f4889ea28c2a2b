"""Score a file with Dask: blocks read and scored on the workers of a cluster, output in order.

The blocks are parsed by the local engine's own readers and scored by its own score_frame, so
the output equals `stance score`'s row for row. The model never travels with the tasks: each
task names the model version, and each worker process loads it once from the model folder (its
own STANCE_MODEL_DIR, else the client's --model-dir path) and keeps it.
"""

import contextlib
import csv
import io
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, LocalCluster

from model import Predictor
from service.batch import (
    PARTIAL,
    RECORDS,
    STDIO,
    Columns,
    ColumnSpec,
    ScoreError,
    ScoreSummary,
    _atomic_output,
    _check_unique,
    _lines,
    _NotUtf8,
    _Position,
    _read_csv,
    _read_jsonl,
    _Scored,
    _Writer,
    columns_frame,
    format_of,
    frame_columns,
    pack,
    parquet_text,
    score_frame,
    text_schema,
)

BLOCK_BYTES = 32 * 2**20  # a CSV or JSON Lines block: a few seconds of scoring per task
SCAN_BYTES = 8 * 2**20
LOCAL_WORKERS = 2


# Reading. dd.read_csv cuts blocks at any newline, so a quoted statement that spans lines would
# be split at a block edge, and pandas pads short rows without a word. So blocks are cut here, at
# row ends, and each is parsed by the local engine's reader. The row ends are those the csv
# module finds (service/_records.c, as the local engine cuts its pieces), where that was built;
# else found by counting quotes, where a cut inside a field (only possible when a bare '"' sits
# in an unquoted field) leaves the block before it ending inside quotes, which the strict reader
# refuses: an error, never a wrong row.


@dataclass(frozen=True)
class _Block:
    path: str
    name: str
    fmt: str
    start: int
    end: int
    header: bytes  # the CSV header row, raw, parsed with each block; empty for JSON Lines
    columns: tuple[str, ...]


def _record_cuts(path: str, start: int, block_bytes: int) -> list[int]:
    """_cuts for a CSV, each edge the first end of a record at or past its target."""
    edges, state, offset, target = [start], 0, start, start + block_bytes
    with open(path, "rb") as handle:
        handle.seek(start)
        while chunk := handle.read(SCAN_BYTES):
            view, at = memoryview(chunk), 0  # chunk is scanned up to at, which is in state
            while True:
                # A record whose newline is at stop or later ends at or past the target.
                stop = target - offset - 1
                if stop >= len(chunk):  # no edge in this chunk: only the state goes on
                    _, _, state = RECORDS.scan(view, at, sys.maxsize, state)
                    break
                if stop > at:
                    _, _, state = RECORDS.scan(view[:stop], at, sys.maxsize, state)
                    at = stop
                at, found, state = RECORDS.scan(view, at, 1, state)
                if not found:  # the record goes on into the next chunk
                    break
                edges.append(offset + at)
                target = edges[-1] + block_bytes
            offset += len(chunk)
    if offset > edges[-1]:
        edges.append(offset)
    return edges if len(edges) > 1 else [start, start]  # one empty block: a header-only file


def _header(path: str, name: str, fmt: str) -> tuple[list[str], bytes]:
    """Return the columns and, for CSV, the header row's raw bytes, which every block is given."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        raise ScoreError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScoreError(f"{path}: is a directory, not a file") from None
    with handle:
        if fmt == "jsonl":  # the local reader checks the first record and names its columns
            first = next(_read_jsonl(_first_record(handle), name, 1, _Position("B")))
            return list(first.names), b""
        position = _Position("B")
        try:  # csv.reader reads no line past the record it returns: position ends the header
            header = next(csv.reader(_lines(handle, position), strict=True), None)
        except (csv.Error, _NotUtf8) as error:
            raise ScoreError(f"{name} row 1: not a readable CSV header: {error}") from None
        if header is None:
            raise ScoreError(f"{name}: empty file, expected a CSV with a header row")
        _check_unique(header, name)
        handle.seek(0)
        return header, handle.read(position.done)


def _first_record(handle) -> io.BytesIO:
    for line in handle:
        if line.strip():
            return io.BytesIO(line)
    return io.BytesIO(b"")


def _cuts(path: str, start: int, block_bytes: int, quoted: bool) -> list[int]:
    """Return block edges from start to the end of the file, each just after a row's newline."""
    if quoted and RECORDS is not None:
        return _record_cuts(path, start, block_bytes)
    edges, parity, offset, target = [start], 0, start, start + block_bytes
    with open(path, "rb") as handle:
        handle.seek(start)
        while chunk := handle.read(SCAN_BYTES):
            buffer = np.frombuffer(chunk, np.uint8)
            newlines = np.flatnonzero(buffer == ord("\n"))
            if quoted:  # a newline inside quotes has an odd number of quotes before it
                quotes = np.flatnonzero(buffer == ord('"'))
                newlines = newlines[(parity + np.searchsorted(quotes, newlines)) % 2 == 0]
                parity = (parity + len(quotes)) % 2
            ends = offset + newlines + 1
            while (i := np.searchsorted(ends, target)) < len(ends):
                edges.append(int(ends[i]))
                target = edges[-1] + block_bytes
            offset += len(chunk)
    if offset > edges[-1]:
        edges.append(offset)
    return edges if len(edges) > 1 else [start, start]  # one empty block: a header-only file


def _read_block(block: _Block) -> pd.DataFrame:
    with open(block.path, "rb") as handle:
        handle.seek(block.start)
        body = handle.read(block.end - block.start)
    # Errors name the block by its byte offset: row and line numbers count from its start.
    name = f"{block.name} (block from byte {block.start})"
    source = io.BytesIO(block.header + body)
    if block.fmt == "csv":
        frames = list(_read_csv(source, name, sys.maxsize, _Position("B")))
    elif body.strip():  # the local reader refuses a file with no record
        frames = list(_read_jsonl(source, name, sys.maxsize, _Position("B")))
    else:
        frames = []
    frame = columns_frame(frames[0] if frames else Columns.of_rows(list(block.columns), []))
    if tuple(frame.columns) != block.columns:
        if set(frame.columns) != set(block.columns):
            raise ScoreError(
                f"{name}: its keys ({', '.join(frame.columns)}) are not those of the first "
                f"record ({', '.join(block.columns)})"
            )
        frame = frame[list(block.columns)]  # the same keys in another order, as locally
    return frame


def _read_row_group(part: tuple[str, str, int]) -> pd.DataFrame:
    path, name, group = part
    parquet = pq.ParquetFile(path)
    table = parquet.read_row_group(group)
    return parquet_text(table, text_schema(parquet.schema_arrow), name)


def _frames(source: str, fmt: str, block_bytes: int) -> tuple[dd.DataFrame, list[str]]:
    """Return the input as a Dask frame of strings, one partition per block, and its columns."""
    name = str(source)
    if source == STDIO:
        raise ScoreError("the Dask engine reads files, not stdin: give a file")
    if fmt == "parquet":
        try:
            parquet = pq.ParquetFile(source)
        except FileNotFoundError:
            raise ScoreError(f"{source}: no such file") from None
        except Exception as error:  # pyarrow's ArrowInvalid, or a folder
            raise ScoreError(f"{name}: not a readable Parquet file: {error}") from None
        columns = parquet.schema_arrow.names
        _check_unique(columns, name)
        meta = columns_frame(Columns.of_rows(columns, []))
        groups = [(source, name, i) for i in range(parquet.num_row_groups)]
        if not groups:
            return dd.from_pandas(meta, npartitions=1), columns
        return dd.from_map(_read_row_group, groups, meta=meta, enforce_metadata=False), columns
    columns, header = _header(source, name, fmt)
    edges = _cuts(source, len(header), block_bytes, quoted=fmt == "csv")
    blocks = [
        _Block(source, name, fmt, start, end, header, tuple(columns))
        for start, end in itertools.pairwise(edges)
    ]
    meta = columns_frame(Columns.of_rows(columns, []))
    return dd.from_map(_read_block, blocks, meta=meta, enforce_metadata=False), columns


# The model on the workers: loaded once per worker process, by version, then kept.

_loaded: dict[Path, Predictor] = {}
_loading = threading.Lock()  # a worker may run tasks in several threads


def _worker_predictor(model_dir: str, version: str) -> Predictor:
    folder = Path(os.environ.get("STANCE_MODEL_DIR") or model_dir) / version
    with _loading:
        if folder not in _loaded:
            _loaded[folder] = Predictor.load(folder)
        return _loaded[folder]


def _score_partition(frame: pd.DataFrame, model_dir: str, version: str, spec: ColumnSpec):
    if frame.empty:  # Dask's meta, or an empty block: nothing to load the model for
        return score_frame(None, frame, spec)
    return score_frame(_worker_predictor(model_dir, version), frame, spec)


def _pack_part(scored: pd.DataFrame, fmt: str, schema: pa.Schema, label: str) -> _Scored:
    return pack(frame_columns(scored), fmt, schema, label)


def _write_part(scored: pd.DataFrame, path: str, fmt: str, schema: pa.Schema, label: str):
    packed = _pack_part(scored, fmt, schema, label)
    with open(path, "wb") as handle:
        writer = _Writer(handle, fmt, schema.names, schema, path)
        writer.write(packed.payload)
        writer.close()
    packed.payload = b""
    return packed


# Output: one file (the client appends the workers' formatted parts in order) or a folder of
# parts written by the workers into a temp folder beside it, renamed when all are done.


def is_folder(destination: str) -> bool:
    return destination.endswith("/") or Path(destination).is_dir()


@contextlib.contextmanager
def _atomic_folder(destination: Path) -> Iterator[Path]:
    if destination.exists() and not destination.is_dir():
        raise ScoreError(f"{destination}: is a file; give a folder name for the parts")
    if not destination.parent.is_dir():
        raise ScoreError(f"{destination.parent}: no such folder for the output")
    temp = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=PARTIAL, dir=destination.parent)
    )
    try:
        yield temp
        temp.chmod(0o777 & ~_umask())
        if destination.exists():
            # A folder cannot be renamed over a non-empty one: move the older one aside first.
            old = Path(
                tempfile.mkdtemp(
                    prefix=f".{destination.name}.", suffix=".old", dir=destination.parent
                )
            )
            destination.rename(old / "parts")
            temp.rename(destination)
            shutil.rmtree(old)
        else:
            temp.rename(destination)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _in_order(client: Client, tasks: list, window: int) -> Iterator[_Scored]:
    """Compute tasks with at most window in flight and yield their results in order."""
    pending: deque = deque()
    for task in tasks:
        pending.append(client.compute(task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


@contextlib.contextmanager
def _client(scheduler: str | None, model_dir: Path) -> Iterator[Client]:
    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    # Processes, not threads: scoring is pure Python and holds the GIL. One thread each, so
    # a worker's memory holds one block at a time.
    with (
        LocalCluster(
            n_workers=LOCAL_WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # The scheduler's HTTP server (health checks) still binds: not to a fixed port.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            env={"STANCE_MODEL_DIR": str(model_dir)},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def score_file_dask(
    predictor: Predictor,
    model_dir: Path,
    source: str | Path,
    destination: str | Path,
    spec: ColumnSpec = ColumnSpec(),
    scheduler: str | None = None,
    input_format: str | None = None,
    output_format: str | None = None,
    block_bytes: int = BLOCK_BYTES,
    on_progress: Callable[[int, int | None, str], None] | None = None,
) -> ScoreSummary:
    """Score source into destination (a file, or a folder of parts) on a Dask cluster.

    Without scheduler, a LocalCluster of two worker processes on 127.0.0.1 is started and
    closed at the end. predictor is the version the workers load (by name, from model_dir).
    """
    source, destination = str(source), str(destination)
    folder = is_folder(destination)
    fmt_in = format_of(source, input_format)
    fmt_out = output_format or ("parquet" if folder else format_of(destination, None, fmt_in))
    started = time.perf_counter()
    frames, columns = _frames(source, fmt_in, block_bytes)
    spec = spec.for_input(columns)
    schema = spec.schema(columns)
    model_dir = Path(model_dir).resolve()
    scored = frames.map_partitions(
        _score_partition,
        str(model_dir),
        predictor.version,
        spec,
        meta=score_frame(predictor, columns_frame(Columns.of_rows(columns, [])), spec),
        enforce_metadata=False,
    )
    parts = scored.to_delayed()
    summary = ScoreSummary(prefix=spec.prefix)
    with _client(scheduler, model_dir) as client, contextlib.ExitStack() as stack:
        window = 2 * max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        if folder:
            temp = stack.enter_context(_atomic_folder(Path(destination.rstrip("/"))))
            tasks = [
                dask.delayed(_write_part)(
                    part, str(temp / f"part-{i:05d}.{fmt_out}"), fmt_out, schema, spec.label
                )
                for i, part in enumerate(parts)
            ]
            writer = None
        else:
            tasks = [dask.delayed(_pack_part)(part, fmt_out, schema, spec.label) for part in parts]
            handle = stack.enter_context(_atomic_output(destination))
            name = "stdout" if destination == STDIO else destination
            writer = _Writer(handle, fmt_out, schema.names, schema, name)
        for done, chunk in enumerate(_in_order(client, tasks, window), start=1):
            if writer is not None:
                writer.write(chunk.payload)
            summary.rows += chunk.rows
            summary.empty += chunk.empty
            summary.counts.update(chunk.counts)
            if on_progress:
                on_progress(done, len(tasks), " blocks")
        if writer is not None:
            writer.close()
    summary.seconds = time.perf_counter() - started
    return summary
