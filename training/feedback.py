"""Only until the CLI split (service/cli/) lands: what service/cli.py imports from here.

The store is model.feedback_store, the training rows training.data.read_feedback; delete this
module once the CLI imports those.
"""

from model.feedback_store import DEFAULT_DB
from model.feedback_store import FeedbackStore as _FeedbackStore
from training.data import read_feedback

__all__ = ["DEFAULT_DB", "FeedbackStore"]


class FeedbackStore(_FeedbackStore):
    def as_training_frame(self):
        return read_feedback(self.path)
