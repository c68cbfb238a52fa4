"""Flood control: token buckets per bot, per chat and per group, with Telegram's retry_after."""

from __future__ import annotations

import pytest

from sandbox.errors import ApiError
from sandbox.flood import FloodControl
from sandbox.flood import FloodLimits


def refused_after(control: FloodControl, chat: int, private: bool, at: float) -> int:
    with pytest.raises(ApiError) as caught:
        control.admit(1, chat, private, now=at)
    assert caught.value.code == 429
    assert caught.value.envelope()["parameters"] == {"retry_after": caught.value.retry_after}
    return int(caught.value.retry_after or 0)


def test_disabled_control_admits_everything() -> None:
    control = FloodControl(enabled=False)
    for n in range(500):
        control.admit(1, 7, True, now=n * 0.001)


def test_a_private_chat_gets_a_short_burst_then_one_per_second() -> None:
    control = FloodControl(enabled=True)
    for _ in range(3):
        control.admit(1, 7, True, now=0.0)
    assert refused_after(control, 7, True, 0.0) == 1
    control.admit(1, 7, True, now=1.0)
    assert refused_after(control, 7, True, 1.5) == 1


def test_overall_rate_is_thirty_per_second_across_chats() -> None:
    control = FloodControl(enabled=True)
    for chat in range(30):
        control.admit(1, chat, True, now=0.0)
    assert refused_after(control, 99, True, 0.0) == 1
    control.admit(1, 99, True, now=0.05)


def test_a_group_gets_twenty_per_minute() -> None:
    control = FloodControl(enabled=True, limits=FloodLimits(overall_burst=100, overall_rate=100))
    for n in range(20):
        control.admit(1, -100, False, now=n * 0.01)
    assert refused_after(control, -100, False, 0.3) == 3  # one token every 3 s


def test_injected_429s_come_first_and_are_counted() -> None:
    control = FloodControl(enabled=False)
    control.inject_429(2, 9)
    assert refused_after(control, 1, True, 0.0) == 9
    assert refused_after(control, 1, True, 0.0) == 9
    control.admit(1, 1, True, now=0.0)
    control.record(1, now=0.0)
    assert control.stats()["rate_limited"] == 2 and control.stats()["total"] == 1
