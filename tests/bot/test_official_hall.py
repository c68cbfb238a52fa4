"""Officials in the hall through the bot: enrollment-code sheets (PDF) with redeemed counts,
on-site sessions with the projector link, paper tallies with the sheet photo's SHA-256,
confirmed by a second official, corrected by a new entry."""

from __future__ import annotations

import hashlib
import json

import pytest

from participation.domain.errors import InvalidTally
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import PUBLIC_URL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import album_led_by
from tests.support.e2e_bot import jpeg
from tests.support.e2e_bot import jpegs
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import official
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio


async def test_enrollment_sheet_is_a_pdf_and_redeemed_codes_are_counted(world: BotWorld) -> None:
    boss = await official(world)
    world.svc.add_community(OFFICIAL, ROUND, community="c001", region="suwon", name="햇살마을")
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.enrollment"))
    listing = current(world, boss, menu)
    suwon = world.t("participation.region.suwon")
    line = world.t("bot.admin.enroll_line", name="햇살마을", region=suwon, issued=0, redeemed=0)
    assert line in text_of(listing)
    pick = await world.press(boss, listing, "햇살마을")
    await world.press(boss, pick, world.t("bot.admin.enroll_sheet.voter"))
    sheet = world.last(boss)
    assert sheet["document_bytes"][:5] == b"%PDF-"
    assert sheet["document"]["file_name"] == "enrollment-c001-voter.pdf"
    assert world.svc.communities(ROUND)[0].issued == 10  # the round's voters_per_community

    codes = world.svc.issue_enrollment_codes(OFFICIAL, ROUND, "c001", role="representative")
    voter = resident(world, "대표")
    world.svc.redeem_code(voter, codes[0])
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.enrollment"))
    assert world.t("bot.admin.enroll_head", communities=1, issued=11, redeemed=1) in text_of(
        current(world, boss, menu)
    )


async def test_sessions_open_with_a_projector_link_and_close_after_a_confirmation(
    world: BotWorld,
) -> None:
    boss = await official(world)
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
    opened = await world.press(boss, current(world, boss, menu), world.t("bot.admin.session_new"))
    [session] = world.svc.onsite_sessions(ROUND)
    assert session.open and f"{PUBLIC_URL}/onsite/{session.session_id}" in text_of(opened)
    # named by its number, when it started (KST) and its group, not by its id ('1b54d85c')
    started = world.t(
        "bot.admin.session_name",
        number=1,
        opened="2017년 2월 1일 (수) 오전 9:00",
        group=world.t("bot.admin.all_groups"),
    )
    said = text_of(opened).replace(f"{PUBLIC_URL}/onsite/{session.session_id}", "")
    assert started in said and session.session_id not in said

    # with the gateway's signer wired in, the link is the signed one
    world.services.extra["onsite_url"] = lambda sid: f"{PUBLIC_URL}/onsite/{sid}?k=signed"
    listing = await world.press(boss, opened, world.t("bot.admin.back"))
    listing = await world.press(
        boss, current(world, boss, opened), world.t("bot.admin.menu.onsite")
    )
    listing = current(world, boss, opened)
    assert f"/onsite/{session.session_id}?k=signed" in text_of(listing)
    assert text_of(listing).count(session.session_id) == 1  # in the projector link only
    close = world.t("bot.admin.session_close", number=1, session="오전 9:00")
    ask = await world.press(boss, listing, close)
    assert started in text_of(current(world, boss, ask))
    assert session.session_id not in text_of(current(world, boss, ask))
    assert world.svc.onsite_sessions(ROUND)[0].open
    await world.press(boss, current(world, boss, ask), world.t("bot.admin.session_close_yes"))
    assert not world.svc.onsite_sessions(ROUND)[0].open


