"""제안하기: every correction path, /cancel at every step, and a draft that outlives its worker."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import pytest_asyncio

from bot import build_application
from i18n.format import parse_amount
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import TOKEN
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import album_led_by
from tests.support.e2e_bot import jpeg
from tests.support.e2e_bot import jpegs
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of

pytestmark = pytest.mark.asyncio
HANGUL = re.compile("[\uac00-\ud7a3]")
TITLE, BODY = "어르신 쉼터 그늘막", "버스 정류장 옆에 그늘막을 세워 주세요."


async def to_step(world: BotWorld, uid: int, step: str) -> None:
    """Fill the draft up to ``step``."""
    await world.text(uid, world.t("bot.menu.submit"))
    if step == "title":
        return
    await world.text(uid, TITLE)
    if step == "body":
        return
    await world.text(uid, BODY)
    if step == "category":
        return
    await world.press(uid, world.last(uid), "복지·돌봄")
    if step == "budget":
        return
    await world.text(uid, "300만")
    if step == "photo":
        return
    await world.press(uid, world.last(uid), world.t("bot.submit.skip_photo"))


@pytest_asyncio.fixture
async def resident(world: BotWorld) -> int:
    uid = world.user("박서연")
    await world.register(uid, "성남시")
    return uid


@pytest.mark.parametrize("step", ["title", "body", "category", "budget", "photo", "preview"])
async def test_cancel_works_at_every_step(world: BotWorld, resident: int, step: str) -> None:
    await to_step(world, resident, step)
    assert world.svc.get_conversation(resident).step == f"submit.{step}"
    reply = await world.text(resident, "/cancel")
    assert text_of(reply) == world.t("bot.cancelled")
    assert world.svc.get_conversation(resident).version == 0
    assert world.svc.my_proposals(resident) == []


@pytest.mark.parametrize("typed", ["150만원", "1,500,000", "150만", "1500000원"])
async def test_budget_accepts_korean_forms(world: BotWorld, resident: int, typed: str) -> None:
    await to_step(world, resident, "budget")
    reply = await world.text(resident, typed)
    assert text_of(reply) == world.t("bot.submit.ask_photo")
    assert world.svc.get_conversation(resident).data["draft"]["budget"] == 1_500_000  # type: ignore[index,call-overload]


async def test_wrong_input_gets_a_friendly_correction(world: BotWorld, resident: int) -> None:
    await to_step(world, resident, "title")
    assert text_of(await world.photo(resident)) == world.t("bot.submit.need_text_title")
    too_long = await world.text(resident, "가" * 61)
    assert text_of(too_long).startswith(
        world.t("participation.error.title_too_long", max=60, length=61)
    )
    await world.text(resident, TITLE)
    over = await world.text(resident, "나" * 1501)
    too_long_body = world.t("participation.error.body_too_long", max="1,500", length="1,501")
    assert too_long_body in text_of(over)
    await world.text(resident, BODY)
    typed = await world.text(resident, "복지")  # typed instead of pressing a 분야 button
    assert text_of(typed) == world.t("bot.submit.press_category")
    await world.press(resident, typed, "복지·돌봄")
    assert text_of(await world.text(resident, "많이요")) == world.t("bot.submit.budget_unreadable")
    assert text_of(await world.photo(resident)) == world.t("bot.submit.need_text_budget")
    over_cap = await world.text(resident, "1억")
    assert "10,000,000" in text_of(over_cap)
    await world.text(resident, "50만원")
    assert text_of(await world.text(resident, "사진 없어요")) == world.t("bot.submit.need_photo")
    assert world.svc.get_conversation(resident).step == "submit.photo"


async def test_fixing_a_field_returns_to_the_preview(world: BotWorld, resident: int) -> None:
    await to_step(world, resident, "preview")
    preview = world.last(resident)
    which = await world.press(resident, preview, world.t("bot.submit.fix"))
    await world.press(resident, which, world.t("bot.submit.field.budget"))
    again = await world.text(resident, "200만원")
    assert "2,000,000원" in text_of(again) and world.t("bot.submit.confirm") in str(again)
    await world.press(resident, again, world.t("bot.submit.confirm"))
    [card] = world.svc.my_proposals(resident)
    assert (card.title, card.budget, card.category) == (TITLE, 2_000_000, "welfare")


async def test_the_draft_survives_a_switch_to_another_worker(
    world: BotWorld, resident: int, tmp_path: Path
) -> None:
    await to_step(world, resident, "body")
    other = build_application(
        TOKEN, world.srv.api_base_url, world.srv.file_base_url, world.services
    )
    await other.initialize()
    world.app, first = other, world.app  # the next updates land on a fresh process
    try:
        reply = await world.text(resident, BODY)
        assert text_of(reply) == world.t("bot.submit.ask_category")
        assert world.svc.get_conversation(resident).data["draft"]["title"] == TITLE  # type: ignore[index,call-overload]
    finally:
        await first.shutdown()


async def test_resume_picks_up_an_unfinished_draft(world: BotWorld, resident: int) -> None:
    await to_step(world, resident, "budget")
    await world.text(resident, world.t("bot.menu.browse"))  # wander off
    await world.text(resident, world.t("bot.menu.submit"))
    texts = [text_of(m) for m in world.messages(resident)[-2:]]
    assert texts[0] == world.t("bot.submit.resume")
    assert texts[1].startswith(world.t("bot.submit.ask_budget", max="10,000,000원")[:10])


async def test_a_redelivered_confirmation_submits_once(world: BotWorld, resident: int) -> None:
    await to_step(world, resident, "preview")
    preview = world.last(resident)
    update = world.srv.press(resident, preview["message_id"], world.data_of(preview, "✅"))
    await world.drain()
    await world.feed(update)  # the runtime hands the same update to a second worker
    assert len(world.svc.my_proposals(resident)) == 1
    assert len(world.svc.my_receipts(resident)) == 2  # registration + one submission
    assert world.t("bot.error.generic") not in [text_of(m) for m in world.messages(resident)]


async def test_submission_closed_is_explained(world: BotWorld, resident: int) -> None:
    world.clock.advance(days=10)
    world.svc.advance_due_rounds()
    reply = await world.text(resident, world.t("bot.menu.submit"))
    assert text_of(reply) == world.t(
        "bot.submit.closed", phase=world.t("participation.phase.endorsement")
    )


@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_lengths_over_a_thousand_are_written_with_a_comma(
    world: BotWorld, locale: str
) -> None:
    uid = world.user("Alex" if locale == "en" else "박서연", language_code=locale)
    await world.register(uid, "성남시" if locale == "ko" else "Seongnam-si", locale=locale)
    await world.text(uid, world.t("bot.menu.submit", locale))
    asked = await world.text(uid, TITLE)
    assert "1,500" in text_of(asked) and "1500" not in text_of(asked)
    over = await world.text(uid, "가" * 4096)  # one message (4,096 emoji would come as two)
    assert "1,500" in text_of(over) and "4,096" in text_of(over)
    assert "1500" not in text_of(over) and "4096" not in text_of(over)
    assert world.svc.get_conversation(uid).step == "submit.body"


@pytest.mark.parametrize("mime", ["image/jpeg", "image/png"])
async def test_a_picture_sent_as_a_file_is_asked_again_as_a_photo(
    world: BotWorld, resident: int, mime: str
) -> None:
    await to_step(world, resident, "photo")
    world.srv.send_document(resident, jpeg(), "garden." + mime.split("/")[1], mime)
    await world.drain()
    reply = world.last(resident)
    assert text_of(reply) == world.t("bot.submit.photo_as_file")
    assert world.t("bot.submit.skip_photo") in labels(reply)
    assert world.svc.get_conversation(resident).step == "submit.photo"
    preview = await world.photo(resident)  # sent again as a photo, it is taken
    assert world.t("bot.submit.photo_yes") in text_of(preview)


async def test_another_file_in_the_photo_step_still_asks_for_a_photo(
    world: BotWorld, resident: int
) -> None:
    await to_step(world, resident, "photo")
    world.srv.send_document(resident, b"%PDF-1.4", "plan.pdf", "application/pdf")
    await world.drain()
    assert text_of(world.last(resident)) == world.t("bot.submit.need_photo")


async def test_a_draft_finished_after_submission_closed_is_told_why_and_ends(
    world: BotWorld, resident: int
) -> None:
    await to_step(world, resident, "preview")
    preview = world.last(resident)
    world.svc.advance_round(OFFICIAL, ROUND)  # an official moves on while the preview waits
    reply = await world.press(resident, preview, world.t("bot.submit.confirm"))
    closed = world.t("bot.submit.closed", phase=world.t("participation.phase.endorsement"))
    assert text_of(reply) == closed
    assert world.svc.my_proposals(resident) == []
    assert not world.svc.get_conversation(resident).step  # no dead end at the preview
    assert world.srv.answered_callbacks(resident)[-1]["message_id"] == preview["message_id"]
    again = await world.text(resident, world.t("bot.menu.submit"))
    assert text_of(again) == closed


async def test_the_english_budget_examples_are_english_and_accepted(world: BotWorld) -> None:
    """The English budget prompt and its correction give examples without Hangul (they said
    '1,500,000 or 150만원'), and each example is read as the amount it shows."""
    uid = world.user("Alex", language_code="en")
    await world.register(uid, "Seongnam-si", locale="en")
    await world.text(uid, world.t("bot.menu.submit", "en"))
    await world.text(uid, TITLE)
    await world.text(uid, BODY)
    asked = await world.press(uid, world.last(uid), world.t("participation.category.welfare", "en"))
    unreadable = await world.text(uid, "a lot")
    assert text_of(unreadable) == world.t("bot.submit.budget_unreadable", "en")
    for said in (text_of(asked), text_of(unreadable)):
        assert not HANGUL.search(said), said
        (line,) = [x for x in said.split("\n") if x.startswith("Example: ")]
        examples = line.removeprefix("Example: ").split(" or ")
        assert len(examples) == 2 and {parse_amount(x) for x in examples} == {1_500_000}
    read = await world.text(uid, examples[-1])
    assert world.t("bot.submit.budget_read", "en", budget="₩1,500,000") in [
        text_of(m) for m in world.messages(uid)[-2:]
    ]
    assert text_of(read) == world.t("bot.submit.ask_photo", "en")


def keyboard_of(world: BotWorld, uid: int, message_id: int) -> list[str]:
    """Return the inline buttons the message ``message_id`` shows now."""
    (now,) = [m for m in world.messages(uid) if m["message_id"] == message_id]
    return labels(now)


@pytest.mark.parametrize("ending", ["confirm", "cancel"])
@pytest.mark.parametrize("with_photo", [False, True], ids=["text", "photo"])
async def test_a_submitted_or_cancelled_preview_loses_its_buttons(
    world: BotWorld, resident: int, ending: str, with_photo: bool
) -> None:
    """제출 and 취소 end the preview: its 제출/고치기/취소 buttons go, where they stayed
    only to answer that they could not be used any more."""
    await to_step(world, resident, "photo")
    if with_photo:
        preview = await world.photo(resident)
    else:
        preview = await world.press(
            resident, world.last(resident), world.t("bot.submit.skip_photo")
        )
    assert world.t("bot.submit.fix") in labels(preview)
    await world.press(resident, preview, world.t(f"bot.submit.{ending}"))
    assert len(world.svc.my_proposals(resident)) == (ending == "confirm")
    assert keyboard_of(world, resident, preview["message_id"]) == []


async def test_a_preview_whose_buttons_cannot_be_taken_off_still_says_it_was_submitted(
    world: BotWorld, resident: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taking the buttons off is cosmetic: a network error there (after the proposal was
    submitted) ended in the generic apology, and the 'submitted' message was lost."""
    from telegram import Message
    from telegram.error import TimedOut

    async def fails(*args: object, **kwargs: object) -> None:
        raise TimedOut()

    await to_step(world, resident, "preview")
    monkeypatch.setattr(Message, "edit_reply_markup", fails)
    await world.press(resident, world.last(resident), world.t("bot.submit.confirm"))
    assert len(world.svc.my_proposals(resident)) == 1
    said = [text_of(m) for m in world.messages(resident)[-3:]]
    assert world.t("bot.error.generic") not in said
    [mine] = world.svc.my_proposals(resident)
    link = f"https://t.me/{world.srv.bot_username}?start=p_{mine.proposal_id}"
    assert any(link in s for s in said), said  # the 'submitted' message, with its share link


