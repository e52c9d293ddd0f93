"""The service's request and response bodies, as its OpenAPI document states them.

Blank and over-long texts, oversized batches and threads are checked by check_texts and given_thread (so
that size limits answer 413, as documented), not by pydantic: their schema keywords are declared here
without pydantic enforcing them a second time. One rule spans a text's fields: a thread starts before its
comments (ThreadTiming); the rules between a request's thread and its texts are
reception.serving.thread_request's (422, naming both sides).
"""
from __future__ import annotations

import json
import time
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from reception.data.features import GivenThread
from reception.models.evaluation import THRESHOLD
from reception.serving import explain, thread_request
from service.config import MODEL_KEYS, SETTINGS, TIMING_KEYS
from service.errors import ApiError

MAX_CHARS, MAX_BATCH = SETTINGS["max_chars"], SETTINGS["max_batch"]
MAX_THREAD_COMMENTS = SETTINGS["max_thread_comments"]
MAX_THREAD_COUNT = 10_000_000  # a thread's comment count: Reddit's largest threads hold a few hundred thousand
LATEST_UTC = 253402300799  # 9999-12-31T23:59:59Z: the metadata times are unix seconds of a real date
MAX_LOGGED_ID = 64  # longest comment_id / post_id (logged, never read)
MAX_DELAYS = 24  # most points of one "when to post" curve
MAX_DELAY_MINUTES = 10080  # a week: later than that a thread is long over
# Blank = every character is whitespace to str.strip(); the pattern spells that set out, because JSON
# Schema's \s (ECMA-262) is another one (it lacks U+001C-U+001F and U+0085, and has U+FEFF).
NOT_BLANK = "[^" + "".join(f"\\u{c:04x}" for c in range(0x3001) if chr(c).isspace()) + "]"
MAX_KEY_CHARS = 64  # longest model_key: the keys are family names


