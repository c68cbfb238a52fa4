"""The sandbox's records: bots, users, chats, messages, files, and their Bot API JSON.

Field names follow https://core.telegram.org/bots/api#available-types, so that the dicts returned
by ``to_api`` parse with python-telegram-bot's ``de_json``. The records are plain mutable
dataclasses guarded by the world's lock; nothing here locks or does IO.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections import deque
from dataclasses import dataclass
from dataclasses import field

from sandbox.text import render_html

JSON = dict[str, object]


@dataclass
class UserRec:
    """A person in the sandbox (a persona of the web chat or a test's user)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "ko"
    role: str = "resident"
    phone_number: str | None = None

    def to_api(self) -> JSON:
        """Return the ``User`` object."""
        out: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    def describe(self) -> JSON:
        """Return the persona view used by the web chat and the test driver."""
        out = self.to_api()
        out["role"] = self.role
        return out


@dataclass
class FileRec:
    """Bytes the bot or a user uploaded, addressable by ``file_id`` and by ``file_path``."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str
    file_name: str | None = None
    width: int | None = None
    height: int | None = None

    def photo_size(self) -> JSON:
        """Return a ``PhotoSize`` for an image."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width or 0,
            "height": self.height or 0,
            "file_size": len(self.data),
        }

    def document(self) -> JSON:
        """Return a ``Document``."""
        out: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "mime_type": self.mime_type,
            "file_size": len(self.data),
        }
        if self.file_name:
            out["file_name"] = self.file_name
        return out


@dataclass
class MessageRec:
    """One message in a chat, from the bot (``outgoing``) or from a user."""

    message_id: int
    chat_id: int
    date: int
    outgoing: bool
    sender_id: int | None = None
    text: str | None = None
    entities: list[JSON] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JSON] = field(default_factory=list)
    photo: list[JSON] | None = None
    document: JSON | None = None
    contact: JSON | None = None
    media_group_id: str | None = None  # shared by the messages of one album
    reply_markup: JSON | None = None  # inline keyboards only: what Message.reply_markup carries
    keyboard: JSON | None = None  # a reply keyboard / remove / force_reply sent with the message
    parse_mode: str | None = None
    reply_to: int | None = None
    edit_date: int | None = None
    deleted: bool = False
    pinned_message_id: int | None = None  # set on the service message that says "pinned"
    new_chat_members: list[JSON] | None = None  # service message: someone added them
    left_chat_member: JSON | None = None  # service message: they left
    group_chat_created: bool = False  # service message: the group was created
    deep_link: str | None = None  # the start payload, when a user opened a t.me link
    sent_at: float = 0.0  # monotonic, for rate statistics

    def same_content(self, text: str | None, entities: list[JSON], markup: JSON | None) -> bool:
        """Return whether an edit would change nothing (Telegram's "not modified")."""
        current_text: str | None = self.text
        current_entities = self.entities
        if self.text is None:
            current_text, current_entities = self.caption, self.caption_entities
        return (current_text, current_entities, self.reply_markup) == (text, entities, markup)


@dataclass
class ChatRec:
    """A private chat between the bot and one user, a channel the bot administers, or a
    group or supergroup of people (``members``) the bot may be in. A group is one record in
    ``World.groups``, shared by every bot in it (each holds it in ``BotRec.chats`` while it is
    a member), so all see one history with one message id sequence, as in Telegram."""

    id: int
    type: str  # "private" | "group" | "supergroup" | "channel"
    title: str | None = None
    username: str | None = None
    messages: OrderedDict[int, MessageRec] = field(default_factory=OrderedDict)
    next_message_id: int = 1
    pinned: int | None = None
    blocked: bool = False  # the user blocked the bot
    started: bool = False  # the user has written to the bot at least once
    reply_keyboard: JSON | None = None  # what the user's keyboard area shows
    members: list[int] = field(default_factory=list)  # a group's people, by user id
    last_bot: int | None = None  # the bot that wrote last in a group (privacy mode)

    def chat_instance(self, bot_id: int) -> str:
        """Return the stable ``chat_instance`` of callback queries from this chat."""
        digest = hashlib.sha256(f"{bot_id}:{self.id}".encode()).digest()
        return str(int.from_bytes(digest[:8], "big", signed=True))


