"""The officials' judges screen: the panel by number and time joined, review group assignment
(confirmed, saying what becomes of the scores; a double tap moves once; a clerk is refused),
and an invitation for one group whose judge then sees only that group's proposals."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from gateway.broadcast import OutboxSender
from participation.domain import errors as e
from participation.store import tables as t
from tests.bot.test_official import set_role
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import round_rules
from tests.support.e2e_bot import text_of
from tests.support.review_day import official
from tests.support.review_day import resident

pytestmark = pytest.mark.asyncio
GROUPED = "grp2017"
CRITERIA = ("necessity", "feasibility", "publicness", "impact")


def grouped_round(world: BotWorld, count: int = 4) -> list[str]:
    """Open a round with review groups of two (the newest, so /admin works on it), submit
    ``count`` proposals; return their ids."""
    rules = dataclasses.replace(round_rules(), title="조 공모", review_group_size=2)
    world.svc.create_round(OFFICIAL, rules, round_id=GROUPED)
    world.svc.open_round(OFFICIAL, GROUPED)
    author = resident(world, "제안자")
    return [
        world.svc.submit_proposal(
            author, GROUPED, title=f"제안 {i + 1}", body="마을 제안이에요.",
            category="community", region="suwon", budget=1_000_000,
        ).proposal_id
        for i in range(count)
    ]  # fmt: skip


def form_groups(world: BotWorld) -> tuple[tuple[str, ...], ...]:
    world.svc.advance_round(OFFICIAL, GROUPED)
    world.svc.advance_round(OFFICIAL, GROUPED)
    world.svc.form_review_groups(OFFICIAL, GROUPED)
    return world.svc.round(GROUPED).groups


async def join(world: BotWorld, name: str, group: int | None = None) -> int:
    judge = world.user(name)
    await world.register(judge, "수원시")
    code = world.svc.invite_judge(OFFICIAL, GROUPED, group=group)
    await world.deep_link(judge, world.services.deep_link(code))
    return judge


async def judges_screen(world: BotWorld, uid: int) -> Msg:
    menu = await world.text(uid, "/admin")
    return await world.press(uid, menu, world.t("bot.admin.menu.judges"))


def assigned(world: BotWorld) -> list[dict[str, object]]:
    entries = [json.loads(x)["entry"] for x in world.ledger.entries(0, world.ledger.size())]
    return [x["body"] for x in entries if x["kind"] == "judge.assigned"]


def group_of(world: BotWorld, n: int) -> int | None:
    """The group of judge number ``n`` (in the order they joined)."""
    (p,) = world.svc.judge_progress(GROUPED)[n - 1 : n]
    return p.group


async def test_a_judge_is_moved_to_a_group_and_back_once_per_tap(world: BotWorld) -> None:
    ids = grouped_round(world)
    boss = await official(world)
    judge = await join(world, "심사위원")
    screen = await judges_screen(world, boss)
    assert "심사위원 1 · 전체 조 · 2017년 2월 1일" in text_of(screen)
    assert world.t("bot.admin.judges.no_groups").strip() in text_of(screen)
    assert world.t("bot.admin.judges.assign") not in labels(screen)  # no groups yet
    assert str(judge) not in text_of(screen) and "심사위원\n" not in text_of(screen)

    groups = form_groups(world)
    assert len(groups) == 2
    world.svc.score(judge, groups[0][0], dict.fromkeys(CRITERIA, 4))
    screen = await judges_screen(world, boss)
    pick = await world.press(boss, screen, world.t("bot.admin.judges.assign"))
    choose = await world.press(boss, pick, "심사위원 1 · 전체 조")
    assert labels(choose)[:2] == ["1조", "2조"] and "전체 조" not in labels(choose)
    assert text_of(choose).startswith("심사위원 1은 지금 전체 조입니다.")  # the particle fits
    confirm = await world.press(boss, choose, "2조")
    text = text_of(confirm)
    assert text.startswith("심사위원 1의 조를 전체 조에서 2조로 바꾸시겠습니까?")
    assert world.t("bot.admin.assign.scores_kept", count=1) in text  # the score stays
    assert world.t("bot.admin.assign.scores_frozen", count=1) in text  # ...out of reach
    assert group_of(world, 1) is None and not assigned(world)  # nothing before the yes

    yes = world.data_of(confirm, world.t("bot.admin.assign.yes"))
    tap = world.srv.press(boss, confirm["message_id"], yes)
    world.srv.press(boss, confirm["message_id"], yes)  # the double tap
    await world.drain()
    await world.feed(tap)  # a redelivery of the first tap to another worker
    assert len(assigned(world)) == 1 and group_of(world, 1) == 2
    assert text_of(world.last(boss)) == world.t("bot.admin.assign.done", n=1, group="2조")
    answers = [a.get("text") for a in world.srv.answered_callbacks(boss)]
    assert world.t("bot.button.expired") in answers
    tasks = world.svc.judge_tasks(judge, GROUPED)
    assert [t.card.proposal_id for t in tasks] == list(groups[1])
    assert sorted(ids) == sorted(groups[0] + groups[1])
    # the figures count the judge's work in their group now, not the score left behind
    progress = world.svc.judge_progress(GROUPED)[0]
    assert (progress.scored, progress.expected, progress.scored_groups) == (0, 2, {1: 1})
    assert world.svc.judges_to_remind(GROUPED) == [judge]

    # reassigned: back to 1조, where the score given is again the judge's own
    pick = await world.press(boss, await judges_screen(world, boss), "조 배정")
    choose = await world.press(boss, pick, "심사위원 1 · 2조")
    assert "2조" not in labels(choose) and "전체 조" in labels(choose)
    confirm = await world.press(boss, choose, "1조")
    assert world.t("bot.admin.assign.scores_frozen", count=1) not in text_of(confirm)
    await world.press(boss, confirm, world.t("bot.admin.assign.yes"))
    assert group_of(world, 1) == 1 and len(assigned(world)) == 2
    assert world.svc.judge_progress(GROUPED)[0].scored == 1
    bodies = assigned(world)
    assert [b["group"] for b in bodies] == [2, 1]
    assert all(str(b["judge"]).startswith("j:") for b in bodies)  # a pseudonym, no id
    assert str(judge) not in json.dumps(bodies)

    # the move screen's own group is never offered; the service refuses it anyway
    with pytest.raises(e.JudgeInGroup):
        world.svc.assign_judge(OFFICIAL, GROUPED, bodies[0]["judge"], 1)  # type: ignore[arg-type]
    with pytest.raises(e.NoSuchGroup):
        world.svc.assign_judge(OFFICIAL, GROUPED, bodies[0]["judge"], 3)  # type: ignore[arg-type]


async def test_a_move_confirmed_after_another_officials_move_changes_nothing(
    world: BotWorld,
) -> None:
    grouped_round(world)
    boss = await official(world)
    await join(world, "심사위원")
    form_groups(world)
    pick = await world.press(boss, await judges_screen(world, boss), "조 배정")
    confirm = await world.press(boss, await world.press(boss, pick, "심사위원 1"), "2조")
    pseudonym = world.svc.judge_progress(GROUPED)[0].judge
    world.svc.assign_judge(OFFICIAL, GROUPED, pseudonym, 1)
    done = await world.press(boss, confirm, world.t("bot.admin.assign.yes"))
    assert text_of(done) == world.t("bot.admin.assign.moved", n=1, group="1조")
    assert group_of(world, 1) == 1 and len(assigned(world)) == 1


async def test_a_move_landing_while_the_yes_is_handled_is_refused_and_told_once(
    world: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two officials confirm moves of the same judge at the same moment: the other one's
    move lands after this press read the judge's group (the bot's view is stale), so only
    the service's check under the writer's lock can refuse it."""
    grouped_round(world)
    boss = await official(world)
    judge = await join(world, "심사위원")
    form_groups(world)
    pick = await world.press(boss, await judges_screen(world, boss), "조 배정")
    confirm = await world.press(boss, await world.press(boss, pick, "심사위원 1"), "2조")
    pseudonym = world.svc.judge_progress(GROUPED)[0].judge
    read = world.svc.judge_progress

    def read_then_the_other_move(round_id: str) -> object:
        panel = read(round_id)
        monkeypatch.setattr(world.svc, "judge_progress", read)
        world.svc.assign_judge(OFFICIAL, GROUPED, pseudonym, 1, request_id="other")
        return panel

    monkeypatch.setattr(world.svc, "judge_progress", read_then_the_other_move)
    done = await world.press(boss, confirm, world.t("bot.admin.assign.yes"))
    assert text_of(done) == world.t("bot.admin.assign.moved", n=1, group="1조")
    assert group_of(world, 1) == 1 and len(assigned(world)) == 1
    with world.svc._engine.connect() as conn:  # type: ignore[attr-defined]
        told = (
            conn.execute(
                sa.select(t.outbox.c.key).where(
                    t.outbox.c.user_id == judge, t.outbox.c.key.like("%judge_assigned%")
                )
            )
            .scalars()
            .all()
        )
    assert told == ["participation.notice.judge_assigned"]  # once, for the move that won


