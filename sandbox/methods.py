"""Bot API methods the bot calls, with the checks and error texts Telegram applies.

Each method takes ``(world, bot, params)`` and returns the ``result`` of the JSON envelope or
raises ``ApiError``. Spec: https://core.telegram.org/bots/api#available-methods. Limits enforced:
4,096 characters (code points, not UTF-16 units: tdlib's ``utf8_length``) of text and 1,024
of caption after entity parsing, 1-64 bytes of
``callback_data``, valid HTML in ``parse_mode=HTML``, blocked users (403), flood control (429).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sandbox.errors import ApiError
from sandbox.errors import bad_request
from sandbox.markup import read_markup
from sandbox.model import JSON
from sandbox.model import BotRec
from sandbox.model import ChatRec
from sandbox.model import MessageRec
from sandbox.model import chat_api
from sandbox.model import message_api
from sandbox.params import Params
from sandbox.params import Upload
from sandbox.text import EntityParseError
from sandbox.text import auto_entities
from sandbox.text import merge_entities
from sandbox.text import parse_html
from sandbox.text import parse_markdown_v2
from sandbox.world import GROUP_TYPES
from sandbox.world import World

Method = Callable[[World, BotRec, Params], object]
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024


def formatted(p: Params, text_key: str, entities_key: str) -> tuple[str | None, list[JSON]]:
    """Return the plain text and entities of ``text_key`` under the call's ``parse_mode``.

    Raises:
        ApiError: 400 can't parse entities / unsupported parse_mode.
    """
    source = p.text(text_key)
    if source is None:
        return None, []
    mode = (p.text("parse_mode") or "").strip()
    try:
        if mode.lower() == "html":
            text, entities = parse_html(source)
        elif mode.lower() == "markdownv2":
            text, entities = parse_markdown_v2(source)
        elif mode == "":
            text = source
            given = p.structure(entities_key, error="can't parse entities JSON object")
            entities = [e for e in given if isinstance(e, dict)] if isinstance(given, list) else []
        else:
            raise bad_request(f"unsupported parse_mode {mode!r}")
    except EntityParseError as err:
        raise bad_request(f"can't parse entities: {err}") from None
    return text, merge_entities(entities, auto_entities(text))


def _reply_to(p: Params) -> int | None:
    reply = p.structure("reply_parameters", error="can't parse reply parameters JSON object")
    if isinstance(reply, dict) and "message_id" in reply:
        return int(str(reply["message_id"]))
    return p.integer("reply_to_message_id")


def _outgoing(world: World, bot: BotRec, chat: ChatRec, p: Params) -> MessageRec:
    """Return a new bot message with markup and reply set. Requires the lock."""
    markup = read_markup(p.structure("reply_markup", error=_MARKUP_JSON))
    world.flood.admit(bot.id, chat.id, chat.type == "private")  # last check before a send
    msg = world.new_message(chat, outgoing=True, sender_id=None)
    if markup is not None and "inline_keyboard" in markup:
        msg.reply_markup = markup
    elif markup is not None and chat.type == "private":
        msg.keyboard = markup
    msg.reply_to = _reply_to(p)
    msg.parse_mode = p.text("parse_mode")
    return msg


_MARKUP_JSON = "can't parse reply keyboard markup JSON object"


def _deliver(world: World, bot: BotRec, chat: ChatRec, msg: MessageRec) -> JSON:
    """Store the message, count the send, update the user's keyboard. Requires the lock."""
    world.flood.record(chat.id)
    if chat.type in GROUP_TYPES:
        chat.last_bot = bot.id  # privacy mode: bare commands now go to this bot
    if msg.keyboard is not None:
        if msg.keyboard.get("remove_keyboard"):
            chat.reply_keyboard = None
        elif "keyboard" in msg.keyboard:
            chat.reply_keyboard = msg.keyboard
    world.add_message(bot, chat, msg)
    return message_api(msg, chat, bot, world.users)


def send_message(world: World, bot: BotRec, p: Params) -> object:
    """sendMessage."""
    with world.lock:
        chat = world.writable_chat(bot, p.chat_id())
        text, entities = formatted(p, "text", "entities")
        if not text or not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        msg = _outgoing(world, bot, chat, p)
        msg.text, msg.entities = text, entities
        return _deliver(world, bot, chat, msg)


def _media(world: World, p: Params, field: str) -> tuple[Upload | None, str | None]:
    """Return the uploaded file of ``field`` or the file_id it names."""
    if field in p.uploads:
        return p.uploads[field], None
    value = p.text(field, required=f"there is no {field} in the request")
    assert value is not None
    if value.startswith("attach://"):
        upload = p.uploads.get(value.removeprefix("attach://"))
        if upload is None:
            raise bad_request(f"there is no {field} in the request")
        return upload, None
    if value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    return None, value


