"""baselines: P(well received) on val, test and the thread folds for every family declared in params.yaml
families.baselines (their scorers: reception.models.baselines).

Writes data/predictions/baselines/<family>.parquet (comment_id, split, fold, score) and status.json (a
zero-shot checkpoint that cannot be loaded is recorded as unavailable with the reason, and the stage goes
on), and the TF-IDF model fit on train as models/baselines/tfidf_logreg/model.joblib (the service serves it).
"""
from __future__ import annotations

import joblib

from reception.data.splits import read_split, read_train_val_folds
from reception.models.baselines import EVAL_SPLITS, score_baseline
from reception.models.families import of_kind
from reception.models.zero_shot import ModelUnavailable
from reception.outputs import fresh_dir, write_json
from reception.params import load_params
from reception.paths import MODEL_FILE, family_dir, predictions_dir, predictions_file, status_file
from reception.progress import Progress

STAGE = "baselines"


def main() -> None:
    params = load_params(STAGE)
    splits = {s: read_split(s) for s in ("train", *EVAL_SPLITS)}
    train_val = read_train_val_folds()
    fresh_dir(predictions_dir(STAGE))
    status, families = {}, of_kind("baseline")
    progress = Progress("baselines", len(families), "families")
    for name, family in families.items():
        model_name = family.settings.get("checkpoint", name)
        try:
            predictions, fitted_on_train = score_baseline(family, params, splits, train_val)
        except ModelUnavailable as error:
            status[name] = {"status": "unavailable", "model": model_name, "reason": str(error)}
            print(f"baselines {name}: UNAVAILABLE - {error}")
            progress.advance()
            continue
        predictions.to_parquet(predictions_file(STAGE, name), index=False)
        if name == "tfidf_logreg":  # the fit on train that scored val and test, kept for the service
            joblib.dump(fitted_on_train.model, fresh_dir(family_dir(STAGE, name)) / MODEL_FILE)
        status[name] = {"status": "ok", "model": model_name}
        print(f"baselines {name}: scored {len(predictions)} rows (val, test, thread_cv)")
        progress.advance()
    write_json(status_file(STAGE), status)


if __name__ == "__main__":
    main()
