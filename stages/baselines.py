"""baselines: P(well received) on val and test for every family declared in params.yaml families.baselines.

  majority        the train majority class for every comment ("always positive" on this data)
  tfidf_logreg    TF-IDF + logistic regression fit on train
  vader           VADER polarity: (compound + 1) / 2, positive when compound >= 0
  timing          -log(1 + minutes since the thread started), Platt-calibrated on train (reception.models.baselines)
  timing_rank     -log(1 + comments of the thread before it), Platt-calibrated on train
  <zero-shot>     a declared `checkpoint`, loaded by name; one that cannot be loaded is recorded as
                  unavailable with the reason, and the stage goes on

Writes data/predictions/baselines/<family>.parquet (comment_id, split, fold, score) and status.json,
and the TF-IDF model fit on train as models/baselines/tfidf_logreg/model.joblib (the service serves it).
Rows: val and test (fit on train), and thread_cv: out-of-fold scores on train+val by thread fold
(families that fit anything are refit on the other folds; VADER and zero-shot fit nothing).
"""
from __future__ import annotations

from functools import partial

import joblib
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from reception.data.splits import read_split, read_train_val_folds
from reception.models.baselines import timing_baseline
from reception.models.evaluation import thread_cv_scores
from reception.models.families import of_kind
from reception.models.zero_shot import ModelUnavailable, ZeroShotClassifier
from reception.outputs import fresh_dir, write_json
from reception.params import load_params
from reception.paths import MODEL_FILE, family_dir, predictions_dir, predictions_file, status_file

STAGE = "baselines"
EVAL_SPLITS = ("val", "test")


# Each scorer fits on train rows and returns predict(rows) -> P(well received), rows being processed rows.
def majority(train: pd.DataFrame, settings: dict, params: dict):
    positive = float(train["well_received"].mean() >= 0.5)
    return lambda rows: np.full(len(rows), positive)


def fit_tfidf(train: pd.DataFrame, settings: dict, params: dict):
    model = make_pipeline(
        TfidfVectorizer(max_features=settings["max_features"], ngram_range=(1, settings["ngram_max"]),
                        sublinear_tf=True),
        LogisticRegression(C=settings["C"], max_iter=1000, random_state=params["base"]["seed"]))
    return model.fit(train["clean_text"], train["well_received"])


def tfidf_logreg(train: pd.DataFrame, settings: dict, params: dict):
    model = fit_tfidf(train, settings, params)
    return lambda rows: model.predict_proba(rows["clean_text"])[:, 1]


def vader(train: pd.DataFrame, settings: dict, params: dict):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return lambda rows: np.array([(analyzer.polarity_scores(t)["compound"] + 1) / 2 for t in rows["clean_text"]])


def zero_shot(train: pd.DataFrame, settings: dict, params: dict):
    classifier = ZeroShotClassifier(settings["checkpoint"], settings["positive_labels"], params["max_length"],
                                    params["batch_size"])
    return lambda rows: classifier.predict_proba(rows["clean_text"].tolist(), progress=True)


def timing(train: pd.DataFrame, settings: dict, params: dict, rule: str):
    return timing_baseline(rule, train)


# name -> (scorer, fits on train: refit per thread fold); a zero-shot family is any with a checkpoint.
SCORERS = {"majority": (majority, True), "tfidf_logreg": (tfidf_logreg, True), "vader": (vader, False),
           "timing": (partial(timing, rule="timing"), True),
           "timing_rank": (partial(timing, rule="timing_rank"), True)}


def score_family(build, fits_on_train: bool, splits: dict, train_val: pd.DataFrame) -> pd.DataFrame:
    predict = build(splits["train"])
    frames = [pd.DataFrame({"comment_id": splits[s]["comment_id"], "split": s, "fold": -1,
                            "score": predict(splits[s])}) for s in EVAL_SPLITS]

    def fold_scores(fit, held_out):
        fold_predict = build(train_val[fit]) if fits_on_train else predict
        return fold_predict(train_val.loc[held_out])

    return pd.concat([*frames, thread_cv_scores(train_val, fold_scores)], ignore_index=True)


def main() -> None:
    params = load_params(STAGE)
    splits = {s: read_split(s) for s in ("train", *EVAL_SPLITS)}
    train_val = read_train_val_folds()
    fresh_dir(predictions_dir(STAGE))
    status = {}
    for name, family in of_kind("baseline").items():
        scorer, fits_on_train = (zero_shot, False) if family.zero_shot else SCORERS[name]
        model_name = family.settings.get("checkpoint", name)
        try:
            predictions = score_family(partial(scorer, settings=family.settings, params=params), fits_on_train,
                                       splits, train_val)
        except ModelUnavailable as error:
            status[name] = {"status": "unavailable", "model": model_name, "reason": str(error)}
            print(f"baselines {name}: UNAVAILABLE - {error}")
            continue
        predictions.to_parquet(predictions_file(STAGE, name), index=False)
        status[name] = {"status": "ok", "model": model_name}
        print(f"baselines {name}: scored {len(predictions)} rows (val, test, thread_cv)")
    write_json(status_file(STAGE), status)
    # The same (seeded) fit on train as scored above, kept for the service.
    tfidf = of_kind("baseline")["tfidf_logreg"]
    folder = fresh_dir(family_dir(STAGE, tfidf.name))
    joblib.dump(fit_tfidf(splits["train"], tfidf.settings, params), folder / MODEL_FILE)


if __name__ == "__main__":
    main()
