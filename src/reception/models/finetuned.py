"""Fine-tuned all-MiniLM-L6-v2 with a classification head: one definition for training and serving.

The model is the bundled encoder (mean pooling, as all-MiniLM-L6-v2 was trained) plus dropout and a
linear head over the two classes. A saved model is one folder: the encoder's config and tokenizer files,
`classifier.safetensors` (every weight, encoder and head) and `finetune.json` (its sha256, max_length and
its Platt calibration). Loading checks that sha256, as the frozen encoder's is checked.
Calibration: `model.platt` = (slope, intercept) maps the logit of the head's P(positive) to a calibrated
probability (reception.models.calibration, fit by the finetune stage on out-of-fold scores); predict_proba applies
it when set, so training (None while fitting) and serving share one scoring function.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoTokenizer

from reception.models.calibration import logit
from reception.models.encoder import check_sha256, resolve_device, sha256_file

WEIGHTS_FILE, CONFIG_FILE = "classifier.safetensors", "finetune.json"


class MiniLMClassifier(torch.nn.Module):
    def __init__(self, encoder, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, 2)
        self.platt: tuple[float, float] | None = None  # (slope, intercept) on the logit; None: raw

    def forward(self, input_ids, attention_mask, **_):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.head(self.dropout(pooled))


def from_encoder(encoder_dir: Path, device: str):
    """A fresh classifier on the bundled (hash-checked by the caller) encoder, and its tokenizer."""
    encoder = AutoModel.from_pretrained(str(encoder_dir), local_files_only=True)
    return MiniLMClassifier(encoder).to(device), AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True)


def length_sorted_batches(tokenizer, texts: list[str], batch_size: int, max_length: int) -> list[np.ndarray]:
    """Row indices in batches of similar token length: each batch pads only to its own longest text."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def tokenize(tokenizer, texts: list[str], max_length: int, device: str) -> dict:
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {k: v.to(device) for k, v in batch.items()}


@torch.inference_mode()
def predict_proba(model, tokenizer, texts: list[str], max_length: int, batch_size: int = 64) -> np.ndarray:
    """P(well received) per (cleaned) text, in order."""
    model.eval()
    device = next(model.parameters()).device
    scores = np.empty(len(texts), dtype="float64")
    for rows in length_sorted_batches(tokenizer, texts, batch_size, max_length):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(**tokenize(tokenizer, [texts[i] for i in rows], max_length, device.type))
        scores[rows] = torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy()
    if model.platt is not None:
        slope, intercept = model.platt
        scores = 1 / (1 + np.exp(-(slope * logit(scores) + intercept)))
    return scores


def save(model, tokenizer, out_dir: Path, max_length: int) -> str:
    """Write the model folder; returns the weights' sha256."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.encoder.config.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE))
    digest = sha256_file(out_dir / WEIGHTS_FILE)
    config = {"sha256": digest, "max_length": max_length,
              "platt": None if model.platt is None else [float(v) for v in model.platt]}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return digest


def load(model_dir: Path, device: str = "auto"):
    """(model, tokenizer, max_length) from a folder written by `save`, after checking the weights' hash."""
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    check_sha256(model_dir / WEIGHTS_FILE, config["sha256"])
    model = MiniLMClassifier(AutoModel.from_config(AutoConfig.from_pretrained(str(model_dir), local_files_only=True)))
    model.load_state_dict(load_file(str(model_dir / WEIGHTS_FILE)))
    model.platt = tuple(config["platt"]) if config.get("platt") else None
    model.to(resolve_device(device)).eval()
    return model, AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True), config["max_length"]
