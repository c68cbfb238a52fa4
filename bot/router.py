"""The stored-step dispatcher: every update is routed by what the database says, not by memory.

Several worker processes handle one person's updates, so the conversation (current ``step``
and its ``data``: the draft, the list being browsed...) is kept by the participation service,
with an optimistic version. A screen module registers its handlers on a :class:`Router`:

- ``@router.command("help")``: a slash command, ``fn(ctx, args)``; like a menu button it
  first ends the flow whose step is stored (see :meth:`Router.command`);
- ``@router.menu("bot.menu.browse")``: a main-menu (reply keyboard) label, ``fn(ctx)``;
- ``@router.step("submit.title")``: what a text or photo means while that step is stored,
  ``fn(ctx, incoming)``;
- ``@router.action("browse.page")``: an inline button, ``fn(ctx, args)``. Buttons carry an
  opaque token issued by the service (never our own callback data); ``consume=True`` makes the
  button single-use, so a double tap does nothing twice;
- ``@router.role("judge")``: a predicate ``fn(service, user_id) -> bool`` that decides which
  menu items a person sees; ``@router.redeemed("judge")``: what to say after a ``/start``
  code of that kind was redeemed.

A step's data is replaced by the next flow's, except the resident's unfinished proposal
(``draft``, and ``aside`` during an edit; :data:`KEPT`): :meth:`Ctx.save` carries it over and
:meth:`Ctx.clear` keeps it, so an official who opens another flow halfway through a proposal
finds it again under Propose. Only the proposal flow's own endings drop it
(:meth:`Ctx.forget_draft`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from functools import partial
from typing import Any
from typing import TypeVar

import structlog
from telegram import InlineKeyboardMarkup
from telegram import Message
from telegram import ReplyKeyboardMarkup
from telegram import ReplyKeyboardRemove
from telegram import Update
from telegram.error import BadRequest
from telegram.error import TelegramError
from telegram.ext import CallbackContext
from telegram.ext import ExtBot

from bot.services import BotServices
from i18n import Catalog
from i18n import locale_for
from i18n.format import format_datetime
from participation.domain.errors import ConversationConflict
from participation.domain.errors import ParticipationError
from participation.domain.events import JSON
from participation.service import ParticipationService
from participation.views import Conversation
from participation.views import Redeemed
from participation.views import Resident

log = structlog.get_logger(__name__)

Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove
T = TypeVar("T")
SERVICES_KEY = "services"
ROUTER_KEY = "router"
KEPT = ("draft", "aside")  # the resident's unfinished proposal: it outlives every other flow
DRAFT_STEPS = "submit."  # the steps of the flow that owns them (bot/submit.py)
CUT = "cut"  # the message id and date of a text refused as too long (Ctx.refused_long)
CUT_FIRST_MIN = 2048  # an app cuts a long text in the second half of 4,096 UTF-16 code units
CUT_GAP_S = 2  # ...and sends the next part within seconds of the first
CUT_IDS = 2  # ...at most this many message ids on (a reply of ours may come in between)
ALBUM = "album"  # the media_group_id of an album whose first message was answered (Ctx.mark_album)
ALBUM_MAX = 10  # what one album holds: its other messages are the next ids after the first
# The markers above concern only the messages right after the one they were stored with: a
# save leaves them out unless given (Ctx.save marks=), the next other message ends them
# (Ctx.drop_marks).
MARKS = (CUT, ALBUM)


def utf16_units(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, as Telegram's apps count it."""
    return len(text.encode("utf-16-le")) // 2


def not_modified(err: BadRequest) -> bool:
    """Return whether Telegram refused an edit because it would change nothing: the message
    already has that text (or caption) and those buttons."""
    return "message is not modified" in err.message.lower()


@dataclass(frozen=True, slots=True)
class Document:
    """A file a person sent: its id, and its name, type and size as the client declared them."""

    file_id: str
    file_name: str = ""
    mime_type: str = ""
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """What a person sent while a step was stored: text, a photo (largest size) or a file."""

    text: str | None = None
    photo_file_id: str | None = None
    caption: str | None = None
    photo_unique_id: str | None = None  # the same for the same picture sent again
    document: Document | None = None
    album: bool = False  # the first of several sent at once (Ctx.rest_of_album: the others)


