"""내 활동 → ✏️ 고치기 / 🗑 철회 of a submitted proposal, before the submission deadline.

Editing runs the submission flow (preview, field fixes) on the proposal loaded into the draft;
a half-written new proposal waits aside and comes back. Withdrawing asks once more; only the
confirmation (single-use) withdraws. Stale and foreign presses are refused politely.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json

import pytest
import pytest_asyncio
import sqlalchemy as sa

from i18n.format import format_datetime
from participation.store import tables as t
from tests.support.e2e_bot import KST
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import jpeg
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of

pytestmark = pytest.mark.asyncio
TITLE, BODY = "어르신 쉼터 그늘막", "버스 정류장 옆에 그늘막을 세워 주세요."
LAST_HOUR = dt.datetime(2017, 2, 10, 17, tzinfo=KST)  # submission ends at 18:00 KST


@pytest_asyncio.fixture
async def author(world: BotWorld) -> int:
    uid = world.user("박서연")
    await world.register(uid, "성남시")
    return uid


async def submit(world: BotWorld, uid: int, *, photo: bool = False) -> str:
    """Submit a proposal through the bot (a photo the sandbox knows, if asked); return its id."""
    await world.text(uid, world.t("bot.menu.submit"))
    await world.text(uid, TITLE)
    await world.text(uid, BODY)
    await world.press(uid, world.last(uid), "복지·돌봄")
    asked = await world.text(uid, "300만")
    if photo:
        preview = await world.photo(uid)
    else:
        preview = await world.press(uid, asked, world.t("bot.submit.skip_photo"))
    await world.press(uid, preview, world.t("bot.submit.confirm"))
    return world.svc.my_proposals(uid)[0].proposal_id


async def activity(world: BotWorld, uid: int) -> Msg:
    return await world.text(uid, world.t("bot.menu.activity"))


def kinds(world: BotWorld) -> list[str]:
    """Return the kind of every ledger entry, in order."""
    leaves = world.ledger.entries(0, world.ledger.size())
    return [json.loads(leaf)["entry"]["kind"] for leaf in leaves]


def edit_label(world: BotWorld, number: int = 1) -> str:
    return world.t("bot.activity.edit", number=number)


def withdraw_label(world: BotWorld, number: int = 1) -> str:
    return world.t("bot.activity.withdraw", number=number)


async def fix(world: BotWorld, uid: int, preview: Msg, field: str) -> Msg:
    """Press 고치기 on the preview, then the field's button."""
    which = await world.press(uid, preview, world.t("bot.submit.fix"))
    return await world.press(uid, which, world.t(f"bot.submit.field.{field}"))


async def test_editing_the_title_and_budget_changes_the_card_and_is_recorded(
    world: BotWorld, author: int
) -> None:
    pid = await submit(world, author)
    mine = await activity(world, author)
    assert [edit_label(world), withdraw_label(world)] == labels(mine)[-2:]
    deadline = world.svc.round(ROUND).deadline
    assert deadline is not None
    until = world.t("bot.activity.change_until", deadline=format_datetime(deadline, "ko"))
    assert until in text_of(mine)

    preview = await world.press(author, mine, edit_label(world))
    assert text_of(preview) == world.t(
        "bot.submit.edit_preview",
        number=1,
        title=TITLE,
        body=BODY,
        category="복지·돌봄",
        region="성남시",  # the proposal's own
        budget="3,000,000원",
        photo=world.t("bot.submit.photo_no"),
    )
    assert world.t("bot.submit.save_edit") in labels(preview)
    assert world.t("bot.submit.cancel_edit") in labels(preview)
    await fix(world, author, preview, "title")
    again = await world.text(author, "정류장 그늘막과 의자")
    assert "정류장 그늘막과 의자" in text_of(again)
    await fix(world, author, again, "budget")
    again = await world.text(author, "450만원")
    assert "4,500,000원" in text_of(again)
    card = await world.press(author, again, world.t("bot.submit.save_edit"))

    assert "정류장 그늘막과 의자" in text_of(card) and "4,500,000원" in text_of(card)
    told = world.messages(author)[-2]
    assert text_of(told) == world.t("bot.submit.edited", number=1)
    shown = world.svc.proposal(pid)
    assert (shown.title, shown.budget, shown.body) == ("정류장 그늘막과 의자", 4_500_000, BODY)
    assert (shown.region, shown.category, shown.status) == ("seongnam", "welfare", "submitted")
    assert kinds(world)[-1] == "proposal.edited"
    assert world.svc.my_receipts(author, limit=1)[0].kind == "proposal.edited"
    assert world.svc.get_conversation(author).version == 0  # nothing left stored


