"""A resident's unfinished proposal outlives every other flow.

An official is a resident too: halfway through a proposal they may send a notice, hide a
proposal, create a round or enter a paper tally. Those flows store their own step and data
and end by clearing it; the draft (and, during an edit, the new draft kept aside) stays, and
✏️ 제안하기 picks it up as after any interruption. Only the proposal flow's own endings
(submit, cancel, save or cancel an edit) forget it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable

import pytest

from participation.domain.events import JSON
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
TITLE, BODY = "경로당 앞 횡단보도", "어르신들이 자주 건너는 길이라 신호등이 필요해요."
Flow = Callable[[BotWorld, int], Awaitable[None]]


async def broadcast_cancelled(world: BotWorld, boss: int) -> None:
    """공지 보내기: the text, everyone, then Cancel."""
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.broadcast"))
    audience = await world.text(boss, "2월 23일 킨텍스에서 심사가 열립니다.")
    preview = await world.press(boss, audience, world.t("bot.admin.bc_all"))
    assert world.svc.get_conversation(boss).step == "admin.bc.preview"
    done = await world.press(boss, preview, world.t("bot.admin.cancel"))
    assert text_of(done) == world.t("bot.admin.bc_cancelled")


async def broadcast_sent(world: BotWorld, boss: int) -> None:
    """공지 보내기 to the end: queued."""
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.broadcast"))
    audience = await world.text(boss, "심사 일정을 알려 드립니다.")
    preview = await world.press(boss, audience, world.t("bot.admin.bc_all"))
    count = f"{world.svc.broadcast_audience(None):,}"
    sent = await world.press(boss, preview, world.t("bot.admin.bc_send", count=count))
    assert text_of(sent) == world.t("bot.admin.bc_queued", count=count)


async def hidden(world: BotWorld, boss: int) -> None:
    """숨기기 to the end: another resident's proposal #1 is hidden."""
    pid = submit(world, resident(world, "제안자"), 1)[0]
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.hide"))
    reasons = await world.text(boss, "#1")
    confirm = await world.press(boss, reasons, world.t("participation.reason.spam"))
    await world.press(boss, confirm, world.t("bot.admin.hide_yes"))
    assert world.svc.proposal(pid).hidden


async def round_created(world: BotWorld, boss: int) -> None:
    """새 공모 to the end, with the defaults: a draft round."""
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.new_round"))
    cats = await world.text(boss, "2018 마을 공모")
    budget = await world.press(boss, cats, world.t("bot.admin.new.next"))
    weights = await world.press(boss, budget, "100,000,000")
    deadlines = await world.press(boss, weights, "50")
    preview = await world.press(boss, deadlines, world.t("bot.admin.new.deadlines_default"))
    await world.press(boss, preview, world.t("bot.admin.new.create"))
    assert any(r.title == "2018 마을 공모" for r in world.svc.rounds())


FLOWS: dict[str, Flow] = {
    "broadcast cancelled": broadcast_cancelled,
    "broadcast sent": broadcast_sent,
    "hide": hidden,
    "round created": round_created,
}


async def half_written(world: BotWorld, uid: int) -> dict[str, JSON]:
    """Start a proposal up to its field buttons; return the stored draft."""
    await world.text(uid, world.t("bot.menu.submit"))
    await world.text(uid, TITLE)
    await world.text(uid, BODY)
    stored = world.svc.get_conversation(uid)
    assert stored.step == "submit.category"
    draft = stored.data["draft"]
    assert isinstance(draft, dict) and draft["title"] == TITLE
    return draft


async def finish(world: BotWorld, uid: int) -> str:
    """From the field buttons to a submitted proposal; return its id."""
    await world.press(uid, world.last(uid), "복지·돌봄")
    asked = await world.text(uid, "200만")
    preview = await world.press(uid, asked, world.t("bot.submit.skip_photo"))
    await world.press(uid, preview, world.t("bot.submit.confirm"))
    return world.svc.my_proposals(uid)[0].proposal_id


def said(world: BotWorld, uid: int, count: int) -> list[str]:
    return [text_of(m) for m in world.messages(uid)[-count:]]


