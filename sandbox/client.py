"""What a person's Telegram app does: write, send photos and contacts, tap buttons, open links.

``Client`` produces the updates real clients cause (``message`` with ``bot_command`` entities,
``/start <payload>`` from a ``t.me`` deep link, ``callback_query`` with ``chat_instance``,
``my_chat_member`` when a user blocks the bot) and reads back what the bot sent. The web chat and
the tests drive the sandbox through it, so both see the same behaviour.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from collections.abc import Sequence
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from sandbox.methods import MAX_TEXT
from sandbox.model import JSON
from sandbox.model import BotRec
from sandbox.model import CallbackRec
from sandbox.model import ChatRec
from sandbox.model import chat_api
from sandbox.model import message_api
from sandbox.model import message_view
from sandbox.text import auto_entities
from sandbox.text import split_like_an_app
from sandbox.text import utf16_len
from sandbox.world import World
from sandbox.world import extension_of
from sandbox.world import picture_type

START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
Predicate = Callable[[JSON], bool]
ALBUM_MIN, ALBUM_MAX = 2, 10  # what one album (media group) holds in Telegram


class Client:
    """The user side of the sandbox; every method is thread-safe."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- actions -----------------------------------------------------------------------------
    def send_text(
        self,
        user_id: int,
        text: str,
        bot_username: str | None = None,
        *,
        deep_link: str | None = None,
    ) -> JSON:
        """Send ``text`` from the user to the bot; return the queued update.

        A text over 4,096 UTF-16 code units (an emoji outside the BMP counts two) goes as
        several messages, one right after the other, as Telegram's apps send it
        (:func:`split_like_an_app`); the first part's update is returned, the others are
        queued after it.
        """
        if not text.strip():
            raise ValueError("a Telegram message cannot be empty")
        world = self.world
        with world.lock:
            bot, chat = self._open_chat(user_id, bot_username)
            self._consume_keyboard(chat, text)
            updates = []
            for part in split_like_an_app(text, MAX_TEXT):
                msg = world.new_message(chat, outgoing=False, sender_id=user_id)
                msg.text = part
                msg.entities = auto_entities(part)
                msg.deep_link = deep_link if not updates else None
                world.add_message(bot, chat, msg)
                updates.append(world.message_update(bot, chat, msg))
            return updates[0]

    def edit_text(
        self, user_id: int, message_id: int, text: str, bot_username: str | None = None
    ) -> JSON:
        """Edit the user's own text message ``message_id``, as a person may long after
        sending it; return the queued ``edited_message`` update.

        Raises:
            ValueError: no such text message of the user's, or an empty or too long text.
        """
        if not text.strip() or utf16_len(text) > MAX_TEXT:  # as the app's field counts
            raise ValueError("an edited message holds 1-4,096 UTF-16 code units")
        world = self.world
        with world.lock:
            bot = world.bot(bot_username)
            chat = bot.chats.get(user_id)
            msg = world.find_message(chat, message_id) if chat else None
            if chat is None or msg is None or msg.outgoing or msg.text is None:
                raise ValueError(f"the user has no text message {message_id} in chat {user_id}")
            msg.text, msg.entities = text, auto_entities(text)
            msg.edit_date = int(time.time())
            return world.enqueue(bot, "edited_message", message_api(msg, chat, bot, world.users))

    def send_photo(
        self, user_id: int, data: bytes, caption: str | None = None, bot_username: str | None = None
    ) -> JSON:
        """Send a photo (JPEG/PNG bytes) with an optional caption."""
        world = self.world
        sizes = world.store_photo(data)
        with world.lock:
            bot, chat = self._open_chat(user_id, bot_username)
            msg = world.new_message(chat, outgoing=False, sender_id=user_id)
            msg.photo = sizes
            if caption:
                msg.caption = caption
                msg.caption_entities = auto_entities(caption)
            world.add_message(bot, chat, msg)
            return world.message_update(bot, chat, msg)

    def send_album(
        self,
        user_id: int,
        pictures: Sequence[bytes],
        caption: str | None = None,
        bot_username: str | None = None,
        *,
        as_files: bool = False,
    ) -> list[JSON]:
        """Send several pictures at once, as a person who picks them in a Telegram app does;
        return the queued updates, one per picture.

        Telegram delivers an album as one message each, right after the other (consecutive
        ids, one date), all with the same ``media_group_id``; the caption, if any, is on the
        first. ``as_files``: sent "as files" (uncompressed), each a document of its image
        type named like a gallery's file (:meth:`send_files`).

        Raises:
            ValueError: not 2-10 pictures (what one album holds).
            ApiError: 400 IMAGE_PROCESS_FAILED, a picture sent as a photo that is no image.
        """
        if as_files:
            named = []
            for n, data in enumerate(pictures, 1):
                mime = picture_type(data)
                named.append((data, f"IMG_{n:04d}{extension_of(mime)}", mime))
            return self.send_files(user_id, named, caption, bot_username)
        _check_album(len(pictures))
        photos = [self.world.store_photo(data) for data in pictures]
        return self._send_album(user_id, [(p, None) for p in photos], caption, bot_username)

    def send_files(
        self,
        user_id: int,
        files: Sequence[tuple[bytes, str, str]],
        caption: str | None = None,
        bot_username: str | None = None,
    ) -> list[JSON]:
        """Send several files (``(bytes, file name, MIME type)``) at once, as an album of
        documents: what Telegram's apps send for files picked together (grouped by default).

        Raises:
            ValueError: not 2-10 files (what one album holds).
        """
        _check_album(len(files))
        world = self.world
        documents = [
            world.store_file(data, mime_type=mime, file_name=name, folder="documents").document()
            for data, name, mime in files
        ]
        return self._send_album(user_id, [(None, d) for d in documents], caption, bot_username)

    def _send_album(
        self,
        user_id: int,
        media: list[tuple[list[JSON] | None, JSON | None]],
        caption: str | None,
        bot_username: str | None,
    ) -> list[JSON]:
        """Queue one message per ``(photo sizes, document)``, sharing a new media_group_id."""
        world = self.world
        group = str(secrets.randbits(62))
        with world.lock:
            bot, chat = self._open_chat(user_id, bot_username)
            updates: list[JSON] = []
            date: int | None = None
            for sizes, document in media:
                msg = world.new_message(chat, outgoing=False, sender_id=user_id)
                date = msg.date if date is None else date
                msg.date = date  # sent together: the first one's date
                msg.media_group_id = group
                msg.photo, msg.document = sizes, document
                if caption and not updates:
                    msg.caption = caption
                    msg.caption_entities = auto_entities(caption)
                world.add_message(bot, chat, msg)
                updates.append(world.message_update(bot, chat, msg))
            return updates

    def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        bot_username: str | None = None,
    ) -> JSON:
        """Send a file (any bytes) with its name, type and an optional caption."""
        world = self.world
        rec = world.store_file(data, mime_type=mime_type, file_name=file_name, folder="documents")
        with world.lock:
            bot, chat = self._open_chat(user_id, bot_username)
            msg = world.new_message(chat, outgoing=False, sender_id=user_id)
            msg.document = rec.document()
            if caption:
                msg.caption = caption
                msg.caption_entities = auto_entities(caption)
            world.add_message(bot, chat, msg)
            return world.message_update(bot, chat, msg)

    def send_contact(
        self,
        user_id: int,
        phone_number: str | None = None,
        *,
        first_name: str | None = None,
        own: bool = True,
        bot_username: str | None = None,
    ) -> JSON:
        """Share a contact; by default the user's own, as a ``request_contact`` button does."""
        world = self.world
        with world.lock:
            user = world.user(user_id)
            if own and user.phone_number is None:
                user.phone_number = phone_number or f"82010{user_id % 100_000_000:08d}"
            contact: JSON = {
                "phone_number": phone_number or user.phone_number or "",
                "first_name": first_name or user.first_name,
            }
            if own:
                contact["user_id"] = user_id
                if user.last_name:
                    contact["last_name"] = user.last_name
            bot, chat = self._open_chat(user_id, bot_username)
            msg = world.new_message(chat, outgoing=False, sender_id=user_id)
            msg.contact = contact
            if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
                chat.reply_keyboard = None
            world.add_message(bot, chat, msg)
            return world.message_update(bot, chat, msg)

    def press(
        self, user_id: int, message_id: int, callback_data: str, bot_username: str | None = None
    ) -> JSON:
        """Tap the inline button with ``callback_data`` under the bot's message ``message_id``.

        Raises:
            ValueError: no such message, or no such button under it.
        """
        world = self.world
        with world.lock:
            bot = world.bot(bot_username)
            chat = bot.chats.get(user_id)
            msg = world.find_message(chat, message_id) if chat else None
            if chat is None or msg is None or not msg.outgoing:
                raise ValueError(f"the bot has no message {message_id} in chat {user_id}")
            if callback_data not in _callback_data(msg.reply_markup):
                raise ValueError(f"message {message_id} has no button with data {callback_data!r}")
            query = CallbackRec(
                id=str(secrets.randbits(62)),
                user_id=user_id,
                chat_id=chat.id,
                message_id=message_id,
                data=callback_data,
                created=time.monotonic(),
            )
            bot.callbacks[query.id] = query
            while len(bot.callbacks) > world.limits.callbacks_per_bot:
                bot.callbacks.popitem(last=False)
            payload: JSON = {
                "id": query.id,
                "from": world.user(user_id).to_api(),
                "message": message_api(msg, chat, bot, world.users),
                "chat_instance": chat.chat_instance(bot.id),
                "data": callback_data,
            }
            return world.enqueue(bot, "callback_query", payload)

    def open_deep_link(self, user_id: int, link: str) -> JSON | None:
        """Open ``t.me/<bot>?start=<payload>`` as if scanned; return the update (None if none).

        Raises:
            ValueError: not a link to a sandbox bot, or an invalid start payload.
        """
        username, payload = parse_deep_link(link)
        bot = self.world.bot(username)
        if payload is None:
            with self.world.lock:
                chat = bot.chats.get(user_id)
                if chat is not None and chat.started and not chat.blocked:
                    return None  # opening a chat you already have sends nothing
            return self.send_text(user_id, "/start", bot.username)
        return self.send_text(user_id, f"/start {payload}", bot.username, deep_link=payload)

    def block_bot(
        self, user_id: int, blocked: bool = True, bot_username: str | None = None
    ) -> JSON:
        """Block (or unblock) the bot; the bot gets ``my_chat_member`` as from Telegram."""
        world = self.world
        with world.lock:
            bot = world.bot(bot_username)
            chat = world.private_chat(bot, user_id)
            return self._set_blocked(bot, chat, blocked)

    # -- groups ------------------------------------------------------------------------------
    def create_group(
        self, user_id: int, title: str, members: Sequence[int] = (), *, supergroup: bool = False
    ) -> JSON:
        """Create a group (or supergroup) of ``user_id`` and ``members``; return its ``Chat``.

        Raises:
            KeyError: an unknown user.
            ValueError: an empty title.
        """
        world = self.world
        chat = world.create_group(user_id, title, list(members), supergroup=supergroup)
        with world.lock:
            return chat_api(chat, world.users)

    def add_bot_to_group(
        self, user_id: int, group_id: int, bot_username: str | None = None
    ) -> list[JSON]:
        """Add the bot to the group as ``user_id`` (a member); return the queued updates
        (``my_chat_member``, then the ``new_chat_members`` message).

        Raises:
            ValueError: no such group, the user is not in it, or the bot is there already.
        """
        world = self.world
        with world.lock:
            chat = world.group(group_id, user_id)
            return world.join_bot(world.bot(bot_username), chat, user_id)

    def send_group_text(
        self, user_id: int, group_id: int, text: str, *, reply_to: int | None = None
    ) -> JSON:
        """Write ``text`` in a group as ``user_id``; return the message's view. Each bot in
        the group gets it as a ``message`` update if privacy mode lets it through
        (:meth:`World.group_message_reaches`).

        Raises:
            ValueError: an empty or too long text, no such group, or the user is not in it.
        """
        if not text.strip() or utf16_len(text) > MAX_TEXT:
            raise ValueError("a Telegram message holds 1-4,096 UTF-16 code units")
        world = self.world
        with world.lock:
            chat = world.group(group_id, user_id)
            msg = world.new_message(chat, outgoing=False, sender_id=user_id)
            msg.text, msg.entities = text, auto_entities(text)
            msg.reply_to = reply_to if world.find_message(chat, reply_to) else None
            world.add_message(world.bot(), chat, msg)
            for bot in world.bots_in(chat):
                if world.group_message_reaches(bot, chat, msg):
                    world.message_update(bot, chat, msg)
            return message_view(msg, world.files)

    def join_group(self, user_id: int, group_id: int) -> JSON:
        """``user_id`` joins the group (as by its invite link): the ``new_chat_members``
        service message, which every bot in it gets. Return the message's view.

        Raises:
            KeyError: an unknown user.
            ValueError: no such group, or the user is in it already.
        """
        world = self.world
        with world.lock:
            user = world.user(user_id)
            chat = world.groups.get(group_id)
            if chat is None or user_id in chat.members:
                raise ValueError(f"user {user_id} cannot join group {group_id}")
            chat.members.append(user_id)
            msg = world.new_message(chat, outgoing=False, sender_id=user_id)
            msg.new_chat_members = [user.to_api()]
            world.add_message(world.bot(), chat, msg)
            for bot in world.bots_in(chat):
                world.message_update(bot, chat, msg)
            return message_view(msg, world.files)

    def groups(self, user_id: int, bot_username: str | None = None) -> list[JSON]:
        """Return every group, oldest first: ``{"chat", "member", "bot_member"}``, where
        ``member`` says whether ``user_id`` is in it and ``bot_member`` whether the bot is."""
        world = self.world
        with world.lock:
            bot = world.bot(bot_username)
            return [
                {
                    "chat": chat_api(c, world.users),
                    "member": user_id in c.members,
                    "bot_member": bot.chats.get(c.id) is c,
                }
                for c in world.groups.values()
            ]

    def group_state(self, user_id: int, group_id: int, bot_username: str | None = None) -> JSON:
        """Return what a member sees of a group: its chat, whether the bot is in it, and
        every message with its sender's name.

        Raises:
            ValueError: no such group, or the user is not in it.
        """
        world = self.world
        with world.lock:
            chat = world.group(group_id, user_id)
            bot = world.bot(bot_username)
            messages = []
            for msg in chat.messages.values():
                view = message_view(msg, world.files)
                sender = world.users.get(msg.sender_id) if msg.sender_id is not None else None
                view["from_name"] = (
                    bot.first_name if msg.outgoing else (sender.first_name if sender else None)
                )
                messages.append(view)
            return {
                "chat": chat_api(chat, world.users),
                "bot": {"username": bot.username, "first_name": bot.first_name},
                "bot_member": bot.chats.get(chat.id) is chat,
                "messages": messages,
            }

    # -- views -------------------------------------------------------------------------------
    def messages(
        self, chat_id: int | str, bot_username: str | None = None, *, incoming: bool = False
    ) -> list[JSON]:
        """Return what the bot sent to ``chat_id`` (with ``incoming``, the user's too), in order."""
        world = self.world
        with world.lock:
            bot = world.bot(bot_username)
            chat = _existing_chat(bot, chat_id) or _group(world, chat_id)
            if chat is None:
                return []
            return [
                message_view(m, world.files)
                for m in chat.messages.values()
                if incoming or m.outgoing
            ]

    def wait_for(
        self,
        chat_id: int | str,
        predicate: Predicate,
        timeout: float = 5.0,
        bot_username: str | None = None,
    ) -> JSON:
        """Return the first bot message in ``chat_id`` for which ``predicate`` holds.

        Waits up to ``timeout`` seconds for it. Raises ``TimeoutError`` naming what was sent.
        """
        deadline = time.monotonic() + timeout
        with self.world.changed:
            while True:
                sent = self.messages(chat_id, bot_username)
                for view in sent:
                    if predicate(view):
                        return view
                left = deadline - time.monotonic()
                if left <= 0 or self.world.stopping:
                    texts = [v["text"] or v["caption"] for v in sent[-5:]]
                    raise TimeoutError(
                        f"no matching message in {chat_id} after {timeout}s: {texts}"
                    )
                self.world.changed.wait(left)

    def answered_callbacks(self, user_id: int, bot_username: str | None = None) -> list[JSON]:
        """Return the user's callback queries the bot answered, oldest first."""
        with self.world.lock:
            bot = self.world.bot(bot_username)
            return [
                {
                    "id": q.id,
                    "message_id": q.message_id,
                    "data": q.data,
                    "text": q.text,
                    "show_alert": q.show_alert,
                    "url": q.url,
                }
                for q in bot.callbacks.values()
                if q.user_id == user_id and q.answered
            ]

    def channel_posts(self, channel: int | str, bot_username: str | None = None) -> list[JSON]:
        """Return the posts of a channel (``@name`` or id), oldest first."""
        return self.messages(channel, bot_username)

    def channels(self, bot_username: str | None = None) -> list[JSON]:
        """Return the channels the bot has posted to."""
        with self.world.lock:
            bot = self.world.bot(bot_username)
            return [
                chat_api(c, self.world.users) for c in bot.chats.values() if c.type == "channel"
            ]

    def chat_state(self, user_id: int, bot_username: str | None = None) -> JSON:
        """Return what the user's phone shows: the conversation, keyboard, blocked flag."""
        world = self.world
        with world.lock:
            bot = world.bot(bot_username)
            chat = bot.chats.get(user_id)
            return {
                "bot": {"username": bot.username, "first_name": bot.first_name},
                "messages": self.messages(user_id, bot.username, incoming=True),
                "reply_keyboard": chat.reply_keyboard if chat else None,
                "blocked": bool(chat and chat.blocked),
                "pinned": chat.pinned if chat else None,
                "commands": bot.commands.get("default", []),
            }

    # -- helpers -----------------------------------------------------------------------------
    def _open_chat(self, user_id: int, bot_username: str | None) -> tuple[BotRec, ChatRec]:
        world = self.world
        world.user(user_id)
        bot = world.bot(bot_username)
        chat = world.private_chat(bot, user_id)
        if chat.blocked:
            self._set_blocked(bot, chat, False)  # writing again is "restart bot"
        chat.started = True
        return bot, chat

    def _set_blocked(self, bot: BotRec, chat: ChatRec, blocked: bool) -> JSON:
        world = self.world
        chat.blocked = blocked
        chat.started = chat.started or not blocked
        user = world.user(chat.id)
        bot_user = bot.to_api()
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        old_member: JSON = {"status": old, "user": bot_user}
        new_member: JSON = {"status": new, "user": bot_user}
        for member in (old_member, new_member):
            if member["status"] == "kicked":
                member["until_date"] = 0
        payload: JSON = {
            "chat": chat_api(chat, world.users),
            "from": user.to_api(),
            "date": int(time.time()),
            "old_chat_member": old_member,
            "new_chat_member": new_member,
        }
        return world.enqueue(bot, "my_chat_member", payload)

    @staticmethod
    def _consume_keyboard(chat: ChatRec, text: str) -> None:
        keyboard = chat.reply_keyboard
        if keyboard and keyboard.get("one_time_keyboard") and text in _button_texts(keyboard):
            chat.reply_keyboard = None