@pytest.mark.parametrize("ending", ["save_edit", "cancel_edit"])
async def test_an_edits_preview_loses_its_buttons_once_saved_or_cancelled(
    world: BotWorld, resident: int, ending: str
) -> None:
    await to_step(world, resident, "preview")
    await world.press(resident, world.last(resident), world.t("bot.submit.confirm"))
    mine = await world.text(resident, world.t("bot.menu.activity"))
    preview = await world.press(resident, mine, world.t("bot.activity.edit", number=1))
    which = await world.press(resident, preview, world.t("bot.submit.fix"))
    await world.press(resident, which, world.t("bot.submit.field.title"))
    preview = await world.text(resident, "정류장 그늘막")
    await world.press(resident, preview, world.t(f"bot.submit.{ending}"))
    assert keyboard_of(world, resident, preview["message_id"]) == []


@pytest.mark.parametrize("field", ["title", "body"])
async def test_the_rest_of_a_text_telegram_split_is_not_taken_as_the_next_answer(
    world: BotWorld, resident: int, field: str
) -> None:
    """A resident pastes a 5,360-character text as the title or the body. Telegram's app
    sends it as two messages (4,095 and 1,264 characters): the first is refused as
    too long, and the second was then taken as the whole title or body (the body became
    the end of the text, or the end failed the title's check with a second, confusing
    length). The second part is now told it is the rest of that text and not taken; the
    step stays, and the next text is the answer."""
    await to_step(world, resident, field)
    before = len(world.messages(resident))
    world.srv.send_text(resident, "마을 공원에 그늘막을 설치해 주세요 " * 268)  # 5,360 characters
    await world.drain()
    said = [text_of(m) for m in world.messages(resident)[before:]]
    assert len(said) == 2 and "4,095" in said[0]
    assert said[1] == world.t("bot.error.rest_of_long")
    stored = world.svc.get_conversation(resident)
    assert stored.step == f"submit.{field}"
    assert field not in stored.data["draft"]
    await world.text(resident, TITLE if field == "title" else BODY)
    stored = world.svc.get_conversation(resident)
    assert stored.step == ("submit.body" if field == "title" else "submit.category")
    assert stored.data["draft"][field] == (TITLE if field == "title" else BODY)


