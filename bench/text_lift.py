"""Does text lift thread_gbm on unseen threads at corpus scale? The ablation's question for the text, asked outside
the pipeline: the embedding on a sample, a stacked TF-IDF score on samples and on all of train+val (docs/quality.md,
"Does text help at corpus scale?").

On a seeded sample of whole threads of the corpus's train+val rows, with the corpus's own thread folds, each
variant is scored out of fold (fit on four folds, score the fifth) with the corpus's hpo configuration of
thread_gbm (models/train/thread_gbm/best_params.json):

  metadata        thread_gbm on METADATA_FEATURES (what the corpus profile serves)
  +embedding_pca  the same trees, plus PCA(k) of the standardised all-MiniLM-L6-v2 embedding of clean_text
                  (the hybrid builder with a tree head: scaler and PCA are fit on the training folds only)
  +tfidf_score    the same trees, plus one column: the TF-IDF + logistic score of the corpus's tfidf_logreg
                  baseline, stacked without leaking a held-out label. For held-out fold k the column comes from
                  a TF-IDF model fit on the other four folds; for a training row in fold j (j != k) it comes
                  from a model fit on the three folds other than k and j, so no model that scores a row saw
                  its label, and nothing fold k's trees learn from rests on fold k's labels.
Beside them, the timing rule (-log(1 + minutes since thread start)) and the TF-IDF score alone, on the same
rows. Reported per variant: the thread-CV ROC-AUC (fold mean) with its 95 % interval over threads, the
per-fold values and the within-thread ROC-AUC; per text variant, the paired 95 % interval over threads of its
difference from `metadata` (both scored on the same resamples of threads).

Encoding is the cost (tens of texts a second on a busy 2-core CPU), so the sample has two tiers, both whole
threads drawn by one seeded permutation of the train+val threads: the first EMBEDDED_THREADS threads carry
every variant; the first SAMPLE_THREADS (a superset) carry metadata and +tfidf_score, on about 4.5 times the rows.
Each tier fits its own models on its own rows.

Run after `make run-corpus` (or point --root at a checkout that ran it):
    .venv/bin/python bench/text_lift.py --root ../corpus-run        Results: bench/text_lift.json
--threads larger than the train+val threads takes them all; --embedded-threads 0 encodes nothing (TF-IDF only):
    .venv/bin/python bench/text_lift.py --root ../corpus-run --threads 20000 --embedded-threads 0 \
        --out bench/text_lift_full.json
"""
from __future__ import annotations

import argparse
import json
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from reception.data.features import metadata_features
from reception.data.thread_context import CONTEXT_COLUMNS
from reception.models.baselines import TIMING_RULES, fit_tfidf
from reception.models.encoder import encode, load_encoder, resolve_model_dir
from reception.models.evaluation import (
    fold_roc_auc,
    fold_roc_auc_interval,
    out_of_fold_scores,
    paired_difference_interval,
    within_thread_roc_auc,
)
from reception.models.families import build, fit_quietly
from reception.params import all_params
from reception.paths import PARAMS_FILE, THREAD_FOLDS_FILE, split_file

RESULTS = Path("bench/text_lift.json")
SAMPLE_THREADS, EMBEDDED_THREADS = 2500, 600
PCA_COMPONENTS = (16, 32)
RATE_TEXTS = 1000  # the encode rate is measured on the first texts, before the rest are encoded
COLUMNS = ["comment_id", "post_id", "clean_text", "well_received", "text_len", "word_count", "has_exclamation",
           "has_question", "created_utc", "thread_start_utc", "is_top_level", *CONTEXT_COLUMNS]


def train_val_rows(root: Path) -> pd.DataFrame:
    """The corpus's train+val rows with their thread fold."""
    rows = pd.concat([pd.read_parquet(root / split_file(s), columns=COLUMNS) for s in ("train", "val")],
                     ignore_index=True)
    folds = pd.read_parquet(root / THREAD_FOLDS_FILE, columns=["comment_id", "fold"])
    return rows.merge(folds, on="comment_id", how="inner", validate="one_to_one")


def thread_sample(rows: pd.DataFrame, n_threads: int, seed: int) -> np.ndarray:
    """The first n_threads of a seeded permutation of the sorted thread ids: a smaller sample drawn with the
    same seed is a subset of a larger one."""
    threads = np.sort(rows["post_id"].unique())
    return np.random.default_rng(seed).permutation(threads)[:n_threads]


