"""A judge who presses a score button of an old card once the review phase is over."""

from __future__ import annotations

import pytest

from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
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
    told = world.t("participation.error.review_over")
    assert told != "participation.error.review_over"
    shown = [text_of(world.last(judge))] + [
        str(a["text"]) for a in world.srv.answered_callbacks(judge) if a["text"]
    ]
    assert told in shown
    assert world.ledger.size() == size
