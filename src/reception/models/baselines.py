"""The timing baselines: rules with no learning that say "earlier in the thread is better".

  timing       score = -log(1 + minutes since the thread started)
  timing_rank  score = -log(1 + comments of the thread written before it), its order in the thread

Inside one thread the earliest comments collect most votes, so a rule on timing alone already ranks
comments well; a trained family is worth serving only if it beats these. The raw score has no probability
scale, so each is Platt-calibrated on the rows the baseline is fit on: a rule learns nothing from them,
which makes its scores on those rows as honest as held-out ones. Calibration keeps the order (ROC-AUC).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reception.data.features import minutes_since_thread_start
from reception.models.calibration import PlattCalibrator

TIMING_RULES = {
    "timing": lambda rows: -np.log1p(minutes_since_thread_start(rows["created_utc"], rows["thread_start_utc"])),
    "timing_rank": lambda rows: -np.log1p(np.asarray(rows["comments_before"], dtype="float64")),
}


def timing_baseline(rule: str, train: pd.DataFrame):
    """predict(rows) -> calibrated P(well received) of the rule, calibrated on `train`'s labels."""
    score = TIMING_RULES[rule]
    calibrator = PlattCalibrator().fit(score(train), train["well_received"].to_numpy())
    return lambda rows: calibrator.transform(score(rows))
