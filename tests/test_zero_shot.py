"""The service's zero-shot keys (reception.serving.zero_shot_cache) on a tiny real BERT checkpoint built here:
loaded only from their local folder with the recorded sha256, once, under concurrent first requests, and
scored on the inference thread; every refusal an Unavailable that says why, remembered, never retried."""
import asyncio
import time

import numpy as np
import pytest
import torch
from test_models_unit import tiny_bert

from reception.models import zero_shot
from reception.serving.inference_thread import InferenceThread
from reception.serving.zero_shot_cache import Unavailable, ZeroShotCache, save_local

TEXTS = ["great post", "terrible idea why", "thanks", "no", "this is a great idea"]
LOCAL_DIR = "models/zero_shot/tiny"
LOAD_S = 0.2


@pytest.fixture
def checkpoint(tmp_path):
    """(service root, the key's declaration, the tiny model and tokenizer): a 2-class tiny BERT saved into the
    root's local_dir by save_local, its files recorded as params.yaml would record them."""
    model, tokenizer = tiny_bert(tmp_path / "hub" / "tiny", 2)
    files = save_local(str(tmp_path / "hub" / "tiny"), tmp_path / "root" / LOCAL_DIR)
    spec = {"checkpoint": "org/tiny", "positive_labels": [1], "local_dir": LOCAL_DIR, "files": files}
    return tmp_path / "root", spec, model, tokenizer


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The folders ZeroShotClassifier is built from, as the cache builds it (each load made LOAD_S slower, as
    a real checkpoint's is, so that concurrent requests overlap it)."""
    built = []

    class Counted(zero_shot.ZeroShotClassifier):
        def __init__(self, folder, *args, **kwargs):
            built.append(folder)
            time.sleep(LOAD_S)
            super().__init__(folder, *args, **kwargs)

    monkeypatch.setattr(zero_shot, "ZeroShotClassifier", Counted)
    return built


def cache_of(root, spec) -> ZeroShotCache:
    return ZeroShotCache({"tiny": spec}, root, "params.yaml", max_length=8, batch_size=2)


def unavailable_reason(cache: ZeroShotCache) -> str:
    with pytest.raises(Unavailable) as error:
        asyncio.run(cache.model("tiny"))
    assert str(error.value).startswith("model_key 'tiny' (org/tiny) is unavailable: ")
    assert cache.status("tiny") == f"unavailable: {error.value.reason}"
    return error.value.reason


def test_a_recorded_folder_loads_and_scores_on_the_inference_thread(checkpoint, loads):
    root, spec, model, tokenizer = checkpoint
    cache = cache_of(root, spec)
    assert cache.status("tiny") == "not loaded yet"
    inference = InferenceThread({"tiny": lambda records: cache.score_records("tiny", records)}, max_records=3)

    async def score():
        await cache.model("tiny")
        return await inference.score("tiny", [{"text": t} for t in TEXTS])

    scored = asyncio.run(score())
    with torch.no_grad():
        logits = model(**tokenizer(TEXTS, padding=True, truncation=True, max_length=8, return_tensors="pt")).logits
    np.testing.assert_allclose([s.score for s in scored], torch.softmax(logits, -1)[:, 1].numpy(), rtol=1e-5,
                               atol=1e-6)
    assert cache.status("tiny") == "loaded" and loads == [str(root / LOCAL_DIR)]


def test_a_changed_file_is_refused_before_anything_is_loaded_and_named(checkpoint, loads):
    root, spec, _, _ = checkpoint
    with (root / LOCAL_DIR / "model.safetensors").open("ab") as weights:
        weights.write(b"\0")
    cache = cache_of(root, spec)
    reason = unavailable_reason(cache)
    assert "model.safetensors: sha256 " in reason and spec["files"]["model.safetensors"] in reason
    assert "config.json" not in reason and loads == []


def test_an_added_file_is_refused_too(checkpoint, loads):
    root, spec, _, _ = checkpoint
    (root / LOCAL_DIR / "extra.py").write_text("print('hello')\n")
    assert "extra.py: not recorded" in unavailable_reason(cache_of(root, spec)) and loads == []


@pytest.mark.parametrize(("change", "said"), [
    ({"local_dir": "models/zero_shot/elsewhere"}, "its folder models/zero_shot/elsewhere is absent"),
    ({"files": {}}, f"params.yaml records no sha256 for the files of {LOCAL_DIR}"),
    ({"local_dir": None}, "params.yaml declares no local_dir for it"),
])
def test_an_absent_or_unrecorded_folder_is_unavailable(checkpoint, loads, change, said):
    root, spec, _, _ = checkpoint
    assert unavailable_reason(cache_of(root, spec | change)).startswith(said) and loads == []


def test_labels_that_do_not_fit_are_unavailable_and_never_retried(checkpoint, loads):
    root, spec, _, _ = checkpoint
    cache = cache_of(root, spec | {"positive_labels": [3, 4]})
    reasons = {unavailable_reason(cache) for _ in range(3)}
    assert reasons == {"ValueError: positive_labels [3, 4] do not fit the 2 classes of "
                       f"'{root / LOCAL_DIR}'"}
    assert len(loads) == 1


def test_concurrent_first_requests_share_one_load_and_are_all_answered(checkpoint, loads):
    root, spec, _, _ = checkpoint
    cache = cache_of(root, spec)
    inference = InferenceThread({"tiny": lambda records: cache.score_records("tiny", records)}, max_records=4)
    statuses = []

    async def request(text: str):
        await cache.model("tiny")
        return await inference.score("tiny", [{"text": text}])

    async def flood():
        waiting = [asyncio.ensure_future(request(TEXTS[i % len(TEXTS)])) for i in range(24)]
        await asyncio.sleep(0)  # every request has asked for the model: the one load is under way
        statuses.append(cache.status("tiny"))
        return await asyncio.gather(*waiting)

    answers = asyncio.run(flood())
    assert statuses == ["loading"] and len(loads) == 1 and cache.status("tiny") == "loaded"
    assert [len(a) for a in answers] == [1] * 24
    by_text = {text: {round(a[0].score, 6) for i, a in enumerate(answers) if TEXTS[i % len(TEXTS)] == text}
               for text in TEXTS}
    assert all(len(scores) == 1 for scores in by_text.values())  # batched with others or not, the same score
