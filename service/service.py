"""BentoML service for the pipeline's locked winner and every other served family: IMEDIA's REST contract,
batch scoring, a browser UI and the prediction log.

One BentoML service, one process: RedditReception holds the models and serves IMEDIA's JSON contract
through FastAPI routes mounted at / (request validation, the model keys, /health, /ui; BentoML's /livez,
/readyz and /metrics stay). Concurrent requests for a model are scored together, in batches, by one
inference thread that takes its next batch itself (InferenceThread). Why not BentoML's two-service
composition (an API service calling a batchable model service): on 2 CPU cores the hop between the two
processes cost more than the model's own work around the encoder, and it rarely lost answers on closed
keep-alive connections; see docs/benchmarks.md.

What is served (service/config.py): the models models/bento.json declares, or one registry model
(RECEPTION_MODEL_URI). `model_key` picks the locked winner (default), any other trained family this
machine trained, the TF-IDF baseline or a zero-shot checkpoint. The bodies are in service/schemas.py,
the error answers in service/errors.py. Serve the built bento with `make serve`, or from source:
`bentoml serve service.service:RedditReception`.
"""
from __future__ import annotations

import gc
import os
import sys
from functools import partial
from pathlib import Path

import bentoml
from fastapi import FastAPI, Header
from fastapi.responses import HTMLResponse

from reception.paths import PARAMS_FILE, REGISTERED_MODELS
from reception.serving import answers, bento_manifest, explain, health, model_store, prediction_log, request_timeout
from reception.serving.body_limit import BodyLimit
from reception.serving.inference_thread import InferenceThread, QueueFull
from reception.serving.zero_shot_cache import Unavailable, ZeroShotCache
from service import config, schemas
from service.config import MODEL_URI, SERVED, SETTINGS, UNAVAILABLE, ZERO_SHOT
from service.errors import ERRORS, ApiError, answer_errors

GIL_SWITCH_INTERVAL_S = 0.001  # see RedditReception.__init__
UI_PAGE = Path(__file__).with_name("ui.html")

app = FastAPI(title="Reddit comment reception", version="1")
answer_errors(app)
request_timeout.install()  # traffic.timeout without a live timer per answered request (the module says why)


async def current_service():
    """The running service instance, for the route methods."""
    return bentoml.get_current_service()


# BentoML hands each route method its service instance through a synchronous FastAPI dependency, which
# FastAPI runs on a worker thread: a thread hop per request, on 2 cores a tenth of the event loop's time.
# The same instance, from a coroutine, is handed over on the loop itself.
app.dependency_overrides[bentoml.get_current_service] = current_service


def busy(error: QueueFull) -> ApiError:
    """503 with Retry-After: the inference queue is full."""
    return ApiError(503, str(error), {"Retry-After": str(error.retry_after_s)})


# No access log line per request: on 2 cores it cost a third of the throughput at concurrency 32
# (measured back to back: 43 -> 68 requests/s); BentoML's /metrics still counts every request.
# max_concurrency bounds the requests in the server at once (more: 429), and with service.max_body_bytes
# the memory their bodies can hold (docs/service.md).
@bentoml.service(name="reddit_reception", workers=1,
                 traffic={"timeout": 120, "max_concurrency": SETTINGS["max_concurrency"]},
                 logging={"access": {"enabled": False}},
                 monitoring=prediction_log.bentoml_config(SETTINGS["log_dir"]))
