"""Contract tests: python-telegram-bot 22's own client against the sandbox, method by method."""

from __future__ import annotations

import asyncio
import datetime as dt
import io

import httpx
import pytest
from PIL import Image
from telegram import Bot
from telegram import BotCommand
from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup
from telegram import KeyboardButton
from telegram import ReplyKeyboardMarkup
from telegram import ReplyKeyboardRemove
from telegram.constants import ChatMemberStatus
from telegram.constants import MessageEntityType
from telegram.error import BadRequest
from telegram.error import Conflict
from telegram.error import Forbidden
from telegram.error import InvalidToken
from telegram.error import RetryAfter

from sandbox.server import SandboxServer
from tests.sandbox.conftest import TOKEN

pytestmark = pytest.mark.asyncio


def png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in pairs]])


async def test_get_me_answers_the_sandbox_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "ttabok_sandbox_bot" and me.id == 123456789


async def test_get_updates_carries_commands_with_entities_and_confirms_by_offset(
    bot: Bot, sandbox: SandboxServer
) -> None:
    user = sandbox.users.create(first_name="민지")
    sandbox.send_text(int(user["id"]), "/help@ttabok_sandbox_bot 안녕하세요")
    sandbox.send_text(int(user["id"]), "두 번째")
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first] == ["/help@ttabok_sandbox_bot 안녕하세요", "두 번째"]
    entity = first[0].message.entities[0]
    assert (entity.type, entity.offset, entity.length) == (MessageEntityType.BOT_COMMAND, 0, 24)
    assert first[0].message.chat.type == "private"
    assert first[0].message.from_user.first_name == "민지"
    assert first[1].update_id == first[0].update_id + 1
    again = await bot.get_updates(offset=first[0].update_id + 1, timeout=0)
    assert [u.update_id for u in again] == [first[1].update_id]
    assert await bot.get_updates(offset=first[1].update_id + 1, timeout=0) == ()


async def test_get_updates_negative_offset_keeps_only_the_last(
    bot: Bot, sandbox: SandboxServer
) -> None:
    user = sandbox.users.create(first_name="민지")
    for n in range(3):
        sandbox.send_text(int(user["id"]), f"m{n}")
    last = await bot.get_updates(offset=-1, timeout=0)
    assert [u.message.text for u in last] == ["m2"]
    assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["m2"]


async def test_get_updates_long_polls_until_an_update_arrives(
    bot: Bot, sandbox: SandboxServer
) -> None:
    user = sandbox.users.create(first_name="민지")
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, sandbox.send_text, int(user["id"]), "늦게 온 메시지")
    started = loop.time()
    updates = await bot.get_updates(timeout=5)
    assert [u.message.text for u in updates] == ["늦게 온 메시지"]
    assert 0.2 < loop.time() - started < 3


