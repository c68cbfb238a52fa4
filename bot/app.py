"""``build_application``: the python-telegram-bot Application the gateway's workers drive.

The Application has no updater (``.updater(None)``): a worker calls
``await app.process_update(update)`` for each update it takes from Redis. Handlers are thin
(STYLE R3): build a :class:`bot.router.Ctx`, call the screen registered for the stored step,
command, menu label or button token; one error handler turns a ``ParticipationError`` into a
reply in the person's language and logs anything else before a polite apology.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable
from typing import Any
from typing import Protocol

import structlog
from telegram import Bot
from telegram import CallbackQuery
from telegram import ChatMemberUpdated
from telegram import Message
from telegram import Update
from telegram.constants import ChatType
from telegram.constants import UpdateType
from telegram.error import BadRequest
from telegram.error import Forbidden
from telegram.error import TelegramError
from telegram.ext import Application
from telegram.ext import ApplicationHandlerStop
from telegram.ext import CallbackQueryHandler
from telegram.ext import ChatMemberHandler
from telegram.ext import CommandHandler
from telegram.ext import MessageHandler
from telegram.ext import TypeHandler
from telegram.ext import filters

from bot.router import ROUTER_KEY
from bot.router import SERVICES_KEY
from bot.router import Context
from bot.router import Ctx
from bot.router import Document
from bot.router import Incoming
from bot.router import Router
from bot.router import album_answered
from bot.router import person_locale
from bot.router import refusal_text
from bot.services import BotServices
from bot.transport import AiohttpRequest
from i18n.catalog import LOCALES
from participation.domain import errors as e
from participation.views import Opened

log = structlog.get_logger("bot.app")
GROUP_TYPES = (ChatType.GROUP, ChatType.SUPERGROUP)

# The kinds of update the handlers of build_application take, for setWebhook's and
# getUpdates' allowed_updates: Telegram then sends no other kind (a person's reaction to a
# message, the public channel's member changes, reaction counts and other admins' posts).
# A kind added here needs a handler below, and a handler of a new kind needs it here.
UPDATE_KINDS: tuple[str, ...] = (
    UpdateType.MESSAGE,
    UpdateType.EDITED_MESSAGE,
    UpdateType.CALLBACK_QUERY,
    UpdateType.MY_CHAT_MEMBER,
)


class Screen(Protocol):
    """A screen module: registers its commands, steps, actions and menu items."""

    def register(self, router: Router) -> None: ...


def default_screens() -> tuple[Screen, ...]:
    """Return the residents' screens, in registration order (later issues append theirs)."""
    from bot import activity
    from bot import browse
    from bot import judge
    from bot import official
    from bot import onsite
    from bot import settings
    from bot import start
    from bot import submit

    return (start, submit, browse, activity, settings, judge, onsite, official)


