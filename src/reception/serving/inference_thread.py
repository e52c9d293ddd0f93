"""The service's one inference thread: every model's scoring, batched across concurrent requests.

Kept apart from service/service.py so that its scheduling can be tested on its own, without models
(tests/test_inference_thread.py).
"""
from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from itertools import accumulate


class InferenceThread:
    """The one thread that runs every model: scoring requests, batched, and one-off calls (when to post).

    Requests wait in one queue in arrival order. As soon as a call ends, the thread itself takes the next
    job: the oldest waiting request and every other one waiting for the same model that fits beside it
    (up to `max_records` records, whole requests only), or the oldest one-off call alone. So the thread
    never waits on the event loop, which only hands requests in and answers out: handing the next batch
    over through the loop left the thread idle for a sixth of the time at concurrency 32, while the loop
    was busy answering the batch before. One thread for all models: the tokenizers are not thread-safe,
    the embedding families share one encoder, and the cores are better spent on one multi-threaded
    inference than on competing ones.
    """

    def __init__(self, scorers: dict[str, Callable[[list[dict]], list]], max_records: int) -> None:
        """`scorers`: model key -> its scoring of a list of records, one result (a ScoredRecord) each."""
        self.scorers, self.max_records = scorers, max_records
        self.waiting: deque[tuple[str | None, object, asyncio.Future]] = deque()
        self.ready = threading.Condition()
        threading.Thread(target=self.run, name="inference", daemon=True).start()

    def score(self, key: str, records: list[dict]) -> asyncio.Future:
        """One result per record, in order, from the model served under `key`."""
        return self.submit(key, records)

    def call(self, function: Callable, *args) -> asyncio.Future:
        """function(*args), on the inference thread."""
        return self.submit(None, (function, args))

    def submit(self, key: str | None, payload) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        with self.ready:
            self.waiting.append((key, payload, future))
            self.ready.notify()
        return future

    def next_job(self) -> tuple[str | None, list[tuple[object, asyncio.Future]]]:
        """(model key or None for a one-off call, [(records or call, future)])."""
        with self.ready:
            while True:
                while not self.waiting:
                    self.ready.wait()
                key, payload, future = self.waiting.popleft()
                if not future.cancelled():  # else the client went away while it waited
                    break
            if key is None:
                return None, [(payload, future)]
            batch, size, left = [(payload, future)], len(payload), deque()
            for job in self.waiting:
                if job[0] == key and size + len(job[1]) <= self.max_records and not job[2].cancelled():
                    batch.append(job[1:])
                    size += len(job[1])
                elif not job[2].cancelled():
                    left.append(job)
            self.waiting = left
            return key, batch

    def run(self) -> None:
        while True:
            key, batch = self.next_job()
            try:
                if key is None:
                    [((function, args), _)] = batch
                    results = [function(*args)]
                else:
                    scored = self.scorers[key]([record for records, _ in batch for record in records])
                    ends = accumulate(len(records) for records, _ in batch)
                    results = [scored[end - len(records):end] for (records, _), end in zip(batch, ends, strict=True)]
                error = None
            except Exception as failure:  # a bug in scoring: every caller of this call gets it (500)
                results, error = [None] * len(batch), failure
            futures = [future for _, future in batch]
            futures[0].get_loop().call_soon_threadsafe(settle, futures, results, error)


def settle(futures: list[asyncio.Future], results: list, error: Exception | None) -> None:
    """On the event loop: hand each waiting request its answer (or the error)."""
    for future, result in zip(futures, results, strict=True):
        if not future.done():  # cancelled: the client went away
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
