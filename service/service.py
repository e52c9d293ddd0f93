"""BentoML service for the locked champion and every other served family: the seed's REST contract,
batch scoring, a browser UI and the prediction log.

One BentoML service, one process: RedditReception holds the models and serves the seed's JSON contract
through FastAPI routes mounted at / (request validation, the model keys, /health, /ui; BentoML's /livez,
/readyz and /metrics stay). Concurrent requests for a model are scored together, in batches, by one
inference thread that takes its next batch itself (InferenceThread). Why not BentoML's two-service
composition (an API service calling a batchable model service): on 2 CPU cores the hop between the two
processes cost more than the model's own work around the encoder, and it rarely lost answers on closed
keep-alive connections; see docs/benchmarks.md.

The served models are exactly the ones the bento declares: `models/bento.json` (written by the `bento`
stage before it builds, and shipped inside the bento) names their tags, so neither the local BentoML
store's `latest` nor anything imported after the build can replace them. `model_key` picks the champion
(default), any other trained family this machine trained, the TF-IDF baseline or a zero-shot checkpoint.
Serve the built bento with `make serve`, or from source: `bentoml serve service.service:RedditReception`.
"""
from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import bentoml
import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictStr, model_validator

from reception.models.evaluation import THRESHOLD
from reception.models.families import declared
from reception.serving import explain, prediction_log
from reception.serving.inference_thread import InferenceThread

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
MAX_CHARS = PARAMS["service"]["max_chars"]
MAX_BATCH = PARAMS["service"]["max_batch"]
ENCODE_BATCH = PARAMS["service"]["encode_batch_size"]
TORCH_THREADS = PARAMS["service"]["torch_threads"]
DECLARED = declared(ROOT / "params.yaml")
ZERO_SHOT = {name: family.settings for name, family in DECLARED.items() if family.zero_shot}
ZERO_SHOT_RETRY_S = 600  # a checkpoint that failed to load is retried after this long, not on every call
MODEL_BATCH = PARAMS["service"]["model_batch"]  # a single request is never split, whatever its size
LATEST_UTC = 253402300799  # 9999-12-31T23:59:59Z: the metadata times are unix seconds of a real date
UI_PAGE = Path(__file__).with_name("ui.html")
# RECEPTION_MODEL_URI (e.g. models:/reddit-reception@champion, with MLFLOW_TRACKING_URI) serves the
# champion from an MLflow registry instead of the bento's model.
MODEL_URI = os.environ.get("RECEPTION_MODEL_URI")


def locked_bento() -> dict:
    """What the bento declares (models/bento.json, inside the bento or the checkout): the BentoML model
    tag of the locked champion and its family, every served family's tag and thread-CV ROC-AUC, and the
    declared trained families not trained here."""
    record = ROOT / "models" / "bento.json"
    if not record.is_file():
        raise RuntimeError(f"{record} is missing: run `dvc repro bento` first (it imports the locked champion)")
    return json.loads(record.read_text())


BENTO = {} if MODEL_URI else locked_bento()
CHAMPION = None if MODEL_URI else bentoml.models.BentoModel(BENTO["model"])
# Every family the bento serves by its key (each trained family this machine trained, and the TF-IDF
# baseline): the champion first, then by thread-CV ROC-AUC. A registry champion is served alone.
SERVED = dict(sorted(BENTO["models"].items(), key=lambda item: (not item[1]["champion"],
                                                                -item[1]["thread_cv_roc_auc"]))) if BENTO else {}
UNAVAILABLE = BENTO["unavailable"] if BENTO else {}  # declared trained families not trained here: key -> why
# The keys a request may name, for the OpenAPI document (a registry champion's family is known only
# once it is loaded: the document then lists no enum; the handlers check the key either way).
MODEL_KEYS = [*SERVED, *UNAVAILABLE, *ZERO_SHOT] if BENTO else None
# The keys whose family reads the comment's timing (metadata), the only ones "when to post" can answer for
# (the handler asks the loaded model itself; this list is what the OpenAPI document states).
TIMING_KEYS = [key for key in [*SERVED, *UNAVAILABLE] if key in DECLARED and DECLARED[key].uses_metadata] \
    if BENTO else None