async def test_two_sessions_opened_in_the_same_minute_have_distinct_names(
    world: BotWorld,
) -> None:
    boss = await official(world)
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
    first = await world.press(boss, current(world, boss, menu), world.t("bot.admin.session_new"))
    listing = await world.press(boss, first, world.t("bot.admin.back"))
    await world.press(boss, current(world, boss, first), world.t("bot.admin.menu.onsite"))
    second = await world.press(boss, current(world, boss, first), world.t("bot.admin.session_new"))
    newest, oldest = world.svc.onsite_sessions(ROUND)
    assert newest.opened_at == oldest.opened_at  # the same minute (the same second, even)
    name = {
        n: world.t(
            "bot.admin.session_name",
            number=n,
            opened="2017년 2월 1일 (수) 오전 9:00",
            group=world.t("bot.admin.all_groups"),
        )
        for n in (1, 2)
    }
    assert name[2] in text_of(second) and name[1] not in text_of(second)
    await world.press(boss, current(world, boss, second), world.t("bot.admin.back"))
    listing = await world.press(
        boss, current(world, boss, second), world.t("bot.admin.menu.onsite")
    )
    listing = current(world, boss, second)
    assert name[1] in text_of(listing) and name[2] in text_of(listing)
    closers = [b for b in labels(listing) if b.startswith("⏹")]
    assert len(set(closers)) == 2
    for sid in (newest.session_id, oldest.session_id):
        assert sid not in "".join(closers)
    ask = await world.press(boss, listing, closers[1])
    assert name[1] in text_of(current(world, boss, ask))  # the list shows the newest first

    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.paper"))
    pick = await world.press(boss, current(world, boss, menu), world.t("bot.admin.paper_new"))
    sessions = [b for b in labels(current(world, boss, pick)) if "오전 9:00" in b]
    assert sorted(sessions) == sorted(name.values())


async def test_paper_tally_with_sheet_hash_second_official_and_correction(world: BotWorld) -> None:
    first, second = await official(world, "담당1"), await official(world, "담당2", "clerk")
    ids = submit(world, resident(world, "제안자"), 2)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)

    menu = await world.text(first, "/admin")
    await world.press(first, menu, world.t("bot.admin.menu.paper"))
    papers = current(world, first, menu)
    pick = await world.press(first, papers, world.t("bot.admin.paper_new"))
    assert all(session not in label for label in labels(current(world, first, pick)))
    await world.press(first, current(world, first, pick), "오전 9:00")
    assert text_of(world.last(first)) == world.t("bot.admin.paper_ask_number")
    await world.text(first, "2")
    assert text_of(await world.text(first, "열둘")) == world.t("bot.admin.paper_counts_invalid")
    await world.text(first, "12 47")
    assert text_of(await world.text(first, "사진 대신 글")) == world.t(
        "bot.admin.paper_photo_needed"
    )
    entered = await world.photo(first)
    sha = hashlib.sha256(jpeg()).hexdigest()
    [tally] = world.svc.paper_tallies(ROUND, first)
    assert (tally.proposal_id, tally.ballots, tally.points) == (ids[1], 12, 47)
    assert sha in text_of(entered) and not tally.confirmed
    body = json.loads(world.ledger.entries(world.ledger.size() - 1, world.ledger.size())[0])
    assert body["entry"]["kind"] == "paper.entered"
    assert body["entry"]["body"]["sheet_sha256"] == sha

    # the one who entered it cannot confirm it: no button for them
    await world.press(first, entered, world.t("bot.admin.menu.paper"))
    listing = current(world, first, entered)
    confirm = world.t("bot.admin.paper_confirm", number=2, tally=tally.tally_id)
    assert confirm not in labels(listing)

    # a correction before the confirmation: a new entry that supersedes the first
    fix = world.t("bot.admin.paper_correct", number=2, tally=tally.tally_id)
    await world.press(first, listing, fix)
    await world.text(first, "12 45")
    await world.photo(first)
    tallies = world.svc.paper_tallies(ROUND, first)
    states = sorted((t.points, t.superseded, t.corrects) for t in tallies)
    assert states == [(45, False, tally.tally_id), (47, True, None)]
    new = next(t for t in tallies if not t.superseded)

    menu = await world.text(second, "/admin")
    await world.press(second, menu, world.t("bot.admin.menu.paper"))
    listing = current(world, second, menu)
    await world.press(
        second, listing, world.t("bot.admin.paper_confirm", number=2, tally=new.tally_id)
    )
    assert next(
        t for t in world.svc.paper_tallies(ROUND, first) if t.tally_id == new.tally_id
    ).confirmed
    assert world.svc.review_figures(ROUND)["papers_confirmed"] == 1


