"""End-to-end harness: the real bot, unchanged, against the sandbox Bot API.

A ``SandboxServer`` plays Telegram; a ledger and a ``ParticipationService`` live on a
temporary SQLite file; an official creates and opens a round through the service; the
Application is built by ``bot.build_application`` with ``base_url=srv.api_base_url`` and fed
by a small loop that calls ``bot.get_updates(offset=...)`` and ``app.process_update`` (what the
runtime's Redis workers do in production).
"""

from __future__ import annotations

import copy
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telegram import Update

from bot import BotServices
from bot import MemoryRateLimiter
from bot import RateLimiter
from bot import build_application
from i18n import Catalog
from ledger import Ledger
from ledger import LedgerKey
from participation.domain.events import KINDS
from participation.domain.round import Deadlines
from participation.domain.round import RoundRules
from participation.service import ParticipationService
from sandbox.server import SandboxServer

KST = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2017, 2, 1, 9, 0, tzinfo=KST)
TOKEN = "123456:" + "A" * 35
OFFICIAL = 9_000_001
ROUND = "gg2017"
PUBLIC_URL = "https://ttabok.example"
Msg = dict[str, Any]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.UTC)

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def round_rules() -> RoundRules:
    """Submission until 10 Feb, endorsement until 17 Feb, review until 23 Feb (KST)."""
    at = lambda day: int(dt.datetime(2017, 2, day, 18, tzinfo=KST).timestamp())  # noqa: E731
    deadlines = Deadlines(submission_ends=at(10), endorsement_ends=at(17), review_ends=at(23))
    return RoundRules(title="2017 따복공동체", deadlines=deadlines, budget_cap=30_000_000)