def build_application(
    token: str,
    base_url: str,
    base_file_url: str,
    services: BotServices,
    *,
    screens: Iterable[Screen] | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the bot: no updater, no job queue, every handler reading ``services``.

    ``screens`` replaces :func:`default_screens` (tests; judges' and officials' modules are
    added by appending to that tuple).
    """
    router = Router()
    for screen in default_screens() if screens is None else screens:
        screen.register(router)
    app = (
        Application.builder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .updater(None)
        .job_queue(None)
        .build()
    )
    app.bot_data[SERVICES_KEY] = services
    app.bot_data[ROUTER_KEY] = router
    private = filters.ChatType.PRIVATE
    app.add_handler(TypeHandler(Update, gate), group=-1)
    app.add_handler(ChatMemberHandler(on_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.ChatType.GROUPS & ~filters.StatusUpdate.ALL, on_group))
    app.add_handler(MessageHandler(private & filters.UpdateType.EDITED, on_edited))  # first
    if router.commands:
        app.add_handler(CommandHandler(list(router.commands), on_command, filters=private))
    app.add_handler(MessageHandler(private & filters.COMMAND, on_unknown_command))
    # A service message (the person pinned a message, set a wallpaper or an auto-delete
    # timer in their chat with the bot) is nothing they sent: no handler takes it.
    people_sent = ~filters.COMMAND & ~filters.StatusUpdate.ALL
    app.add_handler(MessageHandler(private & people_sent, on_message))
    app.add_handler(CallbackQueryHandler(on_callback))
    app.add_error_handler(on_error)
    return app


# --- building the per-update context -----------------------------------------------------------
async def make_ctx(update: Update, context: Context) -> Ctx | None:
    """Load who this is and their stored step (one thread hop); None for non-private chats."""
    opened = await open_update(update, context)
    return None if opened is None else opened[0]


async def open_update(
    update: Update, context: Context, token: str | None = None
) -> tuple[Ctx, Opened] | None:
    """Build the Ctx and, for a pressed ``token``, look the button up (and use up a
    single-use one), all in one thread hop and one query; None for non-private chats."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != "private" or user.is_bot:
        return None
    services: BotServices = context.bot_data[SERVICES_KEY]
    router: Router = context.bot_data[ROUTER_KEY]
    opened = await asyncio.to_thread(
        services.participation.open_update,
        user.id,
        token=token,
        consume=router.consumed_before,
        request_id=f"tg:{update.update_id}",
    )
    ctx = Ctx(
        update=update,
        context=context,
        services=services,
        router=router,
        user_id=user.id,
        chat_id=chat.id,
        locale=person_locale(opened.resident, user.language_code),
        resident=opened.resident,
        conversation=opened.conversation,
        button_token=token,
    )
    return ctx, opened


def labels(services: BotServices, key: str) -> set[str]:
    """Return the label of catalog ``key`` in every language."""
    return {services.catalog.text(locale, key) for locale in LOCALES}


async def answer_quietly(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press; a query Telegram no longer takes (older than 15 s, as after
    an outage or a redelivery, or answered already) is not an error."""
    try:
        await query.answer(text)
    except BadRequest:
        pass


# --- the public chat ---------------------------------------------------------------------------
def from_public_chat(update: Update, services: BotServices) -> bool:
    """Return whether ``update`` comes from the public chat (PUBLIC_CHANNEL), whatever its type.

    The bot posts the ledger's digests there as an admin. A channel's posts are not asked
    for, but a group or supergroup sends every member's message and the bot's own promotion:
    those are nobody's request to the bot, so :func:`gate` lets no handler take them: not
    counted by the rate limiter, not answered, and never a reason to leave as another group
    is left (:func:`on_group`).
    """
    chat = update.effective_chat
    return (
        chat is not None
        and chat.type != ChatType.PRIVATE
        and services.is_public_chat(chat.id, chat.username)
    )


# --- rate limiting -----------------------------------------------------------------------------
async def gate(update: Update, context: Context) -> None:
    """Stop a person who sends too much too fast, with one polite notice per burst.

    The limiter decides both (shared by every worker, STYLE R21). A pressed button gets the
    notice as its toast on every refusal; the first one tells the burst, as a message would.
    An album (up to ten photos picked at once, one message each) counts once: its first
    message; the others pass once that one was answered (:func:`rest_of_answered_album`).
    The bot's own membership changes (my_chat_member: a person blocks or unblocks it, it is
    added to a group) pass uncounted: nobody floods them, and one dropped is lost for good.
    Nothing from the public chat goes further (:func:`from_public_chat`).
    """
    services: BotServices = context.bot_data[SERVICES_KEY]
    if from_public_chat(update, services):
        raise ApplicationHandlerStop
    user = update.effective_user
    if user is None or user.is_bot or update.my_chat_member is not None:
        return
    if await rest_of_answered_album(update, services, user.id):
        return
    admit = services.rate_limiter.admit
    if inspect.iscoroutinefunction(admit):  # the gateway's: Redis on the worker's own loop
        verdict = await admit(user.id)
    else:
        verdict = await asyncio.to_thread(admit, user.id)
    if verdict.allowed:
        return
    if update.callback_query is not None or verdict.notify:
        text = services.catalog.text(person_locale(None, user.language_code), "bot.slow_down")
        chat = update.effective_chat
        if update.callback_query is not None:
            await answer_quietly(update.callback_query, text)
        elif chat is not None and chat.type == "private":
            await context.bot.send_message(chat.id, text)
    log.info("update_throttled", update_id=update.update_id, notified=verdict.notify)
    raise ApplicationHandlerStop


async def rest_of_answered_album(update: Update, services: BotServices, user_id: int) -> bool:
    """Return whether ``update`` is a message of an album whose first message was admitted
    and answered (:meth:`Ctx.mark_album`). Only album messages cost this look-up; the answer
    comes from Telegram's ``media_group_id``, which a person cannot choose."""
    message = update.message
    if message is None or message.media_group_id is None:
        return False
    conversation = await asyncio.to_thread(services.participation.get_conversation, user_id)
    return album_answered(conversation, message.media_group_id, message.message_id)


# --- dispatch ----------------------------------------------------------------------------------
async def on_command(update: Update, context: Context) -> None:
    """Run a registered ``/command`` (unregistered people: only the public ones)."""
    ctx = await make_ctx(update, context)
    message = update.effective_message
    if ctx is None or message is None or not message.text:
        return
    name = message.text.split()[0].lstrip("/").split("@")[0].lower()
    fn = ctx.router.commands.get(name)
    if fn is None:
        return
    opened = ctx.conversation
    if not ctx.registered and name not in ctx.router.public_commands:
        await onboard(ctx)
    else:
        flow = ctx.router.command_flows.get(name, "")
        if ctx.registered and flow is not None:
            await leave_flow(ctx, flow)
        await fn(ctx, list(context.args or []))
    await ctx.drop_marks(opened)  # a command is no part of a long text or an album


async def on_edited(update: Update, context: Context) -> None:
    """A person edited a message they sent: Telegram sends the new text as an update of its
    own, which must not be taken as the current step's answer (an edited title as the body)
    or run again (an edited command). Nothing changes; the person is told so."""
    ctx = await make_ctx(update, context)
    if ctx is not None:
        await ctx.reply("bot.error.edit_not_applied")


async def on_unknown_command(update: Update, context: Context) -> None:
    """Answer a command nobody registered with a pointer to /help."""
    ctx = await make_ctx(update, context)
    if ctx is not None:
        await ctx.reply("bot.unknown_command")


async def on_message(update: Update, context: Context) -> None:
    """Route text, photos and files: a menu label first, else the stored step, else the fallback.

    An album (several photos or files picked at once, one message each) is answered once: its
    first message is routed, the others are not taken by the step stored after it, nor
    answered one by one (:meth:`Ctx.rest_of_album`). A message that is no marker's rest ends
    the markers stored before it (:meth:`Ctx.drop_marks`).
    """
    ctx = await make_ctx(update, context)
    message = update.effective_message
    if ctx is None or message is None or await ctx.rest_of_album():
        return
    opened = ctx.conversation
    try:
        await route_message(ctx, message)
    except e.ParticipationError:
        await ctx.mark_album()  # refused: the album's other messages must not be refused each
        raise
    await ctx.mark_album()
    await ctx.drop_marks(opened)


async def route_message(ctx: Ctx, message: Message) -> None:
    """Take one message: a menu label, else the stored step's, else the fallback."""
    sent, photo = message.document, message.photo[-1] if message.photo else None
    incoming = Incoming(
        text=message.text,
        photo_file_id=photo.file_id if photo else None,
        caption=message.caption,
        photo_unique_id=photo.file_unique_id if photo else None,
        document=None
        if sent is None
        else Document(sent.file_id, sent.file_name or "", sent.mime_type or "", sent.file_size),
        album=message.media_group_id is not None,
    )
    router = ctx.router
    if ctx.registered and incoming.text is not None:
        item = router.menu_for_text(incoming.text, lambda key: labels(ctx.services, key))
        if item is not None:
            await leave_flow(ctx, item.continues)
            await item.fn(ctx)
            return
    rest = await ctx.rest_of_refused()  # after the menu: a label is no part of a long text
    if rest is not None:
        await ctx.reply(rest)
        return
    step = router.steps.get(ctx.step)
    if step is not None and (ctx.registered or ctx.step in router.public_steps):
        await step(ctx, incoming)
        return
    if not ctx.registered:
        await onboard(ctx)
    elif router.fallback is not None:
        await router.fallback(ctx)


async def leave_flow(ctx: Ctx, continues: str) -> None:
    """A main-menu button or a command starts something else: the flow whose step is stored
    ends first (its next text must not be taken as, say, a proposal's title), unless it is
    the flow the button or command continues (its step starts with ``continues``); the person
    is told what was kept (the unfinished proposal)."""
    router = ctx.router
    if not ctx.step or router.leaving is None:
        return
    if continues and ctx.step.startswith(continues):
        return
    note = await router.leaving(ctx)
    if note:
        await ctx.send(note)


async def on_callback(update: Update, context: Context) -> None:
    """Look the pressed token up on the server and run its action (single-use when consumed).

    The look-up, with the person's state, is one thread hop; a ``consume=True`` action's
    button is used up in it, one registered with ``consume_in_effect`` is used up by the
    action's own service call (in the transaction of its effect).
    """
    query = update.callback_query
    opened = await open_update(update, context, query.data or "") if query else None
    if query is None or opened is None:
        if query is not None:
            await answer_quietly(query)
        return
    ctx, pressed = opened
    button = pressed.button
    action = ctx.router.actions.get(button.action) if button is not None else None
    if button is None or action is None:  # unknown, foreign, expired or used
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    if not ctx.registered and not action.public:
        await ctx.answer()
        await onboard(ctx)
        return
    try:
        await action.fn(ctx, button.args)
    except e.ButtonExpired:
        if not action.consume_in_effect:
            raise
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)  # used meanwhile
    finally:
        await ctx.answer()