def encodable(value):
    """A string, if it is Unicode text that UTF-8 can carry: JSON's \\u escapes can spell a lone
    surrogate (\\ud800), which is no character, cannot be scored, logged or hashed, and is refused (422).
    Checked before the field's own checks (which would refuse it without saying why); other types pass on."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"not valid Unicode text: a lone surrogate (U+{ord(value[error.start]):04X}) at character "
                         f"{error.start}; send text as UTF-8 or as \\u escapes of whole characters") from None
    return value


Unicode = BeforeValidator(encodable)
Text = Annotated[StrictStr, Unicode,
                 Field(json_schema_extra={"minLength": 1, "maxLength": MAX_CHARS, "pattern": NOT_BLANK},
                       description=f"raw comment text: not blank, at most {MAX_CHARS} characters "
                                   "(service.max_chars; longer is 413), valid Unicode (a lone surrogate is 422)")]
# is_submitter: accepted for IMEDIA's clients, never an input of a served model.
NOT_READ = ("accepted and not read (the ablation dropped the submitter group: it did not help on unseen threads); "
            "inputs_used omits it")
UnixTime = Annotated[StrictFloat, Field(ge=0, le=LATEST_UTC, allow_inf_nan=False)]  # not a bool or a string
Label = Annotated[Literal["positive", "negative"], Field(description=f"positive when score >= {THRESHOLD}")]
ModelKey = Annotated[StrictStr, Field(max_length=MAX_KEY_CHARS,
                                      json_schema_extra={"enum": MODEL_KEYS} if MODEL_KEYS else None), Unicode]
MODEL_KEY = Field(None, description="one of /health's model_keys (an unknown key is 422; a zero-shot key whose "
                                    "checkpoint cannot be loaded, or a family not trained on this machine, is "
                                    "503); default: the locked winner's family")


RedditId = Annotated[StrictStr, Field(pattern=r"^[0-9a-z]{1,16}$")]  # base36, as Reddit writes them
ParentId = Annotated[StrictStr, Field(
    pattern=r"^t[13]_[0-9a-z]{1,16}$",
    description="what the comment replies to: t3_<post id> (the post: a top-level comment) or t1_<comment id>")]
MAX_AUTHOR_CHARS = 32  # Reddit usernames have 3 to 20 characters; the corpus's pseudonyms 18
Author = Annotated[StrictStr, Field(
    pattern=rf"^([A-Za-z0-9_-]{{1,{MAX_AUTHOR_CHARS}}}|\[deleted\])$",
    description="the author's username as the page shows it ('[deleted]': unknown). Compared for equality only "
                "(who wrote what in the thread): replaced by a pseudonym under a key drawn for each process as the "
                "request is checked; never logged or returned")]
THREAD_DURING_WAIT = ("the thread stays as given while the draft waits: its listed comments are the context "
                      "whatever the delay, and those written before each delayed time count")


def at_most(items, limit: int, message: str):
    """Refuses a list over `limit` (ApiError passes through pydantic unchanged) before its items are
    validated, so that a list of a million items costs its parsing only."""
    if isinstance(items, list) and len(items) > limit:
        raise ApiError(413, message.format(limit=limit, got=len(items)))
    return items


def check_texts(texts: list[str]) -> None:
    if len(texts) > MAX_BATCH:
        raise ApiError(413, f"at most {MAX_BATCH} texts per request (service.max_batch), got {len(texts)}")
    for index, text in enumerate(texts):
        where = f"texts[{index}]" if len(texts) > 1 else "text"
        if not text.strip():
            raise ApiError(422, f"{where} is empty or whitespace only")
        if len(text) > MAX_CHARS:
            raise ApiError(413, f"{where} has {len(text)} characters, more than {MAX_CHARS} (service.max_chars)")


class ThreadComment(BaseModel):
    """A comment the page lists: its id, what it replies to and when it was written."""
    model_config = ConfigDict(extra="forbid")
    comment_id: RedditId = Field(description="the comment's Reddit id, without the t1_ prefix (e.g. no53u7f); "
                                             "unique in the thread")
    parent_id: ParentId
    created_utc: UnixTime = Field(description="when it was written, unix seconds; not before "
                                              "thread.post_created_utc, nor before the listed comment it replies to")
    author: Author | None = Field(None, description="who wrote it (optional; see the text's author)")
    is_submitter: StrictBool | None = Field(None, description="the post's author wrote it (the page's OP badge); "
                                                              "default false")


class Thread(BaseModel):
    """The thread as the caller sees it on the page, once per request: each text's thread features
    (thread_position, thread_activity, conversation) are computed from the listed comments written strictly
    before the text's created_utc, as in training (reception.data.thread_context), so one thread serves every
    text of a batch. A text's parent_id need not be listed (its parent is then "unknown", as in training)."""
    model_config = ConfigDict(extra="forbid")
    post_created_utc: UnixTime = Field(description="when the thread's post was created, unix seconds; a text's "
                                                   "post_created_utc, when given, must be the same (422)")
    comments: list[ThreadComment] = Field(
        json_schema_extra={"maxItems": MAX_THREAD_COMMENTS},
        description=f"the comments the page lists, in any order: 0 to {MAX_THREAD_COMMENTS} "
                    f"(service.max_thread_comments; more is 413). Refused (422, naming both): two with one "
                    f"comment_id, a comment before post_created_utc or before the listed comment it replies "
                    f"to, top-level comments replying to two posts")

    @field_validator("comments", mode="before")
    @classmethod
    def not_too_many(cls, comments):
        return at_most(comments, MAX_THREAD_COMMENTS, "at most {limit} thread comments per request "
                                                      "(service.max_thread_comments), got {got}")
    comments_so_far: StrictInt | None = Field(
        None, ge=0, le=MAX_THREAD_COUNT,
        description="the thread's comment count as the page shows it (Reddit's num_comments), for a thread "
                    "larger than the comments listed: a text written after every listed comment has at "
                    "least this many comments before it; earlier texts count the listed comments only")


class ThreadTiming(BaseModel):
    """When the comment is posted and when its thread started; a thread starts before its comments."""
    model_config = ConfigDict(extra="forbid")
    created_utc: UnixTime | None = Field(None, description="when the comment is posted, unix seconds")
    post_created_utc: UnixTime | None = Field(None, description="when the thread's post was created, unix seconds; "
                                                                "not after created_utc")

    def created(self) -> float | None:
        """When the comment is posted, as the rule reads it: created_utc (without it a comment is not
        checked: the model's own default applies)."""
        return self.created_utc

    @model_validator(mode="after")
    def post_before_comment(self):
        created = self.created()
        if None not in (created, self.post_created_utc) and self.post_created_utc > created:
            default = "" if self.created_utc is not None else " (default: the time of the request)"
            raise ValueError(f"post_created_utc is after created_utc{default}: a thread starts before its comments")
        return self


class CommentMetadata(ThreadTiming):
    """Optional facts known when the comment is written; the hybrid family reads them. An absent field
    takes the default documented in reception.data.features.resolve_inputs (the response says which).
    Rule across fields: post_created_utc <= created_utc (422 otherwise)."""
    is_submitter: StrictBool | None = Field(None, description=f"the comment's author wrote the post; {NOT_READ}")
    is_top_level: StrictBool | None = Field(None, description="a reply to the post, not to a comment; "
                                                               "default: what parent_id says")
    parent_id: ParentId | None = Field(None, description="what the comment replies to: t3_<post id> or "
                                                         "t1_<comment id> (implies is_top_level; 422 if it "
                                                         "contradicts it); the request's thread says where "
                                                         "that parent sits")
    author: Author | None = Field(None, description="who writes the comment: with the thread's comments' authors it "
                                                 "says who talks to whom (the conversation group); without a "
                                                 "thread it is not read")