async def test_a_clerk_cannot_assign_judges(world: BotWorld) -> None:
    grouped_round(world)
    await join(world, "심사위원")
    form_groups(world)
    clerk = await official(world, "집계", role="clerk")
    assert world.t("bot.admin.menu.judges") not in labels(await world.text(clerk, "/admin"))
    set_role(world, clerk, "admin")  # buttons issued while they were admin...
    pick = await world.press(clerk, await judges_screen(world, clerk), "조 배정")
    confirm = await world.press(clerk, await world.press(clerk, pick, "심사위원 1"), "2조")
    set_role(world, clerk, "clerk")  # ...pressed as clerk
    refused = await world.press(clerk, confirm, world.t("bot.admin.assign.yes"))
    assert text_of(refused) == world.t("participation.error.admin_only")
    assert group_of(world, 1) is None and not assigned(world)
    pseudonym = world.svc.judge_progress(GROUPED)[0].judge
    with pytest.raises(e.AdminOnly):
        world.svc.assign_judge(clerk, GROUPED, pseudonym, 2)


async def test_an_invite_for_a_group_makes_a_judge_who_sees_only_that_group(
    world: BotWorld,
) -> None:
    grouped_round(world, count=5)
    boss = await official(world)
    groups = form_groups(world)
    screen = await judges_screen(world, boss)
    assert text_of(screen).startswith("🧑‍⚖️ '조 공모'에 합류한 심사위원이 아직 없습니다.")
    which = await world.press(boss, screen, world.t("bot.admin.judges.invite"))
    assert text_of(which) == world.t("bot.admin.judge_group")
    assert labels(which)[:3] == ["전체 조", "1조", "2조"]
    await world.press(boss, which, "2조")
    invite = world.messages(boss)[-2]
    assert "(2조," in text_of(invite)
    link = next(w for w in text_of(invite).split() if w.startswith("https://t.me/"))
    judge = world.user("심사위원")
    await world.register(judge, "수원시")
    await world.deep_link(judge, link)
    assert group_of(world, 1) == 2
    card = await world.text(judge, "/judge")
    total = len(groups[1])
    assert text_of(card).startswith(f"🧑‍⚖️ 심사 1/{total} · ")
    titles = {world.svc.proposal(p).title for p in groups[1]}
    others = {world.svc.proposal(p).title for p in groups[0]}
    assert any(t in text_of(card) for t in titles)
    assert not any(f"{t}\n" in text_of(card) for t in others)
    screen = await judges_screen(world, boss)
    assert "심사위원 1 · 2조 · " in text_of(screen)
    with pytest.raises(e.NoSuchGroup):
        world.svc.invite_judge(OFFICIAL, GROUPED, group=len(groups) + 1)