@pytest.mark.parametrize("counts", ["10 100", "10 5"])
async def test_paper_points_out_of_range_are_refused_before_the_photo(
    world: BotWorld, counts: str
) -> None:
    """Points must lie between the ballots and scale x ballots. They were taken, the photo was
    asked, and then every photo was refused by the service with the step unchanged, so the
    official could only send photos that failed again or start over with /cancel."""
    boss = await official(world)
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.paper"))
    pick = await world.press(boss, current(world, boss, menu), world.t("bot.admin.paper_new"))
    await world.press(boss, current(world, boss, pick), "오전 9:00")
    await world.text(boss, "1")
    refused = await world.text(boss, counts)
    ballots = int(counts.split()[0])
    assert text_of(refused) == world.t(
        "bot.admin.paper_counts_range", ballots=ballots, min=ballots, max=ballots * 5
    )
    assert world.svc.get_conversation(boss).step == "admin.paper.counts"
    await world.text(boss, "10 42")
    assert text_of(world.last(boss)) == world.t("bot.admin.paper_ask_photo")
    await world.photo(boss)
    [tally] = world.svc.paper_tallies(ROUND, boss)
    assert (tally.ballots, tally.points) == (10, 42)


async def test_paper_counts_too_large_for_the_database_are_refused_before_the_photo(
    world: BotWorld,
) -> None:
    """'3000000000 3000000000' passed the range check, then the 32-bit columns refused it
    (on PostgreSQL) as a database error: 'something went wrong' after every photo."""
    boss = await official(world)
    ids = submit(world, resident(world, "제안자"), 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.paper"))
    pick = await world.press(boss, current(world, boss, menu), world.t("bot.admin.paper_new"))
    await world.press(boss, current(world, boss, pick), "오전 9:00")
    await world.text(boss, "1")
    refused = await world.text(boss, "3000000000 3000000000")
    assert text_of(refused) == world.t("bot.admin.paper_counts_too_many", max="100,000")
    assert world.svc.get_conversation(boss).step == "admin.paper.counts"
    with pytest.raises(InvalidTally):  # the service's own rule, whoever calls it
        world.svc.enter_paper_tally(
            boss, session, ids[0], ballots=100_001, points=100_001, sheet_sha256="b" * 64
        )
    assert world.svc.paper_tallies(ROUND, boss) == []


async def test_paper_tallies_after_publication_are_closed_and_say_so(world: BotWorld) -> None:
    """Once the results were published, the screen still offered to enter, confirm and
    correct tallies, and every button answered only 'The results are already published'.
    Its English head also said '1 paper tallies'."""
    boss = await official(world)
    clerk = await official(world, "집계", "clerk")
    ids = submit(world, resident(world, "제안자"), 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    world.svc.enter_paper_tally(boss, session, ids[0], ballots=8, points=30, sheet_sha256="b" * 64)
    world.svc.advance_round(OFFICIAL, ROUND)
    world.svc.publish_results(OFFICIAL, ROUND)
    menu = await world.text(clerk, "/admin")
    await world.press(clerk, menu, world.t("bot.admin.menu.paper"))
    shown = current(world, clerk, menu)
    assert world.t("bot.admin.papers_closed") in text_of(shown)
    assert labels(shown) == [world.t("bot.admin.back")]
    assert world.t("bot.admin.paper_state.left_out") in text_of(shown)
    assert world.t("bot.admin.paper_state.pending") not in text_of(shown)
    head = world.t("bot.admin.papers_head", "en", count=1, pending=1)
    assert "1 paper tally " in head and "tallies" not in head.split("\n")[0]


async def to_paper_step(world: BotWorld, boss: int, step: str) -> None:
    """/admin → paper tallies → new → the session, then up to ``step``."""
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.paper"))
    pick = await world.press(boss, current(world, boss, menu), world.t("bot.admin.paper_new"))
    await world.press(boss, current(world, boss, pick), "오전 9:00")
    if step in ("counts", "photo"):
        await world.text(boss, "1")
    if step == "photo":
        await world.text(boss, "10 42")
    assert world.svc.get_conversation(boss).step == f"admin.paper.{step}"


async def test_an_album_of_tally_photos_enters_one_tally_and_says_so_once(
    world: BotWorld,
) -> None:
    """An official who sent three photos of the sheet at once got the tally entered with
    the first, then 'How can I help? Choose from the menu' for each of the others, as if
    they were not understood. Now one tally, with the first photo's SHA-256, and one note
    that the others were not recorded."""
    boss = await official(world)
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    await to_paper_step(world, boss, "photo")
    photos = jpegs(3)
    answer = await world.album(boss, 3)
    [tally] = world.svc.paper_tallies(ROUND, boss)
    sha = hashlib.sha256(photos[0]).hexdigest()
    assert [sha in text_of(m) for m in answer] == [True, False]
    assert text_of(answer[1]) == world.t("bot.admin.paper_album")
    assert (tally.ballots, tally.points) == (10, 42)
    assert world.svc.get_conversation(boss).step == ""


@pytest.mark.parametrize("first", ["video", "document"])
async def test_a_tally_album_not_led_by_a_photo_says_once_that_none_was_recorded(
    world: BotWorld, first: str
) -> None:
    """At the sheet's photo step, an official who picked a video (or a PDF) and photos
    together got 'Please send the photo of the tally sheet' for the first item, and the
    photos after it were dropped without a word, as the rest of an answered album. The
    album now gets one answer: nothing of it was recorded, send the sheet's photo alone."""
    boss = await official(world)
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    await to_paper_step(world, boss, "photo")
    answer = await album_led_by(world, boss, first)
    assert [text_of(m) for m in answer] == [world.t("bot.admin.paper_album_no_photo")]
    assert world.svc.paper_tallies(ROUND, boss) == []
    assert world.svc.get_conversation(boss).step == "admin.paper.photo"
    await world.photo(boss)  # the sheet alone: entered
    [tally] = world.svc.paper_tallies(ROUND, boss)
    assert (tally.ballots, tally.points) == (10, 42)


@pytest.mark.parametrize("step", ["number", "counts"])
async def test_an_album_at_a_paper_number_step_is_corrected_once(
    world: BotWorld, step: str
) -> None:
    boss = await official(world)
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    await to_paper_step(world, boss, step)
    answer = await world.album(boss, 3)
    key = "bot.admin.number_needed" if step == "number" else "bot.admin.paper_counts_invalid"
    assert [text_of(m) for m in answer] == [world.t(key)]
    assert world.svc.get_conversation(boss).step == f"admin.paper.{step}"


async def test_a_tally_sheet_sent_as_a_file_is_entered_with_that_files_hash(
    world: BotWorld,
) -> None:
    """An official who sent the sheet's picture 'as a file' (uncompressed) was told only
    'Please send the photo of the tally sheet', though they had. The picture is taken, and
    the SHA-256 is the file's own, the same as the copy the official keeps (a photo's is
    that of Telegram's recompressed copy). Another kind of file is still asked again, and
    a picture over the Bot API's 20 MB download limit is asked as a photo instead."""
    boss = await official(world)
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    await to_paper_step(world, boss, "photo")
    world.srv.send_document(boss, b"%PDF-1.4", "sheet.pdf", "application/pdf")
    await world.drain()
    assert text_of(world.last(boss)) == world.t("bot.admin.paper_photo_needed")
    world.srv.send_document(boss, b"\xff\xd8" + b"0" * (20 * 1024 * 1024), "big.jpg", "image/jpeg")
    await world.drain()
    assert text_of(world.last(boss)) == world.t("bot.admin.paper_file_too_big", mb=20)
    assert world.svc.get_conversation(boss).step == "admin.paper.photo"
    picture = jpegs(2)[1]
    world.srv.send_document(boss, picture, "IMG_0042.JPG", "image/jpeg")
    await world.drain()
    [tally] = world.svc.paper_tallies(ROUND, boss)
    sha = hashlib.sha256(picture).hexdigest()
    assert sha in text_of(world.last(boss)) and (tally.ballots, tally.points) == (10, 42)
    body = json.loads(world.ledger.entries(world.ledger.size() - 1, world.ledger.size())[0])
    assert body["entry"]["body"]["sheet_sha256"] == sha
