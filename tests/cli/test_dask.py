"""The Dask engine on real files, a real scheduler and two real workers: the local engine's output.

The scheduler and the workers are started here as subprocesses on 127.0.0.1, as on a cluster.
"""

import io
import itertools
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service import dask_engine
from service.batch import RECORDS, ScoreError, _Position, _read_csv, score_file

from ..helpers import BIN, ROOT, STANCE
from .test_batch import TRICKY_ROWS, read_all

pytestmark = pytest.mark.slow

SCHEDULER_OPTIONS = ["--no-dashboard", "--scheduler-file"]
WORKER_OPTIONS = ["--nthreads", "1", "--nworkers", "1", "--no-dashboard"]
ROWS = TRICKY_ROWS + TRICKY_ROWS[1:] * 60  # multi-line fields, quotes, "NA", empty texts


def start(command: list[str], env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=ROOT)


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def scheduler(model_dir, tmp_path_factory):
    """Start `dask scheduler` and two `dask worker`s on 127.0.0.1; return the scheduler's address.

    The workers find the model as on a real cluster: STANCE_MODEL_DIR and this checkout's package.
    """
    folder = tmp_path_factory.mktemp("cluster")
    file = folder / "scheduler.json"
    env = {**os.environ, "STANCE_MODEL_DIR": str(model_dir), "PYTHONPATH": str(ROOT)}
    dask = str(BIN / "dask")
    processes = []
    with open(folder / "cluster.log", "ab") as log:
        try:
            processes.append(
                start(
                    [
                        dask,
                        "scheduler",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "0",
                        *SCHEDULER_OPTIONS,
                        str(file),
                    ],
                    env,
                    log,
                )
            )
            deadline = time.monotonic() + 120
            while not file.exists():
                assert processes[0].poll() is None, "the scheduler exited"
                assert time.monotonic() < deadline, "the scheduler never started"
                time.sleep(0.2)
            time.sleep(0.2)  # the file is written in one go, but give it a moment
            address = json.loads(file.read_text())["address"]
            for _ in range(2):
                processes.append(
                    start(
                        [dask, "worker", address, "--host", "127.0.0.1", *WORKER_OPTIONS],
                        env,
                        log,
                    )
                )
            wait_for_workers(address, 2, processes, deadline)
            yield address
        finally:
            stop_all(processes)


def wait_for_workers(address: str, n: int, processes, deadline: float) -> None:
    from distributed import Client

    with Client(address, timeout="60s") as client:
        while len(client.scheduler_info(n_workers=-1)["workers"]) < n:
            assert all(p.poll() is None for p in processes), "a worker exited"
            assert time.monotonic() < deadline, "the workers never joined"
            time.sleep(0.2)


def run(cli_env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*STANCE, "score", *args], env=cli_env, capture_output=True, text=True, timeout=600
    )