async def test_get_updates_times_out_empty(bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert loop.time() - started >= 0.9


async def test_a_second_poller_ends_the_first_with_conflict(
    bot: Bot, sandbox: SandboxServer
) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    async with Bot(TOKEN, base_url=sandbox.api_base_url) as other_process:
        assert await other_process.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_deep_link_start_payload_and_photo_and_contact_updates(
    bot: Bot, sandbox: SandboxServer
) -> None:
    uid = int(sandbox.users.create(first_name="민지")["id"])
    sandbox.open_deep_link(uid, "https://t.me/ttabok_sandbox_bot?start=p_12")
    sandbox.send_photo(uid, png(), caption="현장 사진")
    sandbox.send_contact(uid, "821012345678")
    start, photo, contact = await bot.get_updates(timeout=0)
    assert start.message.text == "/start p_12"
    assert start.message.entities[0].length == len("/start")
    assert photo.message.caption == "현장 사진" and photo.message.photo[-1].width == 40
    assert contact.message.contact.phone_number == "821012345678"
    assert contact.message.contact.user_id == uid


async def test_the_same_picture_sent_again_keeps_its_file_unique_id(
    bot: Bot, sandbox: SandboxServer
) -> None:
    """As on Telegram: file_unique_id names the file (the same bytes), file_id the message's
    copy of it; getFile agrees, and a different picture is a different file."""
    uid = int(sandbox.users.create(first_name="민지")["id"])
    for image in (png(600, 600), png(600, 600), png(600, 601)):
        sandbox.send_photo(uid, image)
    first, again, other = [u.message.photo for u in await bot.get_updates(timeout=0)]
    assert first[-1].file_id != again[-1].file_id
    assert first[-1].file_unique_id == again[-1].file_unique_id
    assert first[0].file_unique_id == again[0].file_unique_id  # the thumbnail too
    assert first[0].file_unique_id != first[-1].file_unique_id  # a file of its own
    assert other[-1].file_unique_id != first[-1].file_unique_id
    got = await bot.get_file(again[-1].file_id)
    assert (got.file_id, got.file_unique_id) == (again[-1].file_id, first[-1].file_unique_id)
    assert bytes(await got.download_as_bytearray()) == png(600, 600)
    sent = await bot.send_document(uid, png(600, 600), filename="same.png")
    assert sent.document.file_unique_id != first[-1].file_unique_id  # a document, not a photo


async def test_a_sent_file_arrives_as_a_document_the_bot_can_download(
    bot: Bot, sandbox: SandboxServer
) -> None:
    uid = int(sandbox.users.create(first_name="민지")["id"])
    data = "\ufeff햇살마을,수원시\n".encode()
    sandbox.send_document(uid, data, "list.csv", "text/csv", caption="목록")
    [update] = await bot.get_updates(timeout=0)
    doc = update.message.document
    assert (doc.file_name, doc.mime_type, doc.file_size) == ("list.csv", "text/csv", len(data))
    assert update.message.caption == "목록"
    file = await bot.get_file(doc.file_id)
    assert bytes(await file.download_as_bytearray()) == data


async def test_an_album_arrives_as_one_message_per_picture_sharing_a_media_group(
    bot: Bot, sandbox: SandboxServer
) -> None:
    """As from a Telegram app: three photos picked at once are three updates in a row,
    consecutive message ids, one date, one media_group_id; the caption on the first only.
    A second album has a group of its own, and a photo sent alone has none."""
    uid = int(sandbox.users.create(first_name="민지")["id"])
    pictures = [png(40, 30), png(41, 30), png(42, 30)]
    queued = sandbox.send_album(uid, pictures, caption="공원 사진 세 장")
    sandbox.send_album(uid, pictures[:2])
    sandbox.send_photo(uid, png())
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates[:3]] == [u["update_id"] for u in queued]
    first, other, alone = updates[:3], updates[3:5], updates[5]
    messages = [u.message for u in first]
    assert [m.message_id for m in messages] == [messages[0].message_id + i for i in range(3)]
    assert {m.date for m in messages} == {messages[0].date}
    assert len({m.media_group_id for m in messages}) == 1 and messages[0].media_group_id
    assert [m.caption for m in messages] == ["공원 사진 세 장", None, None]
    assert [m.photo[-1].width for m in messages] == [40, 41, 42]
    assert {u.message.media_group_id for u in other} != {messages[0].media_group_id}
    assert len({u.message.media_group_id for u in other}) == 1
    assert alone.message.media_group_id is None and alone.message.photo
    got = await bot.get_file(messages[1].photo[-1].file_id)
    assert bytes(await got.download_as_bytearray()) == pictures[1]
    shown = [m for m in sandbox.messages(uid, incoming=True) if m["media_group_id"]]
    assert len(shown) == 5


async def test_an_album_sent_as_files_is_a_media_group_of_image_documents(
    bot: Bot, sandbox: SandboxServer
) -> None:
    uid = int(sandbox.users.create(first_name="민지")["id"])
    sandbox.send_album(uid, [png(), png(50, 50)], as_files=True)
    one, two = [u.message for u in await bot.get_updates(timeout=0)]
    assert one.media_group_id == two.media_group_id is not None
    assert not one.photo and not two.photo
    assert (one.document.mime_type, one.document.file_name) == ("image/png", "IMG_0001.png")
    file = await bot.get_file(two.document.file_id)
    assert bytes(await file.download_as_bytearray()) == png(50, 50)


async def test_files_picked_together_arrive_as_an_album_of_documents(
    bot: Bot, sandbox: SandboxServer
) -> None:
    uid = int(sandbox.users.create(first_name="민지")["id"])
    one, two = b"\xef\xbb\xbf\xed\x96\x87,suwon\n", b"b,yeoncheon\n"
    sandbox.send_files(uid, [(one, "a.csv", "text/csv"), (two, "b.txt", "text/plain")], "목록")
    first, second = [u.message for u in await bot.get_updates(timeout=0)]
    assert first.media_group_id == second.media_group_id is not None
    assert (first.caption, second.caption) == ("목록", None)
    assert (first.document.file_name, second.document.mime_type) == ("a.csv", "text/plain")
    file = await bot.get_file(second.document.file_id)
    assert bytes(await file.download_as_bytearray()) == two