async def onboard(ctx: Ctx) -> None:
    """Send an unregistered person to the start of registration."""
    if ctx.router.onboarding is not None:
        await ctx.router.onboarding(ctx)


async def on_member(update: Update, context: Context) -> None:
    """Note when a person blocks the bot (stop notifying) or comes back; leave a group the
    bot was added to (:func:`on_group`). Channels are left alone, and the public chat never
    reaches here (:func:`from_public_chat`)."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None:
        return
    if change.chat.type in GROUP_TYPES:
        if change.new_chat_member.status not in ("left", "kicked"):
            await on_group(update, context)
        return
    if change.chat.type != "private":
        return
    services: BotServices = context.bot_data[SERVICES_KEY]
    svc, user_id = services.participation, change.from_user.id
    status = change.new_chat_member.status
    if status in ("kicked", "left"):
        await asyncio.to_thread(svc.mark_blocked, user_id)
    elif status == "member" and await asyncio.to_thread(svc.resident, user_id) is not None:
        await asyncio.to_thread(svc.update_settings, user_id, subscribed=True)


async def on_group(update: Update, context: Context) -> None:
    """The bot is in a group or supergroup: it was just added, or someone writes to it there
    (it was added before it left groups). It serves each person in their private chat
    (proposals, receipts, judging) and answers nothing in front of a group: it says so once,
    in the language of whoever added it or wrote, with the link to its private chat, and
    leaves. Best effort: a group may let no one but admins write (the notice is then
    skipped), and a refusal there is no person blocking the bot."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return
    services: BotServices = context.bot_data[SERVICES_KEY]
    locale = person_locale(None, user.language_code if user is not None else None)
    link = f"https://t.me/{services.bot_username}"
    try:
        await context.bot.send_message(
            chat.id, services.catalog.text(locale, "bot.group.private_only", link=link)
        )
    except TelegramError as err:
        log.info("group_notice_failed", update_id=update.update_id, error=type(err).__name__)
    try:
        await context.bot.leave_chat(chat.id)
    except Forbidden:  # not a member (left on an earlier update of the group) or kicked: out
        log.info("group_already_left", update_id=update.update_id, chat_type=chat.type)
        return
    except TelegramError as err:  # tried again with the group's next update
        log.warning("group_leave_failed", update_id=update.update_id, error=type(err).__name__)
        return
    log.info("group_left", update_id=update.update_id, chat_type=chat.type)