def _caption(p: Params) -> tuple[str | None, list[JSON]]:
    caption, entities = formatted(p, "caption", "caption_entities")
    if caption is not None and len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return (caption, entities) if caption else (None, [])


def send_photo(world: World, bot: BotRec, p: Params) -> object:
    """sendPhoto: an upload or a file_id of a photo the sandbox already has."""
    upload, file_id = _media(world, p, "photo")
    if upload is not None:
        sizes = world.store_photo(upload.data)
    else:
        rec = world.file(str(file_id))
        if rec.width is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        sizes = [rec.photo_size()]
    with world.lock:
        chat = world.writable_chat(bot, p.chat_id())
        caption = _caption(p)
        msg = _outgoing(world, bot, chat, p)
        msg.caption, msg.caption_entities = caption
        msg.photo = sizes
        return _deliver(world, bot, chat, msg)


def send_document(world: World, bot: BotRec, p: Params) -> object:
    """sendDocument: an upload or a file_id."""
    upload, file_id = _media(world, p, "document")
    if upload is not None:
        if not upload.data:
            raise bad_request("file must be non-empty")
        rec = world.store_file(
            upload.data,
            mime_type=upload.mimetype or "application/octet-stream",
            file_name=upload.filename or None,
            folder="documents",
        )
    else:
        rec = world.file(str(file_id))
    with world.lock:
        chat = world.writable_chat(bot, p.chat_id())
        caption = _caption(p)
        msg = _outgoing(world, bot, chat, p)
        msg.caption, msg.caption_entities = caption
        msg.document = rec.document()
        return _deliver(world, bot, chat, msg)


