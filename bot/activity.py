"""My activity: my proposals and endorsements, and receipts that verify against the ledger.

A proposal of mine that can still be changed (its round taking proposals, before the
deadline, not withdrawn or hidden) gets a row of Edit (:func:`bot.submit.edit`) and
Withdraw (asked once more before it is done). The buttons are only offered from what the cards
and the round show; the service decides again on every press.
"""

from __future__ import annotations

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.render import receipt_text
from bot.render import short
from bot.render import status_of
from bot.render import title_of
from bot.render import when
from bot.router import Ctx
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from participation.domain.events import JSON
from participation.views import ProposalCard
from participation.views import RoundView

SHOWN = 10  # items per section; older ones stay reachable through the list
RECEIPTS_SHOWN = 8


def register(router: Router) -> None:
    """Register the activity and receipt screens."""
    router.menu("bot.menu.activity", order=30)(activity)
    router.menu("bot.menu.receipts", order=40)(receipts)
    router.command("receipts")(lambda ctx, args: receipts(ctx))
    router.command("verify")(lambda ctx, args: receipts(ctx))
    router.action("activity.withdraw")(ask_withdraw)
    router.action("activity.withdraw_yes", consume=True)(withdraw_proposal)
    router.action("activity.withdraw_no")(keep_proposal)


def line(ctx: Ctx, card: ProposalCard) -> str:
    return ctx.t(
        "bot.activity.line",
        number=card.number,
        title=short(title_of(ctx, card), 40),
        status=status_of(ctx, card),
        endorsements=card.endorsements,
    )


def changeable(card: ProposalCard, rnd: RoundView | None, now: int) -> bool:
    """Return whether to offer Edit/Withdraw for my ``card`` (the service has the last word)."""
    if card.status != "submitted" or card.hidden or card.title is None or rnd is None:
        return False
    deadline = rnd.deadline
    return rnd.phase == "submission" and (deadline is None or now < deadline)


async def activity(ctx: Ctx) -> None:
    """My proposals with their status, and the proposals I endorsed."""
    svc, uid = ctx.svc, ctx.user_id

    def load() -> tuple[list[ProposalCard], list[ProposalCard], dict[str, RoundView]]:
        mine, endorsed = svc.my_proposals(uid), svc.my_endorsements(uid)
        live = {c.round_id for c in mine[:SHOWN] if c.status == "submitted"}
        return mine, endorsed, {r: svc.round(r) for r in live}

    mine, endorsed, rounds = await ctx.call(load)
    now = int(ctx.services.clock().timestamp())
    open_ = [c for c in mine[:SHOWN] if changeable(c, rounds.get(c.round_id), now)]
    parts = [ctx.t("bot.activity.mine_head", count=len(mine))]
    parts += [line(ctx, c) for c in mine[:SHOWN]] or [ctx.t("bot.activity.mine_none")]
    deadlines = [d for c in open_ if (d := rounds[c.round_id].deadline) is not None]
    if deadlines:
        parts.append(ctx.t("bot.activity.change_until", deadline=when(ctx, min(deadlines))))
    parts += ["", ctx.t("bot.activity.endorsed_head", count=len(endorsed))]
    parts += [line(ctx, c) for c in endorsed[:SHOWN]] or [ctx.t("bot.activity.endorsed_none")]
    buttons = [
        Btn(f"#{c.number}", "browse.card", {"proposal": c.proposal_id})
        for c in [*mine[:SHOWN], *endorsed[:SHOWN]]
    ]
    rows = grid(list({b.args["proposal"]: b for b in buttons}.values()), 5)
    rows += [change_row(ctx, c) for c in open_]
    await ctx.send("\n".join(parts), await inline(ctx, rows) if rows else None)


def change_row(ctx: Ctx, card: ProposalCard) -> list[Btn]:
    """Return the Edit / Withdraw buttons of one of my proposals."""
    args: dict[str, JSON] = {"proposal": card.proposal_id}
    return [
        Btn(ctx.t("bot.activity.edit", number=card.number), "submit.edit", args),
        Btn(ctx.t("bot.activity.withdraw", number=card.number), "activity.withdraw", args),
    ]


async def ask_withdraw(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Withdraw: ask once more (a stale press after the deadline or a withdrawal is refused)."""
    card = await ctx.call(ctx.svc.proposal_to_change, ctx.user_id, str_arg(args, "proposal"))
    where: dict[str, JSON] = {"proposal": card.proposal_id, "number": card.number}
    rows = [
        [
            Btn(ctx.t("bot.activity.withdraw_yes"), "activity.withdraw_yes", where),
            Btn(ctx.t("bot.activity.withdraw_no"), "activity.withdraw_no", where),
        ]
    ]
    text = ctx.t(
        "bot.activity.withdraw_confirm", number=card.number, title=short(title_of(ctx, card), 40)
    )
    await ctx.send(text, await inline(ctx, rows))


async def withdraw_proposal(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Confirmed: withdraw my proposal (single-use button, idempotent per update)."""
    proposal_id = str_arg(args, "proposal")
    await ctx.call(ctx.svc.withdraw_proposal, ctx.user_id, proposal_id, request_id=ctx.request_id)
    await ctx.show(ctx.t("bot.activity.withdrawn", number=int_arg(args, "number")))


async def keep_proposal(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Keep it: nothing changes; say so in place of the question."""
    await ctx.show(ctx.t("bot.activity.withdraw_kept", number=int_arg(args, "number")))


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
        url = ctx.services.verify_url(view.index, view.leaf_hash, block, ctx.locale)
        buttons.append(Btn(ctx.t("bot.receipts.verify", index=view.index), url=url))
    parts.append(ctx.t("bot.receipts.how"))
    await ctx.send("\n\n".join(parts), await inline(ctx, grid(buttons, 2)))
