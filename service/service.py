"""BentoML service for the locked champion: the seed's REST contract, batch scoring and a browser UI.

Two services, as BentoML composes them:
  ChampionModel   the text-in MLflow champion behind a list-in/list-out batchable API, so that
                  concurrent requests are scored together (adaptive batching), and the same scoring
                  unbatched for a request that arrives alone; each record is a text plus the optional
                  metadata the hybrid family reads
  RedditReception the public API (FastAPI routes mounted at /): request validation, the seed's
                  JSON contract, the zero-shot keys, /health and /ui; BentoML's /livez and /readyz stay
Serve the built bento with `make serve`, or from source: `bentoml serve service.service:RedditReception`.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import bentoml
import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from reception import prediction_log
from reception.evaluation import THRESHOLD
from reception.families import declared

# The champion imported by the `bento` stage (tag from dvc.lock); inside a built bento `latest` is the
# only model the bento holds. RECEPTION_MODEL_URI (e.g. models:/reddit-reception@champion, with
# MLFLOW_TRACKING_URI) serves the champion from an MLflow registry instead.
MODEL_TAG = os.environ.get("RECEPTION_MODEL_TAG", "reddit-reception:latest")
MODEL_URI = os.environ.get("RECEPTION_MODEL_URI")
ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
MAX_CHARS = PARAMS["service"]["max_chars"]
MAX_BATCH = PARAMS["service"]["max_batch"]
ENCODE_BATCH = PARAMS["service"]["encode_batch_size"]
TORCH_THREADS = PARAMS["service"]["torch_threads"]
ZERO_SHOT = {name: family.settings for name, family in declared(ROOT / "params.yaml").items() if family.zero_shot}
ZERO_SHOT_RETRY_S = 600  # a checkpoint that failed to load is retried after this long, not on every call
UI_PAGE = Path(__file__).with_name("ui.html")
CHAMPION = None if MODEL_URI else bentoml.models.BentoModel(MODEL_TAG)


@bentoml.service(name="champion_model", workers=1, traffic={"timeout": 60})
class ChampionModel:
    champion = CHAMPION

    def __init__(self) -> None:
        import torch

        if MODEL_URI:
            import mlflow

            model = mlflow.pyfunc.load_model(MODEL_URI)
        else:
            import bentoml.mlflow

            model = bentoml.mlflow.load_model(self.champion)
        # The registered model's own scoring code (cleaning, encoder, classifier), called without the
        # pyfunc input-schema pass, which costs more than the classifier on a single short text.
        self.scorer = model.unwrap_python_model()
        torch.set_num_threads(TORCH_THREADS)

    def score_records(self, records: list[dict]) -> list[dict]:
        """For each {"text": raw text, optional metadata}, in order: {"score": P(well received),
        "inputs_used": what the model read, with each value's source (request or default)}."""
        scores, used, vectors = self.scorer.score_records(records, batch_size=ENCODE_BATCH, return_vectors=True)
        projections = prediction_log.project(vectors)  # for the prediction log; None without sentence embeddings
        return [{"score": float(s), "inputs_used": u,
                 "text_projection": None if projections is None else projections[i].tolist()}
                for i, (s, u) in enumerate(zip(scores, used, strict=True))]

    # max_latency_ms bounds how long a request may wait for its batch (then 503); the batcher sends a
    # batch as soon as the model is free, or after the wait it has learnt (see RedditReception).
    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=5000)
    def score(self, records: list[dict]) -> list[dict]:
        """score_records through BentoML's adaptive batching: concurrent requests are scored together."""
        return self.score_records(records)

    @bentoml.api
    def score_now(self, records: list[dict]) -> list[dict]:
        """score_records at once, for a request that arrives while no other is in flight. It shares the
        worker's single inference thread with the batches, so the two never run at the same time."""
        return self.score_records(records)


class CommentMetadata(BaseModel):
    """Optional facts known when the comment is written; the hybrid family reads them. An absent field
    takes the default documented in reception.features.resolve_inputs (the response says which)."""
    model_config = ConfigDict(extra="forbid")
    created_utc: float | None = Field(None, ge=0, description="when the comment is posted, unix seconds")
    post_created_utc: float | None = Field(None, ge=0, description="when the thread's post was created")
    is_submitter: StrictBool | None = Field(None, description="the comment's author wrote the post")
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


class PredictRequest(CommentMetadata, LoggedIds):
    text: StrictStr
    model_key: StrictStr | None = Field(None, description="default: the champion's family")


class BatchMetadata(CommentMetadata, LoggedIds):
    pass


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[StrictStr] = Field(min_length=1)
    metadata: list[BatchMetadata] | None = Field(None, description="one entry per text, in order")
    model_key: StrictStr | None = None


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


@bentoml.service(name="reddit_reception", workers=1, traffic={"timeout": 120},
                 monitoring=prediction_log.bentoml_config(PARAMS["service"]["log_dir"]))
