"""The processed splits: how the labelled comments are split and put in thread folds, and reading them back
(with the embed stage's vectors, row-aligned).

Label (IMEDIA's rule, reception.data.text): well_received = score_clipped >= median(score_clipped).
Split (params split.strategy):
  random  stratified on the label, seeded (IMEDIA's protocol)
  thread  whole threads per split: no post_id appears in two splits
  time    whole threads in the order they started (the post's time, else the first comment's): the
          oldest are train, then val, the newest are test: a check forward in time. On few threads it
          mostly measures how the base rate shifts between them; each split's positive share is reported.
Thread folds (split.thread_cv_folds): train+val rows in k folds by thread (post_id), stratified on the
label and seeded; every family's grouped cross-validation uses these folds.
`score` and the columns derived from it are kept for analysis only: they are never model inputs.
The processed stage writes the split files without holding the comments whole: reception.data.split_files.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from reception.data.text import well_received_label
from reception.data.thread_context import CONTEXT_COLUMNS
from reception.data.thread_order import by_start
from reception.paths import THREAD_FOLDS_FILE, embeddings_file, split_file

SPLITS = ("train", "val", "test")
COLUMNS = ["comment_id", "post_id", "parent_id", "subreddit", "clean_text", "score", "score_clipped", "text_len",
           "text_len_clipped", "word_count", "has_exclamation", "has_question", "created_utc",
           "created_dt", "post_created_utc", "post_known", "thread_start_utc", "comments_before", "is_submitter",
           "is_top_level", *CONTEXT_COLUMNS, "well_received"]


# What the model stages read: every processed column but the text (no trained family reads it; the text is
# most of a split's bytes). The embed and finetune stages read clean_text themselves.
FIT_COLUMNS = [column for column in COLUMNS if column != "clean_text"]


def labelled(comments: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The processed columns (COLUMNS) of clean comments, with their label."""
    return comments.assign(well_received=well_received_label(comments["score_clipped"], threshold))[COLUMNS]


def fractions_of(settings: dict) -> dict[str, float]:
    """The row share of each split, from params.yaml `split`; they must add up to 1."""
    fractions = {"train": settings["train_size"], "val": settings["val_size"], "test": settings["test_size"]}
    if not np.isclose(sum(fractions.values()), 1.0):
        raise SystemExit(f"processed: split sizes must add up to 1, got {fractions}")
    return fractions


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


STRATEGIES = {"random": random_split, "thread": thread_split, "time": time_split}


def split_rows(frame: pd.DataFrame, strategy: str, fractions: dict, seed: int) -> dict[str, pd.DataFrame]:
    """{split: its rows} by the named strategy (params split.strategy)."""
    if strategy not in STRATEGIES:
        raise SystemExit(f"processed: split.strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    return STRATEGIES[strategy](frame, fractions, seed)


def train_val_rows(splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Train and val rows in comment_id order: the rows the thread folds divide."""
    return pd.concat([splits["train"], splits["val"]]).sort_values("comment_id", kind="stable").reset_index(drop=True)


def read_split(split: str, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(split_file(split), columns=columns)


def split_length(split: str) -> int:
    """The split file's rows, from its Parquet footer (nothing else is read)."""
    return pq.ParquetFile(split_file(split)).metadata.num_rows


def stream_split_column(split: str, column: str, batch_rows: int = 100_000) -> Iterator:
    """The values of one column of the split file, in its order, read `batch_rows` at a time."""
    for batch in pq.ParquetFile(split_file(split)).iter_batches(batch_size=batch_rows, columns=[column]):
        yield from batch.column(0).to_pylist()


def read_embeddings(split: str) -> np.ndarray:
    """The embed stage's vectors, one row per row of the split file, in its order: memory-mapped, read-only.
    Only the rows a caller indexes are read from disk (ten million rows of 384 float32 are 15 GB)."""
    return np.load(embeddings_file(split), mmap_mode="r")


def read_train_val_folds(columns: list[str] | None = None) -> pd.DataFrame:
    """Train then val rows (processed `columns`, default all, + thread `fold`), in the order of
    train_val_embeddings()."""
    frame = pd.concat([read_split("train", columns), read_split("val", columns)], ignore_index=True)
    folds = pd.read_parquet(THREAD_FOLDS_FILE, columns=["comment_id", "fold"])
    frame = frame.merge(folds, on="comment_id", how="left", validate="one_to_one")
    if frame["fold"].isna().any():
        raise SystemExit(f"{THREAD_FOLDS_FILE} has no fold for some train/val comments: re-run `dvc repro processed`")
    return frame


class StackedEmbeddings:
    """Arrays of vectors end to end, read only where indexed: the embed stage's memory-mapped files of several
    splits (split_embeddings), row-aligned with the splits' rows concatenated in that order."""

    def __init__(self, parts: list[np.ndarray]) -> None:
        self.parts = parts
        self.starts = np.cumsum([0] + [len(part) for part in parts])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.starts[-1]), self.parts[0].shape[1]

    def __len__(self) -> int:
        return int(self.starts[-1])

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at `positions` (row numbers or a boolean mask), in that order."""
        positions = np.flatnonzero(positions) if positions.dtype == bool else np.asarray(positions)
        part = np.searchsorted(self.starts, positions, side="right") - 1
        out = np.empty((len(positions), self.shape[1]), dtype=self.parts[0].dtype)
        for at, vectors in enumerate(self.parts):
            mine = part == at
            if mine.any():
                out[mine] = vectors[positions[mine] - self.starts[at]]
        return out


def split_embeddings(splits: tuple[str, ...]) -> StackedEmbeddings:
    """The embed stage's vectors of `splits`, memory-mapped, end to end."""
    return StackedEmbeddings([read_embeddings(split) for split in splits])


def train_val_embeddings() -> StackedEmbeddings:
    return split_embeddings(("train", "val"))


def capped_rows(post_ids: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """The positions (ascending) of the rows a fit may use under a family's `max_rows`: every row when it is
    None or not exceeded; else whole threads, taken in a seeded random order while they fit (at least one).
    Whole threads, so that thread folds and within-thread metrics keep their meaning on the capped rows."""
    if max_rows is None or len(post_ids) <= max_rows:
        return np.arange(len(post_ids))
    threads, thread_of = np.unique(post_ids, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(threads))
    sizes = np.bincount(thread_of, minlength=len(threads))[order]
    taken = order[: max(1, int(np.searchsorted(np.cumsum(sizes), max_rows, side="right")))]
    return np.flatnonzero(np.isin(thread_of, taken))
