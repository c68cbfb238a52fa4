"""Officials in charge: the ``/admin`` menu, invitations, live figures and hiding a proposal.

Only officials see the menu, and every update is checked again on the server: read-only
screens call :func:`require_official`, every change goes through a service method that checks
the role itself and writes the ledger entry. The round an official works on rides in the
buttons' args (``r``), newest open round first, so nothing is remembered between updates.
The other officials' screens live in ``official_round`` (create, open, advance),
``official_judges`` (the panel, judge invitations, review group assignment),
``official_hall`` (enrollment sheets, on-site sessions, paper tallies), ``official_community``
(adding communities, one or from a file) and ``official_publish`` (results, broadcasts).
"""

from __future__ import annotations

from bot import official_community
from bot import official_hall
from bot import official_judges
from bot import official_publish
from bot import official_round
from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.official_base import admin_round
from bot.official_base import back_row
from bot.official_base import require_official
from bot.official_base import round_or_say
from bot.official_base import send_invite
from bot.render import card_text
from bot.router import Ctx
from bot.router import Incoming
from bot.router import Router
from bot.router import str_arg
from participation.domain.events import JSON
from participation.domain.round import REASON_CODES
from participation.domain.rules import OFFICIAL_ROLES
from participation.service import ParticipationService
from participation.views import Redeemed
from participation.views import RoundView

# (label, action, shown to a clerk): a clerk runs the hall (figures, on-site sessions, paper
# tallies); the rest needs the admin role, which the service checks again when it writes.
MENU: tuple[tuple[str, str, bool], ...] = (
    ("bot.admin.menu.new_round", "admin.new", False),
    ("bot.admin.menu.phase", "admin.phase", False),
    ("bot.admin.menu.figures", "admin.figures", True),
    ("bot.admin.menu.judges", "admin.judges", False),
    ("bot.admin.menu.officials", "admin.invite_official", False),
    ("bot.admin.menu.hide", "admin.hide", False),
    ("bot.admin.menu.enrollment", "admin.enrollment", False),
    ("bot.admin.menu.onsite", "admin.sessions", True),
    ("bot.admin.menu.paper", "admin.papers", True),
    ("bot.admin.menu.publish", "admin.publish", False),
    ("bot.admin.menu.broadcast", "admin.broadcast", False),
    ("bot.admin.menu.rounds", "admin.rounds", True),
)


def register(router: Router) -> None:
    """Register the officials' screens (this module and its five siblings)."""
    router.role("official")(lambda svc, user_id: svc.official_role(user_id) is not None)
    router.menu("bot.menu.admin", order=70, roles=("official",))(admin_menu)
    router.command("admin")(lambda ctx, args: admin_menu(ctx))
    router.redeemed("official")(joined)
    router.action("admin.menu")(menu_button)
    router.action("admin.rounds")(choose_round)
    router.action("admin.figures")(figures)
    router.action("admin.invite_official")(invite_official)
    router.action("admin.hide")(ask_hide_number)
    router.step("admin.hide_number")(hide_number)
    router.action("admin.hide_reason")(hide_reason)
    router.action("admin.hide_yes", consume=True)(hide)
    router.action("admin.restore_yes", consume=True)(restore)
    official_round.register(router)
    official_hall.register(router)
    official_community.register(router)
    official_judges.register(router)
    official_publish.register(router)


# --- the menu -----------------------------------------------------------------------------------
async def joined(ctx: Ctx, redeemed: Redeemed) -> None:
    """After ``/start o_...``: the role, the menu."""
    role = str(redeemed.detail.get("role") or "")
    await ctx.reply(
        "bot.admin.joined", await ctx.menu_markup(), role=ctx.t(f"participation.role.{role}")
    )
    await admin_menu(ctx)


async def admin_menu(ctx: Ctx) -> None:
    """/admin and the Admin menu button (officials only)."""
    role = await require_official(ctx)
    await show_menu(ctx, await admin_round(ctx), fresh=True, role=role)


async def menu_button(ctx: Ctx, args: dict[str, JSON]) -> None:
    """◀ Admin menu."""
    role = await require_official(ctx)
    await show_menu(ctx, await admin_round(ctx, args), fresh=False, role=role)


async def show_menu(ctx: Ctx, rnd: RoundView | None, *, fresh: bool, role: str) -> None:
    """The menu of what ``role`` may do in ``rnd``."""
    if rnd is None:
        head = ctx.t("bot.admin.head_none")
    else:
        phase = ctx.t(f"participation.phase.{rnd.phase}")
        head = ctx.t("bot.admin.head", round=rnd.title, phase=phase)
    args: dict[str, JSON] = {"r": rnd.round_id} if rnd is not None else {}
    admin = role == "admin"
    buttons = [Btn(ctx.t(key), action, args) for key, action, clerk in MENU if admin or clerk]
    markup = await inline(ctx, grid(buttons, 2))
    if fresh:
        await ctx.send(head, markup)
    else:
        await ctx.show(head, markup)