@bentoml.asgi_app(app, path="/")
class RedditReception:
    champion = CHAMPION  # for its registration record; scoring goes through ChampionModel
    model = bentoml.depends(ChampionModel)

    def __init__(self) -> None:
        # Imported here, on the main thread: transformers' lazy imports failed when first run from a
        # request's worker thread inside the BentoML server.
        from reception import zero_shot
        from reception.text import clean_text

        self.zero_shot_module, self.clean_text = zero_shot, clean_text
        self.registration = self.read_registration()
        self.champion_key = self.registration.get("family", "mlp_transformer")  # older models: the seed's
        self.model_keys = [self.champion_key, *ZERO_SHOT]
        self.zero_shot: dict[str, object] = {}
        self.zero_shot_failures: dict[str, tuple[float, str]] = {}
        self.in_flight = 0  # champion calls awaiting an answer (one worker: a plain counter is exact)
        self.prediction_log = prediction_log.PredictionLog(
            {"model_key": self.champion_key, "bento_model": str(self.champion.tag) if self.champion else None,
             "model_version": self.registration.get("version")},
            PARAMS["service"]["log_text"], PARAMS["service"]["log_min_free_mb"])

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
        return model_key

    def backend_name(self, model_key: str) -> str:
        if model_key != self.champion_key:
            return ZERO_SHOT[model_key]["checkpoint"]
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
        if model_key == self.champion_key:
            return await self.champion_scores(records)
        model = await asyncio.to_thread(self.zero_shot_model, model_key)
        cleaned = [self.clean_text(r["text"]) for r in records]
        scores = await asyncio.to_thread(model.predict_proba, cleaned)
        return [{"score": float(s), "inputs_used": {"text": {"source": "request"}}} for s in scores]

    async def champion_scores(self, records: list[dict]) -> list[dict]:
        """Through the adaptive batcher when other requests are in flight, else straight to the model.

        Why not always the batcher: it holds a request for the average time recent batches waited
        before dispatch, and under load that average includes the time queued behind the running
        batch. After a burst a lone request then waited ~200 ms for a batch that never came (measured:
        p50 195 ms at concurrency 1 right after concurrency 32, against 22 ms on a fresh server).
        """
        api = self.model.to_async.score_now if self.in_flight == 0 else self.model.to_async.score
        self.in_flight += 1
        try:
            return await self.call_champion(api, records)
        finally:
            self.in_flight -= 1

    async def call_champion(self, api, records: list[dict]) -> list[dict]:
        import aiohttp

        for attempt in (1, 2):
            try:
                return await api(records)
            except (aiohttp.ClientConnectionError, RuntimeError, TimeoutError) as error:
                # Rarely (about once in a few thousand requests at concurrency 32) the model worker's
                # answer does not arrive: BentoML's client reuses a keep-alive connection the worker has
                # closed (bentoml/BentoML#4971), or reads a body that never comes (aiohttp's
                # RuntimeError("Connection closed.") or its timeout). Scoring has no side effect, so
                # resending is safe.
                if attempt == 2:
                    raise ApiError(503, f"the champion model could not be reached: {error}") from error
            except bentoml.exceptions.BentoMLException as error:  # e.g. the model worker is overloaded
                raise ApiError(503, f"the champion model could not answer: {error}") from error

    def result(self, text: str, scored: dict, model_key: str) -> dict:
        warning, score = None, scored["score"]
        if not self.clean_text(text):
            warning = ("no character of this text survives cleaning (the model reads a-z, 0-9 and ?!.,'); "
                       "the score is the model's answer to an empty comment")
        return {"label": "positive" if score >= THRESHOLD else "negative", "score": score, "model_key": model_key,
                "backend_model_name": self.backend_name(model_key), "warning": warning,
                "inputs_used": scored["inputs_used"]}

    @app.get("/health")
    async def health(self) -> dict:
        zero_shot = {key: "loaded" if key in self.zero_shot else
                     f"unavailable: {self.zero_shot_failures[key][1]}" if key in self.zero_shot_failures else
                     "not loaded yet" for key in ZERO_SHOT}
        return {"status": "ok", "model_keys": self.model_keys, "champion": {
            "model_key": self.champion_key, "bento_model": str(self.champion.tag) if self.champion else None,
            "source": MODEL_URI or "bento", "backend_model_name": self.backend_name(self.champion_key),
            "registered_name": self.registration.get("registered_name"),
            "version": self.registration.get("version"), "alias_set": self.registration.get("alias_set")},
            "zero_shot": zero_shot, "limits": {"max_chars": MAX_CHARS, "max_batch": MAX_BATCH},
            "prediction_log": self.prediction_log.status()}

    @app.post("/api/v1/predict-sentiment")
    async def predict_sentiment(self, request: PredictRequest) -> dict:
        model_key = self.check_key(request.model_key)
        check_texts([request.text])
        record = request.model_dump(exclude={"model_key"}, exclude_none=True)
        [scored] = await self.scores([record], model_key)
        answer = self.result(request.text, scored, model_key)
        self.prediction_log.write([record], [scored], [answer])
        return answer

    @app.post("/api/v1/predict-batch")
    async def predict_batch(self, request: BatchRequest) -> dict:
        model_key = self.check_key(request.model_key)
        check_texts(request.texts)
        metadata = request.metadata or [BatchMetadata()] * len(request.texts)
        if len(metadata) != len(request.texts):
            raise ApiError(422, f"metadata has {len(metadata)} entries for {len(request.texts)} texts: give one "
                                "per text, in order, or none")
        records = [{"text": t, **m.model_dump(exclude_none=True)} for t, m in zip(request.texts, metadata)]
        scored = await self.scores(records, model_key)
        answers = [self.result(t, s, model_key) for t, s in zip(request.texts, scored, strict=True)]
        self.prediction_log.write(records, scored, answers)
        return {"results": answers}

    @app.get("/ui", response_class=HTMLResponse)
    async def ui(self) -> str:
        return UI_PAGE.read_text()
