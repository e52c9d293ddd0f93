"""A real `bentoml serve` of the bento the pipeline built, on a free loopback port."""
import json
import shutil
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import BIN, call, champion, detailed_health, free_port, run, serving
from reception.data.features import READ_INPUTS
from reception.data.thread_context import CONTEXT_COLUMNS
from reception.models.families import declared
from reception.serving.thread_request import given_thread, with_thread

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
TEXTS = ["This is the best answer in the thread, thank you!",
         "> quoted\n\nNo. Just no. https://example.com",
         "¿Alguien más piensa que esto es raro?",
         "lol 😂😂",
         "I disagree, but you make a fair point about the costs."]
# What a client knows when the comment is written: posted 25 min after the post, a reply to a comment.
METADATA = {"created_utc": 1762796919.0, "post_created_utc": 1762795419.0, "is_submitter": False,
            "is_top_level": False}
METADATA_FIELDS = set(METADATA) - {"is_submitter"}  # accepted, not read: the ablation dropped its group


def champion_family(service) -> str:
    return json.loads((service["repo"] / "metrics/register.json").read_text())["family"]


def comparison(service) -> dict:
    return {row["family"]: row for row in json.loads((service["repo"] / "metrics/comparison.json").read_text())}


def test_health_names_the_default_model_and_every_key(service):
    status, body = call(f"{service['url']}/health")
    registration = json.loads((service["repo"] / "metrics/register.json").read_text())
    bento = json.loads((service["repo"] / "models/bento.json").read_text())
    rows = comparison(service)
    trained = [f for f, row in rows.items() if row["kind"] == "trained" and row["status"] == "ok"] + ["tfidf_logreg"]
    untrained = [f for f, row in rows.items() if row["kind"] == "trained" and row["status"] != "ok"]
    zero_shot = [name for name, family in declared(service["repo"] / "params.yaml").items() if family.zero_shot]
    assert status == 200 and body["status"] == "ok"
    assert body["model_keys"][0] == champion_family(service)
    assert set(body["model_keys"]) == {*trained, *untrained, *zero_shot} and "mlp_transformer" in body["model_keys"]
    for key in trained:
        model = body["models"][key]
        assert model["status"] == "loaded" and model["family"] == key and model["kind"] == rows[key]["kind"]
        assert model["thread_cv_roc_auc"] == rows[key]["thread_cv_roc_auc_mean"]
        assert model["champion"] == (key == champion_family(service))
    for key in untrained:
        assert body["models"][key]["status"] == "unavailable"  # why: in the detailed view only
    assert body["champion"]["model_key"] == champion_family(service)
    assert body["champion"]["version"] == registration["version"]
    assert "bento_model" not in body["champion"] and bento["model"] not in json.dumps(body)  # public view
    # the champion only when the registry gave it the alias; otherwise the locked winner, and why
    assert body["champion"]["alias_set"] == registration["alias_set"]
    assert body["champion"]["served_as"] == ("champion" if registration["alias_set"] else "locked winner")
    assert body["champion"]["alias_decision"] == registration["reason"]
    for probe in ("livez", "readyz"):
        with urllib.request.urlopen(f"{service['url']}/{probe}") as response:
            assert response.status == 200


def test_every_family_by_its_key(service):
    """IMEDIA's key (mlp_transformer), every other trained family and the TF-IDF baseline score like
    their packaged model; a declared family not trained here answers 503 with why."""
    bento = json.loads((service["repo"] / "models/bento.json").read_text())
    assert {"mlp_transformer", "tfidf_logreg", champion_family(service)} <= set(bento["models"])
    records = [{"text": t, **METADATA} for t in TEXTS]
    for key in (*bento["models"], *bento["unavailable"]):
        code, answer = call(f"{service['url']}/api/v1/predict-batch",
                            {"texts": TEXTS, "metadata": [METADATA] * len(TEXTS), "model_key": key})
        if key in bento["unavailable"]:
            assert code == 503 and "not trained on this machine" in answer["detail"], answer
            continue
        folder = "models/champion" if key == champion_family(service) else f"models/served/{key}"
        expected = mlflow.pyfunc.load_model(str(service["repo"] / folder)).predict(pd.DataFrame(records))["score"]
        assert code == 200 and {r["model_key"] for r in answer["results"]} == {key}
        np.testing.assert_allclose([r["score"] for r in answer["results"]], expected.to_numpy(), atol=1e-5)