@dataclass(kw_only=True)
class Ctx:
    """One update as the screens see it: who, in which language, at which stored step."""

    update: Update
    context: Context
    services: BotServices
    router: Router
    user_id: int
    chat_id: int
    locale: str
    resident: Resident | None
    conversation: Conversation
    button_token: str | None = None  # the pressed button's token (callback queries)
    answered: bool = False
    album_note: str | None = None  # what the rest of this message's album is told (tell_album)

    @property
    def svc(self) -> ParticipationService:
        """Return the participation service."""
        return self.services.participation

    @property
    def request_id(self) -> str:
        """Return the idempotency key of state-changing calls: the Telegram update id."""
        return f"tg:{self.update.update_id}"

    @property
    def registered(self) -> bool:
        """Return whether the person finished registration."""
        return self.resident is not None and self.resident.registered

    @property
    def step(self) -> str:
        """Return the stored step ("" when none)."""
        return self.conversation.step

    @property
    def data(self) -> dict[str, JSON]:
        """Return a copy of the stored conversation data, to change and :meth:`save`."""
        return dict(self.conversation.data)

    def t(self, key: str, /, **params: object) -> str:
        """Return catalog text ``key`` in the person's language."""
        return self.services.catalog.text(self.locale, key, **params)

    def refusal(self, err: ParticipationError) -> str:
        """Return the text of the service's refusal ``err`` in the person's language."""
        return refusal_text(self.services.catalog, self.locale, err)

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a (synchronous, IO-bound) service method in a worker thread."""
        return await asyncio.to_thread(partial(fn, *args, **kwargs))

    async def press(self, fn: Callable[..., T], /, *args: Any, issue: Any) -> T:
        """Run a hot button's service call (``consume_in_effect``): it uses the pressed button
        up and issues ``issue``, the redrawn message's buttons, in its own transaction, once
        per update (``request_id``)."""
        return await self.call(
            fn,
            *args,
            button=self.button_token,
            issue=issue,
            ttl_s=self.services.button_ttl_s,
            request_id=self.request_id,
        )

    # --- conversation state ---------------------------------------------------------------------
    async def save(
        self,
        step: str,
        data: dict[str, JSON] | None = None,
        *,
        marks: dict[str, JSON] | None = None,
    ) -> None:
        """Store ``step`` (and ``data``; None keeps the current data) with the version check.

        The resident's unfinished proposal (:data:`KEPT`: ``draft``, ``aside``) in the current
        data is carried over unless ``data`` holds its own, so another flow (an official's
        notice, a round, /start...) that stores fresh data never loses it. The markers
        (:data:`MARKS`) are not: only those given in ``marks`` are stored.
        """
        current = self.conversation.data
        new = unmarked(current if data is None else {**kept(current), **data})
        new.update(marks or {})
        self.conversation = await self.call(
            self.svc.save_conversation, self.user_id, step, new, self.conversation.version
        )

    async def refused_long(self) -> None:
        """Remember that the text just sent was refused as too long.

        A Telegram app sends a text over 4,096 characters as several messages, one right
        after the other: the parts after the refused first one must not be taken as the
        step's answer (the end of a resident's long text as their proposal's body), see
        :meth:`rest_of_refused`. The stored step stays; its data carries the marker, which
        the next save leaves out (or the next other message ends, :meth:`drop_marks`).
        """
        mark = self.cut_mark()
        if mark and self.step:
            await self.save(self.step, marks=mark)

    def cut_mark(self, *, back: str = "") -> dict[str, JSON]:
        """Return the marker to store (``save(marks=)``) with a text that may be only the
        first part of a longer text Telegram's app split (:meth:`rest_of_refused`): one
        refused as too long (:meth:`refused_long`), or one taken under a limit between 2,048
        and 4,096 characters, whose step ``back`` is then stored again, without the text, if
        the rest follows, and the person told so. Empty for a text too short to be cut.

        The apps count UTF-16 code units (an emoji outside the BMP is two), so the length is
        measured in those: a first part cut after 1,100 emoji is 2,200 units long."""
        message = self.update.effective_message
        if message is None or utf16_units(message.text or "") < CUT_FIRST_MIN:
            return {}
        mark: dict[str, JSON] = {"m": message.message_id, "t": int(message.date.timestamp())}
        if back:
            mark["back"] = back
        return {CUT: mark}

    async def rest_of_refused(self) -> str | None:
        """Return the catalog key to answer this text with when it is the next part of a
        long text (sent by the app within seconds, a few message ids on) whose first part was
        refused, or taken (:meth:`cut_mark`: its step is stored again); None for any other
        text. The marker moves to this part, for a third part."""
        message = self.update.effective_message
        mark = self.conversation.data.get(CUT)
        if message is None or message.text is None or not isinstance(mark, dict):
            return None
        first, sent = mark.get("m"), mark.get("t")
        if not isinstance(first, int) or not isinstance(sent, int):
            return None
        if not first < message.message_id <= first + CUT_IDS:
            return None
        if not 0 <= message.date.timestamp() - sent <= CUT_GAP_S:
            return None
        key = "bot.error.rest_of_long"
        back = mark.get("back")
        if isinstance(back, str) and back:  # the part taken was not the whole text
            await self.save(back, {})
            key = "bot.error.rest_of_taken"
        await self.refused_long()
        return key

    def tell_album(self, key: str) -> None:
        """Have the other messages of this message's album told catalog text ``key``, once.

        A Telegram app sends several photos or files picked at once as an album: one message
        each, right after the other, sharing a ``media_group_id``. Only the first reaches
        the step (:meth:`rest_of_album`). A step that takes that one photo or file calls
        this, so that the others are told what became of them (only the first was kept).
        Without it they are dropped quietly, which is right when the first got a
        correction: the same one again for each would add nothing.
        """
        self.album_note = key

    async def mark_album(self) -> None:
        """Remember, after the first message of an album was answered, that its album was:
        its other messages are not the answer to the step stored now (:meth:`rest_of_album`).
        The marker goes into whatever the step stored; the next save leaves it out, and the
        next message that is none of the album's ends it (:meth:`drop_marks`)."""
        message = self.update.effective_message
        group = message.media_group_id if message is not None else None
        if group is None:
            return
        mark: dict[str, JSON] = {"g": group, "m": message.message_id}
        if self.album_note is not None:
            mark["note"] = self.album_note
        await self.save(self.step, marks={ALBUM: mark})

    async def rest_of_album(self) -> bool:
        """Return whether this message belongs to an album whose first message was answered
        already: it is neither taken by the stored step nor answered on its own. The first
        of them tells the note the step left (:meth:`tell_album`), once for the album."""
        message = self.update.effective_message
        group = message.media_group_id if message is not None else None
        if message is None or not album_answered(self.conversation, group, message.message_id):
            return False
        mark = self.conversation.data[ALBUM]
        note = mark.get("note") if isinstance(mark, dict) else None
        if isinstance(mark, dict) and isinstance(note, str):
            told = {key: value for key, value in mark.items() if key != "note"}
            await self.save(self.step, marks={ALBUM: told})
            await self.reply(note)
        return True

    async def drop_marks(self, opened: Conversation) -> None:
        """End the markers stored before this message (:data:`MARKS`), which was none of
        their rest: a text refused as too long or an album is followed at once by its other
        parts, so a later message means they are done with. Nothing to do when this update
        stored something (a save leaves them out) or there were none; otherwise the stored
        data is saved without them, and the conversation deleted when nothing is left (the
        row an album sent with no step stored would leave behind). Only messages call this:
        a pressed button never pays a write for it."""
        if self.conversation is not opened or not any(key in opened.data for key in MARKS):
            return
        left = unmarked(opened.data)
        if not left and not self.step:
            await self.call(self.svc.clear_conversation, self.user_id)
            self.conversation = Conversation(step="", data={}, version=0)
            return
        try:
            await self.save(self.step, left)
        except ConversationConflict:  # another update saved meanwhile, which left them out
            log.info("marks_left", step=self.step)

    async def clear(self) -> None:
        """End the current flow: forget the stored step and its data, but keep the
        resident's unfinished proposal (stored with step "" and nothing else, still with the
        version check); with none, the stored conversation is deleted."""
        left = kept(self.conversation.data)
        if left:
            await self.save("", left)
            return
        await self.call(self.svc.clear_conversation, self.user_id)
        self.conversation = Conversation(step="", data={}, version=0)

    async def forget_draft(self, *, restore: dict[str, JSON] | None = None) -> None:
        """Forget the resident's draft and aside (the proposal flow's own endings: submitted,
        cancelled, an edit saved or cancelled); ``restore``: the draft to keep instead (the
        new one that waited aside during an edit), with step "".

        At a step of the proposal flow (or none) everything stored goes. An old button of
        that flow pressed during another flow (an official's notice...) forgets only the
        draft: the other flow's step and data stay, still with the version check.
        """
        data = self.conversation.data
        own = not self.step or self.step.startswith(DRAFT_STEPS)
        step = "" if own else self.step
        new = {} if own else {k: v for k, v in unmarked(data).items() if k not in KEPT}
        if restore:
            new["draft"] = restore
        if not new and not step:
            await self.call(self.svc.clear_conversation, self.user_id)
            self.conversation = Conversation(step="", data={}, version=0)
            return
        self.conversation = await self.call(
            self.svc.save_conversation, self.user_id, step, new, self.conversation.version
        )

    def set_locale(self, locale: str) -> None:
        """Speak ``locale`` for the rest of this update (after a settings change)."""
        self.locale = locale

    # --- replies --------------------------------------------------------------------------------
    async def send(
        self, text: str, markup: Markup | None = None, *, photo: str | None = None
    ) -> Message:
        """Send a new message (a photo with ``text`` as caption when ``photo`` is given)."""
        bot = self.context.bot
        if photo is not None:
            return await bot.send_photo(self.chat_id, photo, caption=text, reply_markup=markup)
        return await bot.send_message(
            self.chat_id, text, reply_markup=markup, disable_web_page_preview=True
        )

    async def reply(self, key: str, markup: Markup | None = None, /, **params: object) -> Message:
        """Send catalog text ``key`` with ``params``."""
        return await self.send(self.t(key, **params), markup)

    async def show(
        self, text: str, markup: InlineKeyboardMarkup | None = None, *, photo: str | None = None
    ) -> bool:
        """Replace the pressed message in place (paging, toggles), else send a new one.

        Return True when the message was replaced, False when a new one was sent (no pressed
        message, or a photo to show where there was none or the other way round).

        A message that already shows exactly this is replaced too: Telegram refuses such an
        edit as 'message is not modified', which a second tap on the same button (both
        presses are sent before the first redraw arrives) or a redelivered update (a worker
        stopped after the edit) gets. That is no failure: what the person should see is
        there, and the caller goes on (it answered the generic apology before).
        """
        query = self.update.callback_query
        message = query.message if query is not None else None
        if isinstance(message, Message):
            has_photo = bool(message.photo)
            try:
                if has_photo and photo is not None:
                    await message.edit_caption(caption=text, reply_markup=markup)
                    return True
                if not has_photo and photo is None:
                    await message.edit_text(
                        text, reply_markup=markup, disable_web_page_preview=True
                    )
                    return True
            except BadRequest as err:
                if not not_modified(err):
                    raise
                return True
        await self.send(text, markup, photo=photo)
        return False

    async def drop_buttons(self) -> bool:
        """Take the inline keyboard off the pressed message (a preview once it was submitted
        or cancelled), so that its buttons do not stay there only to answer 'already used'.
        Best effort: a message Telegram no longer lets us edit (too old, deleted), or a
        network failure, leaves it as it is; what the person did is done and they must still
        be told so (a failure here ended in the generic apology after a submission).

        Return False when the keyboard was off already (Telegram: 'message is not
        modified'): an earlier press of the same message took it off, as the first tap of a
        double tap does, and said what it had to."""
        query = self.update.callback_query
        message = query.message if query is not None else None
        if not isinstance(message, Message) or message.reply_markup is None:
            return True
        try:
            await message.edit_reply_markup(None)
        except BadRequest as err:
            if not_modified(err):
                return False
            log.info("buttons_left", error=type(err).__name__)
        except TelegramError as err:
            log.info("buttons_left", error=type(err).__name__)
        return True

    async def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the pressed button once (a short toast, or an alert)."""
        query = self.update.callback_query
        if query is None or self.answered:
            return
        self.answered = True
        try:
            await query.answer(text, show_alert=alert)
        except BadRequest:  # a redelivered update: the query was answered the first time
            return

    async def menu_markup(self) -> ReplyKeyboardMarkup:
        """Return the main menu for this person's roles."""
        return await self.router.main_menu(self)

    async def roles(self) -> set[str]:
        """Return the person's roles ("resident" plus those whose predicate holds)."""
        found = {"resident"} if self.registered else set()
        for name, test in self.router.roles.items():
            if await self.call(test, self.svc, self.user_id):
                found.add(name)
        return found