GIL_SWITCH_INTERVAL_S = 0.001  # see RedditReception.__init__
MAX_DELAYS = 24  # most points of one "when to post" curve
MAX_DELAY_MINUTES = 10080  # a week: later than that a thread is long over


def with_served_models(cls):
    """Every served family's model as a class attribute, as BentoML finds a service's models: the bento
    then ships each of them (a container's store holds nothing else)."""
    for key, entry in SERVED.items():
        if not entry["champion"]:  # that one is `champion`
            setattr(cls, f"model_{key}", bentoml.models.BentoModel(entry["tag"]))
    return cls


# The OpenAPI document states what the handlers enforce. Blank and over-long texts and oversized
# batches are checked by check_texts (so that size limits answer 413, as documented), not by pydantic:
# their schema keywords are declared here without pydantic enforcing them a second time.
# Blank = every character is whitespace to str.strip(); the pattern spells that set out, because JSON
# Schema's \s (ECMA-262) is another one (it lacks U+001C-U+001F and U+0085, and has U+FEFF).
NOT_BLANK = "[^" + "".join(f"\\u{c:04x}" for c in range(0x3001) if chr(c).isspace()) + "]"
Text = Annotated[StrictStr, Field(json_schema_extra={"minLength": 1, "maxLength": MAX_CHARS, "pattern": NOT_BLANK},
                                  description=f"raw comment text: not blank, at most {MAX_CHARS} characters "
                                              "(service.max_chars; longer is 413)")]
# is_submitter: accepted for the seed's clients, never an input of a served model.
NOT_READ = ("accepted and not read (the ablation dropped the submitter group: it did not help on unseen threads); "
            "inputs_used omits it")
UnixTime = Annotated[StrictFloat, Field(ge=0, le=LATEST_UTC, allow_inf_nan=False)]  # not a bool or a string


class ErrorBody(BaseModel):
    """Every answer other than 200: one human-readable message."""
    detail: str


ERRORS = {
    400: {"model": ErrorBody, "description": "the body is not valid JSON"},
    413: {"model": ErrorBody, "description": f"a text over {MAX_CHARS} characters (service.max_chars) or more "
                                             f"than {MAX_BATCH} texts (service.max_batch)"},
    422: {"model": ErrorBody, "description": "a field is missing, of the wrong type, blank, out of range or "
                                             "unknown; post_created_utc after created_utc; metadata not one "
                                             "entry per text; an unknown model_key"},
    503: {"model": ErrorBody, "description": "the requested zero-shot checkpoint cannot be loaded (and why)"},
}


class CommentMetadata(BaseModel):
    """Optional facts known when the comment is written; the hybrid family reads them. An absent field
    takes the default documented in reception.data.features.resolve_inputs (the response says which).
    Rule across fields: post_created_utc <= created_utc (422 otherwise)."""
    model_config = ConfigDict(extra="forbid")
    created_utc: UnixTime | None = Field(None, description="when the comment is posted, unix seconds")
    post_created_utc: UnixTime | None = Field(None, description="when the thread's post was created, unix seconds; "
                                                         "not after created_utc")
    is_submitter: StrictBool | None = Field(None, description=f"the comment's author wrote the post; {NOT_READ}")
    is_top_level: StrictBool | None = Field(None, description="a reply to the post, not to a comment")

    @model_validator(mode="after")
    def post_before_comment(self):
        if None not in (self.created_utc, self.post_created_utc) and self.post_created_utc > self.created_utc:
            raise ValueError("post_created_utc is after created_utc: a thread starts before its comments")
        return self


