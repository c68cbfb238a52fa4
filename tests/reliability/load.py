"""A review day in miniature: residents press 공감 while the test breaks things.

`endorsement_day` registers residents and proposals through the service, gives each resident
a card message with one 공감 button per proposal (issued by the service, as the bot does),
starts the processes, and lets the residents press in a seeded random order. Each
disruption runs once, when a random share of the presses has been applied. Then it checks
that every accepted update was applied exactly once and that the ledger and the channel are
whole. The sandbox retries a delivery until `POST /telegram` answers 200, so in the end
every press is an accepted update.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from participation.store import tables
from tests.reliability.stack import FATAL_EVENTS
from tests.reliability.stack import SEED
from tests.reliability.stack import Stack

RESIDENT_IDS = 8_000_001
WINDOW_S = 14.0  # Telegram's (and the sandbox's) 15 s to answer a button, less a margin
AUTHOR_IDS = 8_100_001
INFRA_ERRORS = {"OperationalError", "InterfaceError", "ConnectionError", "TimeoutError",
                "ConnectionRefusedError", "BusyLoadingError", "RedisError",
                "PendingRollbackError"}  # fmt: skip


def _quiet(probe: Callable[[], Any]) -> Callable[[], Any]:
    """A probe that counts a database or Redis outage as 'not yet'."""

    def run() -> Any:
        try:
            return probe()
        except Exception:  # the test's own connections fail while a server is down
            return None

    return run


def failures(stack: Stack) -> list[dict[str, Any]]:
    return stack.events(*FATAL_EVENTS)


def infra_only(events: list[dict[str, Any]]) -> bool:
    """Return whether every failure event was an outage of the database or Redis."""
    for event in events:
        kinds = {event.get("error")} | {e.get("exc_type") for e in event.get("exception") or []}
        if not kinds & INFRA_ERRORS:
            return False
    return True


def endorsement_day(
    stack: Stack,
    rng: random.Random,
    disruptions: list[tuple[str, Callable[[], None]]],
    *,
    residents: int = 30,
    proposals: int = 4,
    outages: bool = False,
) -> None:
    """Run the day with `disruptions`; with `outages`, failures of infrastructure are allowed."""
    ids = stack.open_round(proposals, authors_from=AUTHOR_IDS)
    buttons = []
    for n in range(residents):
        uid = stack.resident(RESIDENT_IDS + n)
        buttons += [stack.card_with_button(uid, "browse.endorse", {"proposal": p}) for p in ids]
    rng.shuffle(buttons)
    setup_size = stack.rt.ledger.size()
    stack.start(workers=2)

    rng.shuffle(disruptions)
    width = 0.8 / max(1, len(disruptions))
    points = [
        rng.uniform(0.1 + width * i, 0.1 + width * (i + 0.7)) for i in range(len(disruptions))
    ]
    plan = [(name, round(p, 2)) for (name, _), p in zip(disruptions, points, strict=True)]
    print(f"seed {SEED}: {plan}")

    pressed: list[int] = []
    pressed_at: dict[int, float] = {}

    def residents_press() -> None:
        for button in buttons:
            pressed.append(stack.press(button))
            pressed_at[pressed[-1]] = time.time()
            time.sleep(rng.uniform(0.0, 0.03))  # 30-40 presses/s, in bursts

    presser = threading.Thread(target=residents_press)
    presser.start()
    applied = _quiet(lambda: sum(stack.ledger_requests().values()))
    for (name, disrupt), point in zip(disruptions, points, strict=True):
        stack.wait(f"{point:.0%} applied before {name}",
                   lambda p=point: (applied() or 0) >= p * len(buttons), 120, 0.01)  # fmt: skip
        disrupt()
    presser.join(60)
    assert len(pressed) == len(buttons)
    stack.wait("the sandbox to deliver every update", lambda: stack.pending_deliveries() == 0, 120)
    stack.wait("every press applied", lambda: (applied() or 0) >= len(buttons), 120)
    time.sleep(0.5)  # anything applied twice would show now

    # exactly once: one ledger entry per accepted update, nothing else
    per_update = stack.ledger_requests()
    assert sorted(per_update) == sorted(pressed), "an accepted update was lost"
    assert set(per_update.values()) == {1}
    assert stack.rt.ledger.size() == setup_size + len(buttons)
    assert stack.seq_gaps() == []
    counts = {p: stack.rt.service.proposal(p).endorsements for p in ids}
    assert counts == dict.fromkeys(ids, residents)
    with stack.rt.engine.connect() as conn:
        assert len(conn.execute(tables.endorsements.select()).all()) == residents * proposals
    # every press was answered (the toast, or the apology of an outage)
    answered = {
        q["data"]
        for n in range(residents)
        for q in stack.sandbox.answered_callbacks(RESIDENT_IDS + n)
    }
    unanswered = [u for b, u in zip(buttons, pressed, strict=True) if b["data"] not in answered]
    # Telegram takes an answer for 15 s only: a press applied later (the web process or the
    # database was down that long on a loaded machine) cannot be answered any more.
    done_at = {
        e["update_id"]: datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
        for e in stack.events("update_processed")
    }
    in_time = [u for u in unanswered if done_at.get(u, 0.0) - pressed_at[u] < WINDOW_S]
    assert not in_time, f"presses applied within 15 s but never answered: {in_time}"
    if unanswered:
        print(f"{len(unanswered)} of {len(buttons)} presses were applied after the 15 s window")

    # every block sealed, its digest posted once; the export verifies
    size = stack.rt.ledger.size()
    stack.wait("the last block sealed", _quiet(lambda: (cp := stack.rt.ledger.checkpoint())
               is not None and cp.size == size), 60)  # fmt: skip
    last = stack.rt.ledger.checkpoint()
    assert last is not None
    stack.wait("every digest posted", lambda: len(set(stack.digest_blocks())) >= last.block, 60)
    time.sleep(1.5)  # a second post of any block would show now
    posts = stack.digest_posts()
    blocks = [number for number, _date in posts]
    assert sorted(set(blocks)) == list(range(1, last.block + 1)), f"digests posted: {blocks}"
    # Telegram has no idempotent send: a clock killed between Telegram's answer and its
    # record of the message id (gateway.digest: a few ms) posts that block again after the
    # restart rather than never. Any second post must be exactly that: the first copy sent
    # in the second (message dates are whole seconds) in which a clock was killed.
    clock_kills = [at for role, at in stack.kill_times if role == "clock"]
    for number in sorted({b for b in blocks if blocks.count(b) > 1}):
        dates = [date for b, date in posts if b == number]
        assert len(dates) == 2 and any(dates[0] - 1 <= at < dates[0] + 2 for at in clock_kills), (
            f"block {number} posted {len(dates)} times at {dates}; clock kills: {clock_kills}"
        )
        print(f"block {number}: posted again after a clock was killed in its send window")
    verified = stack.export_and_verify()
    assert verified.returncode == 0, verified.stderr
    assert f"OK: {size} entries" in verified.stdout

    assert not stack.stray_errors(), stack.stray_errors()[:3]
    bad = failures(stack)
    if outages:
        assert infra_only(bad), [b for b in bad if not infra_only([b])][:3]
    else:
        assert not bad, bad[:3]
