"""The service's error answers: {"detail": <message>}, with the status the API documents."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service.config import SETTINGS


class ApiError(Exception):
    """An answer other than 200, with a message for the caller."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class ErrorBody(BaseModel):
    """Every answer other than 200: one human-readable message."""
    detail: str


# For the OpenAPI document: each route's answers other than 200.
ERRORS = {
    400: {"model": ErrorBody, "description": "the body is not valid JSON"},
    413: {"model": ErrorBody, "description": f"a body over {SETTINGS['max_body_bytes']} bytes "
                                             "(service.max_body_bytes, refused before it is read), a text over "
                                             f"{SETTINGS['max_chars']} characters (service.max_chars), "
                                             f"more than {SETTINGS['max_batch']} texts (service.max_batch) or a "
                                             f"thread of more than {SETTINGS['max_thread_comments']} comments "
                                             "(service.max_thread_comments)"},
    422: {"model": ErrorBody, "description": "a field is missing, of the wrong type, blank, out of range or "
                                             "unknown; post_created_utc after created_utc; metadata not one "
                                             "entry per text; an unknown model_key; a thread whose comments "
                                             "contradict each other, or that contradicts a text (its "
                                             "post_created_utc, parent_id or created_utc), or a parent_id that "
                                             "contradicts is_top_level: the message names both sides"},
    503: {"model": ErrorBody, "description": "the requested zero-shot checkpoint cannot be loaded (and why), or "
                                             f"more than {SETTINGS['max_queued_texts']} texts wait to be scored "
                                             "(service.max_queued_texts; the Retry-After header says when to "
                                             "retry)"},
}


def sendable(message: str) -> str:
    """The message with whatever UTF-8 cannot carry (a lone surrogate echoed from a request's field name
    or value) written as a backslash escape, so that the answer itself can be sent."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    if any(p["type"] == "json_invalid" for p in problems):
        return JSONResponse({"detail": "request body is not valid JSON"}, status_code=400)
    message = "; ".join(f"{'.'.join(str(x) for x in p['loc'][1:]) or 'body'}: {p['msg']}" for p in problems)
    return JSONResponse({"detail": sendable(message)}, status_code=422)


async def api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse({"detail": sendable(error.message)}, status_code=error.status, headers=error.headers)


def answer_errors(app: FastAPI) -> None:
    """Installs the handlers that turn invalid requests and ApiErrors into those answers."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ApiError, api_error)
