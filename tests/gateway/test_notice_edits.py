"""Delivered notices follow a hiding, an erasure and a restore: the sender records each
notice's message and what it showed of its proposal, and the clock's job edits the messages
of others than the author to what the sender would send now (the withheld wording, or the
title again); a deleted message is never edited again, "not modified" counts as done, a 429
pauses every edit, nothing personal is logged. Through the sandbox Bot API and a real
service on SQLite and PostgreSQL (integration)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs
from telegram import Bot
from telegram.error import BadRequest
from telegram.error import Forbidden
from telegram.error import RetryAfter
from telegram.error import TimedOut

from gateway import store
from gateway.broadcast import DeliveryJournal
from gateway.broadcast import OutboxSender
from gateway.broadcast import notice_text
from gateway.notice_edits import RECHECK_S
from gateway.notice_edits import DeliveredNotices
from gateway.notice_edits import NoticeEditor
from gateway.notice_edits import refresh_notices
from gateway.settings import SANDBOX_TOKEN
from i18n.catalog import Catalog
from participation.service import ParticipationService
from participation.store import tables as t
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.test_notice_titles import AUTHOR
from tests.participation.test_notice_titles import FAN
from tests.participation.test_notice_titles import answered
from tests.participation.test_service_support import ADMIN

CATALOG = Catalog.load()
ANSWERED = "participation.notice.answered"
TITLE = "놀이터"


class EditingBot(Bot):
    """Counts editMessageText calls; `refuse` raises the given errors instead, one a call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._edits = 0
        self._refuse: list[Exception] = []

    async def edit_message_text(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._edits += 1
        if self._refuse:
            raise self._refuse.pop(0)
        return await super().edit_message_text(*args, **kwargs)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    from sandbox.server import SandboxServer

    clock = Clock(START)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    log = open_ledger(url, clock)
    svc = ParticipationService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    store.metadata.create_all(log.engine)
    server = SandboxServer("127.0.0.1", 0, personas=False).start()
    for user in (AUTHOR, FAN):
        server.world.create_user(f"p{user}", id=user, language_code="ko")
        server.send_text(user, "/start")  # a private chat the bot may write to
    pid = answered(svc)
    world = {"svc": svc, "engine": log.engine, "sandbox": server, "pid": pid, "now": 1000.0}
    asyncio.run(run(world, lambda bot: OutboxSender(
        svc, bot, CATALOG, journal=DeliveryJournal(log.engine)).drain(budget_s=20)))  # fmt: skip
    yield world
    server.stop()
    log.close()


async def run(world: dict[str, Any], call: Any, bot: Bot | None = None) -> Any:
    async with bot or Bot(SANDBOX_TOKEN, base_url=world["sandbox"].api_base_url) as b:
        return await call(b)


def editor(world: dict[str, Any], bot: Bot) -> NoticeEditor:
    """The world's editor (kept from run to run, as the clock keeps it) on `bot`."""
    ed = world.get("editor")
    if ed is None:
        ed = world["editor"] = NoticeEditor(
            bot, CATALOG, DeliveredNotices(world["engine"]), world["svc"],
            clock=lambda: world["now"], edit_gap_s=0.0, chat_gap_s=0.0)  # fmt: skip
    ed._bot = bot
    return ed  # type: ignore[no-any-return]


def refresh(world: dict[str, Any], bot: EditingBot | None = None) -> dict[str, int]:
    bot = bot or counting(world)
    return asyncio.run(run(world, lambda b: editor(world, b).refresh(), bot))  # type: ignore[no-any-return]


def counting(world: dict[str, Any]) -> EditingBot:
    return EditingBot(SANDBOX_TOKEN, base_url=world["sandbox"].api_base_url)


def shown(world: dict[str, Any], user: int) -> str:
    """The text of the bot's last answered notice in `user`'s chat."""
    [text] = [m["text"] for m in world["sandbox"].messages(user) if "답변" in m["text"]]
    return str(text)


def recorded(world: dict[str, Any]) -> dict[int, tuple[Any, ...]]:
    o = t.outbox.c
    with world["engine"].connect() as conn:
        rows = conn.execute(
            sa.select(o.user_id, o.proposal, o.message_id, o.shown).where(o.key == ANSWERED)
        ).all()
    return {row.user_id: tuple(row[1:]) for row in rows}


def withheld(world: dict[str, Any], why: str) -> str:
    """What the sender would send FAN now (`broadcast.notice_text` with `notice_title`, as
    `OutboxSender._text`), checked to be the withheld wording for `why`."""
    seen = world["svc"].notice_title(world["pid"], FAN)
    assert seen.withheld == why
    return notice_text(CATALOG, "ko", ANSWERED, {"proposal": world["pid"]}, seen)


def test_a_delivered_notice_records_its_message_and_that_it_showed_the_title(world):
    rec = recorded(world)
    assert set(rec) == {AUTHOR, FAN}
    assert all(r[0] == world["pid"] and r[2] == "title" and r[1] for r in rec.values())
    assert TITLE in shown(world, FAN) and TITLE in shown(world, AUTHOR)


def test_a_hiding_edits_the_others_notices_to_the_withheld_wording_and_a_restore_back(world):
    before_fan, before_author = shown(world, FAN), shown(world, AUTHOR)
    world["svc"].hide_proposal(ADMIN, world["pid"], "personal_info")
    with capture_logs() as logs:
        counts = refresh(world)
    assert counts["edited"] == 1
    now = shown(world, FAN)
    assert now == withheld(world, "hidden:personal_info") and "비공개 처리돼서" in now
    assert shown(world, AUTHOR) == before_author  # the author sees their own hidden title
    assert recorded(world)[FAN][2] == "hidden:personal_info"
    assert TITLE not in repr(logs) and str(FAN) not in repr(logs)
    # nothing more to do: no edit
    again = counting(world)
    assert refresh(world, again)["edited"] == 0 and again._edits == 0
    world["svc"].restore_proposal(ADMIN, world["pid"])
    assert refresh(world)["edited"] == 1
    assert shown(world, FAN) == before_fan
    assert recorded(world)[FAN][2] == "title"


def test_a_deleted_message_counts_as_done_and_is_never_edited_again(world):
    mid = recorded(world)[FAN][1]
    asyncio.run(run(world, lambda b: b.delete_message(FAN, mid)))
    world["svc"].hide_proposal(ADMIN, world["pid"], "abuse")
    assert refresh(world)["gone"] == 1
    assert recorded(world)[FAN][2] == "gone"
    world["svc"].restore_proposal(ADMIN, world["pid"])
    bot = counting(world)
    assert refresh(world, bot)["edited"] == 0 and bot._edits == 0


def test_not_modified_counts_as_done(world):
    """Edited, then the process died before recording it: the next run's edit finds the
    message already so."""
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    assert refresh(world)["edited"] == 1
    with world["engine"].begin() as conn:
        conn.execute(sa.update(t.outbox).where(t.outbox.c.user_id == FAN).values(shown="title"))
    assert refresh(world)["unchanged"] == 1
    assert recorded(world)[FAN][2] == "hidden:spam"
    bot = counting(world)
    assert refresh(world, bot) == dict.fromkeys(bot_counts(), 0) and bot._edits == 0


def bot_counts() -> list[str]:
    return ["edited", "unchanged", "gone", "refused", "left"]


def test_an_erasure_edits_the_endorsers_notice_to_say_it_was_deleted(world):
    world["svc"].erase_personal_data(AUTHOR)
    assert refresh(world)["edited"] == 1
    assert shown(world, FAN) == withheld(world, "erased")
    assert TITLE not in shown(world, FAN) and "작성자의 요청으로" in shown(world, FAN)


def test_a_429_pauses_every_edit_for_what_it_asks(world):
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    bot = counting(world)
    bot._refuse = [RetryAfter(60)]
    with capture_logs() as logs:
        assert refresh(world, bot)["refused"] == 1
    assert [e["event"] for e in logs] == ["notice_not_edited", "notices_refreshed"]
    assert TITLE not in repr(logs) and str(FAN) not in repr(logs)
    world["now"] += 30
    waiting = counting(world)
    assert refresh(world, waiting)["left"] == 1 and waiting._edits == 0
    world["now"] += 31  # past the 60 s asked (the proposal is looked at until it is done)
    window = world["editor"]._window  # the bot's limit shared with the sender: real time
    assert 0 < window.paused_for() <= 60
    window._paused_until = 0.0
    assert refresh(world)["edited"] == 1
    assert shown(world, FAN) == withheld(world, "hidden:spam")


def test_a_notice_recorded_after_the_run_that_saw_the_hiding_is_edited_by_a_later_run(world):
    """Its text was read before the hiding and its send returned after the first run."""
    o = t.outbox.c
    with world["engine"].begin() as conn:
        conn.execute(sa.update(t.outbox).where(o.user_id == FAN).values(message_id=None))
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    assert refresh(world)["edited"] == 0
    mid = int(world["sandbox"].messages(FAN)[-1]["message_id"])
    with world["engine"].begin() as conn:
        conn.execute(sa.update(t.outbox).where(o.user_id == FAN).values(message_id=mid))
    world["now"] += 100
    assert refresh(world)["edited"] == 1


def statements(world: dict[str, Any]) -> int:
    """How many SQL statements one run of the job executes (its run's record included)."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = world["engine"]
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        job = refresh_notices(editor(world, counting(world)), store.JobRuns(engine))
        asyncio.run(job)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len([s for s in seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))])


def test_when_nothing_changed_the_job_runs_two_reads_and_its_record(world):
    statements(world)  # the first record of the run inserts its row
    first = statements(world)  # nothing hidden
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    refresh(world)
    world["now"] += 400  # past the window in which a late-recorded notice is looked for
    assert (first, statements(world)) == (3, 3)
    assert store.JobRuns(world["engine"]).last_run("refresh_notices") is not None


def test_the_clock_edits_delivered_notices_every_30_s(tmp_path: Path):
    from gateway.processes import clock_jobs
    from gateway.settings import Settings
    from gateway.wiring import Runtime

    rt = Runtime(Settings.from_env({"VAR_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1"}))
    try:
        jobs = {name: (job, period, args) for name, job, period, args in
                clock_jobs(rt, Bot(SANDBOX_TOKEN, base_url="http://127.0.0.1:1/bot"))}  # fmt: skip
    finally:
        rt.close()
    job, period, args = jobs["refresh_notices"]
    assert job is refresh_notices and period == 30 and isinstance(args[0], NoticeEditor)
    assert "refresh_results_posts" in jobs and "drive_broadcasts" in jobs


class Journal:
    """A DeliveryJournal that lets every row be sent and keeps what `delivered` recorded."""

    def __init__(self) -> None:
        self.recorded: list[tuple[int, str, int, str]] = []

    def settle(self, **_: float) -> tuple[int, int]:
        return 0, 0

    def begin(self, outbox_id: int) -> bool:
        return True

    def release(self, outbox_id: int) -> None: ...

    def delivered(self, outbox_id: int, proposal: str, message_id: int, shown: str) -> None:
        self.recorded.append((outbox_id, proposal, message_id, shown))


def test_a_notice_with_a_button_is_never_recorded_so_never_edited_without_it():
    """editMessageText without reply_markup would remove the button: such a notice (none is
    about a proposal today) is left as it was delivered."""
    from types import SimpleNamespace

    from gateway.broadcast import NOTICE_BUTTONS
    from tests.gateway.test_broadcast import Row
    from tests.gateway.test_broadcast_withheld import TitledOutbox

    button_key = next(iter(NOTICE_BUTTONS))
    outbox = TitledOutbox([Row(1, 500, "ko", button_key, {"proposal": "r-3"}, None),
                           Row(2, 501, "ko", ANSWERED, {"proposal": "r-3"}, None)])  # fmt: skip
    outbox.issue_button = lambda *args: "token"  # type: ignore[attr-defined]
    sent: list[dict[str, Any]] = []

    class Sending:
        async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Any:
            sent.append(kwargs)
            return SimpleNamespace(message_id=len(sent))

    journal = Journal()
    sender = OutboxSender(outbox, Sending(), CATALOG, journal=journal)  # type: ignore[arg-type]
    assert asyncio.run(sender.drain(budget_s=10)) == 2
    assert [bool(kw.get("reply_markup")) for kw in sent] == [True, False]
    assert journal.recorded == [(2, "r-3", 2, "title")]


def test_notices_already_right_do_not_take_the_rows_read_per_run(world, monkeypatch):
    """A proposal with more delivered notices than a run reads: the ones already showing the
    withheld wording are not read again, so the rest are reached."""
    import gateway.notice_edits as notice_edits

    monkeypatch.setattr(notice_edits, "MAX_ROWS", 2)
    o = t.outbox.c
    with world["engine"].begin() as conn:
        conn.execute(sa.update(t.outbox).where(o.user_id == FAN).values(id=1000))
        fan = conn.execute(sa.select(t.outbox).where(o.id == 1000)).one()._asdict()
        edited = {"id": 999, "user_id": 12, "message_id": 1, "shown": "hidden:spam"}
        conn.execute(sa.insert(t.outbox).values({**fan, **edited}))  # another's, already edited
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    assert refresh(world)["edited"] == 1
    assert shown(world, FAN) == withheld(world, "hidden:spam")


def test_a_notice_left_to_edit_is_edited_after_the_clock_was_down_longer_than_the_window(world):
    """A refused edit (a timeout here) leaves the notice for a later run. Its proposal was
    looked at only until RECHECK_S after the last run that left it: a clock down longer
    (a deployment, a database outage, a leader's handover) came back to a proposal no longer
    looked at, and the notice showed the hidden title for good."""
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    bot = counting(world)
    bot._refuse = [TimedOut()]
    assert refresh(world, bot)["refused"] == 1
    world["now"] += RECHECK_S + 600  # no run meanwhile
    assert refresh(world)["edited"] == 1
    assert shown(world, FAN) == withheld(world, "hidden:spam")
    world["now"] += RECHECK_S + 1  # done: the proposal is no longer looked at
    statements(world)  # the first record of the run inserts its row
    assert statements(world) == 3


def test_a_notice_delivered_while_restored_is_edited_when_hidden_again_before_the_next_run(
    world,
):
    """Hidden (the clock edits and records it), restored, a notice goes out with the title,
    and hidden again for the same reason before the clock's next run: the clock found what it
    had found last and did not look, so that notice showed the title for good. A delivered
    notice makes its proposal looked at again (RECHECK_S from its delivery)."""
    svc, pid = world["svc"], world["pid"]
    svc.hide_proposal(ADMIN, pid, "spam")
    assert refresh(world)["edited"] == 1
    world["now"] += RECHECK_S + 100
    assert refresh(world)["edited"] == 0
    svc.restore_proposal(ADMIN, pid)
    o = t.outbox.c
    with world["engine"].connect() as conn:
        row_id = conn.execute(sa.select(o.id).where(o.user_id == FAN, o.key == ANSWERED)).scalar()
    mid = recorded(world)[FAN][1]
    asyncio.run(run(world, lambda b: b.edit_message_text(
        notice_text(CATALOG, "ko", ANSWERED, {"proposal": pid}, svc.notice_title(pid, FAN)),
        chat_id=FAN, message_id=mid)))  # fmt: skip
    clock = lambda: world["now"]  # noqa: E731
    DeliveryJournal(world["engine"], clock).delivered(row_id, pid, mid, "title")  # as sent then
    assert TITLE in shown(world, FAN)
    svc.hide_proposal(ADMIN, pid, "spam")
    world["now"] += 30
    assert refresh(world)["edited"] == 1
    assert shown(world, FAN) == withheld(world, "hidden:spam")


def test_notices_put_off_do_not_take_the_rows_read_per_run(world, monkeypatch):
    """Notices whose edit was refused wait (30 s, doubling, up to an hour) but were still
    read first by id: as many waiting as a run reads (readers who blocked the bot, chats
    gone) and the notices after them were never reached, showing the hidden title."""
    import gateway.notice_edits as notice_edits

    monkeypatch.setattr(notice_edits, "MAX_ROWS", 3)
    o = t.outbox.c
    with world["engine"].begin() as conn:
        conn.execute(sa.update(t.outbox).where(o.user_id == FAN).values(id=1000))
        fan = conn.execute(sa.select(t.outbox).where(o.id == 1000)).one()._asdict()
        for row_id, user in ((998, 13), (999, 14)):  # chats the sandbox does not know: refused
            refusing = {"id": row_id, "user_id": user, "message_id": 1, "shown": "title"}
            conn.execute(sa.insert(t.outbox).values({**fan, **refusing}))
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    assert refresh(world, timing_out(world, 13, 14))["refused"] == 2  # author's, 998, 999 read
    world["now"] += 10  # 998 and 999 wait
    assert refresh(world, timing_out(world, 13, 14))["edited"] == 1
    assert shown(world, FAN) == withheld(world, "hidden:spam")


class TimingOut(EditingBot):
    """Edits in the chats of `_chats` time out (a refusal tried again later)."""

    def __init__(self, *args: Any, chats: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chats = chats

    async def edit_message_text(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("chat_id") in self._chats:
            self._edits += 1
            raise TimedOut("read timed out")
        return await super().edit_message_text(*args, **kwargs)


def timing_out(world: dict[str, Any], *chats: int) -> EditingBot:
    return TimingOut(SANDBOX_TOKEN, base_url=world["sandbox"].api_base_url, chats=chats)


@pytest.mark.parametrize(
    "refusal",
    [
        Forbidden("Forbidden: bot was blocked by the user"),
        Forbidden("Forbidden: user is deactivated"),
        BadRequest("Bad Request: chat not found"),
        BadRequest("Bad Request: message can't be edited"),
    ],
    ids=["blocked", "deactivated", "chat-not-found", "cannot-be-edited"],
)
def test_a_notice_telegram_will_never_let_us_edit_is_given_up_not_retried_for_ever(world, refusal):
    """A reader who blocked the bot, an account deleted, a chat gone, a message that can no
    longer be edited: each refusal was put off (30 s, doubling, at most an hour) and the
    proposal looked at for ever, one attempt an hour and a 'left' every 30 s. Recorded
    'gone' instead, as a deleted message is: never edited again, nothing left."""
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    bot = counting(world)
    bot._refuse = [refusal]
    assert refresh(world, bot)["gone"] == 1
    assert recorded(world)[FAN][2] == "gone"
    world["now"] += 4000  # past any delay
    again = counting(world)
    assert refresh(world, again) == dict.fromkeys(bot_counts(), 0) and again._edits == 0
    world["now"] += RECHECK_S + 1
    assert refresh(world, counting(world)) == dict.fromkeys(bot_counts(), 0)


def test_no_edit_is_tried_while_a_429_answered_to_the_outbox_sender_lasts(world):
    """The editor shares the bot's limit with the sender (`SendWindow`): while a 429 the
    sender got still holds, the run leaves its edits for the next one instead of waiting."""
    from gateway.broadcast import SendWindow

    window = SendWindow()
    window.pause(60)  # as OutboxSender._deliver does on a RetryAfter
    world["editor"] = NoticeEditor(
        counting(world), CATALOG, DeliveredNotices(world["engine"]), world["svc"],
        clock=lambda: world["now"], edit_gap_s=0.0, chat_gap_s=0.0, window=window)  # fmt: skip
    world["svc"].hide_proposal(ADMIN, world["pid"], "spam")
    bot = counting(world)
    assert refresh(world, bot)["left"] == 1 and bot._edits == 0
    window._paused_until = 0.0  # the pause is over
    world["now"] += 30
    assert refresh(world)["edited"] == 1
    assert shown(world, FAN) == withheld(world, "hidden:spam")
