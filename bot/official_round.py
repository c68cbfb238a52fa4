"""Officials: create a round step by step, open it, move it through its phases.

Creation asks title → fields (toggles) → total budget → weights → deadlines, each with the
defaults of ``RoundRules`` one tap away, then shows the rules and creates the round as a
draft (the TOML file and ``python -m gateway round create FILE`` are the other way, for the
options not asked here). Opening and every phase move ask for a confirmation first; entering
the review with review groups configured offers to form the groups.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.official_base import back_row
from bot.official_base import require_official
from bot.official_base import round_or_say
from bot.render import amount
from bot.render import category_name
from bot.render import when
from bot.router import Ctx
from bot.router import Incoming
from bot.router import Router
from bot.router import str_arg
from i18n.format import parse_amount
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.domain.round import DEFAULT_CATEGORIES
from participation.domain.round import Deadlines
from participation.domain.round import RoundRules
from participation.domain.round import Weights
from participation.domain.rules import NEXT_PHASE
from participation.domain.rules import advance_waits

KST = dt.timezone(dt.timedelta(hours=9))
WEIGHT_PRESETS: tuple[tuple[int, int, int], ...] = ((50, 30, 20), (40, 30, 30), (60, 20, 20))
DEFAULT_WEEKS = (2, 1, 1)  # submission, endorsement, review: weeks each, ending 18:00 KST
# Year first, then month and day, with one separator throughout (2026-12-21, 2026.12.21,
# 2026. 12. 21., 2026/12/21); day-first or two-digit years stay refused as ambiguous.
DATETIME = re.compile(
    r"(?<!\d)(\d{4})\s*([-./])\s*(\d{1,2})\s*\2\s*(\d{1,2})\.?(?:\s+|T)(\d{1,2}):(\d{2})(?!\d)"
)
DEFAULT_RULES = RoundRules(  # the defaults offered at each step
    title="x", deadlines=Deadlines(submission_ends=0, endorsement_ends=0, review_ends=0)
)
DEFAULT_BUDGET = DEFAULT_RULES.budget_cap


def register(router: Router) -> None:
    """Register the round screens."""
    router.action("admin.new")(begin)
    router.step("admin.new.title")(title)
    router.action("admin.new.category")(toggle_category)
    router.action("admin.new.categories_done")(categories_done)
    router.step("admin.new.budget")(budget)
    router.action("admin.new.budget_default")(budget_default)
    router.step("admin.new.weights")(typed_weights)
    router.action("admin.new.weights")(weights)
    router.step("admin.new.deadlines")(typed_deadlines)
    router.action("admin.new.deadlines_default")(deadlines_default)
    router.action("admin.new.create", consume=True)(create)
    router.action("admin.phase")(phase_menu)
    router.action("admin.phase_yes", consume=True)(advance)
    router.action("admin.groups", consume=True)(form_groups)


def draft(ctx: Ctx) -> dict[str, JSON]:
    found = ctx.conversation.data.get("new")
    return dict(found) if isinstance(found, dict) else {}


async def store(ctx: Ctx, step: str, new: dict[str, JSON]) -> None:
    await ctx.save(step, {"new": new})


async def begin(ctx: Ctx, args: dict[str, JSON]) -> None:
    """New round: ask the title (or point to the TOML way)."""
    await require_official(ctx, admin=True)
    await store(ctx, "admin.new.title", {})
    await ctx.reply("bot.admin.new.ask_title")


async def title(ctx: Ctx, incoming: Incoming) -> None:
    """The title: 1-100 characters."""
    text = (incoming.text or "").strip()
    if not 1 <= len(text) <= 100:
        await ctx.reply("bot.admin.new.title_invalid")
        if text:
            await ctx.refused_long()
        return
    await store(
        ctx, "admin.new.categories", {"title": text, "categories": list(DEFAULT_CATEGORIES)}
    )
    await show_categories(ctx, fresh=True)


async def show_categories(ctx: Ctx, *, fresh: bool) -> None:
    chosen = draft(ctx).get("categories") or []
    assert isinstance(chosen, list)
    buttons = [
        Btn(("✓ " if c in chosen else "") + category_name(ctx, c), "admin.new.category", {"c": c})
        for c in DEFAULT_CATEGORIES
    ]
    rows = [*grid(buttons, 2), [Btn(ctx.t("bot.admin.new.next"), "admin.new.categories_done")]]
    text, markup = ctx.t("bot.admin.new.ask_categories"), await inline(ctx, rows)
    if fresh:
        await ctx.send(text, markup)
    else:
        await ctx.show(text, markup)


async def toggle_category(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A field toggle."""
    new = draft(ctx)
    if ctx.step != "admin.new.categories":
        raise e.ButtonExpired()
    raw = new.get("categories")
    chosen = [c for c in raw if isinstance(c, str)] if isinstance(raw, list) else []
    code = str_arg(args, "c")
    new["categories"] = [c for c in DEFAULT_CATEGORIES if (c in chosen) != (c == code)]
    await store(ctx, "admin.new.categories", new)
    await show_categories(ctx, fresh=False)


