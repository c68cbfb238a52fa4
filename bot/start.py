"""Arriving: /start (with a deep-link payload), the privacy notice, the city/county, the main menu.

``/start p_<proposal>`` opens a proposal card; ``/start e_...`` (a scanned enrollment sheet),
``j_...``, ``o_...`` and ``s_...`` are redeemed through ``ParticipationService.redeem_code``.
Someone not yet registered goes through consent and region first; the payload waits in the
stored conversation and is handled right after registration.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.keyboards import page_count
from bot.keyboards import pager
from bot.router import DRAFT_STEPS
from bot.router import Ctx
from bot.router import Incoming
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from bot.submit import finish_edit
from bot.submit import kept_note
from participation.domain.events import JSON
from participation.domain.regions import GYEONGGI
from participation.views import Redeemed

REGION_COLUMNS, REGIONS_PER_PAGE = 4, 16  # 31 cities/counties (si-gun) on two compact pages
CODE_PREFIXES = ("e_", "j_", "o_", "s_")


def register(router: Router) -> None:
    """Register the start, help and cancel screens."""
    router.command("start", public=True, own_flow=True)(start)
    router.command("help", public=True)(help_command)
    router.command("cancel", public=True, own_flow=True)(cancel)
    router.menu("bot.menu.help", order=50)(help_menu)
    router.action("start.consent", consume=True, public=True)(consent)
    router.action("start.regions", public=True)(region_page)
    router.action("start.region", consume=True, public=True)(choose_region)
    router.step("start.consent", public=True)(press_a_button)
    router.step("start.region", public=True)(press_a_button)
    router.redeemed("enrollment")(enrolled)  # judge, official, onsite: their modules (or joined)
    router.onboarding = onboard
    router.fallback = not_understood
    router.leaving = leave_flow


async def start(ctx: Ctx, args: list[str]) -> None:
    """Welcome; register first if needed, then act on the deep-link payload.

    /start ends the flow in progress, as a main-menu button does: the next text is not taken
    as, say, a proposal's title. The unfinished proposal stays and the person is told so.
    Someone who agreed to the privacy notice already is asked for their city/county again.
    """
    payload = args[0] if args else ""
    if not ctx.registered:
        if ctx.step == "start.region" and ctx.data.get("consent"):
            await region_again(ctx, payload)
            return
        await ctx.save("start.consent", {"pending": payload, "pending_at": sent_at(ctx)})
        await ctx.reply("bot.start.welcome")
        await privacy_notice(ctx)
        return
    if payload:
        note = await leave_flow(ctx)
        if note:
            await ctx.send(note)
        await handle_payload(ctx, payload, sent_at(ctx))
        return
    if ctx.step:
        await ctx.clear()
    text = ctx.t("bot.start.welcome_back")
    note = kept_note(ctx)
    await ctx.send(text + "\n" + note if note else text, await ctx.menu_markup())


async def leave_flow(ctx: Ctx) -> str | None:
    """End the flow whose step is stored (the unfinished proposal stays); return the note
    that the proposal is kept when it was the proposal flow, else None."""
    if not ctx.step:
        return None
    drafting = ctx.step.startswith(DRAFT_STEPS)
    await ctx.clear()
    return kept_note(ctx) if drafting else None


async def region_again(ctx: Ctx, payload: str) -> None:
    """/start after agreeing: the consent stays, the city/county is asked again (a new
    deep link replaces the one that waited)."""
    data = ctx.data
    if payload:
        data["pending"], data["pending_at"] = payload, sent_at(ctx)
    await ctx.save("start.region", data)
    await ctx.reply("bot.start.welcome")
    await ctx.send(ctx.t("bot.start.choose_region"), await region_keyboard(ctx, 0, "start"))


async def onboard(ctx: Ctx) -> None:
    """Start registration for someone who wrote before registering."""
    await start(ctx, [])


async def privacy_notice(ctx: Ctx) -> None:
    """Show what is kept, why, for how long and how to withdraw, with agree/decline."""
    markup = await inline(
        ctx,
        [
            [Btn(ctx.t("bot.privacy.agree"), "start.consent", {"agree": True})],
            [Btn(ctx.t("bot.privacy.decline"), "start.consent", {"agree": False})],
        ],
    )
    await ctx.reply("bot.privacy.notice", markup)


async def consent(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Agreed: choose a city/county. Declined: keep nothing and say how to come back."""
    if not args.get("agree"):
        await ctx.clear()
        await ctx.show(ctx.t("bot.privacy.declined"))
        return
    data = ctx.data
    data["consent"] = ctx.services.consent_version
    await ctx.save("start.region", data)
    await ctx.show(ctx.t("bot.privacy.agreed"))
    await ctx.send(ctx.t("bot.start.choose_region"), await region_keyboard(ctx, 0, "start"))