async def test_an_edit_can_take_the_photo_off(world: BotWorld, author: int) -> None:
    pid = await submit(world, author, photo=True)
    assert world.svc.proposal(pid).photo_file_id is not None
    preview = await world.press(author, await activity(world, author), edit_label(world))
    assert preview["photo"]  # the preview shows the proposal's photo
    asked = await fix(world, author, preview, "photo")
    preview = await world.press(author, asked, world.t("bot.submit.remove_photo"))
    assert not preview.get("photo")
    assert world.t("bot.submit.photo_no") in text_of(preview)
    card = await world.press(author, preview, world.t("bot.submit.save_edit"))
    assert not card.get("photo") and TITLE in text_of(card)
    shown = world.svc.proposal(pid)
    assert shown.photo_file_id is None and shown.title == TITLE


@pytest.mark.parametrize("how", ["save", "cancel button", "/cancel"])
async def test_a_half_written_new_proposal_survives_an_edit(
    world: BotWorld, author: int, how: str
) -> None:
    pid = await submit(world, author)
    await world.text(author, world.t("bot.menu.submit"))
    await world.text(author, "두 번째 제안")
    await world.text(author, "새로 쓰는 중인 내용이에요.")
    half = world.svc.get_conversation(author)
    assert half.step == "submit.category"

    preview = await world.press(author, await activity(world, author), edit_label(world))
    assert world.svc.get_conversation(author).data["aside"] == half.data["draft"]
    await fix(world, author, preview, "title")
    preview = await world.text(author, "고친 제목")
    if how == "save":
        await world.press(author, preview, world.t("bot.submit.save_edit"))
        said = world.messages(author)[-2]
        assert world.svc.proposal(pid).title == "고친 제목"
    elif how == "cancel button":
        said = await world.press(author, preview, world.t("bot.submit.cancel_edit"))
        assert text_of(said).startswith(world.t("bot.submit.edit_cancelled"))
        assert world.svc.proposal(pid).title == TITLE
    else:
        said = await world.text(author, "/cancel")
        assert text_of(said).startswith(world.t("bot.cancelled"))
        assert world.svc.proposal(pid).title == TITLE
    assert text_of(said).endswith(world.t("bot.submit.aside_kept"))

    kept = world.svc.get_conversation(author)
    assert kept.step == "" and kept.data == {"draft": half.data["draft"]}
    await world.text(author, world.t("bot.menu.submit"))  # picks the new draft up again
    texts = [text_of(m) for m in world.messages(author)[-2:]]
    assert texts == [world.t("bot.submit.resume"), world.t("bot.submit.ask_category")]
    assert len(world.svc.my_proposals(author)) == 1


async def test_cancelling_an_edit_changes_nothing(world: BotWorld, author: int) -> None:
    pid = await submit(world, author)
    preview = await world.press(author, await activity(world, author), edit_label(world))
    await fix(world, author, preview, "budget")
    preview = await world.text(author, "900만원")
    size = world.ledger.size()
    said = await world.press(author, preview, world.t("bot.submit.cancel_edit"))
    assert text_of(said) == world.t("bot.submit.edit_cancelled")
    assert world.svc.proposal(pid).budget == 3_000_000
    assert world.ledger.size() == size
    assert world.svc.get_conversation(author).version == 0


