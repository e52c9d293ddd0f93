"""`reception extract`: pull fresh Reddit data into the append-only source folder that `ingest` reads.

A comment's score keeps changing after it is read, so every run appends a new batch that says when each
row was read (`observed_utc`) and never touches an earlier one; `ingest` keeps each comment's latest
observation. The subreddits come from `--subreddit NAME ...` or, as in IMEDIA's extractor, from a
discovery of N hot subreddits (`popular`: Reddit's popular subreddits; `all_hot` / `all_top_day`: the
subreddits of r/all's hot posts / today's top posts). For each subreddit: its metadata, its top posts
and, with `--comments`, every comment of each post. NSFW subreddits and posts are left out unless
`--include-nsfw`. `--revisit-days D` also re-reads the posts of the last D days' batches (and their
comments): a score read on the day its comment was written is no label yet, and a post that has left
the top listing would otherwise never be read again, nor its deleted comments seen as deleted.
A private, banned or missing subreddit is skipped and recorded in the manifest; the exit status is
non-zero only when nothing at all could be fetched, or the batch could not be published (then nothing of
it is kept).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reception.paths import SOURCE_DIR
from reception.reddit.batches import BatchWriter, posts_read_since

STRATEGIES = ("popular", "all_hot", "all_top_day")
TIME_FILTERS = ("hour", "day", "week", "month", "year", "all")
# The field names of the sample (data/sample/reddit), entity by entity (every row also gets `observed_utc`).
POST_FIELDS = ("id", "name", "subreddit", "author", "title", "selftext", "url", "permalink", "score",
               "num_comments", "over_18", "stickied", "created_utc", "edited", "link_flair_text", "is_self",
               "spoiler", "locked", "thumbnail")
COMMENT_FIELDS = ("author", "body", "created_utc", "parent_id", "link_id", "score", "is_submitter")
SUBREDDIT_FIELDS = ("subscribers", "public_description", "created_utc", "over18")
# Reddit's listings stop at about 1,000 items: discovery scans at most that many posts of r/all.
DISCOVERY_SCAN = 1000


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--subreddit", nargs="+", metavar="NAME", help="these subreddits")
    which.add_argument("--discover-hot", type=positive, metavar="N", help="the N hottest subreddits (see --strategy)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="popular",
                        help="how --discover-hot finds them (default: popular)")
    parser.add_argument("--posts-per-subreddit", type=positive, default=25, metavar="N",
                        help="top posts read per subreddit (default: 25)")
    parser.add_argument("--time-filter", choices=TIME_FILTERS, default="day",
                        help="period of the top posts (default: day)")
    parser.add_argument("--comments", action="store_true", help="read every comment of each post")
    parser.add_argument("--replace-more", type=int, default=32, metavar="N",
                        help="at most N 'load more comments' requests per post (PRAW's replace_more limit; "
                             "default: 32; comments left behind are counted in the manifest)")
    parser.add_argument("--revisit-days", type=int, default=0, metavar="D",
                        help="also re-read the posts (and with --comments their comments) of the batches of the "
                             "last D days, so that their scores mature and deletions are seen (default: 0)")
    parser.add_argument("--include-nsfw", action="store_true", help="keep NSFW subreddits and posts")
    parser.add_argument("--out", type=Path, default=SOURCE_DIR,
                        help=f"source folder to append the batch to (default: {SOURCE_DIR})")
    parser.add_argument("--site", metavar="NAME",
                        help="read the credentials from this praw.ini section instead of REDDIT_* variables")


def run(args: argparse.Namespace) -> int:
    from reception.reddit.client import CredentialsError, read_only_client

    faults = Counter()
    try:
        reddit = read_only_client(args.site, faults)
    except CredentialsError as error:
        print(f"reception extract: {error}", file=sys.stderr)
        return 2
    writer = BatchWriter(args.out)
    manifest = {"batch": writer.batch, "started_utc": writer.started.isoformat(), "asked": asked(args),
                "skipped": [], "faults": faults, "stale_partial_files_removed": writer.stale_removed}
    try:
        stopped = Extraction(reddit, args, writer, manifest["skipped"]).run()
    except BaseException:
        writer.discard()  # interrupted (Ctrl-C, a bug): no partial batch, the next run starts clean
        raise
    manifest.update(finished_utc=datetime.now(UTC).isoformat(), rows=dict(writer.counts),
                    faults=dict(faults))
    if not any(writer.counts[e] for e in ("subreddits", "posts", "comments")):
        manifest["status"] = stopped or "nothing fetched"
        writer.discard(manifest)
        print(f"reception extract: nothing fetched ({manifest['status']}); see {args.out}/manifests/"
              f"{writer.batch}.json", file=sys.stderr)
        return 1
    # What was read before a stop (a token refused mid-run) is still a batch: the manifest says so.
    manifest["status"] = f"stopped early: {stopped}" if stopped else "complete"
    try:
        files = writer.publish(manifest)
    except OSError as error:  # a full disk, say: publish has unlinked what it had linked
        print(f"reception extract: batch {writer.batch} not published ({error}); nothing of it was kept",
              file=sys.stderr)
        return 1
    print(f"reception extract: batch {writer.batch}: " + ", ".join(
        f"{writer.counts[e]} {e} -> {files[e]}" for e in files) + f"; {len(manifest['skipped'])} skipped")
    return 0


def asked(args: argparse.Namespace) -> dict:
    """What the run was asked for: its options, never its credentials (those are not options)."""
    return {"subreddits": args.subreddit, "discover_hot": args.discover_hot,
            "strategy": args.strategy if args.discover_hot else None,
            "posts_per_subreddit": args.posts_per_subreddit, "time_filter": args.time_filter,
            "comments": args.comments, "replace_more": args.replace_more, "revisit_days": args.revisit_days,
            "include_nsfw": args.include_nsfw}


class Extraction:
    """One run's walk: subreddits -> metadata, top posts -> comments, each row written as it is read."""

    def __init__(self, reddit, args: argparse.Namespace, writer: BatchWriter, skipped: list[dict]):
        self.reddit, self.args, self.writer, self.skipped = reddit, args, writer, skipped
        self.posts_read: set[str] = set()

    def run(self) -> str | None:
        """Walk everything asked for; returns why the run stopped early (credentials refused), else None."""
        from reception.reddit.client import SKIPPABLE, refused_credentials, skip_reason

        try:
            names = self.subreddit_names()
        except SKIPPABLE as error:
            if refused_credentials(error):
                return f"Reddit refused the credentials ({skip_reason(error)})"
            self.skip(what="discovery", reason=skip_reason(error))
            return None
        for name in names:
            try:
                self.subreddit(name)
            except SKIPPABLE as error:
                if refused_credentials(error):
                    return f"Reddit refused the credentials ({skip_reason(error)})"
                self.skip(subreddit=name, reason=skip_reason(error))
        if self.args.revisit_days:
            since = self.writer.started - timedelta(days=self.args.revisit_days)
            for post_id in posts_read_since(self.args.out, since):
                if post_id in self.posts_read:
                    continue
                try:
                    self.post(self.reddit.submission(post_id), Counter())
                except SKIPPABLE as error:
                    if refused_credentials(error):
                        return f"Reddit refused the credentials ({skip_reason(error)})"
                    self.skip(post_id=post_id, reason=f"revisit: {skip_reason(error)}")
        return None

    def skip(self, **entry) -> None:
        self.skipped.append(entry)
        print(f"reception extract: skipped {entry}", file=sys.stderr)

    def subreddit_names(self) -> list[str]:
        args = self.args
        if args.subreddit:
            names = list(dict.fromkeys(args.subreddit))
            strategy = "named"
        else:
            names, strategy = self.discover(args.discover_hot, args.strategy), args.strategy
        for name in names:
            self.writer.write("hot_sublists", {"subreddit": name, "strategy": strategy,
                                               "posts_limit": args.posts_per_subreddit,
                                               "include_nsfw": args.include_nsfw, "observed_utc": now()})
        return names

    def discover(self, n: int, strategy: str) -> list[str]:
        """The first n subreddits the strategy lists, NSFW ones left out unless asked for."""
        if strategy == "popular":
            candidates = ((s.display_name, s.over18) for s in self.reddit.subreddits.popular(limit=None))
        else:
            everything = self.reddit.subreddit("all")
            posts = (everything.hot(limit=DISCOVERY_SCAN) if strategy == "all_hot"
                     else everything.top(time_filter="day", limit=DISCOVERY_SCAN))
            candidates = ((p.subreddit.display_name, p.over_18) for p in posts)
        names, seen, nsfw_only = [], set(), {}
        for name, nsfw in candidates:
            if nsfw and not self.args.include_nsfw:
                nsfw_only.setdefault(name.lower(), name)
                continue
            if name.lower() not in seen:
                seen.add(name.lower())
                names.append(name)
                if len(names) == n:
                    break
        for key, name in nsfw_only.items():
            if key not in seen:
                self.skip(subreddit=name, reason="nsfw")
        return names

    def subreddit(self, name: str) -> None:
        subreddit = self.reddit.subreddit(name)
        over18 = subreddit.over18  # the first attribute read fetches r/<name>/about
        if over18 and not self.args.include_nsfw:
            self.skip(subreddit=name, reason="nsfw")
            return
        data = vars(subreddit)
        # The sample keys subreddit rows by the lower-case name (posts carry the display name).
        self.writer.write("subreddits", {"subreddit": subreddit.display_name.lower(),
                                         **{f: data.get(f) for f in SUBREDDIT_FIELDS}, "observed_utc": now()})
        counts = Counter()
        for post in subreddit.top(time_filter=self.args.time_filter, limit=self.args.posts_per_subreddit):
            self.post(post, counts)
        if counts["nsfw_posts_skipped"]:
            self.skip(subreddit=name, posts=counts["nsfw_posts_skipped"], reason="nsfw posts")
        print(f"reception extract: r/{subreddit.display_name}: {counts['posts']} posts, {counts['comments']} comments",
              file=sys.stderr)

    def post(self, post, counts: Counter) -> None:
        """One post's row and, with --comments, its comments' rows (an NSFW post is only counted)."""
        if post.over_18 and not self.args.include_nsfw:  # for a revisited post, this read fetches it
            counts["nsfw_posts_skipped"] += 1
            return
        self.writer.write("posts", {**{f: plain(vars(post).get(f)) for f in POST_FIELDS}, "observed_utc": now()})
        self.posts_read.add(post.id)
        counts["posts"] += 1
        if self.args.comments:
            counts["comments"] += self.comments(post)

    def comments(self, post) -> int:
        """Every comment of the post (up to --replace-more 'load more' requests); returns how many."""
        from reception.reddit.client import SKIPPABLE, refused_credentials, skip_reason

        try:
            left_behind = post.comments.replace_more(limit=self.args.replace_more)
            comments = post.comments.list()
        except SKIPPABLE as error:
            if refused_credentials(error):
                raise
            self.skip(post_id=post.id, reason=skip_reason(error))
            return 0
        observed = now()
        for comment in comments:
            data = vars(comment)
            self.writer.write("comments", {"comment_id": comment.id, "post_id": post.id,
                                           **{f: plain(data.get(f)) for f in COMMENT_FIELDS},
                                           "observed_utc": observed})
        if left_behind:
            self.skip(post_id=post.id, comments=sum(m.count for m in left_behind),
                      reason="not loaded: beyond --replace-more")
        return len(comments)


def plain(value):
    """A PRAW object (Redditor, Subreddit) as the name Reddit sent; JSON values as they are."""
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)


def now() -> float:
    """When a row was read: epoch seconds (UTC), like Reddit's created_utc."""
    return round(time.time(), 3)
