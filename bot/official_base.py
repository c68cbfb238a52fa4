"""What every officials' screen shares: the role check, the round in the buttons, files."""

from __future__ import annotations

import io

from telegram import InputFile

from bot.keyboards import Btn
from bot.router import Ctx
from bot.router import str_arg
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.sheets import qr_png
from participation.views import RoundView


async def require_official(ctx: Ctx, *, admin: bool = False) -> str:
    """Return the person's official role.  Raises NotOfficial (checked on every update), or
    AdminOnly for a clerk when ``admin``: an admin-only screen refuses a clerk at its first
    step, not after they filled it in (the service checks again when it writes)."""
    role = await ctx.call(ctx.svc.official_role, ctx.user_id)
    if role is None:
        raise e.NotOfficial()
    if admin and role != "admin":
        raise e.AdminOnly()
    return role


async def admin_round(ctx: Ctx, args: dict[str, JSON] | None = None) -> RoundView | None:
    """Return the round named by the button (``r``), else the newest one not closed."""
    round_id = str_arg(args or {}, "r")
    if round_id:
        return await ctx.call(ctx.svc.round, round_id)
    rounds = await ctx.call(ctx.svc.rounds)
    return next((r for r in rounds if r.phase != "closed"), rounds[0] if rounds else None)


async def round_or_say(ctx: Ctx, args: dict[str, JSON], *, admin: bool = False) -> RoundView | None:
    """Check the role (``admin``: the admin role), return the round; with no round at all,
    say so and return None."""
    await require_official(ctx, admin=admin)
    rnd = await admin_round(ctx, args)
    if rnd is None:
        await ctx.reply("bot.admin.no_round")
    return rnd


def back_row(ctx: Ctx, rnd: RoundView | None) -> list[Btn]:
    """The ``◀ Admin menu`` row."""
    args: dict[str, JSON] = {"r": rnd.round_id} if rnd is not None else {}
    return [Btn(ctx.t("bot.admin.back"), "admin.menu", args)]


async def send_png(ctx: Ctx, png: bytes, caption: str, name: str) -> None:
    """Send PNG bytes as a photo."""
    await ctx.context.bot.send_photo(ctx.chat_id, InputFile(io.BytesIO(png), name), caption=caption)


async def send_file(ctx: Ctx, data: bytes, name: str, caption: str) -> None:
    """Send bytes as a document (PDF, CSV, XLSX)."""
    await ctx.context.bot.send_document(
        ctx.chat_id, InputFile(io.BytesIO(data), filename=name), caption=caption
    )


async def send_invite(ctx: Ctx, key: str, code: str, **params: object) -> None:
    """Send an invitation: the deep link in text and as a QR code to show or forward."""
    link = ctx.services.deep_link(code)
    await ctx.send(ctx.t(key, link=link, **params))
    await send_png(ctx, qr_png(link), ctx.t("bot.admin.invite_qr"), "invite.png")