async def choose_round(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Other rounds: every round, to work on another one."""
    await require_official(ctx)
    rounds = await ctx.call(ctx.svc.rounds)
    buttons = [
        Btn(
            ctx.t(
                "bot.admin.round_button",
                round=r.title,
                phase=ctx.t(f"participation.phase.{r.phase}"),
            ),
            "admin.menu",
            {"r": r.round_id},
        )
        for r in rounds[:20]
    ]
    head = ctx.t("bot.admin.pick_round" if rounds else "bot.admin.no_round")
    rows = [*grid(buttons, 1), back_row(ctx, None)]
    await ctx.show(head, await inline(ctx, rows))


# --- live figures -------------------------------------------------------------------------------
async def figures(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Status: registrations, proposals, endorsements, judges' progress, on site, online."""
    rnd = await round_or_say(ctx, args)
    if rnd is None:
        return
    f, progress = await ctx.call(
        lambda: (ctx.svc.review_figures(rnd.round_id), ctx.svc.judge_progress(rnd.round_id))
    )
    counts = {k: f"{v:,}" for k, v in f.items()}
    lines = [ctx.t("bot.admin.figures", round=rnd.title, **counts)]
    if progress:
        lines.append(ctx.t("bot.admin.judges_head", count=len(progress)))
        for n, p in enumerate(progress, start=1):
            group = (
                ctx.t("bot.admin.group", group=p.group)
                if p.group
                else ctx.t("bot.admin.all_groups")
            )
            lines.append(
                ctx.t(
                    "bot.admin.judge_line",
                    n=n,
                    group=group,
                    done=p.scored + p.recused,
                    total=p.expected,
                    recused=p.recused,
                )
            )
    rows = [
        [Btn(ctx.t("bot.admin.refresh"), "admin.figures", {"r": rnd.round_id})],
        back_row(ctx, rnd),
    ]
    await ctx.show("\n".join(lines), await inline(ctx, rows))


# --- invitations (judges: official_judges) ---------------------------------------------------
async def invite_official(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Invite staff: choose the role, then a single-use link valid for a day."""
    await require_official(ctx, admin=True)
    role = str_arg(args, "role")
    if role not in OFFICIAL_ROLES:
        buttons = [
            Btn(ctx.t(f"participation.role.{r}"), "admin.invite_official", {**args, "role": r})
            for r in OFFICIAL_ROLES
        ]
        rows = [buttons, back_row(ctx, await admin_round(ctx, args))]
        await ctx.show(ctx.t("bot.admin.official_role"), await inline(ctx, rows))
        return
    code = await ctx.call(ctx.svc.invite_official, ctx.user_id, role=role)
    await send_invite(
        ctx, "bot.admin.official_invite", code, role=ctx.t(f"participation.role.{role}")
    )


# --- hiding a proposal --------------------------------------------------------------------------
async def ask_hide_number(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Hide a proposal: which proposal (its number)?"""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    await ctx.save("admin.hide_number", {"r": rnd.round_id})
    await ctx.reply("bot.admin.hide_ask")


async def hide_number(ctx: Ctx, incoming: Incoming) -> None:
    """The typed number: show the card and the reasons."""
    await require_official(ctx)
    round_id = str(ctx.conversation.data.get("r") or "")
    text = (incoming.text or "").strip().lstrip("#")
    if not text.isdecimal():  # isdigit() takes superscripts, which int() refuses
        await ctx.reply("bot.admin.number_needed")
        return
    proposal_id = await ctx.call(ctx.svc.proposal_by_number, round_id, int(text))
    card = await ctx.call(ctx.svc.proposal, proposal_id)
    await ctx.clear()
    back = back_row(ctx, await admin_round(ctx, {"r": round_id}))
    if card.hidden:
        why = ctx.t(f"participation.reason.{card.hide_reason}") if card.hide_reason else "-"
        rows = [[Btn(ctx.t("bot.admin.restore_yes"), "admin.restore_yes", {"p": proposal_id})]]
        text = (
            card_text(ctx, card, limit=2000) + "\n\n" + ctx.t("bot.admin.restore_ask", reason=why)
        )
        await ctx.send(text, await inline(ctx, [*rows, back]))
        return
    buttons = [
        Btn(
            ctx.t(f"participation.reason.{code}"),
            "admin.hide_reason",
            {"p": proposal_id, "why": code},
        )
        for code in REASON_CODES
    ]
    rows = [*grid(buttons, 2), back]
    text = card_text(ctx, card, limit=2000) + "\n\n" + ctx.t("bot.admin.hide_reason")
    await ctx.send(text, await inline(ctx, rows))


async def hide_reason(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A reason: confirm before hiding (the author is told why)."""
    await require_official(ctx)
    reason = ctx.t(f"participation.reason.{str_arg(args, 'why')}")
    rows = [
        [Btn(ctx.t("bot.admin.hide_yes"), "admin.hide_yes", args)],
        [Btn(ctx.t("bot.admin.cancel"), "admin.menu", {})],
    ]
    await ctx.show(ctx.t("bot.admin.hide_confirm", reason=reason), await inline(ctx, rows))


async def hide(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Confirmed: hide the proposal (a ledger entry; the author is notified)."""
    proposal_id, reason = str_arg(args, "p"), str_arg(args, "why")
    await ctx.call(
        ctx.svc.hide_proposal, ctx.user_id, proposal_id, reason, request_id=ctx.request_id
    )
    text = ctx.t("bot.admin.hidden", reason=ctx.t(f"participation.reason.{reason}"))
    if await ctx.call(_results_out, ctx.svc, proposal_id):  # the clock edits the channel posts
        text += "\n" + ctx.t("bot.admin.hidden_channel")
    await ctx.show(text)


def _results_out(svc: ParticipationService, proposal_id: str) -> bool:
    """Return whether the results of the proposal's round are published."""
    return svc.results(svc.proposal(proposal_id).round_id) is not None


async def restore(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Confirmed: show a hidden proposal again (a ledger entry; the author is notified)."""
    await require_official(ctx, admin=True)
    await ctx.call(
        ctx.svc.restore_proposal, ctx.user_id, str_arg(args, "p"), request_id=ctx.request_id
    )
    await ctx.show(ctx.t("bot.admin.restored"))
