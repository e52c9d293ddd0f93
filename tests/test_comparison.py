"""evaluate on a small synthetic repository: each family's thread-CV report (long threads apart), the paired
differences of the trained families to every baseline, the comparison markdown, and the champion rule reading
what evaluate wrote."""
import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from reception import paths
from reception.models import champion
from reception.models.evaluation import fold_roc_auc, paired_difference_interval, within_thread_roc_auc
from reception.models.families import declared
from reception.outputs import write_json

sys.path.insert(0, str(paths.PARAMS_FILE.resolve().parent / "stages"))
import evaluate  # noqa: E402  (the stage script: its main() is what the test runs)

REPO_PARAMS = paths.PARAMS_FILE.resolve()
SCORED = ("majority", "timing", "timing_rank", "hybrid")


def labelled(seed: int = 0) -> dict[str, pd.DataFrame]:
    """Processed train/val/test rows of 60 threads (every third one of 3 comments, the others of 14), with the
    thread fold of each train/val row (5 folds)."""
    rng = np.random.default_rng(seed)
    sizes = [3 if t % 3 == 0 else 14 for t in range(60)]
    post_id = np.repeat([f"p{t}" for t in range(60)], sizes)
    frame = pd.DataFrame({"comment_id": [f"c{i}" for i in range(len(post_id))], "post_id": post_id,
                          "well_received": rng.integers(0, 2, len(post_id))})
    frame["fold"] = frame["post_id"].str[1:].astype(int) % 5
    split = rng.choice(["train", "val", "test"], len(frame), p=[0.7, 0.15, 0.15])
    return {s: frame[split == s].reset_index(drop=True) for s in ("train", "val", "test")}


def scores_of(rows: pd.DataFrame, family: str) -> np.ndarray:
    """Deterministic scores: hybrid ranks well, the timing rules less, majority not at all."""
    noise = {"hybrid": 0.5, "timing": 1.2, "timing_rank": 2.0}
    if family == "majority":
        return np.ones(len(rows))
    rng = np.random.default_rng(len(family))
    return 1 / (1 + np.exp(-(rows["well_received"].to_numpy() - 0.5 + rng.normal(0, noise[family], len(rows)))))


