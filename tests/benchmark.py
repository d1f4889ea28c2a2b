"""Benchmark batch scoring against the floor no scorer can beat, side by side in one run.

    .venv/bin/python tests/benchmark.py [--rows 100000]

Each stage runs in its own process so that its peak memory (max RSS) is its own:
  floor  reads the CSV in the same chunks and tokenises the text with the model's own analyzer;
  score  the real `score_file`: read, predict, write.
It also prints the in-process latency of one single-text prediction.
"""

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from model import Predictor
from service.batch import CHUNK_ROWS, score_file

MODEL_DIR = Path(os.environ.get("STANCE_MODEL_DIR", "artifacts"))

OPENINGS = [
    "The foreign ministry said",
    "Officials in the capital warned",
    "Both leaders agreed",
    "A spokesperson confirmed",
    "The delegation announced",
    "Analysts noted",
]
MIDDLES = [
    "that the border talks",
    "that new sanctions",
    "that the joint exercises",
    "that the humanitarian corridor",
    "that the trade agreement",
    "that the ceasefire",
]
ENDINGS = [
    "would resume next week.",
    "would be met with countermeasures.",
    "showed a shared commitment to peace.",
    "were scheduled for Monday in Geneva.",
    "must stop immediately or face consequences.",
    "had been extended by six months.",
]


def write_input(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(rows):
            text = f"{rng.choice(OPENINGS)} {rng.choice(MIDDLES)} {rng.choice(ENDINGS)} ({i})"
            writer.writerow([i, text])


def stage_floor(source: Path) -> dict:
    analyzer = Predictor.load_current(MODEL_DIR).pipeline.named_steps["tfidf"].build_analyzer()
    started, tokens = time.perf_counter(), 0
    for chunk in pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS):
        tokens += sum(len(analyzer(text)) for text in chunk["text"])
    return {"seconds": time.perf_counter() - started, "tokens": tokens}


def stage_score(source: Path) -> dict:
    predictor = Predictor.load_current(MODEL_DIR)
    with tempfile.TemporaryDirectory() as folder:
        summary = score_file(predictor, source, Path(folder) / "out.csv")
    return {"seconds": summary.seconds}


def run_stage(stage: str, source: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--stage", stage, "--input", str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


def single_text_latency(repeats: int = 300) -> tuple[float, float]:
    predictor = Predictor.load_current(MODEL_DIR)
    text = "Beijing warned that the arms sale would seriously damage relations."
    predictor.predict([text])
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        predictor.predict([text])
        timings.append(time.perf_counter() - started)
    timings.sort()
    return statistics.median(timings) * 1000, timings[int(0.99 * len(timings))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--stage", choices=["floor", "score"])
    parser.add_argument("--input", type=Path)
    args = parser.parse_args()
    if args.stage:
        result = {"floor": stage_floor, "score": stage_score}[args.stage](args.input)
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "input.csv"
        write_input(source, args.rows)
        size_mib = source.stat().st_size / 2**20
        print(f"input: {args.rows:,} rows, {size_mib:.1f} MiB; model in {MODEL_DIR}")
        results = {stage: run_stage(stage, source) for stage in ("floor", "score")}
    print(f"{'stage':<36}{'rows/s':>12}{'seconds':>10}{'peak MiB':>10}")
    for stage, label in (("floor", "floor: read CSV + tokenise"), ("score", "stance score")):
        r = results[stage]
        print(
            f"{label:<36}{args.rows / r['seconds']:>12,.0f}{r['seconds']:>10.2f}"
            f"{r['peak_rss_mib']:>10.0f}"
        )
    ratio = results["score"]["seconds"] / results["floor"]["seconds"]
    print(f"scoring takes {ratio:.2f}x the floor's time")
    median_ms, p99_ms = single_text_latency()
    print(f"single-text predict, in process: median {median_ms:.2f} ms, p99 {p99_ms:.2f} ms")


if __name__ == "__main__":
    main()
