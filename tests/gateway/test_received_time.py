"""An action is judged at the moment ingress received it, not when a worker gets to it.

The real bot runs against the sandbox Bot API (tests.support.e2e_bot.BotWorld) and its
updates reach it through a Redis inbox and an `UpdateWorker`, as in production. The inbox
entries are stamped on the world's test clock (an explicit stream id: Redis takes the id's
time from its own clock at the XADD), so a press can be received before a deadline and be
applied after it, as in a queue of a busy hall or across an outage.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from gateway.clock import advance_phases
from gateway.store import JobRuns
from participation.domain import rules
from tests.gateway.test_deadletters import Gateway
from tests.support.e2e_bot import KST
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from webhook.inbox import chat_id_of
from webhook.inbox import oldest_waiting_ms

pytestmark = pytest.mark.asyncio
DEADLINE = dt.datetime(2017, 2, 17, 18, tzinfo=KST)  # the world's endorsement_ends


class Hall(Gateway):
    async def receive_at(self, when: dt.datetime) -> int:
        """Move the sandbox's pending updates into the inbox as received at `when` (the
        world's clock); return how many."""
        updates = await self.world.app.bot.get_updates(offset=self.world.offset, timeout=0)
        ms = int(when.timestamp() * 1000)
        for n, update in enumerate(updates):
            self.world.offset = update.update_id + 1
            raw = update.to_dict()
            stream = self.layout.stream(self.layout.partition_of(chat_id_of(raw)))
            self.client.xadd(stream, {"u": update.to_json()}, id=f"{ms}-{n}")
        return len(updates)


async def card_before_the_deadline(world: BotWorld, uid: int) -> dict[str, object]:
    """Submit a proposal, register `uid`, move the clock to 5 s before the endorsement
    deadline (the round in its endorsement phase) and open the proposal's card for `uid`."""
    author = world.user("김순자")
    await world.register(author, "연천군")
    found = world.svc.submit_proposal(author, ROUND, title="마을 텃밭", body="함께 가꿔요.",
                                      category="community", region="yeoncheon",
                                      budget=1_500_000)  # fmt: skip
    await world.register(uid, "성남시")
    world.clock.now = DEADLINE - dt.timedelta(seconds=5)
    assert world.svc.advance_due_rounds() == [(ROUND, "endorsement")]
    link = f"https://t.me/{world.srv.bot_username}?start=p_{found.proposal_id}"
    return await world.deep_link(uid, link)


async def test_a_press_received_before_the_deadline_counts_and_the_round_waits_for_it(
    tmp_path: Path, private_redis: str
) -> None:
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        resident = world.user("이준호")
        card = await card_before_the_deadline(world, resident)
        endorse = world.t("bot.card.endorse", count=0)
        world.srv.press(resident, card["message_id"], world.data_of(card, endorse))
        assert await hall.receive_at(DEADLINE - dt.timedelta(seconds=1)) == 1

        # the queue held it: the deadline passed before a worker took it
        world.clock.now = DEADLINE + dt.timedelta(seconds=30)
        runs = JobRuns(world.ledger.engine)
        await advance_phases(world.svc, runs, hall.client, hall.layout)
        assert world.svc.round(ROUND).phase == "endorsement", "moved past a waiting press"

        await hall.work(lambda: hall.backlog() == 0)
        [proposal] = world.svc.proposals(ROUND).items
        assert world.svc.proposal(proposal.proposal_id).endorsements == 1
        pressed = world.last(resident, lambda m: m["message_id"] == card["message_id"])
        assert world.t("bot.card.unendorse", count=1) in labels(pressed)
        assert oldest_waiting_ms(hall.client, hall.layout) is None

        await advance_phases(world.svc, runs, hall.client, hall.layout)
        assert world.svc.round(ROUND).phase == "review"


