"""A judge who presses a score button of an old card once the review phase is over."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from bot import judge as judge_screens
from tests.support.e2e_bot import KST
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


MOVED = {"ko": "2017년 2월 1일 (수) 오전 9:00", "en": "Wed 1 Feb 2017, 9:00 AM KST"}
END = {"ko": "2017년 2월 23일 (목) 오후 6:00", "en": "Thu 23 Feb 2017, 6:00 PM KST"}


async def judge_with_one_scored(world: BotWorld, locale: str = "ko") -> int:
    """A judge of two proposals who gave #1 a 4 on every criterion (16/20), #2 nothing."""
    submit(world, resident(world, "제안자"), 2)
    to_review(world)
    judge = resident(world, "심사위원", locale=locale)
    code = world.svc.invite_judge(OFFICIAL, ROUND)
    card = await world.deep_link(judge, world.services.deep_link(code))
    for i in range(4):
        row = card["reply_markup"]["inline_keyboard"][i]
        world.srv.press(judge, card["message_id"], value(row, "4"))
        await world.drain()
        card = next(m for m in world.messages(judge) if m["message_id"] == card["message_id"])
    return judge


async def assert_cards_say_the_review_ended(
    world: BotWorld, judge: int, locale: str, ended: str
) -> None:
    """The 심사하기 menu, ▶ and 내 점수 after the review: read-only cards and a summary that
    say when it ended (``ended``, in the judge's language)."""
    t = lambda key, **params: world.t(key, locale, **params)  # noqa: E731
    shown = await world.text(judge, t("bot.menu.judge"))  # the unscored #2 first
    assert t("bot.judge.state.over_missing", ended=ended) in text_of(shown)
    assert ended in text_of(shown)
    necessity = t("participation.criterion.necessity")
    assert necessity not in labels(shown) and t("bot.judge.recuse") not in labels(shown)
    scored = await world.press(judge, shown, t("bot.judge.next"))
    assert t("bot.judge.state.over_scored", sum=16, max=20, ended=ended) in text_of(scored)
    assert ended in text_of(scored)
    assert necessity not in labels(scored) and t("bot.judge.recuse") not in labels(scored)
    summary = await world.press(judge, scored, t("bot.judge.summary"))
    assert t("bot.judge.summary_foot_over", ended=ended) in text_of(summary)
    assert ended in text_of(summary)


@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_after_the_review_the_cards_are_read_only_and_say_the_scores_count(
    world: BotWorld, locale: str
) -> None:
    """After the review the 심사하기 menu opened the same card with its 1-5 buttons and
    '마감 전까지 언제든 바꿀 수 있어요', past that deadline; every press then failed. Then it
    said '심사가 끝났어요' without saying when: an official moved the round on at 9:00 on
    1 Feb, long before its deadline, and that is when the review ended."""
    judge = await judge_with_one_scored(world, locale)
    world.svc.advance_round(OFFICIAL, ROUND)  # review -> results, before the deadline
    await assert_cards_say_the_review_ended(world, judge, locale, MOVED[locale])


@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_a_review_moved_on_after_its_deadline_ended_at_the_deadline(
    world: BotWorld, locale: str
) -> None:
    """The clock moved the round on at 18:07, once every press received before 18:00 was
    applied: nothing received after 18:00 counted, so the cards say the review ended at
    18:00, not at the move."""
    judge = await judge_with_one_scored(world, locale)
    world.clock.now = dt.datetime(2017, 2, 23, 18, 7, tzinfo=KST)
    assert world.svc.advance_due_rounds() == [(ROUND, "results")]
    await assert_cards_say_the_review_ended(world, judge, locale, END[locale])


async def test_a_round_that_no_longer_holds_when_its_review_ended_says_it_untimed(
    world: BotWorld,
) -> None:
    """A closed round keeps no moment of its review's end (RoundView.review_ended_at is
    None; judge_round leaves closed rounds out, so no screen draws one today): the card and
    the summary say the review is over without a time, never a raw placeholder."""
    judge = await judge_with_one_scored(world)
    tasks = world.svc.judge_tasks(judge, ROUND)
    world.svc.advance_round(OFFICIAL, ROUND)
    world.svc.publish_results(OFFICIAL, ROUND)
    world.svc.advance_round(OFFICIAL, ROUND)  # results -> closed
    rnd = world.svc.round(ROUND)
    assert rnd.phase == "closed" and rnd.review_ended_at is None
    for locale in ("ko", "en"):
        ctx = SimpleNamespace(
            locale=locale,
            services=world.services,
            t=lambda key, _l=locale, **params: world.t(key, _l, **params),
        )
        missing = next(task for task in tasks if task.scores is None)
        scored = next(task for task in tasks if task.scores is not None)
        said = [
            judge_screens.state_text(ctx, rnd, missing, {}),  # type: ignore[arg-type]
            judge_screens.state_text(ctx, rnd, scored, {}),  # type: ignore[arg-type]
            judge_screens.summary_foot(ctx, rnd),  # type: ignore[arg-type]
        ]
        assert said == [
            world.t("bot.judge.state.over_missing_untimed", locale),
            world.t("bot.judge.state.over_scored_untimed", locale, sum=16, max=20),
            world.t("bot.judge.summary_foot_over_untimed", locale),
        ]
        assert not any("%(" in text or "bot.judge" in text for text in said)