async def test_no_move_once_the_review_is_over(world: BotWorld) -> None:
    grouped_round(world)
    await join(world, "심사위원")
    form_groups(world)
    world.svc.advance_round(OFFICIAL, GROUPED)  # results
    pseudonym = world.svc.judge_progress(GROUPED)[0].judge
    with pytest.raises(e.AssignmentClosed):
        world.svc.assign_judge(OFFICIAL, GROUPED, pseudonym, 2)
    boss = await official(world)
    assert world.t("bot.admin.judges.assign") not in labels(await judges_screen(world, boss))


async def test_a_moved_judge_is_told_once_which_group_with_a_button_to_start(
    world: BotWorld,
) -> None:
    """A judge moved to another group hears it once, in their language: the group, how many
    proposals it has, and a button that opens its first card. The notice is queued with the
    move, so a double tap or a redelivered press queues nothing more."""
    grouped_round(world, count=5)
    boss = await official(world)
    judge = await join(world, "심사위원")
    english = resident(world, "Judge", locale="en")
    code = world.svc.invite_judge(OFFICIAL, GROUPED)
    await world.deep_link(english, world.services.deep_link(code))
    groups = form_groups(world)
    assert [len(g) for g in groups] == [2, 2, 1]

    pick = await world.press(boss, await judges_screen(world, boss), "조 배정")
    confirm = await world.press(boss, await world.press(boss, pick, "심사위원 1"), "2조")
    yes = world.data_of(confirm, world.t("bot.admin.assign.yes"))
    tap = world.srv.press(boss, confirm["message_id"], yes)
    world.srv.press(boss, confirm["message_id"], yes)  # the double tap
    await world.drain()
    await world.feed(tap)  # a redelivery of the first tap to another worker
    assert group_of(world, 1) == 2
    english_judge = world.svc.judge_progress(GROUPED)[1].judge
    world.svc.assign_judge(OFFICIAL, GROUPED, english_judge, 3, request_id="tg:9")
    world.svc.assign_judge(OFFICIAL, GROUPED, english_judge, 3, request_id="tg:9")  # retried

    sender = OutboxSender(world.svc, world.app.bot, world.catalog, per_chat_interval=0.0)
    await sender.drain(budget_s=10)
    await sender.drain(budget_s=10)
    told = world.t("participation.notice.judge_assigned", round="조 공모", group=2, count=2)
    assert "2조" in told and "2건" in told
    assert [text_of(m) for m in world.messages(judge)].count(told) == 1
    notice = world.last(judge)
    assert text_of(notice) == told and labels(notice) == [world.t("bot.menu.judge")]
    told_en = world.t(
        "participation.notice.judge_assigned", "en", round="조 공모", group=3, count=1
    )
    assert "group 3" in told_en and "1 proposal" in told_en
    assert [text_of(m) for m in world.messages(english)].count(told_en) == 1
    assert labels(world.last(english)) == [world.t("bot.menu.judge", "en")]

    card = await world.press(judge, notice, world.t("bot.menu.judge"))
    assert text_of(card).startswith("🧑‍⚖️ 심사 1/2 · ")
    first = world.svc.proposal(groups[1][0]).title
    assert first in text_of(card)

    # back to every group: the notice says so, with the round's whole count
    world.svc.assign_judge(OFFICIAL, GROUPED, english_judge, None)
    await sender.drain(budget_s=10)
    told_all = world.t("participation.notice.judge_assigned_all", "en", round="조 공모", count=5)
    assert text_of(world.last(english)) == told_all
    assert labels(world.last(english)) == [world.t("bot.menu.judge", "en")]