class LoggedIds(BaseModel):
    """Optional Reddit ids of the comment; never model inputs. Logged with the prediction, so that its
    final score can be joined to it once it matures (reception monitor)."""
    comment_id: Annotated[StrictStr, Unicode] | None = Field(None, max_length=MAX_LOGGED_ID,
                                                             description="the comment's Reddit id, e.g. no53u7f")
    post_id: Annotated[StrictStr, Unicode] | None = Field(None, max_length=MAX_LOGGED_ID,
                                                          description="its thread's (post's) Reddit id")


THREAD = Field(None, description="optional: the thread the text replies in, as its page shows it; without it "
                                 "the thread features take documented defaults (inputs_used says which)")


class PredictRequest(CommentMetadata, LoggedIds):
    text: Text
    model_key: ModelKey | None = MODEL_KEY
    thread: Thread | None = THREAD


class BatchMetadata(CommentMetadata, LoggedIds):
    pass


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[Text] = Field(min_length=1, json_schema_extra={"maxItems": MAX_BATCH},
                              description=f"1 to {MAX_BATCH} texts (service.max_batch; more is 413)")
    metadata: list[BatchMetadata] | None = Field(None, description="exactly one entry per text, in order")
    model_key: ModelKey | None = MODEL_KEY
    thread: Thread | None = Field(None, description="optional: the one thread every text replies in; each text "
                                                    "reads the listed comments written before its created_utc")

    @field_validator("texts", "metadata", mode="before")
    @classmethod
    def not_too_many(cls, items, info):
        what = "texts" if info.field_name == "texts" else "metadata entries"
        return at_most(items, MAX_BATCH, f"at most {{limit}} {what} per request (service.max_batch), got {{got}}")


class InputUsed(BaseModel):
    value: float | bool | str | None = None
    source: str = Field(description="'request'; 'thread' (derived from the request's thread; 'thread: ...' says "
                                    "more); 'parent_id' (is_top_level implied by it); or 'default: ...' saying "
                                    "which default")


class Contribution(BaseModel):
    input: str = Field(description="an input group: text (its wording, length and punctuation), timing, "
                                   "reply_structure, hour_of_day, thread_position (its parent and depth), "
                                   "thread_activity (comments before it, and their rate) or conversation "
                                   "(its author's and its parent's author's earlier comments, a reply back, a "
                                   "reply to the post's author)")
    logit: float = Field(description="its share of the score's logit against the training mean (exact Shapley "
                                     "value over the groups): > 0 raises the chance, < 0 lowers it")
    says: str = Field(description="the input and its effect in words, e.g. 'written 3.7 h after the thread "
                                  "started: lowers the chance'")


class Prediction(BaseModel):
    label: Label
    score: float = Field(ge=0, le=1, description="P(well received)")
    model_key: str
    backend_model_name: str
    warning: str | None
    inputs_used: dict[str, InputUsed] = Field(description="what the model read, and where each value came from")
    contributions: list[Contribution] = Field(
        description="why this score: each input group's contribution, largest |logit| first "
                    "(reception.serving.explain); empty for a family without attribution "
                    "(fine-tuned, TF-IDF, zero-shot)")


class BatchPrediction(BaseModel):
    results: list[Prediction]


Delay = Annotated[StrictFloat, Field(ge=0, le=MAX_DELAY_MINUTES, allow_inf_nan=False)]


class WhenToPostRequest(ThreadTiming):
    """A draft and its thread's context: the score of writing it now and after each delay.
    Rule across fields: post_created_utc <= created_utc (422 otherwise)."""
    text: Text
    post_created_utc: UnixTime = Field(description="when the thread's post was created, unix seconds; not after "
                                                   "created_utc (required: the thread's start stays fixed while "
                                                   "the draft waits)")
    created_utc: UnixTime | None = Field(None, description="'now': when the draft would be posted without waiting, "
                                                           "unix seconds; default the time of the request")
    is_submitter: StrictBool | None = Field(None, description=f"the draft's author wrote the post; {NOT_READ}")
    is_top_level: StrictBool | None = Field(None, description="a reply to the post, not to a comment; "
                                                               "default: what parent_id says")
    parent_id: ParentId | None = Field(None, description="what the draft replies to: t3_<post id> or "
                                                         "t1_<comment id> (implies is_top_level)")
    author: Author | None = Field(None, description="who writes the draft (read with the thread's comments' "
                                                 "authors: the conversation group)")
    thread: Thread | None = Field(None, description=f"optional: the thread the draft replies in; {THREAD_DURING_WAIT}")
    model_key: Annotated[StrictStr, Field(max_length=MAX_KEY_CHARS, json_schema_extra={"enum": TIMING_KEYS}
                                          if TIMING_KEYS else None), Unicode] | None \
        = Field(None, description="a key whose family reads the comment's timing (a text-only family, the "
                                  "TF-IDF baseline or a zero-shot key is 422; one not trained on this machine "
                                  "is 503); default: the locked winner's family")
    delays_minutes: list[Delay] | None = Field(
        None, min_length=1, max_length=MAX_DELAYS,
        description=f"the delays to score, in minutes after created_utc (0 to {MAX_DELAY_MINUTES}, at most "
                    f"{MAX_DELAYS}; sorted, duplicates dropped); default {list(explain.DELAYS_MINUTES)}")
    _received_utc: float = PrivateAttr(default_factory=time.time)

    def created(self) -> float:
        """'now': created_utc, default the time the request arrived."""
        return self._received_utc if self.created_utc is None else self.created_utc


