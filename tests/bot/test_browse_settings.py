"""Browsing (paging, filters, sort), settings (language, region, notifications, erase), notices."""

from __future__ import annotations

import pytest

from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of

pytestmark = pytest.mark.asyncio


def seed(world: BotWorld, author: int, count: int) -> list[str]:
    ids = []
    for n in range(count):
        card = world.svc.submit_proposal(
            author, ROUND, title=f"제안 {n}", body="내용", budget=100_000 * (n + 1),
            category="culture" if n % 2 else "environment",
            region="paju" if n < 3 else "suwon",
        )  # fmt: skip
        ids.append(card.proposal_id)
    return ids


async def test_list_pages_filters_and_sorts(world: BotWorld) -> None:
    author, reader = world.user("작성자"), world.user("독자")
    await world.register(author)
    await world.register(reader)
    ids = seed(world, author, 12)
    world.svc.endorse(reader, ids[4])
    page = await world.text(reader, world.t("bot.menu.browse"))
    assert "1/3" in labels(page) and "제안 4" in text_of(page).split("\n")[3]  # most 공감 first
    page = await world.press(reader, page, "▶")
    assert "2/3" in labels(page) and "6." in text_of(page)
    page = await world.press(reader, page, world.t("bot.browse.sort_to.newest"))
    assert "제안 11" in text_of(page).split("\n")[3]  # newest first, back on page 1
    picker = await world.press(reader, page, world.t("bot.browse.by_category"))
    page = await world.press(reader, picker, "문화·예술")
    assert "1/2" in labels(page) and "제안 0" not in text_of(page)
    picker = await world.press(reader, page, world.t("bot.browse.by_region"))
    picker = await world.press(reader, picker, "▶")
    page = await world.press(reader, picker, "파주시")
    assert world.t("bot.browse.head", round="2017 따복공동체", total=1) in text_of(page)
    card = await world.press(reader, page, "1")
    assert "제안 1" in text_of(card) and "200,000원" in text_of(card)


async def test_share_link_and_own_card(world: BotWorld) -> None:
    author = world.user()
    await world.register(author)
    [pid] = seed(world, author, 1)
    card = await world.deep_link(author, f"https://t.me/{world.srv.bot_username}?start=p_{pid}")
    assert world.t("bot.card.endorse", count=0) not in labels(card)  # never one's own
    shared = await world.press(author, card, world.t("bot.card.share"))
    assert f"start=p_{pid}" in text_of(shared)
    assert shared["reply_markup"]["inline_keyboard"][0][0]["url"].startswith("https://t.me/share")


async def test_an_unknown_deep_link_is_explained(world: BotWorld) -> None:
    uid = world.user()
    await world.register(uid)
    reply = await world.text(uid, "/start p_nope-1")
    assert text_of(reply) == world.t("participation.error.proposal_not_found")
    reply = await world.text(uid, "/start zz_what")
    assert text_of(reply) == world.t("bot.start.unknown_link")


async def test_activity_lists_my_proposals_and_endorsements(world: BotWorld) -> None:
    author, fan = world.user(), world.user("팬")
    await world.register(author)
    await world.register(fan)
    [pid] = seed(world, author, 1)
    world.svc.endorse(fan, pid)
    mine = await world.text(author, world.t("bot.menu.activity"))
    assert "제안 0" in text_of(mine) and world.t("participation.status.submitted") in text_of(mine)
    theirs = await world.text(fan, world.t("bot.menu.activity"))
    assert world.t("bot.activity.endorsed_head", count=1) in text_of(theirs)


async def test_settings_language_region_notifications_and_erase(world: BotWorld) -> None:
    uid = world.user()
    await world.register(uid, "연천군")
    [pid] = seed(world, uid, 1)
    screen = await world.text(uid, world.t("bot.menu.settings"))
    assert "연천군" in text_of(screen)
    await world.press(uid, screen, "English")
    menu = world.messages(uid)[-2]
    assert text_of(menu) == world.t("bot.settings.language_changed", "en")
    assert menu["reply_markup"]["keyboard"][0][0]["text"] == world.t("bot.menu.submit", "en")
    screen = world.last(uid)
    regions = await world.press(uid, screen, world.t("bot.settings.change_region", "en"))
    regions = await world.press(uid, regions, "▶")
    await world.press(uid, regions, "Gapyeong-gun")
    screen = world.last(uid)
    assert "Gapyeong-gun" in text_of(screen)
    screen = await world.press(uid, screen, world.t("bot.settings.notifications_off", "en"))
    resident = world.svc.resident(uid)
    assert resident is not None and resident.region == "gapyeong" and not resident.notifications
    assert resident.locale == "en"
    confirm = await world.press(uid, screen, world.t("bot.settings.erase", "en"))
    assert text_of(confirm) == world.t("bot.settings.erase_confirm", "en")
    assert "linked back so nothing counts twice" in text_of(confirm)
    await world.press(uid, confirm, world.t("bot.settings.erase_yes", "en"))
    assert text_of(world.last(uid)) == world.t("bot.settings.erased", "en", count=1)
    assert world.svc.resident(uid) is None
    assert world.svc.proposal(pid).title is None  # content gone, commitment kept
    world.ledger.seal()  # the ledger still verifies after the erasure
    assert world.ledger.checkpoint() is not None


async def test_erase_says_votes_stay_coded_and_a_return_links_them_back(world: BotWorld) -> None:
    author, uid = world.user("작성자"), world.user()
    await world.register(author)
    await world.register(uid)
    [pid] = seed(world, author, 1)
    world.svc.endorse(uid, pid)
    screen = await world.text(uid, world.t("bot.menu.settings"))
    confirm = await world.press(uid, screen, world.t("bot.settings.erase"))
    assert text_of(confirm) == world.t("bot.settings.erase_confirm")
    assert "암호화된 표시로 바꿔 집계에 남겨요" in text_of(confirm)
    assert "이어 붙여요" in text_of(confirm)
    await world.press(uid, confirm, world.t("bot.settings.erase_yes"))
    assert text_of(world.last(uid)) == world.t("bot.settings.erased", count=0)
    assert not world.svc.has_endorsed(uid, pid) and world.svc.proposal(pid).endorsements == 1
    await world.register(uid)  # back through /start: the endorsement is theirs again
    assert world.svc.has_endorsed(uid, pid) and world.svc.proposal(pid).endorsements == 1


async def test_proposer_and_endorsers_are_notified_in_their_language(world: BotWorld) -> None:
    author, fan = world.user(), world.user("Alex", language_code="en")
    await world.register(author)
    await world.register(fan, "Suwon-si", "en")
    [pid] = seed(world, author, 1)
    world.svc.endorse(fan, pid)
    world.svc.hide_proposal(OFFICIAL, pid, "off_topic")
    world.svc.answer_proposal(OFFICIAL, pid, "검토하겠습니다.")
    rows = world.svc.claim_outbox(10)
    by_user = {(r.user_id, r.key): r for r in rows}
    assert (author, "participation.notice.hidden_off_topic") in by_user
    assert {
        (author, "participation.notice.answered"),
        (fan, "participation.notice.answered"),
    } <= set(by_user)
    assert by_user[(fan, "participation.notice.answered")].locale == "en"
    for row in rows:
        assert world.catalog.has(row.key, row.locale)
    card = await world.deep_link(author, f"https://t.me/{world.srv.bot_username}?start=p_{pid}")
    assert world.t("participation.reason.off_topic") in text_of(card)
    assert "검토하겠습니다." in text_of(card)
