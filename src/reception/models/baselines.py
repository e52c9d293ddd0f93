"""The baseline families' scorers: what a trained family must beat (params.yaml families.baselines).

  majority        the train majority class for every comment ("always positive" on this data)
  tfidf_logreg    TF-IDF + logistic regression fit on train
  vader           VADER polarity: (compound + 1) / 2, positive when compound >= 0
  timing          -log(1 + minutes since the thread started), Platt-calibrated on train
  timing_rank     -log(1 + comments of the thread written before it), its order in the thread, calibrated too
  <zero-shot>     a declared `checkpoint` (reception.models.zero_shot)

Timing rules: inside one thread the earliest comments collect most votes, so a rule on timing alone already
ranks comments well; a trained family is worth serving only if it beats these. The raw score has no
probability scale, so each is Platt-calibrated on the rows the baseline is fit on: a rule learns nothing from
them, which makes its scores on those rows as honest as held-out ones. Calibration keeps the order (ROC-AUC).
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from reception.data.features import minutes_since_thread_start
from reception.models.calibration import PlattCalibrator
from reception.models.evaluation import split_scores, thread_cv_scores
from reception.models.families import Family

TIMING_RULES = {
    "timing": lambda rows: -np.log1p(minutes_since_thread_start(rows["created_utc"], rows["thread_start_utc"])),
    "timing_rank": lambda rows: -np.log1p(np.asarray(rows["comments_before"], dtype="float64")),
}
EVAL_SPLITS = ("val", "test")


def timing_baseline(rule: str, train: pd.DataFrame):
    """predict(rows) -> calibrated P(well received) of the rule, calibrated on `train`'s labels."""
    score = TIMING_RULES[rule]
    calibrator = PlattCalibrator().fit(score(train), train["well_received"].to_numpy())
    return lambda rows: calibrator.transform(score(rows))


# Each scorer fits on train rows and returns predict(rows) -> P(well received), rows being processed rows.
# `settings`: the family's declaration; `params`: the baselines stage's params (base.seed, zero-shot batching).
def majority(train: pd.DataFrame, settings: dict | None = None, params: dict | None = None):
    positive = float(train["well_received"].mean() >= 0.5)
    return lambda rows: np.full(len(rows), positive)


def fit_tfidf(train: pd.DataFrame, settings: dict, params: dict):
    """The TF-IDF pipeline fit on train: scored here and kept for the service."""
    model = make_pipeline(
        TfidfVectorizer(max_features=settings["max_features"], ngram_range=(1, settings["ngram_max"]),
                        sublinear_tf=True),
        LogisticRegression(C=settings["C"], max_iter=1000, random_state=params["base"]["seed"]))
    return model.fit(train["clean_text"], train["well_received"])


def tfidf_logreg(train: pd.DataFrame, settings: dict, params: dict):
    model = fit_tfidf(train, settings, params)

    def predict(rows: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(rows["clean_text"])[:, 1]
    predict.model = model  # the fit on train, which the stage keeps for the service (minutes on the corpus)
    return predict


def vader(train: pd.DataFrame, settings: dict, params: dict):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return lambda rows: np.array([(analyzer.polarity_scores(t)["compound"] + 1) / 2 for t in rows["clean_text"]])


def zero_shot(train: pd.DataFrame, settings: dict, params: dict):
    # Imported here: torch and transformers load only when a zero-shot family is scored, not wherever the
    # timing rules are read (forward).
    from reception.models.zero_shot import ZeroShotClassifier

    classifier = ZeroShotClassifier(settings["checkpoint"], settings["positive_labels"], params["max_length"],
                                    params["batch_size"])
    return lambda rows: classifier.predict_proba(rows["clean_text"].tolist(), progress=True)


def timing(train: pd.DataFrame, settings: dict, params: dict, rule: str):
    return timing_baseline(rule, train)


# name -> (scorer, fits on train: refit per thread fold); a zero-shot family is any with a checkpoint.
SCORERS = {"majority": (majority, True), "tfidf_logreg": (tfidf_logreg, True), "vader": (vader, False),
           "timing": (partial(timing, rule="timing"), True),
           "timing_rank": (partial(timing, rule="timing_rank"), True)}


def score_baseline(family: Family, params: dict, splits: dict, train_val: pd.DataFrame):
    """(comment_id, split, fold, score of val and test (fit on train) and thread_cv (out-of-fold on train+val by
    thread fold; a scorer that fits nothing is not refit, one that does reports each fold's progress), the
    scorer fit on train). Raises ModelUnavailable for a checkpoint that cannot be loaded."""
    scorer, fits_on_train = (zero_shot, False) if family.zero_shot else SCORERS[family.name]
    build = partial(scorer, settings=family.settings, params=params)
    predict = build(splits["train"])
    frames = [split_scores(splits[s], s, predict(splits[s])) for s in EVAL_SPLITS]

    def fold_scores(fit, held_out):
        fold_predict = build(train_val[fit]) if fits_on_train else predict
        return fold_predict(train_val.loc[held_out])

    progress = f"baselines {family.name} thread CV" if fits_on_train else None
    return pd.concat([*frames, thread_cv_scores(train_val, fold_scores, progress)], ignore_index=True), predict