def test_csv_on_a_real_cluster_equals_the_local_engine(
    scheduler, predictor, model_dir, cli_env, write_csv, tmp_path
):
    from service.dask_engine import score_file_dask

    source = write_csv("in.csv", ROWS)
    score_file(predictor, source, tmp_path / "local.csv")
    # Small blocks: many partitions, and block edges that fall inside multi-line fields.
    summary = score_file_dask(
        predictor, model_dir, source, tmp_path / "dask.csv", scheduler=scheduler, block_bytes=300
    )
    assert summary.rows == len(ROWS) - 1
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    # And through the command line, as users run it.
    completed = run(
        cli_env,
        str(source),
        "-o",
        str(tmp_path / "cli.csv"),
        "--engine",
        "dask",
        "--scheduler",
        scheduler,
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "cli.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


def test_parquet_on_a_real_cluster_to_a_folder_of_parts(
    scheduler, predictor, cli_env, write_csv, tmp_path
):
    rows = write_csv("rows.csv", ROWS)
    read_all(rows).to_parquet(tmp_path / "in.parquet", row_group_size=50)  # several blocks
    score_file(predictor, tmp_path / "in.parquet", tmp_path / "local.parquet")
    completed = run(
        cli_env,
        str(tmp_path / "in.parquet"),
        "-o",
        str(tmp_path / "out") + "/",
        "--engine",
        "dask",
        "--scheduler",
        scheduler,
    )
    assert completed.returncode == 0, completed.stderr
    parts = sorted((tmp_path / "out").iterdir())
    assert len(parts) == -(-(len(ROWS) - 1) // 50)
    assert [p.name for p in parts][:2] == ["part-00000.parquet", "part-00001.parquet"]
    together = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(together, pd.read_parquet(tmp_path / "local.parquet"))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temp folder left


def test_a_bad_row_midway_on_the_cluster_fails_cleanly(scheduler, cli_env, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "Talks resume.\n" * 300 + "a,b\n" + "More talks.\n" * 300)
    (tmp_path / "out.csv").write_text("older result\n")
    completed = run(
        cli_env,
        str(source),
        "-o",
        str(tmp_path / "out.csv"),
        "--engine",
        "dask",
        "--scheduler",
        scheduler,
    )
    assert completed.returncode == 2, completed.stderr
    assert "2 field(s), but the header has 1" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert (tmp_path / "out.csv").read_text() == "older result\n"
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "out.csv"]


def test_the_default_local_cluster_equals_the_local_engine(predictor, cli_env, write_csv, tmp_path):
    source = write_csv("in.csv", ROWS)
    score_file(predictor, source, tmp_path / "local.csv")
    completed = run(cli_env, str(source), "-o", str(tmp_path / "dask.csv"), "--engine", "dask")
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert "scored 488 rows" in completed.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,body\n1,hello\n", "no column 'text' in the input; its columns are: id, body"),
        ("text,label,pred_label\nhello,x,y\n", "already has output column(s) pred_label"),
        ("", "empty file"),
        ("text,text\na,b\n", "the column name(s) 'text' appear twice"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(cli_env, tmp_path, content, message):
    (tmp_path / "in.csv").write_text(content)
    completed = run(
        cli_env, str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"), "--engine", "dask"
    )
    assert completed.returncode == 2
    assert message in completed.stderr and len(completed.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == ["in.csv"]


def test_scheduler_needs_the_dask_engine(cli_env, tmp_path):
    completed = run(cli_env, "in.csv", "-o", "out.csv", "--scheduler", "tcp://127.0.0.1:1")
    assert completed.returncode == 2 and "--engine dask" in completed.stderr


def test_dates_sources_and_actors_on_a_real_cluster_equal_the_local_engine(
    scheduler, predictor, model_dir, cli_env, write_csv, tmp_path
):
    from service.batch import ColumnSpec
    from service.dask_engine import score_file_dask

    from .test_score_columns import ROWS as DATED_ROWS
    from .test_score_columns import read_rows

    source = write_csv("in.csv", DATED_ROWS + DATED_ROWS[1:] * 40)
    options = ["--date-column", "published", "--source-column", "outlet", "--actors"]
    local = run(cli_env, str(source), "-o", str(tmp_path / "local.csv"), *options)
    assert local.returncode == 0, local.stderr
    on_cluster = run(
        cli_env,
        *(str(source), "-o", str(tmp_path / "dask.csv"), *options),
        *("--engine", "dask", "--scheduler", scheduler),
    )
    assert on_cluster.returncode == 0, on_cluster.stderr
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    # Small blocks: many partitions, with edges inside the multi-line sources.
    spec = ColumnSpec(date="published", source="outlet", actors=True)
    blocks = tmp_path / "blocks.csv"
    score_file_dask(predictor, model_dir, source, blocks, spec, scheduler, block_bytes=300)
    assert blocks.read_bytes() == (tmp_path / "local.csv").read_bytes()
    rows = read_rows(tmp_path / "dask.csv")
    assert rows[0][-2:] == ["speaker", "target"]
    assert [row[: len(DATED_ROWS[0])] for row in rows] == read_rows(source)
    # A folder of CSV parts from the cluster makes the same timeline as the local file.
    parts = run(
        cli_env,
        *(str(source), "-o", str(tmp_path / "parts") + "/", *options, "--output-format", "csv"),
        *("--engine", "dask", "--scheduler", scheduler),
    )
    assert parts.returncode == 0, parts.stderr
    for scored, name in ((tmp_path / "local.csv", "one.csv"), (tmp_path / "parts", "parts.csv")):
        made = subprocess.run(
            [*STANCE, "timeline", scored, "-o", tmp_path / name, "--date-column", "published"],
            env=cli_env,
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0, made.stderr
    assert (tmp_path / "parts.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert "USA-CHN" in (tmp_path / "one.csv").read_text()


def rows_or_error(data: bytes) -> list[list[str]] | str:
    try:
        chunks = _read_csv(io.BytesIO(data), "in.csv", 1000, _Position("B"))
        return [row for chunk in chunks for row in zip(*chunk.values, strict=True)]
    except ScoreError as error:
        return str(error)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"a", b"5'11\"", b" ", b",", b'"', b'""', b"\n", b"\r\n", b"\xc3\xa9"]),
        max_size=40,
    ),
    st.integers(1, 20),
    st.integers(1, 9),
)
@example([b"1,5'11\"\n", b'2,"a\nb"\n', b"3,c\n"], 1, 4)
def test_csv_blocks_are_cut_where_the_csv_module_ends_a_record(body, block_bytes, scan_bytes):
    # A bare quote in an unquoted field (5'11") made the count of quotes cut inside a quoted
    # field after it: the blocks, each read after the header, now read as the whole file does.
    if RECORDS is None:
        pytest.skip("service._records is not built (no C compiler)")
    header = b"id,text\n"
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(dask_engine, "SCAN_BYTES", scan_bytes)
        path = Path(folder) / "in.csv"
        path.write_bytes(header + b"".join(body))
        edges = dask_engine._cuts(str(path), len(header), block_bytes, quoted=True)
        data = path.read_bytes()
    whole = rows_or_error(data)
    blocks = [rows_or_error(header + data[a:b]) for a, b in itertools.pairwise(edges)]
    if isinstance(whole, list):
        assert [row for block in blocks for row in block] == whole
    else:
        assert any(isinstance(block, str) for block in blocks)
    assert edges[0] == len(header) and edges[-1] == len(data)
    assert all(b - a >= block_bytes for a, b in itertools.pairwise(edges[:-1]))