StepFn = Callable[[Ctx, Incoming], Awaitable[None]]
ActionFn = Callable[[Ctx, dict[str, JSON]], Awaitable[None]]
CommandFn = Callable[[Ctx, list[str]], Awaitable[None]]
MenuFn = Callable[[Ctx], Awaitable[None]]
RoleFn = Callable[[ParticipationService, int], bool]
RedeemedFn = Callable[[Ctx, Redeemed], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Action:
    """A registered button action."""

    fn: ActionFn
    consume: bool
    public: bool  # allowed before registration (consent, region choice)
    consume_in_effect: bool = False  # the action's service call uses the button up


@dataclass(frozen=True, slots=True)
class MenuItem:
    """A main-menu button: catalog key of its label, handler, who sees it, sort order."""

    key: str
    fn: MenuFn
    roles: frozenset[str]
    order: int
    continues: str = ""  # the step prefix of the flow this item picks up itself ("submit.")


@dataclass
class Router:
    """The registry of screens; :func:`bot.app.build_application` wires it to PTB."""

    steps: dict[str, StepFn] = field(default_factory=dict)
    public_steps: set[str] = field(default_factory=set)
    actions: dict[str, Action] = field(default_factory=dict)
    commands: dict[str, CommandFn] = field(default_factory=dict)
    public_commands: set[str] = field(default_factory=set)
    # What a command does with the flow whose step is stored: the step prefix of the flow it
    # picks up itself (/propose: "submit."), or None when it handles the flow itself (/start,
    # /cancel); a command not listed ends the flow first, as a main-menu button does.
    command_flows: dict[str, str | None] = field(default_factory=dict)
    menu_items: list[MenuItem] = field(default_factory=list)
    roles: dict[str, RoleFn] = field(default_factory=dict)
    redeemers: dict[str, RedeemedFn] = field(default_factory=dict)
    consumed_before: frozenset[str] = frozenset()  # actions whose button is used up first
    onboarding: MenuFn | None = None  # what an unregistered person gets instead
    fallback: MenuFn | None = None  # text with no step and no menu match
    # What a main-menu button does first while another flow's step is stored: end that
    # flow and return a note for the person (None: nothing to say).
    leaving: Callable[[Ctx], Awaitable[str | None]] | None = None

    def step(self, name: str, *, public: bool = False) -> Callable[[StepFn], StepFn]:
        """Register what input means while step ``name`` is stored."""

        def add(fn: StepFn) -> StepFn:
            _unique(self.steps, name)
            self.steps[name] = fn
            if public:
                self.public_steps.add(name)
            return fn

        return add

    def action(
        self,
        name: str,
        *,
        consume: bool = False,
        public: bool = False,
        consume_in_effect: bool = False,
    ) -> Callable[[ActionFn], ActionFn]:
        """Register an inline-button action (``consume``: single-use button).

        ``consume_in_effect``: the button is single-use, but instead of a write transaction
        of its own before the action runs, the action passes ``ctx.button_token`` to the one
        service call that applies its effect, which uses the button up in the same
        transaction (a refused effect leaves the button usable) and raises ButtonExpired
        when another press used it first.
        """

        def add(fn: ActionFn) -> ActionFn:
            _unique(self.actions, name)
            self.actions[name] = Action(fn, consume or consume_in_effect, public, consume_in_effect)
            self.consumed_before = frozenset(
                n for n, a in self.actions.items() if a.consume and not a.consume_in_effect
            )
            return fn

        return add

    def command(
        self, name: str, *, public: bool = False, continues: str = "", own_flow: bool = False
    ) -> Callable[[CommandFn], CommandFn]:
        """Register ``/name``; ``public`` commands work before registration.

        Sent while a step is stored, the command first ends that flow (:attr:`leaving`), as a
        main-menu button does, unless the step starts with ``continues`` (the flow the
        command picks up itself) or ``own_flow`` (the command decides, as /cancel does).
        """

        def add(fn: CommandFn) -> CommandFn:
            _unique(self.commands, name)
            self.commands[name] = fn
            if public:
                self.public_commands.add(name)
            if own_flow:
                self.command_flows[name] = None
            elif continues:
                self.command_flows[name] = continues
            return fn

        return add

    def menu(
        self, key: str, *, order: int, roles: tuple[str, ...] = ("resident",), continues: str = ""
    ) -> Callable[[MenuFn], MenuFn]:
        """Register a main-menu button labelled by catalog ``key``, shown to ``roles``.

        Pressed while a step is stored, the button first ends that flow (:attr:`leaving`),
        unless the step starts with ``continues``: the flow the button picks up itself.
        """

        def add(fn: MenuFn) -> MenuFn:
            if any(item.key == key for item in self.menu_items):
                raise ValueError(f"menu item {key!r} registered twice")
            self.menu_items.append(MenuItem(key, fn, frozenset(roles), order, continues))
            self.menu_items.sort(key=lambda item: item.order)
            return fn

        return add

    def role(self, name: str) -> Callable[[RoleFn], RoleFn]:
        """Register a role predicate (run in a thread; keep it one cheap query)."""

        def add(fn: RoleFn) -> RoleFn:
            _unique(self.roles, name)
            self.roles[name] = fn
            return fn

        return add

    def redeemed(self, kind: str) -> Callable[[RedeemedFn], RedeemedFn]:
        """Register the follow-up of a redeemed ``/start`` code of ``kind``."""

        def add(fn: RedeemedFn) -> RedeemedFn:
            _unique(self.redeemers, kind)
            self.redeemers[kind] = fn
            return fn

        return add

    def menu_for_text(self, text: str, catalog_texts: Callable[[str], set[str]]) -> MenuItem | None:
        """Return the menu item whose label (in any language) is ``text``."""
        wanted = text.strip()
        return next((i for i in self.menu_items if wanted in catalog_texts(i.key)), None)

    async def main_menu(self, ctx: Ctx) -> ReplyKeyboardMarkup:
        """Build the reply keyboard: two buttons a row, the items of the person's roles."""
        roles = await ctx.roles()
        labels = [ctx.t(i.key) for i in self.menu_items if i.roles & roles]
        rows = [labels[i : i + 2] for i in range(0, len(labels), 2)]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, is_persistent=True)


