"""The channel's results posts follow a hiding or an erasure: the clock edits the posts that
show titles (the intro and the chart) to show the placeholder, once, surviving a crash and a
refusal, never touching the ledger, logging nothing personal.

The tests run in order on one published round (as tests/gateway/test_results.py); each posts
the results afresh to a new sandbox channel, and the erasure (not undoable) comes last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs
from telegram import Bot
from telegram.error import BadRequest
from telegram.error import TimedOut

from gateway import store
from gateway.results import TITLE_ROOM
from gateway.results import ResultsPublisher
from gateway.results_edits import ResultsEditor
from gateway.results_edits import refresh_results_posts
from gateway.settings import SANDBOX_TOKEN
from i18n.catalog import Catalog
from participation.domain.round import REASON_CODES
from participation.domain.round import TITLE_MAX
from participation.tally import Results
from tests.gateway.test_results import BASE
from tests.gateway.test_results import CHANNEL
from tests.gateway.test_results import HeldService
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.scenario import ADMIN
from tests.participation.scenario import AUTHORS
from tests.participation.scenario import ROUND
from tests.participation.scenario import run_round


class Crash(BaseException):
    """The process dies here."""


class CountingBot(Bot):
    """Counts edits; `crash_after` ("text" or "media") dies right after such an edit
    succeeded (not recorded); `refuse` raises the given errors, one per edit, instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._edits: list[str] = []
        self._crash_after = ""
        self._refuse: list[Exception] = []

    async def _edit(self, kind: str, call: Any) -> Any:
        if self._refuse:
            call.close()  # never sent
            raise self._refuse.pop(0)
        self._edits.append(kind)
        done = await call
        if self._crash_after == kind:
            raise Crash()
        return done

    async def edit_message_text(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return await self._edit("text", super().edit_message_text(*args, **kwargs))

    async def edit_message_media(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return await self._edit("media", super().edit_message_media(*args, **kwargs))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("results-edits")
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp / 'ledger.db'}", clock)
    svc = HeldService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    store.metadata.create_all(log.engine)
    outcome = run_round(svc, clock)
    svc.hold = False
    svc.publish_results(ADMIN, ROUND)
    yield {"svc": svc, "ledger": log, "ids": outcome.proposals}
    log.close()


@pytest.fixture
def sandbox(world: dict[str, Any]) -> Iterator[Any]:
    """A new sandbox channel, and the round's results posted to it afresh."""
    from sandbox.server import SandboxServer

    with world["ledger"].engine.begin() as conn:
        conn.execute(store.results_posts.delete())
        conn.execute(store.results_checked.delete())
    server = SandboxServer("127.0.0.1", 0, personas=False).start()
    asyncio.run(publisher_call(world, server, lambda p: p.publish(ADMIN, ROUND, send_files=False)))
    yield server
    server.stop()


async def publisher_call(world: dict[str, Any], sandbox: Any, call: Any,
                         bot: Bot | None = None) -> Any:  # fmt: skip
    async with bot or Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as b:
        publisher = ResultsPublisher(
            world["svc"], world["ledger"], b, Catalog.load(),
            store.ResultsPosts(world["ledger"].engine), channel=CHANNEL, base_url=BASE,
        )  # fmt: skip
        return await call(publisher)


def refresh(world: dict[str, Any], sandbox: Any, bot: CountingBot | None = None,
            now: float = 0.0) -> list[tuple[str, str]]:  # fmt: skip
    """Run the editor once, as the clock's job does (its put-off posts kept between runs)."""

    def run(publisher: ResultsPublisher) -> Any:
        posts = store.ResultsPosts(world["ledger"].engine)
        put_off = world.setdefault("put_off", {})
        return ResultsEditor(publisher, posts, world["svc"], clock=lambda: now,
                             put_off=put_off).refresh()  # fmt: skip

    return asyncio.run(publisher_call(world, sandbox, run, bot))


def counting(sandbox: Any) -> CountingBot:
    return CountingBot(SANDBOX_TOKEN, base_url=sandbox.api_base_url)


def selected(world: dict[str, Any]) -> Any:
    return next(r for r in Results.from_payload(world["svc"].results(ROUND)).rows if r.selected)


def placeholder(reason: str, locale: str = "ko") -> str:
    catalog = Catalog.load()
    return catalog.text(locale, "report.title.hidden",
                        reason=catalog.text(locale, f"participation.reason.{reason}"))  # fmt: skip


def by_part(world: dict[str, Any], sandbox: Any) -> dict[str, dict[str, Any]]:
    """Return the channel's posts (not deleted) by their recorded part name."""
    posts = {p["message_id"]: p for p in sandbox.channel_posts(CHANNEL) if not p["deleted"]}
    return {r.part: posts[r.message_id] for r in recorded(world) if r.message_id in posts}


def recorded(world: dict[str, Any]) -> list[store.ResultsPost]:
    return store.ResultsPosts(world["ledger"].engine).posts()


def test_titles_and_placeholders_fit_the_room_kept_for_them():
    """The intro packs its lines with TITLE_ROOM for each title, so that a placeholder put in
    a title's place never moves a line to another message or makes one too long."""
    catalog = Catalog.load()
    assert TITLE_MAX <= TITLE_ROOM
    for locale in ("ko", "en"):
        assert len(catalog.text(locale, "report.title.erased")) <= TITLE_ROOM
        for reason in REASON_CODES:
            assert len(placeholder(reason, locale)) <= TITLE_ROOM


def test_posts_record_their_chat_and_what_they_show(world, sandbox):
    posts = recorded(world)
    assert {p.state for p in posts} == {"posted"}
    channel_id = sandbox.channel_posts(CHANNEL)[0]["chat_id"]
    assert {p.chat_id for p in posts} == {channel_id}
    assert all(p.shown and len(p.shown) == 64 for p in posts)
    bot = counting(sandbox)
    assert refresh(world, sandbox, bot) == [] and bot._edits == []  # nothing withheld since


def test_a_hiding_edits_the_intro_and_the_chart_once(world, sandbox):
    svc, log = world["svc"], world["ledger"]
    row = selected(world)
    title = svc.proposal(row.proposal).title
    before = by_part(world, sandbox)
    line = f"{row.rank}위 #{row.number} {title}"
    assert line + "\n" in before["intro-1"]["text"] + "\n"
    svc.hide_proposal(ADMIN, row.proposal, "personal_info")
    size = log.size()
    bot = counting(sandbox)
    with capture_logs() as logs:
        edited = refresh(world, sandbox, bot)
    assert sorted(edited) == [(ROUND, "chart"), (ROUND, "intro-1")]
    after = by_part(world, sandbox)
    shown = f"{row.rank}위 #{row.number} {placeholder('personal_info')}"
    assert shown in after["intro-1"]["text"] and line + "\n" not in after["intro-1"]["text"] + "\n"
    assert after["intro-1"]["edited"] and after["chart"]["edited"]
    assert after["chart"]["photo"] != before["chart"]["photo"]
    assert after["chart"]["caption"] == before["chart"]["caption"]  # the caption stays
    assert not any(after[p]["edited"] for p in after if p.startswith(("table-", "footer")))
    assert log.size() == size  # the ledger is untouched: no entry, nothing rewritten
    # logged: which round and part, never the title, the text or the chat
    channel_id = str(after["intro-1"]["chat_id"])
    for entry in logs:
        assert title not in str(entry) and channel_id not in str(entry)
    assert any(e["event"] == "results_post_edited" for e in logs)
    again = counting(sandbox)
    assert refresh(world, sandbox, again) == [] and again._edits == []  # done: nothing more


def test_restoring_the_proposal_shows_its_title_again(world, sandbox):
    """Runs after the hiding above: posted afresh (placeholder), then restored."""
    svc = world["svc"]
    row = selected(world)
    assert placeholder("personal_info") in by_part(world, sandbox)["intro-1"]["text"]
    svc.restore_proposal(ADMIN, row.proposal)
    assert sorted(refresh(world, sandbox)) == [(ROUND, "chart"), (ROUND, "intro-1")]
    title = svc.proposal(row.proposal).title
    assert f"{row.rank}위 #{row.number} {title}" in by_part(world, sandbox)["intro-1"]["text"]


def test_a_crash_between_the_edit_and_its_record_is_finished_by_the_next_run(world, sandbox):
    row = selected(world)
    world["svc"].hide_proposal(ADMIN, row.proposal, "abuse")
    bot = counting(sandbox)
    bot._crash_after = "text"
    with pytest.raises(Crash):
        refresh(world, sandbox, bot)
    assert bot._edits == ["media", "text"]  # the chart, then the intro: edited, not recorded
    intro = by_part(world, sandbox)["intro-1"]["text"]
    assert placeholder("abuse") in intro
    again = counting(sandbox)
    assert refresh(world, sandbox, again) == []  # "message is not modified" counts as done
    assert again._edits == ["text"]
    assert by_part(world, sandbox)["intro-1"]["text"] == intro
    assert {p.part: p.state for p in recorded(world)}["intro-1"] == "posted"
    last = counting(sandbox)
    assert refresh(world, sandbox, last) == [] and last._edits == []
    world["svc"].restore_proposal(ADMIN, row.proposal)


def test_a_refused_edit_is_retried_later_and_a_deleted_post_counts_as_done(world, sandbox):
    row = selected(world)
    world["svc"].hide_proposal(ADMIN, row.proposal, "spam")
    bot = counting(sandbox)
    bot._refuse = [TimedOut(), BadRequest("Not enough rights to edit")]
    with capture_logs() as logs:
        assert refresh(world, sandbox, bot, now=0.0) == []
    assert [e["event"] for e in logs].count("results_post_not_edited") == 2
    assert all("error" in e and "Not enough" not in str(e) for e in logs
               if e["event"] == "results_post_not_edited")  # fmt: skip
    waiting = counting(sandbox)
    assert refresh(world, sandbox, waiting, now=1.0) == [] and waiting._edits == []  # backs off
    # meanwhile an administrator deletes the intro from the channel
    intro = next(p for p in recorded(world) if p.part == "intro-1")

    async def delete() -> None:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as b:
            await b.delete_message(CHANNEL, int(intro.message_id or 0))

    asyncio.run(delete())
    later = counting(sandbox)
    assert refresh(world, sandbox, later, now=7200.0) == [(ROUND, "chart")]
    states = {p.part: p.state for p in recorded(world)}
    assert states["intro-1"] == "gone" and states["chart"] == "posted"
    last = counting(sandbox)
    assert refresh(world, sandbox, last, now=9000.0) == [] and last._edits == []
    # publishing again does not post the deleted part back
    summary = asyncio.run(publisher_call(
        world, sandbox, lambda p: p.publish(ADMIN, ROUND, send_files=False)))  # fmt: skip
    assert summary["posted"] == []
    world["svc"].restore_proposal(ADMIN, row.proposal)


def test_posts_recorded_before_their_content_was_are_edited_once(world, sandbox):
    """Posts recorded before migration 0007 have no chat and no digest: the first run edits
    them in PUBLIC_CHANNEL (a text already right answers 'not modified': done)."""
    with world["ledger"].engine.begin() as conn:
        conn.execute(sa.update(store.results_posts).values(chat_id=None, shown=None))
    bot = counting(sandbox)
    edited = refresh(world, sandbox, bot)
    assert bot._edits.count("media") == 1 and (ROUND, "chart") in edited
    assert all(p.shown for p in recorded(world) if p.part.startswith(("intro-", "chart")))
    again = counting(sandbox)
    assert refresh(world, sandbox, again) == [] and again._edits == []


def test_a_publication_cut_short_between_intro_messages_leaves_the_first_as_posted(
    world, sandbox, monkeypatch
):
    """Posted over two intro messages, the publication stopped after the first was recorded
    and before the second was (a crash, or the clock reading between the two records): the
    first is not rewritten to hold the whole intro (that split is for posts from before
    migration 0007), and publishing again posts the rest with nothing to edit after."""
    import gateway.results as results_module

    real = results_module.pack
    monkeypatch.setattr(results_module, "pack",
                        lambda lines, budget=0, sizes=None: real(lines, 150, sizes))  # fmt: skip
    with world["ledger"].engine.begin() as conn:
        conn.execute(store.results_posts.delete())
        conn.execute(store.results_checked.delete())
    asyncio.run(publisher_call(world, sandbox, lambda p: p.publish(ADMIN, ROUND, send_files=False)))
    intro = sorted(p.part for p in recorded(world) if p.part.startswith("intro-"))
    assert len(intro) > 2
    first = by_part(world, sandbox)["intro-1"]["text"]
    with world["ledger"].engine.begin() as conn:  # as if it stopped after intro-1's record
        conn.execute(store.results_posts.delete().where(store.results_posts.c.part != "intro-1"))
    bot = counting(sandbox)
    assert refresh(world, sandbox, bot) == [] and bot._edits == []
    assert by_part(world, sandbox)["intro-1"]["text"] == first
    # or while intro-2 was being sent (recorded "posting": no chat yet)
    store.ResultsPosts(world["ledger"].engine).mark(ROUND, "intro-2", "posting")
    bot = counting(sandbox)
    assert refresh(world, sandbox, bot) == [] and bot._edits == []
    assert by_part(world, sandbox)["intro-1"]["text"] == first
    asyncio.run(publisher_call(world, sandbox, lambda p: p.publish(ADMIN, ROUND, send_files=False)))
    again = counting(sandbox)
    assert refresh(world, sandbox, again) == [] and again._edits == []


def test_the_clock_job_records_its_run(world, sandbox):
    runs = store.JobRuns(world["ledger"].engine)

    async def job(publisher: ResultsPublisher) -> None:
        editor = ResultsEditor(publisher, store.ResultsPosts(world["ledger"].engine), world["svc"])
        await refresh_results_posts(editor, runs)

    asyncio.run(publisher_call(world, sandbox, job))
    assert runs.last_run("refresh_results_posts") is not None


def test_an_erasure_edits_the_posts_to_say_the_author_had_it_deleted(world, sandbox):
    """Last: an erasure cannot be undone."""
    svc = world["svc"]
    row = selected(world)
    author = AUTHORS[world["ids"].index(row.proposal)]
    title = svc.proposal(row.proposal).title
    svc.erase_personal_data(author)
    edited = refresh(world, sandbox)
    assert sorted(edited) == [(ROUND, "chart"), (ROUND, "intro-1")]
    erased = Catalog.load().text("ko", "report.title.erased")
    intro = by_part(world, sandbox)["intro-1"]["text"]
    assert f"{row.rank}위 #{row.number} {erased}" in intro
    assert f"#{row.number} {title}\n" not in intro + "\n"


def test_the_intro_splits_the_same_with_titles_or_placeholders():
    """200 selected proposals with 1-character titles, then all hidden: the same lines in the
    same messages, each within Telegram's 4,096 characters once parsed."""
    import re
    from types import SimpleNamespace

    from gateway.results import MESSAGE_LIMIT

    rows = [SimpleNamespace(selected=True, rank=n, number=n, proposal=f"p{n}")
            for n in range(1, 201)]  # fmt: skip
    rules = SimpleNamespace(title="라운드", budget_cap=10**9)
    results = SimpleNamespace(rules=rules, rows=rows, selected=[r.proposal for r in rows],
                              selected_budget=10**8)  # fmt: skip
    publisher = ResultsPublisher(None, None, Bot(SANDBOX_TOKEN), Catalog.load(), None,
                                 channel=CHANNEL, base_url=BASE)  # fmt: skip
    short = publisher.intro(results, {r.proposal: "가" for r in rows})  # type: ignore[arg-type]
    hidden = {r.proposal: placeholder("personal_info") for r in rows}
    held = publisher.intro(results, hidden)  # type: ignore[arg-type]
    assert len(short) == len(held) > 1
    for (name, a), (other, b) in zip(short, held, strict=True):
        assert name == other and len(a.split("\n")) == len(b.split("\n"))
        assert len(re.sub(r"<[^>]+>", "", b)) <= MESSAGE_LIMIT