def test_predict_sentiment_contract(service):
    family = champion_family(service)
    status, body = call(f"{service['url']}/api/v1/predict-sentiment", {"text": TEXTS[0], "model_key": family})
    assert status == 200
    assert set(body) == {"label", "score", "model_key", "backend_model_name", "warning", "inputs_used",
                         "contributions"}
    assert body["label"] == ("positive" if body["score"] >= 0.5 else "negative") and 0 <= body["score"] <= 1
    assert body["model_key"] == family and body["backend_model_name"].startswith("models:/reddit-reception/")
    assert body["warning"] is None and body["inputs_used"]["text"] == {"source": "request"}
    if champion(service["repo"]).uses_metadata:  # absent fields are defaults, and the answer says so
        assert set(body["inputs_used"]) == {"text", *READ_INPUTS, *CONTEXT_COLUMNS}
        assert all(body["inputs_used"][f]["source"].startswith("default") for f in (*METADATA_FIELDS, "parent_id"))
        _, given = call(f"{service['url']}/api/v1/predict-sentiment", {"text": TEXTS[0], "is_top_level": True})
        assert given["inputs_used"]["is_top_level"] == {"value": True, "source": "request"}
        # is_submitter is accepted and not read: the score is the same with it, and inputs_used omits it
        _, with_submitter = call(f"{service['url']}/api/v1/predict-sentiment",
                                 {"text": TEXTS[0], "is_top_level": True, "is_submitter": True})
        assert "is_submitter" not in with_submitter["inputs_used"]
        assert with_submitter["score"] == pytest.approx(given["score"])
    else:  # a family of the text alone reads nothing else
        assert set(body["inputs_used"]) == {"text"}
    status, emoji_only = call(f"{service['url']}/api/v1/predict-sentiment", {"text": "😂🔥"})
    assert status == 200 and "survives cleaning" in emoji_only["warning"]


def test_scores_match_the_mlflow_champion_and_batch_keeps_order(service):
    metadata = [{**METADATA, "created_utc": METADATA["created_utc"] + 600 * i} for i in range(len(TEXTS))]
    status, batch = call(f"{service['url']}/api/v1/predict-batch", {"texts": TEXTS, "metadata": metadata})
    assert status == 200 and len(batch["results"]) == len(TEXTS)
    singles = [call(f"{service['url']}/api/v1/predict-sentiment", {"text": t, **m})[1]["score"]
               for t, m in zip(TEXTS, metadata, strict=True)]
    champion = mlflow.pyfunc.load_model(str(service["repo"] / "models/champion"))
    frame = pd.DataFrame([{"text": t, **m} for t, m in zip(TEXTS, metadata, strict=True)])
    expected = champion.predict(frame)["score"].to_numpy()
    np.testing.assert_allclose([r["score"] for r in batch["results"]], expected, atol=1e-5)
    np.testing.assert_allclose(singles, expected, atol=1e-5)


def assert_explained(contributions: list[dict]) -> None:
    """Each input group once, with a logit and what it says, largest |logit| first."""
    assert contributions, "no reason given"
    assert all(set(c) == {"input", "logit", "says"} for c in contributions)
    assert len({c["input"] for c in contributions}) == len(contributions)
    magnitudes = [abs(c["logit"]) for c in contributions]
    assert magnitudes == sorted(magnitudes, reverse=True)
    for c in contributions:
        assert c["says"].endswith("raises the chance" if c["logit"] > 0 else "lowers the chance"), c