@pytest.mark.slow  # waits 3 s, as a person does before answering again
async def test_a_new_text_seconds_after_a_long_one_was_refused_is_the_answer(
    world: BotWorld, resident: int
) -> None:
    """The rest of a split text comes within seconds of the first part; a text the
    resident sends after reading the refusal is their new answer, even right after it."""
    await to_step(world, resident, "body")
    refused = await world.text(resident, "가" * 3000)
    assert "1,500" in text_of(refused) and "3,000" in text_of(refused)
    time.sleep(3.1)
    await world.text(resident, BODY)
    stored = world.svc.get_conversation(resident)
    assert stored.step == "submit.category" and stored.data["draft"]["body"] == BODY


async def test_an_edited_message_is_not_taken_as_the_next_answer(
    world: BotWorld, resident: int
) -> None:
    """A resident who fixes a typo in the title they sent, while the bot asks for the body,
    edits that message; Telegram sends the edit as an update of its own, and it was taken
    as the body (the edited title became the body). An edit now changes nothing and is
    told so, with where a proposal can be changed."""
    await to_step(world, resident, "body")
    sent = [m for m in world.srv.messages(resident, incoming=True) if not m["outgoing"]]
    title = next(m for m in reversed(sent) if m["text"] == TITLE)
    before = len(world.messages(resident))
    world.srv.edit_text(resident, title["message_id"], TITLE + " (고침)")
    await world.drain()
    said = [text_of(m) for m in world.messages(resident)[before:]]
    assert said == [world.t("bot.error.edit_not_applied")]
    stored = world.svc.get_conversation(resident)
    assert stored.step == "submit.body"
    assert stored.data["draft"]["title"] == TITLE and "body" not in stored.data["draft"]
    await world.text(resident, BODY)
    assert world.svc.get_conversation(resident).data["draft"]["body"] == BODY


