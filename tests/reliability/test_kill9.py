"""kill -9 of a worker, of the clock and of the web process at random points under load.

Residents press 공감 buttons; the sandbox (Telegram) delivers every press to `POST /telegram`
and retries until it is answered 200, so every press is an accepted update in the end. While
they flow, a worker, the clock and the web process are each killed with SIGKILL at a random
point (seeded) and replaced. Afterwards: every accepted update is applied exactly once (one
ledger entry per update, exact counts in the projection, one answered button per press),
`python -m ledger verify` passes on the export, and the public channel shows the digest of
every block exactly once.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
import redis

from participation.store import tables
from tests.gateway.support import RedisServer
from tests.reliability.stack import FATAL_EVENTS
from tests.reliability.stack import SEED
from tests.reliability.stack import Stack

RESIDENTS = 30
PROPOSALS = 4


def chaos(stack: Stack, rng: random.Random) -> None:
    proposals = stack.open_round(PROPOSALS, authors_from=8_100_001)
    buttons = []
    for n in range(RESIDENTS):
        uid = stack.resident(8_000_001 + n)
        buttons += [
            stack.card_with_button(uid, "browse.endorse", {"proposal": p}) for p in proposals
        ]
    rng.shuffle(buttons)
    setup_size = stack.rt.ledger.size()
    stack.start(workers=2)

    pressed: list[int] = []
    victims = ["worker", "clock", "web"]
    rng.shuffle(victims)
    # kill points: fractions of the presses already applied, one window per victim
    points = sorted(rng.uniform(0.1 + 0.27 * i, 0.3 + 0.27 * i) for i in range(len(victims)))
    print(f"seed {SEED}: kills {list(zip(victims, [round(p, 2) for p in points], strict=True))}")

    def residents_press() -> None:
        for button in buttons:
            pressed.append(stack.press(button))
            time.sleep(rng.uniform(0.0, 0.03))  # 30-40 presses/s, in bursts

    presser = threading.Thread(target=residents_press)
    presser.start()
    applied = lambda: sum(stack.ledger_requests().values())  # noqa: E731
    for victim, point in zip(victims, points, strict=True):
        stack.wait(f"{point:.0%} applied", lambda p=point: applied() >= p * len(buttons), 90, 0.01)
        if victim == "worker":
            target = rng.choice(stack.live("worker"))
        else:
            (target,) = stack.live(victim)
        stack.replace(target)
        if victim == "web":
            stack.wait_web()
    presser.join(60)
    assert len(pressed) == len(buttons)
    stack.wait("the sandbox to deliver every update", lambda: stack.pending_deliveries() == 0, 90)
    stack.wait("every press applied", lambda: applied() >= len(buttons), 90)
    time.sleep(0.5)  # anything applied twice would show now

    # exactly once: one ledger entry per accepted update, nothing else
    per_update = stack.ledger_requests()
    assert sorted(per_update) == sorted(pressed), "an accepted update was lost"
    assert set(per_update.values()) == {1}
    assert stack.rt.ledger.size() == setup_size + len(buttons)
    assert stack.seq_gaps() == []
    counts = {p: stack.rt.service.proposal(p).endorsements for p in proposals}
    assert counts == dict.fromkeys(proposals, RESIDENTS)
    with stack.rt.engine.connect() as conn:
        rows = conn.execute(tables.endorsements.select()).all()
    assert len(rows) == RESIDENTS * PROPOSALS
    # each press got its answer (the toast), exactly once
    for n in range(RESIDENTS):
        answered = stack.sandbox.answered_callbacks(8_000_001 + n)
        assert len(answered) == PROPOSALS, answered

    # every block sealed, its digest posted once; the export verifies
    size = stack.rt.ledger.size()
    stack.wait("the last block sealed", lambda: (cp := stack.rt.ledger.checkpoint()) is not None
               and cp.size == size, 60)  # fmt: skip
    last = stack.rt.ledger.checkpoint()
    assert last is not None
    stack.wait("every digest posted", lambda: len(set(stack.digest_blocks())) >= last.block, 60)
    time.sleep(1.5)  # a second post of any block would show now
    posts = stack.digest_blocks()
    assert sorted(posts) == list(range(1, last.block + 1)), f"digests posted: {posts}"
    verified = stack.export_and_verify()
    assert verified.returncode == 0, verified.stderr
    assert f"OK: {size} entries" in verified.stdout

    assert not stack.events(*FATAL_EVENTS), stack.events(*FATAL_EVENTS)[:3]
    killed = {p.role for p in stack.procs if p.popen.returncode == -9}
    assert killed == {"worker", "clock", "web"}


@pytest.mark.slow
def test_kill_9_of_worker_clock_and_web_under_load(tmp_path: Path):
    server = RedisServer(tmp_path / "redis").start()
    stack = Stack(tmp_path, f"sqlite:///{tmp_path}/db.sqlite", server.url)
    try:
        chaos(stack, random.Random(SEED))
    finally:
        stack.stop()
        server.kill()


@pytest.mark.integration
@pytest.mark.slow
def test_kill_9_on_postgresql_and_the_shared_redis(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
):
    stack = Stack(tmp_path, pg_url, redis_url, prefix=redis_prefix)
    try:
        chaos(stack, random.Random(SEED + 1))
    finally:
        stack.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