async def test_saving_without_a_change_writes_nothing_and_ends_the_edit(
    world: BotWorld, author: int
) -> None:
    pid = await submit(world, author, photo=True)
    receipts, size = world.svc.my_receipts(author), world.ledger.size()
    preview = await world.press(author, await activity(world, author), edit_label(world))
    said = await world.press(author, preview, world.t("bot.submit.save_edit"))
    assert text_of(said) == world.t("participation.error.nothing_changed")
    assert text_of(said) == "바뀐 내용이 없어서 그대로 두었어요."
    assert world.svc.my_receipts(author) == receipts and world.ledger.size() == size
    assert world.svc.proposal(pid).title == TITLE and world.svc.proposal(pid).photo_file_id
    assert world.svc.get_conversation(author).version == 0  # the edit is over
    (shown,) = [m for m in world.messages(author) if m["message_id"] == preview["message_id"]]
    assert labels(shown) == []  # the ended edit's buttons are gone: none to press again


async def test_a_field_changed_back_saves_nothing_and_the_new_draft_returns(
    world: BotWorld, author: int
) -> None:
    pid = await submit(world, author)
    await world.text(author, world.t("bot.menu.submit"))
    await world.text(author, "두 번째 제안")
    half = world.svc.get_conversation(author)
    receipts, size = world.svc.my_receipts(author), world.ledger.size()
    preview = await world.press(author, await activity(world, author), edit_label(world))
    await fix(world, author, preview, "budget")
    preview = await world.text(author, "900만원")
    await fix(world, author, preview, "budget")
    preview = await world.text(author, "300만원")  # back to what is stored
    said = await world.press(author, preview, world.t("bot.submit.save_edit"))
    assert text_of(said) == world.t("participation.error.nothing_changed") + "\n" + world.t(
        "bot.submit.aside_kept"
    )
    assert world.t("bot.submit.edited", number=1) not in [
        text_of(m) for m in world.messages(author)
    ]
    assert world.svc.my_receipts(author) == receipts and world.ledger.size() == size
    assert world.svc.proposal(pid).budget == 3_000_000
    kept = world.svc.get_conversation(author)
    assert kept.step == "" and kept.data == {"draft": half.data["draft"]}


async def test_saving_without_a_change_speaks_english(world: BotWorld, author: int) -> None:
    await submit(world, author)
    world.svc.update_settings(author, locale="en")
    preview = await world.press(author, await activity(world, author), "✏️ Edit #1")
    said = await world.press(author, preview, "✅ Save changes")
    assert text_of(said) == "Nothing was changed, so your proposal stays as it was."


async def test_pressing_propose_while_editing_points_back_at_the_edit(
    world: BotWorld, author: int
) -> None:
    await submit(world, author)
    await world.press(author, await activity(world, author), edit_label(world))
    preview = await world.text(author, world.t("bot.menu.submit"))
    assert text_of(world.messages(author)[-2]) == world.t("bot.submit.editing_now", number=1)
    assert world.t("bot.submit.save_edit") in labels(preview)


async def test_old_confirm_buttons_do_nothing_once_the_step_moved_on(
    world: BotWorld, author: int
) -> None:
    pid = await submit(world, author)
    # a complete new draft at its preview, then an edit of #1 on top of it
    await world.text(author, world.t("bot.menu.submit"))
    await world.text(author, "두 번째 제안")
    await world.text(author, BODY)
    await world.press(author, world.last(author), "문화")
    asked = await world.text(author, "100만")
    new_preview = await world.press(author, asked, world.t("bot.submit.skip_photo"))
    preview = await world.press(author, await activity(world, author), edit_label(world))
    expired = world.t("bot.button.expired")

    # the new draft's 제출 must not submit the edit as a new proposal, nor 취소 drop it
    for label in (world.t("bot.submit.confirm"), world.t("bot.submit.cancel")):
        await world.press(author, new_preview, label)
        assert world.srv.answered_callbacks(author)[-1].get("text") == expired
    assert len(world.svc.my_proposals(author)) == 1
    # the edit's save pressed while a field is being asked again: expired, nothing saved
    await fix(world, author, preview, "title")
    await world.press(author, preview, world.t("bot.submit.save_edit"))
    assert world.srv.answered_callbacks(author)[-1].get("text") == expired
    assert world.svc.get_conversation(author).step == "submit.title"
    preview = await world.text(author, "고친 제목")
    tap = world.data_of(preview, world.t("bot.submit.save_edit"))
    world.srv.press(author, preview["message_id"], tap)
    world.srv.press(author, preview["message_id"], tap)  # a double tap saves once
    await world.drain()
    assert kinds(world).count("proposal.edited") == 1
    assert world.svc.proposal(pid).title == "고친 제목"
    assert world.srv.answered_callbacks(author)[-1].get("text") == expired
    # and the new draft is back, whole
    draft = world.svc.get_conversation(author).data["draft"]
    assert draft == {
        "round": ROUND,
        "title": "두 번째 제안",
        "body": BODY,
        "category": "culture",
        "budget": 1_000_000,
        "photo": None,
    }


