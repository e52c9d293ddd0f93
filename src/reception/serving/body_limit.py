"""A request-body limit in front of the service, before anything reads or parses the body.

FastAPI reads a whole body and parses it before any handler can look at its size, so without this a
multi-GB POST is held in memory (several times over, as bytes, then as Python objects) before the
service can refuse it. BodyLimit answers 413 at once when Content-Length announces more than the limit,
and for a body without Content-Length (chunked) counts the bytes as they arrive and answers 413 as soon as
they pass it: at most `max_bytes` (plus one chunk) of a body is ever held for a request.
"""
from __future__ import annotations

import json

LIMIT_PARAM = "service.max_body_bytes"


def too_large(max_bytes: int, seen: str) -> bytes:
    return json.dumps({"detail": f"the request body is larger than {max_bytes} bytes ({LIMIT_PARAM}): {seen}"}).encode()


class BodyLimit:
    """ASGI middleware: 413 {"detail": ...} for an HTTP request whose body passes `max_bytes`."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                announced = None
            if announced is None or announced > self.max_bytes:
                return await self.refuse(send, f"Content-Length is {length.decode('latin-1')[:40]}")
        received, refused = 0, False

        async def counted_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answered here, before the app sees more; to the app the client has gone away, and
                    # whatever it answers to that is dropped.
                    refused = True
                    await self.refuse(send, f"{received} bytes arrived")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)

    async def refuse(self, send, seen: str) -> None:
        body = too_large(self.max_bytes, seen)
        # "connection: close": the rest of the body is never read, so the connection cannot be reused
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
