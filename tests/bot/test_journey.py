"""The resident's journey end to end, through the sandbox Bot API with PTB unchanged.

A resident of 연천군 registers and submits a proposal with a photo; a student in 성남시 opens
the shared deep link, registers on the way, endorses and withdraws; both ask for receipts and
each receipt's inclusion proof verifies against a signed checkpoint.
"""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from ledger import Verifier
from ledger.checkpoint import open_checkpoint
from ledger.hashing import hash_leaf
from ledger.proof import verify_inclusion
from tests.support.e2e_bot import PUBLIC_URL
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of

pytestmark = pytest.mark.asyncio


async def submit_with_photo(world: BotWorld, uid: int) -> str:
    """Go through 제안하기 with a photo; return the share link the bot gave."""
    await world.text(uid, world.t("bot.menu.submit"))
    assert world.t("bot.submit.ask_title", max=60) == text_of(world.last(uid))
    await world.text(uid, "마을 공동 텃밭 만들기")
    await world.text(uid, "빈 땅에 주민이 함께 가꾸는 텃밭을 만들어요.")
    categories = world.last(uid)
    await world.press(uid, categories, "공동체 활성화")
    reply = await world.text(uid, "150만원")
    assert text_of(reply) == world.t("bot.submit.ask_photo")
    preview = await world.photo(uid)
    assert preview["photo"] and "1,500,000원" in text_of(preview)
    assert "연천군" in text_of(preview)
    await world.press(uid, preview, world.t("bot.submit.confirm"))
    done = world.last(uid, lambda m: "t.me/" in text_of(m))
    link = next(w for w in text_of(done).split() if w.startswith("https://t.me/"))
    return link


def verify_receipts(world: BotWorld, message: dict[str, object], locale: str = "ko") -> int:
    """Check every /verify link of a receipts message against the signed checkpoint, and
    that it opens the page in the reader's `locale`."""
    checkpoint = world.ledger.checkpoint()
    assert checkpoint is not None
    opened = open_checkpoint(checkpoint.text, Verifier.from_vkey(world.ledger.vkeys()[0]))
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])  # type: ignore[union-attr]
    urls = [b["url"] for row in rows for b in row if "url" in b]
    for url in urls:
        assert url.startswith(PUBLIC_URL + "/verify?")
        query = parse_qs(urlsplit(url).query)
        index, leaf = int(query["i"][0]), bytes.fromhex(query["h"][0])
        assert hash_leaf(world.ledger.entries(index, index + 1)[0]) == leaf
        block = world.ledger.block_of(index)
        assert block is not None and query["b"] == [str(block.number)]
        assert query["lang"] == [locale]
        path = world.ledger.inclusion_proof(index, opened.size)
        verify_inclusion(leaf, index, opened.size, path, opened.root)
    return len(urls)


async def test_two_residents_submit_endorse_withdraw_and_verify_receipts(world: BotWorld) -> None:
    author, student = world.user("김순자"), world.user("이준호")
    await world.register(author, "연천군")
    link = await submit_with_photo(world, author)
    card = world.last(author)
    assert card["photo"] and "마을 공동 텃밭 만들기" in text_of(card)
    [proposal] = world.svc.my_proposals(author)
    assert (
        proposal.photo_file_id and proposal.budget == 1_500_000 and proposal.region == "yeoncheon"
    )
    assert link == f"https://t.me/{world.srv.bot_username}?start=p_{proposal.proposal_id}"

    # the student opens the shared link before registering: consent, region, then the card
    await world.deep_link(student, link)
    await world.press(student, world.last(student), world.t("bot.privacy.agree"))
    regions = world.last(student)
    await world.press(student, regions, "성남시")
    card = world.last(student)
    assert "마을 공동 텃밭 만들기" in text_of(card) and card["photo"]
    endorsed = await world.press(student, card, world.t("bot.card.endorse", count=0))
    assert world.t("bot.card.unendorse", count=1) in labels(endorsed)
    assert world.svc.proposal(proposal.proposal_id).endorsements == 1
    withdrawn = await world.press(student, endorsed, world.t("bot.card.unendorse", count=1))
    assert world.t("bot.card.endorse", count=0) in labels(withdrawn)
    assert world.svc.proposal(proposal.proposal_id).endorsements == 0
    assert withdrawn["message_id"] == card["message_id"]  # redrawn in place

    world.ledger.seal()
    for uid, expected in ((author, 2), (student, 3)):  # registration + submit / + endorse, undo
        receipts = await world.text(uid, world.t("bot.menu.receipts"))
        assert verify_receipts(world, receipts) == expected
        assert world.t("bot.receipts.block", block=1) in text_of(receipts)
        # each receipt names its proposal by number, never by its internal id
        assert proposal.proposal_id not in text_of(receipts)
        assert "registration" not in text_of(receipts)
    lines = [x for x in text_of(receipts).split("\n") if x.startswith("• ")]
    assert [x.endswith(f" #{proposal.number}") for x in lines] == [True, True, False]