def parse_deep_link(link: str) -> tuple[str, str | None]:
    """Return ``(bot_username, start_payload)`` of a ``t.me``/``tg://resolve`` link.

    Raises:
        ValueError: not a bot link, or a payload Telegram would not pass on.
    """
    raw = link.strip()
    if raw.startswith(("t.me/", "telegram.me/")):
        raw = "https://" + raw
    parts = urlsplit(raw)
    query = parse_qs(parts.query)
    if parts.scheme == "tg" and parts.netloc == "resolve":
        username = (query.get("domain") or [""])[0]
    elif parts.netloc.lower() in ("t.me", "telegram.me", "www.t.me"):
        username = parts.path.strip("/").split("/")[0]
    else:
        raise ValueError(f"not a Telegram bot link: {link!r}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", username):
        raise ValueError(f"not a Telegram bot link: {link!r}")
    starts = query.get("start")
    payload = starts[0] if starts else None
    if payload is not None and not START_PAYLOAD.fullmatch(payload):
        raise ValueError(f"start payload must be 1-64 of A-Z a-z 0-9 _ -: {payload!r}")
    return username, payload


def _check_album(count: int) -> None:
    if not ALBUM_MIN <= count <= ALBUM_MAX:
        raise ValueError(f"an album holds {ALBUM_MIN}-{ALBUM_MAX} photos or files, not {count}")


def _existing_chat(bot: BotRec, chat_id: int | str) -> ChatRec | None:
    if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
        key = chat_id.lstrip("@").lower()
        return bot.chats.get(bot.channels[key]) if key in bot.channels else None
    return bot.chats.get(int(chat_id))


def _group(world: World, chat_id: int | str) -> ChatRec | None:
    """Return the group ``chat_id`` (the bot's messages stay there after it left)."""
    if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
        return None
    return world.groups.get(int(chat_id))


def _callback_data(markup: JSON | None) -> set[str]:
    rows = markup.get("inline_keyboard") if markup else None
    found: set[str] = set()
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, dict) and "callback_data" in button:
                found.add(str(button["callback_data"]))
    return found


def _button_texts(markup: JSON) -> set[str]:
    rows = markup.get("keyboard")
    found: set[str] = set()
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            found.add(str(button.get("text")) if isinstance(button, dict) else str(button))
    return found