async def test_withdrawing_asks_first_and_a_double_tap_withdraws_once(
    world: BotWorld, author: int
) -> None:
    pid = await submit(world, author)
    asked = await world.press(author, await activity(world, author), withdraw_label(world))
    assert text_of(asked) == world.t("bot.activity.withdraw_confirm", number=1, title=TITLE)
    assert labels(asked) == [
        world.t("bot.activity.withdraw_yes"),
        world.t("bot.activity.withdraw_no"),
    ]
    assert world.svc.proposal(pid).status == "submitted"  # asking changes nothing
    tap = world.data_of(asked, world.t("bot.activity.withdraw_yes"))
    world.srv.press(author, asked["message_id"], tap)
    world.srv.press(author, asked["message_id"], tap)
    await world.drain()
    assert world.svc.proposal(pid).status == "withdrawn"
    assert kinds(world).count("proposal.withdrawn") == 1
    assert world.srv.answered_callbacks(author)[-1].get("text") == world.t("bot.button.expired")
    done = world.last(author, lambda m: m["message_id"] == asked["message_id"])
    assert text_of(done) == world.t("bot.activity.withdrawn", number=1) and not labels(done)
    assert world.t("bot.error.generic") not in [text_of(m) for m in world.messages(author)]

    # the list no longer offers to change it; its old buttons are refused politely
    again = await activity(world, author)
    assert edit_label(world) not in labels(again)
    inactive = world.t("participation.error.proposal_inactive")
    old = world.with_button(author, edit_label(world))
    assert text_of(await world.press(author, old, edit_label(world))) == inactive
    assert text_of(await world.press(author, old, withdraw_label(world))) == inactive


async def test_keeping_it_changes_nothing(world: BotWorld, author: int) -> None:
    pid = await submit(world, author)
    asked = await world.press(author, await activity(world, author), withdraw_label(world))
    size = world.ledger.size()
    kept = await world.press(author, asked, world.t("bot.activity.withdraw_no"))
    assert kept["message_id"] == asked["message_id"] and not labels(kept)
    assert text_of(kept) == world.t("bot.activity.withdraw_kept", number=1)
    assert world.svc.proposal(pid).status == "submitted"
    assert world.ledger.size() == size


async def test_a_double_tap_on_keep_it_is_answered_without_an_apology(
    world: BotWorld, author: int
) -> None:
    """The second tap redraws the same text: Telegram answers 'message is not modified'
    (the sandbox does too), which is no failure: the message already says it."""
    pid = await submit(world, author)
    asked = await world.press(author, await activity(world, author), withdraw_label(world))
    size = world.ledger.size()
    tap = world.data_of(asked, world.t("bot.activity.withdraw_no"))
    world.srv.press(author, asked["message_id"], tap)
    world.srv.press(author, asked["message_id"], tap)  # tapped again before the redraw
    await world.drain()
    kept = world.last(author, lambda m: m["message_id"] == asked["message_id"])
    assert text_of(kept) == world.t("bot.activity.withdraw_kept", number=1) and not labels(kept)
    assert world.t("bot.error.generic") not in [text_of(m) for m in world.messages(author)]
    assert world.svc.proposal(pid).status == "submitted" and world.ledger.size() == size


