"""Judges through the bot: join by invite link, cards with per-criterion buttons, progress,
back/next/skip, changing a score, recusal with confirmation, the final list, and refusals."""

from __future__ import annotations

import pytest

from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio
CRITERIA = ("necessity", "feasibility", "publicness", "impact")


async def join(world: BotWorld, name: str = "심사위원") -> tuple[int, Msg]:
    """A new judge registers and opens the official's invite link; return (id, first card)."""
    judge = world.user(name)
    await world.register(judge, "수원시")
    code = world.svc.invite_judge(OFFICIAL, ROUND)
    card = await world.deep_link(judge, world.services.deep_link(code))
    return judge, card


def score_button(world: BotWorld, message: Msg, criterion_index: int, value: int) -> str:
    """Return the callback data of value ``value`` in the row of criterion ``criterion_index``."""
    rows = message["reply_markup"]["inline_keyboard"]
    row = rows[criterion_index]
    assert row[0]["text"] == world.t(f"participation.criterion.{CRITERIA[criterion_index]}")
    button = next(b for b in row[1:] if b["text"].strip("[]") == str(value))
    return str(button["callback_data"])


async def give(world: BotWorld, judge: int, card: Msg, values: tuple[int, ...]) -> Msg:
    """Press one value per criterion on the card (redrawn in place after each press)."""
    for i, value in enumerate(values):
        world.srv.press(judge, card["message_id"], score_button(world, card, i, value))
        await world.drain()
        card = next(
            m for m in reversed(world.messages(judge)) if m["message_id"] == card["message_id"]
        )
    return card


async def test_a_judge_joins_scores_every_card_and_gets_the_final_list(world: BotWorld) -> None:
    author = resident(world, "제안자")
    ids = submit(world, author, 3)
    to_review(world)
    judge, card = await join(world)
    assert world.t("bot.judge.welcome") in [text_of(m) for m in world.messages(judge)]
    assert world.t("bot.judge.progress", total=3, done=0) in text_of(card)
    assert "제안 1" in text_of(card)

    card = await give(world, judge, card, (4, 3))  # two of four criteria: nothing saved yet
    assert world.svc.judge_tasks(judge, ROUND)[0].scores is None
    assert world.t("bot.judge.state.partial", given=2, count=4) in text_of(card)
    assert "[4]" in labels(card) and "[3]" in labels(card)
    card = await give(world, judge, card, (4, 3, 5, 2))
    assert world.svc.judge_tasks(judge, ROUND)[0].scores == dict(
        zip(CRITERIA, (4, 3, 5, 2), strict=True)
    )
    assert world.t("bot.judge.progress", total=3, done=1) in text_of(card)

    # change a score until the deadline: one tap replaces the saved set
    card = await give(world, judge, card, (1,))
    assert world.svc.judge_tasks(judge, ROUND)[0].scores == dict(
        zip(CRITERIA, (1, 3, 5, 2), strict=True)
    )

    # next, back, skip
    nxt = await world.press(judge, card, world.t("bot.judge.next"))
    assert "제안 2" in text_of(nxt) and nxt["message_id"] == card["message_id"]
    back = await world.press(judge, nxt, world.t("bot.judge.prev"))
    assert "제안 1" in text_of(back)
    skipped = await world.press(judge, back, world.t("bot.judge.skip"))
    assert "제안 2" in text_of(skipped)
    skipped = await world.press(judge, skipped, world.t("bot.judge.skip"))
    assert "제안 3" in text_of(skipped)
    card = await give(world, judge, skipped, (5, 5, 5, 5))
    card = await world.press(judge, card, world.t("bot.judge.prev"))
    assert "제안 2" in text_of(card)
    await give(world, judge, card, (2, 2, 2, 2))

    # all three scored: the final confirmation lists every score
    final = world.last(
        judge,
        lambda m: (
            world.t("bot.judge.progress", total=3, done=3) in text_of(m) and "📋" in text_of(m)
        ),
    )
    for n, total in ((1, 11), (2, 8), (3, 20)):
        assert f"#{n} " in text_of(final) and f"{total}/20" in text_of(final)
    assert [t.scores is not None for t in world.svc.judge_tasks(judge, ROUND)] == [True] * 3
    assert len(ids) == 3
