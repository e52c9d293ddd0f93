"""The request timeout BentoML puts in front of the service, as reception.serving.request_timeout installs it:
the same 504 after traffic.timeout seconds, and nothing of an answered request left in the event loop."""
import asyncio
import contextvars
import json

from bentoml._internal.server.http.traffic import TimeoutMiddleware

from reception.serving import request_timeout

REQUEST_CONTEXT = contextvars.ContextVar("request_context")


def app_answering_after(seconds: float):
    async def app(scope, receive, send):
        REQUEST_CONTEXT.set(object())  # what a tracing span does: the request's context holds it
        await asyncio.sleep(seconds)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    return app


async def serve(middleware, requests: int = 1) -> tuple[list[dict], list]:
    """Run `requests` requests through the middleware; the messages sent and the timers still live after."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    REQUEST_CONTEXT.set("the request's context")
    for _ in range(requests):
        await middleware({"type": "http", "method": "POST", "path": "/"}, receive, send)
    await asyncio.sleep(0)  # a cancelled request's own work winds down (its sleep's timer) on the next turn
    live = [timer for timer in asyncio.get_running_loop()._scheduled if not timer.cancelled()]
    return sent, live


def test_install_replaces_the_middleware_of_bentoml_that_keeps_a_timer_per_request():
    request_timeout.install()
    assert TimeoutMiddleware.__call__ is request_timeout.call_with_timeout


def test_an_answered_request_leaves_no_live_timer_nor_its_context():
    request_timeout.install()
    sent, live = asyncio.run(serve(TimeoutMiddleware(app_answering_after(0), timeout=120), requests=50))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200] * 50
    assert live == []  # BentoML's own version leaves 50 timers of 120 s, each holding its request's context


def test_a_request_past_the_timeout_is_answered_504_and_its_work_cancelled():
    request_timeout.install()
    sent, live = asyncio.run(serve(TimeoutMiddleware(app_answering_after(5), timeout=0.2)))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = next(m for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 504
    assert json.loads(body["body"]) == {"error": "Not able to process the request in 0.2 seconds"}
    assert live == []
