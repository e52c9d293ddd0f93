"""Schemathesis hooks for tests/test_service_contract.py (loaded by `st run` through SCHEMATHESIS_HOOKS).

The OpenAPI document states rules that JSON Schema cannot express, in their fields' descriptions:
post_created_utc is not after created_utc, predict-batch's metadata has one entry per text, and a
request's thread agrees with itself and its texts (reception.serving.thread_request). A case generated
as valid ("positive") is made to follow them before it is sent, so that a 422 for breaking them is not
reported as valid data refused. Cases generated as invalid are sent as generated.
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


def is_time(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def follow_thread_rules(body: dict, texts: list[dict]) -> None:
    """A valid case's thread and texts made to agree: a text's parent_id and is_top_level say the same;
    unique comment ids; one post, and no listed parent (a parent the page does not show is allowed, so
    no reply can be older than its parent); no comment or text before the post; one post_created_utc."""
    for text in texts:
        if isinstance(text.get("parent_id"), str) and isinstance(text.get("is_top_level"), bool):
            text["is_top_level"] = text["parent_id"].startswith("t3_")
    thread = body.get("thread")
    if not isinstance(thread, dict) or not is_time(thread.get("post_created_utc")):
        return
    if len(texts) == 1 and is_time(texts[0].get("post_created_utc")):  # when-to-post's is required
        thread["post_created_utc"] = texts[0]["post_created_utc"]
    post = thread["post_created_utc"]
    unlisted = {"t3_": "t3_post", "t1_": "t1_unlisted"}
    for i, comment in enumerate(thread.get("comments") if isinstance(thread.get("comments"), list) else []):
        if isinstance(comment, dict):
            comment["comment_id"] = f"c{i}"
            if isinstance(comment.get("parent_id"), str):
                comment["parent_id"] = unlisted.get(comment["parent_id"][:3], comment["parent_id"])
            if is_time(comment.get("created_utc")) and comment["created_utc"] < post:
                comment["created_utc"] = post
    for text in texts:
        if isinstance(text.get("parent_id"), str):
            text["parent_id"] = unlisted.get(text["parent_id"][:3], text["parent_id"])
        if is_time(text.get("post_created_utc")):
            text["post_created_utc"] = post
        if is_time(text.get("created_utc")) and text["created_utc"] < post:
            text["created_utc"] = post


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    body = case.body
    if case.meta is None or not case.meta.generation.mode.is_positive or not isinstance(body, dict):
        return
    if "texts" in body and isinstance(body.get("metadata"), list):
        entries = body["metadata"][:len(body["texts"])]
        body["metadata"] = entries + [{}] * (len(body["texts"]) - len(entries))
    texts = [m for m in (body.get("metadata") or [body]) if isinstance(m, dict)]
    for metadata in texts:
        follow_time_rule(metadata)
    if case.path.endswith("/when-to-post") and body.get("created_utc") is None:
        post = body.get("post_created_utc")
        if isinstance(post, int | float) and post > time.time() - 60:
            body["post_created_utc"] = type(post)(time.time() - 3600)
    follow_thread_rules(body, texts)


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