def stacked_tfidf(rows: pd.DataFrame, settings: dict, params: dict) -> tuple[np.ndarray, dict]:
    """(held-out column, training columns): the held-out column scores each row by a TF-IDF model fit on the
    other folds; training_columns[k] scores each row outside fold k by a model fit on the folds other than k
    and the row's own. The model fit without folds {j, k} scores training rows of both outer folds j and k,
    so 10 + 5 fits cover 5 folds."""
    folds = rows["fold"].to_numpy()
    names = sorted(np.unique(folds))
    held_out = np.empty(len(rows))
    for k in names:
        held = folds == k
        held_out[held] = fit_tfidf(rows[~held], settings, params).predict_proba(rows.loc[held, "clean_text"])[:, 1]
    training = {k: np.full(len(rows), np.nan) for k in names}
    for j, k in combinations(names, 2):
        left_out = (folds == j) | (folds == k)
        model = fit_tfidf(rows[~left_out], settings, params)
        for outer, own in ((k, j), (j, k)):
            training[outer][folds == own] = model.predict_proba(rows.loc[folds == own, "clean_text"])[:, 1]
    return held_out, training


def out_of_fold_with_column(make, X: np.ndarray, y: np.ndarray, folds: np.ndarray, held_out: np.ndarray,
                            training: dict) -> np.ndarray:
    """out_of_fold_scores with one extra column whose values depend on the outer fold (stacked_tfidf)."""
    oof = np.empty(len(y))
    for k in np.unique(folds):
        held = folds == k
        fit = fit_quietly(make(), np.column_stack([X[~held], training[k][~held]]), y[~held])
        oof[held] = fit.predict_proba(np.column_stack([X[held], held_out[held]]))[:, 1]
    return oof


def scored(y: np.ndarray, score: np.ndarray, folds: np.ndarray, threads: np.ndarray, seed: int) -> dict:
    per_fold = [round(fold_roc_auc(y[folds == f], score[folds == f], folds[folds == f]), 4) for f in np.unique(folds)]
    interval = fold_roc_auc_interval(y, score, folds, threads, seed)
    within = within_thread_roc_auc(y, score, threads)
    return {"thread_cv_roc_auc": round(fold_roc_auc(y, score, folds), 4),
            "interval": [round(interval["low"], 4), round(interval["high"], 4)], "per_fold": per_fold,
            "within_thread_roc_auc": round(within["mean"], 4), "within_thread_threads": within["threads"]}


def tier(rows: pd.DataFrame, embeddings: np.ndarray | None, config: dict, tfidf_settings: dict, params: dict,
         seed: int) -> dict:
    """Every variant this tier's rows carry, scored out of fold, and each text variant's paired difference."""
    y, folds, threads = rows["well_received"].to_numpy(), rows["fold"].to_numpy(), rows["post_id"].to_numpy()
    metadata = metadata_features(rows)
    seconds, scores = {}, {}

    def timed(name, compute):
        started = time.perf_counter()
        scores[name] = compute()
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"  {name}: fold-mean ROC-AUC {fold_roc_auc(y, scores[name], folds):.4f} ({seconds[name]} s)",
              flush=True)

    def trees(embedding_components: int, embedding_dim: int):
        return lambda: build("hybrid", {"embedding_components": embedding_components,
                                        "classifier": {"kind": "hist_gradient_boosting", **config}},
                             seed, embedding_dim)

    timed("timing_rule", lambda: TIMING_RULES["timing"](rows))
    timed("metadata", lambda: out_of_fold_scores(lambda: build("thread_gbm", config, seed, 0), fit_quietly,
                                                 metadata, y, folds))
    if embeddings is not None:
        X = np.hstack([embeddings.astype("float64"), metadata])
        for k in PCA_COMPONENTS:
            timed(f"+embedding_pca{k}", lambda k=k: out_of_fold_scores(trees(k, embeddings.shape[1]), fit_quietly,
                                                                       X, y, folds))
    started = time.perf_counter()
    held_out, training = stacked_tfidf(rows, tfidf_settings, params)
    seconds["tfidf_stacking"] = round(time.perf_counter() - started, 1)
    scores["tfidf_alone"] = held_out
    timed("+tfidf_score", lambda: out_of_fold_with_column(lambda: build("thread_gbm", config, seed, 0), metadata, y,
                                                          folds, held_out, training))
    variants = {name: scored(y, score, folds, threads, seed) for name, score in scores.items()}
    differences = {}
    for name in [n for n in scores if n.startswith("+")]:
        paired = paired_difference_interval(y, scores[name], scores["metadata"], folds, threads, seed)
        differences[f"{name} - metadata"] = {
            "thread_cv_roc_auc": round(paired["difference"], 4),
            "interval": [round(paired["low"], 4), round(paired["high"], 4)],
            "within_thread_roc_auc": round(variants[name]["within_thread_roc_auc"]
                                           - variants["metadata"]["within_thread_roc_auc"], 4)}
    return {"threads": int(len(np.unique(threads))), "comments": int(len(rows)),
            "positive_share": round(float(y.mean()), 4),
            "comments_per_fold": {str(f): int((folds == f).sum()) for f in np.unique(folds)},
            "variants": variants, "differences": differences, "seconds": seconds}


