"""Officials through the bot: /admin only for officials, a round created step by step with
defaults, opened and advanced with confirmations, invitations, figures and hiding."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from participation.store import tables as t
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


def set_role(world: BotWorld, uid: int, role: str) -> None:
    """Change an official's role in place (no service does it; an admin may be made clerk)."""
    with world.svc._engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.update(t.officials).where(t.officials.c.user_id == uid).values(role=role))


pytestmark = pytest.mark.asyncio


async def test_admin_is_only_for_officials(world: BotWorld) -> None:
    uid = world.user()
    await world.register(uid, "수원시")
    assert text_of(await world.text(uid, "/admin")) == world.t("participation.error.not_official")
    menu = world.last(uid, lambda m: "keyboard" in (m.get("reply_markup") or {}))
    assert world.t("bot.menu.admin") not in str(menu["reply_markup"])
    boss = await official(world)
    assert world.t("bot.admin.joined", role=world.t("participation.role.admin")) in [
        text_of(m) for m in world.messages(boss)
    ]
    head = world.t(
        "bot.admin.head", round="2017 따복공동체", phase=world.t("participation.phase.submission")
    )
    assert text_of(await world.text(boss, world.t("bot.menu.admin"))) == head


async def test_a_round_is_created_step_by_step_then_opened_and_advanced(world: BotWorld) -> None:
    boss = await official(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.new_round"))
    assert text_of(world.last(boss)) == world.t("bot.admin.new.ask_title")
    cats = await world.text(boss, "2018 마을 공모")
    cats = await world.press(boss, cats, world.t("participation.category.economy"))  # off
    assert "✓ " + world.t("participation.category.economy") not in labels(cats)
    budget = await world.press(boss, cats, world.t("bot.admin.new.next"))
    assert text_of(budget) == world.t("bot.admin.new.ask_budget")
    assert text_of(await world.text(boss, "얼마")) == world.t("bot.admin.new.budget_invalid")
    zero = text_of(await world.text(boss, "0"))  # read, but it is no budget
    assert zero == world.t("bot.admin.new.budget_zero") and "0원보다" in zero
    weights = await world.text(boss, "5억")
    assert text_of(await world.text(boss, "50 30")) == world.t("bot.admin.new.weights_invalid")
    deadlines = await world.text(boss, "40 30 30")
    assert weights != deadlines
    bad = await world.text(boss, "2018-03-01 18:00\n2018-02-01 18:00\n2018-03-10 18:00")
    assert text_of(bad) == world.t("bot.admin.new.deadlines_invalid")
    day_first = await world.text(boss, "01.03.2018 18:00\n08.03.2018 18:00\n15.03.2018 18:00")
    assert text_of(day_first) == world.t("bot.admin.new.deadlines_invalid")  # ambiguous
    assert "2026.12.21 18:00" in text_of(day_first)  # the message shows the forms it takes
    preview = await world.text(boss, "2018.03.01 18:00\n2018/3/8 18:00\n2018. 3. 15. 18:00")
    assert "500,000,000원" in text_of(preview) and "2018 마을 공모" in text_of(preview)
    created = await world.press(boss, preview, world.t("bot.admin.new.create"))
    rnd = next(r for r in world.svc.rounds() if r.title == "2018 마을 공모")
    assert rnd.phase == "draft" and rnd.rules.budget_cap == 500_000_000
    assert rnd.rules.weights.onsite == 30 and rnd.rules.weights.online == 30
    assert "economy" not in rnd.rules.categories and len(rnd.rules.categories) == 5
    assert rnd.rules.deadlines.review_ends == 1521104400  # 2018-03-15 18:00 KST

    confirm = await world.press(boss, created, world.t("participation.phase.submission"))
    assert world.t("bot.admin.phase_yes") in labels(confirm)
    assert world.svc.round(rnd.round_id).phase == "draft"  # nothing before the confirmation
    done = await world.press(boss, confirm, world.t("bot.admin.phase_yes"))
    assert world.svc.round(rnd.round_id).phase == "submission"
    phase = world.t("participation.phase.submission")
    assert text_of(done) == world.t("bot.admin.phase_done", round="2018 마을 공모", phase=phase)
    menu = await world.press(boss, done, world.t("bot.admin.back"))
    confirm = await world.press(boss, menu, world.t("bot.admin.menu.phase"))
    await world.press(boss, confirm, world.t("bot.admin.phase_yes"))
    assert world.svc.round(rnd.round_id).phase == "endorsement"


async def test_the_default_schedule_and_budget_are_one_tap_each(world: BotWorld) -> None:
    boss = await official(world)
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.new_round"))
    cats = await world.text(boss, "기본값 공모")
    budget = await world.press(boss, cats, world.t("bot.admin.new.next"))
    weights = await world.press(boss, budget, "100,000,000")
    deadlines = await world.press(boss, weights, "50")
    preview = await world.press(boss, deadlines, world.t("bot.admin.new.deadlines_default"))
    await world.press(boss, preview, world.t("bot.admin.new.create"))
    rnd = next(r for r in world.svc.rounds() if r.title == "기본값 공모")
    assert rnd.rules.budget_cap == 100_000_000 and rnd.rules.weights.judges == 50
    day = 86400
    assert rnd.rules.deadlines.endorsement_ends - rnd.rules.deadlines.submission_ends == 7 * day


async def test_invitations_figures_and_hiding(world: BotWorld) -> None:
    boss = await official(world)
    author = resident(world, "제안자")
    ids = submit(world, author, 3)
    menu = await world.text(boss, "/admin")
    judges = await world.press(boss, menu, world.t("bot.admin.menu.judges"))
    await world.press(boss, judges, world.t("bot.admin.judges.invite"))
    qr = world.last(boss)
    assert qr["photo"] and text_of(qr) == world.t("bot.admin.invite_qr")
    invite = world.messages(boss)[-2]
    link = next(w for w in text_of(invite).split() if w.startswith("https://t.me/"))
    judge = world.user("심사위원")
    await world.register(judge, "수원시")
    await world.deep_link(judge, link)
    assert world.svc.judge_round(judge) == ROUND

    menu = await world.text(boss, "/admin")  # the judges screen replaced the menu in place
    await world.press(boss, menu, world.t("bot.admin.menu.figures"))
    figures = current(world, boss, menu)
    assert "제안 3건" in text_of(figures) and "심사위원 1" in text_of(figures)

    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.hide"))
    reasons = await world.text(boss, "#2")
    confirm = await world.press(boss, reasons, world.t("participation.reason.spam"))
    assert not world.svc.proposal(ids[1]).hidden
    await world.press(boss, confirm, world.t("bot.admin.hide_yes"))
    card = world.svc.proposal(ids[1])
    assert card.hidden and card.hide_reason == "spam"

    # a clerk's menu holds the hall's screens only; an admin screen refuses a clerk at its
    # first step (a button issued while they were admin), and the service checks the role on
    # every write (a hiding started by an admin who became clerk halfway is refused at the end)
    clerk = await official(world, "집계", role="clerk")
    clerk_menu = await world.text(clerk, "/admin")
    assert labels(clerk_menu) == [
        world.t(k)
        for k in ("bot.admin.menu.figures", "bot.admin.menu.onsite", "bot.admin.menu.paper",
                  "bot.admin.menu.rounds")
    ]  # fmt: skip
    assert world.t("bot.admin.menu.hide") in labels(menu)  # an admin's menu has them all
    set_role(world, clerk, "admin")
    admin_menu = await world.text(clerk, "/admin")
    set_role(world, clerk, "clerk")
    refused = await world.press(clerk, admin_menu, world.t("bot.admin.menu.hide"))
    assert text_of(refused) == world.t("participation.error.admin_only")
    set_role(world, clerk, "admin")
    await world.press(clerk, await world.text(clerk, "/admin"), world.t("bot.admin.menu.hide"))
    reasons = await world.text(clerk, "3")
    confirm = await world.press(clerk, reasons, world.t("participation.reason.abuse"))
    set_role(world, clerk, "clerk")
    refused = await world.press(clerk, confirm, world.t("bot.admin.hide_yes"))
    assert text_of(refused) == world.t("participation.error.admin_only")
    assert not world.svc.proposal(ids[2]).hidden
    to_review(world)


async def test_deadlines_in_the_past_are_refused_and_a_late_draft_says_why(
    world: BotWorld,
) -> None:
    """Typed deadlines that have passed are refused at once (they used to be accepted, and
    opening the round then failed with 'submission deadline is in the past', in English); a
    draft whose submission deadline passed before it was opened says so in Korean."""
    boss = await official(world)
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.new_round"))
    budget = await world.press(
        boss, await world.text(boss, "지난 공모"), world.t("bot.admin.new.next")
    )
    weights = await world.press(boss, budget, "100,000,000")
    await world.press(boss, weights, "50")
    past = await world.text(boss, "2016-03-01 18:00\n2016-03-08 18:00\n2016-03-15 18:00")
    assert text_of(past) == world.t("bot.admin.new.deadlines_past")
    assert not any(r.title == "지난 공모" for r in world.svc.rounds())
    preview = await world.text(boss, "2017-03-01 18:00\n2017-03-08 18:00\n2017-03-15 18:00")
    await world.press(boss, preview, world.t("bot.admin.new.create"))

    world.clock.advance(days=40)  # the draft waits past its submission deadline
    menu = await world.text(boss, "/admin")
    confirm = await world.press(boss, menu, world.t("bot.admin.menu.phase"))
    refused = await world.press(boss, confirm, world.t("bot.admin.phase_yes"))
    deadline = "2017년 3월 1일 (수) 오후 6:00"  # as every screen writes dates
    assert text_of(refused) == world.t("participation.error.open_too_late", deadline=deadline)
    assert "past" not in text_of(refused)


async def test_other_rounds_with_none_yet_says_so_and_leads_back(world: BotWorld) -> None:
    """'Other rounds' on a fresh install (no round at all) said 'something went wrong': its
    keyboard was empty, which Telegram refuses. It now says there is no round yet, and the
    list always ends with the way back to the admin menu."""
    boss = await official(world)
    menu = await world.text(boss, "/admin")
    listed = await world.press(boss, menu, world.t("bot.admin.menu.rounds"))
    assert labels(listed)[-1] == world.t("bot.admin.back")
    world.svc.rounds = lambda: []  # type: ignore[method-assign]
    menu = await world.text(boss, "/admin")
    empty = await world.press(boss, menu, world.t("bot.admin.menu.rounds"))
    assert text_of(empty) == world.t("bot.admin.no_round")
    assert labels(empty) == [world.t("bot.admin.back")]


async def test_a_hidden_proposal_can_be_shown_again(world: BotWorld) -> None:
    """The hiding confirmation says a hiding can be lifted later, but no screen did it: the
    number of a hidden proposal now offers to show it again, and the author is told."""
    boss = await official(world)
    author = resident(world, "제안자")
    pid = submit(world, author, 1)[0]
    world.svc.hide_proposal(OFFICIAL, pid, "spam")
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.hide"))
    ask = await world.text(boss, "1")
    reason = world.t("participation.reason.spam")
    assert text_of(ask).endswith(world.t("bot.admin.restore_ask", reason=reason))
    done = await world.press(boss, ask, world.t("bot.admin.restore_yes"))
    assert text_of(done) == world.t("bot.admin.restored")
    assert not world.svc.proposal(pid).hidden


@pytest.mark.parametrize(
    ("locale", "region", "said"),
    [("ko", "수원시", ("원화로", "3,100,000,000원")), ("en", "Suwon-si", ("won", "3,100,000,000"))],
)
async def test_a_budget_in_dollars_is_refused_saying_amounts_are_in_won(
    world: BotWorld, locale: str, region: str, said: tuple[str, str]
) -> None:
    """An official who types '$1,500,000' learns that amounts are in won, with an example,
    and the next answer in won goes on to the weights."""
    boss = world.user("Officer", language_code=locale)
    await world.register(boss, region, locale)
    await world.deep_link(boss, world.services.deep_link(world.svc.invite_official(OFFICIAL)))
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.new_round", locale))
    cats = await world.text(boss, "2018 Village Round")
    await world.press(boss, cats, world.t("bot.admin.new.next", locale))
    refused = text_of(await world.text(boss, "$1,500,000"))
    assert refused == world.t("bot.admin.new.budget_invalid", locale)
    unit, example = said
    assert unit in refused and example in refused, refused
    weights = await world.text(boss, "1,500,000원")
    assert text_of(weights) == world.t("bot.admin.new.ask_weights", locale)
