"""The review day, rehearsed end to end through the sandbox with the real bot (issue 8).

An official creates a round in the bot, 30 residents register and submit and endorse, five
judges score (one recuses), 20 residents check in on site by the projector's rotating QR code
(one with an expired code) and score, the officials enter and confirm a paper tally, the
results are published (ledger entry, sealed block, channel posts) and broadcast. Checked:
the channel's table is what `python -m participation tally` prints for the export (run as a
subprocess), and the broadcast reaches every subscriber exactly once within Telegram's limits
(flood limits on, 429s injected) even though the sender is killed in the middle.

Through the bot: the official's round creation, phase moves, judges' invites, publication
(with the announcement) and the broadcast's composition; residents' registration,
submissions, endorsements (deep link + 공감), on-site check-in off the projector page's JSON
endpoint and on-site scoring; judges' joining, and two judges' scoring (one recusal).
Through the service (to stay under a minute on a loaded 2-core machine, or where no screen is
exercised here): three judges' scores, the on-site session's opening, the online likes, the
second official's invitation and the paper tally's entry and confirmation. The broadcast is
delivered by the gateway's `OutboxSender` (what the clock's `drive_broadcasts` runs).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
from telegram import Bot

from bot import BotServices
from bot import MemoryRateLimiter
from bot import build_application
from gateway import store
from gateway.broadcast import DeliveryJournal
from gateway.broadcast import OutboxSender
from gateway.results import ResultsPublisher
from i18n import Catalog
from ledger import Ledger
from ledger import LedgerKey
from participation.domain.events import KINDS
from participation.service import ParticipationService
from sandbox.server import SandboxServer
from tests.support.e2e_bot import PUBLIC_URL
from tests.support.e2e_bot import TOKEN
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Clock
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.webhook.conftest import make_app
from webhook.onsite import onsite_url
from webhook.onsite import view_key

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]
ROOT = Path(__file__).resolve().parents[1]
OFFICIAL, CLERK = 9_000_001, 9_000_002
CHANNEL = "@gg_ledger"
PEPPER = b"rehearsal-pepper-0123456789"
REGIONS = ("수원시", "성남시", "의정부시")  # on the first page of the 시·군 keyboard


class Crash(BaseException):
    """The sender's process dies here: nothing below runs, no except clause catches it."""


