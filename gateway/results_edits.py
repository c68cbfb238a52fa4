"""Keep the channel's results posts in step with the titles: a hiding or an erasure edits them.

The results posted to PUBLIC_CHANNEL (`gateway.results`) show proposal titles in the intro
messages and in the chart. When an official hides a proposal after the publication, or its
author erases their data, those posts must show the placeholder the results page shows
(`report.shown_titles`), not the title; when a hiding is lifted, the title again. The block
digests and the residents' announcement carry no proposal title, and the table carries
only numbers.

`ResultsEditor.refresh`, run by the clock (`refresh_results_posts`, every 30 s), compares,
per round with posts, a digest of the proposals withheld now (`service.withheld_titles`, one
query for every round) and of the recorded posts with the digest it stored when it last
found nothing to edit. Only when they differ does it read the titles, render what the posts
should show (the chart only when its digest differs) and edit, per post, the ones whose
recorded `shown` digest differs: editMessageText for an intro message, editMessageMedia
(the new chart with its caption) for the chart. It is state-based, so a crash or a refusal
at any point leaves work that the next run finds and finishes:
- an edit is recorded (`shown`) after Telegram's answer; a crash in between edits again,
  and "message is not modified" counts as done;
- a deleted post ("message to edit not found") counts as done: marked "gone", never
  edited or posted again;
- any other refusal (a timeout, missing rights, 429) is retried by a later run, after
  30 s, 1, 2, 4... minutes (at most an hour) for that post;
- a post still being sent ("posting") is left to the publication: its record changes the
  round's digest, so the next run looks again.
Nothing here writes to the ledger (its signed entries carry commitments, never titles), and
the log names rounds and parts, never a title, a text or a chat.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import structlog
from telegram import InputMediaPhoto
from telegram.error import BadRequest
from telegram.error import RetryAfter
from telegram.error import TelegramError

from bot.router import not_modified
from bot.transport import retry_after_s
from gateway.results import TEXT_OPTIONS
from gateway.results import ResultsPublisher
from gateway.results import digest
from gateway.store import JobRuns
from gateway.store import ResultsPost
from gateway.store import ResultsPosts
from participation.tally import Results

log = structlog.get_logger("gateway.results_edits")

FIRST_RETRY_S = 30.0
LAST_RETRY_S = 3600.0
GONE = ("message to edit not found", "message_id_invalid")
EVENTS = {
    "edited": "results_post_edited",
    "unchanged": "results_post_found_edited",  # edited before a crash kept its record
    "gone": "results_post_found_deleted",
}


def _fingerprint(withheld: Mapping[str, str], posts: list[ResultsPost]) -> str:
    """Return the digest of what a round's posts depend on: the withheld titles and the
    recorded posts (a new or re-recorded post changes it)."""
    recorded = [[p.part, p.state, p.message_id, p.shown] for p in posts]
    return digest(json.dumps([sorted(withheld.items()), sorted(recorded)]))


class ResultsEditor:
    """Edit the results posts whose titles changed since they were posted."""

    def __init__(
        self,
        publisher: ResultsPublisher,
        posts: ResultsPosts,
        service: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
        put_off: dict[tuple[str, str], tuple[float, float]] | None = None,
    ) -> None:
        """`put_off`: (round, part) -> (not before, delay) of the posts refused, kept in
        memory from run to run (a restarted clock tries them at once)."""
        self._publisher, self._posts, self._svc, self._clock = publisher, posts, service, clock
        self._retry = {} if put_off is None else put_off

    async def refresh(self) -> list[tuple[str, str]]:
        """Edit what needs it; return the (round, part) edited by this run."""
        by_round: dict[str, list[ResultsPost]] = {}
        for post in await asyncio.to_thread(self._posts.posts):
            by_round.setdefault(post.round_id, []).append(post)
        by_round = {r: ps for r, ps in by_round.items() if any(p.state == "posted" for p in ps)}
        if not by_round:
            return []
        withheld = await asyncio.to_thread(self._svc.withheld_titles, sorted(by_round))
        checked = await asyncio.to_thread(self._posts.checked)
        edited: list[tuple[str, str]] = []
        for round_id, posts in by_round.items():
            held = withheld.get(round_id, {})
            if checked.get(round_id) == _fingerprint(held, posts):
                continue
            after = await self._round(round_id, posts, edited)
            if after is not None:
                await asyncio.to_thread(self._posts.check, round_id, _fingerprint(held, after))
        return edited

    async def _round(
        self, round_id: str, posts: list[ResultsPost], edited: list[tuple[str, str]]
    ) -> list[ResultsPost] | None:
        """Edit the round's posts that show other titles than they should; return the posts
        as recorded after that, or None when one is left for a later run."""
        payload = await asyncio.to_thread(self._svc.results, round_id)
        if payload is None:
            return posts
        results = Results.from_payload(payload)
        titles = await asyncio.to_thread(self._publisher.titles, results)
        # Posts from before migration 0007 (sent, no chat recorded) may be split otherwise:
        # spread over as many. Others were packed as now; their count is not a split to
        # follow (a publication stopped between two intro messages has recorded only the
        # first, or the next as "posting", which has no chat yet either).
        intro = [p for p in posts if p.part.startswith("intro-")]
        legacy = any(p.chat_id is None and p.state != "posting" for p in intro)
        wanted: dict[str, str | bytes | None] = dict(
            self._publisher.intro(results, titles, parts=len(intro) if legacy else None)
        )
        wanted["chart"] = None  # drawn only when its digest differs
        after, complete = [], True
        for post in posts:
            if post.part not in wanted or post.state != "posted" or post.message_id is None:
                after.append(post)
                continue
            content = wanted[post.part]
            shown = self._publisher.shown(post.part, content or b"", results, titles)
            if post.shown == shown:
                after.append(post)
                continue
            if self._clock() < self._retry.get((round_id, post.part), (0.0, 0.0))[0]:
                outcome = "refused"  # put off after a refusal: a later run
            else:
                if content is None:
                    content = await asyncio.to_thread(self._publisher.chart, results, titles)
                outcome = await self._edit(post, content)
            if outcome == "refused":
                complete = False
                after.append(post)
                continue
            gone = outcome == "gone"
            await asyncio.to_thread(self._posts.edited, post, shown, gone=gone)
            after.append(ResultsPost(post.round_id, post.part, "gone" if gone else "posted",
                                     post.message_id, post.chat_id, shown))  # fmt: skip
            if outcome == "edited":
                edited.append((round_id, post.part))
        return after if complete else None

    async def _edit(self, post: ResultsPost, content: str | bytes) -> str:
        """Edit one post; return "edited", "unchanged" (Telegram: not modified), "gone" (not
        found: deleted) or "refused" (left for a later run, with a growing delay)."""
        key = (post.round_id, post.part)
        delay = self._retry.get(key, (0.0, 0.0))[1]
        chat = post.chat_id if post.chat_id is not None else self._publisher.channel
        message_id = int(post.message_id or 0)
        try:
            if isinstance(content, bytes):
                photo, caption = await self._publisher.chart_photo(post.round_id, content)
                await self._publisher.bot.edit_message_media(
                    InputMediaPhoto(photo, caption=caption), chat_id=chat, message_id=message_id
                )
            else:
                await self._publisher.bot.edit_message_text(
                    content, chat_id=chat, message_id=message_id, **TEXT_OPTIONS
                )
            outcome = "edited"
        except BadRequest as err:
            text = err.message.lower()
            if not_modified(err):
                outcome = "unchanged"
            elif any(phrase in text for phrase in GONE):
                outcome = "gone"
            else:
                outcome = self._refused(key, delay, err)
        except TelegramError as err:  # RetryAfter, Forbidden, TimedOut, NetworkError...
            outcome = self._refused(key, delay, err)
        if outcome != "refused":
            self._retry.pop(key, None)
            log.info(EVENTS[outcome], round_id=post.round_id, part=post.part)
        return outcome

    def _refused(self, key: tuple[str, str], delay: float, err: TelegramError) -> str:
        """Put the post off: 30 s, then twice as long each time, at most an hour (at least
        what a 429 asks)."""
        wait = min(LAST_RETRY_S, max(FIRST_RETRY_S, delay * 2))
        if isinstance(err, RetryAfter):
            wait = max(wait, retry_after_s(err))
        self._retry[key] = (self._clock() + wait, wait)
        log.warning("results_post_not_edited", round_id=key[0], part=key[1],
                    error=type(err).__name__, retry_in_s=int(wait))  # fmt: skip
        return "refused"


async def refresh_results_posts(editor: ResultsEditor, runs: JobRuns) -> None:
    """The clock's job: edit the results posts whose titles were hidden or erased (or shown
    again) since they were posted; see `ResultsEditor`."""
    await editor.refresh()
    await asyncio.to_thread(runs.record, "refresh_results_posts")