@pytest.mark.parametrize("count", [0, 1, 11])
async def test_an_album_holds_two_to_ten_pictures(sandbox: SandboxServer, count: int) -> None:
    uid = int(sandbox.users.create(first_name="민지")["id"])
    with pytest.raises(ValueError, match="2-10"):
        sandbox.send_album(uid, [png()] * count)
    with pytest.raises(ValueError, match="2-10"):
        sandbox.send_files(uid, [(b"x", "x.txt", "text/plain")] * count)
    assert sandbox.messages(uid, incoming=True) == []


async def test_send_message_html_becomes_text_and_utf16_entities(
    bot: Bot, resident: int, sandbox: SandboxServer
) -> None:
    sent = await bot.send_message(resident, "😀 <b>공감</b> &lt;3", parse_mode="HTML")
    assert sent.text == "😀 공감 <3"
    bold = sent.entities[0]
    assert (bold.type, bold.offset, bold.length) == (MessageEntityType.BOLD, 3, 2)
    assert sandbox.messages(resident)[-1]["parse_mode"] == "HTML"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<b>열린 태그", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_invalid_html_is_refused_with_telegrams_text(
    bot: Bot, resident: int, text: str, fragment: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(resident, text, parse_mode="HTML")
    assert "can't parse entities" in caught.value.message.lower()
    assert fragment.lower() in caught.value.message.lower()


async def test_markdown_v2_reserved_characters_must_be_escaped(bot: Bot, resident: int) -> None:
    sent = await bot.send_message(resident, r"*굵게* 1\.5", parse_mode="MarkdownV2")
    assert sent.text == "굵게 1.5" and sent.entities[0].type == MessageEntityType.BOLD
    with pytest.raises(BadRequest, match="is reserved and must be escaped"):
        await bot.send_message(resident, "1.5", parse_mode="MarkdownV2")


async def test_a_persons_long_text_is_cut_as_the_apps_count_in_utf16_units(
    bot: Bot, sandbox: SandboxServer
) -> None:
    """The apps cut a text over 4,096 UTF-16 code units, so 3,000 emoji (6,000 units) come
    as two messages, the first 2,048 emoji (4,096 units) long."""
    user = int(sandbox.users.create(first_name="민지")["id"])
    sandbox.send_text(user, "😀" * 3000)
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates] == ["😀" * 2048, "😀" * 952]
    with pytest.raises(ValueError, match="4,096"):  # nor can an edit be longer
        sandbox.edit_text(user, updates[1].message.message_id, "😀" * 2049)


