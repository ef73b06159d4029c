"""CAIO's local code reviewer: code_review with ruff, no network, no key."""

from caio_local_review.worker import (
    DEFAULT_IGNORE,
    DEFAULT_SELECT,
    LocalReviewSettings,
    LocalReviewWorker,
)

__all__ = ["DEFAULT_IGNORE", "DEFAULT_SELECT", "LocalReviewSettings", "LocalReviewWorker"]
