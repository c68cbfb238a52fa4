"""Sweeping long-expired button tokens is housekeeping on the clock's time, not on the time an
update was received.

Updates of different partitions are received at different moments: with one partition
behind by more than the sweep period (a backlog after an outage), taking the sweep's time
from ``received_at`` made it go back and forth, and every keyboard issued swept again.
"""

from __future__ import annotations

from typing import Any

import pytest

from participation.app.base import received_at
from participation.service import ParticipationService
from participation.store import repo


def test_presses_received_far_apart_do_not_sweep_the_tokens_every_time(
    service: ParticipationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeps: list[int] = []
    real = repo.sweep_buttons

    def counted(conn: Any, now: int) -> None:
        sweeps.append(now)
        real(conn, now)

    monkeypatch.setattr(repo, "sweep_buttons", counted)
    now = service._clock_now()  # type: ignore[attr-defined]
    behind = now - repo.BUTTON_SWEEP_EVERY_S - 60  # a partition 11 minutes behind
    for n in range(6):
        token = received_at.set(now if n % 2 == 0 else behind)
        try:
            service.issue_button(100 + n, "card.open", {"n": n})
        finally:
            received_at.reset(token)
    assert len(sweeps) == 1, sweeps
