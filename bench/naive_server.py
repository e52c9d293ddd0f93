"""IMEDIA's serving design, for comparison: one request -> one unbatched forward pass.

A plain FastAPI app that loads the same MLflow champion (models/champion) and scores each request on
its own. Run by bench/serve_bench.py with uvicorn: `python bench/naive_server.py PORT`.
"""
from __future__ import annotations

import sys
import threading

import mlflow
import pandas as pd
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

MODEL = mlflow.pyfunc.load_model("models/champion")
# The fast tokenizer is not thread-safe ("Already borrowed" under FastAPI's thread pool): one forward
# pass at a time, as a single model worker does.
MODEL_LOCK = threading.Lock()
app = FastAPI()


class PredictRequest(BaseModel):
    text: str
    model_key: str | None = None


@app.post("/api/v1/predict-sentiment")
def predict_sentiment(request: PredictRequest) -> dict:
    with MODEL_LOCK:
        score = float(MODEL.predict(pd.DataFrame({"text": [request.text]}))["score"].iloc[0])
    return {"label": "positive" if score >= 0.5 else "negative", "score": score, "model_key": request.model_key,
            "backend_model_name": "models/champion", "warning": None}


@app.get("/readyz")
def ready() -> str:
    return "ok"


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
