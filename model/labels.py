"""The one label list and the column names every part of Stance shares."""

# Alphabetical, the order scikit-learn gives `classes_`, so probability columns line up.
LABELS: tuple[str, ...] = ("conciliatory", "neutral", "warning")

TEXT_COLUMN = "text"
LABEL_COLUMN = "label"

# What one request may hold: the API enforces these (configurable per deployment), the feedback
# store refuses longer corrections, and the page reads them from GET /v1/model.
LIMITS: dict[str, int] = {
    "max_texts": 1000,  # statements per predict request
    "max_text_chars": 10_000,  # characters per statement
    "max_document_chars": 100_000,  # characters per analysed document
    "max_note_chars": 1_000,  # characters per feedback note
}