class LoggedIds(BaseModel):
    """Optional Reddit ids of the comment; never model inputs. Logged with the prediction, so that its
    final score can be joined to it once it matures (reception monitor)."""
    comment_id: StrictStr | None = Field(None, max_length=64, description="the comment's Reddit id, e.g. no53u7f")
    post_id: StrictStr | None = Field(None, max_length=64, description="its thread's (post's) Reddit id")


ModelKey = Annotated[StrictStr, Field(json_schema_extra={"enum": MODEL_KEYS} if MODEL_KEYS else None)]
MODEL_KEY = Field(None, description="one of /health's model_keys (an unknown key is 422; a zero-shot key whose "
                                    "checkpoint cannot be loaded, or a family not trained on this machine, is "
                                    "503); default: the champion's family")


class PredictRequest(CommentMetadata, LoggedIds):
    text: Text
    model_key: ModelKey | None = MODEL_KEY


class BatchMetadata(CommentMetadata, LoggedIds):
    pass


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[Text] = Field(min_length=1, json_schema_extra={"maxItems": MAX_BATCH},
                              description=f"1 to {MAX_BATCH} texts (service.max_batch; more is 413)")
    metadata: list[BatchMetadata] | None = Field(None, description="exactly one entry per text, in order")
    model_key: ModelKey | None = MODEL_KEY


class InputUsed(BaseModel):
    value: float | bool | None = None
    source: str = Field(description="'request', or 'default: ...' saying which default")


class Contribution(BaseModel):
    input: str = Field(description="an input group: text (its wording, length and punctuation), timing, "
                                   "reply_structure or hour_of_day")
    logit: float = Field(description="its share of the score's logit against the training mean (exact Shapley "
                                     "value over the groups): > 0 raises the chance, < 0 lowers it")
    says: str = Field(description="the input and its effect in words, e.g. 'written 3.7 h after the thread "
                                  "started: lowers the chance'")


class Prediction(BaseModel):
    label: Literal["positive", "negative"] = Field(description=f"positive when score >= {THRESHOLD}")
    score: float = Field(ge=0, le=1, description="P(well received)")
    model_key: str
    backend_model_name: str
    warning: str | None
    inputs_used: dict[str, InputUsed] = Field(description="what the model read, and where each value came from")
    contributions: list[Contribution] = Field(
        description="why this score: each input group's contribution, largest |logit| first "
                    "(reception.serving.explain); empty for a family without attribution "
                    "(fine-tuned, TF-IDF, zero-shot)")


class BatchPrediction(BaseModel):
    results: list[Prediction]


Delay = Annotated[StrictFloat, Field(ge=0, le=MAX_DELAY_MINUTES, allow_inf_nan=False)]


class WhenToPostRequest(BaseModel):
    """A draft and its thread's context: the score of writing it now and after each delay.
    Rule across fields: post_created_utc <= created_utc (422 otherwise)."""
    model_config = ConfigDict(extra="forbid")
    text: Text
    post_created_utc: UnixTime = Field(description="when the thread's post was created, unix seconds; not after "
                                                   "created_utc (required: the thread's start stays fixed while "
                                                   "the draft waits)")
    created_utc: UnixTime | None = Field(None, description="'now': when the draft would be posted without waiting, "
                                                           "unix seconds; default the time of the request")
    is_submitter: StrictBool | None = Field(None, description=f"the draft's author wrote the post; {NOT_READ}")
    is_top_level: StrictBool | None = Field(None, description="a reply to the post, not to a comment")
    model_key: Annotated[StrictStr, Field(json_schema_extra={"enum": TIMING_KEYS} if TIMING_KEYS else None)] | None \
        = Field(None, description="a key whose family reads the comment's timing (a text-only family, the "
                                  "TF-IDF baseline or a zero-shot key is 422; one not trained on this machine "
                                  "is 503); default: the champion's family")
    delays_minutes: list[Delay] | None = Field(
        None, min_length=1, max_length=MAX_DELAYS,
        description=f"the delays to score, in minutes after created_utc (0 to {MAX_DELAY_MINUTES}, at most "
                    f"{MAX_DELAYS}; sorted, duplicates dropped); default {list(explain.DELAYS_MINUTES)}")

    @model_validator(mode="after")
    def post_before_comment(self):
        if self.created_utc is not None and self.post_created_utc > self.created_utc:
            raise ValueError("post_created_utc is after created_utc: a thread starts before its comments")
        return self


