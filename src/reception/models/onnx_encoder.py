"""The sentence encoder as the registered model runs it: the hash-checked sentence-transformers model
exported to ONNX and run by ONNX Runtime.

Why: on CPU, PyTorch's per-operator overhead dominates a forward pass over one short comment; ONNX
Runtime runs the same graph (transformer, pooling, normalisation) about 2x faster for a single text.
`register` exports it and checks that it reproduces the training embeddings (reproduction_error).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from reception.models.encoder import WeightsMismatch, check_sha256, load_encoder, sha256_file

ONNX_FILE, CONFIG_FILE = "encoder.onnx", "encoder.json"
INPUTS = ("input_ids", "attention_mask")


class EncoderExportMismatch(WeightsMismatch):
    """The ONNX encoder on disk is not the one that was exported, or does not reproduce the original."""


def export(model_dir: Path, weights_sha256: str, out_dir: Path) -> Path:
    """Writes the encoder graph, its tokenizer and encoder.json (max length, hashes) into out_dir."""
    import torch

    encoder = load_encoder(model_dir, weights_sha256, "cpu")

    class SentenceEmbedding(torch.nn.Module):
        """The whole sentence-transformers stack (transformer, pooling, normalize) on token tensors."""

        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            features = {"input_ids": input_ids, "attention_mask": attention_mask,
                        "token_type_ids": torch.zeros_like(input_ids)}
            return self.encoder(features)["sentence_embedding"]

    out_dir.mkdir(parents=True, exist_ok=True)
    example = encoder.tokenizer(["an example", "a longer example comment"], padding=True, return_tensors="pt")
    dynamic = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings():
        # The tracer warns that shape checks in BERT's masking code become constants. They hold for any
        # batch whose attention mask covers its tokens, which is every batch `encode` builds; register's
        # reproduction check on the whole val split (all lengths, padded batches) is what proves it.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(SentenceEmbedding().eval(), tuple(example[name] for name in INPUTS), out_dir / ONNX_FILE,
                          input_names=list(INPUTS), output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "embedding": {0: "batch"}})
    encoder.tokenizer.save_pretrained(str(out_dir))
    config = {"max_length": encoder.max_seq_length, "source_weights_sha256": weights_sha256,
              "onnx_sha256": sha256_file(out_dir / ONNX_FILE)}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return out_dir


class OnnxEncoder:
    """Texts -> L2-normalised sentence embeddings (float32), as SentenceTransformer.encode computes them."""

    _loaded: dict[str, OnnxEncoder] = {}

    @classmethod
    def shared(cls, folder: Path) -> OnnxEncoder:
        """One encoder per export in a process: the service loads several families built on the same
        export (byte-reproducible, so the same sha256), and they share one session in memory."""
        key = json.loads((Path(folder) / CONFIG_FILE).read_text())["onnx_sha256"]
        if key not in cls._loaded:
            cls._loaded[key] = cls(folder)
        return cls._loaded[key]

    def __init__(self, folder: Path):
        import onnxruntime
        from transformers import AutoTokenizer

        folder = Path(folder)
        config = json.loads((folder / CONFIG_FILE).read_text())
        check_sha256(folder / ONNX_FILE, config["onnx_sha256"], EncoderExportMismatch)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 0  # one per physical core
        options.inter_op_num_threads = 1
        # Idle intra-op threads sleep instead of spinning: a server shares its cores with the HTTP
        # side, and spinning threads starve it (measured on 2 cores: 50 -> 65 requests/s at
        # concurrency 32, p50 25 -> 19 ms for single requests).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(folder / ONNX_FILE), options,
                                                    providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.max_length = config["max_length"]
        self.dimension = self.session.get_outputs()[0].shape[1]

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Texts are tokenized in one call (one release of the GIL, not one per text: a server's event
        loop competes for it), then run in batches of `batch_size` in token-length order, so each is
        padded only to its neighbours' length."""
        if not texts:
            return np.empty((0, self.dimension), dtype="float32")
        tokens = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
        vectors = np.empty((len(texts), self.dimension), dtype="float32")
        for start in range(0, len(texts), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(tokens[i]) for i in chunk)
            input_ids = np.full((len(chunk), width), self.tokenizer.pad_token_id, dtype="int64")
            attention_mask = np.zeros((len(chunk), width), dtype="int64")
            for row, i in enumerate(chunk):
                input_ids[row, :len(tokens[i])] = tokens[i]
                attention_mask[row, :len(tokens[i])] = 1
            vectors[chunk] = self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        return vectors


def reproduction_error(encoder: OnnxEncoder, texts: list[str], expected: np.ndarray, batch_size: int) -> float:
    """Largest absolute difference between the ONNX embeddings of `texts` and `expected` (the training ones)."""
    return float(np.abs(encoder.encode(texts, batch_size) - expected).max())