async def test_an_edited_command_does_not_run_again(world: BotWorld, resident: int) -> None:
    """An edited /propose would open the flow a second time; it is told, not run."""
    await world.text(resident, "/help")
    sent = [m for m in world.srv.messages(resident, incoming=True) if not m["outgoing"]]
    before = len(world.messages(resident))
    world.srv.edit_text(resident, sent[-1]["message_id"], "/propose")
    await world.drain()
    assert [text_of(m) for m in world.messages(resident)[before:]] == [
        world.t("bot.error.edit_not_applied")
    ]
    assert world.svc.get_conversation(resident).step == ""


def said(messages: list[dict[str, object]]) -> list[str]:
    return [text_of(m) for m in messages]


@pytest.mark.parametrize("fixing", [False, True])
async def test_an_album_at_the_photo_step_keeps_its_first_photo_and_says_so_once(
    world: BotWorld, resident: int, fixing: bool
) -> None:
    """A resident picks three photos at once in the app: Telegram sends three messages. The
    first was taken and each of the other two got 'press a button below' and the whole
    preview again (three previews for one action). Now the first photo is the proposal's,
    the preview comes once, and one note says that only the first was kept (also when
    changing the photo from the preview, where the step offers to keep or remove one)."""
    await to_step(world, resident, "photo")
    if fixing:
        preview = await world.photo(resident)
        await world.press(resident, preview, world.t("bot.submit.fix"))
        await world.press(resident, world.last(resident), world.t("bot.submit.field.photo"))
        assert world.t("bot.submit.keep_photo") in labels(world.last(resident))
    before = len(world.messages(resident))
    sent = world.srv.send_album(resident, jpegs(3), caption="정류장 사진")
    await world.drain()
    answer = world.messages(resident)[before:]
    assert len(answer) == 2
    assert world.t("bot.submit.confirm") in labels(answer[0])
    assert text_of(answer[1]) == world.t("bot.submit.album_first_photo")
    stored = world.svc.get_conversation(resident)
    first = sent[0]["message"]["photo"][-1]  # the first photo's largest size
    assert stored.step == "submit.preview"
    assert stored.data["draft"]["photo_uid"] == first["file_unique_id"]
    await world.press(resident, answer[0], world.t("bot.submit.confirm"))
    [card] = world.svc.my_proposals(resident)
    assert card.photo_unique_id == first["file_unique_id"]


