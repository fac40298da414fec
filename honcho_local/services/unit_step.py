"""What one step (one batch) of a work unit reports back to the unit runner (`Reasoner`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Step:
    """What one batch did: whether the unit may have more to do."""

    more: bool
    model_seconds: float = 0.0
    cards: Callable[[], float] | None = None  # the peer-card refresh this batch calls for (not yet run)
