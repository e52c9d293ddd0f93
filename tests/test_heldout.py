"""Held-out views (reception.models.heldout): forward in time and leave one subreddit out, on a small synthetic
frame with real fits of the families that can be refit."""
import json

import numpy as np
import pandas as pd
import pytest

from reception import paths
from reception.data.splits import StackedEmbeddings
from reception.models.baselines import timing_baseline
from reception.models.comparison import leave_one_subreddit_out_markdown
from reception.models.families import declared
from reception.models.heldout import forward_report, leave_one_subreddit_out_report, refit_scores

REFIT = ("majority", "timing", "timing_rank", "mlp_transformer")


@pytest.fixture
def families(tmp_path, monkeypatch):
    """The declared families the views refit (and vader, which they do not), with a small MLP configuration
    where the views read it (models/train/<family>/best_params.json, under a temporary root)."""
    found = {name: family for name, family in declared(paths.PARAMS_FILE.resolve()).items()
             if name in (*REFIT, "vader")}
    monkeypatch.chdir(tmp_path)
    paths.best_params_file("mlp_transformer").parent.mkdir(parents=True)
    paths.best_params_file("mlp_transformer").write_text(json.dumps(
        {"hidden_layer_sizes": [8], "alpha": 1e-3, "learning_rate_init": 1e-2, "batch_size": 64, "max_iter": 30}))
    return found


def corpus(seed: int = 0) -> tuple[pd.DataFrame, StackedEmbeddings]:
    """Subreddits a, b, c of 12 threads of 12 comments and d of 6 threads of 4; earlier comments and a higher
    first embedding coordinate are more often well received; subreddit a is mostly well received, the others
    mostly not."""
    rng = np.random.default_rng(seed)
    parts = []
    for subreddit, threads, comments in (("a", 12, 12), ("b", 12, 12), ("c", 12, 12), ("d", 6, 4)):
        for t in range(threads):
            start = 1_700_000_000.0 + rng.integers(0, 10_000_000)
            order = np.arange(comments)
            parts.append(pd.DataFrame({"subreddit": subreddit, "post_id": f"{subreddit}{t}",
                                       "comment_id": [f"{subreddit}{t}_{i}" for i in order],
                                       "thread_start_utc": start, "created_utc": start + 60.0 * order ** 2,
                                       "comments_before": order}))
    frame = pd.concat(parts, ignore_index=True)
    embeddings = rng.normal(0, 1, (len(frame), 4))
    base = np.where(frame["subreddit"] == "a", 1.5, -0.3)
    logit = base + embeddings[:, 0] - 0.2 * frame["comments_before"].to_numpy()
    frame["well_received"] = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, StackedEmbeddings([embeddings])


def test_each_subreddit_is_scored_by_fits_on_the_others(families):
    frame, embeddings = corpus()
    report = leave_one_subreddit_out_report(families, frame, embeddings, long_thread_comments=10,
                                            subreddit_min_threads=10, seed=0)
    assert report["eligible"] == ["a", "b", "c"]  # d: no thread of >= 10 comments
    assert report["subreddits"]["d"] == {"rows": 24, "threads": 6, "long_threads": 0,
                                         "positive_share": pytest.approx(frame.query("subreddit == 'd'")[
                                             "well_received"].mean(), abs=1e-4)}
    assert set(report["families"]) == set(REFIT) and report["not_refit"] == {"vader": "not refit by "
                                                                                      "leave_one_subreddit_out"}
    for name, scored in report["families"].items():
        assert set(scored["per_subreddit"]) == {"a", "b", "c"}
        assert scored["roc_auc"] == pytest.approx(np.mean(list(scored["per_subreddit"].values())), abs=1e-3)
        interval = scored["roc_auc_interval"]
        assert interval["low"] <= scored["roc_auc"] <= interval["high"] and interval["resamples"] > 900
        assert ("paired_differences" in scored) is (name == "mlp_transformer")
    paired = report["families"]["mlp_transformer"]["paired_differences"]
    assert set(paired) == {"timing", "timing_rank"}
    for rule, difference in paired.items():
        assert difference["difference"] == pytest.approx(report["families"]["mlp_transformer"]["roc_auc"]
                                                         - report["families"][rule]["roc_auc"], abs=1e-3)
        assert difference["low"] <= difference["difference"] <= difference["high"]
    # the timing rules rank the comments of each thread alike (both by order), and the embedding carries signal
    assert report["families"]["timing"]["within_thread_roc_auc"] > 0.6
    assert report["families"]["mlp_transformer"]["roc_auc"] > 0.6


def test_a_held_out_part_never_sits_in_its_own_fit(families):
    frame, embeddings = corpus()
    parts = [(frame["subreddit"] == name).to_numpy() for name in ("a", "b")]
    scores, _ = refit_scores("leave_one_subreddit_out", families, frame, embeddings, parts, seed=0)
    assert np.isnan(scores["timing"][~(parts[0] | parts[1])]).all()  # c and d: held out by no part
    # the timing rule's calibration learns the positive share of its fit: without a (mostly well received),
    # a's comments get lower probabilities than from a fit on every subreddit
    a = frame[parts[0]]
    everywhere = timing_baseline("timing", frame)(a)
    assert scores["timing"][parts[0]].mean() < everywhere.mean() - 0.05
    np.testing.assert_allclose(scores["timing"][parts[0]], timing_baseline("timing", frame[~parts[0]])(a))
    assert (scores["majority"][parts[0]] == 0.0).all()  # the others are mostly not well received


def test_fewer_than_two_eligible_subreddits_are_reported_not_failed(families):
    frame, embeddings = corpus()
    report = leave_one_subreddit_out_report(families, frame, embeddings, long_thread_comments=10,
                                            subreddit_min_threads=13, seed=0)
    assert report["eligible"] == [] and report["families"] == {}
    assert "0 subreddit(s) of 4 hold at least 13 threads of >= 10 labelled comments" in report["note"]
    rows = [{"family": "timing", "kind": "baseline", "status": "ok", "thread_cv_roc_auc_mean": 0.7}]
    assert "No leave-one-subreddit-out view: 0 subreddit(s)" in leave_one_subreddit_out_markdown(report, rows)


def test_forward_scores_the_newest_threads_with_intervals_and_paired_differences(families):
    frame, embeddings = corpus()
    newest = frame["thread_start_utc"] >= frame["thread_start_utc"].quantile(0.8)
    report = forward_report(families, frame, embeddings, newest.to_numpy(), 0.2, seed=0)
    assert report["test"]["rows"] == int(newest.sum()) and report["fit"]["rows"] == int((~newest).sum())
    assert set(report["test_threads"]) == set(frame.loc[newest, "post_id"])
    assert set(report["families"]) == set(REFIT) and "vader" in report["not_refit"]
    majority = report["families"]["majority"]
    assert majority["roc_auc"] == 0.5 and majority["roc_auc_interval"]["low"] == 0.5
    assert set(report["families"]["mlp_transformer"]["paired_differences"]) == {"timing", "timing_rank"}
