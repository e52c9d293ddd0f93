"""The service against hostile or broken input: what it answers, how fast, and that nothing is lost.

On a real `bentoml serve`: the built bento (the `service` fixture) for bodies and texts, and the same
service from source with a small inference queue and a /health token (`small_queue`) for a full queue and
the prediction log's counters. The log's write path is also tested alone, with a record that cannot be
written.
"""
import json
import select
import shutil
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import yaml

from conftest import BIN, call, detailed_health, free_port, serving
from reception.serving import health, prediction_log
from reception.serving.scored_record import ScoredRecord

REPO = Path(__file__).resolve().parents[1]
CHUNK = b'{"texts": ["' + b"a" * (2**20 - 12)  # one MiB, sent again and again: never a whole body in memory
SMALL = {"max_batch": 20, "max_queued_texts": 20, "model_batch": 1}


def post_streamed(url: str, path: str, total: int, chunked: bool) -> tuple[int, dict, int, float]:
    """POSTs a body of `total` bytes, CHUNK after CHUNK, until the server answers; (status, body, body bytes
    sent, seconds). With Content-Length the server may answer before any body byte is sent."""
    address = urlparse(url)
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
                     f"{framing}\r\n\r\n".encode())
        sent = 0
        while sent < total and not select.select([sock], [], [], 0.2 if sent == 0 else 0)[0]:
            piece = CHUNK[:total - sent]
            try:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < length_of(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head, body = answer.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body), sent, time.monotonic() - started


def length_of(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def limit(url: str) -> int:
    return call(f"{url}/health")[1]["limits"]["max_body_bytes"]


@pytest.mark.integration
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_200_mb_body_is_refused_with_413_before_it_is_read(service, chunked):
    max_bytes = limit(service["url"])
    status, body, sent, seconds = post_streamed(service["url"], "/api/v1/predict-batch", 200 * 10**6, chunked)
    assert status == 413 and "service.max_body_bytes" in body["detail"]
    # announced: refused before a byte of it; streamed: once the limit is passed (what the client sent
    # beyond it sat in the sockets' buffers, a few MiB)
    assert sent == 0 if not chunked else max_bytes < sent <= max_bytes + 16 * len(CHUNK)
    assert seconds < 30
    assert call(f"{service['url']}/api/v1/predict-sentiment", {"text": "still answering"})[0] == 200


@pytest.mark.integration
def test_a_million_item_list_is_a_413_and_quick(service):
    started = time.monotonic()
    status, body = call(f"{service['url']}/api/v1/predict-batch", raw=b'{"texts": [' + b'"a",' * 999_999 + b'"a"]}')
    assert status == 413 and "service.max_batch" in body["detail"] and "1000000" in body["detail"]
    assert time.monotonic() - started < 10


@pytest.mark.integration
@pytest.mark.parametrize("body", [
    {"text": "fine \\ud800 text"}, {"text": "ok", "comment_id": "\\udfff"}, {"text": "ok", "model_key": "\\ud83d"},
])
def test_lone_surrogates_are_a_422_that_says_so(service, body):
    raw = json.dumps(body).replace("\\\\u", "\\u").encode()  # the escape itself, as a client can send it
    status, answer = call(f"{service['url']}/api/v1/predict-sentiment", raw=raw)
    assert status == 422 and "lone surrogate" in answer["detail"]
    status, answer = call(f"{service['url']}/api/v1/predict-batch", raw=b'{"texts": ["ok", "\\udc00"]}')
    assert status == 422 and "texts.1" in answer["detail"] and "lone surrogate" in answer["detail"]


@pytest.mark.integration
def test_health_without_the_token_tells_no_paths_or_errors(service):
    status, public = call(f"{service['url']}/health")
    assert status == 200 and public["status"] == "ok" and public["model_keys"]
    assert "prediction_log" not in public and "inference" not in public
    assert {model["status"] for model in public["models"].values()} <= {"loaded", "not loaded yet", "loading",
                                                                        "unavailable"}
    assert all(set(model) == {*health.PUBLIC_MODEL_FIELDS, "status"} for model in public["models"].values())
    assert set(public["champion"]) == set(health.PUBLIC_DEFAULT_FIELDS)
    assert "/" not in json.dumps({k: v for k, v in public.items() if k != "champion"})  # no path anywhere
    request = urllib.request.Request(f"{service['url']}/health", headers={"Authorization": "Bearer guessed"})
    with urllib.request.urlopen(request) as response:  # a wrong token gets the public view, nothing more
        assert json.loads(response.read()) == public


@pytest.mark.integration
def test_concurrent_first_requests_to_a_zero_shot_key(service):
    """The bento ships no zero-shot folder (params.yaml's local_dir): every request of a concurrent first wave is
    a quick 503 naming the folder, none a 500, and /health remembers why."""
    key = "bert_nlptown"
    local_dir = yaml.safe_load((service["repo"] / "params.yaml").read_text())["families"]["baselines"][key]["local_dir"]
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: call(f"{service['url']}/api/v1/predict-sentiment",
                                               {"text": f"first wave {i}", "model_key": key}), range(16)))
    assert time.monotonic() - started < 10
    assert {status for status, _ in answers} == {503}
    assert all(f"its folder {local_dir} is absent" in body["detail"] for _, body in answers)
    reason = answers[0][1]["detail"].split(" is unavailable: ", 1)[1]
    assert detailed_health(service["url"])["zero_shot"][key] == f"unavailable: {reason}"
    assert call(f"{service['url']}/api/v1/predict-sentiment", {"text": "still answering"})[0] == 200


