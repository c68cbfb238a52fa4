"""The sandbox's state: bots, users, chats, files and update queues, behind one lock.

Every mutation happens under ``World.lock`` and ends with ``touch()``, which bumps ``version``
and wakes whoever waits on ``World.changed``: long-polling ``getUpdates``, the webhook
deliverer, the web chat's event stream and ``wait_for`` in tests. State is in memory and bounded
(messages per chat, updates per bot, files in total); the oldest items are dropped first.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sandbox.errors import POLL_TERMINATED
from sandbox.errors import WEBHOOK_ACTIVE
from sandbox.errors import ApiError
from sandbox.errors import bad_request
from sandbox.errors import conflict
from sandbox.errors import forbidden
from sandbox.flood import FloodControl
from sandbox.model import JSON
from sandbox.model import BotRec
from sandbox.model import ChatRec
from sandbox.model import FileRec
from sandbox.model import MessageRec
from sandbox.model import UserRec
from sandbox.model import chat_api
from sandbox.model import message_api

DEFAULT_BOT_USERNAME = "ttabok_sandbox_bot"
# Updates that Telegram does not send unless allowed_updates names them.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
GROUP_TYPES = ("group", "supergroup")
MAX_POLL_TIMEOUT = 50


@dataclass(frozen=True)
class Limits:
    """How much the sandbox keeps in memory."""

    messages_per_chat: int = 1000
    updates_per_bot: int = 10_000
    callbacks_per_bot: int = 10_000
    file_bytes: int = 256 * 1024 * 1024
    callback_answer_seconds: float = 15.0


class World:
    """All sandbox state. Public methods lock; ``_``-methods expect the lock held."""

    def __init__(
        self,
        *,
        flood: FloodControl | None = None,
        limits: Limits | None = None,
        bot_name: str = "Ttabok Sandbox",
    ) -> None:
        self.bot_name = bot_name
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.version = 0
        self.stopping = False
        self.limits = limits or Limits()
        self.flood = flood or FloodControl()
        self.bots: dict[str, BotRec] = {}  # by token
        self._default: BotRec | None = None
        self.users: dict[int, UserRec] = {}
        self.files: OrderedDict[str, FileRec] = OrderedDict()
        self._paths: dict[str, str] = {}  # file_path -> file_id
        self._file_bytes = 0
        self._ids = itertools.count(1)
        self._user_ids = itertools.count(5_000_000_001)
        self._channel_ids = itertools.count(1_000_000_001)  # supergroups' too: one id space
        self.groups: dict[int, ChatRec] = {}  # every group and supergroup, by (negative) id
        self._group_ids = itertools.count(4_000_000_001)

    # -- bookkeeping -------------------------------------------------------------------------
    def touch(self) -> None:
        """Record a change and wake every waiter. Requires the lock."""
        self.version += 1
        self.changed.notify_all()

    def stop(self) -> None:
        """Release every waiter (long polls, streams) so that the server can shut down."""
        with self.lock:
            self.stopping = True
            self.touch()

    def restore(self, state: dict[str, object]) -> None:
        """Adopt the bots, users and files a previous run saved (see ``SandboxServer``)."""
        with self.lock:
            self.bots = state["bots"]  # type: ignore[assignment]
            self.users = state["users"]  # type: ignore[assignment]
            self.files = state["files"]  # type: ignore[assignment]
            default = state.get("default")
            self._default = default if isinstance(default, BotRec) else None
            self._paths = {rec.file_path: rec.file_id for rec in self.files.values()}
            self._file_bytes = sum(len(rec.data) for rec in self.files.values())
            numbers = [int(p.rsplit("_", 1)[-1].split(".")[0]) for p in self._paths]
            self._ids = itertools.count(max(numbers, default=0) + 1)
            self._user_ids = itertools.count(max([5_000_000_000, *self.users]) + 1)
            channels = [
                -c - 1_000_000_000_000 for b in self.bots.values() for c in b.channels.values()
            ]
            groups = state.get("groups")
            self.groups = groups if isinstance(groups, dict) else {}
            supergroups = [-g - 1_000_000_000_000 for g in self.groups if g < -1_000_000_000_000]
            basic = [-g for g in self.groups if g >= -1_000_000_000_000]
            self._channel_ids = itertools.count(max([1_000_000_000, *channels, *supergroups]) + 1)
            self._group_ids = itertools.count(max([4_000_000_000, *basic]) + 1)
            for bot in self.bots.values():
                bot.poll_generation = 0
            self.touch()

    # -- bots --------------------------------------------------------------------------------
    def bot_for_token(self, token: str) -> BotRec:
        """Return the bot of ``token``, creating it; the first token gets the default bot."""
        with self.lock:
            bot = self.bots.get(token)
            if bot is not None:
                return bot
            bot_id = int(token.split(":", 1)[0])
            if self._default is not None and self._default.token is None:
                bot = self._default
                bot.id, bot.token = bot_id, token
            else:
                n = len(self.bots) + 1
                username = DEFAULT_BOT_USERNAME if n == 1 else f"ttabok_sandbox{n}_bot"
                bot = BotRec(id=bot_id, token=token, username=username, first_name=self.bot_name)
                bot.next_update_id = secrets.randbelow(900_000_000) + 100_000_000
                if self._default is None:
                    self._default = bot
            self.bots[token] = bot
            self.touch()
            return bot

    def bot(self, username: str | None = None) -> BotRec:
        """Return the bot called ``username`` (default: the first bot, made on demand)."""
        with self.lock:
            if username:
                wanted = username.lstrip("@").lower()
                for bot in self.bots.values():
                    if bot.username.lower() == wanted:
                        return bot
                if self._default is None or self._default.username.lower() != wanted:
                    raise KeyError(f"no sandbox bot is called @{wanted}")
            if self._default is None:
                # A driver acted before any bot connected: hold the slot for the first token.
                self._default = BotRec(
                    id=0, token=None, username=DEFAULT_BOT_USERNAME, first_name=self.bot_name
                )
                self._default.next_update_id = secrets.randbelow(900_000_000) + 100_000_000
            return self._default

    # -- users -------------------------------------------------------------------------------
    def create_user(self, first_name: str, **fields: object) -> UserRec:
        """Add a user; ``fields`` are ``UserRec`` fields (``id`` picks a fixed id)."""
        with self.lock:
            user_id = fields.pop("id", None)
            uid = int(str(user_id)) if user_id is not None else next(self._user_ids)
            while user_id is None and uid in self.users:
                uid = next(self._user_ids)
            user = UserRec(id=uid, first_name=first_name, **fields)  # type: ignore[arg-type]
            self.users[uid] = user
            self.touch()
            return user

    def user(self, user_id: int) -> UserRec:
        """Return the user ``user_id``; ``KeyError`` when there is none."""
        with self.lock:
            try:
                return self.users[user_id]
            except KeyError:
                raise KeyError(f"no sandbox user {user_id}") from None

    # -- chats -------------------------------------------------------------------------------
    def private_chat(self, bot: BotRec, user_id: int) -> ChatRec:
        """Return (creating) the private chat of ``bot`` with ``user_id``. Requires the lock."""
        chat = bot.chats.get(user_id)
        if chat is None:
            chat = ChatRec(id=user_id, type="private")
            bot.chats[user_id] = chat
        return chat

    def chat_for_bot(self, bot: BotRec, ref: int | str) -> ChatRec:
        """Resolve a ``chat_id`` the bot sent: a user, a channel id or ``@channel``.

        Requires the lock. Any ``@name`` becomes a channel with the bot as administrator.

        Raises:
            ApiError: 400 chat not found.
        """
        if isinstance(ref, str):
            name = ref.lstrip("@")
            key = name.lower()
            if key not in bot.channels:
                chat_id = -(1_000_000_000_000 + next(self._channel_ids))
                bot.chats[chat_id] = ChatRec(id=chat_id, type="channel", title=name, username=name)
                bot.channels[key] = chat_id
                self.touch()
            return bot.chats[bot.channels[key]]
        chat = bot.chats.get(ref)
        if chat is not None:
            return chat
        if ref in self.users:
            return self.private_chat(bot, ref)
        raise bad_request("chat not found")

    def member_chat(self, bot: BotRec, ref: int | str) -> ChatRec:
        """Resolve ``ref`` as :meth:`chat_for_bot` does; a group the bot is not in is refused
        as Telegram refuses it (403 bot is not a member of the group / supergroup chat).
        Requires the lock."""
        try:
            return self.chat_for_bot(bot, ref)
        except ApiError:
            group = self.groups.get(ref) if isinstance(ref, int) else None
            if group is None:
                raise
            raise forbidden(f"bot is not a member of the {group.type} chat") from None

    def writable_chat(self, bot: BotRec, ref: int | str) -> ChatRec:
        """Resolve ``ref`` for sending; refuse users who blocked or never started the bot,
        and groups the bot is not in."""
        chat = self.member_chat(bot, ref)
        if chat.type == "private":
            if chat.blocked:
                raise forbidden("bot was blocked by the user")
            if not chat.started:
                raise forbidden("bot can't initiate conversation with a user")
        return chat

    # -- groups ------------------------------------------------------------------------------
    def create_group(
        self, creator_id: int, title: str, members: list[int], *, supergroup: bool = False
    ) -> ChatRec:
        """Create a group (id ``-4...``) or supergroup (``-100...``) of ``creator_id`` and
        ``members``, with the "group created" service message. No bot is in it yet.

        Raises:
            KeyError: an unknown user.
            ValueError: an empty title.
        """
        title = title.strip()
        if not title or len(title) > 128:
            raise ValueError("a group's title has 1-128 characters")
        with self.lock:
            people = [self.user(uid).id for uid in dict.fromkeys([creator_id, *members])]
            if supergroup:
                chat_id, kind = -(1_000_000_000_000 + next(self._channel_ids)), "supergroup"
            else:
                chat_id, kind = -next(self._group_ids), "group"
            chat = ChatRec(id=chat_id, type=kind, title=title, members=people)
            self.groups[chat_id] = chat
            created = self.new_message(chat, outgoing=False, sender_id=creator_id)
            created.group_chat_created = True
            self.add_message(self.bot(), chat, created)
            return chat

    def group(self, group_id: int, user_id: int) -> ChatRec:
        """Return the group ``group_id`` of which ``user_id`` is a member. Requires the lock.

        Raises:
            ValueError: no such group, or the user is not a member.
        """
        chat = self.groups.get(group_id)
        if chat is None:
            raise ValueError(f"no sandbox group {group_id}")
        if user_id not in chat.members:
            raise ValueError(f"user {user_id} is not a member of group {group_id}")
        return chat

    def join_bot(self, bot: BotRec, chat: ChatRec, adder_id: int) -> list[JSON]:
        """``adder_id`` adds ``bot`` to the group ``chat``: Telegram sends ``my_chat_member``
        (left -> member, from the adder), then the ``new_chat_members`` service message.
        Requires the lock. Return the updates made (queued unless allowed_updates exclude).

        Raises:
            ValueError: the bot is in the group already.
        """
        if bot.chats.get(chat.id) is chat:
            raise ValueError(f"the bot is already in group {chat.id}")
        bot.chats[chat.id] = chat
        adder = self.user(adder_id).to_api()
        change = self.member_change(bot, chat, adder, "left", "member")
        msg = self.new_message(chat, outgoing=False, sender_id=adder_id)
        msg.new_chat_members = [bot.to_api()]
        self.add_message(bot, chat, msg)
        return [change, self.message_update(bot, chat, msg)]

    def leave_group(self, bot: BotRec, chat: ChatRec) -> JSON:
        """The bot leaves ``chat`` (leaveChat): gone from its chats, the ``left_chat_member``
        service message in the group, and ``my_chat_member`` (member -> left, from the bot).
        Requires the lock."""
        del bot.chats[chat.id]
        if chat.type == "channel":
            bot.channels.pop((chat.username or "").lower(), None)
        else:
            msg = self.new_message(chat, outgoing=True, sender_id=None)
            msg.left_chat_member = bot.to_api()
            self.add_message(bot, chat, msg)
        old = "administrator" if chat.type == "channel" else "member"
        return self.member_change(bot, chat, bot.to_api(), old, "left")

    def member_change(self, bot: BotRec, chat: ChatRec, by: JSON, old: str, new: str) -> JSON:
        """Queue the ``my_chat_member`` update of the bot's status in ``chat`` changing from
        ``old`` to ``new`` by ``by`` (a User). Requires the lock."""
        bot_user = bot.to_api()
        members: list[JSON] = []
        for status in (old, new):
            member: JSON = {"status": status, "user": bot_user}
            if status == "kicked":
                member["until_date"] = 0
            if status == "administrator":
                member.update(can_be_edited=False, is_anonymous=False, can_manage_chat=True,
                              can_delete_messages=True, can_manage_video_chats=False,
                              can_restrict_members=True, can_promote_members=False,
                              can_change_info=True, can_invite_users=True,
                              can_post_stories=False, can_edit_stories=False,
                              can_delete_stories=False, can_post_messages=True)  # fmt: skip
            members.append(member)
        payload: JSON = {
            "chat": chat_api(chat, self.users),
            "from": by,
            "date": int(time.time()),
            "old_chat_member": members[0],
            "new_chat_member": members[1],
        }
        return self.enqueue(bot, "my_chat_member", payload)

    def bots_in(self, chat: ChatRec) -> list[BotRec]:
        """Return the bots in the group ``chat``, the default one too before its token first
        called (a person acted before the bot connected). Requires the lock."""
        found = {id(b): b for b in [self.bot(), *self.bots.values()]}
        return [b for b in found.values() if b.chats.get(chat.id) is chat]

    def group_message_reaches(self, bot: BotRec, chat: ChatRec, msg: MessageRec) -> bool:
        """Return whether a person's message in a group reaches ``bot`` in privacy mode (what
        getMe's ``can_read_all_group_messages: false`` says): a command meant for it
        (``/cmd@bot``, or ``/cmd`` when no other bot wrote there last), a reply to its
        message, a service message. Requires the lock."""
        if msg.new_chat_members or msg.left_chat_member or msg.group_chat_created:
            return True
        replied = chat.messages.get(msg.reply_to) if msg.reply_to is not None else None
        if replied is not None and replied.outgoing:
            return True
        first = (msg.text or msg.caption or "").split(maxsplit=1)
        if not first or not first[0].startswith("/") or len(first[0]) < 2:
            return False
        command, _, addressee = first[0].partition("@")
        if addressee:
            return addressee.lower() == bot.username.lower()
        return chat.last_bot is None or chat.last_bot == bot.id

    def add_message(self, bot: BotRec, chat: ChatRec, msg: MessageRec) -> MessageRec:
        """Append ``msg`` to ``chat``, dropping the oldest beyond the cap. Requires the lock."""
        chat.messages[msg.message_id] = msg
        while len(chat.messages) > self.limits.messages_per_chat:
            chat.messages.popitem(last=False)
        self.touch()
        return msg

    def new_message(self, chat: ChatRec, *, outgoing: bool, sender_id: int | None) -> MessageRec:
        """Return a message with the chat's next id and the current date. Requires the lock."""
        mid = chat.next_message_id
        chat.next_message_id += 1
        return MessageRec(
            message_id=mid,
            chat_id=chat.id,
            date=int(time.time()),
            outgoing=outgoing,
            sender_id=sender_id,
            sent_at=time.monotonic(),
        )

    def find_message(self, chat: ChatRec, message_id: int | None) -> MessageRec | None:
        """Return the live (not deleted) message ``message_id`` of ``chat``."""
        if message_id is None:
            return None
        msg = chat.messages.get(message_id)
        return None if msg is None or msg.deleted else msg

    # -- updates -----------------------------------------------------------------------------
    def enqueue(self, bot: BotRec, kind: str, payload: JSON) -> JSON:
        """Queue an update of ``kind`` for the bot, unless its ``allowed_updates`` exclude it."""
        with self.lock:
            update: JSON = {"update_id": bot.next_update_id, kind: payload}
            bot.next_update_id += 1
            allowed = bot.allowed_updates
            wanted = kind in allowed if allowed else kind not in OPT_IN_UPDATES
            if wanted:
                bot.updates.append(update)
                while len(bot.updates) > self.limits.updates_per_bot:
                    bot.updates.popleft()
            self.touch()
            return update

    def message_update(self, bot: BotRec, chat: ChatRec, msg: MessageRec) -> JSON:
        """Queue the ``message`` update for a user's message."""
        with self.lock:
            return self.enqueue(bot, "message", message_api(msg, chat, bot, self.users))

    def get_updates(
        self,
        bot: BotRec,
        *,
        offset: int | None,
        limit: int,
        timeout: float,
        allowed_updates: list[str] | None,
    ) -> list[JSON]:
        """Answer ``getUpdates`` with Telegram's offset and long-polling semantics.

        A positive ``offset`` confirms (forgets) every update with a smaller id; a negative one
        keeps only the last ``-offset`` updates. With nothing to return, wait up to ``timeout``
        seconds. A newer ``getUpdates`` ends an older waiting one with 409, as Telegram does.

        Raises:
            ApiError: 409 when a webhook is set or another poll took over.
        """
        with self.changed:
            if bot.webhook is not None:
                raise conflict(WEBHOOK_ACTIVE)
            if allowed_updates is not None:
                bot.allowed_updates = allowed_updates or None
            bot.poll_generation += 1
            generation = bot.poll_generation
            self.changed.notify_all()
            if offset is not None and offset < 0:
                while len(bot.updates) > -offset:
                    bot.updates.popleft()
            elif offset:
                while bot.updates and int(str(bot.updates[0]["update_id"])) < offset:
                    bot.updates.popleft()
            deadline = time.monotonic() + min(max(timeout, 0.0), MAX_POLL_TIMEOUT)
            while True:
                if bot.webhook is not None:
                    raise conflict(WEBHOOK_ACTIVE)
                if bot.poll_generation != generation:
                    raise conflict(POLL_TERMINATED)
                if bot.updates or self.stopping:
                    return list(itertools.islice(bot.updates, 0, limit))
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.changed.wait(left)

    # -- files -------------------------------------------------------------------------------
    def store_file(
        self, data: bytes, *, mime_type: str, file_name: str | None, folder: str
    ) -> FileRec:
        """Keep ``data`` and return its record with fresh ``file_id`` and ``file_path``; its
        ``file_unique_id`` is the same for the same bytes (:func:`unique_id`)."""
        with self.lock:
            n = next(self._ids)
            ext = _extension(mime_type, file_name)
            rec = FileRec(
                file_id=f"SBX{secrets.token_urlsafe(24)}",
                file_unique_id=unique_id(folder, data),
                file_path=f"{folder}/file_{n}{ext}",
                data=data,
                mime_type=mime_type,
                file_name=file_name,
            )
            self.files[rec.file_id] = rec
            self._paths[rec.file_path] = rec.file_id
            self._file_bytes += len(data)
            while self._file_bytes > self.limits.file_bytes and len(self.files) > 1:
                _, old = self.files.popitem(last=False)
                self._paths.pop(old.file_path, None)
                self._file_bytes -= len(old.data)
            return rec

    def store_photo(self, data: bytes) -> list[JSON]:
        """Keep an image and return its ``PhotoSize`` list (a thumbnail, then the original).

        Raises:
            ApiError: 400 IMAGE_PROCESS_FAILED when the bytes are not an image.
        """
        from PIL import Image  # Pillow comes with matplotlib; imported here to keep startup light
        from PIL import UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                mime = Image.MIME.get(image.format or "", "image/jpeg")
                thumb = None
                if max(width, height) > 320:
                    small = image.convert("RGB")
                    small.thumbnail((320, 320))
                    buffer = io.BytesIO()
                    small.save(buffer, format="JPEG", quality=80)
                    thumb = (buffer.getvalue(), small.size)
        except (UnidentifiedImageError, OSError, ValueError):
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        sizes: list[JSON] = []
        if thumb is not None:
            rec = self.store_file(thumb[0], mime_type="image/jpeg", file_name=None, folder="photos")
            rec.width, rec.height = thumb[1]
            sizes.append(rec.photo_size())
        rec = self.store_file(data, mime_type=mime, file_name=None, folder="photos")
        rec.width, rec.height = width, height
        sizes.append(rec.photo_size())
        return sizes

    def file(self, file_id: str) -> FileRec:
        """Return the file ``file_id``.

        Raises:
            ApiError: 400 wrong file identifier.
        """
        with self.lock:
            rec = self.files.get(file_id)
        if rec is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return rec

    def file_by_path(self, file_path: str) -> FileRec | None:
        """Return the file served at ``file_path``, if it is still kept."""
        with self.lock:
            file_id = self._paths.get(file_path)
            return self.files.get(file_id) if file_id else None


