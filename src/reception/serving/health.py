"""What the service's /health says: every model key and its state, the default model and what the
registry decided about it, the request limits and the prediction log.

The default model is the pipeline's locked winner: the family `register` picked and `bento` locked. It is
the registry's champion only when the registry gave it the alias; otherwise it is served as the locked
winner, and /health and the UI say why the alias was refused. The JSON keys keep the word `champion`
(the contract IMEDIA's clients and the tests read); `served_as` says which of the two it is.

Two views. Anyone gets the public one (`public`): the status, every key with its family, kind, thread-CV
ROC-AUC and state in one word, the default model and the registry's decision, the request limits: what
a client and the UI need, and nothing that tells an outsider about the machine. The whole report (paths,
error texts, registry names, the prediction log's and the queue's counters) goes only to a caller that
sends `Authorization: Bearer <token>` with the token configured in the environment variable TOKEN_ENV;
without that variable nobody gets it.
"""
from __future__ import annotations

import hmac

CHAMPION, LOCKED_WINNER = "champion", "locked winner"
TOKEN_ENV = "RECEPTION_HEALTH_TOKEN"
PUBLIC_MODEL_FIELDS = ("family", "kind", "thread_cv_roc_auc", "champion")
PUBLIC_DEFAULT_FIELDS = ("model_key", "served_as", "version", "alias_set", "alias_decision")


def served_as(registration: dict) -> str:
    """"champion" when the registry gave the default model the alias, "locked winner" otherwise."""
    return CHAMPION if registration.get("alias_set") else LOCKED_WINNER


def default_model(registration: dict, model_key: str, bento_model: str | None, source: str,
                  backend_model_name: str) -> dict:
    """The default model: its key, where it is served from, its registered name and version, and the
    registry's alias decision (alias_decision: why, e.g. why the alias was refused)."""
    return {"model_key": model_key, "served_as": served_as(registration), "bento_model": bento_model,
            "source": source, "backend_model_name": backend_model_name,
            "registered_name": registration.get("registered_name"), "version": registration.get("version"),
            "alias_set": registration.get("alias_set"), "alias_decision": registration.get("reason")}


def models(served: dict[str, dict], unavailable: dict[str, str], zero_shot: dict[str, str]) -> dict[str, dict]:
    """Every key's family, kind, thread-CV ROC-AUC, whether it is the default model (`champion`) and status.
    `zero_shot`: key -> its status."""
    report = {key: {**{k: entry[k] for k in ("family", "kind", "thread_cv_roc_auc", "champion")},
                    "status": "loaded", "bento_model": entry["tag"]} for key, entry in served.items()}
    report |= {key: {"family": key, "kind": "trained", "thread_cv_roc_auc": None, "champion": False,
                     "status": f"unavailable: {why}"} for key, why in unavailable.items()}
    return report | {key: {"family": key, "kind": "zero-shot", "thread_cv_roc_auc": None, "champion": False,
                           "status": status} for key, status in zero_shot.items()}


def report(model_keys: list[str], models: dict[str, dict], default: dict, zero_shot: dict[str, str],
           limits: dict, prediction_log: dict, inference: dict) -> dict:
    """The whole report (the detailed view); `public` takes what anyone may read from it."""
    return {"status": "ok", "model_keys": model_keys, "models": models, "champion": default, "zero_shot": zero_shot,
            "limits": limits, "prediction_log": prediction_log, "inference": inference}


def state(status: str) -> str:
    """A model's status in one word, without its reason: "loaded", "not loaded yet", "loading" (a zero-shot
    key's first load) or "unavailable"."""
    return status.split(":", 1)[0]


def public(full: dict) -> dict:
    """What anyone may read of `report`'s answer."""
    return {"status": full["status"], "model_keys": full["model_keys"],
            "models": {key: {**{f: model[f] for f in PUBLIC_MODEL_FIELDS}, "status": state(model["status"])}
                       for key, model in full["models"].items()},
            "champion": {f: full["champion"][f] for f in PUBLIC_DEFAULT_FIELDS},
            "zero_shot": {key: state(status) for key, status in full["zero_shot"].items()},
            "limits": full["limits"]}


def authorized(authorization: str | None, token: str | None) -> bool:
    """Whether the request's Authorization header carries the configured token (none configured: no one)."""
    if not token or not authorization:
        return False
    return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())
