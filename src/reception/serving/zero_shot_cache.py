"""The service's zero-shot checkpoints: each loaded once, only from a local folder whose files are the ones
recorded in params.yaml, and scored on the service's inference thread like every other model.

Each zero-shot family declares (params.yaml, families.baselines.<key>) `local_dir`, the folder relative to
the checkout (or the bento's copy of it), and `files`, the sha256 of every file in it. The service never
loads a checkpoint by its hub name: a folder is loaded only when its files are exactly the recorded ones
(reception.models.artifact_hashes: none changed, missing or added), since loading it reads what whoever
wrote it put there. `python -m reception.serving.zero_shot_cache FAMILY...` saves a family's `checkpoint`
(hub name or folder) into its local_dir and prints the `files` to record.

A key's first request starts its one load, on a thread of its own (reading and hashing a BERT's files
takes seconds, which the inference thread would take from every other model); the requests that come
meanwhile wait for that same load, without a thread each. A load that fails (folder absent, a file not the
recorded one, a checkpoint that cannot be read, positive_labels that do not fit its classes) leaves the
key unavailable, with the reason, until the service restarts: the folder does not mend itself, and a
reload per request would spend seconds of CPU to fail again.
"""
from __future__ import annotations

import argparse
import asyncio
import threading
from concurrent.futures import Future
from pathlib import Path

import yaml

from reception.data.text import clean_text
from reception.models import artifact_hashes
from reception.serving import answers
from reception.serving.scored_record import ScoredRecord


class Unavailable(RuntimeError):
    """A zero-shot key that cannot be served; the message says which key and why."""

    def __init__(self, key: str, checkpoint: str, reason: str) -> None:
        super().__init__(f"model_key '{key}' ({checkpoint}) is unavailable: {reason}")
        self.reason = reason


class FolderRefused(RuntimeError):
    """A checkpoint folder that is not loaded; the message says why."""


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class ZeroShotCache:
    def __init__(self, checkpoints: dict[str, dict], root: Path, where: str, max_length: int,
                 batch_size: int) -> None:
        """`checkpoints`: key -> its declaration in params.yaml (checkpoint, positive_labels, local_dir,
        files); `root`: the folder local_dir is relative to; `where`: the file that records the hashes, for
        the messages. Built on the main thread: transformers' lazy imports failed when first run from
        another thread inside the BentoML server."""
        from reception.models import zero_shot

        self.zero_shot = zero_shot
        self.checkpoints, self.root, self.where = checkpoints, Path(root), where
        self.max_length, self.batch_size = max_length, batch_size
        self.lock = threading.Lock()
        self.loads: dict[str, Future] = {}  # key -> its one load (`loading`)

    async def model(self, key: str):
        """The loaded classifier for `key` (loading it on the first call), or Unavailable."""
        future = self.loading(key)
        classifier, reason = future.result() if future.done() else await asyncio.wrap_future(future)
        if reason:  # a new exception each time: one raised again and again would grow its traceback
            raise Unavailable(key, self.checkpoints[key]["checkpoint"], reason)
        return classifier

    def loading(self, key: str) -> Future:
        """`key`'s one load, started by the first call: (classifier, None), or (None, why it is unavailable)."""
        with self.lock:
            if key not in self.loads:
                future = Future()
                # running: a waiting request that is cancelled (its client went away) cannot cancel the load
                future.set_running_or_notify_cancel()
                self.loads[key] = future
                threading.Thread(target=self.load, args=(key, future), name=f"zero-shot {key}", daemon=True).start()
            return self.loads[key]

    def load(self, key: str, future: Future) -> None:
        try:
            future.set_result((self.checked_classifier(self.checkpoints[key]), None))
        except FolderRefused as error:
            future.set_result((None, str(error)))
        except Exception as error:  # whatever reading the folder raised: the key is unavailable, and why
            future.set_result((None, f"{type(error).__name__}: {first_line(error)}"))

    def checked_classifier(self, spec: dict):
        """The classifier saved in spec's local_dir, once its files are the recorded ones."""
        local_dir = spec.get("local_dir")
        if not local_dir:
            raise FolderRefused(f"{self.where} declares no local_dir for it")
        folder = self.root / local_dir
        if not folder.is_dir():
            raise FolderRefused(f"its folder {local_dir} is absent (save it with `python -m "
                                f"reception.serving.zero_shot_cache FAMILY`)")
        if not spec.get("files"):
            raise FolderRefused(f"{self.where} records no sha256 for the files of {local_dir}")
        if problems := artifact_hashes.differences(spec["files"], artifact_hashes.folder_hashes(folder)):
            raise FolderRefused(f"the files of {local_dir} are not the ones recorded in {self.where}; "
                                "refusing to load them: " + "; ".join(problems))
        return self.zero_shot.ZeroShotClassifier(str(folder), spec["positive_labels"], self.max_length,
                                                 self.batch_size)

    def score_records(self, key: str, records: list[dict]) -> list[ScoredRecord]:
        """On the inference thread: one ScoredRecord per record, from `key`'s classifier (loaded: each
        request waits for `model` before it is queued)."""
        classifier, _ = self.loads[key].result()
        return answers.text_only(classifier.predict_proba([clean_text(r["text"]) for r in records]))

    def status(self, key: str) -> str:
        """What /health says of `key`: not loaded yet, loading, loaded, or unavailable: why."""
        future = self.loads.get(key)
        if future is None:
            return "not loaded yet"
        if not future.done():
            return "loading"
        _, reason = future.result()
        return f"unavailable: {reason}" if reason else "loaded"


def save_local(checkpoint: str, folder: Path) -> dict[str, str]:
    """Saves `checkpoint` (a hub name or a folder) into `folder` as the service loads it, its tokenizer and
    model alone; {path: sha256} of every file there, to record as the family's `files`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint)
    Path(folder).mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return artifact_hashes.folder_hashes(Path(folder))


def main() -> None:
    from reception.models.families import declared

    parser = argparse.ArgumentParser(description="Save zero-shot families' checkpoints into their local_dir and "
                                                 "print the `files` to record under each in params.yaml")
    parser.add_argument("families", nargs="+")
    families = declared()
    for name in parser.parse_args().families:
        settings = families[name].settings
        files = save_local(settings["checkpoint"], Path(settings["local_dir"]))
        print(yaml.safe_dump({name: {"files": files}}, sort_keys=False))


if __name__ == "__main__":
    main()
