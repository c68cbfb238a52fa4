"""The officials' judges screen: who joined the panel, invitations, review group assignment.

Judges are shown as the figures screen shows them, 'judge <n>' (bot.admin.judges.line),
numbered in the order they joined, with the time they joined and their group; never by
Telegram id or name. A judge rides in the buttons' args by their round pseudonym, and the
move goes through ``ParticipationService.assign_judge`` (admins only; it writes the
``judge.assigned`` entry).
Scores already given stay and count; the confirmation says so before the move.
"""

from __future__ import annotations

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.official_base import back_row
from bot.official_base import round_or_say
from bot.official_base import send_invite
from bot.router import Ctx
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from i18n.format import format_datetime
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.views import JudgeProgress
from participation.views import RoundView

OVER = ("results", "closed")  # phases where the service refuses a move


def register(router: Router) -> None:
    """Register the judges screen, the invitation and the group assignment."""
    router.action("admin.judges")(judges)
    router.action("admin.invite_judge")(invite_judge)
    router.action("admin.assign")(pick_judge)
    router.action("admin.assign_group")(pick_group)
    router.action("admin.assign_confirm")(confirm)
    router.action("admin.assign_yes", consume=True)(assign)


def group_name(ctx: Ctx, group: int | None) -> str:
    return ctx.t("bot.admin.group", group=group) if group else ctx.t("bot.admin.all_groups")


def judge_line(ctx: Ctx, n: int, judge: JudgeProgress) -> str:
    joined = format_datetime(judge.joined_at, ctx.locale)
    return ctx.t("bot.admin.judges.line", n=n, group=group_name(ctx, judge.group), joined=joined)


def judges_row(ctx: Ctx, rnd: RoundView) -> list[Btn]:
    """The ``◀ Judges`` row."""
    return [Btn(ctx.t("bot.admin.judges.back"), "admin.judges", {"r": rnd.round_id})]


async def panel(ctx: Ctx, args: dict[str, JSON]) -> tuple[RoundView, list[JudgeProgress]] | None:
    """Check the admin role; return the round and its judges in the order they joined."""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return None
    return rnd, await ctx.call(ctx.svc.judge_progress, rnd.round_id)


