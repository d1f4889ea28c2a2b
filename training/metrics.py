"""The figures every evaluation shares: accuracy, macro-F1, per-class scores, confusion matrix."""

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from model.labels import LABELS


def metrics(true_labels: pd.Series, predicted: np.ndarray) -> dict[str, Any]:
    """Return accuracy, macro-F1, per-class figures and the confusion matrix (rows: truth)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        true_labels, predicted, labels=list(LABELS), zero_division=0
    )
    return {
        "n": len(true_labels),
        "accuracy": round(float(accuracy_score(true_labels, predicted)), 4),
        "macro_f1": round(float(f1_score(true_labels, predicted, average="macro")), 4),
        "per_class": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(LABELS)
        },
        "confusion_matrix": {
            "labels": list(LABELS),
            "rows_true_columns_predicted": confusion_matrix(
                true_labels, predicted, labels=list(LABELS)
            ).tolist(),
        },
    }
