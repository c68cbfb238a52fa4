"""A judge's card drawn before the review deadline and pressed after it, while the round still
waits in review (the clock moves it once every press received before the deadline is
applied): the press is refused, and what it leaves on screen is the read-only card, not
buttons that can only be refused again."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.e2e_bot import KST
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio
END = dt.datetime(2017, 2, 23, 18, tzinfo=KST)  # the world's review_ends
ENDED = "2017년 2월 23일 (목) 오후 6:00"  # END as the cards say when the review ended


async def card_at_1759(world: BotWorld) -> tuple[int, dict[str, object]]:
    submit(world, resident(world, "제안자"), 2)
    to_review(world)
    judge = world.user("심사위원")
    await world.register(judge, "수원시")
    await world.deep_link(judge, world.services.deep_link(world.svc.invite_judge(OFFICIAL, ROUND)))
    world.clock.now = END - dt.timedelta(minutes=1)
    return judge, await world.text(judge, world.t("bot.menu.judge"))


async def tap(world: BotWorld, uid: int, message: dict[str, object], index: int) -> None:
    """Press the ``index``-th button of the message's keyboard (labels repeat: 1-5 a row)."""
    markup = message.get("reply_markup") or {}
    assert isinstance(markup, dict)
    buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
    world.srv.press(uid, message["message_id"], str(buttons[index]["callback_data"]))
    await world.drain()


def read_only(world: BotWorld, message: dict[str, object]) -> bool:
    shown = labels(message)
    return "1" not in shown and world.t("bot.judge.recuse") not in shown


async def test_a_conflict_declared_after_the_deadline_asks_nothing(world: BotWorld) -> None:
    """'⚖️ 이해충돌 신고' at 18:00:30 asked '…이해충돌을 신고할까요?' with '네, 회피할게요',
    which was refused with the deadline and stayed there to be refused again."""
    judge, card = await card_at_1759(world)
    world.clock.now = END + dt.timedelta(seconds=30)
    before = len(world.messages(judge))
    await world.press(judge, card, world.t("bot.judge.recuse"))

    shown = current(world, judge, card)
    assert world.t("bot.judge.recuse_yes") not in labels(shown)
    assert read_only(world, shown)
    assert world.t("bot.judge.state.over_missing", ended=ENDED) in text_of(shown)
    assert ENDED in text_of(shown)  # when the review ended: the deadline
    assert len(world.messages(judge)) == before


async def test_the_last_criterion_pressed_after_the_deadline_leaves_a_read_only_card(
    world: BotWorld,
) -> None:
    """Three criteria chosen before 18:00, the fourth at 18:00:30: refused with the deadline,
    and the card kept its 1-5 buttons, each refused again."""
    judge, card = await card_at_1759(world)
    criteria = world.svc.round(ROUND).rules.criteria
    for c in criteria:
        if c == criteria[-1]:
            world.clock.now = END + dt.timedelta(seconds=30)
        await tap(
            world, judge, card, labels(card).index(world.t(f"participation.criterion.{c}")) + 3
        )
        card = current(world, judge, card)

    shown = current(world, judge, card)
    assert read_only(world, shown)
    assert world.t("bot.judge.state.over_missing", ended=ENDED) in text_of(shown)
    assert ENDED in text_of(shown)  # when the review ended: the deadline
    assert world.svc.judge_progress(ROUND)[0].scored == 0
    toasts = [a.get("text") for a in world.srv.answered_callbacks(judge)]
    closed = world.t("participation.error.deadline_passed", deadline=ENDED)
    assert toasts[-1] == closed


async def test_a_conflict_confirmed_after_the_deadline_leaves_a_read_only_card(
    world: BotWorld,
) -> None:
    """'네, 회피할게요' asked at 17:59, pressed at 18:00:30: refused with the deadline, and the
    confirmation stayed with both its buttons."""
    judge, card = await card_at_1759(world)
    confirm = await world.press(judge, card, world.t("bot.judge.recuse"))
    assert world.t("bot.judge.recuse_yes") in labels(confirm)
    world.clock.now = END + dt.timedelta(seconds=30)
    before = len(world.messages(judge))
    await world.press(judge, confirm, world.t("bot.judge.recuse_yes"))

    shown = current(world, judge, confirm)
    assert read_only(world, shown)
    assert world.t("bot.judge.state.over_missing", ended=ENDED) in text_of(shown)
    assert ENDED in text_of(shown)  # when the review ended: the deadline
    assert len(world.messages(judge)) == before
    assert world.svc.judge_progress(ROUND)[0].recused == 0