async def test_a_press_received_after_the_deadline_is_refused_with_the_deadline(
    tmp_path: Path, private_redis: str
) -> None:
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        resident = world.user("이준호")
        card = await card_before_the_deadline(world, resident)
        world.clock.now = DEADLINE + dt.timedelta(seconds=5)
        endorse = world.t("bot.card.endorse", count=0)
        world.srv.press(resident, card["message_id"], world.data_of(card, endorse))
        await hall.receive_at(DEADLINE + dt.timedelta(seconds=1))
        await hall.work(lambda: hall.backlog() == 0)
        [proposal] = world.svc.proposals(ROUND).items
        assert world.svc.proposal(proposal.proposal_id).endorsements == 0
        assert text_of(world.last(resident)) == "2017년 2월 17일 (금) 오후 6:00에 마감됐어요."


async def test_the_round_moves_on_ten_minutes_after_the_deadline_whatever_waits(
    tmp_path: Path, private_redis: str
) -> None:
    """Workers that are all down must not hold the round for ever."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        resident = world.user("이준호")
        card = await card_before_the_deadline(world, resident)
        endorse = world.t("bot.card.endorse", count=0)
        world.srv.press(resident, card["message_id"], world.data_of(card, endorse))
        await hall.receive_at(DEADLINE - dt.timedelta(seconds=1))
        runs = JobRuns(world.ledger.engine)
        world.clock.now = DEADLINE + dt.timedelta(seconds=rules.ADVANCE_WAIT_S - 1)
        await advance_phases(world.svc, runs, hall.client, hall.layout)
        assert world.svc.round(ROUND).phase == "endorsement"
        world.clock.now = DEADLINE + dt.timedelta(seconds=rules.ADVANCE_WAIT_S)
        await advance_phases(world.svc, runs, hall.client, hall.layout)
        assert world.svc.round(ROUND).phase == "review"


async def confirmation(world: BotWorld, boss: int) -> dict[str, object]:
    """Open the phase screen's confirmation for official `boss`; return the screen."""
    from tests.support.review_day import current

    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.phase"))
    screen = current(world, boss, menu)
    assert world.t("bot.admin.phase_yes") in labels(screen)
    return screen


@pytest.mark.parametrize("wired", [True, False], ids=["waits", "without the wait"])
async def test_an_official_moving_the_round_early_waits_for_presses_received_before(
    tmp_path: Path, private_redis: str, monkeypatch: pytest.MonkeyPatch, wired: bool
) -> None:
    """Before the deadline an official ends the endorsement phase by hand while a resident's
    공감, pressed a second earlier, still waits in another chat's queue (slow to apply). The
    move used to go first and the 공감 was refused as out of phase; now the official's move
    waits for what was received before the press, and both count, in order."""
    from gateway.worker import earlier_waiting
    from tests.support.review_day import official

    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        if wired:
            world.services.extra["inbox_earlier"] = earlier_waiting(hall.client, hall.layout)
        boss = await official(world)
        resident = world.user("이준호")
        while hall.layout.partition_of(resident) == hall.layout.partition_of(boss):
            resident = world.user("이준호")  # another chat's queue, applied alongside
        card = await card_before_the_deadline(world, resident)
        world.clock.now = DEADLINE - dt.timedelta(minutes=1)
        screen = await confirmation(world, boss)
        endorse = world.t("bot.card.endorse", count=0)
        world.srv.press(resident, card["message_id"], world.data_of(card, endorse))
        await hall.receive_at(DEADLINE - dt.timedelta(seconds=62))
        world.srv.press(
            boss, screen["message_id"], world.data_of(screen, world.t("bot.admin.phase_yes"))
        )
        await hall.receive_at(DEADLINE - dt.timedelta(seconds=61))
        slow = world.svc.toggle_endorsement

        def slowly(*args: object, **kwargs: object) -> object:
            import time

            time.sleep(0.5)  # applied after the official's press, unless that waits
            return slow(*args, **kwargs)

        monkeypatch.setattr(world.svc, "toggle_endorsement", slowly)
        await hall.work(lambda: hall.backlog() == 0)
        [proposal] = world.svc.proposals(ROUND).items
        assert world.svc.round(ROUND).phase == "review"
        counted = world.svc.proposal(proposal.proposal_id).endorsements
        assert counted == (1 if wired else 0)