async def judges(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Judges: who joined (number, when, group), invite one, assign groups."""
    found = await panel(ctx, args)
    if found is None:
        return
    rnd, panel_ = found
    if panel_:
        lines = [ctx.t("bot.admin.judges.head", round=rnd.title, count=len(panel_))]
        lines += [judge_line(ctx, n, j) for n, j in enumerate(panel_, start=1)]
    else:
        lines = [ctx.t("bot.admin.judges.none", round=rnd.title)]
    if not rnd.groups and rnd.rules.review_group_size and rnd.phase not in OVER:
        lines.append(ctx.t("bot.admin.judges.no_groups"))
    r = {"r": rnd.round_id}
    rows = [[Btn(ctx.t("bot.admin.judges.invite"), "admin.invite_judge", r)]]
    if rnd.groups and panel_ and rnd.phase not in OVER:
        rows.append([Btn(ctx.t("bot.admin.judges.assign"), "admin.assign", r)])
    rows.append(back_row(ctx, rnd))
    await ctx.show("\n".join(lines), await inline(ctx, rows))


async def invite_judge(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Invite judges: for one review group (when the round has groups) or for all."""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    if "g" not in args and rnd.groups:
        r = {"r": rnd.round_id}
        buttons = [Btn(ctx.t("bot.admin.all_groups"), "admin.invite_judge", {**r, "g": 0})]
        buttons += [
            Btn(group_name(ctx, g), "admin.invite_judge", {**r, "g": g})
            for g in range(1, len(rnd.groups) + 1)
        ]
        rows = [*grid(buttons, 4), judges_row(ctx, rnd)]
        await ctx.show(ctx.t("bot.admin.judge_group"), await inline(ctx, rows))
        return
    group = int_arg(args, "g") or None
    code = await ctx.call(ctx.svc.invite_judge, ctx.user_id, rnd.round_id, group=group)
    where = group_name(ctx, group)
    await send_invite(ctx, "bot.admin.judge_invite", code, round=rnd.title, group=where)


async def pick_judge(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Assign groups, step 1: which judge."""
    found = await panel(ctx, args)
    if found is None:
        return
    rnd, panel_ = found
    lines = [ctx.t("bot.admin.assign.pick")]
    lines += [judge_line(ctx, n, j) for n, j in enumerate(panel_, start=1)]
    buttons = [
        Btn(
            ctx.t("bot.admin.assign.judge", n=n, group=group_name(ctx, j.group)),
            "admin.assign_group",
            {"r": rnd.round_id, "j": j.judge},
        )
        for n, j in enumerate(panel_, start=1)
    ]
    rows = [*grid(buttons, 2), judges_row(ctx, rnd)]
    await ctx.show("\n".join(lines), await inline(ctx, rows))


async def one_judge(ctx: Ctx, args: dict[str, JSON]) -> tuple[RoundView, int, JudgeProgress] | None:
    """The round, the judge's number and progress named by ``j``.  Raises NotJudge."""
    found = await panel(ctx, args)
    if found is None:
        return None
    rnd, panel_ = found
    pseudonym = str_arg(args, "j")
    for n, j in enumerate(panel_, start=1):
        if j.judge == pseudonym:
            return rnd, n, j
    raise e.NotJudge()


async def pick_group(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Assign groups, step 2: which group (the judge's own is left out)."""
    found = await one_judge(ctx, args)
    if found is None:
        return
    rnd, n, judge = found
    base = {"r": rnd.round_id, "j": judge.judge, "from": judge.group or 0}
    choices = [g for g in range(1, len(rnd.groups) + 1) if g != judge.group]
    buttons = [Btn(group_name(ctx, g), "admin.assign_confirm", {**base, "g": g}) for g in choices]
    if judge.group is not None:
        buttons.append(Btn(ctx.t("bot.admin.all_groups"), "admin.assign_confirm", {**base, "g": 0}))
    back = [Btn(ctx.t("bot.admin.assign.back"), "admin.assign", {"r": rnd.round_id})]
    rows = [*grid(buttons, 4), back]
    text = ctx.t("bot.admin.assign.group", n=n, group=group_name(ctx, judge.group))
    await ctx.show(text, await inline(ctx, rows))


def score_note(ctx: Ctx, judge: JudgeProgress, group: int | None) -> str:
    """What becomes of the judge's scores: they all stay and count; those outside ``group``
    can no longer be seen or changed by the judge."""
    given = sum(judge.scored_groups.values())
    if not given:
        return ctx.t("bot.admin.assign.no_scores")
    note = ctx.t("bot.admin.assign.scores_kept", count=given)
    outside = 0 if group is None else given - judge.scored_groups.get(group, 0)
    if outside:
        note += " " + ctx.t("bot.admin.assign.scores_frozen", count=outside)
    return note


async def confirm(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Assign groups, step 3: say what the move does, then ask."""
    found = await one_judge(ctx, args)
    if found is None:
        return
    rnd, n, judge = found
    group = int_arg(args, "g") or None
    old, new = group_name(ctx, judge.group), group_name(ctx, group)
    key = "bot.admin.assign.confirm_all" if group is None else "bot.admin.assign.confirm"
    text = ctx.t(key, n=n, old=old, new=new) + "\n\n" + score_note(ctx, judge, group)
    rows = [
        [Btn(ctx.t("bot.admin.assign.yes"), "admin.assign_yes", args)],
        [Btn(ctx.t("bot.admin.cancel"), "admin.judges", {"r": rnd.round_id})],
    ]
    await ctx.show(text, await inline(ctx, rows))


async def assign(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Confirmed: move the judge (one ``judge.assigned`` entry; the service checks the role)."""
    found = await one_judge(ctx, args)
    if found is None:
        return
    rnd, n, judge = found
    group = int_arg(args, "g") or None
    rows = [judges_row(ctx, rnd), back_row(ctx, rnd)]
    try:  # the group the official saw is checked under the writer's lock; this very request
        # redelivered gets its first outcome from the service, not the refusal
        await ctx.call(
            ctx.svc.assign_judge,
            ctx.user_id,
            rnd.round_id,
            judge.judge,
            group,
            from_group=int_arg(args, "from") or None,
            request_id=ctx.request_id,
        )
    except e.JudgeMoved as moved:  # another official moved them meanwhile
        now = moved.params.get("group")
        where = group_name(ctx, now if isinstance(now, int) else None)
        text = ctx.t("bot.admin.assign.moved", n=n, group=where)
        await ctx.show(text, await inline(ctx, rows))
        return
    text = ctx.t("bot.admin.assign.done", n=n, group=group_name(ctx, group))
    await ctx.show(text, await inline(ctx, rows))
