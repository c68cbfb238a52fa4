"""Officials publish the results and broadcast announcements through the bot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.broadcast import OutboxSender
from participation.app.reviewday import BROADCAST_KEY
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import official
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio


def last_entry(world: BotWorld) -> dict[str, Any]:
    size = world.ledger.size()
    entry: dict[str, Any] = json.loads(world.ledger.entries(size - 1, size)[0])["entry"]
    return entry


async def to_results(world: BotWorld) -> list[str]:
    ids = submit(world, resident(world, "제안자"), 3)
    to_review(world)
    world.svc.advance_round(OFFICIAL, ROUND)
    return ids


async def test_publish_without_the_gateway_sends_table_chart_and_files(world: BotWorld) -> None:
    boss = await official(world)
    await to_results(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.publish"))
    ask = current(world, boss, menu)
    assert world.svc.results(ROUND) is None  # nothing before the confirmation
    before = len(world.messages(boss))
    await world.press(boss, ask, world.t("bot.admin.publish_yes"))
    assert world.svc.results(ROUND) is not None
    assert last_entry(world)["kind"] == "results.published"
    sent = world.messages(boss)[before:]
    assert text_of(sent[0]) == world.t(
        "bot.admin.published", count=len(world.svc.results(ROUND)["selected"])
    )  # type: ignore[index]  # noqa: E501
    # the table names proposals as residents know them ("#1"), not by id ("gg2017-1")
    assert any(" #1 " in text_of(m) for m in sent)
    assert not any("gg2017-1" in text_of(m) for m in sent)
    assert any(m["photo"] for m in sent)
    names = [m["document"]["file_name"] for m in sent if m.get("document")]
    assert names == [f"results-{ROUND}.csv", f"results-{ROUND}.xlsx"]


async def test_publish_goes_through_the_gateway_hook_when_wired(world: BotWorld) -> None:
    boss = await official(world)
    await to_results(world)
    calls: list[tuple[int, str, bool]] = []

    async def hook(official_id: int, round_id: str, announce: bool) -> dict[str, Any]:
        calls.append((official_id, round_id, announce))
        return {"selected": 2, "block": 7, "verify_url": "https://v", "csv_url": "https://c",
                "xlsx_url": "https://x", "broadcast": 1}  # fmt: skip

    world.services.extra["publish_results"] = hook
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.publish"))
    done = await world.press(
        boss, current(world, boss, menu), world.t("bot.admin.publish_announce")
    )
    assert calls == [(boss, ROUND, True)]
    summary = world.t(
        "bot.admin.published_channel", selected=2, block=7, verify_url="https://v",
        csv_url="https://c", xlsx_url="https://x",
    )  # fmt: skip
    assert text_of(done) == summary + "\n" + world.t("bot.admin.published_announced")


async def test_broadcast_to_one_region_is_previewed_confirmed_and_delivered(
    world: BotWorld,
) -> None:
    boss = await official(world)
    suwon, yeoncheon = world.user("수원"), world.user("연천")
    await world.register(suwon, "수원시")
    await world.register(yeoncheon, "연천군")
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.broadcast"))
    assert text_of(world.last(boss)) == world.t("bot.admin.bc_ask", max="3,500")
    audience = await world.text(boss, "2월 23일 킨텍스에서 심사가 열립니다.")
    regions = await world.press(boss, audience, world.t("bot.admin.bc_by_region"))
    await world.press(boss, regions, world.t("participation.region.suwon"))
    assert world.svc.broadcast_audience("suwon") == 2  # the resident and the official
    shown = [text_of(m) for m in world.messages(boss)[-3:]]
    suwon_name = world.t("participation.region.suwon")
    assert shown[0] == world.t("bot.admin.bc_preview_head", audience=suwon_name, count="2")
    framed = world.t("participation.notice.broadcast", text="2월 23일 킨텍스에서 심사가 열립니다.")
    assert shown[1] == framed
    confirm = world.last(boss)
    tap = world.data_of(confirm, world.t("bot.admin.bc_send", count="2"))
    world.srv.press(boss, confirm["message_id"], tap)
    world.srv.press(boss, confirm["message_id"], tap)  # a double tap queues it once
    await world.drain()
    entry = last_entry(world)
    assert entry["kind"] == "broadcast.queued"
    assert entry["body"]["region"] == "suwon" and entry["body"]["recipients"] == 2
    assert "킨텍스" not in json.dumps(entry, ensure_ascii=False)  # only the commitment
    assert text_of(current(world, boss, confirm)) == world.t("bot.admin.bc_queued", count="2")

    sender = OutboxSender(world.svc, world.app.bot, world.catalog, per_chat_interval=0.0)
    await sender.drain(budget_s=10)
    assert text_of(world.last(suwon)) == framed
    assert all(text_of(m) != framed for m in world.messages(yeoncheon))
    assert sum(text_of(m) == framed for m in world.messages(boss)) == 2  # preview + delivery


async def test_the_broadcast_progress_speaks_as_the_admin_screens(world: BotWorld) -> None:
    """The official's progress message calls it a 공지 in 합쇼체, as the broadcast screens do
    (it said 안내 in 해요체: 안내를 다 보냈어요)."""
    boss = await official(world)
    await world.register(world.user("수원"), "수원시")
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.broadcast"))
    audience = await world.text(boss, "2월 23일 킨텍스에서 심사가 열립니다.")
    confirm = await world.press(boss, audience, world.t("bot.admin.bc_all"))
    await world.press(boss, confirm, world.t("bot.admin.bc_send", count="2"))
    sender = OutboxSender(
        world.svc, world.app.bot, world.catalog, per_chat_interval=0.0, official_of=lambda b: boss
    )
    await sender.drain(budget_s=10)
    done = text_of(world.last(boss))
    figures = {"total": "2", "sent": "2", "blocked": "0", "failed": "0"}
    assert done == world.t("gateway.broadcast.done", **figures)
    assert done.startswith("공지") and "안내" not in done and "어요" not in done
    assert done.split(":")[1].strip().split(".")[0].endswith("습니다")
    for key in ("gateway.broadcast.progress", "gateway.broadcast.done_unsure"):
        text = world.t(key, unsure="1", **figures)
        assert text.startswith("공지") and "안내" not in text and "어요" not in text
        assert "announcement" in world.t(key, "en", unsure="1", **figures)


async def test_a_double_tap_on_the_audience_is_no_failure_and_queues_once(
    world: BotWorld,
) -> None:
    """The second tap on 'All' is told the button was used: the preview and its confirmation
    come once (they came twice, and the second confirmation answered 'expired'), and the
    notice is queued once."""
    boss = await official(world)
    await world.register(world.user("수원"), "수원시")
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.broadcast"))
    audience = await world.text(boss, "2월 23일 킨텍스에서 심사가 열립니다.")
    tap = world.data_of(audience, world.t("bot.admin.bc_all"))
    world.srv.press(boss, audience["message_id"], tap)
    world.srv.press(boss, audience["message_id"], tap)  # tapped again before the redraw
    await world.drain()
    assert world.t("bot.error.generic") not in [text_of(m) for m in world.messages(boss)]
    everyone = world.t("bot.admin.bc_everyone")
    head = world.t("bot.admin.bc_preview_head", audience=everyone, count="2")
    assert text_of(current(world, boss, audience)) == head
    send = world.t("bot.admin.bc_send", count="2")
    confirms = [m for m in world.messages(boss) if send in labels(m)]
    assert len(confirms) == 1  # the preview came once, and its confirmation
    notice = world.t(BROADCAST_KEY, text="2월 23일 킨텍스에서 심사가 열립니다.")
    assert [text_of(m) for m in world.messages(boss)].count(notice) == 1
    answers = [a.get("text") for a in world.srv.answered_callbacks(boss)]
    assert world.t("bot.button.expired") in answers
    await world.press(boss, confirms[0], send)
    leaves = world.ledger.entries(0, world.ledger.size())
    queued = [leaf for leaf in leaves if json.loads(leaf)["entry"]["kind"] == "broadcast.queued"]
    assert len(queued) == 1
    assert len(world.svc.claim_outbox(10)) == 2


async def test_a_cancelled_broadcast_sends_nothing(world: BotWorld) -> None:
    boss = await official(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.broadcast"))
    audience = await world.text(boss, "보내지 않을 공지")
    await world.press(boss, audience, world.t("bot.admin.bc_all"))
    cancelled = await world.press(boss, world.last(boss), world.t("bot.admin.cancel"))
    assert text_of(cancelled) == world.t("bot.admin.bc_cancelled")
    assert last_entry(world)["kind"] != "broadcast.queued"
    assert world.svc.claim_outbox(10) == []


async def test_the_other_button_of_a_used_confirmation_publishes_nothing_again(
    world: BotWorld,
) -> None:
    """Both buttons of the confirmation publish; after one, the other answered 'published'
    again with a second table and second files, as if the results had gone out twice."""
    boss = await official(world)
    await to_results(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.publish"))
    ask = current(world, boss, menu)
    first = world.data_of(ask, world.t("bot.admin.publish_yes"))
    other = world.data_of(ask, world.t("bot.admin.publish_announce"))
    world.srv.press(boss, ask["message_id"], first)
    world.srv.press(boss, ask["message_id"], other)  # a quick second tap, before the edit
    await world.drain()
    count = len(world.svc.results(ROUND)["selected"])  # type: ignore[index]
    published = world.t("bot.admin.published", count=count)
    assert [text_of(m) for m in world.messages(boss)].count(published) == 1
    assert last_entry(world)["kind"] == "results.published"
    assert sum(bool(m.get("document")) for m in world.messages(boss)) == 2
    title = world.svc.round(ROUND).title
    assert text_of(current(world, boss, ask)) == world.t("bot.admin.publish_already", round=title)
    toast = world.srv.answered_callbacks(boss)[-1]["text"]
    assert toast == world.t("participation.error.results_published")


async def test_publish_after_publication_says_so_and_sends_the_files_again(
    world: BotWorld,
) -> None:
    """The menu's 결과 발표 asked 'publish the results?' again once they were out."""
    boss = await official(world)
    await to_results(world)
    world.svc.publish_results(OFFICIAL, ROUND)
    size = world.ledger.size()
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.publish"))
    shown = current(world, boss, menu)
    title = world.svc.round(ROUND).title
    assert text_of(shown) == world.t("bot.admin.publish_already", round=title)
    assert world.t("bot.admin.publish_yes") not in labels(shown)
    before = len(world.messages(boss))
    await world.press(boss, shown, world.t("bot.admin.publish_files_again"))
    sent = world.messages(boss)[before:]
    count = len(world.svc.results(ROUND)["selected"])  # type: ignore[index]
    assert text_of(sent[0]) == world.t("bot.admin.published_again", count=count)
    names = [m["document"]["file_name"] for m in sent if m.get("document")]
    assert names == [f"results-{ROUND}.csv", f"results-{ROUND}.xlsx"]
    assert world.ledger.size() == size