async def region_page(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Turn the page of the city/county keyboard."""
    page = int_arg(args, "page")
    prefix = str_arg(args, "prefix", "start")
    await ctx.show(ctx.t("bot.start.choose_region"), await region_keyboard(ctx, page, prefix))


async def region_keyboard(ctx: Ctx, page: int, prefix: str) -> InlineKeyboardMarkup:
    """Return one page of the 31 cities/counties; buttons call ``<prefix>.region`` with the code."""
    regions = GYEONGGI.regions
    pages = page_count(len(regions), REGIONS_PER_PAGE)
    page %= pages
    shown = regions[page * REGIONS_PER_PAGE : (page + 1) * REGIONS_PER_PAGE]
    buttons = [Btn(ctx.t(r.name_key), f"{prefix}.region", {"region": r.code}) for r in shown]
    rows = grid(buttons, REGION_COLUMNS)
    rows.append(pager(page, pages, "start.regions", {"prefix": prefix}))
    return await inline(ctx, rows)


async def choose_region(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Register with the chosen city/county, show the menu, then open what the link pointed at."""
    data = ctx.data
    region = str(args.get("region") or "")
    if ctx.registered:  # a second tap on an older keyboard
        await ctx.reply("bot.start.welcome_back", await ctx.menu_markup())
        return
    if ctx.step != "start.region" or not data.get("consent"):
        await start(ctx, [])
        return
    await ctx.call(
        ctx.svc.register,
        ctx.user_id,
        region=region,
        consent_version=str(data["consent"]),
        locale=ctx.locale,
        request_id=ctx.request_id,
    )
    ctx.resident = await ctx.call(ctx.svc.resident, ctx.user_id)
    pending = str(data.get("pending") or "")
    pending_at = data.get("pending_at")
    await ctx.clear()
    await ctx.show(ctx.t("bot.start.region_chosen", region=ctx.t(f"participation.region.{region}")))
    await ctx.reply("bot.start.registered", await ctx.menu_markup())
    if pending:
        await handle_payload(ctx, pending, pending_at if isinstance(pending_at, int) else None)


def sent_at(ctx: Ctx) -> int | None:
    """Return when the person sent this message, as Telegram stamped it (epoch seconds)."""
    message = ctx.update.effective_message
    return int(message.date.timestamp()) if message is not None else None


async def handle_payload(ctx: Ctx, payload: str, scanned_at: int | None = None) -> None:
    """Open a shared proposal, or redeem a code from a QR sheet or an invitation.

    ``scanned_at``: when the person opened the link (the /start message's date); an on-site
    code is checked at that moment, so a check-in that waited in the queue, or while a
    newcomer agreed and chose a city, still counts (``rules.scan_time``).
    """
    if payload.startswith("p_"):
        from bot.browse import show_card

        await show_card(ctx, payload[2:], fresh=True)
        return
    if payload.startswith(CODE_PREFIXES):
        redeemed = await ctx.call(
            ctx.svc.redeem_code,
            ctx.user_id,
            payload,
            scanned_at=scanned_at,
            request_id=ctx.request_id,
        )
        follow_up = ctx.router.redeemers.get(redeemed.kind, joined)
        await follow_up(ctx, redeemed)
        return
    await ctx.reply("bot.start.unknown_link", await ctx.menu_markup())


async def enrolled(ctx: Ctx, redeemed: Redeemed) -> None:
    """Confirm that the account now holds its voter slot of the community."""
    await ctx.reply("bot.start.enrolled", await ctx.menu_markup())


async def joined(ctx: Ctx, redeemed: Redeemed) -> None:
    """Confirm a redeemed invitation or check-in (role screens register their own)."""
    await ctx.reply(f"bot.start.redeemed.{redeemed.kind}", await ctx.menu_markup())


async def press_a_button(ctx: Ctx, incoming: Incoming) -> None:
    """Typed while we wait for a button: point at the buttons again."""
    if ctx.step == "start.region":
        await ctx.send(ctx.t("bot.start.press_region"), await region_keyboard(ctx, 0, "start"))
    else:
        await ctx.reply("bot.privacy.press_button")
        await privacy_notice(ctx)


async def help_command(ctx: Ctx, args: list[str]) -> None:
    """/help: what the bot does and how to use it."""
    markup = await ctx.menu_markup() if ctx.registered else None
    await ctx.reply("bot.help", markup)


async def help_menu(ctx: Ctx) -> None:
    """The Help (doumal) menu button."""
    await help_command(ctx, [])


async def cancel(ctx: Ctx, args: list[str]) -> None:
    """/cancel at any step: end what is in progress, back to the menu.

    In the proposal flow that forgets the new proposal's draft; during an edit of a submitted
    proposal it ends the edit, and the new proposal's draft kept aside comes back (the person
    cancelled the edit, not that draft). Any other flow (an official's notice, a round...)
    ends alone: the resident's unfinished proposal stays for Propose to pick up.
    """
    if ctx.step.startswith(DRAFT_STEPS):
        kept = await finish_edit(ctx)
        note = "bot.submit.aside_kept"
    else:
        await ctx.clear()
        kept = bool(ctx.conversation.data.get("draft"))
        note = "bot.submit.draft_kept"
    if ctx.registered:
        text = ctx.t("bot.cancelled")
        if kept:
            text += "\n" + ctx.t(note)
        await ctx.send(text, await ctx.menu_markup())
    else:
        await ctx.reply("bot.cancelled_unregistered")


async def not_understood(ctx: Ctx) -> None:
    """Text with no step and no menu label: show the menu."""
    await ctx.reply("bot.not_understood", await ctx.menu_markup())
