"""BentoML's request timeout (traffic.timeout), without keeping every request alive for that long.

BentoML's TimeoutMiddleware (bentoml/_internal/server/http/traffic.py) schedules one `loop.call_later(timeout,
...)` per request and never cancels it. The timer lives on in the event loop for the whole timeout (120 s
here) after the request is answered, and with it the context it was scheduled in: the request's OpenTelemetry
span, its attributes and everything that context reaches. Measured under a flood of requests (bench/flood.py;
docs/benchmarks.md, "Flood"): the worker's memory grew by 3 kB for each small request and 17 kB for each
1,000-comment body, 422 and 503 answers alike, for as long as the timeout, and a 75 s flood never saw it level
off. tracemalloc showed the live timers and spans; gc, malloc_trim, jemalloc, fewer malloc arenas and
ONNX Runtime's arena or memory patterns changed nothing.

install() gives the middleware a __call__ that does what BentoML's does (the same 504 after `timeout` seconds
without a response) but schedules its timer in an empty context and cancels it once the request is done.
"""
from __future__ import annotations

import asyncio
import contextvars

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse


async def call_with_timeout(self, scope, receive, send) -> None:
    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    # An empty context: the request's context (its tracing span) is not the timer's to keep.
    timer = loop.call_later(self.timeout, self._set_timer_out, waiter, context=contextvars.Context())

    async def send_and_stop_the_clock(message) -> None:
        if not waiter.done():
            waiter.set_result(None)
        await send(message)

    answering = asyncio.ensure_future(self.app(scope, receive, send_and_stop_the_clock))
    try:
        await waiter
    except TimeoutError:
        if answering.cancel():
            await JSONResponse({"error": f"Not able to process the request in {self.timeout} seconds"},
                               status_code=504)(scope, receive, send)
    else:
        await answering
    finally:
        timer.cancel()


def install() -> None:
    """Every TimeoutMiddleware BentoML builds from now on (in this process) uses call_with_timeout."""
    traffic.TimeoutMiddleware.__call__ = call_with_timeout