class CurvePoint(BaseModel):
    delay_minutes: float = Field(description="minutes after created_utc ('now')")
    created_utc: float = Field(description="when the draft would be posted, unix seconds")
    score: float = Field(ge=0, le=1, description="P(well received) if posted then")
    label: Literal["positive", "negative"] = Field(description=f"positive when score >= {THRESHOLD}")


class BestTime(BaseModel):
    delay_minutes: float = Field(description="the delay with the highest score (the earliest of equals)")
    score: float = Field(ge=0, le=1)


class WhenToPost(BaseModel):
    model_key: str
    backend_model_name: str
    curve: list[CurvePoint] = Field(description="one point per delay, in order of delay")
    best: BestTime
    inputs_used: dict[str, InputUsed] = Field(description="what the model read for the draft posted now, and "
                                                          "where each value came from")


def score_records(scorer, records: list[dict]) -> list[dict]:
    """For each {"text": raw text, optional metadata}, in order: {"score": P(well received),
    "inputs_used": what the model read, with each value's source (request or default), "contributions": why
    (reception.serving.explain; [] without attribution), "text_projection": for the prediction log, None without
    sentence embeddings}. One call of the model's explained_records: scores, reasons and vectors together."""
    explained = scorer.explained_records(records, batch_size=ENCODE_BATCH)
    projections = prediction_log.project(explained["vectors"])
    return [{"score": float(s), "inputs_used": u, "contributions": c,
             "text_projection": None if projections is None else projections[i].tolist()}
            for i, (s, u, c) in enumerate(zip(explained["score"], explained["inputs_used"],
                                               explained["contributions"], strict=True))]


def posting_curve(scorer, record: dict, now: float, delays_minutes) -> tuple[list[dict], dict]:
    """The model's "when to post" curve for the draft `record` (reception.serving.explain.when_to_post, which
    ReceptionModel.when_to_post wraps), scored as predict-sentiment scores (encoder batch ENCODE_BATCH),
    and what the model read for the draft posted `now`."""
    read: list[dict] = []

    def scores(records: list[dict], now: float | None = None):
        scored, used = scorer.score_records(records, batch_size=ENCODE_BATCH, now=now)
        read.extend(used)
        return scored, used

    curve = explain.when_to_post(scores, record, now, delays_minutes)
    return curve, read[0]


