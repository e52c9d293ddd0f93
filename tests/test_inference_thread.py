"""The service's inference thread: which requests it scores together, and what each caller gets back."""
import asyncio
import threading

import pytest

from reception.serving.inference_thread import InferenceThread, QueueFull


class RecordingScorer:
    """Scores a record as its "n" times ten; remembers each call's records; the first call waits for
    `release`, so that the requests sent meanwhile queue up behind it."""

    def __init__(self, fail_on: int | None = None):
        self.calls, self.release, self.fail_on = [], threading.Event(), fail_on

    def __call__(self, records):
        self.calls.append([r["n"] for r in records])
        if len(self.calls) == 1:
            self.release.wait(10)
        if self.fail_on in self.calls[-1]:
            raise ValueError("scoring failed")
        return [{"score": r["n"] * 10} for r in records]


def records(*numbers):
    return [{"n": n} for n in numbers]


async def scored_while_busy(thread, scorer, first, later):
    """Sends `first`, then each (key, records) of `later` while the first call runs; every result."""
    tasks = [asyncio.ensure_future(thread.score("a", first))]
    await asyncio.sleep(0.05)  # the thread has taken the first request and waits in the scorer
    tasks += [asyncio.ensure_future(thread.score(key, batch)) for key, batch in later]
    await asyncio.sleep(0.05)
    scorer.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_waiting_requests_go_together_whole_and_each_caller_gets_its_own():
    scorer = RecordingScorer()
    thread = InferenceThread({"a": scorer}, max_records=4)
    results = asyncio.run(scored_while_busy(thread, scorer, records(1), [
        ("a", records(2, 3)), ("a", records(4, 5, 6)), ("a", records(7)), ("a", records(8, 9, 10, 11, 12))]))
    # After the first call: the oldest waiting request and what fits beside it (2, 3 and 7: 4, 5, 6 would
    # overflow 4 records); then 4, 5, 6; a request over max_records is scored in chunks of max_records.
    assert scorer.calls == [[1], [2, 3, 7], [4, 5, 6], [8, 9, 10, 11], [12]]
    assert [[r["score"] for r in result] for result in results] == [
        [10], [20, 30], [40, 50, 60], [70], [80, 90, 100, 110, 120]]


def test_models_are_never_mixed_and_the_oldest_request_goes_first():
    a, b = RecordingScorer(), RecordingScorer()
    b.release.set()
    thread = InferenceThread({"a": a, "b": b}, max_records=8)
    results = asyncio.run(scored_while_busy(thread, a, records(1), [
        ("b", records(2)), ("a", records(3)), ("b", records(4))]))
    assert a.calls == [[1], [3]] and b.calls == [[2, 4]]
    assert [result[0]["score"] for result in results] == [10, 20, 30, 40]


def test_a_failed_call_fails_its_callers_only_and_the_thread_goes_on():
    scorer = RecordingScorer(fail_on=3)
    thread = InferenceThread({"a": scorer}, max_records=2)
    results = asyncio.run(scored_while_busy(thread, scorer, records(1), [
        ("a", records(2)), ("a", records(3)), ("a", records(4))]))
    assert scorer.calls == [[1], [2, 3], [4]]
    assert results[0] == [{"score": 10}] and results[3] == [{"score": 40}]
    assert all(isinstance(r, ValueError) for r in results[1:3])


def test_a_request_whose_client_left_is_not_scored():
    scorer = RecordingScorer()
    thread = InferenceThread({"a": scorer}, max_records=8)

    async def left_while_waiting():
        first = asyncio.ensure_future(thread.score("a", records(1)))
        await asyncio.sleep(0.05)
        gone, kept = asyncio.ensure_future(thread.score("a", records(2))), asyncio.ensure_future(
            thread.score("a", records(3)))
        await asyncio.sleep(0.05)
        gone.cancel()
        scorer.release.set()
        return await asyncio.gather(first, kept)

    assert [result[0]["score"] for result in asyncio.run(left_while_waiting())] == [10, 30]
    assert scorer.calls == [[1], [3]]


def test_one_off_calls_run_on_the_inference_thread():
    thread = InferenceThread({}, max_records=8)

    async def call():
        return await thread.call(lambda x: (x, threading.current_thread().name), 7)

    async def fails():
        return await thread.call(lambda: 1 / 0)

    assert asyncio.run(call()) == (7, "inference")
    with pytest.raises(ZeroDivisionError):
        asyncio.run(fails())


def test_a_large_request_is_scored_in_chunks_taken_in_turn_with_later_requests():
    scorer = RecordingScorer()
    thread = InferenceThread({"a": scorer}, max_records=3)

    async def big_then_small():
        first = asyncio.ensure_future(thread.score("a", records(0)))
        await asyncio.sleep(0.05)  # the thread waits in the scorer
        big = asyncio.ensure_future(thread.score("a", records(*range(1, 10))))
        await asyncio.sleep(0.01)
        small = asyncio.ensure_future(thread.score("a", records(100)))
        await asyncio.sleep(0.01)
        scorer.release.set()
        return await asyncio.gather(first, big, small)

    _, big, small = asyncio.run(big_then_small())
    # the small request waits for one chunk of the big one, not for all of it
    assert scorer.calls == [[0], [1, 2, 3], [100], [4, 5, 6], [7, 8, 9]]
    assert [r["score"] for r in big] == [10 * n for n in range(1, 10)] and small == [{"score": 1000}]


def test_a_full_queue_refuses_at_once_and_an_empty_one_takes_any_request():
    scorer = RecordingScorer()
    thread = InferenceThread({"a": scorer}, max_records=2, max_queued_texts=5)

    async def flood():
        first = asyncio.ensure_future(thread.score("a", records(*range(8))))  # over the bound, queue empty
        await asyncio.sleep(0.05)  # 2 handed to the model, 6 wait
        with pytest.raises(QueueFull) as refused:
            thread.score("a", records(9))
        scorer.release.set()
        scored = await first
        after = await thread.score("a", records(*range(5)))  # drained: taken again
        return refused.value, scored, after

    refused, scored, after = asyncio.run(flood())
    assert refused.retry_after_s >= 1 and "service.max_queued_texts" in str(refused)
    assert len(scored) == 8 and len(after) == 5 and thread.refused == 1 and thread.queued == 0
