"""What the file commands accept, without pandas: the CLI names these in its options, and a
command that reads no file (`stance predict`, `--help`) then starts without importing pandas."""

import os

# Rows read and sent to a worker at a time: small enough that the workers start soon and
# finish together, large enough that sending a chunk costs little beside scoring it.
CHUNK_ROWS = 10_000
STDIO = "-"
FORMATS = ("csv", "jsonl", "parquet")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def default_jobs() -> int:
    """Return the number of cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