@pytest.mark.parametrize("flow", list(FLOWS), ids=list(FLOWS))
async def test_a_half_written_proposal_survives_an_officials_flow(
    world: BotWorld, flow: str
) -> None:
    boss = await official(world)
    draft = await half_written(world, boss)
    await FLOWS[flow](world, boss)
    kept = world.svc.get_conversation(boss)
    assert (kept.step, kept.data) == ("", {"draft": draft})

    await world.text(boss, world.t("bot.menu.submit"))  # resumes at the missing field
    assert said(world, boss, 2) == [
        world.t("bot.submit.resume"),
        world.t("bot.submit.ask_category"),
    ]
    pid = await finish(world, boss)
    card = world.svc.proposal(pid)
    assert (card.title, card.body, card.budget) == (TITLE, BODY, 2_000_000)
    assert card.category == "welfare" and card.round_id == ROUND
    assert world.svc.get_conversation(boss).version == 0  # submitted: forgotten


async def test_cancel_during_another_flow_ends_that_flow_and_keeps_the_draft(
    world: BotWorld,
) -> None:
    boss = await official(world)
    draft = await half_written(world, boss)
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.broadcast"))
    assert world.svc.get_conversation(boss).step == "admin.bc.text"
    reply = await world.text(boss, "/cancel")
    assert text_of(reply) == world.t("bot.cancelled") + "\n" + world.t("bot.submit.draft_kept")
    kept = world.svc.get_conversation(boss)
    assert (kept.step, kept.data) == ("", {"draft": draft})
    await world.text(boss, "이건 공지가 아니에요")  # the notice flow is over
    assert said(world, boss, 1) == [world.t("bot.not_understood")]
    await world.text(boss, world.t("bot.menu.submit"))
    assert said(world, boss, 2)[0] == world.t("bot.submit.resume")


async def test_an_interrupted_edit_still_saves_and_brings_the_aside_draft_back(
    world: BotWorld,
) -> None:
    boss = await official(world)
    await half_written(world, boss)
    pid = await finish(world, boss)
    aside = await half_written(world, boss)  # a second proposal, half written
    mine = await world.text(boss, world.t("bot.menu.activity"))
    preview = await world.press(boss, mine, world.t("bot.activity.edit", number=1))
    which = await world.press(boss, preview, world.t("bot.submit.fix"))
    await world.press(boss, which, world.t("bot.submit.field.title"))
    old_preview = await world.text(boss, "경로당 앞 신호등")
    editing = world.svc.get_conversation(boss).data["draft"]

    await round_created(world, boss)
    kept = world.svc.get_conversation(boss)
    assert (kept.step, kept.data) == ("", {"draft": editing, "aside": aside})
    await world.press(boss, old_preview, world.t("bot.submit.save_edit"))  # its step is gone
    assert world.srv.answered_callbacks(boss)[-1].get("text") == world.t("bot.button.expired")
    assert world.svc.proposal(pid).title == TITLE

    preview = await world.text(boss, world.t("bot.menu.submit"))  # back to the edit
    assert said(world, boss, 2)[0] == world.t("bot.submit.editing_now", number=1)
    assert "경로당 앞 신호등" in text_of(preview)
    await world.press(boss, preview, world.t("bot.submit.save_edit"))
    assert world.svc.proposal(pid).title == "경로당 앞 신호등"
    assert said(world, boss, 2)[0] == world.t("bot.submit.edited", number=1) + "\n" + world.t(
        "bot.submit.aside_kept"
    )
    kept = world.svc.get_conversation(boss)
    assert (kept.step, kept.data) == ("", {"draft": aside})
    await world.text(boss, world.t("bot.menu.submit"))
    assert said(world, boss, 2) == [
        world.t("bot.submit.resume"),
        world.t("bot.submit.ask_category"),
    ]


@pytest.mark.parametrize("ending", ["submitted", "cancelled"])
async def test_a_submitted_or_cancelled_draft_does_not_come_back(
    world: BotWorld, ending: str
) -> None:
    boss = await official(world)
    await half_written(world, boss)
    await broadcast_cancelled(world, boss)
    await world.text(boss, world.t("bot.menu.submit"))
    if ending == "submitted":
        await finish(world, boss)
    else:
        await world.press(boss, world.last(boss), "복지·돌봄")
        asked = await world.text(boss, "200만")
        preview = await world.press(boss, asked, world.t("bot.submit.skip_photo"))
        done = await world.press(boss, preview, world.t("bot.submit.cancel"))
        assert text_of(done) == world.t("bot.submit.cancelled")
    assert world.svc.get_conversation(boss).version == 0
    await broadcast_cancelled(world, boss)  # nothing to keep: nothing stored afterwards
    assert world.svc.get_conversation(boss).version == 0
    reply = await world.text(boss, "/cancel")
    assert text_of(reply) == world.t("bot.cancelled")
    await world.text(boss, world.t("bot.menu.submit"))  # a new proposal from the start
    assert said(world, boss, 1) == [world.t("bot.submit.ask_title", max=60)]
    assert world.t("bot.submit.resume") not in said(world, boss, 3)


