"""A local stand-in for Reddit's API, serving Reddit-shaped JSON built from the sample in data/sample/reddit.

It answers what a read-only PRAW client asks on loopback (plain HTTP: prawcore takes whatever URL
praw.ini's `oauth_url` / `reddit_url` give it): the client-credentials token, a subreddit's `about`,
its `top`/`hot` listings, r/all, the popular subreddits, a post's comment page (the first
`FIRST_PAGE_TOP_LEVEL` top-level comments with their replies, the rest behind one "more" object) and
`api/morechildren`. Tests steer it: which threads are published (`publish`), which subreddits are
private or banned, which comments were deleted since, how many days have passed (each day adds one to
every score), faults to answer the next matching requests with, and a path to hang on.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CLIENT_ID, CLIENT_SECRET, USER_AGENT = "standin-client-id", "standin-client-secret-0123", "reception-tests/1.0"
TOKEN = "standin-access-token"
FIRST_PAGE_TOP_LEVEL = 10
CREDENTIALS = {"REDDIT_CLIENT_ID": CLIENT_ID, "REDDIT_CLIENT_SECRET": CLIENT_SECRET, "REDDIT_USER_AGENT": USER_AGENT}
# The subcommand's contract (configure + run), driven as `reception extract` drives it. A subprocess
# per run: PRAW reads praw.ini once per process, and a killed run must be a real process.
RUN_EXTRACT = ("import argparse, sys\nfrom reception.reddit import extract\n"
               "parser = argparse.ArgumentParser(prog='reception extract')\nextract.configure(parser)\n"
               "sys.exit(extract.run(parser.parse_args()))")
# Threads of the sample whose post is not in it are served under this subreddit.
ORPHAN_SUBREDDIT = "SampleThreads"
NSFW_SUBREDDIT = "StandinNSFW"  # listed as popular, so that discovery has something to leave out


def read_ndjson(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("*.ndjson")) for line in path.read_text().splitlines()]


@dataclass
class Fault:
    path: str  # answered for requests whose path starts with this
    status: int  # 200: the normal answer, with `headers` added (rate-limit headers, say)
    times: int = 1
    headers: dict = field(default_factory=dict)


class RedditStandIn:
    def __init__(self, raw: Path):
        self.comments = defaultdict(list)
        for row in read_ndjson(raw / "comments"):
            self.comments[row["post_id"]].append(row)
        posts = {row["id"]: row for row in read_ndjson(raw / "posts")}
        self.posts = {pid: posts.get(pid) or self._orphan_post(pid, rows) for pid, rows in self.comments.items()}
        display = {p["subreddit"].lower(): p["subreddit"] for p in self.posts.values()}
        self.subreddits = {row["subreddit"].lower(): {**row, "display_name": display.get(row["subreddit"],
                                                                                           row["subreddit"])}
                           for row in read_ndjson(raw / "subreddits")}
        for name in (ORPHAN_SUBREDDIT, NSFW_SUBREDDIT):
            self.subreddits[name.lower()] = {"display_name": name, "subscribers": 1, "public_description": "",
                                             "created_utc": 1.6e9, "over18": name == NSFW_SUBREDDIT}
        self.published: set[str] = set(self.comments)
        self.private, self.banned, self.deleted = set(), set(), set()
        self.day = 0
        self.faults: list[Fault] = []
        self.hang_path: str | None = None
        self.hanging, self._release = threading.Event(), threading.Event()
        self.requests: list[tuple[str, str]] = []
        self.request_times: list[float] = []  # time.monotonic() of each request, in step with `requests`
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @staticmethod
    def _orphan_post(post_id: str, comments: list[dict]) -> dict:
        return {"id": post_id, "name": f"t3_{post_id}", "subreddit": ORPHAN_SUBREDDIT, "author": None,
                "title": f"thread {post_id}", "selftext": "", "url": "", "permalink": "", "score": 1,
                "num_comments": len(comments), "over_18": False, "stickied": False,
                "created_utc": min(c["created_utc"] for c in comments) - 60, "edited": False,
                "link_flair_text": None, "is_self": True, "spoiler": False, "locked": False, "thumbnail": "self"}

    def thread_ids(self) -> list[str]:
        """Every thread of the sample, oldest first (by its post's time)."""
        return sorted(self.comments, key=lambda pid: self.posts[pid]["created_utc"])

    def publish(self, post_ids) -> None:
        self.published = set(post_ids)

    def fault(self, path: str, status: int, times: int = 1, **headers) -> None:
        self.faults.append(Fault(path, status, times, {k.replace("_", "-"): v for k, v in headers.items()}))

    def hang(self, path: str) -> None:
        self.hang_path = path

    def __enter__(self) -> RedditStandIn:
        # shutdown() waits for the loop's next poll: the default half second, paid by every test
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # --- Reddit's things -------------------------------------------------------------------------

    def _subreddit_thing(self, key: str) -> dict:
        about = self.subreddits[key]
        return {"kind": "t5", "data": {**{k: v for k, v in about.items() if k != "subreddit"},
                                       "id": key[:6], "name": f"t5_{key[:6]}"}}

    def _post_thing(self, post_id: str) -> dict:
        post = self.posts[post_id]
        return {"kind": "t3", "data": {**post, "author": post["author"] or "[deleted]",
                                       "score": (post["score"] or 0) + self.day}}

    def _comment_thing(self, row: dict, replies: list[dict] | None) -> dict:
        gone = row["comment_id"] in self.deleted
        data = {"id": row["comment_id"], "name": f"t1_{row['comment_id']}", "link_id": row["link_id"],
                "parent_id": row["parent_id"], "body": "[deleted]" if gone else row["body"],
                "author": "[deleted]" if gone or row["author"] is None else row["author"],
                "created_utc": row["created_utc"], "score": row["score"] + self.day,
                "is_submitter": row["is_submitter"], "subreddit": self.posts[row["post_id"]]["subreddit"],
                "replies": listing(replies) if replies else ""}
        return {"kind": "t1", "data": data}

    def _tree(self, row: dict, children: dict) -> dict:
        return self._comment_thing(row, [self._tree(c, children) for c in children[f"t1_{row['comment_id']}"]])

    def comment_page(self, post_id: str) -> list[dict]:
        rows = sorted(self.comments[post_id], key=lambda r: (-r["score"], r["comment_id"]))
        children = defaultdict(list)
        for row in rows:
            children[row["parent_id"]].append(row)
        top = children[f"t3_{post_id}"]
        shown = [self._tree(row, children) for row in top[:FIRST_PAGE_TOP_LEVEL]]
        hidden = [c for row in top[FIRST_PAGE_TOP_LEVEL:] for c in self._descendants(row, children)]
        if hidden:
            shown.append({"kind": "more", "data": {"count": len(hidden), "name": "t1__", "id": "_",
                                                   "parent_id": f"t3_{post_id}", "depth": 0,
                                                   "children": [r["comment_id"] for r in hidden]}})
        return [listing([self._post_thing(post_id)]), listing(shown)]

    def _descendants(self, row: dict, children: dict) -> list[dict]:
        """The row, then its replies, parents before children (the order morechildren answers in)."""
        return [row, *(d for c in children[f"t1_{row['comment_id']}"] for d in self._descendants(c, children))]

    def more_children(self, post_id: str, ids: list[str]) -> dict:
        rows = {r["comment_id"]: r for r in self.comments[post_id]}
        things = [self._comment_thing(rows[i], None) for i in ids if i in rows]
        return {"json": {"errors": [], "data": {"things": things}}}

    def listing_posts(self, key: str | None) -> list[str]:
        ids = [pid for pid in self.published if key is None or self.posts[pid]["subreddit"].lower() == key]
        return sorted(ids, key=lambda pid: (-(self.posts[pid]["score"] or 0), pid))

    def popular(self) -> list[str]:
        keys = {self.posts[pid]["subreddit"].lower() for pid in self.published}
        ranked = sorted(keys, key=lambda k: (-(self.subreddits[k]["subscribers"] or 0), k))
        return [NSFW_SUBREDDIT.lower(), *ranked]

    # --- HTTP ------------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict, form: dict, headers) -> tuple[int, dict, object]:
        self.requests.append((method, "/" + path.strip("/")))
        self.request_times.append(time.monotonic())
        extra = {}
        for fault in self.faults:
            if fault.times > 0 and path.startswith(fault.path):
                fault.times -= 1
                if fault.status != 200:
                    return fault.status, fault.headers, {"message": "stand-in fault", "error": fault.status}
                extra = fault.headers
                break
        if self.hang_path and path.startswith(self.hang_path):
            self.hanging.set()
            self._release.wait()
        status, body = self._route(method, path, query, form, headers)
        return status, extra, body

    def _route(self, method: str, path: str, query: dict, form: dict, headers) -> tuple[int, object]:
        if path == "/api/v1/access_token":
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if headers.get("Authorization") != f"Basic {expected}" or form.get("grant_type") != "client_credentials":
                return 401, {"message": "Unauthorized", "error": 401}
            return 200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600, "scope": "*"}
        if headers.get("Authorization") != f"bearer {TOKEN}":
            return 401, {"message": "Unauthorized", "error": 401}
        parts = path.strip("/").split("/")
        limit = int(query.get("limit", "100"))
        if parts == ["subreddits", "popular"]:
            return 200, listing([self._subreddit_thing(k) for k in self.popular()][:limit])
        if parts[0] == "r" and len(parts) == 3:
            key, what = parts[1].lower(), parts[2]
            if key in self.private:
                return 403, {"reason": "private", "message": "Forbidden", "error": 403}
            if key in self.banned:
                return 404, {"reason": "banned", "message": "Not Found", "error": 404}
            if key != "all" and key not in self.subreddits:
                return 404, {"message": "Not Found", "error": 404}
            if what == "about" and key != "all":
                return 200, self._subreddit_thing(key)
            if what in ("top", "hot"):
                posts = self.listing_posts(None if key == "all" else key)[:limit]
                return 200, listing([self._post_thing(pid) for pid in posts])
        if parts[0] == "comments" and len(parts) == 2 and parts[1] in self.published:
            return 200, self.comment_page(parts[1])
        if parts == ["api", "morechildren"]:
            return 200, self.more_children(form["link_id"].removeprefix("t3_"), form["children"].split(","))
        return 404, {"message": "Not Found", "error": 404}

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()} if length else {}
                status, headers, body = standin.answer(method, url.path, query, form, self.headers)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                # Plenty left in the window: prawcore's pacing adds no delay unless a test says otherwise.
                for name, value in {"x-ratelimit-remaining": "99", "x-ratelimit-used": "1",
                                    "x-ratelimit-reset": "60", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except BrokenPipeError:
                    pass  # a client killed while the stand-in hung on its request

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def log_message(self, *args):  # quiet: the tests read `requests` instead
                pass

        return Handler


def listing(children: list[dict]) -> dict:
    return {"kind": "Listing", "data": {"after": None, "before": None, "dist": len(children),
                                        "children": children}}


def extract_command(standin: RedditStandIn, workdir: Path, *args: str, env: dict | None = None,
                    out: Path | None = None) -> tuple[list[str], dict]:
    """The command line and environment of an extract run (into out, default workdir/source) whose PRAW
    talks to the stand-in."""
    # PRAW's documented endpoint settings, in the praw.ini of the working directory; the variable
    # acknowledges the override (PRAW warns about it otherwise).
    (workdir / "praw.ini").write_text(f"[DEFAULT]\noauth_url={standin.url}\nreddit_url={standin.url}\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDDIT_", "praw_"))}
    env = {**base, **CREDENTIALS, "PRAW_ALLOW_ENDPOINT_OVERRIDE": "1", "XDG_CONFIG_HOME": str(workdir),
           **(env or {})}
    return [sys.executable, "-c", RUN_EXTRACT, "--out", str(out or workdir / "source"), *args], env


def extract(standin: RedditStandIn, workdir: Path, *args: str, env: dict | None = None,
            out: Path | None = None) -> subprocess.CompletedProcess:
    command, env = extract_command(standin, workdir, *args, env=env, out=out)
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
