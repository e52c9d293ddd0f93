"""IMEDIA's zero-shot checkpoints, loaded by name with transformers, mapped to P(well received).

Nothing is faked: a checkpoint that cannot be loaded (no network, not in the local cache) raises
ModelUnavailable with the reason, and callers report it as unavailable.
"""
from __future__ import annotations

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


class ModelUnavailable(RuntimeError):
    """A checkpoint that could not be loaded; the message says which and why."""


class ZeroShotClassifier:
    """A sequence-classification checkpoint whose `positive_labels` (class indices) mean 'positive'.

    nlptown/bert-base-multilingual-uncased-sentiment: 5 classes (1-5 stars), positive = [3, 4].
    distilbert-base-uncased-finetuned-sst-2-english: 2 classes, positive = [1].
    """

    def __init__(self, checkpoint: str, positive_labels: list[int], max_length: int = 256,
                 batch_size: int = 32, device: str = "cpu"):
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(checkpoint)
            self.model = AutoModelForSequenceClassification.from_pretrained(checkpoint).to(device).eval()
        except (OSError, ValueError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelUnavailable(f"checkpoint '{checkpoint}' could not be loaded: {first_line}") from error
        n_labels = self.model.config.num_labels
        if not positive_labels or max(positive_labels) >= n_labels:
            raise ValueError(f"positive_labels {positive_labels} do not fit the {n_labels} classes of '{checkpoint}'")
        self.checkpoint, self.positive_labels = checkpoint, list(positive_labels)
        self.max_length, self.batch_size, self.device = max_length, batch_size, device

    def predict_proba(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """P(positive) per text: the softmax mass of the positive classes. `progress`: a bar with an ETA
        (the pipeline's scoring of every split takes minutes on a CPU)."""
        from tqdm.auto import tqdm

        scores = []
        with torch.inference_mode():
            for start in tqdm(range(0, len(texts), self.batch_size), desc=f"zero-shot {self.checkpoint}",
                              unit="batch", disable=not progress):
                batch = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                probs = torch.softmax(self.model(**batch).logits.float(), dim=-1)
                scores.append(probs[:, self.positive_labels].sum(dim=-1).cpu().numpy())
        return np.concatenate(scores) if scores else np.empty(0, dtype="float32")
