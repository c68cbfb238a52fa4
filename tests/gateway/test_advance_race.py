"""The clock reads the inbox, then decides whether a deadline passed: both at one moment.

`advance_phases` reads the oldest update still waiting in the inbox, then the service takes
its own time to judge the deadlines. When the read comes just before a deadline and the
service's time just after it, a press received between the two (before the deadline) is not
in the read: the round must not move past it on that read.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from gateway import clock as gateway_clock
from gateway.clock import advance_phases
from gateway.store import JobRuns
from tests.gateway.test_received_time import DEADLINE
from tests.gateway.test_received_time import Hall
from tests.gateway.test_received_time import card_before_the_deadline
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from webhook.inbox import chat_id_of
from webhook.inbox import oldest_waiting_ms

pytestmark = pytest.mark.asyncio


async def test_a_press_received_while_the_clock_reads_the_inbox_is_waited_for(
    tmp_path: Path,
    private_redis: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        resident = world.user("이준호")
        card = await card_before_the_deadline(world, resident)
        endorse = world.t("bot.card.endorse", count=0)
        world.srv.press(resident, card["message_id"], world.data_of(card, endorse))
        [update] = await world.app.bot.get_updates(offset=world.offset, timeout=0)
        world.offset = update.update_id + 1

        world.clock.now = DEADLINE - dt.timedelta(seconds=1)  # the tick starts

        def read_then_receive(client: Any, layout: Any, **dead: Any) -> int | None:
            found = oldest_waiting_ms(client, layout, **dead)  # empty: nothing received yet
            # ... and while the tick goes on, the press arrives (received before the
            # deadline) and the deadline passes
            ms = int((DEADLINE - dt.timedelta(milliseconds=500)).timestamp() * 1000)
            stream = layout.stream(layout.partition_of(chat_id_of(update.to_dict())))
            client.xadd(stream, {"u": update.to_json()}, id=f"{ms}-0")
            world.clock.now = DEADLINE + dt.timedelta(seconds=1)
            return found

        monkeypatch.setattr(gateway_clock, "oldest_waiting_ms", read_then_receive)
        runs = JobRuns(world.ledger.engine)
        await advance_phases(world.svc, runs, hall.client, hall.layout, clock=world.clock)
        assert world.svc.round(ROUND).phase == "endorsement", "moved past a press not read"
        monkeypatch.undo()

        await hall.work(lambda: hall.backlog() == 0)
        [proposal] = world.svc.proposals(ROUND).items
        assert world.svc.proposal(proposal.proposal_id).endorsements == 1

        await advance_phases(world.svc, runs, hall.client, hall.layout, clock=world.clock)
        assert world.svc.round(ROUND).phase == "review"
