"""The service's prediction log: one record per scored text, written through BentoML's monitoring API.

Why: without a record of what the service was asked and what it answered, nobody can tell whether the
champion still works on today's comments. `reception monitor` reads these records back to measure drift,
estimate performance before scores mature, and join the matured scores by comment_id.

Sink: BentoML's monitor (`bentoml.monitor(MONITOR_NAME)`). By default it writes JSON lines to
`<log_folder(service.log_dir)>/reception_predictions/data/data.<worker>.log` (rotated daily) and its schema to
`.../schema/schema.<worker>.log`; a BentoML config file can point it at an OTLP collector instead
(docs/monitoring.md). The text itself is logged only as its length, sha256, punctuation flags and
TEXT_PROJECTION_DIM numbers (see `project`), unless `service.log_text` is true.

Logging never fails a request: a failed write is caught, counted and reported in /health and the server
log, and the service keeps scoring. A folder that cannot be written or a disk with less than
`service.log_min_free_mb` left is found by a cheap check (at most every PROBE_INTERVAL_S), which also
pauses writing until the folder is usable again; after a failure every PROBE_INTERVAL_S writing is tried again.
"""
from __future__ import annotations

import contextvars
import functools
import hashlib
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from reception.features import API_INPUTS
from reception.text import normalize

MONITOR_NAME = "reception_predictions"
# The projection of the sentence embedding that the log carries: a fixed Gaussian random projection
# (Johnson-Lindenstrauss) of the normalised 384-d all-MiniLM-L6-v2 vector onto this many axes, drawn from
# this seed. It needs no fitted artefact, so the log and the training reference (data/embeddings) are
# projected identically by any version of the code; changing either constant makes old logs incomparable.
TEXT_PROJECTION_DIM, TEXT_PROJECTION_SEED = 8, 15
PROBE_INTERVAL_S = 10.0
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
                        f"{TEXT_PROJECTION_DIM} numbers: reception.prediction_log.project of the text's embedding "
                        "(null when the family has no sentence embedding)"),
    **{name: ("feature", "numerical" if name.endswith("_utc") else "categorical",
              "the value the model read (request or default); null if the family does not read it")
       for name in API_INPUTS},
    **{f"{name}_source": ("feature", "categorical", "request | default | null (not read)") for name in API_INPUTS},
    "score": ("prediction", "numerical", "P(well received)"),
    "label": ("prediction", "categorical", "positive | negative"),
}
TEXT_COLUMN = ("feature", "categorical", "the raw text (only with service.log_text: true)")

logger = logging.getLogger("reception.prediction_log")


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


def columns(records: list[dict], scored: list[dict], answers: list[dict], served: dict,
            log_text: bool, now: float) -> dict[str, list]:
    """The log's columns for one request: `records` as sent to the model ({"text", optional metadata,
    comment_id, post_id}), `scored` from the model (optional "text_projection"), `answers` as returned to
    the caller (score, label, model_key, backend_model_name, inputs_used). `served`: for the champion's
    key, its bento_model and model_version."""
    rows = []
    for record, score, answer in zip(records, scored, answers, strict=True):
        text, used = record["text"], answer["inputs_used"]
        normalized = normalize(text)
        champion = served if answer["model_key"] == served["model_key"] else {}
        projection = score.get("text_projection")
        row = {
            "request_time_utc": now, "model_key": answer["model_key"],
            "backend_model_name": answer["backend_model_name"], "bento_model": champion.get("bento_model"),
            "model_version": champion.get("model_version"), "comment_id": record.get("comment_id"),
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
    """Writes `columns` through BentoML's monitor; never raises. `status()` is what /health shows."""

    def __init__(self, served: dict, log_text: bool, min_free_mb: float) -> None:
        self.served, self.log_text, self.min_free_bytes = served, log_text, min_free_mb * 2**20
        self.written = self.failed = 0
        self.error: str | None = None
        self.probed_at = -float("inf")

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
        _, folder = self.sink()
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
        try:
            self.probe()
            if self.error:
                self.failed += len(records)
                return
            data = columns(records, scored, answers, self.served, self.log_text, time.time())
            # In a copy of the context: a failed export leaves BentoML's per-record state set, which must not
            # reach the next record of this request.
            contextvars.copy_context().run(self.export, data)
            self.written += len(records)
        except Exception as error:  # noqa: BLE001 - logging must never fail a request
            self.failed += len(records)
            self.report(f"prediction log write failed: {type(error).__name__}: {error}")

    def export(self, data: dict[str, list]) -> None:
        import bentoml

        schema = {**SCHEMA, "text": TEXT_COLUMN} if self.log_text else SCHEMA
        # One record per block: BentoML takes the schema from the first block and warns about every column
        # of a first block that holds several rows (log_batch).
        for row in zip(*data.values(), strict=True):
            with bentoml.monitor(MONITOR_NAME) as monitor:
                for name, value in zip(data, row, strict=True):
                    role, data_type, _ = schema[name]
                    monitor.log(value, name, role, data_type)

    def status(self) -> dict:
        self.probe()
        kind, folder = self.sink()
        return {"ok": self.error is None, "sink": kind, "folder": str(folder) if folder else None,
                "text_logged": self.log_text, "records_written": self.written, "records_not_logged": self.failed,
                "error": self.error}
