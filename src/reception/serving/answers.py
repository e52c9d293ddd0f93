"""From a served model's ScoredRecords to the service's answers: one prediction per text, and the
"when to post" curve of a draft."""
from __future__ import annotations

from reception.data.text import clean_text
from reception.models.evaluation import label_of
from reception.serving import explain
from reception.serving.scored_record import ScoredRecord

EMPTY_AFTER_CLEANING = ("no character of this text survives cleaning (the model reads a-z, 0-9 and ?!.,'); "
                        "the score is the model's answer to an empty comment")


def prediction(text: str, scored: ScoredRecord, model_key: str, backend_model_name: str) -> dict:
    """The answer for one text (service/schemas.py: Prediction)."""
    return {"label": label_of(scored.score), "score": scored.score, "model_key": model_key,
            "backend_model_name": backend_model_name,
            "warning": None if clean_text(text) else EMPTY_AFTER_CLEANING,
            "inputs_used": scored.inputs_used, "contributions": scored.contributions}


def text_only(scores) -> list[ScoredRecord]:
    """A model that reads the text alone and explains nothing (a zero-shot checkpoint): its scores as records."""
    return [ScoredRecord(float(s), {"text": {"source": "request"}}, [], None) for s in scores]


def posting_curve(scorer, record: dict, now: float, delays_minutes, batch_size: int) -> tuple[list[dict], dict]:
    """The model's "when to post" curve for the draft `record` (explain.when_to_post, which
    ReceptionModel.when_to_post wraps), each point labelled, scored as predictions are (encoder batch
    `batch_size`), and what the model read for the draft posted `now`."""
    read: list[dict] = []

    def score_records(records: list[dict], now: float | None = None) -> list[ScoredRecord]:
        scored = scorer.score_records(records, batch_size=batch_size, now=now)
        read.extend(s.inputs_used for s in scored)
        return scored

    curve = explain.when_to_post(score_records, record, now, delays_minutes)
    return [{**point, "label": label_of(point["score"])} for point in curve], read[0]
