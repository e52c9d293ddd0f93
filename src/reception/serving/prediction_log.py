"""The service's prediction log: one record per scored text, written through BentoML's monitoring API.

Why: without a record of what the service was asked and what it answered, nobody can tell whether the
champion still works on today's comments. `reception monitor` reads these records back to measure drift,
estimate performance before scores mature, and join the matured scores by comment_id.

Sink: BentoML's monitor (`bentoml.monitor(MONITOR_NAME)`). By default it writes JSON lines to
`<log_folder(service.log_dir)>/reception_predictions/data/data.<worker>.log` (rotated daily) and its schema to
`.../schema/schema.<worker>.log`; a BentoML config file can point it at an OTLP collector instead
(docs/monitoring.md). The text itself is logged only as its length, sha256, punctuation flags and
TEXT_PROJECTION_DIM numbers (see `project`), unless `service.log_text` is true.

Cost on the request path: `write` only checks that logging is usable and hands the request's records to one
background thread (a queue of at most QUEUE_REQUESTS requests), which builds the columns and exports them, so
the response never waits for the disk or the collector. If the writer falls that far behind, further requests
are dropped from the log and counted (/health: records_dropped).

Logging never fails a request: a failed write is caught, counted and reported in /health and the server
log, and the service keeps scoring. A record that cannot be written (one whose columns cannot be built,
or that the sink refuses) is skipped and counted (/health: records_skipped); the request's other records
and every later request are written as usual, so one bad record never silences the log. A folder that
cannot be written or a disk with less than `service.log_min_free_mb` left is found by a cheap check (at
most every PROBE_INTERVAL_S), which pauses writing until the folder is usable again.
"""
from __future__ import annotations

import atexit
import collections
import contextvars
import functools
import hashlib
import logging
import os
import queue
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from reception.data.features import API_INPUTS
from reception.data.text import normalize
from reception.serving.scored_record import ScoredRecord

MONITOR_NAME = "reception_predictions"
# The projection of the sentence embedding that the log carries: a fixed Gaussian random projection
# (Johnson-Lindenstrauss) of the normalised 384-d all-MiniLM-L6-v2 vector onto this many axes, drawn from
# this seed. It needs no fitted artefact, so the log and the training reference (data/embeddings) are
# projected identically by any version of the code; changing either constant makes old logs incomparable.
TEXT_PROJECTION_DIM, TEXT_PROJECTION_SEED = 8, 15
PROBE_INTERVAL_S = 10.0
QUEUE_REQUESTS = 4096  # requests waiting for the background writer; more are dropped from the log and counted
WRITE_PAUSE_S = 0.05  # the writer's pause after emptying the queue: a record is written at most this much later
# Every column of a record: name -> (BentoML role, BentoML data type, meaning). docs/monitoring.md shows it.
SCHEMA = {
    "request_time_utc": ("feature", "numerical", "when the answer was ready, unix seconds"),
    "model_key": ("feature", "categorical", "the family or zero-shot key that scored the text"),
    "backend_model_name": ("feature", "categorical", "models:/<name>/<version>, or the zero-shot checkpoint"),
    "bento_model": ("feature", "categorical", "the BentoML model tag of the champion (null for zero-shot keys)"),
    "model_version": ("feature", "categorical", "the champion's registered version (null for zero-shot keys)"),
    "comment_id": ("feature", "categorical", "the caller's Reddit comment id, if sent"),
    "post_id": ("feature", "categorical", "the caller's Reddit post (thread) id, if sent"),
    "text_len": ("feature", "numerical", "characters of the NFKC-normalised text (the model's text_len)"),
    "text_sha256": ("feature", "categorical", "sha256 of the raw text, hex"),
    "has_exclamation": ("feature", "categorical", "the text holds '!'"),
    "has_question": ("feature", "categorical", "the text holds '?'"),
    "text_projection": ("feature", "numerical_sequence",
                        f"{TEXT_PROJECTION_DIM} numbers: reception.serving.prediction_log.project of the text's "
                        "embedding (null when the family has no sentence embedding)"),
    **{name: ("feature", "numerical" if name.endswith("_utc") else "categorical",
              "the value the model read (request or default); null if the family does not read it")
       for name in API_INPUTS},
    **{f"{name}_source": ("feature", "categorical", "request | default | null (not read)") for name in API_INPUTS},
    "score": ("prediction", "numerical", "P(well received)"),
    "label": ("prediction", "categorical", "positive | negative"),
}
TEXT_COLUMN = ("feature", "categorical", "the raw text (only with service.log_text: true)")

