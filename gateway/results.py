"""Publish a round's results: the ledger entry, the sealing block, the channel posts, the files.

`ResultsPublisher.publish(official_id, round_id)` does, in order, each step at most once:
1. `service.publish_results` (skipped when the round's results are already published);
2. seal a block so the `results.published` entry (and everything the tally covered) is
   sealed; the clock's `seal_block` posts that block's digest at its next run (given a
   `DigestPublisher`, `publish` posts it first itself: only where no clock runs beside it,
   since two posters could post one digest twice);
3. post to PUBLIC_CHANNEL, in formal Korean (hapsyo-che) and HTML (every value escaped): an
   introduction with the selected proposals (by rank, "#<number>" as on their cards, and
   title), the ranked table with every component
   (`participation.report.text_table`, the very table `python -m participation tally` prints, in
   `<pre>` messages under 4,096 characters), the chart PNG, and a footer with the entry index,
   the sealing block number, a `/verify` link, the CSV/XLSX links
   (`GET /results/<round>.csv|.xlsx`), how to recount and how to check the titles against
   the ledger (`report.openings_commands`, as the results page);
4. optionally queue the residents' announcement (`service.announce_results`: a catalog key
   and params per outbox row, so each resident reads it in their own language; idempotent
   through its request id);
5. send the CSV and XLSX to the official (every call: asking again gets the files again);
   the bot's hooks (`bot_hooks`) leave this step to `send_files`, which the bot calls after
   its "published" message, so the official reads the confirmation before the files.

Each channel message is a recorded part (`gateway_results_posts`): marked "posting" before
the send and "posted" after, so a retry or a restart after a crash posts only what is
missing. A crash inside that window re-posts that one part rather than leaving a hole in the
official results (the same choice as the block digests). "posted" records the chat and
message Telegram answered with and a digest of what the post shows (`shown`), so that the
clock can edit the posts that show titles when a proposal is hidden or erased later
(`gateway.results_edits`); a post deleted from the channel ("gone") is not posted again.

The selected proposals are packed into intro messages by their rank and number alone, each
counted with room for a title of `TITLE_ROOM` characters (a title is at most
`TITLE_MAX`, a placeholder is shorter than the room): a placeholder put in a title's place
later never moves a line to another message nor makes one too long.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import structlog
from telegram import Bot
from telegram import InputFile
from telegram import LinkPreviewOptions
from telegram import Message
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.error import Forbidden
from telegram.error import RetryAfter

from bot.transport import retry_after_s
from gateway.digest import DigestPublisher
from gateway.store import ResultsPosts
from i18n.catalog import Catalog
from ledger.hashing import hash_leaf
from participation import report
from participation.domain import errors as e
from participation.tally import Results

log = structlog.get_logger("gateway.results")

MESSAGE_LIMIT = 4096  # Telegram's limit on a message's text (after entity parsing)
CHUNK_BUDGET = 3800  # room for the heading and the <pre> tags
TITLE_ROOM = 80  # characters kept for each title in the intro: TITLE_MAX (60) or a placeholder
# how a text part is sent, and edited (gateway.results_edits)
TEXT_OPTIONS: dict[str, Any] = {
    "parse_mode": ParseMode.HTML,
    "link_preview_options": LinkPreviewOptions(is_disabled=True),
}


def results_index(engine: sa.Engine, round_id: str) -> int | None:
    """Return the ledger index of the `results.published` entry of `round_id`, or None
    (unknown round, or results not published); the web page's /verify link uses it too."""
    from participation.store import tables

    r = tables.rounds.c
    with engine.connect() as conn:
        found = conn.execute(sa.select(r.results_index).where(r.round_id == round_id)).scalar()
    return None if found is None else int(found)


def pack(
    lines: list[str], budget: int = CHUNK_BUDGET, sizes: list[int] | None = None
) -> list[list[str]]:
    """Split `lines` into consecutive groups whose joined length stays within `budget`;
    `sizes`, when given, are the lengths to count for the lines instead of their own."""
    groups: list[list[str]] = [[]]
    size = 0
    for line, length in zip(lines, sizes or [len(line) for line in lines], strict=True):
        if groups[-1] and size + length + 1 > budget:
            groups.append([])
            size = 0
        groups[-1].append(line[:budget])
        size += length + 1
    return [g for g in groups if g]


def split_evenly(lines: list[str], parts: int) -> list[list[str]]:
    """Split `lines` into `parts` consecutive groups of sizes differing by at most one
    (the last ones may be empty when there are fewer lines than parts)."""
    step, extra = divmod(len(lines), parts)
    out, start = [], 0
    for n in range(parts):
        end = start + step + (1 if n < extra else 0)
        out.append(lines[start:end])
        start = end
    return out


