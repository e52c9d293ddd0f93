"""What the model stages read at scale (reception.data.splits): a family's seeded row cap of whole threads, and
embeddings read only where indexed."""
import dataclasses

import numpy as np
import pytest
from test_heldout import corpus, families  # noqa: F401 (a fixture)

from reception.data.splits import StackedEmbeddings, capped_rows, read_embeddings
from reception.models import heldout
from reception.models.families import Family
from reception.paths import embeddings_file


def threads_of(sizes: list[int]) -> np.ndarray:
    return np.repeat([f"t{i}" for i in range(len(sizes))], sizes)


def test_no_cap_or_a_cap_not_reached_takes_every_row():
    post_ids = threads_of([3, 1, 4])
    assert np.array_equal(capped_rows(post_ids, None, 0), np.arange(8))
    assert np.array_equal(capped_rows(post_ids, 8, 0), np.arange(8))


@pytest.mark.parametrize("seed", range(5))
def test_a_cap_takes_whole_threads_in_a_seeded_order_up_to_the_cap(seed):
    post_ids = threads_of([5, 1, 7, 3, 2, 6, 4, 2])
    rows = capped_rows(post_ids, 12, seed)
    assert len(rows) <= 12 and np.all(np.diff(rows) > 0)
    taken = set(post_ids[rows])
    assert all((post_ids[rows] == thread).sum() == (post_ids == thread).sum() for thread in taken)  # whole threads
    assert np.array_equal(rows, capped_rows(post_ids, 12, seed))  # the same rows for the same seed
    # the next thread of the seeded order would not have fitted: the cap is used, not left half empty
    order = np.random.default_rng(seed).permutation(np.unique(post_ids))
    following = next(thread for thread in order if thread not in taken)
    assert len(rows) + (post_ids == following).sum() > 12


def test_a_thread_larger_than_the_cap_is_still_one_whole_thread():
    post_ids = threads_of([9, 10])
    rows = capped_rows(post_ids, 4, 0)
    assert len(set(post_ids[rows])) == 1 and len(rows) in (9, 10)


def test_stacked_embeddings_read_the_rows_asked_for_across_memory_mapped_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    arrays = {"train": rng.normal(size=(7, 3)).astype("float32"), "val": rng.normal(size=(4, 3)).astype("float32")}
    for split, array in arrays.items():
        embeddings_file(split).parent.mkdir(parents=True, exist_ok=True)
        np.save(embeddings_file(split), array)
    assert isinstance(read_embeddings("train"), np.memmap)
    stacked = StackedEmbeddings([read_embeddings("train"), read_embeddings("val")])
    whole = np.vstack(list(arrays.values()))
    assert stacked.shape == (11, 3) and len(stacked) == 11
    positions = np.array([10, 0, 7, 6, 3])
    assert np.array_equal(stacked.rows(positions), whole[positions])
    mask = np.zeros(11, dtype=bool)
    mask[[1, 8, 9]] = True
    assert np.array_equal(stacked.rows(mask), whole[mask])
    assert stacked.rows(np.array([], dtype=int)).shape == (0, 3)


def test_a_capped_family_refits_on_its_capped_rows_only(families, monkeypatch):  # noqa: F811
    frame, embeddings = corpus()
    capped = dataclasses.replace(families["mlp_transformer"],
                                 settings={**families["mlp_transformer"].settings, "max_rows": 40})
    fitted_rows = []
    real_fit = heldout.fit_quietly

    def recording_fit(model, X, y):
        fitted_rows.append(len(X))
        return real_fit(model, X, y)

    monkeypatch.setattr(heldout, "fit_quietly", recording_fit)
    held_out = (frame["subreddit"] == "a").to_numpy()
    scores, _ = heldout.refit_scores("forward", {"mlp_transformer": capped}, frame, embeddings, [held_out], seed=0)
    allowed = np.zeros(len(frame), dtype=bool)
    drawn = capped.fit_rows(frame["post_id"].to_numpy(), 0)
    allowed[drawn] = True
    assert fitted_rows == [int((allowed & ~held_out).sum())] and 0 < fitted_rows[0] <= 40
    assert np.isfinite(scores["mlp_transformer"][held_out]).all()  # every held-out row scored, capped or not
    report = capped.rows_report(drawn, len(frame), 0)
    assert report == {"fit_rows": int(allowed.sum()), "of_rows": len(frame), "max_rows": 40, "seed": 0}


@pytest.mark.parametrize("cap", [0, -5, 2.5, "500000", True])
def test_a_cap_that_is_not_a_whole_number_of_rows_is_refused_by_name(cap):
    family = Family("hybrid", "train", ("metadata",), {"max_rows": cap})
    with pytest.raises(ValueError, match=r"families\.train\.hybrid\.max_rows must be a whole number >= 1 or null"):
        family.fit_rows(np.array(["t0", "t0", "t1"]), seed=0)
    assert Family("hybrid", "train", ("metadata",), {"max_rows": None}).fit_rows(np.array(["t0"]), 0).tolist() == [0]