async def test_the_confirmation_names_the_paper_tallies_left_unconfirmed(world: BotWorld) -> None:
    """It said only 'check that every paper tally is confirmed', though it knew one was not:
    an unconfirmed tally is silently left out of the results."""
    boss = await official(world)
    ids = submit(world, resident(world, "제안자"), 2)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    world.svc.enter_paper_tally(
        OFFICIAL, session, ids[0], ballots=8, points=30, sheet_sha256="a" * 64
    )
    world.svc.advance_round(OFFICIAL, ROUND)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.publish"))
    ask = current(world, boss, menu)
    assert world.t("bot.admin.publish_papers_pending", count=1) in text_of(ask)
    assert world.t("bot.admin.menu.paper") in labels(ask)


async def test_results_published_without_announcing_can_be_announced_later(
    world: BotWorld,
) -> None:
    """Published with 결과 발표 alone, the residents can still be told from the screen that
    says the results are out (the gateway queues the announcement once per round)."""
    boss = await official(world)
    await to_results(world)
    world.svc.publish_results(OFFICIAL, ROUND)
    calls: list[tuple[int, str, bool]] = []

    async def hook(official_id: int, round_id: str, announce: bool) -> dict[str, Any]:
        calls.append((official_id, round_id, announce))
        return {"selected": 2, "block": 7, "verify_url": "https://v", "csv_url": "https://c",
                "xlsx_url": "https://x", "broadcast": 1 if announce else None}  # fmt: skip

    world.services.extra["publish_results"] = hook
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.publish"))
    shown = current(world, boss, menu)
    done = await world.press(boss, shown, world.t("bot.admin.announce_results"))
    assert calls == [(boss, ROUND, True)]
    assert text_of(done).endswith("\n" + world.t("bot.admin.announced_once"))


