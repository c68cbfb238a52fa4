"""Settings: language, city/county, notifications on/off, and erasing my data."""

from __future__ import annotations

import asyncio

import structlog
from telegram import InlineKeyboardMarkup
from telegram import ReplyKeyboardRemove

from bot.keyboards import Btn
from bot.keyboards import inline
from bot.render import region_name
from bot.router import Ctx
from bot.router import Router
from bot.router import str_arg
from bot.start import region_keyboard
from i18n.catalog import LOCALES
from participation.domain.events import JSON

log = structlog.get_logger(__name__)
FORGET_TIMEOUT_S = 5.0  # Redis is not waited on longer: the erasure is committed already


def register(router: Router) -> None:
    """Register the settings screens."""
    router.menu("bot.menu.settings", order=60)(settings)
    router.command("settings")(lambda ctx, args: settings(ctx))
    router.action("settings.open")(reopen)
    router.action("settings.language", consume=True)(language)
    router.action("settings.regions")(regions)
    router.action("settings.region", consume=True)(region)
    router.action("settings.notifications", consume=True)(notifications)
    router.action("settings.erase")(erase_ask)
    router.action("settings.erase_yes", consume=True)(erase)


async def settings(ctx: Ctx) -> None:
    """Show the settings with a button for each."""
    text, markup = await screen(ctx)
    await ctx.send(text, markup)


async def reopen(ctx: Ctx, args: dict[str, JSON]) -> None:
    text, markup = await screen(ctx)
    await ctx.show(text, markup)


async def screen(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup]:
    resident = ctx.resident
    assert resident is not None
    on = resident.notifications
    other = next(loc for loc in LOCALES if loc != ctx.locale)
    text = ctx.t(
        "bot.settings.head",
        language=ctx.t(f"bot.settings.language_name.{ctx.locale}"),
        region=region_name(ctx, resident.region or ""),
        notifications=ctx.t("bot.settings.on" if on else "bot.settings.off"),
    )
    rows = [
        [Btn(ctx.t(f"bot.settings.switch_to.{other}"), "settings.language", {"locale": other})],
        [Btn(ctx.t("bot.settings.change_region"), "settings.regions")],
        [
            Btn(
                ctx.t("bot.settings.notifications_off" if on else "bot.settings.notifications_on"),
                "settings.notifications",
                {"on": not on},
            )
        ],
        [Btn(ctx.t("bot.settings.erase"), "settings.erase")],
    ]
    return text, await inline(ctx, rows)


async def language(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Switch the language, then show the menu in it."""
    locale = str_arg(args, "locale")
    ctx.resident = await ctx.call(ctx.svc.update_settings, ctx.user_id, locale=locale)
    ctx.set_locale(ctx.resident.locale)
    await ctx.reply("bot.settings.language_changed", await ctx.menu_markup())
    await settings(ctx)


async def regions(ctx: Ctx, args: dict[str, JSON]) -> None:
    await ctx.show(ctx.t("bot.start.choose_region"), await region_keyboard(ctx, 0, "settings"))


async def region(ctx: Ctx, args: dict[str, JSON]) -> None:
    code = str_arg(args, "region")
    ctx.resident = await ctx.call(ctx.svc.update_settings, ctx.user_id, region=code)
    await ctx.show(ctx.t("bot.start.region_chosen", region=region_name(ctx, code)))
    await settings(ctx)


async def notifications(ctx: Ctx, args: dict[str, JSON]) -> None:
    on = bool(args.get("on"))
    ctx.resident = await ctx.call(ctx.svc.update_settings, ctx.user_id, notifications=on)
    await ctx.answer(ctx.t("bot.settings.on" if on else "bot.settings.off"))
    text, markup = await screen(ctx)
    await ctx.show(text, markup)


async def erase_ask(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Explain what is erased and what stays, and ask once more."""
    rows = [
        [Btn(ctx.t("bot.settings.erase_yes"), "settings.erase_yes")],
        [Btn(ctx.t("bot.settings.erase_no"), "settings.open")],
    ]
    await ctx.show(ctx.t("bot.settings.erase_confirm"), await inline(ctx, rows))


async def erase(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Erase my personal data and content; the ledger keeps only its commitments.

    The updates of mine the workers gave up on go too (``extra["forget_dead_letters"]``,
    wired by the gateway: they hold my id, name and what I typed). Best effort: when Redis
    cannot be reached the erasure stands and is confirmed, the failure is logged, and the
    dead letters still go with their 30-day trim."""
    count = await ctx.call(ctx.svc.erase_personal_data, ctx.user_id)
    forget = ctx.services.extra.get("forget_dead_letters")
    if callable(forget):
        try:
            await asyncio.wait_for(forget(ctx.user_id), FORGET_TIMEOUT_S)
        except Exception as err:  # type only: nothing of the person in the logs
            log.warning("dead_letters_not_forgotten", error=type(err).__name__)
    await ctx.show(ctx.t("bot.settings.erased_inline"))
    await ctx.send(ctx.t("bot.settings.erased", count=count), ReplyKeyboardRemove())
