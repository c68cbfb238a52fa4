"""Block digests: the formal Korean message posted in the public channel for every block.

A digest names the block number, the entry range, the ledger size, the sealing time in KST,
the root hash, the signed checkpoint exactly as published (so anyone can check the signature
from the message alone) and a link to `/verify?b=<n>`. Parse mode HTML; every value is
escaped. Posting is recorded per block (`gateway_posted_digests`): a block is marked
"posting" before the send and "posted" after. Telegram has no idempotent send, so the
moment between the send and its record is kept as short as possible: the message id goes
to Redis (`digest:posted:<n>`, one round trip) as soon as Telegram answers, before the
database row, which under load may wait for the database's write lock; the Redis write runs
on the event loop itself (no thread hop to wait for). A crash between the answer and that
Redis write (the reply's parse, about a millisecond) re-posts on the next run rather than
skipping the block: at least once, never missing.
"""

from __future__ import annotations

import html
from typing import Any

import redis
import structlog
from telegram import Bot
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import RetryAfter

from bot.transport import retry_after_s
from gateway.store import DigestLog
from i18n.catalog import Catalog
from i18n.format import format_datetime

log = structlog.get_logger("gateway.digest")


def digest_text(block: Any, catalog: Catalog, base_url: str, locale: str = "ko") -> str:
    """Return the HTML digest of one sealed block (ledger.Block)."""
    count = block.end - block.start

    def t(key: str, **params: object) -> str:
        return catalog.text(locale, f"gateway.digest.{key}", **params)

    url = f"{base_url}/verify?b={block.number}" + ("" if locale == "ko" else f"&lang={locale}")
    lines = [
        t("header", block=f"{block.number:,}"),
        t("range", start=f"{block.start:,}", end=f"{block.end - 1:,}", count=f"{count:,}"),
        t("size", size=f"{block.end:,}"),
        t("sealed_at", when=html.escape(format_datetime(block.sealed_at, locale))),
        t("root", root=block.root.hex()),
        "",
        t("checkpoint"),
        f"<pre>{html.escape(block.checkpoint_text.rstrip(chr(10)))}</pre>",
        "",
        t("verify", url=html.escape(url, quote=True)),
    ]
    return "\n".join(lines)


class DigestPublisher:
    """Post the digest of every sealed block that has none yet, oldest first."""

    def __init__(
        self,
        ledger: Any,
        digests: DigestLog,
        bot: Bot,
        catalog: Catalog,
        *,
        channel: str,
        base_url: str,
        locale: str = "ko",
        posted: redis.Redis | None = None,
        posted_key: str = "digest:posted:",
    ) -> None:
        """`posted` (Redis) records each sent message at once, under `posted_key` + block."""
        self._ledger, self._digests, self._bot = ledger, digests, bot
        self._posted, self._posted_key = posted, posted_key
        self._catalog, self.channel, self._base_url, self._locale = (
            catalog,
            channel,
            base_url,
            locale,
        )

    async def publish_pending(self) -> list[int]:
        """Post every unposted block's digest; return the block numbers posted."""
        import asyncio

        posted = await asyncio.to_thread(self._digests.posted_numbers)
        start = min(set(range(1, max(posted, default=0) + 2)) - posted)
        done: list[int] = []
        while True:
            blocks = await asyncio.to_thread(self._ledger.blocks, start, 100)
            for block in blocks:
                if block.number in posted or await self._recorded(block.number):
                    continue
                await self._post(block)
                done.append(block.number)
            if len(blocks) < 100:
                return done
            start = blocks[-1].number + 1

    async def _post(self, block: Any) -> None:
        import asyncio

        text = digest_text(block, self._catalog, self._base_url, self._locale)
        await asyncio.to_thread(self._digests.mark, block.number, "posting")
        while True:
            try:
                message = await self._bot.send_message(
                    self.channel,
                    text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
                break
            except RetryAfter as err:
                await asyncio.sleep(retry_after_s(err))
        if self._posted is not None:
            key = f"{self._posted_key}{block.number}"
            try:  # on the loop, not in a thread: no scheduling delay inside the window
                self._posted.set(key, message.message_id, ex=30 * 86_400)
            except redis.RedisError:
                pass  # the database row below records it too
        await asyncio.to_thread(self._digests.mark, block.number, "posted", message.message_id)
        log.info("digest_posted", block=block.number, size=block.end)

    async def _recorded(self, number: int) -> bool:
        """Return whether Redis says the block was sent (then record it in the database)."""
        import asyncio

        if self._posted is None:
            return False
        found = await asyncio.to_thread(self._posted.get, f"{self._posted_key}{number}")
        if found is None:
            return False
        await asyncio.to_thread(self._digests.mark, number, "posted", int(found))
        log.info("digest_recovered", block=number)
        return True