async def test_message_length_limit_is_4096_characters(bot: Bot, resident: int) -> None:
    await bot.send_message(resident, "가" * 4096)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(resident, "가" * 4097)
    # The Bot API counts characters (code points) of the text after entity parsing, not
    # UTF-16 code units: tdlib checks utf8_length(text) against message_text_length_max for
    # bots (td/telegram/MessageContent.cpp), so 4,096 emoji (8,192 units) are one message.
    await bot.send_message(resident, "😀" * 4096)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(resident, "😀" * 4097)
    await bot.send_message(resident, "<b>" + "가" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(resident, "<b>" + "가" * 4097 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(resident, "   ")


@pytest.mark.parametrize("data", ["", "x" * 65, "가" * 22])
async def test_callback_data_must_be_1_to_64_bytes(bot: Bot, resident: int, data: str) -> None:
    markup = {"inline_keyboard": [[{"text": "동의", "callback_data": data}]]}
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(resident, "동의하시겠어요?", reply_markup=markup)  # type: ignore[arg-type]


async def test_callback_data_of_64_bytes_is_accepted(bot: Bot, resident: int) -> None:
    await bot.send_message(resident, "ok", reply_markup=keyboard(("a", "가" * 21 + "x")))


async def test_blocked_user_answers_403(bot: Bot, sandbox: SandboxServer, resident: int) -> None:
    sandbox.block_bot(resident)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(resident, "안녕하세요")
    updates = await bot.get_updates(timeout=0)
    member = updates[-1].my_chat_member
    assert member.new_chat_member.status == ChatMemberStatus.BANNED


async def test_user_who_never_wrote_cannot_be_messaged(bot: Bot, sandbox: SandboxServer) -> None:
    uid = int(sandbox.users.create(first_name="준호")["id"])
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(uid, "안녕하세요")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "안녕하세요")


async def test_press_gives_callback_query_with_chat_instance_and_answer_is_recorded(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    await bot.get_updates(timeout=0)
    consent = keyboard(("동의", "c:yes"))
    sent = await bot.send_message(resident, "개인정보 수집에 동의하세요?", reply_markup=consent)
    sandbox.press(resident, sent.message_id, "c:yes")
    updates = await bot.get_updates(offset=-1, timeout=0)
    query = updates[0].callback_query
    assert query.data == "c:yes" and query.chat_instance
    assert query.message.message_id == sent.message_id
    assert await query.answer("고마워요", show_alert=True)
    assert sandbox.answered_callbacks(resident)[0]["text"] == "고마워요"
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer("두 번")


async def test_press_refuses_a_button_that_is_not_there(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    sent = await bot.send_message(resident, "질문", reply_markup=keyboard(("예", "y")))
    with pytest.raises(ValueError, match="no button"):
        sandbox.press(resident, sent.message_id, "n")


async def test_edit_message_text_and_reply_markup(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    sent = await bot.send_message(resident, "처음", reply_markup=keyboard(("a", "a")))
    edited = await bot.edit_message_text("고침", chat_id=resident, message_id=sent.message_id)
    assert edited.text == "고침" and edited.reply_markup is None and edited.edit_date
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("고침", chat_id=resident, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        resident, sent.message_id, reply_markup=keyboard(("b", "b"))
    )
    view = sandbox.messages(resident)[-1]
    assert view["edited"] and view["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("없음", chat_id=resident, message_id=9999)


async def test_edits_that_change_nothing_are_refused_as_not_modified(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    """Telegram answers 400 'message is not modified' to an editMessageText, -Caption or
    -ReplyMarkup that leaves the content and the keyboard as they are (a double tap's
    redraw, buttons taken off twice); one that changes either is applied."""
    buttons = keyboard(("a", "a"))
    sent = await bot.send_message(resident, "처음", reply_markup=buttons)
    where = {"chat_id": resident, "message_id": sent.message_id}
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("처음", reply_markup=buttons, **where)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(reply_markup=buttons, **where)
    await bot.edit_message_reply_markup(**where)  # the buttons off
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(**where)  # ...and off again
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("처음", parse_mode="HTML", **where)  # the same once parsed
    photo = await bot.send_photo(resident, png(), caption="사진", reply_markup=buttons)
    on_photo = {"chat_id": resident, "message_id": photo.message_id}
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_caption(caption="사진", reply_markup=buttons, **on_photo)
    await bot.edit_message_caption(caption="사진", **on_photo)  # the same caption, no buttons
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_caption(caption="사진", **on_photo)
    assert [m["edited"] for m in sandbox.messages(resident)[-2:]] == [True, True]


async def test_delete_message(bot: Bot, sandbox: SandboxServer, resident: int) -> None:
    sent = await bot.send_message(resident, "지울 메시지")
    assert await bot.delete_message(resident, sent.message_id)
    assert sandbox.messages(resident)[-1]["deleted"]
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(resident, sent.message_id)


async def test_send_photo_get_file_and_download(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    image = png(600, 600)
    sent = await bot.send_photo(resident, image, caption="<b>QR</b>", parse_mode="HTML")
    assert sent.caption == "QR" and sent.photo[-1].width == 600 and len(sent.photo) == 2
    assert sandbox.messages(resident)[-1]["photo"] == image
    again = await bot.send_photo(resident, sent.photo[-1].file_id)
    assert again.photo[-1].file_id == sent.photo[-1].file_id
    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path.startswith(sandbox.file_base_url)
    assert bytes(await file.download_as_bytearray()) == image
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(resident, b"not an image")
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(resident, "no-such-file-id")
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("no-such-file-id")


async def test_caption_limit_is_1024(bot: Bot, resident: int) -> None:
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(resident, png(), caption="가" * 1025)


async def test_send_document(bot: Bot, sandbox: SandboxServer, resident: int) -> None:
    sent = await bot.send_document(resident, b"a,b\n1,2\n", filename="tally.csv")
    assert sent.document.file_name == "tally.csv"
    file = await bot.get_file(sent.document.file_id)
    assert file.file_path.endswith(".csv")
    assert bytes(await file.download_as_bytearray()) == b"a,b\n1,2\n"


async def test_reply_keyboard_shows_until_removed(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    markup = ReplyKeyboardMarkup(
        [[KeyboardButton("연락처 보내기", request_contact=True)], ["수원시", "성남시"]],
        one_time_keyboard=True,
    )
    sent = await bot.send_message(resident, "시·군을 골라 주세요", reply_markup=markup)
    assert sent.reply_markup is None  # Message.reply_markup carries inline keyboards only
    state = sandbox.client.chat_state(resident)
    assert state["reply_keyboard"]["keyboard"][1][0]["text"] == "수원시"
    sandbox.send_text(resident, "수원시")
    assert sandbox.client.chat_state(resident)["reply_keyboard"] is None
    await bot.send_message(resident, "다시", reply_markup=markup)
    await bot.send_message(resident, "치움", reply_markup=ReplyKeyboardRemove())
    assert sandbox.client.chat_state(resident)["reply_keyboard"] is None


async def test_channel_posts_and_pin(bot: Bot, sandbox: SandboxServer) -> None:
    digest = "블록 #1 digest <code>ab12</code>"
    post = await bot.send_message("@gg_ledger", digest, parse_mode="HTML")
    assert post.chat.type == "channel" and post.chat.username == "gg_ledger"
    assert post.sender_chat.id == post.chat.id
    assert await bot.pin_chat_message("@gg_ledger", post.message_id)
    chat = await bot.get_chat("@gg_ledger")
    assert chat.pinned_message.message_id == post.message_id
    assert sandbox.channel_posts("@gg_ledger")[0]["text"] == "블록 #1 digest ab12"
    admin = await bot.get_chat_member("@gg_ledger", bot.id)
    assert admin.status == ChatMemberStatus.ADMINISTRATOR and admin.can_post_messages
    assert (await bot.get_chat(post.chat.id)).username == "gg_ledger"


async def test_get_chat_and_chat_member_of_a_private_chat(bot: Bot, resident: int) -> None:
    chat = await bot.get_chat(resident)
    assert chat.type == "private" and chat.first_name == "민지"
    member = await bot.get_chat_member(resident, resident)
    assert member.status == ChatMemberStatus.MEMBER
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(resident, 42)


async def test_set_and_get_my_commands(bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand("start", "시작"), BotCommand("help", "도움말")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


async def test_flood_limits_answer_429_with_retry_after(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    sandbox.set_flood_limits(True)
    for _ in range(3):  # the burst a chat allows
        await bot.send_message(resident, "공지")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(resident, "공지")
    wait = caught.value._retry_after  # noqa: SLF001 - int or timedelta depending on PTB settings
    seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else wait
    assert 1 <= seconds <= 2
    assert sandbox.stats()["rate_limited"] == 1


async def test_inject_429_forces_retry_after_on_the_next_sends(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    sandbox.inject_429(2, retry_after=7)
    for _ in range(2):
        with pytest.raises(RetryAfter, match="7"):
            await bot.send_message(resident, "공지")
    await bot.send_message(resident, "공지")
    stats = sandbox.stats()
    assert stats["total"] == 1 and len(stats["per_chat"][resident]) == 1  # type: ignore[index]


async def test_unknown_method_and_bad_token_answer_404_like_telegram(
    sandbox: SandboxServer,
) -> None:
    async with httpx.AsyncClient() as http:
        unknown = await http.post(f"{sandbox.api_base_url}{TOKEN}/sendTeleport")
        bad = await http.post(f"{sandbox.api_base_url}not-a-token/getMe")
        case = await http.get(f"{sandbox.api_base_url}{TOKEN}/GETME")
        form = await http.post(
            f"{sandbox.api_base_url}{TOKEN}/sendMessage", data={"chat_id": "12", "text": "x"}
        )
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert bad.status_code == 404
    assert case.json()["result"]["username"] == "ttabok_sandbox_bot"
    assert form.status_code == 400 and form.json()["description"] == "Bad Request: chat not found"
    with pytest.raises(InvalidToken):
        async with Bot("bad", base_url=sandbox.api_base_url) as bad_bot:
            await bad_bot.get_me()
