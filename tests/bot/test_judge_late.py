"""A judge who presses a score button of an old card once the review phase is over."""

from __future__ import annotations

import pytest

from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio


def value(row: list[dict[str, object]], label: str) -> str:
    """The callback data of the button ``label`` (or ``[label]``, the chosen one) in ``row``."""
    return str(next(b for b in row if str(b["text"]).strip("[]") == label)["callback_data"])


async def test_a_score_pressed_after_the_review_is_told_the_review_is_over(
    world: BotWorld,
) -> None:
    """It was told only '지금 단계에서는 할 수 없는 일이에요.', which does not say why or
    whether the scores already given count."""
    submit(world, resident(world, "제안자"), 2)
    to_review(world)
    judge = world.user("심사위원")
    await world.register(judge, "수원시")
    code = world.svc.invite_judge(OFFICIAL, ROUND)
    card = await world.deep_link(judge, world.services.deep_link(code))
    for i in range(4):  # a full score: a later press is a rescore, sent to the service
        row = card["reply_markup"]["inline_keyboard"][i]
        world.srv.press(judge, card["message_id"], value(row, "4"))
        await world.drain()
        card = next(m for m in world.messages(judge) if m["message_id"] == card["message_id"])
    late = value(card["reply_markup"]["inline_keyboard"][0], "3")
    world.svc.advance_round(OFFICIAL, ROUND)  # review -> results
    size = world.ledger.size()
    world.srv.press(judge, card["message_id"], late)
    await world.drain()
    moved = "2017년 2월 1일 (수) 오전 9:00"  # the review ended when it was moved on, early
    told = world.t("participation.error.review_over", ended=moved)
    assert told != "participation.error.review_over" and moved in told
    shown = [text_of(world.last(judge))] + [
        str(a["text"]) for a in world.srv.answered_callbacks(judge) if a["text"]
    ]
    assert told in shown
    assert world.ledger.size() == size


async def test_after_the_review_the_cards_are_read_only_and_say_the_scores_count(
    world: BotWorld,
) -> None:
    """After the review the 심사하기 menu opened the same card with its 1-5 buttons and
    '마감 전까지 언제든 바꿀 수 있어요', past that deadline; every press then failed."""
    submit(world, resident(world, "제안자"), 2)
    to_review(world)
    judge = world.user("심사위원")
    await world.register(judge, "수원시")
    code = world.svc.invite_judge(OFFICIAL, ROUND)
    card = await world.deep_link(judge, world.services.deep_link(code))
    for i in range(4):
        row = card["reply_markup"]["inline_keyboard"][i]
        world.srv.press(judge, card["message_id"], value(row, "4"))
        await world.drain()
        card = next(m for m in world.messages(judge) if m["message_id"] == card["message_id"])
    world.svc.advance_round(OFFICIAL, ROUND)  # review -> results

    shown = await world.text(judge, world.t("bot.menu.judge"))  # the unscored #2 first
    assert world.t("bot.judge.state.over_missing") in text_of(shown)
    necessity = world.t("participation.criterion.necessity")
    assert necessity not in labels(shown) and world.t("bot.judge.recuse") not in labels(shown)
    scored = await world.press(judge, shown, world.t("bot.judge.next"))
    assert world.t("bot.judge.state.over_scored", sum=16, max=20) in text_of(scored)
    assert necessity not in labels(scored) and world.t("bot.judge.recuse") not in labels(scored)
    summary = await world.press(judge, scored, world.t("bot.judge.summary"))
    assert world.t("bot.judge.summary_foot_over") in text_of(summary)
