"""What a served model says of one request record: the one shape every scorer returns (the registered
model, a zero-shot checkpoint) and the service's answers and prediction log read."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScoredRecord:
    score: float  # P(well received)
    inputs_used: dict[str, dict]  # what the model read: {input: {"value", "source": "request" | "default: ..."}}
    contributions: list[dict]  # why: each input group's share of the logit, largest first; [] without attribution
    vector: np.ndarray | None  # the sentence embedding (the prediction log projects it); None without one