@pytest.mark.parametrize("advanced", [False, True], ids=["deadline passed", "phase moved on"])
async def test_buttons_pressed_after_the_deadline_are_refused_politely(
    world: BotWorld, author: int, advanced: bool
) -> None:
    world.clock.now = LAST_HOUR  # the buttons are issued an hour before the deadline
    pid = await submit(world, author)
    mine = await activity(world, author)
    asked = await world.press(author, mine, withdraw_label(world))
    world.clock.advance(hours=2)  # past 10 Feb 18:00 KST, the buttons still unexpired
    if advanced:
        world.svc.advance_due_rounds()
        refusal = world.t("participation.error.phase_closed")
    else:
        deadline = world.svc.round(ROUND).rules.deadlines.submission_ends
        assert deadline is not None
        when = format_datetime(deadline, "ko")
        refusal = world.t("participation.error.deadline_passed", deadline=when)
    size = world.ledger.size()
    assert text_of(await world.press(author, mine, edit_label(world))) == refusal
    assert text_of(await world.press(author, mine, withdraw_label(world))) == refusal
    said = await world.press(author, asked, world.t("bot.activity.withdraw_yes"))
    assert text_of(said) == refusal
    assert world.svc.proposal(pid).status == "submitted" and world.ledger.size() == size
    assert world.svc.get_conversation(author).version == 0  # no edit was started
    assert edit_label(world) not in labels(await activity(world, author))


async def test_a_refused_save_keeps_the_edit_to_cancel(world: BotWorld, author: int) -> None:
    world.clock.now = LAST_HOUR
    pid = await submit(world, author)
    preview = await world.press(author, await activity(world, author), edit_label(world))
    await fix(world, author, preview, "title")
    preview = await world.text(author, "늦은 제목")
    world.clock.advance(hours=2)
    deadline = world.svc.round(ROUND).rules.deadlines.submission_ends
    assert deadline is not None
    said = await world.press(author, preview, world.t("bot.submit.save_edit"))
    assert text_of(said) == world.t(
        "participation.error.deadline_passed", deadline=format_datetime(deadline, "ko")
    )
    assert world.svc.proposal(pid).title == TITLE
    said = await world.press(author, preview, world.t("bot.submit.cancel_edit"))
    assert text_of(said) == world.t("bot.submit.edit_cancelled")


async def test_another_resident_cannot_press_my_buttons(world: BotWorld, author: int) -> None:
    pid = await submit(world, author)
    mine = await activity(world, author)
    asked = await world.press(author, mine, withdraw_label(world))
    other = world.user("이웃")
    await world.register(other, "수원시")
    await submit(world, other)
    theirs = await activity(world, other)
    own = world.data_of(theirs, edit_label(world, 2))
    stolen = [
        world.data_of(mine, edit_label(world)),
        world.data_of(mine, withdraw_label(world)),
        world.data_of(asked, world.t("bot.activity.withdraw_yes")),
    ]
    for n, data in enumerate(stolen, start=1):
        tap = world.srv.press(other, theirs["message_id"], own)
        forged = copy.deepcopy(tap)  # their own tap in their own chat, carrying my token
        forged["update_id"] += 1000 * n
        forged["callback_query"]["data"] = data
        await world.feed(forged)
    expired = world.t("bot.button.expired")
    answers = [a.get("text") for a in world.srv.answered_callbacks(other)]
    assert answers.count(expired) == len(stolen)
    assert world.svc.proposal(pid).status == "submitted"
    assert world.svc.get_conversation(other).version == 0
    await world.drain()  # their genuine tap edits their own proposal, not mine
    assert world.svc.get_conversation(other).data["draft"]["editing"] != pid  # type: ignore[index,call-overload]
    # my buttons still work for me
    done = await world.press(author, asked, world.t("bot.activity.withdraw_yes"))
    assert text_of(done) == world.t("bot.activity.withdrawn", number=1)