class DyingBot(Bot):
    """Dies right after its `after`-th delivered sendMessage, before "sent" is recorded."""

    def __init__(self, *args: Any, after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._left = after

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        message = await super().send_message(*args, **kwargs)
        self._left -= 1
        if self._left == 0:
            raise Crash()
        return message


class Rehearsal(BotWorld):
    """The e2e world without a pre-made round: the official makes it through the bot."""

    def __init__(self, tmp: Path) -> None:  # noqa: D107 - mirrors BotWorld, minus the round
        self.tmp = tmp
        self.clock = Clock()
        self.srv = SandboxServer(personas=False).start()
        key = LedgerKey.from_seed("test-ledger", bytes(range(32)))
        url = f"sqlite:///{tmp / 'ledger.db'}"
        self.ledger = Ledger.open(url, key, origin="t.example/l", kinds=KINDS, clock=self.clock)
        self.svc = ParticipationService(self.ledger, pepper=PEPPER, clock=self.clock)
        self.svc.create_tables()
        store.metadata.create_all(self.ledger.engine)
        self.svc.grant_first_official(OFFICIAL)
        self.catalog = Catalog.load()
        self.services = BotServices(
            participation=self.svc, catalog=self.catalog, bot_username=self.srv.bot_username,
            public_base_url=PUBLIC_URL, rate_limiter=MemoryRateLimiter(rate=1000, burst=1000),
            clock=self.clock, block_of=self.block_of,
        )  # fmt: skip
        self.app = build_application(TOKEN, self.srv.api_base_url, self.srv.file_base_url,
                                     self.services)  # fmt: skip
        self.offset = 0
        self.view_key = view_key(PEPPER)
        self.services.extra["onsite_url"] = lambda s: onsite_url(
            PUBLIC_URL, self.view_key, s, self.srv.bot_username
        )

    async def __aenter__(self) -> Rehearsal:
        await super().__aenter__()
        publisher = ResultsPublisher(
            self.svc, self.ledger, self.app.bot, self.catalog,
            store.ResultsPosts(self.ledger.engine), channel=CHANNEL, base_url=PUBLIC_URL,
        )  # fmt: skip

        async def publish(official_id: int, round_id: str, announce: bool = False) -> Any:
            return await publisher.publish(official_id, round_id, announce=announce)

        self.services.extra["publish_results"] = publish
        return self

    # --- officials' screens ---------------------------------------------------------------
    async def admin(self, uid: int, item: str) -> Msg:
        """Open /admin and press the menu item `bot.admin.menu.<item>`."""
        menu = await self.text(uid, "/admin")
        return await self.press(uid, menu, self.t(f"bot.admin.menu.{item}"))

    async def advance(self, uid: int) -> None:
        confirm = await self.admin(uid, "phase")
        await self.press(uid, confirm, self.t("bot.admin.phase_yes"))


def button_data(message: Msg, pattern: str) -> str:
    """Return the callback data of the first button whose label matches `pattern`."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if re.search(pattern, button["text"]):
                return str(button["callback_data"])
    raise AssertionError(f"no button /{pattern}/ in {labels(message)}")


async def tap(world: Rehearsal, uid: int, message: Msg, pattern: str) -> Msg:
    world.srv.press(uid, message["message_id"], button_data(message, pattern))
    await world.drain()
    return world.last(uid)


async def create_round(world: Rehearsal) -> str:
    """The official registers and creates + opens the round through /admin."""
    world.srv.users.create("담당 공무원", user_id=OFFICIAL)
    await world.register(OFFICIAL, "수원시")
    await world.admin(OFFICIAL, "new_round")
    categories = await world.text(OFFICIAL, "2017 따복공동체 주민제안 공모사업")
    budget = await world.press(OFFICIAL, categories, world.t("bot.admin.new.next"))
    weights = await tap(world, OFFICIAL, budget, ".")  # the default budget
    deadlines = await tap(world, OFFICIAL, weights, "50")  # judges 50 / on site 30 / online 20
    preview = await world.press(OFFICIAL, deadlines, world.t("bot.admin.new.deadlines_default"))
    created = await world.press(OFFICIAL, preview, world.t("bot.admin.new.create"))
    (view,) = world.svc.rounds() or [None]
    assert view is None or view.phase  # rounds() lists opened rounds only
    opened = await tap(world, OFFICIAL, created, ".")  # -> 제안 접수
    await world.press(OFFICIAL, opened, world.t("bot.admin.phase_yes"))
    (view,) = world.svc.rounds()
    assert view.phase == "submission" and view.rules.weights.judges == 50
    return view.round_id


async def submit(world: Rehearsal, uid: int, n: int) -> None:
    """제안하기 through the bot: title, body, category, budget, no photo, confirm."""
    await world.text(uid, world.t("bot.menu.submit"))
    await world.text(uid, f"마을 제안 {n}: 어르신 쉼터 그늘막")
    category = await world.text(uid, "버스 정류장 옆에 그늘막을 세워 주세요. " * 2)
    await world.press(uid, category, "복지·돌봄")
    photo = await world.text(uid, f"{100 + n * 30}만")
    preview = await world.press(uid, photo, world.t("bot.submit.skip_photo"))
    await world.press(uid, preview, world.t("bot.submit.confirm"))


async def endorse(world: Rehearsal, uid: int, pid: str) -> None:
    card = await world.deep_link(uid, world.services.deep_link(f"p_{pid}"))
    count = world.svc.proposal(pid).endorsements
    await world.press(uid, card, world.t("bot.card.endorse", count=count))


async def judge_everything(world: Rehearsal, judge: int, recuse: bool) -> None:
    """Score every card 1-5 per criterion (or recuse from the first one)."""
    rnd = world.svc.current_round()
    assert rnd is not None
    card = world.last(judge)
    for k, task in enumerate(world.svc.judge_tasks(judge, rnd.round_id)):
        if recuse and k == 0:
            ask = await world.press(judge, card, world.t("bot.judge.recuse"))
            card = await world.press(judge, ask, world.t("bot.judge.recuse_yes"))
            card = await world.press(judge, card, world.t("bot.judge.next"))
            continue
        for c in range(len(rnd.rules.criteria)):
            value = 1 + (judge + k + c) % 5
            rows = card["reply_markup"]["inline_keyboard"]
            data = next(b["callback_data"] for b in rows[c][1:]
                        if b["text"].strip("[]") == str(value))  # fmt: skip
            world.srv.press(judge, card["message_id"], data)
            await world.drain()
            card = next(m for m in reversed(world.messages(judge))
                        if m["message_id"] == card["message_id"])  # fmt: skip
        assert world.svc.judge_tasks(judge, rnd.round_id)[k].scores is not None, task
        if k + 1 < len(world.svc.judge_tasks(judge, rnd.round_id)):
            card = await world.press(judge, card, world.t("bot.judge.next"))


def projector_code(world: Rehearsal, web: Any, session: str) -> str:
    """Read the code the projector page shows now (its JSON endpoint, signed link)."""
    url = urlparse(world.services.extra["onsite_url"](session))  # type: ignore[operator]
    state = web.get(f"{url.path}/code?{url.query}").json
    return str(state["code"])


async def test_the_review_day_rehearsal(tmp_path: Path) -> None:
    async with Rehearsal(tmp_path) as world:
        svc, srv = world.svc, world.srv
        round_id = await create_round(world)

        # 30 residents register; 6 of them submit, everyone endorses two proposals
        residents = []
        for n in range(30):
            uid = world.user(f"주민{n}")
            await world.register(uid, REGIONS[n % 3])
            residents.append(uid)
        for n, uid in enumerate(residents[:6]):
            await submit(world, uid, n)
        pids = [c.proposal_id for c in svc.proposals(round_id, limit=100).items]
        assert len(pids) == 6
        await world.advance(OFFICIAL)  # -> 공감
        for n, uid in enumerate(residents):
            for pid in {pids[n % 6], pids[(n * 5 + 1) % 6]}:
                if pid not in {c.proposal_id for c in svc.my_proposals(uid)}:
                    await endorse(world, uid, pid)
        await world.advance(OFFICIAL)  # -> 심사
        assert svc.round(round_id).phase == "review"

        # five judges join by invite links and score; one recuses from one proposal
        view = svc.round(round_id)
        judges = []
        for j in range(5):
            judge = world.user(f"심사위원{j}")
            await world.register(judge, "수원시")
            panel = await world.admin(OFFICIAL, "judges")
            await world.press(OFFICIAL, panel, world.t("bot.admin.judges.invite"))  # link + QR
            shown = " ".join(text_of(m) for m in world.messages(OFFICIAL)[-3:])
            link = re.findall(r"https://t\.me/\S+start=j_\S+", shown)
            assert link, shown
            await world.deep_link(judge, link[-1])
            if j < 2:  # two judges score every card through the bot (one recuses once)
                await judge_everything(world, judge, recuse=j == 1)
            else:  # the others through the service, to keep the rehearsal under a minute
                for k, task in enumerate(svc.judge_tasks(judge, round_id)):
                    scores = {c: 1 + (j + k + i) % 5 for i, c in enumerate(view.rules.criteria)}
                    svc.score(judge, task.card.proposal_id, scores)
            judges.append(judge)
        progress = {p.scored + p.recused for p in svc.judge_progress(round_id)}
        assert progress == {len(pids)}

        # on site: the projector's rotating code; 20 residents scan it, one too late
        session = svc.open_onsite_session(OFFICIAL, round_id)
        web = make_app(redis.Redis.from_url("redis://127.0.0.1:1"), participation=svc,
                       onsite_key=world.view_key).test_client()  # fmt: skip
        hall = residents[10:30]
        stale = projector_code(world, web, session)
        world.clock.advance(seconds=95)
        refused = await world.deep_link(hall[0], world.services.deep_link(stale))
        assert text_of(refused) == world.t("participation.error.onsite_code_expired")
        for h, uid in enumerate(hall):
            if h % 5 == 0:
                world.clock.advance(seconds=31)  # the code rotates while people queue
            ballot = await world.deep_link(uid, world.services.deep_link(
                projector_code(world, web, session)))  # fmt: skip
            for number in labels(ballot)[:2]:
                card = await world.press(uid, ballot, number)
                ballot = await world.press(uid, card, str(1 + (h + len(number)) % 5))
        assert svc.onsite_sessions(round_id)[0].checkins == 20

        # online: residents who were not on site like within their cap
        for uid in residents[:6]:
            for pid in pids[:3]:
                if pid not in {c.proposal_id for c in svc.my_proposals(uid)}:
                    svc.like(uid, pid)

        # paper tally of the hall, entered by one official and confirmed by another
        svc.join_as_official(CLERK, svc.invite_official(OFFICIAL, role="clerk"))
        sheet = hashlib.sha256(b"signed tally sheet photo").hexdigest()
        tally = svc.enter_paper_tally(CLERK, session, pids[0], ballots=12, points=41,
                                      sheet_sha256=sheet)  # fmt: skip
        svc.confirm_paper_tally(OFFICIAL, tally)

        # results: publication through the bot (the gateway's publisher), with announcement
        world.clock.advance(days=1)
        await world.advance(OFFICIAL)  # -> 결과 발표
        ask = await world.admin(OFFICIAL, "publish")
        await world.press(OFFICIAL, ask, world.t("bot.admin.publish_announce"))
        published = svc.results(round_id)
        assert published is not None
        posts = srv.channel_posts(CHANNEL)
        footer = text_of(posts[-1])
        index = int(re.search(r"(\d[\d,]*)번 항목", footer)[1].replace(",", ""))
        block = world.ledger.block_of(index)
        assert block is not None and f"블록 {block.number:,}번" in footer

        # the published table is what the tally CLI recomputes from the export
        world.ledger.export(tmp_path / "export")
        cli = subprocess.run(
            [sys.executable, "-m", "participation", "tally", str(tmp_path / "export")],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert world.t("report.cli.published_match", index=index,
                       digest=published_sha(tmp_path)) in cli.stdout  # fmt: skip
        channel_table = [line for post in posts for line in pre_lines(post)]
        assert channel_table and "\n".join(channel_table) in cli.stdout

        # the official also broadcasts a message; both broadcasts go out, killed midway
        await world.text(OFFICIAL, "/admin")
        compose = await world.admin(OFFICIAL, "broadcast")
        audience = await world.text(OFFICIAL, "오늘 심사에 함께해 주셔서 고맙습니다.")
        assert compose
        confirm = await world.press(OFFICIAL, audience, world.t("bot.admin.bc_all"))
        await tap(world, OFFICIAL, confirm, ".")
        subscribers = [u for u in [*residents, *judges, OFFICIAL]
                       if (r := svc.resident(u)) is not None and r.subscribed]  # fmt: skip
        before = {uid: len(srv.messages(uid)) for uid in subscribers}
        srv.set_flood_limits(True)
        srv.inject_429(3, retry_after=1)
        with pytest.raises(Crash):
            await send_all(world, DyingBot, after=25)
        await send_all(world, Bot)
        for uid in subscribers:
            locale = svc.resident(uid).locale  # type: ignore[union-attr]
            announce = world.catalog.text(
                locale,
                "participation.notice.results",
                title=svc.round(round_id).title,
                count=f"{len(published['selected']):,}",
                channel=CHANNEL,
            )  # each resident reads the announcement in their own language
            thanks = "오늘 심사에 함께해 주셔서 고맙습니다."
            notice = world.catalog.text(locale, "participation.notice.broadcast", text=thanks)
            texts = [announce, notice]
            got = [text_of(m) for m in srv.messages(uid)[before[uid] :]]
            assert [got.count(t) for t in texts] == [1, 1], uid
        stats = srv.stats()
        assert stats["rate_limited"] == 3  # only the injected ones: never over the limits


async def send_all(world: Rehearsal, bot_class: type[Bot], **kwargs: Any) -> None:
    journal = DeliveryJournal(world.ledger.engine)
    async with bot_class(TOKEN, base_url=world.srv.api_base_url, **kwargs) as bot:
        sender = OutboxSender(world.svc, bot, world.catalog, journal=journal, batch=100,
                              claimed_stale_s=0, unsure_after_s=3600)  # fmt: skip
        await sender.drain(budget_s=40)


def published_sha(tmp: Path) -> str:
    import json

    for line in (tmp / "export" / "entries.jsonl").read_text().splitlines():
        entry = json.loads(line)["entry"]
        if entry["kind"] == "results.published":
            return str(entry["body"]["results_sha256"])
    raise AssertionError("no results.published entry")


def pre_lines(post: Msg) -> list[str]:
    text = post.get("text") or ""
    out: list[str] = []
    for entity in post.get("entities") or []:
        if entity["type"] == "pre":
            out.extend(text[entity["offset"] : entity["offset"] + entity["length"]].split("\n"))
    return out