async def test_an_old_cancel_button_during_another_flow_drops_only_the_draft(
    world: BotWorld,
) -> None:
    boss = await official(world)
    await half_written(world, boss)
    await world.press(boss, world.last(boss), "복지·돌봄")
    asked = await world.text(boss, "200만")
    preview = await world.press(boss, asked, world.t("bot.submit.skip_photo"))
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.broadcast"))
    done = await world.press(boss, preview, world.t("bot.submit.cancel"))
    assert text_of(done) == world.t("bot.submit.cancelled")
    left = world.svc.get_conversation(boss)
    assert (left.step, left.data) == ("admin.bc.text", {})
    audience = await world.text(boss, "공지는 이어서 써요.")  # the notice goes on
    assert world.t("bot.admin.bc_all") in labels(audience)
    assert "draft" not in world.svc.get_conversation(boss).data


async def test_a_paper_tally_keeps_the_draft_too(world: BotWorld) -> None:
    """종이 집계 (in the review phase) to the end, its sheet photo included."""
    boss = await official(world)
    draft = await half_written(world, boss)
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.paper"))
    pick = await world.press(boss, current(world, boss, menu), world.t("bot.admin.paper_new"))
    session = world.t(  # sessions are named by when they started and their group (aedee0d)
        "bot.admin.session_name",
        number=1,
        opened="2017년 2월 1일 (수) 오전 9:00",
        group=world.t("bot.admin.all_groups"),
    )
    await world.press(boss, current(world, boss, pick), session)
    await world.text(boss, "1")
    await world.text(boss, "12 47")
    assert world.svc.get_conversation(boss).step == "admin.paper.photo"
    await world.photo(boss)  # the sheet: the tally's step takes it, not the draft's
    assert len(world.svc.paper_tallies(ROUND, boss)) == 1
    kept = world.svc.get_conversation(boss)
    assert (kept.step, kept.data) == ("", {"draft": draft})


async def at_body(world: BotWorld) -> tuple[int, dict[str, JSON]]:
    """A resident who typed a title: the body step waits; return them and their draft."""
    uid = world.user("민지")
    await world.register(uid)
    await world.text(uid, world.t("bot.menu.submit"))
    await world.text(uid, TITLE)
    stored = world.svc.get_conversation(uid)
    assert stored.step == "submit.body"
    draft = stored.data["draft"]
    assert isinstance(draft, dict)
    return uid, draft


@pytest.mark.parametrize("how", ["/start", "browse", "help"])
async def test_start_or_a_menu_button_leaves_the_proposal_and_says_it_is_kept(
    world: BotWorld, how: str
) -> None:
    """/start answered 'welcome back' and the flow went on: the next text became the body
    (or, at the title step, the title). Now the flow ends, the draft stays and they are told."""
    uid, draft = await at_body(world)
    kept = world.t("bot.submit.draft_kept")
    if how == "/start":
        reply = await world.text(uid, "/start")
        assert text_of(reply) == world.t("bot.start.welcome_back") + "\n" + kept
        assert reply["reply_markup"]["keyboard"]  # the main menu
    else:
        count = len(world.messages(uid))
        await world.text(uid, world.t(f"bot.menu.{how}"))
        assert text_of(world.messages(uid)[count]) == kept  # then the screen asked for
    stored = world.svc.get_conversation(uid)
    assert (stored.step, stored.data) == ("", {"draft": draft})
    await world.text(uid, "이건 본문이 아니에요")
    assert said(world, uid, 1) == [world.t("bot.not_understood")]
    assert world.svc.get_conversation(uid).data == {"draft": draft}
    await world.text(uid, world.t("bot.menu.submit"))
    assert said(world, uid, 2) == [
        world.t("bot.submit.resume"),
        world.t("bot.submit.ask_body", max="1,500"),
    ]