async def categories_done(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Next: at least one field, then the budget."""
    new = draft(ctx)
    if ctx.step != "admin.new.categories":
        raise e.ButtonExpired()
    if not new.get("categories"):
        await ctx.answer(ctx.t("bot.admin.new.need_category"), alert=True)
        return
    await store(ctx, "admin.new.budget", new)
    keep = [
        [
            Btn(
                ctx.t("bot.admin.new.use_default", value=amount(ctx, DEFAULT_BUDGET)),
                "admin.new.budget_default",
            )
        ]
    ]
    await ctx.send(ctx.t("bot.admin.new.ask_budget"), await inline(ctx, keep))


async def budget(ctx: Ctx, incoming: Incoming) -> None:
    """The total budget, e.g. 3.1 billion won in the Korean eok unit or ``3,100,000,000``."""
    try:
        won = parse_amount(incoming.text or "")
    except ValueError:
        await ctx.reply("bot.admin.new.budget_invalid")
        return
    if won <= 0:
        await ctx.reply("bot.admin.new.budget_zero")  # read, but no budget
        return
    await ask_weights(ctx, won)


async def budget_default(ctx: Ctx, args: dict[str, JSON]) -> None:
    if ctx.step != "admin.new.budget":
        raise e.ButtonExpired()
    await ask_weights(ctx, DEFAULT_BUDGET)


async def ask_weights(ctx: Ctx, won: int) -> None:
    new = draft(ctx)
    new["budget"] = won
    await store(ctx, "admin.new.weights", new)
    buttons = [
        Btn(
            ctx.t("bot.admin.new.weights_button", judges=j, onsite=o, online=n),
            "admin.new.weights",
            {"w": [j, o, n]},
        )
        for j, o, n in WEIGHT_PRESETS
    ]
    await ctx.send(ctx.t("bot.admin.new.ask_weights"), await inline(ctx, grid(buttons, 1)))


async def typed_weights(ctx: Ctx, incoming: Incoming) -> None:
    """Weights typed as three numbers summing to 100, e.g. ``50 30 20``."""
    numbers = [int(n) for n in re.findall(r"\d+", incoming.text or "")]
    if len(numbers) != 3 or sum(numbers) != 100:
        await ctx.reply("bot.admin.new.weights_invalid")
        return
    await ask_deadlines(ctx, numbers)


async def weights(ctx: Ctx, args: dict[str, JSON]) -> None:
    if ctx.step != "admin.new.weights":
        raise e.ButtonExpired()
    chosen = ints(args.get("w"))
    await ask_deadlines(ctx, chosen if len(chosen) == 3 else [50, 30, 20])


async def ask_deadlines(ctx: Ctx, w: list[int]) -> None:
    new = draft(ctx)
    new["weights"] = list(w)
    await store(ctx, "admin.new.deadlines", new)
    ends = default_deadlines(ctx.services.clock())
    keep = [[Btn(ctx.t("bot.admin.new.deadlines_default"), "admin.new.deadlines_default")]]
    await ctx.send(
        ctx.t("bot.admin.new.ask_deadlines", **{k: when(ctx, v) for k, v in ends.items()}),
        await inline(ctx, keep),
    )


def default_deadlines(now: dt.datetime) -> dict[str, int]:
    """Return the default schedule: 2, 1 and 1 weeks from today, each ending 18:00 KST."""
    day = now.astimezone(KST).replace(hour=18, minute=0, second=0, microsecond=0)
    out, at = {}, day
    for name, weeks in zip(("submission", "endorsement", "review"), DEFAULT_WEEKS, strict=True):
        at += dt.timedelta(weeks=weeks)
        out[name] = int(at.timestamp())
    return out


def kst(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    """Return a Korea-time instant.  Raises ValueError for a date that does not exist."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=KST)


async def typed_deadlines(ctx: Ctx, incoming: Incoming) -> None:
    """Three KST date-times ``YYYY-MM-DD HH:MM``, in phase order."""
    found = DATETIME.findall(incoming.text or "")
    try:
        ends = [int(kst(*map(int, (y, mo, d, h, mi))).timestamp()) for y, _, mo, d, h, mi in found]
    except ValueError:
        ends = []
    if len(ends) != 3 or not ends[0] <= ends[1] <= ends[2]:
        await ctx.reply("bot.admin.new.deadlines_invalid")
        return
    if ends[0] <= ctx.services.clock().timestamp():
        await ctx.reply("bot.admin.new.deadlines_past")
        return
    await preview(ctx, dict(zip(("submission", "endorsement", "review"), ends, strict=True)))


async def deadlines_default(ctx: Ctx, args: dict[str, JSON]) -> None:
    if ctx.step != "admin.new.deadlines":
        raise e.ButtonExpired()
    await preview(ctx, default_deadlines(ctx.services.clock()))


def ints(value: JSON) -> list[int]:
    """Return the integers of a stored list (the draft is JSON)."""
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


def rules_of(new: dict[str, JSON]) -> RoundRules:
    """Build (and validate) the rules of the draft.  Raises InvalidRules."""
    judges, onsite, online = ints(new.get("weights"))
    d = new.get("deadlines")
    ends = ints(
        [d.get(k) for k in ("submission", "endorsement", "review")] if isinstance(d, dict) else []
    )
    budget_cap = ints([new.get("budget")])[0]
    raw = new.get("categories")
    categories = tuple(c for c in raw if isinstance(c, str)) if isinstance(raw, list) else ()
    rules = RoundRules(
        title=str(new.get("title")),
        categories=categories,
        budget_cap=budget_cap,
        max_request=min(DEFAULT_RULES.max_request, budget_cap),
        weights=Weights(judges=judges, onsite=onsite, online=online),
        deadlines=Deadlines(submission_ends=ends[0], endorsement_ends=ends[1], review_ends=ends[2]),
    )
    rules.validate()
    return rules


async def preview(ctx: Ctx, ends: dict[str, int]) -> None:
    """Show the rules with Create / Cancel."""
    new = draft(ctx)
    new["deadlines"] = dict(ends)
    rules = rules_of(new)
    await store(ctx, "admin.new.preview", new)
    text = ctx.t(
        "bot.admin.new.preview",
        title=rules.title,
        categories=", ".join(category_name(ctx, c) for c in rules.categories),
        budget=amount(ctx, rules.budget_cap),
        max_request=amount(ctx, rules.max_request),
        judges=rules.weights.judges,
        onsite=rules.weights.onsite,
        online=rules.weights.online,
        submission=when(ctx, rules.deadlines.submission_ends),
        endorsement=when(ctx, rules.deadlines.endorsement_ends),
        review=when(ctx, rules.deadlines.review_ends),
    )
    rows = [
        [Btn(ctx.t("bot.admin.new.create"), "admin.new.create")],
        [Btn(ctx.t("bot.admin.cancel"), "admin.menu", {})],
    ]
    await ctx.send(text, await inline(ctx, rows))


async def create(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Create: the round is created as a draft; opening it is the next, confirmed, step."""
    if ctx.step != "admin.new.preview":
        raise e.ButtonExpired()
    rules = rules_of(draft(ctx))
    rnd = await ctx.call(ctx.svc.create_round, ctx.user_id, rules, request_id=ctx.request_id)
    await ctx.clear()
    rows = [
        [
            Btn(
                ctx.t("bot.admin.phase_to", phase=ctx.t("participation.phase.submission")),
                "admin.phase",
                {"r": rnd.round_id},
            )
        ]
    ]
    await ctx.show(ctx.t("bot.admin.new.created", round=rnd.title), await inline(ctx, rows))


# --- phases -----------------------------------------------------------------------------------
async def phase_menu(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Advance phase: where the round is, and a confirmation to move it on."""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    target = NEXT_PHASE.get(rnd.phase)
    now_phase = ctx.t(f"participation.phase.{rnd.phase}")
    rows: list[list[Btn]] = []
    until = advance_waits(rnd.deadline, int(ctx.services.clock().timestamp()))
    if rnd.deadline is not None and until is not None:
        # The clock moves it once what was received before the deadline is applied; the
        # service refuses the move meanwhile (AdvancePending): say so before any press.
        text = ctx.refusal(e.AdvancePending(deadline=rnd.deadline, by=until))
        rows.append(refresh_row(ctx, rnd.round_id))
    elif target is None:
        text = ctx.t("bot.admin.phase_last", round=rnd.title, phase=now_phase)
    elif rnd.phase == "results" and not rnd.results_published:
        # The service refuses the move (ResultsNotPublished): say so before any press.
        text = ctx.t("participation.error.results_unpublished", round=rnd.title)
        rows.append([Btn(ctx.t("bot.admin.menu.publish"), "admin.publish", {"r": rnd.round_id})])
    else:
        key = "bot.admin.phase_confirm" if rnd.deadline else "bot.admin.phase_confirm_open"
        text = ctx.t(
            key,
            round=rnd.title,
            phase=now_phase,
            deadline=when(ctx, rnd.deadline) if rnd.deadline else "",
            target=ctx.t(f"participation.phase.{target}"),
        )
        rows.append(
            [
                Btn(
                    ctx.t("bot.admin.phase_yes"),
                    "admin.phase_yes",
                    {"r": rnd.round_id, "from": rnd.phase},
                )
            ]
        )
    rows.append(back_row(ctx, rnd))
    await ctx.show(text, await inline(ctx, rows))


async def advance(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Confirmed: open the draft, or move to the next phase (the service checks the role).

    A move waits, up to ``ADVANCE_QUEUE_WAIT_S``, for the actions received before the press
    that are still in the queue (``extra["inbox_earlier"]``, wired by the gateway): they are
    judged at the moment they were received, in the phase they were sent in, and the move
    would refuse them. When they are not applied by then, the official is asked to press
    again and nothing moves.
    """
    round_id = str_arg(args, "r")
    rnd = await ctx.call(ctx.svc.round, round_id)
    if rnd.phase != str_arg(args, "from"):  # someone else moved it since the confirmation
        raise e.PhaseClosed(phase=rnd.phase, action="advance")
    if rnd.phase != "draft" and not await earlier_applied(ctx):
        await ctx.show(
            ctx.t("bot.admin.advance_queued"), await inline(ctx, [refresh_row(ctx, round_id)])
        )
        return
    if rnd.phase == "draft":
        await ctx.call(ctx.svc.open_round, ctx.user_id, round_id, request_id=ctx.request_id)
    else:
        try:
            await ctx.call(ctx.svc.advance_round, ctx.user_id, round_id,
                           request_id=ctx.request_id)  # fmt: skip
        except e.AdvancePending as err:  # a confirmation drawn before the deadline
            await ctx.show(ctx.refusal(err), await inline(ctx, [refresh_row(ctx, round_id)]))
            return
    rnd = await ctx.call(ctx.svc.round, round_id)
    rows: list[list[Btn]] = []
    if rnd.phase == "review" and rnd.rules.review_group_size and not rnd.groups:
        rows.append([Btn(ctx.t("bot.admin.form_groups"), "admin.groups", {"r": round_id})])
    rows.append(back_row(ctx, rnd))
    text = ctx.t(
        "bot.admin.phase_done", round=rnd.title, phase=ctx.t(f"participation.phase.{rnd.phase}")
    )
    await ctx.show(text, await inline(ctx, rows))


def refresh_row(ctx: Ctx, round_id: str) -> list[Btn]:
    """The phase screen's refresh button, where a move has to wait."""
    return [Btn(ctx.t("bot.admin.refresh"), "admin.phase", {"r": round_id})]


ADVANCE_QUEUE_WAIT_S = 10.0
ADVANCE_QUEUE_POLL_S = 0.2


async def earlier_applied(ctx: Ctx) -> bool:
    """Wait until no action received before this update is left in the queue; return
    whether that came within ``ADVANCE_QUEUE_WAIT_S`` (True at once without the gateway)."""
    earlier = ctx.services.extra.get("inbox_earlier")
    if earlier is None:
        return True
    waited = 0.0
    while await earlier():
        if waited >= ADVANCE_QUEUE_WAIT_S:
            return False
        await asyncio.sleep(ADVANCE_QUEUE_POLL_S)
        waited += ADVANCE_QUEUE_POLL_S
    return True


async def form_groups(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Form review groups (jo): split the shortlist into review groups (a ledger entry)."""
    round_id = str_arg(args, "r")
    groups = await ctx.call(ctx.svc.form_review_groups, ctx.user_id, round_id)
    await ctx.show(ctx.t("bot.admin.groups_formed", count=len(groups)))
