"""Does who is talking to whom lift thread_gbm inside a thread? A measurement for the within-thread target, outside
the pipeline (docs/quality.md, "Inside a thread: who replies to whom").

Inside one thread the metadata trees rank comments no better than the timing rule ("earlier is better"). The
thread context knows where a comment sits, not who wrote what. A conversation group, rebuilt like the thread
context from the comments written before each one (their pseudonymised authors: no identity, only equality):

  author_earlier_comments   comments of the thread its author wrote before it (log1p)
  replies_back              it answers a reply to its own author's comment (the parent's parent has its
                            author): the back-and-forth of an exchange
  replies_to_submitter      its parent comment was written by the thread's submitter
  parent_author_earlier     comments of the thread the parent's author wrote before it (log1p)

An author pseudonym that holds more than UNKNOWN_AUTHOR_COMMENTS comments of the corpus (deleted accounts share
one) counts as unknown: no equality is drawn from it. On all of the corpus's train+val, with its thread folds and
the hpo configuration of thread_gbm, both inputs are scored out of fold (fit on four folds, score the fifth):
the metadata alone (what the profile serves) and the metadata plus the conversation group; reported: the
fold-mean and within-thread ROC-AUC, the paired 95 % interval over threads of the difference, and the timing
rule beside them. Then the leave-one-subreddit-out view as the pipeline's (every split's rows, each subreddit
with at least heldout.subreddit_min_threads threads of heldout.long_thread_comments labelled comments held out
in turn and scored by fits on the others): both variants' ROC-AUC per subreddit beside the timing rule's.

Run after `make run-corpus` (or point --root at a checkout that ran it):
    .venv/bin/python bench/author_lift.py --root ../corpus-run        Results: bench/author_lift.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from text_lift import COLUMNS, scored, train_val_rows
from threadpoolctl import threadpool_limits

from reception.data.features import metadata_features
from reception.data.splits import SPLITS
from reception.models.baselines import TIMING_RULES
from reception.models.evaluation import (
    fold_roc_auc,
    long_threads,
    out_of_fold_scores,
    paired_difference_interval,
)
from reception.models.families import build, fit_quietly
from reception.models.heldout import subreddit_summary
from reception.params import all_params
from reception.paths import PARAMS_FILE, SILVER_COMMENTS, split_file

RESULTS = Path("bench/author_lift.json")
UNKNOWN_AUTHOR_COMMENTS = 5000
CONVERSATION = ("author_earlier_comments", "replies_back", "replies_to_submitter", "parent_author_earlier")


def conversation(comments: pd.DataFrame) -> pd.DataFrame:
    """CONVERSATION per comment of the silver comments (every comment, deleted ones included), by comment_id;
    each counts only comments written before it."""
    frame = comments.copy()
    counts = frame["author"].value_counts()
    frame["author"] = frame["author"].where(~frame["author"].isin(counts.index[counts > UNKNOWN_AUTHOR_COMMENTS]))
    frame = frame.sort_values(["post_id", "created_utc", "comment_id"], ignore_index=True)
    known = frame["author"].notna()
    frame["author_earlier"] = 0.0
    frame.loc[known, "author_earlier"] = frame[known].groupby(["post_id", "author"]).cumcount().astype(float)
    by_id = frame.set_index("comment_id")
    parent = frame["parent_id"].str.removeprefix("t1_").where(frame["parent_id"].str.startswith("t1_"))
    parent_author = parent.map(by_id["author"])
    grandparent = parent.map(by_id["parent_id"])
    grandparent = grandparent.str.removeprefix("t1_").where(grandparent.str.startswith("t1_", na=False))
    grandparent_author = grandparent.map(by_id["author"])
    # the parent's author's comments written before this one: the author's comments (events) and the queries in
    # one sort, a query before the events of its own second (strictly earlier), counted by a running sum
    events = frame.loc[known, ["post_id", "author", "created_utc"]].assign(event=1, query=-1)
    asked = parent_author.notna()
    queries = pd.DataFrame({"post_id": frame["post_id"][asked], "author": parent_author[asked],
                            "created_utc": frame["created_utc"][asked], "event": 0,
                            "query": np.flatnonzero(asked)})
    both = pd.concat([events, queries], ignore_index=True).sort_values(
        ["post_id", "author", "created_utc", "event"], kind="stable", ignore_index=True)
    both["before"] = both.groupby(["post_id", "author"])["event"].cumsum()
    answered = both[both["query"] >= 0]
    parent_earlier = np.zeros(len(frame))
    parent_earlier[answered["query"].to_numpy()] = answered["before"].to_numpy()
    return pd.DataFrame({
        "comment_id": frame["comment_id"],
        "author_earlier_comments": np.log1p(frame["author_earlier"]),
        "replies_back": (known & (grandparent_author == frame["author"])).astype(float),
        "replies_to_submitter": parent.map(by_id["is_submitter"]).fillna(False).astype(float),
        "parent_author_earlier": np.log1p(parent_earlier)})


def leave_one_subreddit_out(root: Path, features: pd.DataFrame, config: dict, params: dict) -> dict:
    """Per eligible subreddit: the ROC-AUC of the timing rule and of both variants fit on every other subreddit."""
    frame = pd.concat([pd.read_parquet(root / split_file(s), columns=[*COLUMNS, "subreddit"]) for s in SPLITS],
                      ignore_index=True).merge(features, on="comment_id", how="left", validate="one_to_one")
    heldout, seed = params["heldout"], params["base"]["seed"]
    long = long_threads(frame["post_id"].to_numpy(), heldout["long_thread_comments"])
    summary = subreddit_summary(frame, long)
    eligible = sorted(summary.index[summary["long_threads"] >= heldout["subreddit_min_threads"]])
    y, metadata = frame["well_received"].to_numpy(), metadata_features(frame)
    inputs = {"metadata": metadata, "+conversation": np.hstack([metadata, frame[list(CONVERSATION)]])}
    report = {}
    for name in eligible:
        held = (frame["subreddit"] == name).to_numpy()
        scores = {"timing_rule": roc_auc_score(y[held], TIMING_RULES["timing"](frame[held]))}
        for variant, X in inputs.items():
            model = fit_quietly(build("thread_gbm", config, seed, 0), X[~held], y[~held])
            scores[variant] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 1])
        report[str(name)] = {k: round(float(v), 4) for k, v in scores.items()}
        print(f"leave out {name}: {json.dumps(report[str(name)])}", flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the checkout that ran `make run-corpus` (its data, models, params.yaml)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    params = all_params(args.root / PARAMS_FILE)
    if params["base"].get("profile") != "corpus":
        raise SystemExit(f"{args.root / PARAMS_FILE} is not the corpus profile: run `make run-corpus` there first")
    seed = params["base"]["seed"]
    config = json.loads((args.root / "models/train/thread_gbm/best_params.json").read_text())
    started = time.perf_counter()
    rows = train_val_rows(args.root)
    silver = pd.read_parquet(args.root / SILVER_COMMENTS,
                             columns=["comment_id", "post_id", "parent_id", "author", "created_utc", "is_submitter"])
    silver = silver.astype({"comment_id": str, "post_id": str, "parent_id": str, "author": object})
    features = conversation(silver)
    rows = rows.merge(features, on="comment_id", how="left", validate="one_to_one")
    y, folds, threads = rows["well_received"].to_numpy(), rows["fold"].to_numpy(), rows["post_id"].to_numpy()
    metadata = metadata_features(rows)
    scores, seconds = {"timing_rule": TIMING_RULES["timing"](rows)}, {}
    with threadpool_limits(limits=1):
        for name, X in (("metadata", metadata), ("+conversation", np.hstack([metadata, rows[list(CONVERSATION)]]))):
            at = time.perf_counter()
            scores[name] = out_of_fold_scores(lambda: build("thread_gbm", config, seed, 0), fit_quietly, X, y, folds)
            seconds[name] = round(time.perf_counter() - at, 1)
            print(f"{name}: fold-mean ROC-AUC {fold_roc_auc(y, scores[name], folds):.4f} ({seconds[name]} s)",
                  flush=True)
        loso = leave_one_subreddit_out(args.root, features, config, params)
    variants = {name: scored(y, score, folds, threads, seed) for name, score in scores.items()}
    paired = paired_difference_interval(y, scores["+conversation"], scores["metadata"], folds, threads, seed)
    results = {"question": "does who replies to whom lift thread_gbm (hpo configuration) inside threads?",
               "command": f"bench/author_lift.py --root {args.root}", "seed": seed, "thread_gbm_config": config,
               "unknown_author_comments": UNKNOWN_AUTHOR_COMMENTS, "threads": int(len(np.unique(threads))),
               "comments": len(rows), "share_nonzero": {c: round(float((rows[c] > 0).mean()), 4) for c in CONVERSATION},
               "variants": variants,
               "difference": {"thread_cv_roc_auc": round(paired["difference"], 4),
                              "interval": [round(paired["low"], 4), round(paired["high"], 4)],
                              "within_thread_roc_auc": round(variants["+conversation"]["within_thread_roc_auc"]
                                                             - variants["metadata"]["within_thread_roc_auc"], 4)},
               "leave_one_subreddit_out": loso,
               "seconds": {**seconds, "total": round(time.perf_counter() - started, 1)}}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("share_nonzero", "difference", "leave_one_subreddit_out")}, indent=2))


if __name__ == "__main__":
    main()
