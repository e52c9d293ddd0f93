"""processed: label and split into data/processed/{train,val,test}.parquet.

Label (IMEDIA's rule): well_received = score_clipped >= median(score_clipped).
Split (params split.strategy):
  random  stratified on the label, seeded (the seed's protocol)
  thread  whole threads per split: no post_id appears in two splits
  time    whole threads in the order they started (the post's time, else the first comment's): the
          oldest are train, then val, the newest are test: a check forward in time. On few threads it
          mostly measures how the base rate shifts between them; each split's positive share is reported.
Thread folds (split.thread_cv_folds): train+val rows in k folds by thread (post_id), stratified on the
label and seeded, in thread_folds.parquet; every family's grouped cross-validation uses these folds.
`score` and the columns derived from it are kept for analysis only: they are never model inputs.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from reception.data.text import well_received_label, well_received_threshold
from reception.data.thread_order import by_start, summary
from reception.outputs import fresh_dir, write_json
from reception.params import load_params
from reception.paths import CLEAN_COMMENTS, DATA_METRICS, PROCESSED_DIR, THREAD_FOLDS_FILE, split_file, stage_metrics

SPLITS = ("train", "val", "test")
COLUMNS = ["comment_id", "post_id", "subreddit", "clean_text", "score", "score_clipped", "text_len",
           "text_len_clipped", "word_count", "has_exclamation", "has_question", "created_utc",
           "created_dt", "post_created_utc", "post_known", "thread_start_utc", "comments_before", "is_submitter",
           "is_top_level", "well_received"]


def random_split(frame: pd.DataFrame, fractions: dict, seed: int) -> dict[str, pd.DataFrame]:
    holdout = fractions["val"] + fractions["test"]
    train, rest = train_test_split(frame, test_size=holdout, stratify=frame["well_received"], random_state=seed)
    val, test = train_test_split(rest, test_size=fractions["test"] / holdout, stratify=rest["well_received"],
                                 random_state=seed)
    return {"train": train, "val": val, "test": test}


def thread_split(frame: pd.DataFrame, fractions: dict, seed: int, tries: int = 200) -> dict[str, pd.DataFrame]:
    """Whole threads per split, sized as close to the row fractions as seeded random tries get.

    Each try takes the threads in a random order and gives each to the split furthest below its
    target row count; the try closest to the targets wins. Threads differ a lot in size, so one
    greedy pass alone can miss the fractions badly.
    """
    sizes = frame.groupby("post_id").size().sort_index()
    if len(sizes) < len(SPLITS):
        raise SystemExit(f"processed: split.strategy=thread needs >= 3 threads, the data has {len(sizes)}")
    targets = {s: fractions[s] * len(frame) for s in SPLITS}
    rng = np.random.default_rng(seed)
    best, best_error = None, np.inf
    for _ in range(tries):
        filled, owner = dict.fromkeys(SPLITS, 0), {}
        for post_id in rng.permutation(sizes.index.to_numpy()):
            split = max(SPLITS, key=lambda s: targets[s] - filled[s])
            owner[post_id] = split
            filled[split] += int(sizes[post_id])
        error = sum(abs(filled[s] - targets[s]) for s in SPLITS)
        if min(filled.values()) > 0 and error < best_error:
            best, best_error = owner, error
    assigned = frame["post_id"].map(best)
    return {split: frame.loc[assigned == split] for split in SPLITS}


def time_split(frame: pd.DataFrame, fractions: dict, seed: int) -> dict[str, pd.DataFrame]:
    """Threads by start time; each goes to the split its middle row falls in, by the row fractions.

    Every split gets at least one thread: the oldest is always train, the newest test and, if no
    thread fell into val, the one before the newest is val.
    """
    threads = by_start(frame)
    if len(threads) < len(SPLITS):
        raise SystemExit(f"processed: split.strategy=time needs >= 3 threads, the data has {len(threads)}")
    sizes = frame.groupby("post_id").size()[threads].to_numpy()
    middles = (np.cumsum(sizes) - sizes / 2) / len(frame)
    bounds = np.cumsum([fractions["train"], fractions["val"]])
    owner = dict(zip(threads, np.array(SPLITS)[np.searchsorted(bounds, middles, side="right")], strict=True))
    owner[threads[0]], owner[threads[-1]] = "train", "test"
    if "val" not in list(owner.values())[:-1]:
        owner[threads[-2]] = "val"
    assigned = frame["post_id"].map(owner)
    return {split: frame.loc[assigned == split] for split in SPLITS}


def thread_folds(frame: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    """comment_id, post_id, fold: k folds of whole threads, each fold's threads unseen by the others."""
    threads = frame["post_id"].nunique()
    if not 2 <= k <= threads:
        raise SystemExit(f"processed: split.thread_cv_folds must be between 2 and the {threads} threads of "
                         f"train+val, got {k}")
    folds = np.empty(len(frame), dtype="int64")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(frame, frame["well_received"], frame["post_id"])):
        folds[held_out] = fold
    return pd.DataFrame({"comment_id": frame["comment_id"].to_numpy(), "post_id": frame["post_id"].to_numpy(),
                         "fold": folds})


def main() -> None:
    params = load_params("split")
    fractions = {"train": params["train_size"], "val": params["val_size"], "test": params["test_size"]}
    if not np.isclose(sum(fractions.values()), 1.0):
        raise SystemExit(f"processed: split sizes must add up to 1, got {fractions}")
    strategies = {"random": random_split, "thread": thread_split, "time": time_split}
    if params["strategy"] not in strategies:
        raise SystemExit(f"processed: split.strategy must be one of {sorted(strategies)}, got {params['strategy']!r}")

    frame = pd.read_parquet(CLEAN_COMMENTS)
    threshold = well_received_threshold(frame["score_clipped"])
    frame["well_received"] = well_received_label(frame["score_clipped"], threshold)
    frame = frame[COLUMNS].sort_values("comment_id", kind="stable").reset_index(drop=True)
    splits = strategies[params["strategy"]](frame, fractions, params["base"]["seed"])

    fresh_dir(PROCESSED_DIR)
    for name, split in splits.items():
        split.sort_values("comment_id", kind="stable").to_parquet(split_file(name), index=False)
    train_val = pd.concat([splits["train"], splits["val"]]).sort_values("comment_id", kind="stable")
    folds = thread_folds(train_val.reset_index(drop=True), params["thread_cv_folds"], params["base"]["seed"])
    folds.to_parquet(THREAD_FOLDS_FILE, index=False)
    ingest, interim = (json.loads(stage_metrics(stage).read_text()) for stage in ("ingest", "interim"))
    report = {
        "raw_lines": ingest["total"],
        "comments": {
            "raw_lines": ingest["comments"]["lines_read"], "quarantined": ingest["comments"]["quarantined"],
            "duplicates": ingest["comments"]["duplicates"], "kept": ingest["comments"]["kept"],
            **{k: interim[k] for k in ("dropped_immature", "dropped_deleted", "dropped_short_text",
                                       "dropped_short_clean_text")},
            "labelled": len(frame),
        },
        "label": {"rule": "score_clipped >= median(score_clipped)", "threshold": threshold,
                  "positive_share": round(float(frame["well_received"].mean()), 4)},
        "split": {"strategy": params["strategy"], **{name: summary(split) for name, split in splits.items()}},
        "thread_folds": {str(fold): {"rows": len(rows), "threads": int(rows["post_id"].nunique())}
                         for fold, rows in folds.groupby("fold")},
    }
    write_json(DATA_METRICS, report)
    print(json.dumps(report["split"]), f"threshold={threshold}")


if __name__ == "__main__":
    main()
