"""Editing the bot's own channel posts, as Telegram does: editMessageText on a text post,
editMessageMedia on a photo post (a new upload, its caption given again), 'message is not
modified' when nothing changes, 'message to edit not found' for a deleted post."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram import InputMediaDocument
from telegram import InputMediaPhoto
from telegram.error import BadRequest

from sandbox.server import SandboxServer
from tests.sandbox.test_contract import png

CHANNEL = "@gg_ledger"

pytestmark = pytest.mark.asyncio


async def test_a_channel_post_is_edited_by_its_username_or_its_id(
    bot: Bot, sandbox: SandboxServer
) -> None:
    sent = await bot.send_message(CHANNEL, "<b>1위</b> 우리 마을", parse_mode="HTML")
    edited = await bot.edit_message_text(
        "<b>1위</b> 비공개", chat_id=CHANNEL, message_id=sent.message_id, parse_mode="HTML"
    )
    assert edited.text == "1위 비공개" and edited.edit_date and edited.chat.type == "channel"
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<b>1위</b> 비공개", chat_id=sent.chat.id, message_id=sent.message_id,
            parse_mode="HTML",
        )  # fmt: skip
    (post,) = sandbox.channel_posts(CHANNEL)
    assert post["text"] == "1위 비공개" and post["edited"]
    assert await bot.delete_message(CHANNEL, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("다시", chat_id=CHANNEL, message_id=sent.message_id)


async def test_a_channel_photo_is_replaced_with_a_new_upload_and_caption(
    bot: Bot, sandbox: SandboxServer
) -> None:
    first, second = png(40, 30), png(50, 30)
    sent = await bot.send_photo(CHANNEL, first, caption="결과 그래프")
    edited = await bot.edit_message_media(
        InputMediaPhoto(second, caption="결과 그래프"), chat_id=CHANNEL,
        message_id=sent.message_id,
    )  # fmt: skip
    assert edited.caption == "결과 그래프" and edited.edit_date
    assert edited.photo[-1].width == 50
    (post,) = sandbox.channel_posts(CHANNEL)
    assert post["photo"] == second and post["caption"] == "결과 그래프" and post["edited"]
    # the photo it shows now, by its file_id, with the same caption: nothing changes
    same = InputMediaPhoto(edited.photo[-1].file_id, caption="결과 그래프")
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_media(same, chat_id=CHANNEL, message_id=sent.message_id)
    # no caption in the new media: the caption goes, as in Telegram
    again = await bot.edit_message_media(
        InputMediaPhoto(first), chat_id=CHANNEL, message_id=sent.message_id
    )
    assert again.caption is None and sandbox.channel_posts(CHANNEL)[0]["photo"] == first
    assert await bot.delete_message(CHANNEL, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_media(
            InputMediaPhoto(second), chat_id=CHANNEL, message_id=sent.message_id
        )


async def test_media_edits_are_checked_as_sends_are(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    sent = await bot.send_photo(CHANNEL, png(), caption="그래프")
    where = {"chat_id": CHANNEL, "message_id": sent.message_id}
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.edit_message_media(InputMediaPhoto(b"not an image"), **where)
    with pytest.raises(BadRequest, match="caption is too long"):
        await bot.edit_message_media(InputMediaPhoto(png(), caption="가" * 1025), **where)
    text = await bot.send_message(CHANNEL, "글")  # a text post takes media (Bot API 7.11+)
    done = await bot.edit_message_media(
        InputMediaDocument(b"a,b\n", filename="r.csv"), chat_id=CHANNEL,
        message_id=text.message_id,
    )  # fmt: skip
    assert done.document.file_name == "r.csv" and done.text is None
    mine = await bot.send_message(resident, "안녕")
    sandbox.send_text(resident, "답장")
    theirs = sandbox.messages(resident, incoming=True)[-1]
    assert not theirs["outgoing"] and mine.message_id != theirs["message_id"]
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_media(
            InputMediaPhoto(png()), chat_id=resident, message_id=theirs["message_id"]
        )