@pytest.fixture(scope="module")
def small_queue(model_repo, pipeline_env, tmp_path_factory):
    """The service from source (the bento's files, the model store of the built bento) with a queue of
    SMALL["max_queued_texts"] texts and its own log folder (pipeline_env gives it the tests' /health token)."""
    root = tmp_path_factory.mktemp("small_queue")
    shutil.copytree(model_repo / "service", root / "service")
    (root / "models").mkdir()
    shutil.copy(model_repo / "models/bento.json", root / "models/bento.json")
    params = yaml.safe_load((model_repo / "params.yaml").read_text())
    params["service"] |= {**SMALL, "log_dir": str(root / "logs")}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    port = free_port()
    command = [str(BIN / "bentoml"), "serve", "service.service:RedditReception", "--host", "127.0.0.1",
               "--port", str(port)]
    with serving(command, root, pipeline_env, f"http://127.0.0.1:{port}", root / "serve.log") as url:
        yield url


def answer_with_headers(url: str, body: dict) -> tuple[int, dict, Message]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


@pytest.mark.integration
def test_a_full_queue_is_a_503_with_retry_after_and_the_rest_is_answered(small_queue):
    texts = [f"comment {i}: " + "a long comment that takes its time to encode " * 40 for i in range(SMALL["max_batch"])]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: answer_with_headers(f"{small_queue}/api/v1/predict-batch", {"texts": texts}),
                                range(6)))
    refused = [(body, headers) for status, body, headers in answers if status == 503]
    assert refused and {status for status, _, _ in answers} == {200, 503}
    assert all(int(headers["Retry-After"]) >= 1 and "service.max_queued_texts" in body["detail"]
               for body, headers in refused)
    assert detailed_health(small_queue)["inference"]["refused_requests"] >= len(refused)
    assert call(f"{small_queue}/api/v1/predict-sentiment", {"text": "after the flood"})[0] == 200


@pytest.mark.integration
def test_a_lone_surrogate_does_not_stop_the_log(small_queue):
    before = detailed_health(small_queue)["prediction_log"]
    bad = call(f"{small_queue}/api/v1/predict-sentiment", raw=b'{"text": "bad \\ud800"}')
    assert bad[0] == 422
    for i in range(5):
        assert call(f"{small_queue}/api/v1/predict-sentiment", {"text": f"ordinary request {i}"})[0] == 200
    deadline = time.monotonic() + 10  # the log's writer thread writes within a fraction of a second
    while (log := detailed_health(small_queue)["prediction_log"])["records_written"] < before["records_written"] + 5:
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert log["ok"] and log["records_not_logged"] == before["records_not_logged"]
    assert log["folder"] and "records_skipped" in log  # the detailed view: paths and counters


SERVED = {"model_key": "hybrid", "bento_model": "reddit-reception:abc", "model_version": "7"}


def scored_request(texts: list[str]):
    used = {"text": {"source": "request"}}
    return ([{"text": t} for t in texts], [ScoredRecord(0.3, used, [], v) for v in np.eye(len(texts), 384)],
            [{"score": 0.3, "label": "negative", "model_key": "hybrid", "backend_model_name": "models:/r/7",
              "inputs_used": used} for _ in texts])


def test_a_record_that_cannot_be_written_is_skipped_and_counted_and_the_log_goes_on(log_folder):
    log = prediction_log.PredictionLog(SERVED, log_text=False, min_free_mb=0)
    log.write(*scored_request(["fine", "bad \ud800", "also fine"]))  # its hash cannot be taken
    assert log.flush()
    skipped = log.status()
    assert (skipped["records_written"], skipped["records_skipped"], skipped["records_not_logged"]) == (2, 1, 1)
    assert "UnicodeEncodeError" in skipped["error"]
    for i in range(5):  # the next requests are written at once: nothing paused
        log.write(*scored_request([f"ordinary {i}"]))
    assert log.flush()
    status = log.status()
    assert status["records_written"] == 7 and status["records_skipped"] == 1 and status["ok"]
    lines = [json.loads(line) for f in (log_folder / prediction_log.MONITOR_NAME / "data").glob("data.*")
             for line in f.read_text().splitlines()]
    assert len(lines) == 7 and all(line["text_len"] for line in lines)
