"""Helpers for the review-day bot tests: residents, proposals and phases set up through the
service (fast), so each test drives through the bot only the screens it is about."""

from __future__ import annotations

from bot.services import CONSENT_VERSION
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld


def resident(world: BotWorld, name: str = "주민", region: str = "suwon", locale: str = "ko") -> int:
    """Create a sandbox user registered through the service; return the Telegram id."""
    uid = world.user(name, language_code=locale)
    world.svc.register(uid, region=region, consent_version=CONSENT_VERSION, locale=locale)
    return uid


def submit(world: BotWorld, author: int, count: int, title: str = "제안") -> list[str]:
    """Submit ``count`` proposals by ``author``; return their ids."""
    return [
        world.svc.submit_proposal(
            author,
            ROUND,
            title=f"{title} {i + 1}",
            body="마을을 위한 제안이에요.",
            category="community",
            region="suwon",
            budget=1_000_000 * (i + 1),
        ).proposal_id
        for i in range(count)
    ]


def to_review(world: BotWorld) -> None:
    """Advance the round from submission through endorsement into review."""
    world.svc.advance_round(OFFICIAL, ROUND)
    world.svc.advance_round(OFFICIAL, ROUND)


async def official(world: BotWorld, name: str = "담당자", role: str = "admin") -> int:
    """A sandbox user who registers and redeems an official invitation through the bot."""
    uid = world.user(name)
    await world.register(uid, "수원시")
    code = world.svc.invite_official(OFFICIAL, role=role)
    await world.deep_link(uid, world.services.deep_link(code))
    assert world.svc.official_role(uid) == role
    return uid


def current(world: BotWorld, uid: int, message: dict[str, object]) -> dict[str, object]:
    """Return ``message`` as it is now (screens redraw the pressed message in place)."""
    return next(m for m in world.messages(uid) if m["message_id"] == message["message_id"])