def embed(texts: list[str], params: dict) -> tuple[np.ndarray, dict]:
    """The texts' all-MiniLM-L6-v2 vectors, the encoder the pipeline configures, and the measured rate: the
    first RATE_TEXTS alone first (what decides the sample size), then the rest."""
    import torch

    torch.set_num_threads(1)  # measured no slower than two on the busy 2-core machine
    encoder_params = params["encoder"]
    encoder = load_encoder(resolve_model_dir(encoder_params["model"]), encoder_params["sha256"], "cpu")
    batch = params["embed"]["batch_size"]
    started = time.perf_counter()
    first = encode(encoder, texts[:RATE_TEXTS], batch)
    first_s = time.perf_counter() - started
    print(f"encode: {len(first)} texts in {first_s:.1f} s ({len(first) / first_s:.1f} texts/s); "
          f"{len(texts) - len(first)} to go", flush=True)
    rest = encode(encoder, texts[RATE_TEXTS:], batch, progress="encode") if len(texts) > RATE_TEXTS \
        else first[:0]
    total_s = time.perf_counter() - started
    return np.vstack([first, rest]), {
        "model": encoder_params["model"], "device": "cpu", "torch_threads": 1, "batch_size": batch,
        "rate_first_texts": {"texts": len(first), "seconds": round(first_s, 1),
                             "texts_per_s": round(len(first) / first_s, 1)},
        "texts": len(texts), "seconds": round(total_s, 1), "texts_per_s": round(len(texts) / total_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the checkout that ran `make run-corpus` (its data/processed, models, params.yaml)")
    parser.add_argument("--threads", type=int, default=SAMPLE_THREADS)
    parser.add_argument("--embedded-threads", type=int, default=EMBEDDED_THREADS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    params = all_params(args.root / PARAMS_FILE)
    if params["base"].get("profile") != "corpus":
        raise SystemExit(f"{args.root / PARAMS_FILE} is not the corpus profile (base.profile "
                         f"{params['base'].get('profile')!r}): run `make run-corpus` there first")
    seed = params["base"]["seed"]
    config = json.loads((args.root / "models/train/thread_gbm/best_params.json").read_text())
    tfidf_settings = params["families"]["baselines"]["tfidf_logreg"]
    started = time.perf_counter()
    rows = train_val_rows(args.root)
    sample = thread_sample(rows, args.threads, seed)
    embedded_threads = sample[:args.embedded_threads]
    results = {"question": "does text lift thread_gbm (hpo configuration) on unseen threads at corpus scale?",
               "command": f"bench/text_lift.py --root {args.root} --threads {args.threads} "
                          f"--embedded-threads {args.embedded_threads}",
               "seed": seed, "thread_gbm_config": config, "tfidf_logreg": tfidf_settings,
               "pca_components": list(PCA_COMPONENTS),
               "train_val": {"threads": int(rows["post_id"].nunique()), "comments": len(rows)}, "tiers": {}}
    # BLAS and OpenMP on one thread each: the machine's cores are shared with running pipelines.
    with threadpool_limits(limits=1):
        if len(embedded_threads):  # --embedded-threads 0: TF-IDF only (no encoding)
            embedded = rows[rows["post_id"].isin(embedded_threads)].reset_index(drop=True)
            vectors, results["encoder"] = embed(embedded["clean_text"].tolist(), params)
            print(f"tier embedded: {len(embedded_threads)} threads, {len(embedded)} comments", flush=True)
            results["tiers"]["embedded"] = tier(embedded, vectors, config, tfidf_settings, params, seed)
        sampled = rows[rows["post_id"].isin(sample)].reset_index(drop=True)
        print(f"tier sample: {len(sample)} threads, {len(sampled)} comments", flush=True)
        results["tiers"]["sample"] = tier(sampled, None, config, tfidf_settings, params, seed)
    results["seconds_total"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({name: t["differences"] for name, t in results["tiers"].items()}, indent=2))


if __name__ == "__main__":
    main()