def _target(world: World, bot: BotRec, p: Params, missing: str) -> tuple[ChatRec, MessageRec]:
    if p.has("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = world.chat_for_bot(bot, p.chat_id())
    msg = world.find_message(
        chat, p.integer("message_id", required="message identifier is not specified")
    )
    if msg is None:
        raise bad_request(missing)
    return chat, msg


def _edited(world: World, bot: BotRec, chat: ChatRec, msg: MessageRec) -> JSON:
    msg.edit_date = int(time.time())
    world.touch()
    return message_api(msg, chat, bot, world.users)


def _inline_markup(p: Params) -> JSON | None:
    markup = read_markup(p.structure("reply_markup", error=_MARKUP_JSON))
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    return markup


def edit_message_text(world: World, bot: BotRec, p: Params) -> object:
    """editMessageText; without reply_markup the inline keyboard goes, as in Telegram."""
    with world.lock:
        chat, msg = _target(world, bot, p, "message to edit not found")
        if not msg.outgoing:
            raise bad_request("message can't be edited")
        if msg.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities = formatted(p, "text", "entities")
        if not text or not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        markup = _inline_markup(p)
        if msg.same_content(text, entities, markup):
            raise bad_request(_NOT_MODIFIED)
        msg.text, msg.entities, msg.reply_markup = text, entities, markup
        msg.parse_mode = p.text("parse_mode")
        return _edited(world, bot, chat, msg)


_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


def edit_message_caption(world: World, bot: BotRec, p: Params) -> object:
    """editMessageCaption."""
    with world.lock:
        chat, msg = _target(world, bot, p, "message to edit not found")
        if not msg.outgoing:
            raise bad_request("message can't be edited")
        if msg.photo is None and msg.document is None:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = formatted(p, "caption", "caption_entities")
        if caption is not None and len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        markup = _inline_markup(p)
        if msg.same_content(caption, entities, markup):
            raise bad_request(_NOT_MODIFIED)
        msg.caption, msg.caption_entities, msg.reply_markup = caption, entities, markup
        return _edited(world, bot, chat, msg)


_MEDIA_TYPES = ("photo", "document")


def edit_message_media(world: World, bot: BotRec, p: Params) -> object:
    """editMessageMedia (photo and document): the new media replaces the message's, a text
    message included (Bot API 7.11), with the caption the new media carries (none: the caption
    goes). A ``file_id`` of the file the message shows, with the same caption and keyboard,
    changes nothing ("not modified"); a new upload always replaces it."""
    given = p.structure("media", error="can't parse InputMedia JSON object")
    if not isinstance(given, dict):
        raise bad_request("media not specified")
    kind = str(given.get("type", ""))
    if kind not in _MEDIA_TYPES:
        raise bad_request(f"unsupported media type {kind!r} in the sandbox")
    media = Params(values=dict(given), uploads=p.uploads)
    upload, file_id = _media(world, media, "media")
    if upload is not None and kind == "photo":
        sizes: list[JSON] | None = world.store_photo(upload.data)
        document = None
    elif upload is not None:
        if not upload.data:
            raise bad_request("file must be non-empty")
        rec = world.store_file(upload.data, mime_type=upload.mimetype or "application/octet-stream",
                               file_name=upload.filename or None, folder="documents")  # fmt: skip
        sizes, document = None, rec.document()
    else:
        rec = world.file(str(file_id))
        if kind == "photo" and rec.width is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        sizes = [rec.photo_size()] if kind == "photo" else None
        document = rec.document() if kind == "document" else None
    with world.lock:
        chat, msg = _target(world, bot, p, "message to edit not found")
        if not msg.outgoing:
            raise bad_request("message can't be edited")
        caption, entities = _caption(media)
        markup = _inline_markup(p)
        shown = msg.photo[-1]["file_id"] if msg.photo else (msg.document or {}).get("file_id")
        if (
            file_id is not None
            and file_id == shown
            and msg.text is None
            and (msg.caption, msg.caption_entities, msg.reply_markup) == (caption, entities, markup)
        ):
            raise bad_request(_NOT_MODIFIED)
        msg.text, msg.entities = None, []
        msg.photo, msg.document = sizes, document
        msg.caption, msg.caption_entities, msg.reply_markup = caption, entities, markup
        msg.parse_mode = media.text("parse_mode")
        return _edited(world, bot, chat, msg)


def edit_message_reply_markup(world: World, bot: BotRec, p: Params) -> object:
    """editMessageReplyMarkup; no reply_markup removes the inline keyboard."""
    with world.lock:
        chat, msg = _target(world, bot, p, "message to edit not found")
        if not msg.outgoing:
            raise bad_request("message can't be edited")
        markup = _inline_markup(p)
        if markup == msg.reply_markup:
            raise bad_request(_NOT_MODIFIED)
        msg.reply_markup = markup
        return _edited(world, bot, chat, msg)


def delete_message(world: World, bot: BotRec, p: Params) -> object:
    """deleteMessage: the bot's own messages and, in private chats, the user's."""
    with world.lock:
        chat, msg = _target(world, bot, p, "message to delete not found")
        if time.time() - msg.date > 48 * 3600:
            raise bad_request("message can't be deleted for everyone")
        msg.deleted = True
        if chat.pinned == msg.message_id:
            chat.pinned = None
        world.touch()
        return True


def answer_callback_query(world: World, bot: BotRec, p: Params) -> object:
    """answerCallbackQuery: once per query, within Telegram's response timeout."""
    query_id = p.text("callback_query_id", required="QUERY_ID_INVALID")
    text = p.text("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    with world.lock:
        query = bot.callbacks.get(str(query_id))
        too_old = (
            query is None
            or query.answered
            or time.monotonic() - query.created > world.limits.callback_answer_seconds
        )
        if query is None or too_old:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        query.answered = True
        query.text = text
        query.show_alert = p.flag("show_alert")
        query.url = p.text("url")
        world.touch()
        return True


def get_file(world: World, bot: BotRec, p: Params) -> object:
    """getFile: the path under which ``/file/bot<token>/`` serves the bytes."""
    file_id = p.text("file_id", required="file_id not specified")
    try:
        rec = world.file(str(file_id))
    except ApiError:
        raise bad_request("invalid file_id") from None
    if len(rec.data) > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    return {
        "file_id": rec.file_id,
        "file_unique_id": rec.file_unique_id,
        "file_size": len(rec.data),
        "file_path": rec.file_path,
    }


def pin_chat_message(world: World, bot: BotRec, p: Params) -> object:
    """pinChatMessage; leaves the "pinned" service message Telegram leaves."""
    with world.lock:
        chat, msg = _target(world, bot, p, "message to pin not found")
        chat.pinned = msg.message_id
        service = world.new_message(chat, outgoing=True, sender_id=None)
        service.pinned_message_id = msg.message_id
        world.add_message(bot, chat, service)
        return True


def unpin_chat_message(world: World, bot: BotRec, p: Params) -> object:
    """unpinChatMessage (the newest pin when no message_id is given)."""
    with world.lock:
        chat = world.chat_for_bot(bot, p.chat_id())
        message_id = p.integer("message_id")
        if message_id is None or chat.pinned == message_id:
            chat.pinned = None
        world.touch()
        return True


def set_my_commands(world: World, bot: BotRec, p: Params) -> object:
    """setMyCommands per scope and language."""
    commands = p.structure("commands", error="can't parse commands JSON object")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an array of at most 100 BotCommand")
    cleaned: list[JSON] = []
    for item in commands:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand")
        command = str(item.get("command", "")).lstrip("/")
        description = str(item.get("description", ""))
        if not command or len(command) > 32 or not command.replace("_", "a").isalnum():
            raise bad_request("BOT_COMMAND_INVALID")
        if command != command.lower():
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("command description must be 1-256 characters")
        cleaned.append({"command": command, "description": description})
    with world.lock:
        bot.commands[_command_key(p)] = cleaned
        world.touch()
    return True


def _command_key(p: Params) -> str:
    scope = p.structure("scope", error="can't parse BotCommandScope JSON object")
    language = p.text("language_code") or ""
    if (scope is None or scope == {"type": "default"}) and not language:
        return "default"
    return json.dumps(scope, sort_keys=True) + "|" + language


def get_my_commands(world: World, bot: BotRec, p: Params) -> object:
    """getMyCommands."""
    with world.lock:
        return list(bot.commands.get(_command_key(p), []))


def delete_my_commands(world: World, bot: BotRec, p: Params) -> object:
    """deleteMyCommands."""
    with world.lock:
        bot.commands.pop(_command_key(p), None)
        world.touch()
    return True


def get_chat(world: World, bot: BotRec, p: Params) -> object:
    """getChat: a ``ChatFullInfo``."""
    with world.lock:
        chat = world.chat_for_bot(bot, p.chat_id())
        info = chat_api(chat, world.users)
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        pinned = world.find_message(chat, chat.pinned)
        if pinned is not None:
            info["pinned_message"] = message_api(pinned, chat, bot, world.users)
        return info


_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
)


def get_chat_member(world: World, bot: BotRec, p: Params) -> object:
    """getChatMember: the bot administers its channels; users are members of their chat and
    of the groups they are in ("left" for the others)."""
    user_id = p.integer("user_id", required="user_id is empty")
    with world.lock:
        chat = world.chat_for_bot(bot, p.chat_id())
        if user_id == bot.id:
            if chat.type == "channel":
                member: JSON = {"status": "administrator", "user": bot.to_api()}
                member.update({right: True for right in _ADMIN_RIGHTS})
                member.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
                return member
            return {"status": "member", "user": bot.to_api()}
        user = world.users.get(int(str(user_id)))
        if user is None or (chat.type == "private" and chat.id != user.id):
            raise bad_request("user not found")
        if chat.type == "private" and chat.blocked:
            return {"status": "kicked", "user": user.to_api(), "until_date": 0}
        if chat.type in GROUP_TYPES and chat.id in world.groups and user.id not in chat.members:
            return {"status": "left", "user": user.to_api()}
        return {"status": "member", "user": user.to_api()}


def send_chat_action(world: World, bot: BotRec, p: Params) -> object:
    """sendChatAction ("typing..."): checked like a send, shown nowhere."""
    with world.lock:
        world.writable_chat(bot, p.chat_id())
    if not p.has("action"):
        raise bad_request("wrong parameter action in request")
    return True


def leave_chat(world: World, bot: BotRec, p: Params) -> object:
    """leaveChat: the bot leaves a group, supergroup or channel; ``my_chat_member`` (left)
    follows. A private chat cannot be left; a group the bot is not in is refused as a send
    to it is (403); an unknown chat is not found (400)."""
    with world.lock:
        chat = world.member_chat(bot, p.chat_id())
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        world.leave_group(bot, chat)
        return True


def get_me(world: World, bot: BotRec, p: Params) -> object:
    """getMe."""
    return bot.to_api()


def accept(world: World, bot: BotRec, p: Params) -> object:
    """Settings the sandbox only records (descriptions, menu button, logOut, close)."""
    with world.lock:
        bot.settings.update(p.values)
    return True


def get_updates(world: World, bot: BotRec, p: Params) -> object:
    """getUpdates with offset / limit / timeout / allowed_updates."""
    limit = p.integer("limit") or 100
    allowed = p.structure("allowed_updates", error="can't parse allowed updates JSON object")
    return world.get_updates(
        bot,
        offset=p.integer("offset"),
        limit=min(max(limit, 1), 100),
        timeout=float(p.integer("timeout") or 0),
        allowed_updates=[str(a) for a in allowed] if isinstance(allowed, list) else None,
    )


METHODS: dict[str, Method] = {
    "getme": get_me,
    "getupdates": get_updates,
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "senddocument": send_document,
    "editmessagetext": edit_message_text,
    "editmessagecaption": edit_message_caption,
    "editmessagereplymarkup": edit_message_reply_markup,
    "editmessagemedia": edit_message_media,
    "deletemessage": delete_message,
    "answercallbackquery": answer_callback_query,
    "getfile": get_file,
    "pinchatmessage": pin_chat_message,
    "unpinchatmessage": unpin_chat_message,
    "setmycommands": set_my_commands,
    "getmycommands": get_my_commands,
    "deletemycommands": delete_my_commands,
    "getchat": get_chat,
    "getchatmember": get_chat_member,
    "sendchataction": send_chat_action,
    "leavechat": leave_chat,
    "setmydescription": accept,
    "setmyshortdescription": accept,
    "setmyname": accept,
    "setchatmenubutton": accept,
    "logout": accept,
    "close": accept,
}
