"""Schemathesis hooks for tests/test_service_contract.py (loaded by `st run` through SCHEMATHESIS_HOOKS).

The OpenAPI document states two rules that JSON Schema cannot express, in their fields' descriptions:
post_created_utc is not after created_utc, and predict-batch's metadata has one entry per text. A
case generated as valid ("positive") is made to follow them before it is sent, so that a 422 for
breaking them is not reported as valid data refused. Cases generated as invalid are sent as generated.
when-to-post's created_utc defaults to the time of the request: a valid case without it gets a thread
start that is not in the future.
"""
from __future__ import annotations

import os
import time

import schemathesis

# The keys /health lists as zero-shot or unavailable: the ones that may answer 503.
MAY_BE_UNAVAILABLE = set(os.environ["CONTRACT_MAY_BE_UNAVAILABLE"].split(","))


def follow_time_rule(metadata: dict) -> None:
    created, post = metadata.get("created_utc"), metadata.get("post_created_utc")
    if isinstance(created, int | float) and isinstance(post, int | float) and post > created:
        metadata["created_utc"], metadata["post_created_utc"] = post, created


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    body = case.body
    if case.meta is None or not case.meta.generation.mode.is_positive or not isinstance(body, dict):
        return
    if "texts" in body and isinstance(body.get("metadata"), list):
        entries = body["metadata"][:len(body["texts"])]
        body["metadata"] = entries + [{}] * (len(body["texts"]) - len(entries))
    for metadata in body.get("metadata") or [body]:
        if isinstance(metadata, dict):
            follow_time_rule(metadata)
    if case.path.endswith("/when-to-post") and body.get("created_utc") is None:
        post = body.get("post_created_utc")
        if isinstance(post, int | float) and post > time.time() - 60:
            body["post_created_utc"] = type(post)(time.time() - 3600)


@schemathesis.check
def only_unavailable_keys_answer_503(ctx, response, case) -> bool | None:
    """The one 5xx the API documents: 503 for a zero-shot key whose checkpoint cannot be loaded (offline
    here) or a trained family not trained on this machine. Any other 5xx, or a 503 for another key, fails."""
    if response.status_code < 500:
        return None
    key = case.body.get("model_key") if isinstance(case.body, dict) else None
    if response.status_code != 503 or key not in MAY_BE_UNAVAILABLE:
        raise AssertionError(f"{response.status_code} for model_key {key!r}: only an unavailable key may answer 503")
    return None