def jpeg() -> bytes:
    """Return a small real JPEG (a photo a resident sends)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 160, 90)).save(out, "JPEG")
    return out.getvalue()


def jpegs(count: int) -> list[bytes]:
    """Return ``count`` different small JPEGs (photos a person picks together, an album)."""
    from PIL import Image

    found = []
    for n in range(count):
        out = io.BytesIO()
        Image.new("RGB", (64, 48), (40 + 20 * n, 160, 90)).save(out, "JPEG")
        found.append(out.getvalue())
    return found


class BotWorld:
    """Sandbox + ledger + service + the bot; every action runs the bot until it is idle."""

    def __init__(
        self, tmp: Path, *, limiter: RateLimiter | None = None, public_chat: str = "@gg_ledger"
    ) -> None:
        self.clock = Clock()
        self.srv = SandboxServer(personas=False).start()
        key = LedgerKey.from_seed("test-ledger", bytes(range(32)))
        self.ledger = Ledger.open(
            f"sqlite:///{tmp / 'ledger.db'}",
            key,
            origin="ttabok.example/ledger",
            kinds=KINDS,
            clock=self.clock,
        )
        self.svc = ParticipationService(
            self.ledger, pepper=b"e2e-pepper-0123456789", clock=self.clock
        )
        self.svc.create_tables()
        self.svc.grant_first_official(OFFICIAL)
        self.svc.create_round(OFFICIAL, round_rules(), round_id=ROUND)
        self.svc.open_round(OFFICIAL, ROUND)
        self.catalog = Catalog.load()
        self.services = BotServices(
            participation=self.svc,
            catalog=self.catalog,
            bot_username=self.srv.bot_username,
            public_base_url=PUBLIC_URL,
            rate_limiter=limiter or MemoryRateLimiter(rate=1000, burst=1000),
            clock=self.clock,
            block_of=self.block_of,
            public_chat=public_chat,
        )
        self.app = build_application(
            TOKEN, self.srv.api_base_url, self.srv.file_base_url, self.services
        )
        self.offset = 0

    def block_of(self, index: int) -> int | None:
        block = self.ledger.block_of(index)
        return None if block is None else block.number

    async def __aenter__(self) -> BotWorld:
        await self.app.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.shutdown()
        self.srv.stop()
        self.ledger.close()

    # --- driving ----------------------------------------------------------------------------
    async def drain(self) -> int:
        """Process every pending update; return how many."""
        done = 0
        while True:
            updates = await self.app.bot.get_updates(offset=self.offset, timeout=0)
            if not updates:
                return done
            for update in updates:
                self.offset = update.update_id + 1
                await self.app.process_update(update)
                done += 1

    async def feed(self, raw: dict[str, Any]) -> None:
        """Process one update built by hand (a redelivery, a forged button...)."""
        await self.app.process_update(Update.de_json(raw, self.app.bot))

    def user(self, name: str = "민지", language_code: str = "ko") -> int:
        return int(self.srv.users.create(name, language_code=language_code)["id"])

    async def text(self, uid: int, text: str) -> Msg:
        """Send ``text``; return the last bot message after the bot is idle."""
        self.srv.send_text(uid, text)
        await self.drain()
        return self.last(uid)

    async def photo(self, uid: int, caption: str | None = None) -> Msg:
        self.srv.send_photo(uid, jpeg(), caption)
        await self.drain()
        return self.last(uid)

    async def album(self, uid: int, count: int = 3, caption: str | None = None) -> list[Msg]:
        """Send ``count`` photos at once, as an album; return what the bot said to it."""
        before = len(self.messages(uid))
        self.srv.send_album(uid, jpegs(count), caption)
        await self.drain()
        return self.messages(uid)[before:]

    async def press(self, uid: int, message: Msg, label: str) -> Msg:
        """Tap the inline button whose label contains ``label``."""
        self.srv.press(uid, message["message_id"], self.data_of(message, label))
        await self.drain()
        return self.last(uid)

    async def deep_link(self, uid: int, link: str) -> Msg:
        self.srv.open_deep_link(uid, link)
        await self.drain()
        return self.last(uid)

    # --- reading ----------------------------------------------------------------------------
    def messages(self, uid: int) -> list[Msg]:
        return list(self.srv.messages(uid))

    def last(self, uid: int, where: Callable[[Msg], bool] = lambda m: True) -> Msg:
        found = [m for m in self.messages(uid) if where(m)]
        assert found, "the bot sent nothing"
        return found[-1]

    def with_button(self, uid: int, label: str) -> Msg:
        """Return the newest bot message with an inline button labelled ``label``."""
        return self.last(uid, lambda m: any(label in b for b in labels(m)))

    def data_of(self, message: Msg, label: str) -> str:
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if label in button["text"] and "callback_data" in button:
                    return str(button["callback_data"])
        raise AssertionError(f"no button {label!r} in {labels(message)}")

    def t(self, key: str, locale: str = "ko", **params: object) -> str:
        return self.catalog.text(locale, key, **params)

    async def register(self, uid: int, region: str = "연천군", locale: str = "ko") -> None:
        """Go through /start, consent and region choice."""
        await self.text(uid, "/start")
        agree = self.t("bot.privacy.agree", locale)
        await self.press(uid, self.with_button(uid, agree), agree)
        regions = self.last(uid)
        while not any(region == b for b in labels(regions)):
            regions = await self.press(uid, regions, "▶")
        await self.press(uid, regions, region)


def labels(message: Msg) -> list[str]:
    """Return the labels of a message's inline buttons."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["text"] for row in rows for b in row]


def text_of(message: Msg) -> str:
    return str(message.get("text") or message.get("caption") or "")


async def album_led_by(world: BotWorld, uid: int, first: str) -> list[Msg]:
    """Send three pictures at once whose first item is a ``first`` ("video", or a "document"
    that is no picture) and the others photos; return what the bot said to the album.

    Telegram's apps mix videos and photos in one album; the sandbox sends photos only, so
    its album's first update is rewritten before the bot takes the album (same ids, date
    and media_group_id)."""
    before = len(world.messages(uid))
    raws = world.srv.send_album(uid, jpegs(3))
    world.offset = int(raws[-1]["update_id"]) + 1  # the sandbox's copies are not fetched
    lead = copy.deepcopy(raws[0])
    message = lead["message"]
    del message["photo"]
    if first == "video":
        message["video"] = {
            "file_id": "BAACAgUAAxkBAAIBvideo",
            "file_unique_id": "AgADvideo",
            "width": 640,
            "height": 360,
            "duration": 4,
            "mime_type": "video/mp4",
        }
    else:
        message["document"] = {
            "file_id": "BQACAgUAAxkBAAIBplan",
            "file_unique_id": "AgADplan",
            "file_name": "plan.pdf",
            "mime_type": "application/pdf",
            "file_size": 2048,
        }
    for raw in [lead, *raws[1:]]:
        await world.feed(raw)
    await world.drain()
    return world.messages(uid)[before:]
