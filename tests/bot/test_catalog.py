"""Every text the bot can show exists in Korean and English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from i18n import Catalog
from participation.domain.events import KINDS
from participation.domain.round import DEFAULT_CATEGORIES

BOT = Path(__file__).resolve().parents[2] / "bot"
LITERAL = re.compile(r'"(bot\.[a-z_]+(?:\.[a-z_]+)+)"')
NOT_TEXT = {"bot.app"}  # the logger's name
DYNAMIC = [
    *(f"bot.submit.need_text_{f}" for f in ("title", "body", "budget")),
    *(f"bot.submit.field.{f}" for f in ("title", "body", "category", "budget", "photo")),
    *(
        f"bot.submit.{k}{change}"  # submit.photo_key
        for k in ("ask_photo", "need_photo", "photo_as_file", "album_no_photo")
        for change in ("", "_change")
    ),
    *(f"bot.browse.sort.{s}" for s in ("endorsements", "newest")),
    *(f"bot.browse.sort_to.{s}" for s in ("endorsements", "newest")),
    *(f"bot.settings.{k}.{loc}" for k in ("language_name", "switch_to") for loc in ("ko", "en")),
    *(f"bot.start.redeemed.{k}" for k in ("judge", "official", "onsite", "enrollment")),
    *(f"participation.category.{c}" for c in DEFAULT_CATEGORIES),
]
ALL_KINDS = sorted(KINDS)


def used_keys() -> list[str]:
    found = {m for p in BOT.glob("*.py") for m in LITERAL.findall(p.read_text())}
    return sorted(found - NOT_TEXT)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_the_scan_finds_the_bot_texts() -> None:
    assert len(used_keys()) > 80


@pytest.mark.parametrize("key", used_keys() + DYNAMIC)
@pytest.mark.parametrize("locale", ["ko", "en"])
def test_every_key_the_bot_uses_has_a_text(catalog: Catalog, key: str, locale: str) -> None:
    assert catalog.has(key, locale)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_receipt_kind_has_a_name(catalog: Catalog, kind: str) -> None:
    key = "bot.kind." + kind.replace(".", "_")
    assert catalog.has(key, "ko") and catalog.has(key, "en")


def notice_keys() -> list[str]:
    return sorted(k for k in Catalog.load().messages["ko"] if k.startswith("participation.notice."))


@pytest.mark.parametrize("key", notice_keys())
def test_notices_to_residents_speak_haeyo(catalog: Catalog, key: str) -> None:
    """Residents are spoken to in 해요체. The selection notice, sent to a proposal's author and
    its endorsers, said '축하합니다. ... 선정되었습니다.' in the officials' 합쇼체."""
    text = catalog.messages["ko"][key]
    assert not re.search(r"[니습]다[.!]?(\s|$)", text), text


def test_the_ledger_is_called_jangbu_everywhere(catalog: Catalog) -> None:
    """Residents' screens say 장부 (기록 장부) and the public posts 공개 장부; the officials' and
    judges' screens and the recount (python -m participation tally) said 원장 for the same
    ledger."""
    said = [k for k, v in catalog.messages["ko"].items() if "원장" in v]
    assert said == []
