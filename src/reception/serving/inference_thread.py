"""The service's one inference thread: every model's scoring, batched across concurrent requests.

Kept apart from service/service.py so that its scheduling can be tested on its own, without models
(tests/test_inference_thread.py).
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Weight of the latest call in the running estimate of the seconds one queued text takes (Retry-After).
PACE_SMOOTHING = 0.2


class QueueFull(Exception):
    """The queue holds too many texts to take a request's: refuse it (503) and say when to retry."""

    def __init__(self, queued: int, limit: int, retry_after_s: int):
        super().__init__(f"the service is busy: {queued} texts wait to be scored and this request's would pass the "
                         f"limit of {limit} (service.max_queued_texts); retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Job:
    """One request waiting for (or partly through) the thread: its records, the results so far, its future."""

    def __init__(self, key: str | None, payload, future: asyncio.Future, texts: int) -> None:
        self.key, self.payload, self.future, self.texts = key, payload, future, texts
        self.taken = 0  # records handed to the model so far (scoring requests)
        self.results: list = []

    @property
    def left(self) -> int:
        """Texts not yet handed to the model."""
        return self.texts - self.taken


class InferenceThread:
    """The one thread that runs every model: scoring requests, batched, and one-off calls (when to post).

    Requests wait in one queue in arrival order. As soon as a call ends, the thread itself takes the next
    job: up to `max_records` records, from the oldest waiting request and every other one waiting for the
    same model that fits beside it whole, or the oldest one-off call alone. A request larger than what is
    left of `max_records` is scored in chunks taken in turn: after each of its chunks, what is left of it
    goes to the back of the queue, behind the requests that arrived meanwhile, so one 1,000-text request
    delays a one-text request by one chunk per request ahead of it, not by its whole batch. So the thread
    never waits on the event loop, which only hands requests in and answers out: handing the next batch
    over through the loop left the thread idle for a sixth of the time at concurrency 32, while the loop
    was busy answering the batch before. One thread for all models: the tokenizers are not thread-safe,
    the embedding families share one encoder, and the cores are better spent on one multi-threaded
    inference than on competing ones.

    The queue is bounded in texts (`max_queued_texts`, the texts not yet handed to a model): a request
    that would pass it is refused at once (QueueFull, with a Retry-After estimated from the thread's pace)
    rather than left to wait toward the server's timeout. A request arriving at an empty queue is always
    taken.
    """

    def __init__(self, scorers: dict[str, Callable[[list[dict]], list]], max_records: int,
                 max_queued_texts: int | None = None) -> None:
        """`scorers`: model key -> its scoring of a list of records, one result (a ScoredRecord) each."""
        self.scorers, self.max_records, self.max_queued_texts = scorers, max_records, max_queued_texts
        self.waiting: deque[Job] = deque()
        self.queued = 0  # texts of self.waiting not yet handed to a model
        self.refused = 0  # requests refused with QueueFull
        self.seconds_per_text = 0.0  # running estimate, for Retry-After
        self.ready = threading.Condition()
        threading.Thread(target=self.run, name="inference", daemon=True).start()

    def score(self, key: str, records: list[dict]) -> asyncio.Future:
        """One result per record, in order, from the model served under `key`."""
        return self.submit(key, records, len(records))

    def call(self, function: Callable, *args, texts: int = 1) -> asyncio.Future:
        """function(*args), on the inference thread; it counts as `texts` texts in the queue's bound."""
        return self.submit(None, (function, args), texts)

    def submit(self, key: str | None, payload, texts: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        with self.ready:
            if self.max_queued_texts is not None and self.queued and self.queued + texts > self.max_queued_texts:
                self.refused += 1
                retry = max(1, math.ceil(self.queued * self.seconds_per_text))
                raise QueueFull(self.queued, self.max_queued_texts, retry)
            self.waiting.append(Job(key, payload, future, texts))
            self.queued += texts
            self.ready.notify()
        return future

    def drop(self, job: Job) -> None:
        """Forget a job whose client went away (called with self.ready held)."""
        self.queued -= job.left
        job.taken = job.texts

    def next_job(self) -> tuple[str | None, list[tuple[Job, int, int]]]:
        """(model key or None for a one-off call, [(job, first record, end)])."""
        with self.ready:
            while True:
                while not self.waiting:
                    self.ready.wait()
                job = self.waiting.popleft()
                if not job.future.cancelled() and job.left:  # else the client went away, or it failed
                    break
                self.drop(job)
            if job.key is None:
                self.queued -= job.left
                job.taken = job.texts
                return None, [(job, 0, 0)]
            chunks, size, left = [], 0, deque()
            for other in [job, *self.waiting]:
                if other.future.cancelled() or not other.left:
                    self.drop(other)
                elif other is job or (other.key == job.key and size + other.left <= self.max_records):
                    take = min(other.left, self.max_records - size)
                    chunks.append((other, other.taken, other.taken + take))
                    other.taken += take
                    size += take
                    if other.left:  # a chunk of it: the rest waits behind everything queued meanwhile
                        continue
                else:
                    left.append(other)
            left.extend(other for other, _, _ in chunks if other.left)
            self.waiting = left
            self.queued -= size
            return job.key, chunks

    def run(self) -> None:
        while True:
            key, chunks = self.next_job()
            started = time.perf_counter()
            try:
                if key is None:
                    [(job, _, _)] = chunks
                    function, args = job.payload
                    job.results = function(*args)
                else:
                    scored = self.scorers[key]([r for job, start, end in chunks for r in job.payload[start:end]])
                    offset = 0
                    for job, start, end in chunks:
                        job.results.extend(scored[offset:offset + end - start])
                        offset += end - start
                error = None
            except Exception as failure:  # a bug in scoring: every caller of this call gets it (500)
                error = failure
                with self.ready:  # what is left of a failed request is not scored
                    for job, _, _ in chunks:
                        self.drop(job)
            texts = sum(end - start for _, start, end in chunks) or chunks[0][0].texts
            pace = (time.perf_counter() - started) / max(texts, 1)
            self.seconds_per_text += PACE_SMOOTHING * (pace - self.seconds_per_text)
            finished = [job for job, _, _ in chunks if error is not None or not job.left]
            if finished:
                finished[0].future.get_loop().call_soon_threadsafe(settle, finished, error)


def settle(jobs: list[Job], error: Exception | None) -> None:
    """On the event loop: hand each finished request its answer (or the error)."""
    for job in jobs:
        if not job.future.done():  # cancelled: the client went away
            if error is None:
                job.future.set_result(job.results)
            else:
                job.future.set_exception(error)