async def test_the_phase_screen_asks_to_publish_before_closing(world: BotWorld) -> None:
    boss = await official(world)
    await to_results(world)
    menu = await world.text(boss, "/admin")
    shown = await world.press(boss, menu, world.t("bot.admin.menu.phase"))
    title = world.svc.round(ROUND).title
    assert text_of(shown) == world.t("participation.error.results_unpublished", round=title)
    assert world.t("bot.admin.phase_yes") not in labels(shown)
    ask = await world.press(boss, shown, world.t("bot.admin.menu.publish"))
    await world.press(boss, ask, world.t("bot.admin.publish_yes"))
    assert world.svc.results(ROUND) is not None
    menu = await world.text(boss, "/admin")
    confirm = await world.press(boss, menu, world.t("bot.admin.menu.phase"))
    await world.press(boss, confirm, world.t("bot.admin.phase_yes"))
    assert world.svc.round(ROUND).phase == "closed"


async def test_with_the_gateway_the_confirmation_comes_before_the_files(world: BotWorld) -> None:
    from gateway import store
    from gateway.results import ResultsPublisher
    from gateway.results import bot_hooks

    boss = await official(world)
    await to_results(world)
    store.metadata.create_all(world.ledger.engine)
    publisher = ResultsPublisher(
        world.svc, world.ledger, world.app.bot, world.catalog,
        store.ResultsPosts(world.ledger.engine), channel="@gg_ledger", base_url="https://t.example",
    )  # fmt: skip
    world.services.extra.update(bot_hooks(publisher))
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.publish"))
    before = len(world.messages(boss))
    await world.press(boss, current(world, boss, menu), world.t("bot.admin.publish_yes"))
    sent = world.messages(boss)[before:]
    kinds = ["file" if m.get("document") else text_of(m).split("\n")[0] for m in sent]
    head = world.t("bot.admin.published_channel", selected=0, block=0, verify_url="",
                   csv_url="", xlsx_url="").split("\n")[0][:8]  # fmt: skip
    assert [k == "file" for k in kinds] == [False, True, True], kinds
    assert kinds[0].startswith(head)


async def test_before_the_results_phase_the_screen_says_when_results_can_be_published(
    world: BotWorld,
) -> None:
    boss = await official(world)
    submit(world, resident(world, "제안자"), 1)  # the round takes submissions
    menu = await world.text(boss, "/admin")
    shown = await world.press(boss, menu, world.t("bot.admin.menu.publish"))
    shown = current(world, boss, menu)
    assert text_of(shown) == world.t(
        "bot.admin.publish_not_yet",
        round=world.svc.round(ROUND).title,
        phase=world.t("participation.phase.submission"),
        review_ends="2017년 2월 23일 (목) 오후 6:00",
    )
    assert world.t("bot.admin.publish_yes") not in labels(shown)
    assert world.t("bot.admin.publish_announce") not in labels(shown)
    assert world.t("bot.admin.menu.phase") in labels(shown)  # where the round is moved on
    assert world.svc.results(ROUND) is None