# --- errors ------------------------------------------------------------------------------------
async def on_error(update: object, context: Context) -> None:
    """Explain a broken rule in the person's language; log anything else, then apologise."""
    err = context.error
    if not isinstance(update, Update) or update.effective_user is None:
        log.error("bot_error_outside_update", exc_info=err)
        return
    services: BotServices = context.bot_data[SERVICES_KEY]
    user, chat = update.effective_user, update.effective_chat
    if isinstance(err, Forbidden):  # the person blocked the bot while we answered
        await asyncio.to_thread(services.participation.mark_blocked, user.id)
        log.info("bot_blocked_by_user", update_id=update.update_id)
        return
    what: str | e.ParticipationError
    if isinstance(err, e.ParticipationError):
        log.info("rule_refused", update_id=update.update_id, key=err.key)
        what = err
    else:
        log.error("update_failed", update_id=update.update_id, exc_info=err)
        what = "bot.error.generic"
    if update.callback_query is not None:
        try:
            await update.callback_query.answer()
        except TelegramError:
            pass  # already answered by the handler that failed
    try:
        if chat is not None and chat.type == "private":
            await apologise(context.bot, services, chat.id, user.id, user.language_code, what)
    except Exception as again:  # the database may be what failed: never fail in here
        log.warning("error_reply_failed", update_id=update.update_id, error=type(again).__name__)


