"""The GPU paths of the pipeline, timed: `embed` and `finetune` exactly as their stages run them, on CUDA.

Runs the stages' own code (reception.models.encoder, reception.models.finetuning's `fit` and thread CV) on the processed
splits with the params in params.yaml, without DVC or MLflow, so that it runs on a machine that has only
PyTorch, transformers and sentence-transformers (a lent GPU machine). Reports, as JSON:
  embed     seconds per split and texts/s, and the largest difference from the committed CPU embeddings
  finetune  the early-stopped fit (seconds, best epoch, val ROC-AUC per epoch) and the thread CV (seconds,
            fold-mean ROC-AUC): the whole stage's work
Usage (the repository root as working directory, data/processed and data/embeddings present):
  python bench/gpu_check.py --model-dir <folder of all-MiniLM-L6-v2> --out gpu.json
The weights' sha256 is checked against params.yaml first, as every stage does.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from reception.data.splits import read_embeddings, read_split, read_train_val_folds
from reception.models import finetuned
from reception.models.encoder import encode, load_encoder
from reception.models.evaluation import classification_metrics, fold_roc_auc, thread_cv_scores
from reception.models.finetuning import fit
from reception.params import load_params


def embed(model_dir: Path, sha256: str, batch_size: int) -> dict:
    encoder = load_encoder(model_dir, sha256, "cuda")
    report = {}
    for split in ("train", "val", "test"):
        texts = read_split(split, ["clean_text"])["clean_text"].tolist()
        torch.cuda.synchronize()
        started = time.perf_counter()
        vectors = encode(encoder, texts, batch_size)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        report[split] = {"texts": len(texts), "seconds": round(seconds, 3), "texts_per_s": round(len(texts) / seconds),
                         "max_abs_diff_from_cpu": float(np.abs(vectors - read_embeddings(split)).max())}
    return report


def finetune(params: dict) -> dict:
    splits = {s: read_split(s, ["clean_text", "well_received"]) for s in ("train", "val")}
    val_aucs = []
    started = time.perf_counter()
    texts = {s: splits[s]["clean_text"].tolist() for s in splits}
    labels = {s: splits[s]["well_received"].to_numpy() for s in splits}
    model, tokenizer, best_epoch = fit(texts["train"], labels["train"], params, "cuda", params["epochs"],
                                       val=(texts["val"], labels["val"]),
                                       log=lambda auc, epoch: val_aucs.append(round(auc, 4)))
    fit_seconds = time.perf_counter() - started
    train_val = read_train_val_folds()
    texts, labels = train_val["clean_text"].tolist(), train_val["well_received"].to_numpy()

    def fold_scores(fit_rows, held_out):
        fold_model, fold_tokenizer, _ = fit([texts[i] for i in np.flatnonzero(fit_rows)], labels[fit_rows], params,
                                            "cuda", best_epoch, what="thread fold")
        return finetuned.predict_proba(fold_model, fold_tokenizer, [texts[i] for i in np.flatnonzero(held_out)],
                                       params["max_length"])

    started = time.perf_counter()
    oof = thread_cv_scores(train_val, fold_scores)
    cv_seconds = time.perf_counter() - started
    merged = oof.merge(train_val[["comment_id", "well_received"]], on="comment_id")
    return {"fit_seconds": round(fit_seconds, 1), "best_epoch": best_epoch, "val_roc_auc_per_epoch": val_aucs,
            "thread_cv_seconds": round(cv_seconds, 1),
            "thread_cv_roc_auc_mean": round(fold_roc_auc(merged["well_received"].to_numpy(), merged["score"].to_numpy(),
                                                         merged["fold"].to_numpy()), 4),
            "thread_cv_f1": round(classification_metrics(merged["well_received"], merged["score"])["f1"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device")
    encoder = load_params("encoder")
    params = {**load_params("finetune"), "encoder": {**encoder, "model": str(args.model_dir)}}
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "embed": embed(args.model_dir, encoder["sha256"], load_params("embed")["batch_size"])}
    print(json.dumps(report, indent=2), flush=True)
    report["finetune"] = finetune(params)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