def test_every_score_comes_with_its_reasons(service):
    """The champion's scores carry each input's contribution, largest first (single and batch); a family
    without attribution (the TF-IDF baseline) answers an empty list."""
    family = champion_family(service)
    status, body = call(f"{service['url']}/api/v1/predict-sentiment", {"text": TEXTS[0], **METADATA})
    assert status == 200 and body["model_key"] == family
    assert_explained(body["contributions"])
    assert "text" in {c["input"] for c in body["contributions"]}
    if champion(service["repo"]).uses_metadata:  # it reads the timing: 25 min after the post, in words
        timing = next(c for c in body["contributions"] if c["input"] == "timing")
        assert timing["says"].startswith("written 25 min after the thread started: ")
        reply = next(c for c in body["contributions"] if c["input"] == "reply_structure")
        assert reply["says"].startswith("a reply to a comment: ")
    status, batch = call(f"{service['url']}/api/v1/predict-batch",
                         {"texts": TEXTS, "metadata": [METADATA] * len(TEXTS)})
    assert status == 200
    for result in batch["results"]:
        assert_explained(result["contributions"])
    assert batch["results"][0]["contributions"] == body["contributions"]
    status, tfidf = call(f"{service['url']}/api/v1/predict-sentiment",
                         {"text": TEXTS[0], **METADATA, "model_key": "tfidf_logreg"})
    assert status == 200 and tfidf["contributions"] == []
    status, tfidf_batch = call(f"{service['url']}/api/v1/predict-batch", {"texts": TEXTS, "model_key": "tfidf_logreg"})
    assert status == 200 and all(r["contributions"] == [] for r in tfidf_batch["results"])


def timing_key(service) -> str:
    """A served family that reads the comment's timing (the hybrid), or skip."""
    bento = json.loads((service["repo"] / "models/bento.json").read_text())
    readers = [key for key in bento["models"] if key in declared(service["repo"] / "params.yaml")
               and declared(service["repo"] / "params.yaml")[key].uses_metadata]
    if not readers:
        pytest.skip("no served family reads the timing")
    return readers[0]


def test_when_to_post_curve_starts_at_the_score_of_posting_now(service):
    key = timing_key(service)
    draft = {"text": TEXTS[0], **METADATA, "model_key": key}
    status, now = call(f"{service['url']}/api/v1/predict-sentiment", draft)
    assert status == 200
    status, answer = call(f"{service['url']}/api/v1/when-to-post", draft)
    assert status == 200, answer
    assert set(answer) == {"model_key", "backend_model_name", "curve", "best", "inputs_used"}
    assert answer["model_key"] == key and answer["backend_model_name"] == now["backend_model_name"]
    curve = answer["curve"]
    assert [p["delay_minutes"] for p in curve] == [0, 15, 60, 180, 720]
    assert [p["created_utc"] for p in curve] == [METADATA["created_utc"] + 60 * p["delay_minutes"] for p in curve]
    assert curve[0]["score"] == pytest.approx(now["score"], abs=1e-4)
    assert all(p["label"] == ("positive" if p["score"] >= 0.5 else "negative") for p in curve)
    best = max(curve, key=lambda p: p["score"])
    assert answer["best"] == {"delay_minutes": best["delay_minutes"], "score": best["score"]}
    assert answer["inputs_used"] == now["inputs_used"]
    # own delays: sorted, duplicates dropped; without created_utc, "now" is the time of the request
    status, own = call(f"{service['url']}/api/v1/when-to-post",
                       {"text": TEXTS[1], "post_created_utc": METADATA["post_created_utc"], "model_key": key,
                        "delays_minutes": [60, 0, 60, 2.5]})
    assert status == 200, own
    assert [p["delay_minutes"] for p in own["curve"]] == [0, 2.5, 60]
    assert own["inputs_used"]["created_utc"]["source"] == "default: time of the request"
    assert own["inputs_used"]["post_created_utc"] == {"value": METADATA["post_created_utc"], "source": "request"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model_key": "tfidf_logreg"}, "ignores timing"),
        ({"model_key": "mlp_transformer"}, "ignores timing"),
        ({"model_key": "bert_distilbert"}, "ignores timing"),
        ({"created_utc": 1762795000.0}, "post_created_utc is after created_utc"),
        ({"post_created_utc": None}, "post_created_utc"),
        ({"delays_minutes": [-15]}, "delays_minutes.0: Input should be greater than or equal to 0"),
        ({"delays_minutes": []}, "delays_minutes"),
        ({"delays_minutes": list(range(100))}, "delays_minutes"),
        ({"model_key": "gpt"}, "valid keys: "),
        ({"text": "  "}, "text is empty"),
    ],
)
def test_when_to_post_refuses_with_a_message(service, body, message):
    draft = {"text": TEXTS[0], **METADATA, **body}
    code, answer = call(f"{service['url']}/api/v1/when-to-post", {k: v for k, v in draft.items() if v is not None})
    assert code == 422 and message in answer["detail"], answer