async def test_an_official_is_asked_to_press_again_when_the_queue_does_not_drain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Earlier actions still not applied after the wait (a stuck queue): nothing moves, and
    the official is told why and how to go on, with a refresh button."""
    from bot import official_round
    from tests.support.review_day import current
    from tests.support.review_day import official

    monkeypatch.setattr(official_round, "ADVANCE_QUEUE_WAIT_S", 0.4)
    async with BotWorld(tmp_path) as world:

        async def always() -> bool:
            return True

        world.services.extra["inbox_earlier"] = always
        boss = await official(world)
        screen = await confirmation(world, boss)
        await world.press(boss, screen, world.t("bot.admin.phase_yes"))
        shown = current(world, boss, screen)
        assert text_of(shown) == world.t("bot.admin.advance_queued")
        assert labels(shown) == [world.t("bot.admin.refresh")]
        assert world.svc.round(ROUND).phase == "submission"


async def test_a_replayed_update_behind_an_officials_move_in_its_queue_does_not_hold_it(
    tmp_path: Path, private_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator replays a dead letter (received before the official's press) into the
    partition the press waits in, behind it. It cannot be applied before the press (one
    partition is applied in order), so the move must not wait for it: it used to, for the
    whole wait, holding the partition, and then asked the official to press again."""
    from bot import official_round
    from gateway.worker import earlier_waiting
    from tests.support.review_day import official

    monkeypatch.setattr(official_round, "ADVANCE_QUEUE_WAIT_S", 0.4)
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        world.services.extra["inbox_earlier"] = earlier_waiting(hall.client, hall.layout)
        boss = await official(world)
        screen = await confirmation(world, boss)
        world.srv.press(
            boss, screen["message_id"], world.data_of(screen, world.t("bot.admin.phase_yes"))
        )
        pressed = world.clock.now
        assert await hall.receive_at(pressed) == 1
        died = int(pressed.timestamp() * 1000) - 1000  # received a second before the press
        sender = {"id": boss, "is_bot": False, "first_name": "x"}
        update = {"update_id": 999_999, "message": {
            "message_id": 1, "date": died // 1000, "text": "/help", "from": sender,
            "chat": {"id": boss, "type": "private"}}}  # fmt: skip
        dead_id = hall.client.xadd(
            hall.dead.key, {"u": json.dumps(update), "r": "attempts:5:X", "t": died}
        ).decode()
        assert hall.cli("replay", dead_id) == 0  # into the press's partition, behind it
        await hall.work(lambda: hall.backlog() == 0)
        assert world.t("bot.admin.advance_queued") not in repr(world.messages(boss))
        assert world.svc.round(ROUND).phase == "endorsement"


# ---------------------------------------------------------------- dead letters


def failing(*args: object, **kwargs: object) -> object:
    """A service call that fails before it commits, every time, while the database answers:
    the update is dead-lettered after `max_attempts`."""
    raise OperationalError("SELECT 1", {}, Exception("could not serialize access"))


async def a_dead_press_received_before_the_deadline(
    world: BotWorld, hall: Hall, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, dict[bytes, bytes]]:
    """A resident's 공감 received a second before the endorsement deadline that the workers
    gave up on; return the resident, the dead letter's id and fields (the fault is gone)."""
    resident = world.user("이준호")
    card = await card_before_the_deadline(world, resident)
    real = world.svc.toggle_endorsement
    monkeypatch.setattr(world.svc, "toggle_endorsement", failing)
    endorse = world.t("bot.card.endorse", count=0)
    world.srv.press(resident, card["message_id"], world.data_of(card, endorse))
    assert await hall.receive_at(DEADLINE - dt.timedelta(seconds=1)) == 1
    await hall.work(lambda: hall.backlog() == 0 and hall.client.xlen(hall.dead.key) == 1)
    monkeypatch.setattr(world.svc, "toggle_endorsement", real)
    [(dead_id, fields)] = list(hall.dead.entries())
    return resident, dead_id, fields