def other_jpeg() -> bytes:
    """Return another small real JPEG (a different picture from ``jpeg()``)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 60, 40)).save(out, "JPEG")
    return out.getvalue()


async def new_photo(world: BotWorld, author: int, preview: Msg, picture: bytes) -> Msg:
    """Fix the photo of the edit at ``preview`` by sending ``picture``; return the new preview."""
    await fix(world, author, preview, "photo")
    world.srv.send_photo(author, picture)
    await world.drain()
    return world.last(author)


async def test_the_same_picture_sent_again_saves_nothing(world: BotWorld, author: int) -> None:
    pid = await submit(world, author, photo=True)
    stored = world.svc.proposal(pid)
    assert stored.photo_unique_id is not None
    receipts, size = world.svc.my_receipts(author), world.ledger.size()
    preview = await world.press(author, await activity(world, author), edit_label(world))
    preview = await new_photo(world, author, preview, jpeg())
    draft = world.svc.get_conversation(author).data["draft"]
    assert isinstance(draft, dict) and draft["photo"] != stored.photo_file_id  # a new message
    assert draft["photo_uid"] == stored.photo_unique_id  # the same file
    said = await world.press(author, preview, world.t("bot.submit.save_edit"))
    assert text_of(said) == world.t("participation.error.nothing_changed")
    assert world.svc.my_receipts(author) == receipts and world.ledger.size() == size
    assert world.svc.proposal(pid).photo_file_id == stored.photo_file_id
    assert world.svc.get_conversation(author).version == 0  # the edit is over


async def test_another_picture_is_saved_as_an_edit(world: BotWorld, author: int) -> None:
    pid = await submit(world, author, photo=True)
    stored = world.svc.proposal(pid)
    preview = await world.press(author, await activity(world, author), edit_label(world))
    preview = await new_photo(world, author, preview, other_jpeg())
    await world.press(author, preview, world.t("bot.submit.save_edit"))
    assert text_of(world.messages(author)[-2]) == world.t("bot.submit.edited", number=1)
    shown = world.svc.proposal(pid)
    assert shown.photo_file_id != stored.photo_file_id
    assert shown.photo_unique_id not in (None, stored.photo_unique_id)
    assert kinds(world)[-1] == "proposal.edited"
    card = world.last(author)
    assert card["photo"] == other_jpeg() and TITLE in text_of(card)


async def test_a_proposal_stored_without_a_unique_id_still_edits(
    world: BotWorld, author: int
) -> None:
    pid = await submit(world, author, photo=True)
    engine: sa.Engine = world.svc._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:  # its content as stored before unique ids were kept
        c = t.contents.c
        ref = sa.select(t.proposals.c.content_ref).where(t.proposals.c.proposal_id == pid)
        data = conn.execute(sa.select(c.data).where(c.ref == ref.scalar_subquery())).scalar_one()
        old = {k: v for k, v in data.items() if k != "photo_uid"}
        conn.execute(sa.update(t.contents).where(c.ref == ref.scalar_subquery()).values(data=old))
    stored = world.svc.proposal(pid)
    assert stored.photo_file_id and stored.photo_unique_id is None
    size = world.ledger.size()

    preview = await world.press(author, await activity(world, author), edit_label(world))
    said = await world.press(author, preview, world.t("bot.submit.save_edit"))  # untouched
    assert text_of(said) == world.t("participation.error.nothing_changed")
    preview = await world.press(author, await activity(world, author), edit_label(world))
    await fix(world, author, preview, "title")
    preview = await world.text(author, "그늘막과 의자")
    await world.press(author, preview, world.t("bot.submit.save_edit"))
    shown = world.svc.proposal(pid)
    assert (shown.title, shown.photo_file_id) == ("그늘막과 의자", stored.photo_file_id)
    assert world.ledger.size() == size + 1

    # the same picture again: with no stored unique id the file ids differ, so it is an edit
    preview = await world.press(author, await activity(world, author), edit_label(world))
    preview = await new_photo(world, author, preview, jpeg())
    await world.press(author, preview, world.t("bot.submit.save_edit"))
    assert text_of(world.messages(author)[-2]) == world.t("bot.submit.edited", number=1)
    assert world.svc.proposal(pid).photo_unique_id is not None  # kept from now on
    assert world.ledger.size() == size + 2


@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_the_photo_step_of_an_edit_asks_to_keep_or_remove_the_photo(
    world: BotWorld, locale: str
) -> None:
    """Fixing the photo of a proposal that has one offers 'keep it' and 'remove it'; the
    step's '5/5 ... continue without a photo' removed it silently."""
    author = world.user("Alex" if locale == "en" else "박서연", language_code=locale)
    await world.register(author, "Seongnam-si" if locale == "en" else "성남시", locale)
    await world.text(author, world.t("bot.menu.submit", locale))
    await world.text(author, TITLE)
    await world.text(author, BODY)
    await world.press(author, world.last(author), world.t("participation.category.welfare", locale))
    await world.text(author, "3,000,000")
    preview = await world.photo(author)
    await world.press(author, preview, world.t("bot.submit.confirm", locale))
    pid = world.svc.my_proposals(author)[0].proposal_id
    photo = world.svc.proposal(pid).photo_file_id
    assert photo
    keep, remove = (world.t(f"bot.submit.{k}_photo", locale) for k in ("keep", "remove"))

    async def photo_step() -> Msg:
        mine = await world.text(author, world.t("bot.menu.activity", locale))
        preview = await world.press(author, mine, world.t("bot.activity.edit", locale, number=1))
        which = await world.press(author, preview, world.t("bot.submit.fix", locale))
        return await world.press(author, which, world.t("bot.submit.field.photo", locale))

    asked = await photo_step()
    assert text_of(asked) == world.t("bot.submit.ask_photo_change", locale)
    assert labels(asked) == [keep, remove]
    typed = await world.text(author, "사진은 그대로요")
    assert text_of(typed) == world.t("bot.submit.need_photo_change", locale)
    assert labels(typed) == [keep, remove]
    kept = await world.press(author, typed, keep)
    assert kept.get("photo")  # the preview still shows the photo
    said = await world.press(author, kept, world.t("bot.submit.save_edit", locale))
    assert text_of(said) == world.t("participation.error.nothing_changed", locale)
    assert world.svc.proposal(pid).photo_file_id == photo

    asked = await photo_step()
    removed = await world.press(author, asked, remove)
    assert not removed.get("photo")
    await world.press(author, removed, world.t("bot.submit.save_edit", locale))
    assert world.svc.proposal(pid).photo_file_id is None


