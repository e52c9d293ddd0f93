"""A read-only PRAW client that keeps going through Reddit's faults, and why a fetch was refused.

Credentials come from REDDIT_CLIENT_ID / REDDIT_CLIENT_SECRET / REDDIT_USER_AGENT, or from a praw.ini
site section; they are handed to PRAW and nowhere else (no file, log line or manifest holds them).

Faults are handled below PRAW, on each HTTP request, so that a retry never repeats a half-done PRAW
operation (`replace_more` cannot be called twice): a 429 waits for its Retry-After, a 5xx or a timeout
waits with exponential backoff. prawcore itself paces requests by Reddit's x-ratelimit-* headers.
"""
from __future__ import annotations

import configparser
import os
import sys
import time
from collections import Counter
from email.utils import parsedate_to_datetime

import praw
import prawcore
import requests

CREDENTIAL_VARS = {"client_id": "REDDIT_CLIENT_ID", "client_secret": "REDDIT_CLIENT_SECRET",
                   "user_agent": "REDDIT_USER_AGENT"}
MAX_ATTEMPTS = 4
FIRST_BACKOFF_S, MAX_BACKOFF_S = 1.0, 60.0
# A Retry-After longer than this is not waited out: the request fails and its subreddit or post is
# skipped (and recorded), so that a daily run cannot hang for hours.
MAX_RETRY_AFTER_S = 600.0
RETRIED_NETWORK_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                          requests.exceptions.ChunkedEncodingError)
# What fetching one subreddit or one post can raise that means "skip it and carry on".
SKIPPABLE = (prawcore.PrawcoreException, praw.exceptions.PRAWException)


class CredentialsError(Exception):
    """A credential is missing or refused: the message names it (never its value)."""


class PatientRequestor(prawcore.Requestor):
    """prawcore's HTTP layer, retrying what Reddit asks to retry; counts each fault in `faults`."""

    def __init__(self, *args, faults: Counter, **kwargs):
        super().__init__(*args, **kwargs)
        self.faults = faults

    def request(self, *args, **kwargs):
        method, url = args[0], args[1]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            last = attempt == MAX_ATTEMPTS
            try:
                response = super().request(*args, **kwargs)
            except prawcore.RequestException as error:
                if last or not isinstance(error.original_exception, RETRIED_NETWORK_ERRORS):
                    raise
                fault, wait = type(error.original_exception).__name__, backoff(attempt)
            else:
                if response.status_code == 429:
                    fault, wait = "429", retry_after(response, attempt)
                    if wait > MAX_RETRY_AFTER_S:
                        return response
                elif response.status_code >= 500:
                    fault, wait = str(response.status_code), backoff(attempt)
                else:
                    return response
                if last:
                    return response
            self.faults[fault] += 1
            # The URL names the resource only; the token travels in a header and is not printed.
            print(f"reception extract: {fault} on {method} {url.split('?')[0]}, retry {attempt} in {wait:.0f} s",
                  file=sys.stderr)
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


def backoff(attempt: int) -> float:
    return min(FIRST_BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S)


def retry_after(response: requests.Response, attempt: int) -> float:
    """Seconds Reddit asks to wait: Retry-After (seconds or a date), else x-ratelimit-reset, else backoff."""
    for header in ("retry-after", "x-ratelimit-reset"):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max((parsedate_to_datetime(value).timestamp() - time.time()), 0.0)
            except (TypeError, ValueError):
                continue
    return backoff(attempt)


def read_only_client(site: str | None, faults: Counter) -> praw.Reddit:
    """A read-only Reddit client from the environment, or from praw.ini section `site`."""
    settings = {"requestor_class": PatientRequestor, "requestor_kwargs": {"faults": faults},
                "check_for_updates": False, "check_for_async": False}
    if site is None:
        missing = [var for var in CREDENTIAL_VARS.values() if not os.environ.get(var)]
        if missing:
            raise CredentialsError(f"{missing[0]} is not set (set {', '.join(CREDENTIAL_VARS.values())}, "
                                   "or pass --site NAME of a praw.ini section)")
        settings.update({key: os.environ[var] for key, var in CREDENTIAL_VARS.items()})
        site_name = None
    else:
        site_name = site
    try:
        reddit = praw.Reddit(site_name, **settings)
    except praw.exceptions.MissingRequiredAttributeException as error:
        raise CredentialsError(f"{error} (praw.ini site '{site}')") from None
    except configparser.NoSectionError:
        raise CredentialsError(f"no section [{site}] in any praw.ini") from None
    missing = [key for key in CREDENTIAL_VARS if not getattr(reddit.config, key)]
    if missing:
        raise CredentialsError(f"{missing[0]} is missing from praw.ini site '{site}'")
    reddit.read_only = True
    return reddit


def skip_reason(error: Exception) -> str:
    """Why Reddit refused a resource, in the words it uses: private, banned, quarantined, missing, ..."""
    if isinstance(error, prawcore.Redirect):
        return "missing"  # Reddit redirects an unknown subreddit name to its search page
    if isinstance(error, prawcore.ResponseException):
        status = error.response.status_code
        try:
            reason = error.response.json().get("reason")
        except (ValueError, AttributeError):
            reason = None
        if reason:
            return str(reason)
        return "missing" if status == 404 else f"HTTP {status}"
    if isinstance(error, prawcore.RequestException):
        return f"network: {type(error.original_exception).__name__}"
    return f"{type(error).__name__}: {error}"


def refused_credentials(error: Exception) -> bool:
    """A 401 (or a refused token request) fails every request alike: the run stops at the first."""
    if isinstance(error, prawcore.OAuthException):
        return True
    return isinstance(error, prawcore.ResponseException) and error.response.status_code == 401