def digest(content: str | bytes) -> str:
    """Return the SHA-256 (hex) of a post's text (UTF-8) or bytes."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()


class ResultsPublisher:
    """Publish results and post them to the public channel, exactly once per part."""

    def __init__(
        self,
        service: Any,
        ledger: Any,
        bot: Bot,
        catalog: Catalog,
        posts: ResultsPosts,
        *,
        channel: str,
        base_url: str,
        locale: str = "ko",
        digests: DigestPublisher | None = None,
    ) -> None:
        self._svc, self._ledger, self._bot, self._catalog = service, ledger, bot, catalog
        self._posts, self.channel, self._base = posts, channel, base_url.rstrip("/")
        self._locale, self._digests = locale, digests

    @property
    def bot(self) -> Bot:
        """The Bot the posts are sent (and edited) with."""
        return self._bot

    def t(self, key: str, **params: object) -> str:
        return self._catalog.text(self._locale, key, **params)

    async def publish(
        self, official_id: int, round_id: str, *, announce: bool = False, send_files: bool = True
    ) -> dict[str, Any]:
        """Publish and post the results of `round_id`; return a summary for the official.

        Raises:
            NotOfficial: `official_id` is not an admin official.
            ParticipationError: what `service.publish_results` refuses (wrong phase...).
        """
        role = await asyncio.to_thread(self._svc.official_role, official_id)
        if role != "admin":
            raise e.NotOfficial()
        if await asyncio.to_thread(self._svc.results, round_id) is None:
            try:
                await asyncio.to_thread(self._svc.publish_results, official_id, round_id)
                log.info("results_published", round_id=round_id)
            except e.ResultsAlreadyPublished:
                pass  # a concurrent call won; post what it published
        payload = await asyncio.to_thread(self._svc.results, round_id)
        results = Results.from_payload(payload)
        index = await asyncio.to_thread(self._results_index, round_id)
        block = await asyncio.to_thread(self._sealing_block, index)
        if self._digests is not None:
            await self._digests.publish_pending()
        leaf = (await asyncio.to_thread(self._ledger.entries, index, index + 1))[0]
        leaf_hash = hash_leaf(leaf).hex()
        titles = await asyncio.to_thread(self.titles, results)
        links = self.links(round_id, index, leaf_hash, block)
        parts = self.parts(results, titles, index, block, links)
        posted = await self._post_parts(round_id, parts, results, titles)
        broadcast = None
        if announce:
            broadcast = await asyncio.to_thread(self._announce, official_id, results)
        if send_files:
            await self._send_files(official_id, results)
        return {
            "round": round_id,
            "index": index,
            "leaf_hash": leaf_hash,
            "block": block,
            "selected": len(results.selected),
            "posted": posted,
            "broadcast": broadcast,
            **links,
        }

    # ------------------------------------------------------------------ steps

    def _results_index(self, round_id: str) -> int:
        found = results_index(self._ledger.engine, round_id)
        if found is None:
            raise e.RoundNotFound(round=round_id)
        return found

    def _sealing_block(self, index: int) -> int:
        block = self._ledger.block_of(index)
        if block is None:
            self._ledger.seal()
            block = self._ledger.block_of(index)
            assert block is not None, "a seal covers every committed entry"
            log.info("block_sealed", block=block.number, size=block.end)
        return int(block.number)

    def titles(self, results: Results, locale: str | None = None) -> dict[str, str]:
        """Return the titles to show with `results` in `locale` (the channel's by default), read
        now: a proposal hidden since the publication shows a placeholder with the reason, as
        the results page and the openings (`report.shown_titles`)."""
        cards = {row.proposal: self._svc.proposal(row.proposal) for row in results.rows}
        return report.shown_titles(results, cards, self._catalog, locale or self._locale)

    def links(self, round_id: str, index: int, leaf_hash: str, block: int) -> dict[str, str]:
        """Return the public links of a publication: /verify of its entry, the results page,
        CSV and XLSX."""
        return {
            "page_url": f"{self._base}/results/{round_id}",
            "verify_url": f"{self._base}/verify?i={index}&h={leaf_hash}&b={block}",
            "csv_url": f"{self._base}/results/{round_id}.csv",
            "xlsx_url": f"{self._base}/results/{round_id}.xlsx",
        }

    def parts(
        self,
        results: Results,
        titles: Mapping[str, str],
        index: int,
        block: int,
        links: Mapping[str, str],
    ) -> list[tuple[str, str | bytes]]:
        """Return the channel messages as (part name, HTML text or PNG bytes), in order.

        The same results always give the same parts, so a retry knows what is missing.
        """
        out: list[tuple[str, str | bytes]] = list(self.intro(results, titles))
        table = report.text_table(results, self._catalog, self._locale).split("\n")
        chunks = pack([html.escape(line) for line in table])
        for n, chunk in enumerate(chunks, start=1):
            heading = self.t("gateway.results.table_heading", part=n, parts=len(chunks))
            out.append((f"table-{n}", heading + "\n<pre>" + "\n".join(chunk) + "</pre>"))
        out.append(("chart", self.chart(results, titles)))
        out.append(("footer", self.footer(results.round, index, block, links)))
        return out

    def intro(
        self, results: Results, titles: Mapping[str, str], parts: int | None = None
    ) -> list[tuple[str, str]]:
        """Return the intro messages ("intro-1", ...): the header, the totals and the selected
        proposals with their titles. Lines are packed by rank and number with `TITLE_ROOM`
        for each title, so the split does not depend on the titles; `parts` (the number of
        intro messages already posted, when it differs: posts from before this packing)
        spreads the lines evenly over that many."""
        r, esc = results.rules, html.escape
        lines = [
            self.t("gateway.results.header", title=esc(r.title)),
            self.t(
                "gateway.results.summary",
                count=f"{len(results.selected):,}",
                amount=esc(report.money(self._catalog, self._locale, results.selected_budget)),
                cap=esc(report.money(self._catalog, self._locale, r.budget_cap)),
            ),
        ]
        sizes = [len(line) for line in lines]
        if results.selected:
            lines += ["", self.t("gateway.results.selected_heading")]
            sizes += [0, len(lines[-1])]
            for row in results.rows:
                if not row.selected:
                    continue
                item = {"rank": row.rank, "number": esc(report.number_text(row))}
                lines.append(self.t("gateway.results.selected_item", **item,
                                    title=esc(titles.get(row.proposal, ""))))  # fmt: skip
                room = self.t("gateway.results.selected_item", **item, title="x" * TITLE_ROOM)
                sizes.append(len(room))  # Telegram counts the text once parsed: no escapes
        groups = pack(lines, sizes=sizes)
        if parts is not None and parts != len(groups):
            groups = split_evenly(lines, parts)
        return [(f"intro-{n}", "\n".join(group)) for n, group in enumerate(groups, start=1)]

    def chart(self, results: Results, titles: Mapping[str, str]) -> bytes:
        """Return the chart PNG (the first `report.CHART_MAX_ROWS` rows, with their titles)."""
        return report.chart_png(results, self._catalog, self._locale, titles=titles)

    def shown(self, part: str, content: str | bytes, results: Results,
              titles: Mapping[str, str]) -> str:  # fmt: skip
        """Return the digest of what a posted part shows: its text's; for the chart, what it
        draws that can change after the publication (the titles of its rows, read live) with
        the results and the language, so it is known without drawing the chart."""
        if part != "chart":
            return digest(content)
        rows = results.rows[: report.CHART_MAX_ROWS]
        drawn = ["chart", results.sha256(), self._locale, [titles.get(r.proposal) for r in rows]]
        return digest(json.dumps(drawn, ensure_ascii=False))

    def chart_caption(self, title: str) -> str:
        """Return the chart's caption for a round titled `title` (Telegram: 1,024 at most)."""
        return self.t("gateway.results.chart_caption", title=title)[:1024]

    async def chart_photo(self, round_id: str, png: bytes) -> tuple[InputFile, str]:
        """Return the chart as it is posted, and edited (`gateway.results_edits`): the file
        and its caption (the round's title read from the service)."""
        title = (await asyncio.to_thread(self._svc.round, round_id)).title
        return InputFile(io.BytesIO(png), filename=f"{round_id}.png"), self.chart_caption(title)

    def footer(self, round_id: str, index: int, block: int, links: Mapping[str, str]) -> str:
        """Return the last channel message: where the results are sealed, the links, and the
        commands to copy, as the results page gives them: recount, then check the titles
        (well under 4,096 characters: a 32-character round id and a 200-character address
        leave more than half of it free)."""
        esc = html.escape
        lines = [
            self.t("gateway.results.sealed", index=f"{index:,}", block=f"{block:,}"),
            self.t("gateway.results.verify", url=esc(links["verify_url"], quote=True)),
            self.t("gateway.results.page", url=esc(links["page_url"], quote=True)),
            self.t(
                "gateway.results.files",
                csv=esc(links["csv_url"], quote=True),
                xlsx=esc(links["xlsx_url"], quote=True),
            ),
            self.t("gateway.results.recount"),
            *(
                f"<code>{esc(command)}</code>"
                for command in report.recount_commands(self._base, round_id)
            ),
            self.t("gateway.results.openings"),
            *(
                f"<code>{esc(command)}</code>"
                for command in report.openings_commands(self._base, round_id)
            ),
        ]
        return "\n".join(lines)

    async def _post_parts(
        self,
        round_id: str,
        parts: list[tuple[str, str | bytes]],
        results: Results,
        titles: Mapping[str, str],
    ) -> list[str]:
        states = await asyncio.to_thread(self._posts.states, round_id)
        posted = []
        for name, content in parts:
            if states.get(name) in ("posted", "gone"):  # gone: deleted from the channel
                continue
            await asyncio.to_thread(self._posts.mark, round_id, name, "posting")
            message = await self._send(content, round_id)
            shown = self.shown(name, content, results, titles)
            await asyncio.to_thread(self._posts.mark, round_id, name, "posted",
                                    int(message.message_id), chat_id=int(message.chat_id),
                                    shown=shown)  # fmt: skip
            posted.append(name)
        if posted:
            log.info("results_posted", round_id=round_id, parts=len(posted))
        return posted

    async def _send(self, content: str | bytes, round_id: str) -> Message:
        while True:
            try:
                if isinstance(content, bytes):
                    photo, caption = await self.chart_photo(round_id, content)
                    return await self._bot.send_photo(self.channel, photo, caption=caption)
                return await self._bot.send_message(self.channel, content, **TEXT_OPTIONS)
            except RetryAfter as err:
                await asyncio.sleep(retry_after_s(err))

    def _announce(self, official_id: int, results: Results) -> int:
        request_id = f"results:{results.round}:announce"
        return int(
            self._svc.announce_results(
                official_id, results.round, channel=self.channel, request_id=request_id
            )
        )

    async def send_files(self, official_id: int, round_id: str) -> None:
        """Send the CSV and XLSX of the published results of `round_id` to the official."""
        payload = await asyncio.to_thread(self._svc.results, round_id)
        if payload is None:
            raise e.PhaseClosed(phase="results", action="files")
        await self._send_files(official_id, Results.from_payload(payload))

    async def _send_files(self, official_id: int, results: Results) -> None:
        resident = await asyncio.to_thread(self._svc.resident, official_id)
        locale = getattr(resident, "locale", None) or self._locale
        titles = await asyncio.to_thread(self.titles, results, locale)
        csv_text = io.StringIO()
        report.write_csv(results, csv_text, self._catalog, locale, titles)
        xlsx = io.BytesIO()
        await asyncio.to_thread(report.write_xlsx, results, xlsx, self._catalog, locale, titles)
        files = (
            ("CSV", f"{results.round}.csv", csv_text.getvalue().encode("utf-8-sig")),
            ("XLSX", f"{results.round}.xlsx", xlsx.getvalue()),
        )
        title = results.rules.title
        for fmt, name, data in files:
            caption = self._catalog.text(
                locale, "gateway.results.document", title=title, format=fmt
            )
            try:
                await self._bot.send_document(
                    official_id, InputFile(io.BytesIO(data), filename=name), caption=caption
                )
            except (BadRequest, Forbidden) as err:  # e.g. an official who never opened the bot
                log.warning("results_file_not_sent", error=type(err).__name__)
                return


def publisher_of(runtime: Any, bot: Bot) -> ResultsPublisher:
    """Return the deployment's results publisher (PUBLIC_CHANNEL, PUBLIC_BASE_URL, the default
    locale), posting with `bot`; no digests: the clock posts those, so no block is posted
    twice by two posters."""
    s = runtime.settings
    return ResultsPublisher(
        runtime.service, runtime.ledger, bot, runtime.catalog, ResultsPosts(runtime.engine),
        channel=s.public_channel, base_url=s.public_base_url, locale=s.default_locale,
    )  # fmt: skip


def install(runtime: Any, services: Any, bot: Bot) -> None:
    """Give the bot's screens the review-day collaborators (`BotServices.extra`).

    - `extra["publish_results"]` and `extra["send_result_files"]`: see `bot_hooks`;
    - `extra["onsite_url"]`: `(session_id) -> str`, the signed `/onsite/<session>` link for
      the projector (see `webhook.onsite`).
    """
    from webhook.onsite import onsite_url
    from webhook.onsite import view_key

    s = runtime.settings
    publisher = publisher_of(runtime, bot)
    key = view_key(s.pseudonym_pepper)

    def url_of(session_id: str) -> str:
        return onsite_url(s.public_base_url, key, session_id, services.bot_username)

    services.extra.update(bot_hooks(publisher))
    services.extra["onsite_url"] = url_of


def bot_hooks(publisher: ResultsPublisher) -> dict[str, Any]:
    """The bot's publication hooks (`BotServices.extra`).

    - `publish_results`: `async (official_id, round_id, announce=False) -> dict`, everything
      but the files (see `ResultsPublisher.publish`);
    - `send_result_files`: `async (official_id, round_id) -> None`, the CSV and XLSX, which
      the bot sends after its "published" message, so the official reads that first.
    """

    async def publish_results(
        official_id: int, round_id: str, announce: bool = False
    ) -> dict[str, Any]:
        return await publisher.publish(official_id, round_id, announce=announce, send_files=False)

    return {"publish_results": publish_results, "send_result_files": publisher.send_files}
