"""My activity: my proposals and endorsements, and receipts that verify against the ledger."""

from __future__ import annotations

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.render import receipt_text
from bot.render import short
from bot.render import status_of
from bot.render import title_of
from bot.router import Ctx
from bot.router import Router
from participation.domain.events import JSON
from participation.views import ProposalCard

SHOWN = 10  # items per section; older ones stay reachable through the list
RECEIPTS_SHOWN = 8


def register(router: Router) -> None:
    """Register the activity and receipt screens."""
    router.menu("bot.menu.activity", order=30)(activity)
    router.menu("bot.menu.receipts", order=40)(receipts)
    router.command("receipts")(lambda ctx, args: receipts(ctx))
    router.command("verify")(lambda ctx, args: receipts(ctx))
    router.action("activity.withdraw", consume=True)(withdraw_proposal)


def line(ctx: Ctx, card: ProposalCard) -> str:
    return ctx.t(
        "bot.activity.line",
        number=card.number,
        title=short(title_of(ctx, card), 40),
        status=status_of(ctx, card),
        endorsements=card.endorsements,
    )


async def activity(ctx: Ctx) -> None:
    """My proposals with their status, and the proposals I endorsed."""
    mine, endorsed = await ctx.call(
        lambda: (ctx.svc.my_proposals(ctx.user_id), ctx.svc.my_endorsements(ctx.user_id))
    )
    parts = [ctx.t("bot.activity.mine_head", count=len(mine))]
    parts += [line(ctx, c) for c in mine[:SHOWN]] or [ctx.t("bot.activity.mine_none")]
    parts += ["", ctx.t("bot.activity.endorsed_head", count=len(endorsed))]
    parts += [line(ctx, c) for c in endorsed[:SHOWN]] or [ctx.t("bot.activity.endorsed_none")]
    buttons = [
        Btn(f"#{c.number}", "browse.card", {"proposal": c.proposal_id})
        for c in [*mine[:SHOWN], *endorsed[:SHOWN]]
    ]
    rows = grid(list({b.args["proposal"]: b for b in buttons}.values()), 5)
    await ctx.send("\n".join(parts), await inline(ctx, rows) if rows else None)


async def withdraw_proposal(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Withdraw my proposal (before the submission deadline; the service decides)."""
    proposal_id = str(args.get("proposal") or "")
    await ctx.call(ctx.svc.withdraw_proposal, ctx.user_id, proposal_id, request_id=ctx.request_id)
    await ctx.reply("bot.activity.withdrawn")


async def receipts(ctx: Ctx) -> None:
    """Every action of mine as a receipt, each with a /verify link."""
    views = await ctx.call(ctx.svc.my_receipts, ctx.user_id, limit=RECEIPTS_SHOWN)
    if not views:
        await ctx.reply("bot.receipts.none")
        return
    blocks = await ctx.call(lambda: [ctx.services.block_of(v.index) for v in views])
    parts = [ctx.t("bot.receipts.head")]
    buttons = []
    for view, block in zip(views, blocks, strict=True):
        parts.append(receipt_text(ctx, view, block))
        url = ctx.services.verify_url(view.index, view.leaf_hash, block)
        buttons.append(Btn(ctx.t("bot.receipts.verify", index=view.index), url=url))
    parts.append(ctx.t("bot.receipts.how"))
    await ctx.send("\n\n".join(parts), await inline(ctx, grid(buttons, 2)))