def given_thread(thread: Thread | None) -> GivenThread | None:
    """The request's thread, checked: more than service.max_thread_comments comments is 413, comments that
    contradict each other 422."""
    if thread is None:
        return None
    if len(thread.comments) > MAX_THREAD_COMMENTS:
        raise ApiError(413, f"at most {MAX_THREAD_COMMENTS} thread comments per request "
                            f"(service.max_thread_comments), got {len(thread.comments)}")
    comments = thread.comments
    try:
        return thread_request.given_thread(thread.post_created_utc, [c.comment_id for c in comments],
                                           [c.parent_id for c in comments], [c.created_utc for c in comments],
                                           thread.comments_so_far, author=[c.author for c in comments],
                                           is_submitter=[c.is_submitter for c in comments])
    except thread_request.Contradiction as error:
        raise ApiError(422, str(error)) from error


def with_thread(records: list[dict], thread: Thread | None, where: list[str]) -> list[dict]:
    """The request's records, each checked against its own fields and the request's thread (422 naming
    both sides), holding the thread."""
    try:
        return thread_request.with_thread(records, given_thread(thread), where)
    except thread_request.Contradiction as error:
        raise ApiError(422, str(error)) from error


class CurvePoint(BaseModel):
    delay_minutes: float = Field(description="minutes after created_utc ('now')")
    created_utc: float = Field(description="when the draft would be posted, unix seconds")
    score: float = Field(ge=0, le=1, description="P(well received) if posted then")
    label: Label


class BestTime(BaseModel):
    delay_minutes: float = Field(description="the delay with the highest score (the earliest of equals)")
    score: float = Field(ge=0, le=1)


class WhenToPost(BaseModel):
    model_key: str
    backend_model_name: str
    curve: list[CurvePoint] = Field(description="one point per delay, in order of delay")
    best: BestTime
    inputs_used: dict[str, InputUsed] = Field(description="what the model read for the draft posted now, and "
                                                          "where each value came from")


def largest_body_bytes() -> int:
    """The longest body of any request the schema accepts, written as JSON encoders write it (no padding
    whitespace beyond ", " and ": ", numbers as their shortest round-trip form): predict-batch with
    service.max_batch texts of service.max_chars characters, each character the longest JSON spelling
    of one (an astral character as an escaped surrogate pair, 12 bytes: what json.dumps writes by
    default), one metadata entry per text with every field at its longest, the longest model_key and a
    thread of service.max_thread_comments comments. service.max_body_bytes must be at least this."""
    widest = "\U0001F600"
    time_ = 2.2250738585072014e-308  # the longest repr of a float the times accept
    text = json.dumps(widest * MAX_CHARS)
    metadata = json.dumps({"created_utc": time_, "post_created_utc": time_, "is_submitter": False,
                           "is_top_level": False, "parent_id": "t1_" + "z" * 16, "comment_id": widest * MAX_LOGGED_ID,
                           "post_id": widest * MAX_LOGGED_ID, "author": "z" * MAX_AUTHOR_CHARS})
    comment = json.dumps({"comment_id": "z" * 16, "parent_id": "t1_" + "z" * 16, "created_utc": time_,
                          "author": "z" * MAX_AUTHOR_CHARS, "is_submitter": False})
    thread = {"post_created_utc": time_, "comments": [], "comments_so_far": MAX_THREAD_COUNT}
    shell = len(json.dumps({"texts": [], "metadata": [], "model_key": widest * MAX_KEY_CHARS, "thread": thread}))
    listed = (MAX_BATCH * (len(text) + len(metadata) + 4) + MAX_THREAD_COMMENTS * (len(comment) + 2))
    return shell + listed


if SETTINGS["max_body_bytes"] < largest_body_bytes():
    raise ValueError(f"service.max_body_bytes is {SETTINGS['max_body_bytes']}, less than the longest body the API "
                     f"accepts ({largest_body_bytes()} bytes: service.max_batch texts of service.max_chars characters "
                     "and a thread of service.max_thread_comments comments); raise it")