@pytest.mark.parametrize("fixing", [False, True])
@pytest.mark.parametrize("first", ["video", "document"])
async def test_an_album_not_led_by_a_photo_is_not_taken_and_says_so_once(
    world: BotWorld, resident: int, first: str, fixing: bool
) -> None:
    """Photos picked together with a video (or a file) first: the first item got 'send a
    photo' and the photos after it were dropped without a word, as the rest of an answered
    album; the resident, who had sent photos, could not tell why none was taken. The bot
    cannot wait for a photo further on (it cannot know one comes), so the album gets one
    answer saying none of it was taken and to send one photo; nothing else is said."""
    await to_step(world, resident, "photo")
    key = "bot.submit.album_no_photo"
    if fixing:  # changing the photo from the preview: keep or remove the one it has
        await world.press(resident, await world.photo(resident), world.t("bot.submit.fix"))
        await world.press(resident, world.last(resident), world.t("bot.submit.field.photo"))
        key += "_change"
    draft = world.svc.get_conversation(resident).data["draft"]
    answer = await album_led_by(world, resident, first)
    assert said(answer) == [world.t(key)]
    skip = "keep_photo" if fixing else "skip_photo"
    assert world.t(f"bot.submit.{skip}") in labels(answer[0])
    stored = world.svc.get_conversation(resident)
    assert stored.step == "submit.photo" and stored.data["draft"] == draft
    again = await world.photo(resident)  # one photo now: taken
    assert world.t("bot.submit.confirm") in labels(again)


@pytest.mark.parametrize("step", ["title", "body", "category", "budget", "preview", "idle"])
async def test_an_album_where_no_photo_is_asked_is_answered_once(
    world: BotWorld, resident: int, step: str
) -> None:
    """Three photos sent at once while the bot asks for the title (or the body, the field,
    the budget, a press on the preview, or nothing) got the same correction three times.
    Now the album gets what one photo gets, once; the step and the draft stay."""
    if step != "idle":
        await to_step(world, resident, step)
    stored = world.svc.get_conversation(resident)
    before = len(world.messages(resident))
    await world.photo(resident)
    single = said(world.messages(resident)[before:])
    assert single
    answer = said(await world.album(resident, 3, caption=TITLE))
    assert answer == single
    after = world.svc.get_conversation(resident)
    assert after.step == stored.step
    assert after.data.get("draft") == stored.data.get("draft")
    if step == "title":  # and the next text is the title
        await world.text(resident, TITLE)
        assert world.svc.get_conversation(resident).data["draft"]["title"] == TITLE


async def test_a_menu_button_right_after_a_refused_long_text_is_not_its_rest(
    world: BotWorld, resident: int
) -> None:
    """A resident who pasted a 3,000-character body and, seeing it refused, taps 'My
    activity' in the menu within a second or two sent the next message id but one (the
    refusal came in between): it was taken as the rest of a text Telegram split and
    answered as such, and the menu did nothing. A menu label is no part of a long text."""
    await to_step(world, resident, "body")
    refused = await world.text(resident, "가" * 3000)
    assert "1,500" in text_of(refused)
    before = len(world.messages(resident))
    await world.text(resident, world.t("bot.menu.activity"))
    said = [text_of(m) for m in world.messages(resident)[before:]]
    assert world.t("bot.error.rest_of_long") not in said
    assert said and said[-1] != world.t("bot.error.rest_of_long")
    assert world.svc.get_conversation(resident).step != "submit.body"