async def apologise(
    bot: Bot,
    services: BotServices,
    chat_id: int,
    user_id: int | None,
    language_code: str | None,
    key: str | e.ParticipationError,
    /,
    **params: object,
) -> None:
    """Send catalog text ``key`` (or the text of the service's refusal ``key``: its
    instants written as dates, :func:`bot.router.refusal_text`) to ``chat_id`` in the
    person's language: the one they saved, else their client's (``language_code``), else
    Korean. When the saved one cannot be read (the database may be what failed), the
    client's is used. Raises what sending raises."""
    resident = None
    if user_id is not None:
        try:
            resident = await asyncio.to_thread(services.participation.resident, user_id)
        except Exception as err:
            log.warning("apology_locale_unread", error=type(err).__name__)
    locale = person_locale(resident, language_code)
    if isinstance(key, e.ParticipationError):
        text = refusal_text(services.catalog, locale, key)
    else:
        text = services.catalog.text(locale, key, **params)
    await bot.send_message(chat_id, text)


async def tell_not_handled(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    chat_id: int,
    user_id: int | None,
    language_code: str | None,
    callback_query_id: str | None,
) -> None:
    """Tell a person that their update could not be handled now, was kept for the operators
    and may be tried again a little later (``bot.error.dead_letter``); a pressed button's
    query is answered first, so its spinner stops (best effort: it may be too old).

    The runtime calls it when it gives up on an update (gateway.worker's dead letters), from
    the raw update's fields: PTB may not have been able to parse it. Raises what sending
    raises.
    """
    services: BotServices = application.bot_data[SERVICES_KEY]
    if callback_query_id is not None:
        try:
            await application.bot.answer_callback_query(callback_query_id)
        except TelegramError:
            pass  # answered already, or too old
    await apologise(application.bot, services, chat_id, user_id, language_code,
                    "bot.error.dead_letter")  # fmt: skip


async def tell_delayed(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    chat_id: int,
    user_id: int | None,
    language_code: str | None,
    callback_query_id: str | None,
) -> None:
    """Tell a person that their update is kept and waits for the database to come back.

    A pressed button gets a toast (``bot.error.delayed_press``), which also stops its
    spinner; anything else a message (``bot.error.delayed``). The runtime calls it once for
    the update at the head of a chat's partition when the database stops answering (gateway
    .worker); the update is applied when it answers again, and the handler's own answer to
    the query then fails quietly (answered already). Raises what sending raises.
    """
    services: BotServices = application.bot_data[SERVICES_KEY]
    if callback_query_id is None:
        await apologise(application.bot, services, chat_id, user_id, language_code,
                        "bot.error.delayed")  # fmt: skip
        return
    # The database is down: the saved language cannot be read, the client's is used.
    text = services.catalog.text(person_locale(None, language_code), "bot.error.delayed_press")
    await application.bot.answer_callback_query(callback_query_id, text)