def unique_id(folder: str, data: bytes) -> str:
    """Return the ``file_unique_id`` of ``data`` kept in ``folder`` (photos, documents).

    Telegram's is "supposed to be the same over time and for different bots" for the same
    file, while each message that carries the file has a ``file_id`` of its own; so the same
    bytes sent again get this same id and a new ``file_id``. A photo and a document of the same
    bytes, or a photo's thumbnail and original, are different files.
    """
    digest = hashlib.sha256(folder.encode() + b"\0" + data).digest()
    return "AQAD" + base64.urlsafe_b64encode(digest[:12]).decode()


_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/csv": ".csv",
    "application/json": ".json",
}


def picture_type(data: bytes) -> str:
    """Return the MIME type of an image's bytes (``application/octet-stream`` if not one)."""
    from PIL import Image
    from PIL import UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return Image.MIME.get(image.format or "", "application/octet-stream")
    except (UnidentifiedImageError, OSError, ValueError):
        return "application/octet-stream"


def extension_of(mime_type: str) -> str:
    """Return the usual file name ending of ``mime_type`` ("" when unknown)."""
    return _EXTENSIONS.get(mime_type, "")


def _extension(mime_type: str, file_name: str | None) -> str:
    if file_name and "." in file_name:
        suffix = "." + file_name.rsplit(".", 1)[1]
        if suffix[1:].isalnum() and len(suffix) <= 8:
            return suffix.lower()
    return _EXTENSIONS.get(mime_type, "")