@pytest.mark.parametrize(
    ("locale", "written"),
    [("ko", "2017년 2월 10일 (금) 오후 6:00"), ("en", "Fri 10 Feb 2017, 6:00 PM KST")],
    ids=["ko", "en"],
)
async def test_a_refusal_after_the_deadline_writes_it_as_every_other_screen(
    world: BotWorld, locale: str, written: str
) -> None:
    """'마감(2017-02-10 18:00)이 지났어요.': the service wrote the deadline into the refusal
    itself, where every other screen reads '2017년 2월 10일 (금) 오후 6:00' (in English
    'Fri 10 Feb 2017, 6:00 PM KST'). The refusal now carries the instant and the bot writes
    it in the reader's language."""
    uid = world.user("박서연", language_code=locale)
    await world.register(uid, "성남시" if locale == "ko" else "Seongnam-si", locale=locale)
    world.clock.now = LAST_HOUR
    world.svc.submit_proposal(
        uid, ROUND, title=TITLE, body=BODY, category="welfare", region="seongnam",
        budget=3_000_000,
    )  # fmt: skip
    mine = await world.text(uid, world.t("bot.menu.activity", locale))
    world.clock.advance(hours=2)
    said = text_of(await world.press(uid, mine, world.t("bot.activity.edit", locale, number=1)))
    deadline = world.svc.round(ROUND).rules.deadlines.submission_ends
    assert said == world.t("participation.error.deadline_passed", locale, deadline=written)
    assert written == format_datetime(deadline, locale) and "2017-02-10" not in said