@bentoml.asgi_app(app, path="/")
@bento_manifest.declare_models(config.MANIFEST)  # each served family's model: the bento ships them
class RedditReception:
    def __init__(self) -> None:
        # Imported here, on the main thread: transformers' lazy imports failed when first run from a
        # request's worker thread inside the BentoML server.
        import torch

        if MODEL_URI:
            self.registration, scorer = model_store.registry_model(model_store.RegistryUri.parse(MODEL_URI),
                                                                   config.ROOT / REGISTERED_MODELS)
            self.default_key = self.registration.get("family") or "mlp_transformer"  # older models: IMEDIA's
            self.scorers, self.bento_model = {self.default_key: scorer}, None
        else:
            manifest = bento_manifest.require(config.MANIFEST, config.MANIFEST_FILE)
            models = {key: getattr(self, bento_manifest.model_attribute(key)) for key in SERVED}
            model_store.check_bento_models(models, manifest, config.MANIFEST_FILE)  # before any file is read
            self.default_key, self.bento_model = manifest.family, manifest.model
            self.registration = model_store.bento_registration(models[self.default_key])
            self.scorers = model_store.bento_models(models)
        torch.set_num_threads(SETTINGS["torch_threads"])
        loading = config.ZERO_SHOT_LOADING
        self.zero_shot = ZeroShotCache(ZERO_SHOT, config.ROOT, PARAMS_FILE.name, loading["max_length"],
                                       loading["batch_size"])
        # The zero-shot keys are scored on the same thread, once loaded (ZeroShotCache): their tokenizers are
        # no more thread-safe than the others'.
        self.inference = InferenceThread(
            {**{key: partial(scorer.score_records, batch_size=SETTINGS["encode_batch_size"], with_contributions=True)
                for key, scorer in self.scorers.items()},
             **{key: partial(self.zero_shot.score_records, key) for key in ZERO_SHOT}},
            SETTINGS["model_batch"], SETTINGS["max_queued_texts"])
        self.model_keys = [*self.scorers, *UNAVAILABLE, *ZERO_SHOT]
        self.prediction_log = prediction_log.PredictionLog(
            {"model_key": self.default_key, "bento_model": self.bento_model,
             "model_version": self.registration.get("version")}, SETTINGS["log_text"], SETTINGS["log_min_free_mb"])
        # Everything loaded so far (libraries, models: millions of objects) lives as long as the process.
        # Frozen, the collector stops walking it at each full collection, which under load had cost the
        # event loop 0.4 ms of CPU per request (1.1 -> 0.7 ms at concurrency 32).
        gc.freeze()
        # The inference thread gives up the GIL at every tokenizer and ONNX Runtime call and must win it
        # back from the event loop, by default after up to 5 ms (measured at concurrency 32: 0.72-0.87 of
        # the in-process ceiling with 5 ms, 0.83-0.85 with 1 ms).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)

    def check_key(self, model_key: str | None) -> str:
        """The request's model key (default: the locked winner's), or 422 listing the valid ones."""
        if model_key is None:
            return self.default_key
        if model_key not in self.model_keys:
            raise ApiError(422, f"unknown model_key '{model_key}'; valid keys: {', '.join(self.model_keys)}")
        if model_key in UNAVAILABLE:
            raise ApiError(503, f"model_key '{model_key}' is unavailable: {UNAVAILABLE[model_key]}")
        return model_key

    def backend_name(self, model_key: str) -> str:
        if model_key in ZERO_SHOT:
            return ZERO_SHOT[model_key]["checkpoint"]
        if model_key != self.default_key:  # served from the bento, not registered
            return f"bento:{SERVED[model_key]['tag']}"
        reg = self.registration
        return f"models:/{reg.get('registered_name', 'unregistered')}/{reg.get('version', '?')}"

    async def scores(self, records: list[dict], model_key: str) -> list:
        """One ScoredRecord per record ({"text", optional metadata}), in order."""
        if model_key in ZERO_SHOT:
            try:
                await self.zero_shot.model(model_key)  # its one load, the first time
            except Unavailable as error:
                raise ApiError(503, str(error)) from error
        try:
            scoring = self.inference.score(model_key, records)
        except QueueFull as error:
            raise busy(error) from error
        return await scoring

    async def answer(self, texts: list[str], records: list[dict], model_key: str) -> list[dict]:
        """Scores, answers and logs one request's records."""
        scored = await self.scores(records, model_key)
        answered = [answers.prediction(t, s, model_key, self.backend_name(model_key))
                    for t, s in zip(texts, scored, strict=True)]
        self.prediction_log.write(records, scored, answered)
        return answered

    @app.get("/health")
    async def health(self, authorization: str | None = Header(None, include_in_schema=False)) -> dict:
        """The public view; the whole report with `Authorization: Bearer <RECEPTION_HEALTH_TOKEN>`."""
        zero_shot = {key: self.zero_shot.status(key) for key in ZERO_SHOT}
        default = health.default_model(self.registration, self.default_key, self.bento_model, MODEL_URI or "bento",
                                       self.backend_name(self.default_key))
        limits = {"max_chars": schemas.MAX_CHARS, "max_batch": schemas.MAX_BATCH,
                  "max_thread_comments": schemas.MAX_THREAD_COMMENTS}
        limits |= {"max_body_bytes": SETTINGS["max_body_bytes"], "max_queued_texts": SETTINGS["max_queued_texts"]}
        inference = {"queued_texts": self.inference.queued, "refused_requests": self.inference.refused,
                     "seconds_per_text": round(self.inference.seconds_per_text, 6)}
        full = health.report(self.model_keys, health.models(SERVED, UNAVAILABLE, zero_shot), default, zero_shot,
                             limits, self.prediction_log.status(), inference)
        return full if health.authorized(authorization, os.environ.get(health.TOKEN_ENV)) else health.public(full)

    @app.post("/api/v1/predict-sentiment", responses=ERRORS, response_model_exclude_unset=True)
    async def predict_sentiment(self, request: schemas.PredictRequest) -> schemas.Prediction:
        model_key = self.check_key(request.model_key)
        schemas.check_texts([request.text])
        records = schemas.with_thread([request.model_dump(exclude={"model_key", "thread"}, exclude_none=True)],
                                      request.thread, [""])
        [answer] = await self.answer([request.text], records, model_key)
        return answer

    @app.post("/api/v1/predict-batch", responses=ERRORS, response_model_exclude_unset=True)
    async def predict_batch(self, request: schemas.BatchRequest) -> schemas.BatchPrediction:
        model_key = self.check_key(request.model_key)
        schemas.check_texts(request.texts)
        metadata = request.metadata or [schemas.BatchMetadata()] * len(request.texts)
        if len(metadata) != len(request.texts):
            raise ApiError(422, f"metadata has {len(metadata)} entries for {len(request.texts)} texts: give one "
                                "per text, in order, or none")
        records = [{"text": t, **m.model_dump(exclude_none=True)} for t, m in zip(request.texts, metadata, strict=True)]
        records = schemas.with_thread(records, request.thread,
                                      [f"metadata[{i}]." for i in range(len(records))] if request.metadata else
                                      [""] * len(records))
        return {"results": await self.answer(request.texts, records, model_key)}

    @app.post("/api/v1/when-to-post", responses=ERRORS, response_model_exclude_unset=True)
    async def when_to_post(self, request: schemas.WhenToPostRequest) -> schemas.WhenToPost:
        """The score of a draft posted now (created_utc, default the time of the request) and after each
        delay, its thread's start held fixed and its thread as given (only the listed comments written
        before each delayed time count); only for a family that reads the comment's timing."""
        model_key = self.check_key(request.model_key)
        if model_key not in self.scorers or not self.scorers[model_key].uses_metadata:
            readers = [key for key, scorer in self.scorers.items() if scorer.uses_metadata]
            raise ApiError(422, f"model_key '{model_key}' ignores timing (it reads the text alone), so when to post "
                                f"does not change its score; keys that read timing: {', '.join(readers) or 'none'}")
        schemas.check_texts([request.text])
        # created_utc, when given, is checked against the thread; each point of the curve sets its own
        record = request.model_dump(exclude={"model_key", "delays_minutes", "thread"}, exclude_none=True)
        [record] = schemas.with_thread([record], request.thread, [""])
        delays = explain.DELAYS_MINUTES if request.delays_minutes is None else sorted(set(request.delays_minutes))
        try:  # the curve scores one record per delay
            curving = self.inference.call(answers.posting_curve, self.scorers[model_key], record, request.created(),
                                          delays, SETTINGS["encode_batch_size"], texts=len(delays))
        except QueueFull as error:
            raise busy(error) from error
        curve, used = await curving
        if request.created_utc is None:  # every point sets created_utc; "now" itself was the request's time
            used = {**used, "created_utc": {**used["created_utc"], "source": "default: time of the request"}}
        best = max(curve, key=lambda point: point["score"])  # the earliest of equal scores
        return {"model_key": model_key, "backend_model_name": self.backend_name(model_key), "curve": curve,
                "best": {"delay_minutes": best["delay_minutes"], "score": best["score"]}, "inputs_used": used}

    @app.get("/ui", response_class=HTMLResponse)
    async def ui(self) -> str:
        return UI_PAGE.read_text()


# Outside the routes, so that a body over the limit is refused before FastAPI reads or parses it.
RedditReception.add_asgi_middleware(BodyLimit, max_bytes=SETTINGS["max_body_bytes"])
