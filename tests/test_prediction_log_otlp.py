"""The prediction log sent to an OpenTelemetry collector: the bento served with the BentoML config that
docs/monitoring.md shows (BentoML's `otlp` monitor), against a stand-in for a team's collector on loopback
that accepts OTLP/HTTP logs (POST /v1/logs, protobuf) and keeps what it receives."""
import gzip
import json
import re
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from conftest import BIN, REPO, call, detailed_health, free_port, serving
from reception.serving import prediction_log

BENTOML_COLUMNS = {"timestamp", "request_id", "trace_id"}  # what BentoML's OTLP monitor adds to every record


def any_value(value):
    """An OTLP AnyValue as Python: kvlist -> dict, array -> list, an unset value -> None."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return {item.key: any_value(item.value) for item in value.kvlist_value.values}
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    return getattr(value, kind)


class Collector(ThreadingHTTPServer):
    """POST /v1/logs with an ExportLogsServiceRequest (optionally gzip or deflate): every log record's body
    is kept in `bodies`; answers an empty ExportLogsServiceResponse, as a collector does."""

    def __init__(self, port: int) -> None:
        self.bodies: list[dict] = []
        self.encodings: list[str | None] = []  # Content-Encoding of each POST
        super().__init__(("127.0.0.1", port), CollectorHandler)


class CollectorHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
            ExportLogsServiceResponse,
        )

        payload = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding")
        payload = gzip.decompress(payload) if encoding == "gzip" else zlib.decompress(payload) \
            if encoding == "deflate" else payload
        if self.path != "/v1/logs":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportLogsServiceRequest.FromString(payload)
        self.server.encodings.append(encoding)
        self.server.bodies += [any_value(record.body) for resource in request.resource_logs
                               for scope in resource.scope_logs for record in scope.log_records]
        answer = ExportLogsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def collector():
    server = Collector(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def documented_config(endpoint: str) -> dict:
    """The OTLP config block of docs/monitoring.md, its endpoint replaced by `endpoint`."""
    text = (REPO / "docs" / "monitoring.md").read_text()
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "type: otlp" in b]
    config = yaml.safe_load(block)
    options = config["services"]["reddit_reception"]["monitoring"]["options"]
    assert options["endpoint"].endswith("/v1/logs") and options["protocol"] == "http"
    options["endpoint"] = endpoint
    return config


@pytest.mark.integration
def test_the_documented_otlp_config_sends_one_log_record_per_scored_text(model_repo, pipeline_env, collector,
                                                                         tmp_path):
    config = tmp_path / "bentoml_config.yaml"
    config.write_text(yaml.safe_dump(documented_config(f"http://127.0.0.1:{collector.server_port}/v1/logs")))
    bento = json.loads((model_repo / "models/bento.json").read_text())
    port = free_port()
    # The SDK exports every OTEL_BLRP_SCHEDULE_DELAY ms (default 1000).
    env = {**pipeline_env, "BENTOML_CONFIG": str(config), "OTEL_BLRP_SCHEDULE_DELAY": "200",
           "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}  # as docs/monitoring.md says to compress
    command = [str(BIN / "bentoml"), "serve", bento["bento"], "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, model_repo, env, f"http://127.0.0.1:{port}", tmp_path / "serve.log") as url:
        status, single = call(f"{url}/api/v1/predict-sentiment", {"text": "Great explanation, thanks!",
                                                                  "comment_id": "otlp1", "post_id": "p1"})
        assert status == 200
        status, batch = call(f"{url}/api/v1/predict-batch", {"texts": ["why?", "ok then"], "metadata": [
            {"comment_id": "otlp2", "post_id": "p1"}, {"comment_id": "otlp3"}]})
        assert status == 200
        health = detailed_health(url)["prediction_log"]
        assert (health["ok"], health["sink"], health["folder"]) == (True, "otlp", None), health
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            mine = {b.get("comment_id"): b for b in collector.bodies if str(b.get("comment_id")).startswith("otlp")}
            if len(mine) == 3:
                break
            time.sleep(0.2)
        health = detailed_health(url)["prediction_log"]
    assert sorted(b.get("comment_id") for b in collector.bodies) == ["otlp1", "otlp2", "otlp3"], \
        (collector.bodies, (tmp_path / "serve.log").read_text()[-3000:])
    assert health["records_written"] == 3 and health["records_not_logged"] == 0
    assert set(collector.encodings) == {"gzip"}  # OTEL_EXPORTER_OTLP_COMPRESSION
    expected = {"otlp1": single, "otlp2": batch["results"][0], "otlp3": batch["results"][1]}
    for comment_id, record in mine.items():
        # A null column travels as an unset value: the key is there, with None.
        assert set(record) - {"bento_meta"} == set(prediction_log.SCHEMA) | BENTOML_COLUMNS, record.keys()
        answer = expected[comment_id]
        assert record["model_key"] == bento["family"] and record["bento_model"] == bento["model"]
        assert record["score"] == pytest.approx(answer["score"]) and record["label"] == answer["label"]
        assert record["backend_model_name"] == answer["backend_model_name"] and "text" not in record
        assert record["text_sha256"] and record["request_id"] and record["timestamp"] > 0
    assert mine["otlp1"]["post_id"] == "p1" and mine["otlp3"]["post_id"] is None
    assert mine["otlp1"]["text_len"] == len("Great explanation, thanks!")
    # meta_sample_rate 1.0: every record also carries the schema (column -> name, role, type)
    schema = mine["otlp1"]["bento_meta"]["schema"]
    assert {name: (column["role"], column["type"]) for name, column in schema.items()} == {
        name: (role, kind) for name, (role, kind, _) in prediction_log.SCHEMA.items()}
