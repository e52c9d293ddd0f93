"""Fine-tuning the encoder (params `encoder`) with a classification head (reception.models.finetuned), for the
finetune stage.

Seeded. Early stopping on val ROC-AUC: training stops after `patience` epochs without improvement and keeps
the best epoch's weights. Thread CV: each thread fold is scored by a model fine-tuned on the other folds for
the best epoch count found above (no early stopping there: val is inside the folds).
Calibration (reception.models.calibration, as the other trained families): the served model's P(well
received) is Platt-calibrated on the out-of-fold scores of its training rows' thread folds, and each thread-CV
fold on the out-of-fold scores of its own training folds (inner fits), so no held-out label calibrates its own
score. Each calibration costs one fine-tune per thread fold; the map is saved in the model folder.
finetune.max_train_rows: a seeded sample of that many rows per fit (tests); null fits on every row.
Progress: one bar per fit over its optimiser steps, with an ETA.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from reception.models import finetuned, tracking
from reception.models.calibration import calibrated_fit, out_of_fold_calibrator
from reception.models.encoder import resolve_model_dir
from reception.models.evaluation import classification_metrics, split_scores, thread_cv_scores


def chosen_device(setting: str) -> str | None:
    """The device to fine-tune on, or None to skip (auto without a GPU)."""
    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else None


def fit(texts: list[str], labels: np.ndarray, params: dict, device: str, epochs: int, val=None, log=None,
        what: str = "fit"):
    """Fine-tune a fresh model; with `val` (texts, labels), stop early on its ROC-AUC and report each
    epoch's to `log(auc, epoch)`. -> (model, tokenizer, best epoch)."""
    seed, encoder_dir = params["base"]["seed"], resolve_model_dir(params["encoder"]["model"])
    rng = np.random.default_rng(seed)
    if params["max_train_rows"] and len(texts) > params["max_train_rows"]:
        keep = np.sort(rng.choice(len(texts), params["max_train_rows"], replace=False))
        texts, labels = [texts[i] for i in keep], labels[keep]
    torch.manual_seed(seed)
    model, tokenizer = finetuned.from_encoder(encoder_dir, device)
    batches = finetuned.length_sorted_batches(tokenizer, texts, params["batch_size"], params["max_length"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=params["lr"], weight_decay=0.01)
    steps = epochs * len(batches)
    schedule = get_linear_schedule_with_warmup(optimizer, int(params["warmup_share"] * steps), steps)
    target = torch.tensor(labels, dtype=torch.long, device=device)
    best_auc, best_state, best_epoch = -np.inf, None, epochs
    bar = tqdm(total=steps, desc=f"finetune {what}", unit="step")
    for epoch in range(1, epochs + 1):
        model.train()
        for rows in rng.permutation(len(batches)):
            index = batches[rows]
            with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = model(**finetuned.tokenize(tokenizer, [texts[i] for i in index], params["max_length"], device))
            loss = torch.nn.functional.cross_entropy(logits.float(), target[index])
            loss.backward()
            optimizer.step(), schedule.step(), optimizer.zero_grad()
            bar.update()
        if val is None:
            continue
        auc = classification_metrics(val[1], finetuned.predict_proba(model, tokenizer, val[0], params["max_length"]))[
            "roc_auc"]
        print(f"finetune epoch {epoch}: val ROC-AUC {auc:.4f}")
        log(auc, epoch)
        if auc > best_auc:
            best_auc, best_epoch = auc, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= params["patience"]:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, tokenizer, best_epoch


class FineTuner:
    """fit/predict_proba over arrays of cleaned texts, as reception.models.calibration expects of a model."""

    def __init__(self, params: dict, device: str, epochs: int, what: str):
        self.params, self.device, self.epochs, self.what = params, device, epochs, what

    def predict_proba(self, texts) -> np.ndarray:
        p = finetuned.predict_proba(self.model, self.tokenizer, list(texts), self.params["max_length"])
        return np.column_stack([1 - p, p])


def fit_tuner(tuner: FineTuner, texts, labels) -> FineTuner:
    tuner.model, tuner.tokenizer, _ = fit(list(texts), labels, tuner.params, tuner.device, tuner.epochs,
                                          what=tuner.what)
    return tuner


def finetune_family(family: str, params: dict, device: str, splits: dict[str, pd.DataFrame],
                    train_val: pd.DataFrame, mlflow, model_dir: Path) -> tuple[pd.DataFrame, dict]:
    """Fine-tune on train (early stopping on val), calibrate, save the model to `model_dir`; score val, test and
    the thread folds. MLflow: one run with the params, val ROC-AUC per epoch, the best epoch and the timings.
    -> (the predictions: comment_id, split, fold, score; the best epoch, timings and MLflow run id)."""
    texts = {s: splits[s]["clean_text"].tolist() for s in splits}
    labels = {s: splits[s]["well_received"].to_numpy() for s in splits}
    cv_texts, cv_labels = train_val["clean_text"].tolist(), train_val["well_received"].to_numpy()

    with mlflow.start_run(run_name=f"{family}_finetune", tags=tracking.run_tags()) as run:
        mlflow.log_params({**{k: v for k, v in params.items() if k not in ("base", "encoder")},
                           "encoder": params["encoder"]["model"], "seed": params["base"]["seed"],
                           "device_used": device})
        started = time.perf_counter()
        model, tokenizer, best_epoch = fit(texts["train"], labels["train"], params, device, params["epochs"],
                                           val=(texts["val"], labels["val"]),
                                           log=lambda auc, epoch: mlflow.log_metric("val_roc_auc", auc, step=epoch))
        train_texts = np.asarray(texts["train"], dtype=object)
        train_folds = train_val["fold"].to_numpy()[:len(train_texts)]  # train rows come first in the folds
        platt = out_of_fold_calibrator(lambda: FineTuner(params, device, best_epoch, "calibration fold"), fit_tuner,
                                       train_texts, labels["train"], train_folds)
        model.platt = platt.slope_intercept
        finetuned.save(model, tokenizer, model_dir, params["max_length"])
        frames = [split_scores(splits[s], s, finetuned.predict_proba(model, tokenizer, texts[s], params["max_length"]))
                  for s in ("val", "test")]
        fit_seconds = time.perf_counter() - started
        cv_texts_array, cv_folds = np.asarray(cv_texts, dtype=object), train_val["fold"].to_numpy()

        def fold_scores(fit_rows, held_out):
            fold = int(train_val.loc[held_out, "fold"].iloc[0])
            calibrated = calibrated_fit(lambda: FineTuner(params, device, best_epoch, f"thread fold {fold}"),
                                        fit_tuner, cv_texts_array[fit_rows], cv_labels[fit_rows], cv_folds[fit_rows])
            return calibrated.predict_proba(cv_texts_array[held_out])[:, 1]

        frames.append(thread_cv_scores(train_val, fold_scores))
        cv_seconds = time.perf_counter() - started - fit_seconds
        # Timings go to MLflow and stdout, not to DVC outputs, so that dvc.lock stays reproducible.
        mlflow.log_metrics({"best_epoch": best_epoch, "fit_seconds": fit_seconds, "thread_cv_seconds": cv_seconds,
                            "platt_slope": model.platt[0], "platt_intercept": model.platt[1]})
    return pd.concat(frames, ignore_index=True), {"best_epoch": best_epoch, "fit_seconds": fit_seconds,
                                                  "thread_cv_seconds": cv_seconds, "mlflow_run_id": run.info.run_id}
