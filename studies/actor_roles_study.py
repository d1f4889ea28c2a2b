"""How well model/actors.py finds the speaker and the target: precision and recall per role.

    .venv/bin/python -m studies.actor_roles_study [--errors]

tests/actors/roles.csv holds hand-labelled sentences (text,speaker,target,label; ids as in
model/actors.csv, empty when there is none). A statement's predicted speaker (target) is the
first hint with that role. Precision: right calls / calls made; recall: right calls / sentences
that have one. The rules were tuned on the even rows (0-based) only; the odd rows are held out,
so their figures are the honest ones. The README's table is this script's output.
"""

import sys
import time
from pathlib import Path

import pandas as pd

from model.actors import find_actors, speaker_and_target

ROLES_FILE = Path(__file__).resolve().parent.parent / "tests" / "actors" / "roles.csv"
ROLES = ("speaker", "target")


def read_roles(path: Path = ROLES_FILE) -> pd.DataFrame:
    """Read the role test set (empty cells as empty strings), marking each row dev or held out."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame["half"] = ["dev" if i % 2 == 0 else "held out" for i in range(len(frame))]
    return frame


def predict_roles(texts: pd.Series) -> pd.DataFrame:
    """Return predicted speaker and target ids ("" for none), one row per text."""
    pairs = [speaker_and_target(find_actors(text)) for text in texts]
    return pd.DataFrame(
        [(s or "", t or "") for s, t in pairs], columns=["speaker", "target"], index=texts.index
    )


def role_scores(gold: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Return precision, recall and support of each role."""
    scores = {}
    for role in ROLES:
        made = predicted[role] != ""
        wanted = gold[role] != ""
        right = made & (predicted[role] == gold[role])
        scores[role] = {
            "precision": right.sum() / made.sum() if made.any() else 0.0,
            "recall": right.sum() / wanted.sum() if wanted.any() else 0.0,
            "support": int(wanted.sum()),
        }
    return scores


def main() -> None:
    gold = read_roles()
    find_actors(gold["text"].iloc[0])  # compile the gazetteer first: time the parsing
    started = time.perf_counter()
    predicted = predict_roles(gold["text"])
    per_sentence = (time.perf_counter() - started) / len(gold) * 1e6
    print(f"{len(gold)} sentences in {ROLES_FILE.name}; {per_sentence:.0f} us a sentence\n")
    print("| rows | role | precision | recall | sentences with one |")
    print("| --- | --- | --- | --- | --- |")
    for half in ("held out", "dev", "all"):
        rows = gold.index if half == "all" else gold.index[gold["half"] == half]
        for role, s in role_scores(gold.loc[rows], predicted.loc[rows]).items():
            print(
                f"| {half} ({len(rows)}) | {role} | {s['precision']:.3f} | {s['recall']:.3f} "
                f"| {s['support']} |"
            )
    both = (predicted["speaker"] == gold["speaker"]) & (predicted["target"] == gold["target"])
    print(f"\nboth roles exactly right (empty = empty): {both.mean():.1%} of all sentences")
    if "--errors" in sys.argv:
        dev = gold["half"] == "dev"
        wrong = ~both & dev
        print(f"\ndev errors ({wrong.sum()}):")
        for i in gold.index[wrong]:
            print(
                f"  gold {gold.at[i, 'speaker'] or '-'}->{gold.at[i, 'target'] or '-'}  "
                f"got {predicted.at[i, 'speaker'] or '-'}->{predicted.at[i, 'target'] or '-'}  "
                f"{gold.at[i, 'text']}"
            )


if __name__ == "__main__":
    main()