logger = logging.getLogger("reception.serving.prediction_log")


@functools.cache
def projection_matrix(dim_in: int) -> np.ndarray:
    rng = np.random.default_rng(TEXT_PROJECTION_SEED)
    return rng.standard_normal((dim_in, TEXT_PROJECTION_DIM)) / np.sqrt(TEXT_PROJECTION_DIM)


def project(vectors: np.ndarray | None) -> np.ndarray | None:
    """The TEXT_PROJECTION_DIM-d projection of sentence embeddings (rows), or None without embeddings."""
    if vectors is None:
        return None
    vectors = np.asarray(vectors, dtype="float64")
    return vectors @ projection_matrix(vectors.shape[1])


def log_folder(log_dir: str) -> Path:
    """service.log_dir as a folder: an absolute path as given, a relative one inside BentoML's home
    (BENTOML_HOME, default ~/bentoml). Not the working directory: `bentoml serve` of a bento runs inside the
    bento's own copy of the sources, and `reception monitor` must find the same folder from anywhere."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    path = Path(log_dir).expanduser()
    return path if path.is_absolute() else Path(BentoMLContainer.bentoml_home.get()) / path


def bentoml_config(log_dir: str) -> dict:
    """The service's `monitoring` config: BentoML's default (file) monitor writing under log_folder(log_dir).
    A BentoML config file (services.reddit_reception.monitoring) overrides it, e.g. with the OTLP monitor."""
    return {"enabled": True, "type": "default", "options": {"log_path": str(log_folder(log_dir))}}


def columns(records: list[dict], scored: list[ScoredRecord], answers: list[dict], served: dict,
            log_text: bool, now: float) -> dict[str, list]:
    """The log's columns for one request: `records` as sent to the model ({"text", optional metadata,
    comment_id, post_id}), `scored` from the model (its sentence embeddings are projected here, off the
    request path), `answers` as returned to the caller (score, label, model_key, backend_model_name,
    inputs_used). `served`: for the default key, its bento_model and model_version."""
    vectors = [s.vector for s in scored]  # one model scored the request: all embeddings, or none
    projections = project(np.stack(vectors)) if vectors and vectors[0] is not None else [None] * len(scored)
    rows = []
    for record, projection, answer in zip(records, projections, answers, strict=True):
        text, used = record["text"], answer["inputs_used"]
        normalized = text if text.isascii() else normalize(text)  # NFKC leaves ASCII as it is
        default = served if answer["model_key"] == served["model_key"] else {}
        row = {
            "request_time_utc": now, "model_key": answer["model_key"],
            "backend_model_name": answer["backend_model_name"], "bento_model": default.get("bento_model"),
            "model_version": default.get("model_version"), "comment_id": record.get("comment_id"),
            "post_id": record.get("post_id"), "text_len": len(normalized),
            "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "has_exclamation": "!" in normalized, "has_question": "?" in normalized,
            "text_projection": None if projection is None else [round(float(x), 5) for x in projection],
            **{name: used[name]["value"] if name in used else None for name in API_INPUTS},
            **{f"{name}_source": used[name]["source"].split(":")[0] if name in used else None for name in API_INPUTS},
            "score": float(answer["score"]), "label": answer["label"],
        }
        if log_text:
            row["text"] = text
        rows.append(row)
    return {name: [row[name] for row in rows] for name in rows[0]} if rows else {}


class PredictionLog:
    """Writes `columns` through BentoML's monitor from one background thread; never raises. `status()` is
    what /health shows."""

    def __init__(self, served: dict, log_text: bool, min_free_mb: float,
                 queue_requests: int = QUEUE_REQUESTS) -> None:
        self.served, self.log_text, self.min_free_bytes = served, log_text, min_free_mb * 2**20
        # Each counter has one writer: the request path (failed while paused, dropped) or the writer thread.
        self.written = self.failed = self.dropped = self.skipped = 0
        self.error: str | None = None  # the folder is unusable: writing pauses until probe() finds it usable
        # why the last request's records were not all written; cleared by the next request written whole
        self.write_error: str | None = None
        self.probed_at = -float("inf")
        self.queue: queue.Queue = queue.Queue(queue_requests)
        self.writer: threading.Thread | None = None
        self.lock = threading.Lock()  # starts the writer once
        self.monitor = None  # BentoML's monitor instance once it has the schema
        self.enabled = True  # BentoML's monitoring.enabled, read by probe()

    @staticmethod
    def sink() -> tuple[str, Path | None]:
        """The monitor type BentoML is configured with, and for the default (file) monitor its folder."""
        from bentoml._internal.configuration.containers import BentoMLContainer

        config = BentoMLContainer.config.monitoring.get()
        kind = config.get("type") or "default"
        if not config.get("enabled", True):
            return "disabled", None
        return kind, Path(config["options"]["log_path"]).resolve() if kind == "default" else None

    def probe(self) -> None:
        """Re-check the folder (exists or can be made, writable, enough free space) every PROBE_INTERVAL_S."""
        if time.monotonic() - self.probed_at < PROBE_INTERVAL_S:
            return
        self.probed_at = time.monotonic()
        kind, folder = self.sink()
        self.enabled = kind != "disabled"
        if folder is None:  # no folder to check (OTLP or disabled): retry the sink after a failure
            self.error = None
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"{folder} is not writable")
            free = shutil.disk_usage(folder).free
            if free < self.min_free_bytes:
                raise OSError(f"{free / 2**20:.0f} MiB free under {folder}, less than service.log_min_free_mb")
        except OSError as error:
            self.report(f"prediction log folder unusable: {error}")
        else:
            if self.error:
                logger.warning("prediction log: %s is usable again", folder)
            self.error = None

    def report(self, message: str) -> None:
        if message != self.error:
            logger.error("%s; predictions are not logged, scoring goes on", message)
        self.error = message

    def write(self, records: list[dict], scored: list[dict], answers: list[dict]) -> None:
        """Queue one request's records for the writer (in a copy of the request's context, which holds
        the request and trace ids BentoML adds to each record)."""
        try:
            self.probe()
            if self.error:
                self.failed += len(records)
                return
            if not self.enabled:  # monitoring.enabled: false
                return
            if self.writer is None:
                self.start()
            self.queue.put_nowait((contextvars.copy_context(), records, scored, answers, time.time()))
        except queue.Full:
            self.dropped += len(records)
        except Exception as error:  # noqa: BLE001 - logging must never fail a request, nor pause for the next
            self.failed += len(records)
            self.skip(f"a request's records could not be queued: {type(error).__name__}: {error}")

    def start(self) -> None:
        with self.lock:
            if self.writer is None:
                self.writer = threading.Thread(target=self.drain, name="prediction-log", daemon=True)
                self.writer.start()
                atexit.register(self.close)

    def drain(self) -> None:
        """The writer thread, until close() sends None: every queued request in arrival order, then a pause
        of WRITE_PAUSE_S, so that it wakes once per pause rather than once per request (each wake-up takes
        the interpreter lock from the event loop)."""
        while True:
            item = self.queue.get()
            while True:
                if item is None:
                    self.queue.task_done()
                    return
                self.write_queued(*item)
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            time.sleep(WRITE_PAUSE_S)

    def write_queued(self, context: contextvars.Context, records: list[dict], scored: list[dict],
                     answers: list[dict], now: float) -> None:
        """One request's records as one block, without those whose columns cannot be built (each skipped
        and counted); a block the sink refuses is skipped and counted too. Neither pauses the log."""
        try:
            try:
                data, kept = columns(records, scored, answers, self.served, self.log_text, now), len(records)
            except Exception:  # noqa: BLE001 - some record of the request: build the others one by one
                data, kept = {}, 0
                for one in zip(records, scored, answers, strict=True):
                    try:
                        row = columns(*([part] for part in one), self.served, self.log_text, now)
                    except Exception as error:  # noqa: BLE001 - this record is counted and skipped
                        self.skipped += 1
                        self.skip(f"a record could not be written: {type(error).__name__}: {error}")
                        continue
                    data = {name: [*data.get(name, []), *values] for name, values in row.items()}
                    kept += 1
            try:
                context.run(self.export, data)
                self.written += kept
                if kept == len(records):
                    self.write_error = None  # writing works again: /health says ok
            except Exception as error:  # noqa: BLE001 - the sink refused the block: counted, never raised
                self.skipped += kept
                self.skip(f"{kept} records could not be written: {type(error).__name__}: {error}")
        finally:
            self.queue.task_done()

    def skip(self, message: str) -> None:
        """Reports skipped records (once per distinct reason in the server log); writing goes on."""
        if message != self.write_error:
            logger.error("prediction log: %s; skipped, logging goes on", message)
        self.write_error = message

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued record is written or has failed; False if that took over timeout_s."""
        deadline = time.monotonic() + timeout_s
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                if not self.queue.all_tasks_done.wait(deadline - time.monotonic()):
                    return False
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (for at most timeout_s) and stop the writer; at exit, and in benchmarks."""
        writer = self.writer
        if writer is None or not writer.is_alive():
            return
        self.flush(timeout_s)
        try:
            self.queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        writer.join(timeout_s)
        self.writer = None

    def export(self, data: dict[str, list]) -> None:
        """The columns through BentoML's monitor. Its first block goes through `bentoml.monitor` one value at a
        time, which hands BentoML the schema (names, roles and types, from the first row) and yields the monitor
        instance; later blocks go whole to that monitor's export_data, what its stop_record calls for a block,
        without the per-value bookkeeping of monitor.log."""
        if not data:
            return
        if self.monitor is None:
            schema = {**SCHEMA, "text": TEXT_COLUMN} if self.log_text else SCHEMA
            # BentoML's per-record state lives in context variables: a copy keeps a failed block's state
            # from reaching the next one.
            self.monitor = contextvars.copy_context().run(
                self.export_first, {name: values[0] for name, values in data.items()}, schema)
            data = {name: values[1:] for name, values in data.items()}
            if not data["score"]:
                return
        self.monitor.export_data({name: collections.deque(values) for name, values in data.items()})

    @staticmethod
    def export_first(row: dict, schema: dict):
        """Logs `row` through `bentoml.monitor`; returns the monitor instance it used."""
        import bentoml

        monitor = None
        try:
            with bentoml.monitor(MONITOR_NAME) as monitor:
                for name, value in row.items():
                    role, data_type, _ = schema[name]
                    monitor.log(value, name, role, data_type)
        except Exception:
            if monitor is not None:
                monitor.columns_schema = None  # not written: the next block sends the schema again
            raise
        return monitor

    def status(self) -> dict:
        self.probe()
        kind, folder = self.sink()
        return {"ok": self.error is None and self.write_error is None, "sink": kind,
                "folder": str(folder) if folder else None, "text_logged": self.log_text,
                "records_written": self.written,
                "records_not_logged": self.failed + self.skipped + self.dropped, "records_dropped": self.dropped,
                "records_skipped": self.skipped, "records_queued": self.queue.qsize(),
                "error": self.error or self.write_error}


def text_sha256(text: str) -> str:
    """The log's `text_sha256`: sha256 of the text's UTF-8 exactly as the caller sent it, not normalised.
    `reception monitor` hashes a comment's final body with it, so that a prediction meets its outcome
    only when it scored that very text."""
    return hashlib.sha256(text.encode()).hexdigest()


# Retention. BentoML's file monitor rotates `data.<worker>.log` daily (Python's TimedRotatingFileHandler,
# at the first record a day or more after the file was started) into `data.<worker>.log.<YYYY-MM-DD>`,
# and never deletes anything: `reception monitor` calls `expire_log_files` on every run.
ROTATED_LOG = re.compile(r"data\.\d+\.log\.\d{4}-\d{2}-\d{2}")


def log_retention_days(value: object, window: int) -> int:
    """service.log_retention_days, refused (ValueError) unless a whole number of days >= monitoring.window:
    a shorter retention would delete what the default monitoring window reads."""
    if isinstance(value, bool) or not isinstance(value, int) or value < max(window, 1):
        raise ValueError(f"service.log_retention_days must be a whole number of days >= monitoring.window "
                         f"({window}); got {value!r}")
    return value


def expire_log_files(log_dir: Path, retention_days: int, now: float | None = None) -> list[Path]:
    """Delete the rotated prediction-log files under `log_dir` last written more than retention_days ago;
    the deleted paths. By the last write (mtime), not the date in the name: a rotated file holds records up
    to a day after that date, and every record in it was written before its last write, so no record
    younger than the retention goes. The file a worker is writing (no date) is left to its rotation."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    folder = log_dir / MONITOR_NAME / "data"
    expired = [p for p in sorted(folder.glob("data.*.log.*")) if ROTATED_LOG.fullmatch(p.name)
               and p.is_file() and p.stat().st_mtime < cutoff]
    for path in expired:
        path.unlink(missing_ok=True)
    return expired
