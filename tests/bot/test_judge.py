"""Judges through the bot: join by invite link, cards with per-criterion buttons, progress,
back/next/skip, changing a score, recusal with confirmation, the final list, and refusals."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from telegram.error import NetworkError

from gateway.broadcast import OutboxSender
from tests.support.e2e_bot import KST
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


def current(world: BotWorld, uid: int, message: Msg) -> Msg:
    """Return ``message`` as it is now (after edits in place)."""
    return next(m for m in world.messages(uid) if m["message_id"] == message["message_id"])


def menu_labels(world: BotWorld, uid: int) -> list[str]:
    """Return the labels of the newest main menu (reply keyboard) the person got."""
    menu = world.last(uid, lambda m: "keyboard" in (m.get("reply_markup") or {}))
    return [b["text"] for row in menu["reply_markup"]["keyboard"] for b in row]


async def tap_with(
    world: BotWorld, uid: int, message: Msg, label: str, data: str, as_user: int | None = None
) -> None:
    """Tap ``label`` and feed a copy of that tap carrying ``data`` (a stale or foreign token)."""
    tap = world.srv.press(uid, message["message_id"], world.data_of(message, label))
    forged = copy.deepcopy(tap)
    forged["update_id"] += 1000
    forged["callback_query"]["data"] = data
    if as_user is not None:
        forged["callback_query"]["from"] = world.srv.users.get(as_user)
    await world.feed(forged)
    await world.drain()


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


async def test_recusal_is_confirmed_and_a_recused_proposal_takes_no_score(world: BotWorld) -> None:
    author = resident(world, "제안자")
    submit(world, author, 2)
    to_review(world)
    judge, card = await join(world)
    stale = score_button(world, card, 0, 5)  # a button of the card before the recusal

    ask = await world.press(judge, card, world.t("bot.judge.recuse"))
    assert world.t("bot.judge.recuse_yes") in labels(ask)
    back = await world.press(judge, ask, world.t("bot.judge.recuse_no"))  # changed my mind
    assert not world.svc.judge_tasks(judge, ROUND)[0].recused
    ask = await world.press(judge, back, world.t("bot.judge.recuse"))
    done = await world.press(judge, ask, world.t("bot.judge.recuse_yes"))
    assert world.svc.judge_tasks(judge, ROUND)[0].recused
    assert world.t("bot.judge.state.recused") in text_of(done)
    assert world.t("bot.judge.recuse") not in labels(done)
    assert not any(label.strip("[]") in "12345" for label in labels(done))  # no score buttons

    await tap_with(world, judge, done, world.t("bot.judge.summary"), stale)
    refusal = world.t("participation.error.recused")
    assert refusal in [text_of(m) for m in world.messages(judge)]
    assert world.svc.judge_tasks(judge, ROUND)[0].scores is None


async def test_a_resident_cannot_judge_nor_press_a_judges_button(world: BotWorld) -> None:
    author = resident(world, "제안자")
    submit(world, author, 1)
    to_review(world)
    judge, card = await join(world)
    outsider = world.user("주민")
    await world.register(outsider, "수원시")

    assert text_of(await world.text(outsider, "/judge")) == world.t("participation.error.not_judge")
    assert world.t("bot.menu.judge") not in menu_labels(world, outsider)
    assert world.t("bot.menu.judge") in menu_labels(world, judge)

    # the judge's own button, pressed from the resident's account: foreign, refused
    data = score_button(world, card, 0, 5)
    await tap_with(world, judge, card, world.t("bot.judge.summary"), data, as_user=outsider)
    answers = world.srv.answered_callbacks(judge)
    assert world.t("bot.button.expired") in [a.get("text") for a in answers]
    assert world.svc.judge_tasks(judge, ROUND)[0].scores is None


async def test_scores_change_until_the_deadline_and_not_after(world: BotWorld) -> None:
    author = resident(world, "제안자")
    submit(world, author, 1)
    to_review(world)
    judge, card = await join(world)
    card = await give(world, judge, card, (3, 3, 3, 3))
    world.clock.now = dt.datetime(2017, 2, 23, 17, 59, tzinfo=KST)  # a minute before the end
    card = await world.text(judge, world.t("bot.menu.judge"))  # the buttons of 1 Feb expired
    card = await give(world, judge, card, (4,))
    assert world.svc.judge_tasks(judge, ROUND)[0].scores == {
        **dict.fromkeys(CRITERIA, 3),
        "necessity": 4,
    }
    world.clock.advance(minutes=2)
    before = len(world.messages(judge))
    world.srv.press(judge, card["message_id"], score_button(world, card, 0, 5))
    await world.drain()
    when = "2017년 2월 23일 (목) 오후 6:00"  # as every screen writes dates
    deadline = world.t("participation.error.deadline_passed", deadline=when)
    assert [a.get("text") for a in world.srv.answered_callbacks(judge)][-1] == deadline
    assert len(world.messages(judge)) == before  # the card redrawn read-only, no message
    shown = world.last(judge, lambda m: m["message_id"] == card["message_id"])
    assert "5" not in labels(shown)
    assert world.svc.judge_tasks(judge, ROUND)[0].scores["necessity"] == 4


async def test_a_judge_invited_before_the_review_is_told_when_it_starts(world: BotWorld) -> None:
    judge, first = await join(world)
    phase = world.t("participation.phase.submission")
    assert text_of(first) == world.t("bot.judge.no_tasks", round="2017 따복공동체", phase=phase)


async def test_a_judge_who_opens_the_invite_before_registering_becomes_a_judge(
    world: BotWorld,
) -> None:
    """The invite link is the judge's first contact: consent and region come first, and the
    invite is redeemed in the same update as the registration (it used to reuse that update's
    request id, so the service handed back the registration's receipt and no judge joined)."""
    judge = world.user("새 심사위원")
    code = world.svc.invite_judge(OFFICIAL, ROUND)
    await world.deep_link(judge, world.services.deep_link(code))
    agree = world.t("bot.privacy.agree")
    regions = await world.press(judge, world.with_button(judge, agree), agree)
    await world.press(judge, regions, "수원시")
    assert world.svc.judge_round(judge) == ROUND
    said = [text_of(m) for m in world.messages(judge)]
    assert world.t("participation.error.not_judge") not in said


async def test_judges_are_told_once_when_the_review_begins_with_a_button_to_start(
    world: BotWorld,
) -> None:
    """The waiting text promises to show the proposals when the review begins: each judge of
    the round gets one message then (in their language), whose button opens the first card,
    queued with the phase change, so a retried advance or a second clock sends nothing more."""
    author = resident(world)
    submit(world, author, 2)
    judge, _first = await join(world)
    english = resident(world, "Judge", locale="en")
    code = world.svc.invite_judge(OFFICIAL, ROUND)
    await world.deep_link(english, world.services.deep_link(code))
    world.svc.advance_round(OFFICIAL, ROUND, request_id="tg:1")
    world.svc.advance_round(OFFICIAL, ROUND, request_id="tg:2")
    world.svc.advance_round(OFFICIAL, ROUND, request_id="tg:2")  # the press, redelivered
    assert world.svc.round(ROUND).phase == "review"
    world.clock.advance(days=17)  # past the endorsement deadline: nothing more is due
    assert world.svc.advance_due_rounds() == []

    sender = OutboxSender(world.svc, world.app.bot, world.catalog, per_chat_interval=0.0)
    await sender.drain(budget_s=10)
    await sender.drain(budget_s=10)
    told = world.t("participation.notice.judging_open", round="2017 따복공동체")
    assert [text_of(m) for m in world.messages(judge)].count(told) == 1
    notice = world.last(judge)
    assert text_of(notice) == told
    assert labels(notice) == [world.t("bot.menu.judge")]
    told_en = world.t("participation.notice.judging_open", "en", round="2017 따복공동체")
    assert text_of(world.last(english)) == told_en
    assert labels(world.last(english)) == [world.t("bot.menu.judge", "en")]
    assert all(text_of(m) != told for m in world.messages(author))

    card = await world.press(judge, notice, world.t("bot.menu.judge"))
    assert labels(card)[0] == world.t("participation.criterion.necessity")  # the first card


async def test_the_review_notice_survives_a_failed_send(world: BotWorld) -> None:
    """A send that fails (no connection) leaves the notice to the next drain."""
    judge, _first = await join(world)
    to_review(world)

    class FlakyBot:
        """The sandbox bot whose first send fails before reaching it."""

        def __init__(self) -> None:
            self.calls = 0

        async def send_message(self, *args: object, **kwargs: object) -> object:
            self.calls += 1
            if self.calls == 1:
                raise NetworkError("connection refused")
            return await world.app.bot.send_message(*args, **kwargs)  # type: ignore[arg-type]

    sender = OutboxSender(world.svc, FlakyBot(), world.catalog, per_chat_interval=0.0)  # type: ignore[arg-type]
    await sender.drain(budget_s=10)
    await sender.drain(budget_s=10)
    told = world.t("participation.notice.judging_open", round="2017 따복공동체")
    assert [text_of(m) for m in world.messages(judge)].count(told) == 1


async def test_a_stale_clock_does_not_move_a_round_that_another_moved(world: BotWorld) -> None:
    """Two clocks both see the endorsement deadline passed; the one that comes second must
    not move the round on from review (nor queue the judges' notice again)."""
    await join(world)
    world.svc.advance_round(OFFICIAL, ROUND)  # endorsement
    world.clock.advance(days=17)  # past the endorsement deadline, before the review deadline
    real = world.svc._run
    raced = {"done": False}

    def run_after_the_other_clock(*args: object, **kwargs: object) -> object:
        if not raced["done"]:
            raced["done"] = True
            real(*args, **kwargs)  # the other clock moves it first
        return real(*args, **kwargs)

    world.svc._run = run_after_the_other_clock  # type: ignore[method-assign]
    world.svc.advance_due_rounds()
    assert world.svc.round(ROUND).phase == "review"