def test_when_to_post_refuses_a_thread_that_starts_after_the_request(service):
    code, answer = call(f"{service['url']}/api/v1/when-to-post",
                        {"text": TEXTS[0], "post_created_utc": 4102444800.0, "model_key": timing_key(service)})
    assert code == 422 and "post_created_utc is after created_utc" in answer["detail"]


def limits(service) -> dict:
    return yaml.safe_load((service["repo"] / "params.yaml").read_text())["service"]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("predict-sentiment", {"text": ""}, 422, "empty"),
        ("predict-sentiment", {"text": " \n\t "}, 422, "empty"),
        ("predict-sentiment", {"text": 42}, 422, "valid string"),
        ("predict-sentiment", {"text": None}, 422, "valid string"),
        ("predict-sentiment", {}, 422, "text: Field required"),
        ("predict-sentiment", {"text": "ok", "model_key": "gpt"}, 422, "valid keys: "),
        ("predict-sentiment", {"text": "ok", "is_submitter": "yes"}, 422, "is_submitter: Input should be a valid"),
        ("predict-sentiment", {"text": "ok", "created_utc": -5}, 422, "created_utc: Input should be greater than"),
        ("predict-sentiment", {"text": "ok", "created_utc": 100, "post_created_utc": 200}, 422, "after created_utc"),
        ("predict-batch", {"texts": ["a", "b"], "metadata": [{}]}, 422, "metadata has 1 entries for 2 texts"),
        ("predict-batch", {"texts": ["a"], "metadata": [{"likes": 3}]}, 422, "metadata.0.likes: Extra inputs"),
        ("predict-sentiment", {"text": "ok", "extra": 1}, 422, "extra"),
        ("predict-sentiment", ["a", "list"], 422, "dictionary"),
        ("predict-batch", {"texts": []}, 422, "at least 1"),
        ("predict-batch", {"texts": "not a list"}, 422, "valid list"),
        ("predict-batch", {"texts": ["fine", 3]}, 422, "texts.1"),
        ("predict-batch", {"texts": ["fine", "  "]}, 422, "texts[1] is empty"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(service, path, body, status, message):
    code, answer = call(f"{service['url']}/api/v1/{path}", body)
    assert code == status and message in answer["detail"]


def test_size_limits_and_malformed_json(service):
    max_chars, max_batch = limits(service)["max_chars"], limits(service)["max_batch"]
    code, answer = call(f"{service['url']}/api/v1/predict-sentiment", {"text": "a" * (max_chars + 1)})
    assert code == 413 and "service.max_chars" in answer["detail"]
    code, answer = call(f"{service['url']}/api/v1/predict-batch", {"texts": ["ok"] * (max_batch + 1)})
    assert code == 413 and "service.max_batch" in answer["detail"]
    code, answer = call(f"{service['url']}/api/v1/predict-sentiment", raw=b'{"text": "unterminated')
    assert code == 400 and "not valid JSON" in answer["detail"]


def test_unavailable_zero_shot_model_is_a_503_that_says_why(service):
    code, answer = call(f"{service['url']}/api/v1/predict-sentiment", {"text": "hola", "model_key": "bert_distilbert"})
    assert code == 503
    assert "bert_distilbert" in answer["detail"]
    assert "distilbert-base-uncased-finetuned-sst-2-english" in answer["detail"]
    _, health = call(f"{service['url']}/health")
    assert health["zero_shot"]["bert_distilbert"].startswith("unavailable")


def test_thirty_concurrent_requests(service):
    texts = [f"comment number {i}: {TEXTS[i % len(TEXTS)]}" for i in range(30)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda t: call(f"{service['url']}/api/v1/predict-sentiment", {"text": t, **METADATA}),
                                texts))
    assert [code for code, _ in answers] == [200] * 30
    batch = call(f"{service['url']}/api/v1/predict-batch", {"texts": texts, "metadata": [METADATA] * 30})[1]["results"]
    np.testing.assert_allclose([a["score"] for _, a in answers], [r["score"] for r in batch], atol=1e-5)


