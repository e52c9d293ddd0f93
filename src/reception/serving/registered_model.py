"""The registered model: raw comment text (plus optional metadata) in, P(well received) and label out.

It applies the shared cleaning and the family's own scoring, so no caller re-implements any of them:
  mlp_transformer   sentence encoder (ONNX export of the hash-checked weights) + classifier
  hybrid            sentence encoder + metadata features (reception.data.features) + classifier
  thread_gbm        metadata features (the thread context included) + gradient-boosted trees, no encoder
  finetuned_minilm  the fine-tuned encoder and head (hash-checked)
  tfidf_logreg      the TF-IDF baseline's pipeline on the cleaned text (served, never registered)
Input: a DataFrame with `text` and, optionally, created_utc, post_created_utc (unix seconds),
is_submitter, is_top_level, parent_id (t3_<post> or t1_<comment>); an absent value takes the documented
default (features.resolve_inputs); is_submitter is accepted and not read (features.READ_INPUTS: the
ablation dropped its group). The thread a comment replies in is not a column: the service hands
score_records each record's thread (reception.serving.thread_request), and the pyfunc `predict` path,
without one, takes the thread context's documented defaults.
Logged with MLflow's pyfunc flavour, with `reception` shipped as code.
"""
from __future__ import annotations

import json
import time
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from reception.data.features import API_INPUTS, request_columns, resolve_inputs
from reception.data.text import clean_text, normalize
from reception.models.evaluation import label_of
from reception.serving import explain
from reception.serving.scored_record import ScoredRecord

CODE_PATH = Path(__file__).resolve().parents[1]  # the whole reception package, subpackages included
REQUIREMENTS = ("mlflow", "scikit-learn", "transformers", "torch", "safetensors", "pandas", "numpy", "joblib",
                "onnxruntime", "PyYAML")
INPUT_EXAMPLE = pd.DataFrame({"text": ["This is the best explanation in the thread, thank you!",
                                       "> quoted\n\nNo. Just no. https://example.com"],
                              "created_utc": [1762796919.0, 1762800000.0],
                              "post_created_utc": [1762794000.0, 1762794000.0],
                              "is_submitter": [False, True], "is_top_level": [True, False],
                              "parent_id": ["t3_1ot0f3x", "t1_no53u7f"]})


class ReceptionModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        config = json.loads(Path(context.artifacts["config"]).read_text())
        self.family, self.batch_size = config["family"], config["batch_size"]
        self.defaults, self.finetuned_model = config.get("metadata_defaults"), config.get("finetuned", False)
        self.text_pipeline = config.get("text_pipeline", False)
        if self.text_pipeline:
            import joblib

            self.classifier = joblib.load(context.artifacts["classifier"])
        elif self.finetuned_model:
            from reception.models import finetuned

            self.finetuned = finetuned
            self.model, self.tokenizer, self.max_length = finetuned.load(Path(context.artifacts["finetuned"]),
                                                                         config["device"])
        else:
            import joblib

            from reception.models.onnx_encoder import OnnxEncoder

            # No encoder: the family reads no sentence embedding (thread_gbm)
            self.encoder = OnnxEncoder.shared(Path(context.artifacts["encoder"])) \
                if "encoder" in context.artifacts else None
            self.classifier = joblib.load(context.artifacts["classifier"])

    @property
    def uses_metadata(self) -> bool:
        return self.defaults is not None

    def predict(self, context, model_input, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame({"text": list(model_input)})
        score = [scored.score for scored in self.score_records(frame.to_dict("records"))]
        return pd.DataFrame({"score": score, "label": [label_of(s) for s in score]})

    def score_records(self, records: list[dict], batch_size: int | None = None, now: float | None = None,
                      with_contributions: bool = False) -> list[ScoredRecord]:
        """One ScoredRecord per record ({"text": raw text, optional API inputs, optional "thread": its
        request's GivenThread, one object per request, so that one thread_context call serves a batch of
        several requests' records}), in order. `batch_size`: the encoder's batch; `now`: the time absent
        timing defaults are relative to (default: the time of the call); `with_contributions`: each input
        group's contribution too (the service's answers give them)."""
        texts = [str(r["text"]) for r in records]
        cleaned = [clean_text(t) for t in texts]
        batch_size = batch_size or self.batch_size
        used = [{"text": {"source": "request"}} for _ in records]
        if self.text_pipeline or self.finetuned_model:  # no attribution, no sentence embeddings
            score = (self.classifier.predict_proba(cleaned)[:, 1] if self.text_pipeline else
                     self.finetuned.predict_proba(self.model, self.tokenizer, cleaned, self.max_length, batch_size))
            return [ScoredRecord(float(s), u, [], None) for s, u in zip(score, used, strict=True)]
        from reception.models.families import feature_matrix

        vectors = self.encoder.encode(cleaned, batch_size) if self.encoder else np.zeros((len(records), 0))
        columns = None
        if self.uses_metadata:
            metadata, inputs = resolve_inputs(records, self.defaults, time.time() if now is None else now)
            columns = request_columns([normalize(t) for t in texts], metadata)
            used = [{**u, **i} for u, i in zip(used, inputs, strict=True)]
        X = feature_matrix(self.uses_metadata, vectors, columns)
        score = self.classifier.predict_proba(X)[:, 1]
        contributions = explain.contributions(self.classifier, X, vectors.shape[1], columns) \
            if with_contributions else [[] for _ in records]
        return [ScoredRecord(float(s), u, c, v if self.encoder else None)
                for s, u, c, v in zip(score, used, contributions, vectors, strict=True)]

    def when_to_post(self, record: dict, now: float | None = None,
                     delays_minutes=explain.DELAYS_MINUTES) -> list[dict]:
        """The calibrated score of the draft `record` written now and after each delay (reception.serving.explain);
        "now" is the record's created_utc when given, else `now`, else the time of the call."""
        start = record.get("created_utc") or (time.time() if now is None else now)
        return explain.when_to_post(self.score_records, record, float(start), delays_minutes)


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    optional = {"created_utc": "double", "post_created_utc": "double", "is_submitter": "boolean",
                "is_top_level": "boolean", "parent_id": "string"}
    inputs = Schema([ColSpec("string", "text"), *(ColSpec(optional[n], n, required=False) for n in API_INPUTS)])
    return ModelSignature(inputs, Schema([ColSpec("double", "score"), ColSpec("string", "label")]))


def model_kwargs(artifacts: dict[str, Path], config_file: Path) -> dict:
    """What save_model and log_model both need: artifacts, code, requirements, signature, example."""
    return {
        "python_model": ReceptionModel(),
        "artifacts": {**{k: str(v) for k, v in artifacts.items()}, "config": str(config_file)},
        "code_paths": [str(CODE_PATH)],
        "pip_requirements": [f"{name}=={version(name)}" for name in REQUIREMENTS],
        "signature": signature(),
        "input_example": INPUT_EXAMPLE,
    }


def write_config(path: Path, family: str, batch_size: int, metadata_defaults: dict | None = None,
                 device: str = "auto", finetuned: bool = False, text_pipeline: bool = False) -> Path:
    """The model's settings: `metadata_defaults` for a family that reads metadata (None: text only),
    `finetuned` for a fine-tuned encoder and head, `text_pipeline` for a scikit-learn pipeline on the
    cleaned text. The encoder's hashes live next to it (onnx_encoder's encoder.json)."""
    config = {"family": family, "batch_size": batch_size, "device": device, "metadata_defaults": metadata_defaults,
              "finetuned": finetuned, "text_pipeline": text_pipeline}
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path
