"""100 residents endorse the same proposal at the same instant, through several workers.

The 100 presses are POSTed to `/telegram` at once (100 threads behind a barrier, as Telegram
delivers with many connections); three worker processes apply them concurrently. The count
is exact, every update made exactly one ledger entry, the sequence has no gap, and the
export verifies.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
import redis

from tests.gateway.support import RedisServer
from tests.reliability.stack import Stack

RESIDENTS = 100


def same_instant(stack: Stack) -> None:
    (proposal,) = stack.open_round(1, authors_from=8_600_000)
    buttons = [
        stack.card_with_button(stack.resident(8_700_000 + n), "browse.endorse",
                               {"proposal": proposal})
        for n in range(RESIDENTS)
    ]  # fmt: skip
    size = stack.rt.ledger.size()
    stack.start(workers=3, clock=False)  # no clock: nothing delivers but these threads
    updates = [stack.sandbox.press(b["user"], b["message_id"], b["data"]) for b in buttons]
    barrier = threading.Barrier(RESIDENTS)
    statuses: list[int] = []
    headers = {"X-Telegram-Bot-Api-Secret-Token": stack.settings.webhook_secret}

    def deliver(update: dict) -> None:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            statuses.append(http.post(f"{stack.web_url}/telegram", json=update,
                                      headers=headers).status_code)  # fmt: skip

    threads = [threading.Thread(target=deliver, args=(u,)) for u in updates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * RESIDENTS
    stack.wait("every endorsement", lambda: stack.rt.service.proposal(proposal).endorsements
               >= RESIDENTS, 120)  # fmt: skip
    stack.wait("every update acknowledged as processed", lambda: {
        e["update_id"] for e in stack.events("update_processed")} >= {
        u["update_id"] for u in updates}, 30)  # fmt: skip
    assert stack.rt.service.proposal(proposal).endorsements == RESIDENTS
    per_update = stack.ledger_requests()
    assert sorted(per_update) == sorted(u["update_id"] for u in updates)
    assert set(per_update.values()) == {1}
    assert stack.rt.ledger.size() == size + RESIDENTS
    assert stack.seq_gaps() == []
    workers = {e["worker"] for e in stack.events("update_processed")}
    assert len(workers) == 3, "the presses were applied by all three workers"
    stack.rt.ledger.seal()
    verified = stack.export_and_verify()
    assert verified.returncode == 0, verified.stderr
    assert not stack.events("update_failed", "handler_failed")


@pytest.mark.slow
def test_100_residents_endorse_the_same_proposal_at_once(tmp_path: Path):
    server = RedisServer(tmp_path / "redis").start()
    stack = Stack(tmp_path, f"sqlite:///{tmp_path}/db.sqlite", server.url, partitions=12)
    try:
        same_instant(stack)
    finally:
        stack.stop()
        server.kill()


@pytest.mark.integration
@pytest.mark.slow
def test_100_residents_at_once_on_postgresql(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
):
    stack = Stack(tmp_path, pg_url, redis_url, prefix=redis_prefix, partitions=12)
    try:
        same_instant(stack)
    finally:
        stack.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