def champion_scores(repo) -> np.ndarray:
    champion = mlflow.pyfunc.load_model(str(repo / "models/champion"))
    return champion.predict(pd.DataFrame([{"text": t, **METADATA} for t in TEXTS]))["score"].to_numpy()


IMPOSTOR = """
import sys, joblib, bentoml
from sklearn.dummy import DummyClassifier
folder, tag = sys.argv[1], sys.argv[2]
# The same model with a classifier that always answers 1.0: a different model, as `dvc exp run`
# in another checkout would import.
joblib.dump(DummyClassifier(strategy="constant", constant=1).fit([[0], [0]], [0, 1]),
            next(__import__("pathlib").Path(folder).rglob("classifier.joblib")))
bentoml.mlflow.import_model(tag, folder)
"""


@pytest.fixture(scope="module")
def crowded_store(service, pipeline_env, tmp_path_factory):
    """The test store after the build, with a newer model under the same name (what `dvc exp run`
    leaves: its challenger imported last, so `reddit-reception:latest` is no longer the champion)."""
    repo = service["repo"]
    if json.loads((repo / "metrics/register.json").read_text())["family"] == "finetuned_minilm":
        pytest.skip("the impostor replaces a scikit-learn classifier; this champion has none")
    folder = tmp_path_factory.mktemp("impostor") / "model"
    shutil.copytree(repo / "models/champion", folder)
    run([sys.executable, "-c", IMPOSTOR, str(folder), "reddit-reception:impostor"], repo, env=pipeline_env)
    return pipeline_env


def exported_to_an_empty_store(repo, env, tmp_path) -> dict:
    """The built bento alone in a fresh BentoML store (what a container holds): exported, then imported."""
    bento = json.loads((repo / "models/bento.json").read_text())["bento"]
    run([str(BIN / "bentoml"), "export", bento, str(tmp_path / "bento.tar")], repo, env=env)
    fresh = {**env, "BENTOML_HOME": str(tmp_path / "fresh_home")}
    run([str(BIN / "bentoml"), "import", str(tmp_path / "bento.tar")], repo, env=fresh)
    models = run([str(BIN / "bentoml"), "models", "list", "-o", "json"], repo, env=fresh).stdout
    declared = json.loads((repo / "models/bento.json").read_text())["models"]
    assert sorted(m["tag"] for m in json.loads(models)) == sorted(entry["tag"] for entry in declared.values())
    return fresh