@dataclass
class CallbackRec:
    """A callback query and how the bot answered it."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float
    answered: bool = False
    text: str | None = None
    show_alert: bool = False
    url: str | None = None


@dataclass
class WebhookConf:
    """What ``setWebhook`` configured."""

    url: str
    secret_token: str | None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class BotRec:
    """One bot, identified by its token; holds its chats, updates and settings."""

    id: int
    token: str | None
    username: str
    first_name: str
    chats: dict[int, ChatRec] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)  # lower-case username -> chat id
    updates: deque[JSON] = field(default_factory=deque)
    next_update_id: int = 1
    allowed_updates: list[str] | None = None
    webhook: WebhookConf | None = None
    poll_generation: int = 0
    commands: dict[str, list[JSON]] = field(default_factory=dict)
    callbacks: OrderedDict[str, CallbackRec] = field(default_factory=OrderedDict)
    settings: dict[str, object] = field(default_factory=dict)

    def to_api(self) -> JSON:
        """Return ``getMe``'s ``User``."""
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


def chat_api(chat: ChatRec, users: dict[int, UserRec]) -> JSON:
    """Return the ``Chat`` object of ``chat``."""
    if chat.type == "private":
        user = users.get(chat.id)
        out: JSON = {"id": chat.id, "type": "private"}
        if user is not None:
            out.update({k: v for k, v in user.to_api().items() if k in _CHAT_USER_KEYS})
        return out
    out = {"id": chat.id, "type": chat.type, "title": chat.title or chat.username or ""}
    if chat.username:
        out["username"] = chat.username
    return out


_CHAT_USER_KEYS = ("first_name", "last_name", "username")


def message_api(msg: MessageRec, chat: ChatRec, bot: BotRec, users: dict[int, UserRec]) -> JSON:
    """Return the ``Message`` object of ``msg``."""
    out: JSON = {"message_id": msg.message_id, "date": msg.date, "chat": chat_api(chat, users)}
    if chat.type == "channel":
        out["sender_chat"] = out["chat"]
    elif msg.outgoing:
        out["from"] = bot.to_api()
    elif msg.sender_id is not None and msg.sender_id in users:
        out["from"] = users[msg.sender_id].to_api()
    keys = ("text", "caption", "photo", "document", "contact", "media_group_id", "reply_markup")
    service = ("new_chat_members", "left_chat_member")
    for key in (*keys, *service, "edit_date"):
        value = getattr(msg, key)
        if value is not None:
            out[key] = value
    if msg.group_chat_created:
        out["supergroup_chat_created" if chat.type == "supergroup" else "group_chat_created"] = True
    if msg.text is not None and msg.entities:
        out["entities"] = msg.entities
    if msg.caption is not None and msg.caption_entities:
        out["caption_entities"] = msg.caption_entities
    if msg.reply_to is not None and msg.reply_to in chat.messages:
        replied = chat.messages[msg.reply_to]
        out["reply_to_message"] = message_api(replied, chat, bot, users)
    if msg.pinned_message_id is not None and msg.pinned_message_id in chat.messages:
        pinned = chat.messages[msg.pinned_message_id]
        out["pinned_message"] = message_api(pinned, chat, bot, users)
    return out


def message_view(msg: MessageRec, files: dict[str, FileRec]) -> JSON:
    """Return the driver's and the web chat's view of a message (text, html, photo bytes...)."""
    photo = msg.photo[-1] if msg.photo else None
    photo_rec = files.get(str(photo["file_id"])) if photo else None
    doc_rec = files.get(str(msg.document["file_id"])) if msg.document else None
    body, entities = (msg.text, msg.entities) if msg.text is not None else (msg.caption, [])
    if msg.text is None and msg.caption is not None:
        entities = msg.caption_entities
    return {
        "message_id": msg.message_id,
        "chat_id": msg.chat_id,
        "date": msg.date,
        "outgoing": msg.outgoing,
        "from_user_id": msg.sender_id,
        "text": msg.text,
        "caption": msg.caption,
        "entities": msg.entities if msg.text is not None else msg.caption_entities,
        "html": render_html(body, entities) if body is not None else None,
        "parse_mode": msg.parse_mode,
        "reply_markup": msg.reply_markup or msg.keyboard,
        "photo": photo_rec.data if photo_rec else None,
        "photo_file_id": photo_rec.file_id if photo_rec else None,
        "document": msg.document,
        "document_bytes": doc_rec.data if doc_rec else None,
        "contact": msg.contact,
        "media_group_id": msg.media_group_id,
        "edited": msg.edit_date is not None,
        "deleted": msg.deleted,
        "pinned_message_id": msg.pinned_message_id,
        "deep_link": msg.deep_link,
        "new_chat_members": msg.new_chat_members,
        "left_chat_member": msg.left_chat_member,
        "group_chat_created": msg.group_chat_created,
    }
