"""A judge who also wrote a proposal (a resident who submitted one and was then invited to the
panel) was shown it among their cards, could score it, and was counted as missing its score
until they did: their own proposal is now left out of their cards, progress and final list,
and out of what the officials' figures expect of them. A button of a card drawn before the
proposal left the judge's list is refused with the service's reason."""

from __future__ import annotations

import pytest

from tests.bot.test_judge import give
from tests.bot.test_judge import score_button
from tests.bot.test_judge import tap_with
from tests.bot.test_official_judges import GROUPED
from tests.bot.test_official_judges import form_groups
from tests.bot.test_official_judges import grouped_round
from tests.bot.test_official_judges import join as join_grouped
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import official
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio


def card_texts(world: BotWorld, uid: int) -> list[str]:
    return [text_of(m) for m in world.messages(uid)]


async def test_a_judge_is_not_shown_their_own_proposal_to_score(world: BotWorld) -> None:
    boss = await official(world)
    submit(world, resident(world, "제안자"), 2)  # 제안 1, 제안 2
    judge = resident(world, "주민 심사위원")
    [own] = submit(world, judge, 1, title="우리 텃밭")  # #3, the judge's own
    to_review(world)
    code = world.svc.invite_judge(OFFICIAL, ROUND)
    card: Msg = await world.deep_link(judge, world.services.deep_link(code))

    assert world.t("bot.judge.progress", total=2, done=0) in text_of(card)
    assert "제안 1" in text_of(card)
    nxt = await world.press(judge, card, world.t("bot.judge.next"))
    assert "제안 2" in text_of(nxt)
    nxt = await world.press(judge, nxt, world.t("bot.judge.next"))
    assert "제안 1" in text_of(nxt)  # two cards, then round again: never the judge's own
    card = await give(world, judge, nxt, (4, 4, 4, 4))
    card = await world.press(judge, card, world.t("bot.judge.skip"))
    assert "제안 2" in text_of(card)
    await give(world, judge, card, (3, 3, 3, 3))

    # both scored: the final list comes, complete, and names only those two
    final = world.last(judge, lambda m: "📋" in text_of(m))
    assert world.t("bot.judge.progress", total=2, done=2) in text_of(final)
    assert "#3 " not in text_of(final)
    assert not any("우리 텃밭" in text for text in card_texts(world, judge))
    assert own not in [t.card.proposal_id for t in world.svc.judge_tasks(judge, ROUND)]

    # a card of their own drawn before (still on the phone): its score button is refused
    args = {"p": own, "i": 2, "c": "necessity", "v": 5, "d": {}}
    stale = world.svc.issue_button(judge, "judge.score", args)
    size = world.ledger.size()
    await tap_with(world, judge, final, world.t("bot.judge.back_to_cards"), stale)
    assert text_of(world.last(judge)) == world.t("participation.error.own_proposal")
    stale = world.svc.issue_button(judge, "judge.recuse", {"p": own, "i": 2})
    cards = current(world, judge, final)  # the list's message, now a card again
    before = len(world.messages(judge))
    await tap_with(world, judge, cards, world.t("bot.judge.summary"), stale)
    told = card_texts(world, judge)[before:]
    assert world.t("participation.error.own_proposal") in told
    assert not any(world.t("bot.judge.recuse_yes") in labels(m) for m in world.messages(judge))
    assert world.ledger.size() == size  # nothing written

    # the officials' figures: the judge is done, nothing is missing
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.figures"))
    figures = text_of(current(world, boss, menu))
    done = world.t(
        "bot.admin.judge_line", n=1, group=world.t("bot.admin.all_groups"), done=2, total=2,
        recused=0,
    )  # fmt: skip
    assert done in figures


async def test_a_card_of_the_group_a_judge_left_is_refused_naming_their_group(
    world: BotWorld,
) -> None:
    """A judge moved to another review group pressed a score on the card still on their
    screen: they were told '맡은 심사 조(0조)의 제안이 아니에요.', a group no round has."""
    ids = grouped_round(world)
    judge = await join_grouped(world, "심사위원")  # invited for every group
    groups = form_groups(world)
    card = await world.text(judge, "/judge")
    assert "제안 1" in text_of(card)
    other = 2 if ids[0] in groups[0] else 1
    world.svc.assign_judge(OFFICIAL, GROUPED, world.svc.judge_progress(GROUPED)[0].judge, other)

    size = world.ledger.size()
    world.srv.press(judge, card["message_id"], score_button(world, card, 0, 5))
    await world.drain()
    assert text_of(world.last(judge)) == world.t("participation.error.not_assigned", group=other)
    assert world.ledger.size() == size