class ApiError(Exception):
    """An answer other than 200, with a message for the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def check_texts(texts: list[str]) -> None:
    if len(texts) > MAX_BATCH:
        raise ApiError(413, f"at most {MAX_BATCH} texts per request (service.max_batch), got {len(texts)}")
    for index, text in enumerate(texts):
        where = f"texts[{index}]" if len(texts) > 1 else "text"
        if not text.strip():
            raise ApiError(422, f"{where} is empty or whitespace only")
        if len(text) > MAX_CHARS:
            raise ApiError(413, f"{where} has {len(text)} characters, more than {MAX_CHARS} (service.max_chars)")


app = FastAPI(title="Reddit comment reception", version="1")


async def current_service():
    """The running service instance, for the route methods."""
    return bentoml.get_current_service()


# BentoML hands each route method its service instance through a synchronous FastAPI dependency, which
# FastAPI runs on a worker thread: a thread hop per request, on 2 cores a tenth of the event loop's time.
# The same instance, from a coroutine, is handed over on the loop itself.
app.dependency_overrides[bentoml.get_current_service] = current_service


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    if any(p["type"] == "json_invalid" for p in problems):
        return JSONResponse({"detail": "request body is not valid JSON"}, status_code=400)
    message = "; ".join(f"{'.'.join(str(x) for x in p['loc'][1:]) or 'body'}: {p['msg']}" for p in problems)
    return JSONResponse({"detail": message}, status_code=422)


@app.exception_handler(ApiError)
async def api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse({"detail": error.message}, status_code=error.status)


# No access log line per request: on 2 cores it cost a third of the throughput at concurrency 32
# (measured back to back: 43 -> 68 requests/s); BentoML's /metrics still counts every request.
@bentoml.service(name="reddit_reception", workers=1, traffic={"timeout": 120}, logging={"access": {"enabled": False}},
                 monitoring=prediction_log.bentoml_config(PARAMS["service"]["log_dir"]))
@bentoml.asgi_app(app, path="/")
@with_served_models
class RedditReception:
    champion = CHAMPION

    def __init__(self) -> None:
        # Imported here, on the main thread: transformers' lazy imports failed when first run from a
        # request's worker thread inside the BentoML server.
        import torch

        from reception.data.text import clean_text
        from reception.models import zero_shot

        self.zero_shot_module, self.clean_text = zero_shot, clean_text
        self.registration = self.read_registration()
        self.champion_key = self.registration.get("family", "mlp_transformer")  # older models: the seed's
        if MODEL_URI:
            import mlflow

            models = {self.champion_key: mlflow.pyfunc.load_model(MODEL_URI)}
        else:
            import bentoml.mlflow

            models = {key: bentoml.mlflow.load_model(self.champion if entry["champion"] else
                                                     getattr(self, f"model_{key}")) for key, entry in SERVED.items()}
        torch.set_num_threads(TORCH_THREADS)
        # Each registered-style model's own scoring code (cleaning, encoder, classifier), called without
        # the pyfunc input-schema pass, which costs more than the classifier on a single short text.
        self.scorers = {key: model.unwrap_python_model() for key, model in models.items()}
        self.inference = InferenceThread({key: partial(score_records, scorer) for key, scorer in self.scorers.items()},
                                         MODEL_BATCH)
        self.model_keys = [*self.scorers, *UNAVAILABLE, *ZERO_SHOT]
        self.zero_shot: dict[str, object] = {}
        self.zero_shot_failures: dict[str, tuple[float, str]] = {}
        self.prediction_log = prediction_log.PredictionLog(
            {"model_key": self.champion_key, "bento_model": str(self.champion.tag) if self.champion else None,
             "model_version": self.registration.get("version")},
            PARAMS["service"]["log_text"], PARAMS["service"]["log_min_free_mb"])
        # Everything loaded so far (libraries, models: millions of objects) lives as long as the process.
        # Frozen, the collector stops walking it at each full collection, which under load had cost the
        # event loop 0.4 ms of CPU per request (1.1 -> 0.7 ms at concurrency 32).
        gc.freeze()
        # The inference thread gives up the GIL at every tokenizer and ONNX Runtime call and must win it
        # back from the event loop, by default after up to 5 ms (measured at concurrency 32: 0.72-0.87 of
        # the in-process ceiling with 5 ms, 0.83-0.85 with 1 ms).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)

    def read_registration(self) -> dict:
        """Name, version and alias decision of the served champion, as `register` recorded them."""
        if MODEL_URI:  # models:/<name>@<alias> or models:/<name>/<version>
            from mlflow import MlflowClient

            name, alias_or_version = MODEL_URI.removeprefix("models:/").replace("@", "/", 1).split("/", 1)
            client = MlflowClient()
            version = (client.get_model_version_by_alias(name, alias_or_version) if "@" in MODEL_URI
                       else client.get_model_version(name, alias_or_version))
            return {"registered_name": name, "version": version.version, "source": MODEL_URI,
                    "family": version.tags.get("family"), "alias_decision": version.tags.get("alias_decision")}
        registration = Path(self.champion.path_of("mlflow_model")) / "registration.json"
        return json.loads(registration.read_text()) if registration.is_file() else {}

    def check_key(self, model_key: str | None) -> str:
        """The request's model key (default: the champion's), or 422 listing the valid ones."""
        if model_key is None:
            return self.champion_key
        if model_key not in self.model_keys:
            raise ApiError(422, f"unknown model_key '{model_key}'; valid keys: {', '.join(self.model_keys)}")
        if model_key in UNAVAILABLE:
            raise ApiError(503, f"model_key '{model_key}' is unavailable: {UNAVAILABLE[model_key]}")
        return model_key

    def backend_name(self, model_key: str) -> str:
        if model_key in ZERO_SHOT:
            return ZERO_SHOT[model_key]["checkpoint"]
        if model_key != self.champion_key:  # served from the bento, not registered
            return f"bento:{SERVED[model_key]['tag']}"
        reg = self.registration
        return f"models:/{reg.get('registered_name', 'unregistered')}/{reg.get('version', '?')}"

    def zero_shot_model(self, model_key: str):
        if model_key in self.zero_shot:
            return self.zero_shot[model_key]
        failed = self.zero_shot_failures.get(model_key)
        if failed and time.monotonic() - failed[0] < ZERO_SHOT_RETRY_S:
            raise ApiError(503, failed[1])
        spec = ZERO_SHOT[model_key]
        try:
            model = self.zero_shot_module.ZeroShotClassifier(
                spec["checkpoint"], spec["positive_labels"], PARAMS["baselines"]["max_length"],
                PARAMS["baselines"]["batch_size"])
        except self.zero_shot_module.ModelUnavailable as error:
            message = f"model_key '{model_key}' is unavailable: {error}"
            self.zero_shot_failures[model_key] = (time.monotonic(), message)
            raise ApiError(503, message) from error
        self.zero_shot[model_key] = model
        return model

    async def scores(self, records: list[dict], model_key: str) -> list[dict]:
        """{"score", "inputs_used"} per record ({"text", optional metadata}), in order."""
        if model_key in self.scorers:
            return await self.inference.score(model_key, records)
        model = await asyncio.to_thread(self.zero_shot_model, model_key)
        cleaned = [self.clean_text(r["text"]) for r in records]
        scores = await asyncio.to_thread(model.predict_proba, cleaned)
        return [{"score": float(s), "inputs_used": {"text": {"source": "request"}}, "contributions": []}
                for s in scores]

    def result(self, text: str, scored: dict, model_key: str) -> dict:
        warning, score = None, scored["score"]
        if not self.clean_text(text):
            warning = ("no character of this text survives cleaning (the model reads a-z, 0-9 and ?!.,'); "
                       "the score is the model's answer to an empty comment")
        return {"label": "positive" if score >= THRESHOLD else "negative", "score": score, "model_key": model_key,
                "backend_model_name": self.backend_name(model_key), "warning": warning,
                "inputs_used": scored["inputs_used"], "contributions": scored["contributions"]}

    @app.get("/health")
    async def health(self) -> dict:
        zero_shot = {key: "loaded" if key in self.zero_shot else
                     f"unavailable: {self.zero_shot_failures[key][1]}" if key in self.zero_shot_failures else
                     "not loaded yet" for key in ZERO_SHOT}
        models = {key: {**{k: entry[k] for k in ("family", "kind", "thread_cv_roc_auc", "champion")},
                        "status": "loaded", "bento_model": entry["tag"]} for key, entry in SERVED.items()}
        models |= {key: {"family": key, "kind": "trained", "thread_cv_roc_auc": None, "champion": False,
                         "status": f"unavailable: {why}"} for key, why in UNAVAILABLE.items()}
        models |= {key: {"family": key, "kind": "zero-shot", "thread_cv_roc_auc": None, "champion": False,
                         "status": status} for key, status in zero_shot.items()}
        return {"status": "ok", "model_keys": self.model_keys, "models": models, "champion": {
            "model_key": self.champion_key, "bento_model": str(self.champion.tag) if self.champion else None,
            "source": MODEL_URI or "bento", "backend_model_name": self.backend_name(self.champion_key),
            "registered_name": self.registration.get("registered_name"),
            "version": self.registration.get("version"), "alias_set": self.registration.get("alias_set")},
            "zero_shot": zero_shot, "limits": {"max_chars": MAX_CHARS, "max_batch": MAX_BATCH},
            "prediction_log": self.prediction_log.status()}

    @app.post("/api/v1/predict-sentiment", responses=ERRORS, response_model_exclude_unset=True)
    async def predict_sentiment(self, request: PredictRequest) -> Prediction:
        model_key = self.check_key(request.model_key)
        check_texts([request.text])
        record = request.model_dump(exclude={"model_key"}, exclude_none=True)
        [scored] = await self.scores([record], model_key)
        answer = self.result(request.text, scored, model_key)
        self.prediction_log.write([record], [scored], [answer])
        return answer

    @app.post("/api/v1/predict-batch", responses=ERRORS, response_model_exclude_unset=True)
    async def predict_batch(self, request: BatchRequest) -> BatchPrediction:
        model_key = self.check_key(request.model_key)
        check_texts(request.texts)
        metadata = request.metadata or [BatchMetadata()] * len(request.texts)
        if len(metadata) != len(request.texts):
            raise ApiError(422, f"metadata has {len(metadata)} entries for {len(request.texts)} texts: give one "
                                "per text, in order, or none")
        records = [{"text": t, **m.model_dump(exclude_none=True)} for t, m in zip(request.texts, metadata, strict=True)]
        scored = await self.scores(records, model_key)
        answers = [self.result(t, s, model_key) for t, s in zip(request.texts, scored, strict=True)]
        self.prediction_log.write(records, scored, answers)
        return {"results": answers}

    @app.post("/api/v1/when-to-post", responses=ERRORS, response_model_exclude_unset=True)
    async def when_to_post(self, request: WhenToPostRequest) -> WhenToPost:
        """The score of a draft posted now (created_utc, default the time of the request) and after each
        delay, its thread's start held fixed; only for a family that reads the comment's timing."""
        model_key = self.check_key(request.model_key)
        if model_key not in self.scorers or not self.scorers[model_key].uses_metadata:
            readers = [key for key, scorer in self.scorers.items() if scorer.uses_metadata]
            raise ApiError(422, f"model_key '{model_key}' ignores timing (it reads the text alone), so when to post "
                                f"does not change its score; keys that read timing: {', '.join(readers) or 'none'}")
        check_texts([request.text])
        now = time.time() if request.created_utc is None else request.created_utc
        if request.post_created_utc > now:
            raise ApiError(422, "post_created_utc is after created_utc (default: the time of the request): "
                                "a thread starts before its comments")
        record = request.model_dump(exclude={"model_key", "delays_minutes", "created_utc"}, exclude_none=True)
        delays = explain.DELAYS_MINUTES if request.delays_minutes is None else sorted(set(request.delays_minutes))
        curve, used = await self.inference.call(posting_curve, self.scorers[model_key], record, now, delays)
        if request.created_utc is None:  # every point sets created_utc; "now" itself was the request's time
            used = {**used, "created_utc": {**used["created_utc"], "source": "default: time of the request"}}
        points = [{**point, "label": "positive" if point["score"] >= THRESHOLD else "negative"} for point in curve]
        best = max(points, key=lambda point: point["score"])  # the earliest of equal scores
        return {"model_key": model_key, "backend_model_name": self.backend_name(model_key), "curve": points,
                "best": {"delay_minutes": best["delay_minutes"], "score": best["score"]}, "inputs_used": used}

    @app.get("/ui", response_class=HTMLResponse)
    async def ui(self) -> str:
        return UI_PAGE.read_text()
