"""finetune: fine-tune the bundled all-MiniLM-L6-v2 with a classification head on train.

Seeded; the GPU is used when present (params finetune.device), in bf16 there. Early stopping on val
ROC-AUC: training stops after `patience` epochs without improvement and keeps the best epoch's weights.
Thread CV: each thread fold is scored by a model fine-tuned on the other folds for the best epoch count
found above (no early stopping there: val is inside the folds).
finetune.max_train_rows: a seeded sample of that many rows per fit (tests); null fits on every row.
Writes models/finetuned_minilm/ (reception.finetuned folder) and data/predictions/finetuned_minilm.parquet.
MLflow: one run with the params, val ROC-AUC per epoch, the best epoch and the timings.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import get_linear_schedule_with_warmup

from reception import finetuned, tracking
from reception.encoder import resolve_device, resolve_model_dir, verify_weights
from reception.evaluation import classification_metrics, thread_cv_scores
from reception.io import fresh_dir, load_params, read_split, read_train_val_folds

FAMILY = "finetuned_minilm"
MODEL_DIR, PREDICTIONS_FILE = Path("models") / FAMILY, Path("data/predictions") / f"{FAMILY}.parquet"


def fit(texts: list[str], labels: np.ndarray, params: dict, device: str, epochs: int, val=None, log=None):
    """Fine-tune a fresh model; with `val` (texts, labels), stop early on its ROC-AUC and report each
    epoch's to `log(auc, epoch)`. -> (model, tokenizer, best epoch)."""
    seed, encoder_dir = params["base"]["seed"], resolve_model_dir(params["encoder"])
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
    for epoch in range(1, epochs + 1):
        model.train()
        for rows in rng.permutation(len(batches)):
            index = batches[rows]
            with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = model(**finetuned.tokenize(tokenizer, [texts[i] for i in index], params["max_length"], device))
            loss = torch.nn.functional.cross_entropy(logits.float(), target[index])
            loss.backward()
            optimizer.step(), schedule.step(), optimizer.zero_grad()
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
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, tokenizer, best_epoch


def main() -> None:
    params = load_params("finetune")
    device = resolve_device(params["device"])
    verify_weights(resolve_model_dir(params["encoder"]), params["sha256"])
    splits = {s: read_split(s, ["comment_id", "clean_text", "sentiment"]) for s in ("train", "val", "test")}
    texts = {s: splits[s]["clean_text"].tolist() for s in splits}
    labels = {s: splits[s]["sentiment"].to_numpy() for s in splits}
    train_val = read_train_val_folds()
    cv_texts, cv_labels = train_val["clean_text"].tolist(), train_val["sentiment"].to_numpy()

    mlflow = tracking.setup(params["base"]["mlflow_experiment"])
    with mlflow.start_run(run_name=f"{FAMILY}_finetune", tags=tracking.run_tags()) as run:
        mlflow.log_params({**{k: v for k, v in params.items() if k != "base"}, "seed": params["base"]["seed"],
                           "device_used": device})
        started = time.perf_counter()
        model, tokenizer, best_epoch = fit(texts["train"], labels["train"], params, device, params["epochs"],
                                           val=(texts["val"], labels["val"]),
                                           log=lambda auc, epoch: mlflow.log_metric("val_roc_auc", auc, step=epoch))
        finetuned.save(model, tokenizer, fresh_dir(MODEL_DIR), params["max_length"])
        frames = [pd.DataFrame({"comment_id": splits[s]["comment_id"], "split": s, "fold": -1,
                                "score": finetuned.predict_proba(model, tokenizer, texts[s], params["max_length"])})
                  for s in ("val", "test")]
        fit_seconds = time.perf_counter() - started

        def fold_scores(fit_rows, held_out):
            fold_model, fold_tokenizer, _ = fit([cv_texts[i] for i in np.flatnonzero(fit_rows)],
                                                cv_labels[fit_rows], params, device, best_epoch)
            return finetuned.predict_proba(fold_model, fold_tokenizer,
                                           [cv_texts[i] for i in np.flatnonzero(held_out)], params["max_length"])

        frames.append(thread_cv_scores(train_val, fold_scores))
        PREDICTIONS_FILE.parent.mkdir(parents=True, exist_ok=True)
        pd.concat(frames, ignore_index=True).to_parquet(PREDICTIONS_FILE, index=False)
        cv_seconds = time.perf_counter() - started - fit_seconds
        # Timings go to MLflow and stdout, not to DVC outputs, so that dvc.lock stays reproducible.
        mlflow.log_metrics({"best_epoch": best_epoch, "fit_seconds": fit_seconds, "thread_cv_seconds": cv_seconds})
    print(f"finetune: best epoch {best_epoch} on {device}; fit + val/test scoring {fit_seconds:.0f} s, "
          f"thread CV {cv_seconds:.0f} s; MLflow run {run.info.run_id}")


if __name__ == "__main__":
    main()