@pytest.mark.parametrize("how", ["bento", "source", "empty store"])
def test_serves_the_locked_champion_whatever_the_store_holds(crowded_store, service, how, tmp_path):
    repo, env = service["repo"], crowded_store
    locked = json.loads((repo / "models/bento.json").read_text())
    registration = json.loads((repo / "metrics/register.json").read_text())
    target = "service.service:RedditReception" if how == "source" else locked["bento"]
    if how == "empty store":
        env = exported_to_an_empty_store(repo, env, tmp_path)
    port = free_port()
    command = [str(BIN / "bentoml"), "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, repo, env, f"http://127.0.0.1:{port}", tmp_path / "serve.log") as url:
        health = detailed_health(url)  # the detailed view names the bento model
        assert health["models"][champion_family(service)]["bento_model"] == locked["model"]
        assert health["champion"]["bento_model"] == locked["model"] != "reddit-reception:impostor"
        assert health["champion"]["version"] == registration["version"]
        assert health["champion"]["alias_set"] == registration["alias_set"]
        _, batch = call(f"{url}/api/v1/predict-batch", {"texts": TEXTS, "metadata": [METADATA] * len(TEXTS)})
    np.testing.assert_allclose([r["score"] for r in batch["results"]], champion_scores(repo), atol=1e-5)


def test_short_soak_mixing_single_batch_and_bad_requests(service):
    """bench/soak.py for 20 s at concurrency 32 (`make bench` runs 120 s and tracks memory)."""
    out = run([sys.executable, "bench/soak.py", service["url"], "--seconds", "20", "--concurrency", "32"],
              service["repo"]).stdout
    soaked = json.loads(out)
    assert soaked["server_errors"] == 0 and soaked["connection_errors"] == 0, soaked
    assert soaked["problems"] == [], soaked["problems"]
    assert set(soaked["statuses"]) == {"single", "batch", "bad"} and soaked["requests"] > 100, soaked


def sample_thread_body(post_id: str = "1otlfzz") -> tuple[dict, pd.DataFrame]:
    """A real 500-comment thread of the sample as a request's `thread` (its first comment stands for the
    post, which the sample lacks), and its comments."""
    comments = pd.read_json(REPO / f"data/sample/reddit/comments/part-20250101_0000-{post_id}.ndjson", lines=True,
                            dtype={"comment_id": str, "parent_id": str})
    comments["author"] = comments["author"].astype(object).where(comments["author"].notna(), None)
    listed = comments[["comment_id", "parent_id", "created_utc", "author", "is_submitter"]].to_dict("records")
    return {"post_created_utc": float(comments["created_utc"].min()),
            "comments": [{k: v for k, v in c.items() if v is not None} for c in listed]}, comments


def model_folder(service, key: str) -> str:
    return str(service["repo"] / ("models/champion" if key == champion_family(service) else f"models/served/{key}"))


def test_a_thread_of_500_comments_gives_each_text_its_thread_features(service):
    key = timing_key(service)
    thread, comments = sample_thread_body()
    assert len(thread["comments"]) == 500
    replied = comments.sort_values("created_utc").iloc[[10, 200, 450]]
    # the first three answer a listed comment, each by that comment's parent's author (a reply back when known)
    parent_author = [a if isinstance(a, str) else None for a in
                     comments.set_index("comment_id")["author"].reindex(replied["parent_id"].str[3:])]
    metadata = [{"created_utc": float(row.created_utc) + 600, "parent_id": f"t1_{row.comment_id}",
                 **({"author": author} if author else {})}
                for row, author in zip(replied.itertuples(), parent_author, strict=True)] + [
        {"created_utc": thread["post_created_utc"] + 60, "parent_id": "t1_notlisted"}]
    texts = TEXTS[:len(metadata)]
    status, answer = call(f"{service['url']}/api/v1/predict-batch",
                          {"texts": texts, "metadata": metadata, "thread": thread, "model_key": key})
    assert status == 200, answer
    results = answer["results"]
    for result in results[:3]:
        used = result["inputs_used"]
        assert used["depth"]["source"] == "thread" and used["minutes_since_parent"]["value"] == 10.0
        assert used["is_top_level"] == {"value": False, "source": "parent_id"}
        assert used["post_created_utc"] == {"value": thread["post_created_utc"], "source": "thread"}
        position = next(c for c in result["contributions"] if c["input"] == "thread_position")
        assert position["says"].startswith("a reply to the thread's ") and ", 10 min after it" in position["says"]
    assert [r["inputs_used"]["comments_so_far"]["value"] for r in results[:3]] == sorted(
        r["inputs_used"]["comments_so_far"]["value"] for r in results[:3])
    assert any(r["inputs_used"]["replies_back"]["value"] == 1.0 for r in results[:3])
    assert all(r["inputs_used"]["parent_author_earlier"]["value"] >= 1 for r in results[:3])
    assert "conversation" in {c["input"] for c in results[0]["contributions"]}
    # the names go no further than the check: not in the answer
    assert "author" not in results[0]["inputs_used"] and not {a for a in parent_author if a} & {
        str(v.get("value")) for r in results for v in r["inputs_used"].values()}
    assert results[3]["inputs_used"]["depth"]["value"] is None and results[3]["inputs_used"]["comments_so_far"] == {
        "value": float((comments["created_utc"] < metadata[3]["created_utc"]).sum()), "source": "thread"}
    # the same as the registered model scoring those records with the thread, in-process
    model = mlflow.pyfunc.load_model(model_folder(service, key)).unwrap_python_model()
    given = given_thread(thread["post_created_utc"], *(comments[c].tolist() for c in
                                                        ("comment_id", "parent_id", "created_utc")),
                         author=comments["author"].tolist(), is_submitter=comments["is_submitter"].tolist())
    scored = model.score_records(with_thread([{"text": t, **m} for t, m in zip(texts, metadata, strict=True)],
                                             given, [""] * len(texts)))
    np.testing.assert_allclose([r["score"] for r in results], [s.score for s in scored], atol=1e-5)
    assert [r["inputs_used"] for r in results] == [s.inputs_used for s in scored]
    # without the thread, the defaults as before
    _, alone = call(f"{service['url']}/api/v1/predict-sentiment", {"text": texts[0], **metadata[0], "model_key": key})
    assert alone["inputs_used"]["comments_so_far"]["source"].startswith("default")


def test_when_to_post_keeps_the_thread_as_given(service):
    """Comments listed after "now" count once the draft waits past them."""
    key = timing_key(service)
    now, post = METADATA["created_utc"], METADATA["post_created_utc"]
    thread = {"post_created_utc": post, "comments_so_far": 3,
              "comments": [{"comment_id": "a1", "parent_id": "t3_p", "created_utc": now - 600},
                           {"comment_id": "a2", "parent_id": "t1_a1", "created_utc": now + 1800}]}
    draft = {"text": TEXTS[0], "created_utc": now, "post_created_utc": post, "parent_id": "t1_a1",
             "model_key": key, "thread": thread, "delays_minutes": [0, 60]}
    status, answer = call(f"{service['url']}/api/v1/when-to-post", draft)
    assert status == 200, answer
    assert answer["inputs_used"]["comments_so_far"] == {"value": 1.0, "source": "thread"}
    assert answer["inputs_used"]["earlier_replies_to_parent"] == {"value": 0.0, "source": "thread"}
    single = {k: v for k, v in draft.items() if k != "delays_minutes"}
    for point in answer["curve"]:
        _, then = call(f"{service['url']}/api/v1/predict-sentiment", {**single, "created_utc": point["created_utc"]})
        assert point["score"] == pytest.approx(then["score"], abs=1e-4)
    _, later = call(f"{service['url']}/api/v1/predict-sentiment", {**single, "created_utc": now + 3600})
    assert later["inputs_used"]["earlier_replies_to_parent"]["value"] == 1.0  # a2, listed, now before it
    assert later["inputs_used"]["comments_so_far"] == {"value": 3.0,
                                                       "source": "thread: its comments_so_far (the page's count)"}


THREAD = {"post_created_utc": 1762795419.0,
          "comments": [{"comment_id": "a1", "parent_id": "t3_p", "created_utc": 1762795500.0},
                       {"comment_id": "a2", "parent_id": "t1_a1", "created_utc": 1762795600.0}]}


def with_comment(**fields) -> dict:
    return {**THREAD, "comments": [*THREAD["comments"], {"comment_id": "a3", "parent_id": "t3_p",
                                                         "created_utc": 1762795700.0, **fields}]}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("predict-sentiment", {"thread": with_comment(comment_id="a1")}, 422,
         "thread.comments[0] and thread.comments[2] have the same comment_id 'a1'"),
        ("predict-sentiment", {"thread": with_comment(parent_id="t1_a2", created_utc=1762795550.0)}, 422,
         "thread.comments[2] ('a3', created_utc 1762795550) replies to thread.comments[1] ('a2', created_utc "
         "1762795600)"),
        ("predict-sentiment", {"thread": with_comment(parent_id="t3_q")}, 422, "'t3_p' and thread.comments[2]"),
        ("predict-sentiment", {"thread": with_comment(created_utc=1762795000.0)}, 422,
         "thread.comments[2].created_utc (1762795000) is before thread.post_created_utc (1762795419)"),
        ("predict-sentiment", {"thread": THREAD, "post_created_utc": 1762795400.0}, 422,
         "post_created_utc (1762795400) differs from thread.post_created_utc (1762795419)"),
        ("predict-sentiment", {"thread": THREAD, "parent_id": "t3_p", "is_top_level": False}, 422,
         "parent_id 't3_p' (a reply to the post) contradicts is_top_level false"),
        ("predict-sentiment", {"parent_id": "t1_x", "is_top_level": True}, 422, "contradicts is_top_level true"),
        ("predict-sentiment", {"thread": THREAD, "parent_id": "t3_other"}, 422,
         "parent_id 't3_other' names another post than the thread's comments ('t3_p')"),
        ("predict-sentiment", {"thread": THREAD, "parent_id": "t1_a2", "created_utc": 1762795550.0}, 422,
         "created_utc (1762795550) is before its parent thread.comments[1] ('a2'"),
        ("predict-batch", {"texts": ["a", "b"], "metadata": [{}, {"post_created_utc": 1.0, "created_utc": 2.0}],
                           "thread": THREAD}, 422, "metadata[1].post_created_utc (1) differs"),
        ("predict-sentiment", {"thread": {**THREAD, "comments": [{"comment_id": "A1", "parent_id": "t3_p",
                                                                   "created_utc": 1.0}]}}, 422,
         "thread.comments.0.comment_id: String should match pattern"),
        ("predict-sentiment", {"parent_id": "x_1"}, 422, "parent_id: String should match pattern"),
        ("predict-sentiment", {"thread": {**THREAD, "comments_so_far": -1}}, 422, "thread.comments_so_far"),
        ("predict-sentiment", {"thread": {"comments": []}}, 422, "thread.post_created_utc: Field required"),
    ],
)
def test_a_thread_that_contradicts_itself_or_a_text_is_a_422_naming_both(service, path, body, status, message):
    if path == "predict-sentiment":
        body = {"text": "ok", **body}
    code, answer = call(f"{service['url']}/api/v1/{path}", body)
    assert code == status and message in answer["detail"], answer


def test_a_thread_over_the_limit_is_a_413(service):
    most = limits(service)["max_thread_comments"]
    assert most >= 500
    comments = [{"comment_id": f"c{i}", "parent_id": "t3_p", "created_utc": 1762795500.0 + i} for i in range(most + 1)]
    code, answer = call(f"{service['url']}/api/v1/predict-sentiment",
                        {"text": "ok", "thread": {"post_created_utc": 1762795419.0, "comments": comments}})
    assert code == 413 and "service.max_thread_comments" in answer["detail"], answer
    code, _ = call(f"{service['url']}/api/v1/predict-sentiment",
                   {"text": "ok", "thread": {"post_created_utc": 1762795419.0, "comments": comments[:most]}})
    assert code == 200