async def test_an_english_residents_receipts_open_the_english_verify_page(
    world: BotWorld,
) -> None:
    """The links had no `lang`: an English resident landed on the Korean page."""
    uid = world.user("Jane", language_code="en")
    await world.register(uid, "Suwon-si", "en")
    world.ledger.seal()
    receipts = await world.text(uid, world.t("bot.menu.receipts", "en"))
    assert verify_receipts(world, receipts, "en") == 1


async def test_a_stale_or_double_tapped_button_does_nothing_twice(world: BotWorld) -> None:
    author, fan = world.user(), world.user("팬")
    await world.register(author)
    await world.register(fan)
    card = world.svc.submit_proposal(
        author, "gg2017", title="t", body="b", category="culture", region="suwon", budget=10_000
    )
    shown = await world.deep_link(
        fan, f"https://t.me/{world.srv.bot_username}?start=p_{card.proposal_id}"
    )
    tap = world.data_of(shown, world.t("bot.card.endorse", count=0))
    world.srv.press(fan, shown["message_id"], tap)
    world.srv.press(fan, shown["message_id"], tap)  # the double tap arrives before any answer
    await world.drain()
    assert world.svc.proposal(card.proposal_id).endorsements == 1
    answers = world.srv.answered_callbacks(fan)
    assert any(a.get("text") == world.t("bot.button.expired") for a in answers)


@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_a_double_tap_is_told_the_button_was_used_not_that_time_ran_out(
    world: BotWorld, locale: str
) -> None:
    """The second tap of a double tap on 제출 or 공감 is answered with a text that is true of
    it: the button was used already (or is out of date), not 'expired with time'."""
    author = world.user("Alex" if locale == "en" else "민지", language_code=locale)
    fan = world.user("Sam" if locale == "en" else "팬", language_code=locale)
    region = "Suwon-si" if locale == "en" else "수원시"
    await world.register(author, region, locale)
    await world.register(fan, region, locale)
    await world.text(author, world.t("bot.menu.submit", locale))
    await world.text(author, "마을 공동 텃밭 만들기")
    await world.text(author, "빈 땅에 주민이 함께 가꾸는 텃밭을 만들어요.")
    await world.press(author, world.last(author), world.t("participation.category.culture", locale))
    await world.text(author, "1,500,000")
    skip = world.t("bot.submit.skip_photo", locale)
    preview = await world.press(author, world.last(author), skip)
    submit = world.data_of(preview, world.t("bot.submit.confirm", locale))
    world.srv.press(author, preview["message_id"], submit)
    world.srv.press(author, preview["message_id"], submit)  # the double tap
    await world.drain()
    (card,) = world.svc.my_proposals(author)
    shown = await world.deep_link(
        fan, f"https://t.me/{world.srv.bot_username}?start=p_{card.proposal_id}"
    )
    tap = world.data_of(shown, world.t("bot.card.endorse", locale, count=0))
    world.srv.press(fan, shown["message_id"], tap)
    world.srv.press(fan, shown["message_id"], tap)
    await world.drain()
    assert world.svc.proposal(card.proposal_id).endorsements == 1
    stale = world.t("bot.button.expired", locale)
    for uid in (author, fan):
        assert stale in [a.get("text") for a in world.srv.answered_callbacks(uid)]
    used = {"ko": "이미 누른", "en": "already used"}[locale]
    assert used in stale
    assert "시간이 지나" not in stale and "expired" not in stale