async def test_a_dead_letter_replayed_after_the_deadline_is_judged_when_it_was_received(
    tmp_path: Path, private_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The press died a second before the deadline; the round waits for it, the operator
    replays it two minutes after the deadline, and it counts, before the round moves on."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        resident, dead_id, fields = await a_dead_press_received_before_the_deadline(
            world, hall, monkeypatch
        )
        received = int((DEADLINE - dt.timedelta(seconds=1)).timestamp() * 1000)
        assert fields[b"t"] == str(received).encode()  # when ingress received it

        runs = JobRuns(world.ledger.engine)
        world.clock.now = DEADLINE + dt.timedelta(seconds=30)
        await advance_phases(world.svc, runs, hall.client, hall.layout, clock=world.clock)
        assert world.svc.round(ROUND).phase == "endorsement", "moved past a dead letter"

        world.clock.now = DEADLINE + dt.timedelta(minutes=2)
        assert hall.cli("replay", dead_id) == 0
        # back in its partition (behind nothing, with a stream id of the replay's time)
        await advance_phases(world.svc, runs, hall.client, hall.layout, clock=world.clock)
        assert world.svc.round(ROUND).phase == "endorsement", "moved past a replayed press"
        await hall.work(lambda: hall.backlog() == 0)
        [proposal] = world.svc.proposals(ROUND).items
        assert world.svc.proposal(proposal.proposal_id).endorsements == 1
        assert world.t("bot.card.unendorse", count=1) in repr(world.messages(resident))

        await advance_phases(world.svc, runs, hall.client, hall.layout, clock=world.clock)
        assert world.svc.round(ROUND).phase == "review"
        leaves = world.ledger.entries(0, int(world.ledger.size()))
        kinds = [json.loads(leaf)["entry"]["kind"] for leaf in leaves]
        assert kinds[-2:] == ["proposal.endorsed", "round.advanced"]  # in its phase, first


async def test_a_dead_letter_replayed_after_the_round_moved_on_is_refused(
    tmp_path: Path, private_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody replays it: the round moves on ten minutes after the deadline; a replay an hour
    later is refused with the deadline, never applied after the phase ended."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        resident, dead_id, _fields = await a_dead_press_received_before_the_deadline(
            world, hall, monkeypatch
        )
        runs = JobRuns(world.ledger.engine)
        world.clock.now = DEADLINE + dt.timedelta(seconds=rules.ADVANCE_WAIT_S - 1)
        await advance_phases(world.svc, runs, hall.client, hall.layout, clock=world.clock)
        assert world.svc.round(ROUND).phase == "endorsement"
        world.clock.now = DEADLINE + dt.timedelta(seconds=rules.ADVANCE_WAIT_S)
        await advance_phases(world.svc, runs, hall.client, hall.layout, clock=world.clock)
        assert world.svc.round(ROUND).phase == "review"

        size = int(world.ledger.size())
        world.clock.now = DEADLINE + dt.timedelta(hours=1)
        assert hall.cli("replay", dead_id) == 0
        seen = len(world.messages(resident))
        await hall.work(lambda: hall.backlog() == 0 and len(world.messages(resident)) > seen)
        [proposal] = world.svc.proposals(ROUND).items
        assert world.svc.proposal(proposal.proposal_id).endorsements == 0
        assert int(world.ledger.size()) == size
        # refused as out of phase (the round's state decides, whatever the moment judged)
        assert text_of(world.last(resident)) == world.t("participation.error.phase_closed")


async def test_a_replayed_entry_in_a_stream_outside_the_layout_holds_nothing(
    private_redis: str,
) -> None:
    """The index of replayed entries names each entry's stream; the inbox's script reads only
    the streams it is given (the layout's partitions, declared as its keys). An entry left in
    a stream the layout no longer has (UPDATE_PARTITIONS lowered) is read by no worker: it
    must not hold every round for the clock's whole wait, for ever."""
    import redis

    from webhook.inbox import REPLAYED
    from webhook.inbox import StreamLayout
    from webhook.inbox import ensure_groups

    client = redis.Redis.from_url(private_redis)
    layout = StreamLayout(2)
    ensure_groups(client, layout)
    base = 1_487_321_000_000
    gone = StreamLayout(4).stream(3)
    entry = client.xadd(gone, {"u": b'{"update_id": 1}', "t": base}).decode()
    client.zadd(layout.key(REPLAYED), {f"{gone} {entry}": base})
    assert oldest_waiting_ms(client, layout) is None
    client.close()
