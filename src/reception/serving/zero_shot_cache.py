"""The service's zero-shot checkpoints, each loaded on its first request and kept; one that failed to load
is not retried on every call (offline, each try would wait on the network) but after RETRY_S."""
from __future__ import annotations

import time

RETRY_S = 600


class Unavailable(RuntimeError):
    """A checkpoint that cannot be loaded; the message says which key and why."""


class ZeroShotCache:
    def __init__(self, checkpoints: dict[str, dict], max_length: int, batch_size: int) -> None:
        """`checkpoints`: key -> its declaration in params.yaml (checkpoint, positive_labels). Built on the
        main thread: transformers' lazy imports failed when first run from a request's worker thread."""
        from reception.models import zero_shot

        self.zero_shot = zero_shot
        self.checkpoints, self.max_length, self.batch_size = checkpoints, max_length, batch_size
        self.loaded: dict[str, object] = {}
        self.failures: dict[str, tuple[float, str]] = {}  # key -> (when, message)

    def model(self, key: str):
        """The loaded classifier for `key`, or Unavailable (also within RETRY_S of a failed load)."""
        if key in self.loaded:
            return self.loaded[key]
        failed = self.failures.get(key)
        if failed and time.monotonic() - failed[0] < RETRY_S:
            raise Unavailable(failed[1])
        spec = self.checkpoints[key]
        try:
            model = self.zero_shot.ZeroShotClassifier(spec["checkpoint"], spec["positive_labels"], self.max_length,
                                                      self.batch_size)
        except self.zero_shot.ModelUnavailable as error:
            message = f"model_key '{key}' is unavailable: {error}"
            self.failures[key] = (time.monotonic(), message)
            raise Unavailable(message) from error
        self.loaded[key] = model
        return model

    def status(self, key: str) -> str:
        """What /health says of `key`."""
        if key in self.loaded:
            return "loaded"
        if key in self.failures:
            return f"unavailable: {self.failures[key][1]}"
        return "not loaded yet"