@pytest.fixture
def evaluated(tmp_path, monkeypatch) -> tuple[dict, list[dict], dict]:
    """evaluate's main() run in a temporary repository: (its split rows, comparison rows, family reports)."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO_PARAMS, paths.PARAMS_FILE)
    splits = labelled()
    paths.PROCESSED_DIR.mkdir(parents=True)
    for name, rows in splits.items():
        rows.drop(columns="fold").to_parquet(paths.split_file(name))
    pd.concat([splits["train"], splits["val"]])[["comment_id", "fold"]].to_parquet(paths.THREAD_FOLDS_FILE)
    unavailable = {}
    for name, family in declared().items():
        paths.predictions_dir(family.stage).mkdir(parents=True, exist_ok=True)
        if name not in SCORED:
            unavailable.setdefault(family.stage, {})[name] = {"model": name, "status": "unavailable",
                                                             "reason": "not in this test"}
            continue
        cv = pd.concat([splits["train"], splits["val"]])
        parts = [pd.DataFrame({"comment_id": cv["comment_id"], "split": "thread_cv", "fold": cv["fold"],
                               "score": scores_of(cv, name)})]
        parts += [pd.DataFrame({"comment_id": splits[s]["comment_id"], "split": s, "fold": -1,
                                "score": scores_of(splits[s], name)}) for s in ("val", "test")]
        pd.concat(parts).to_parquet(paths.predictions_file(family.stage, name))
    for stage, status in unavailable.items():
        write_json(paths.status_file(stage), status)
    write_json(paths.stage_metrics("forward"), forward_view())
    write_json(paths.LEAVE_ONE_SUBREDDIT_OUT_METRICS, {
        "long_thread_comments": 10, "subreddit_min_threads": 100, "eligible": [], "families": {}, "not_refit": {},
        "subreddits": {"college": {"rows": 900, "threads": 60, "long_threads": 40, "positive_share": 0.5}},
        "note": "0 subreddit(s) of 1 hold at least 100 threads of >= 10 labelled comments; the view needs 2 or more"})
    write_json(paths.ABLATION_METRICS, {})
    evaluate.main()
    reports = {name: json.loads(paths.family_metrics(name).read_text()) for name in declared()}
    return splits, json.loads(paths.COMPARISON_JSON.read_text()), reports


def forward_view() -> dict:
    """A forward report of two test threads as reception.models.heldout writes it."""
    interval = {"low": 0.55, "high": 0.8, "level": 0.95, "resamples": 1000}
    scored = {"roc_auc": 0.7, "roc_auc_interval": interval, "within_thread_roc_auc": 0.65, "within_thread_threads": 2}
    part = {"rows": 28, "threads": 2, "positive_share": 0.5, "thread_start_utc": [1.7e9, 1.71e9]}
    return {"test_share": 0.15, "fit": part, "test": part,
            "test_threads": {"p58": {"rows": 14, "positive_share": 0.5, "thread_start_utc": 1.7e9}},
            "families": {"timing": {"kind": "baseline", **scored},
                         "hybrid": {"kind": "trained", **scored, "paired_differences": {
                             "timing": {"difference": 0.0, "low": -0.1, "high": 0.1, "level": 0.95,
                                        "resamples": 1000}}}},
            "not_refit": {}}


def test_thread_cv_reports_long_threads_apart(evaluated):
    splits, _, reports = evaluated
    cv = pd.concat([splits["train"], splits["val"]], ignore_index=True)
    everything = pd.concat(splits.values())
    long = everything.groupby("post_id").size().pipe(lambda n: n[n >= 10].index)
    in_long = cv["post_id"].isin(long).to_numpy()
    rows, score = cv[in_long], scores_of(cv, "hybrid")[in_long]
    report = reports["hybrid"]["thread_cv"]["long_threads"]
    assert report["min_comments"] == 10 and report["threads"] == 40 and report["rows"] == len(rows)
    assert report["roc_auc"] == pytest.approx(fold_roc_auc(rows["well_received"].to_numpy(), score,
                                                           rows["fold"].to_numpy()))
    assert report["within_thread_roc_auc"] == within_thread_roc_auc(rows["well_received"], score, rows["post_id"])
    overall = reports["hybrid"]["thread_cv"]
    assert overall["within_thread_roc_auc"]["threads"] > report["within_thread_roc_auc"]["threads"]


def test_trained_families_carry_paired_differences_to_every_baseline(evaluated):
    splits, rows, reports = evaluated
    cv = pd.concat([splits["train"], splits["val"]], ignore_index=True)
    paired = reports["hybrid"]["thread_cv"]["paired_differences"]
    assert set(paired) == {"majority", "timing", "timing_rank"}  # the available baselines
    assert "paired_differences" not in reports["timing"]["thread_cv"]
    y, folds, threads = cv["well_received"].to_numpy(), cv["fold"].to_numpy(), cv["post_id"].to_numpy()
    expected = paired_difference_interval(y, scores_of(cv, "hybrid"), scores_of(cv, "timing"), folds, threads,
                                          seed=42)
    assert paired["timing"] == {k: pytest.approx(v, abs=1e-4) for k, v in expected.items()}
    row = next(r for r in rows if r["family"] == "hybrid")
    assert row["paired_differences"] == paired and row["long_threads"] == 40
    markdown = paths.COMPARISON_MD.read_text()
    assert "## Paired differences on unseen threads" in markdown and "| hybrid | " in markdown
    assert "thread_cv_roc_auc, threads of >= 10 comments" in markdown
    assert "No leave-one-subreddit-out view: 0 subreddit(s) of 1" in markdown
    assert "| hybrid | trained | 0.700 | 0.550 – 0.800 | 0.650 (2 threads) | +0.000 (-0.100 to +0.100) |" in markdown


def test_the_champion_rule_reads_the_paired_differences_evaluate_wrote(evaluated):
    _, rows, _ = evaluated
    winner = champion.pick_winner(rows)
    assert winner["family"] == "hybrid"
    lows = {b: d["low"] for b, d in winner["paired_differences"].items()}
    ok, reason = champion.alias_decision(rows, winner)
    assert ok is all(low > 0 for low in lows.values()) and ok
    weakest = min(lows, key=lows.get)
    assert f"lowest to {weakest}: {winner['paired_differences'][weakest]['difference']:+.4f}" in reason
