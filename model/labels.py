"""The one label list and the column names every part of Stance shares."""

# Alphabetical, the order scikit-learn gives `classes_`, so probability columns line up.
LABELS: tuple[str, ...] = ("conciliatory", "neutral", "warning")

TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