async def test_start_at_the_title_step_takes_no_title_afterwards(world: BotWorld) -> None:
    uid = world.user("민지")
    await world.register(uid)
    await world.text(uid, world.t("bot.menu.submit"))
    reply = await world.text(uid, "/start")
    assert text_of(reply) == world.t("bot.start.welcome_back")  # nothing written: nothing kept
    await world.text(uid, "경로당 앞 횡단보도")
    assert said(world, uid, 1) == [world.t("bot.not_understood")]
    assert world.svc.get_conversation(uid).step == ""


async def test_start_during_an_edit_keeps_the_edit_and_says_so(world: BotWorld) -> None:
    uid, _ = await at_body(world)
    await world.text(uid, "/cancel")
    submit(world, uid, 1)
    mine = await world.text(uid, world.t("bot.menu.activity"))
    preview = await world.press(uid, mine, world.t("bot.activity.edit", number=1))
    which = await world.press(uid, preview, world.t("bot.submit.fix"))
    await world.press(uid, which, world.t("bot.submit.field.title"))
    editing = world.svc.get_conversation(uid).data["draft"]
    reply = await world.text(uid, "/start")
    assert text_of(reply) == world.t("bot.start.welcome_back") + "\n" + world.t(
        "bot.submit.edit_kept", number=1
    )
    stored = world.svc.get_conversation(uid)
    assert (stored.step, stored.data) == ("", {"draft": editing})
    await world.text(uid, "새 제목이 아니에요")
    assert said(world, uid, 1) == [world.t("bot.not_understood")]
    await world.text(uid, world.t("bot.menu.submit"))
    assert said(world, uid, 2)[0] == world.t("bot.submit.editing_now", number=1)


async def test_start_at_the_region_step_asks_the_region_again(world: BotWorld) -> None:
    """After agreeing, /start asked for the consent again; now it asks the region again."""
    uid = world.user("민지")
    await world.text(uid, "/start")
    agree = world.t("bot.privacy.agree")
    await world.press(uid, world.with_button(uid, agree), agree)
    regions = await world.text(uid, "/start")
    assert text_of(regions) == world.t("bot.start.choose_region")
    assert world.svc.get_conversation(uid).step == "start.region"
    await world.press(uid, regions, "수원시")
    resident = world.svc.resident(uid)
    assert resident is not None and resident.registered and resident.region == "suwon"


@pytest.mark.parametrize("command", ["/help", "/admin", "/receipts"])
async def test_a_command_that_opens_another_screen_leaves_the_proposal_and_says_it_is_kept(
    world: BotWorld, command: str
) -> None:
    """/help, /admin ... answered with their screen and left the step stored: the next text
    became the proposal's body. Now they end the flow as a menu button does."""
    boss = await official(world)
    await world.text(boss, world.t("bot.menu.submit"))
    await world.text(boss, TITLE)
    stored = world.svc.get_conversation(boss)
    assert stored.step == "submit.body"
    draft = stored.data["draft"]
    count = len(world.messages(boss))
    await world.text(boss, command)
    shown = world.messages(boss)[count:]
    assert text_of(shown[0]) == world.t("bot.submit.draft_kept") and len(shown) > 1
    stored = world.svc.get_conversation(boss)
    assert (stored.step, stored.data) == ("", {"draft": draft})
    await world.text(boss, "이건 본문이 아니에요")
    assert said(world, boss, 1) == [world.t("bot.not_understood")]
    await world.text(boss, "/propose")  # the proposal's own command picks it up
    assert said(world, boss, 2) == [
        world.t("bot.submit.resume"),
        world.t("bot.submit.ask_body", max="1,500"),
    ]


async def test_propose_at_the_body_step_goes_on_with_the_proposal(world: BotWorld) -> None:
    uid, draft = await at_body(world)
    count = len(world.messages(uid))
    await world.text(uid, "/propose")
    assert world.t("bot.submit.draft_kept") not in [text_of(m) for m in world.messages(uid)[count:]]
    assert world.svc.get_conversation(uid).step == "submit.body"
    await world.text(uid, BODY)
    assert world.svc.get_conversation(uid).data["draft"]["body"] == BODY  # type: ignore[index]