def album_answered(conversation: Conversation, media_group_id: str | None, message_id: int) -> bool:
    """Return whether message ``message_id`` of album ``media_group_id`` is one of the rest
    of an album whose first message was answered already (:meth:`Ctx.mark_album`): the same
    media_group_id and one of the next ids an album can hold. False for a message of no
    album, and for one reusing an answered album's id later (it is not let past the rate
    limiter, nor dropped, as the rest of that album)."""
    mark = conversation.data.get(ALBUM)
    if media_group_id is None or not isinstance(mark, dict) or mark.get("g") != media_group_id:
        return False
    first = mark.get("m")
    return isinstance(first, int) and first < message_id < first + ALBUM_MAX


def unmarked(data: dict[str, JSON]) -> dict[str, JSON]:
    """Return conversation ``data`` without the markers (:data:`MARKS`)."""
    return {key: value for key, value in data.items() if key not in MARKS}


def kept(data: dict[str, JSON]) -> dict[str, JSON]:
    """Return the part of conversation ``data`` that outlives other flows (:data:`KEPT`)."""
    return {key: data[key] for key in KEPT if key in data}


def _unique(table: dict[str, Any], name: str) -> None:
    if name in table:
        raise ValueError(f"{name!r} registered twice")


def int_arg(args: dict[str, JSON], key: str, default: int = 0) -> int:
    """Return ``args[key]`` as an int (button args are JSON), else ``default``."""
    value = args.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def str_arg(args: dict[str, JSON], key: str, default: str = "") -> str:
    """Return ``args[key]`` as a str, else ``default``."""
    value = args.get(key)
    return value if isinstance(value, str) else default


def person_locale(resident: Resident | None, language_code: str | None) -> str:
    """Return the saved language, else the client's, else Korean."""
    saved = resident.locale if resident is not None and resident.registered else None
    return locale_for(language_code, saved)


def refusal_text(catalog: Catalog, locale: str, err: ParticipationError) -> str:
    """Return the text of a refusal of the service in ``locale``, its instants (a deadline)
    written as every screen writes dates (``i18n.format.format_datetime``, KST)."""
    return catalog.text(locale, err.key, **err.shown(partial(format_datetime, locale=locale)))
