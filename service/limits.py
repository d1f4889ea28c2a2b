"""What this deployment accepts per request, stated for clients and the page by GET /v1/model."""

from typing import Any

from model.labels import LIMITS


def served_limits(config: dict[str, Any]) -> dict[str, int]:
    """Return the limits the endpoints enforce, as the app's configuration sets them."""
    return {
        "max_texts": int(config["MAX_TEXTS"]),
        "max_text_chars": int(config["MAX_TEXT_CHARS"]),
        "max_document_chars": int(config["MAX_DOCUMENT_CHARS"]),
        # The feedback store refuses longer notes whatever the deployment says.
        "max_note_chars": LIMITS["max_note_chars"],
        "max_body_bytes": int(config["MAX_CONTENT_LENGTH"]),
        "max_timeline_rows": int(config["MAX_TIMELINE_ROWS"]),
    }
