"""An English-speaking official through every admin screen: no Korean in the bot's texts and
button labels except data (round and proposal titles, community and place names)."""

from __future__ import annotations

import re

import pytest

from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio

HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
DATA = ("2017 따복공동체", "제안", "마을을 위한 제안이에요.", "햇살마을")


async def english_official(world: BotWorld, role: str = "admin") -> int:
    uid = world.user("Officer", language_code="en")
    await world.register(uid, "Suwon-si", "en")
    code = world.svc.invite_official(OFFICIAL, role=role)
    await world.deep_link(uid, world.services.deep_link(code))
    assert world.svc.official_role(uid) == role
    return uid


def korean_in(world: BotWorld, uid: int) -> list[str]:
    """Every bot text or label of ``uid`` that holds Hangul once data is taken out."""
    found = []
    for m in world.messages(uid):
        for said in [text_of(m), *labels(m)]:
            rest = said
            for d in DATA:
                rest = rest.replace(d, "")
            if HANGUL.search(rest):
                found.append(said)
    return found


async def test_every_admin_screen_speaks_english(world: BotWorld) -> None:
    """Each menu item before and during review, and every button of each screen, in English:
    no Hangul except the data (the round's and proposals' titles, a community's name)."""
    boss = await english_official(world)
    en = lambda k, **p: world.t(k, "en", **p)  # noqa: E731
    submit(world, resident(world, "제안자"), 3)
    world.svc.add_community(OFFICIAL, ROUND, community="c001", region="suwon", name="햇살마을")
    before = ("figures", "judges", "officials", "enrollment", "onsite", "paper", "rounds")
    for key in (*before, "phase", "publish"):
        menu = await world.text(boss, "/admin")
        await world.press(boss, menu, en(f"bot.admin.menu.{key}"))
    to_review(world)
    for key in ("figures", "judges", "onsite", "paper", "enrollment", "phase", "publish"):
        menu = await world.text(boss, "/admin")
        shown = await world.press(boss, menu, en(f"bot.admin.menu.{key}"))
        for label in labels(current(world, boss, shown))[:-1]:  # all but the way back
            screen = current(world, boss, shown)
            if label in labels(screen):
                await world.press(boss, screen, label)
    assert korean_in(world, boss) == []
    assert "Results phase" in text_of(world.with_button(boss, en("bot.admin.back")))


async def test_english_counts_agree_with_their_nouns(world: BotWorld) -> None:
    """'1 correction(s) needed' and 'split into 1 review groups': the English catalog chose
    no form by the count."""
    from tests.bot.test_official_community import enrollment
    from tests.bot.test_official_community import send_file

    boss = await english_official(world)
    listing = await enrollment(world, boss, "en")
    await world.press(boss, listing, world.t("bot.admin.community.bulk_button", "en"))
    report = text_of(await send_file(world, boss, b"Moon Village,Busan\n"))
    assert report.startswith("1 correction is needed, so nothing was added.")
    report = text_of(await send_file(world, boss, b"Moon Village,Busan\nSun,Seoul\n"))
    assert report.startswith("2 corrections are needed, so nothing was added.")
    one = world.t("bot.admin.groups_formed", "en", count=1)
    assert one == "The shortlist was split into 1 review group."
    assert world.t("bot.admin.groups_formed", "en", count=3).endswith("into 3 review groups.")
