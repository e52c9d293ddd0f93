"""The served encoder: the ONNX export of the bundled all-MiniLM-L6-v2 computes the training embeddings."""
import shutil

import numpy as np
import pytest
import yaml

from reception.models.encoder import bundled_model_dir, encode, load_encoder
from reception.models.onnx_encoder import ONNX_FILE, EncoderExportMismatch, OnnxEncoder, export, reproduction_error
from reception.paths import PARAMS_FILE

WEIGHTS_SHA256 = yaml.safe_load(PARAMS_FILE.read_text())["encoder"]["sha256"]
TEXTS = ["great point, thanks!", "no.", "why would anyone do that? " * 40,  # the last is truncated at 256 tokens
         "this is the best explanation in the thread", ""]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export(bundled_model_dir(), WEIGHTS_SHA256, tmp_path_factory.mktemp("encoder"))


def test_export_reproduces_sentence_transformers_in_any_batching(exported):
    expected = encode(load_encoder(bundled_model_dir(), WEIGHTS_SHA256, "cpu"), TEXTS, batch_size=8)
    encoder = OnnxEncoder(exported)
    for batch_size in (1, 2, len(TEXTS)):  # padded and unpadded batches
        assert reproduction_error(encoder, TEXTS, expected, batch_size) < 1e-5
    vectors = encoder.encode(TEXTS, 2)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # normalised, as trained
    assert encoder.encode([], 4).shape == (0, 384)


def test_export_is_byte_reproducible(exported, tmp_path):
    again = export(bundled_model_dir(), WEIGHTS_SHA256, tmp_path / "again")
    assert (again / ONNX_FILE).read_bytes() == (exported / ONNX_FILE).read_bytes()


def test_a_changed_onnx_file_is_refused(exported, tmp_path):
    tampered = shutil.copytree(exported, tmp_path / "tampered")
    with open(tampered / ONNX_FILE, "ab") as stream:
        stream.write(b"\0")
    with pytest.raises(EncoderExportMismatch, match="sha256"):
        OnnxEncoder(tampered)
