"""Judges: join through ``/start j_...``, score the assigned proposals one card at a time.

A card shows the progress ("7 of 12"), the proposal, and one row of 1-5 buttons per
criterion. A judge's scores are saved when every criterion has one (the service takes them
together); until then the criteria chosen so far ride in the buttons' server-side args, so
any worker can take the next tap. Scores can be changed until the deadline (the service
decides), a proposal can be skipped, or declared a conflict of interest (with a
confirmation). Once every proposal is scored or recused, the judge gets the list of all their
scores; the list is also one tap away at any time.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.keyboards import Btn
from bot.keyboards import inline
from bot.render import TEXT_MAX
from bot.render import card_text
from bot.render import past_review_end
from bot.render import short
from bot.render import title_of
from bot.render import when
from bot.router import Ctx
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.views import JudgeTask
from participation.views import Redeemed
from participation.views import RoundView

SCALE = range(1, 6)  # judges score each criterion 1..5 (participation.domain.rules)
CARD_BODY_MAX = 1800  # keeps a card with its score rows easy to read on a phone


def register(router: Router) -> None:
    """Register the judges' screens."""
    router.role("judge")(lambda svc, user_id: svc.judge_round(user_id) is not None)
    router.menu("bot.menu.judge", order=60, roles=("judge",))(tasks_menu)
    router.command("judge")(lambda ctx, args: tasks_menu(ctx))
    router.redeemed("judge")(joined)
    router.action("judge.card")(open_card)
    router.action("judge.open")(lambda ctx, args: tasks_menu(ctx))  # the review-began notice
    router.action("judge.criterion")(criterion_help)
    router.action("judge.score", consume=True)(score)
    router.action("judge.skip")(skip)
    router.action("judge.recuse")(ask_recuse)
    router.action("judge.recuse_yes", consume=True)(recuse)
    router.action("judge.summary")(summary_button)


# --- loading ----------------------------------------------------------------------------------
async def judged_round(ctx: Ctx) -> RoundView:
    """Return the round the person judges.  Raises NotJudge (checked on every update)."""
    round_id = await ctx.call(ctx.svc.judge_round, ctx.user_id)
    if round_id is None:
        raise e.NotJudge()
    return await ctx.call(ctx.svc.round, round_id)


async def load(ctx: Ctx) -> tuple[RoundView, list[JudgeTask]]:
    rnd = await judged_round(ctx)
    return rnd, await ctx.call(ctx.svc.judge_tasks, ctx.user_id, rnd.round_id)


def done_count(tasks: list[JudgeTask]) -> int:
    return sum(1 for task in tasks if task.recused or task.scores is not None)


def index_of(tasks: list[JudgeTask], proposal_id: str, fallback: int) -> int:
    """Return where ``proposal_id`` is now (the list may have changed since the button)."""
    for i, task in enumerate(tasks):
        if task.card.proposal_id == proposal_id:
            return i
    return min(max(fallback, 0), len(tasks) - 1)


async def pressed(ctx: Ctx, tasks: list[JudgeTask], args: Mapping[str, JSON]) -> int:
    """Return where the proposal of a pressed card is in ``tasks``.

    A card drawn before its proposal left the judge's list (their own, left out since;
    another group's after a move) is refused with the service's reason (``judge_check``,
    read only), never taken for the card that is at its place now.
    """
    proposal_id = str_arg(args, "p")
    for i, task in enumerate(tasks):
        if task.card.proposal_id == proposal_id:
            return i
    await ctx.call(ctx.svc.judge_check, ctx.user_id, proposal_id)
    raise e.NotInReview(proposal=proposal_id)  # back in review since the list was read


# --- entry points -----------------------------------------------------------------------------
async def joined(ctx: Ctx, redeemed: Redeemed) -> None:
    """After ``/start j_...``: welcome, then the first card (or when scoring starts)."""
    await ctx.reply("bot.judge.welcome", await ctx.menu_markup())
    await tasks_menu(ctx)


async def tasks_menu(ctx: Ctx) -> None:
    """The Review menu button: the first proposal still to score (or the first)."""
    rnd, tasks = await load(ctx)
    if not tasks:
        phase = ctx.t(f"participation.phase.{rnd.phase}")
        await ctx.reply("bot.judge.no_tasks", round=rnd.title, phase=phase)
        return
    todo = [i for i, t in enumerate(tasks) if not t.recused and t.scores is None]
    await show(ctx, rnd, tasks, todo[0] if todo else 0, {}, fresh=True)


async def open_card(ctx: Ctx, args: dict[str, JSON]) -> None:
    """◀ / ▶: another card, redrawn in place."""
    rnd, tasks = await load(ctx)
    if not tasks:
        return
    i = int_arg(args, "i") % len(tasks)
    await show(ctx, rnd, tasks, i, {}, fresh=False)


async def skip(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Skip: the next proposal without a score (after this one, wrapping around)."""
    rnd, tasks = await load(ctx)
    if not tasks:
        return
    here = index_of(tasks, str_arg(args, "p"), int_arg(args, "i"))
    order = [(here + k) % len(tasks) for k in range(1, len(tasks) + 1)]
    todo = [i for i in order if not tasks[i].recused and tasks[i].scores is None]
    if not todo or todo[0] == here:
        await ctx.answer(ctx.t("bot.judge.nothing_to_skip"))
    await show(ctx, rnd, tasks, todo[0] if todo else (here + 1) % len(tasks), {}, fresh=False)


async def criterion_help(ctx: Ctx, args: dict[str, JSON]) -> None:
    """The criterion's name button: say how to score."""
    name = ctx.t(f"participation.criterion.{str_arg(args, 'c')}")
    await ctx.answer(ctx.t("bot.judge.criterion_help", criterion=name), alert=True)


# --- scoring ------------------------------------------------------------------------------------
async def score(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A 1-5 button: remember it; with every criterion chosen, save (or change) the scores."""
    rnd, tasks = await load(ctx)
    proposal_id = str_arg(args, "p")
    i = await pressed(ctx, tasks, args)
    task = tasks[i]
    if task.recused:
        raise e.RecusedProposal(proposal=proposal_id)
    draft = partial_of(args) if task.scores is None else dict(task.scores)
    criterion, value = str_arg(args, "c"), int_arg(args, "v")
    if criterion not in rnd.rules.criteria or value not in SCALE:
        raise e.ScoreOutOfRange(criterion=criterion, min=1, max=5)
    draft[criterion] = value
    if set(draft) != set(rnd.rules.criteria):
        await show(ctx, rnd, tasks, i, draft, fresh=False)
        return
    before = done_count(tasks)
    try:
        await ctx.call(ctx.svc.score, ctx.user_id, proposal_id, draft, request_id=ctx.request_id)
    except e.DeadlinePassed as err:  # a card drawn before the deadline, pressed after it
        await refused_after_deadline(ctx, err, i)
        return
    await ctx.answer(ctx.t("bot.judge.saved"))
    rnd, tasks = await load(ctx)
    await show(ctx, rnd, tasks, index_of(tasks, proposal_id, i), {}, fresh=False)
    if done_count(tasks) == len(tasks) > before:
        await send_summary(ctx, rnd, tasks)


async def refused_after_deadline(ctx: Ctx, err: e.DeadlinePassed, i: int) -> None:
    """A score or recusal refused with the review's deadline: say it (an alert) and redraw
    card ``i`` read-only (:func:`review_over`), not the buttons that can only be refused."""
    await ctx.answer(ctx.refusal(err), alert=True)
    rnd, tasks = await load(ctx)
    if tasks:
        await show(ctx, rnd, tasks, i % len(tasks), {}, fresh=False)


def partial_of(args: Mapping[str, JSON]) -> dict[str, int]:
    """Return the criteria chosen so far that a button carries."""
    found = args.get("d")
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, int) and not isinstance(v, bool)}


# --- conflict of interest -----------------------------------------------------------------------
async def ask_recuse(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Conflict of interest: explain what it means and ask to confirm."""
    rnd, tasks = await load(ctx)
    proposal_id = str_arg(args, "p")
    i = await pressed(ctx, tasks, args)
    task = tasks[i]
    if task.recused:
        raise e.RecusedProposal(proposal=proposal_id)
    if review_over(ctx, rnd):  # a card drawn before the deadline: no confirmation to refuse
        deadline = e.DeadlinePassed(deadline=rnd.rules.deadlines.review_ends)
        await ctx.answer(ctx.refusal(deadline), alert=True)
        await show(ctx, rnd, tasks, i, {}, fresh=False)
        return
    where: dict[str, JSON] = {"p": task.card.proposal_id, "i": i}
    rows = [
        [Btn(ctx.t("bot.judge.recuse_yes"), "judge.recuse_yes", where)],
        [Btn(ctx.t("bot.judge.recuse_no"), "judge.card", where)],
    ]
    text = ctx.t(
        "bot.judge.recuse_confirm", number=task.card.number, title=title_of(ctx, task.card)
    )
    await ctx.show(text, await inline(ctx, rows))


async def recuse(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Confirmed: record the conflict of interest; the card shows it, without score buttons."""
    proposal_id = str_arg(args, "p")
    rnd, tasks = await load(ctx)
    before = done_count(tasks)
    try:
        await ctx.call(ctx.svc.recuse, ctx.user_id, proposal_id, request_id=ctx.request_id)
    except e.DeadlinePassed as err:  # a confirmation drawn before the deadline
        await refused_after_deadline(ctx, err, index_of(tasks, proposal_id, int_arg(args, "i")))
        return
    await ctx.answer(ctx.t("bot.judge.recused"))
    rnd, tasks = await load(ctx)
    await show(ctx, rnd, tasks, index_of(tasks, proposal_id, int_arg(args, "i")), {}, fresh=False)
    if done_count(tasks) == len(tasks) > before:
        await send_summary(ctx, rnd, tasks)


# --- rendering ----------------------------------------------------------------------------------
def scores_text(ctx: Ctx, rnd: RoundView, scores: Mapping[str, int]) -> str:
    """Return ``need 4 · feasibility 5 · ...``, localized, in the round's criteria order."""
    return " · ".join(
        ctx.t(
            "bot.judge.criterion_value",
            criterion=ctx.t(f"participation.criterion.{c}"),
            value=scores[c] if c in scores else "-",
        )
        for c in rnd.rules.criteria
    )


def review_over(ctx: Ctx, rnd: RoundView) -> bool:
    """Whether the review has ended: the cards are then read-only. From the deadline on,
    though the round may still be in review (the clock moves it once every press received
    before the deadline is applied): whatever the judge presses now comes after it."""
    if rnd.phase in ("results", "closed"):
        return True
    return rnd.phase == "review" and past_review_end(ctx, rnd.rules.deadlines.review_ends)


def review_ended(rnd: RoundView) -> int | None:
    """Return when the review of a round whose review is over (:func:`review_over`) ended:
    its deadline while the round still waits in review after it, else the moment the round
    keeps (``RoundView.review_ended_at``: the deadline, or when an official moved it on
    before it); None when the round no longer holds that moment (closed)."""
    if rnd.phase == "review":
        return rnd.rules.deadlines.review_ends
    return rnd.review_ended_at


def over_text(ctx: Ctx, rnd: RoundView, timed: str, untimed: str, **params: object) -> str:
    """Return the review-over text ``timed`` with when the review ended (``ended``: KST, in
    the reader's language), or ``untimed`` when the round no longer knows that moment."""
    ended = review_ended(rnd)
    if ended is None:
        return ctx.t(untimed, **params)
    return ctx.t(timed, ended=when(ctx, ended), **params)


def state_text(ctx: Ctx, rnd: RoundView, task: JudgeTask, draft: Mapping[str, int]) -> str:
    deadline = when(ctx, rnd.rules.deadlines.review_ends)
    if task.recused:
        return ctx.t("bot.judge.state.recused")
    if task.scores is not None:
        total = sum(task.scores.values())
        top = 5 * len(rnd.rules.criteria)
        if review_over(ctx, rnd):
            over, untimed = "bot.judge.state.over_scored", "bot.judge.state.over_scored_untimed"
            return over_text(ctx, rnd, over, untimed, sum=total, max=top)
        return ctx.t("bot.judge.state.scored", sum=total, max=top, deadline=deadline)
    if review_over(ctx, rnd):
        over, untimed = "bot.judge.state.over_missing", "bot.judge.state.over_missing_untimed"
        return over_text(ctx, rnd, over, untimed)
    if draft:
        return ctx.t("bot.judge.state.partial", given=len(draft), count=len(rnd.rules.criteria))
    return ctx.t("bot.judge.state.open", deadline=deadline)


async def show(
    ctx: Ctx,
    rnd: RoundView,
    tasks: list[JudgeTask],
    i: int,
    draft: dict[str, int],
    *,
    fresh: bool,
) -> None:
    """Render card ``i`` with the progress, the scores and the buttons."""
    task = tasks[i]
    scores = dict(task.scores) if task.scores is not None else draft
    head = ctx.t(
        "bot.judge.card_head",
        position=i + 1,
        total=len(tasks),
        progress=ctx.t("bot.judge.progress", total=len(tasks), done=done_count(tasks)),
    )
    parts = [
        head,
        card_text(ctx, task.card, limit=CARD_BODY_MAX),
        scores_text(ctx, rnd, scores),
        state_text(ctx, rnd, task, draft),
    ]
    where: dict[str, JSON] = {"p": task.card.proposal_id, "i": i}
    rows: list[list[Btn]] = []
    over = review_over(ctx, rnd)  # after the review: no score or recusal buttons, only browsing
    if not task.recused and not over:
        carried: dict[str, JSON] = {k: v for k, v in draft.items()}
        for c in rnd.rules.criteria:
            label = ctx.t(f"participation.criterion.{c}")
            row = [Btn(label, "judge.criterion", {"c": c})]
            for v in SCALE:
                mark = f"[{v}]" if scores.get(c) == v else str(v)
                row.append(Btn(mark, "judge.score", {**where, "c": c, "v": v, "d": carried}))
            rows.append(row)
    n = len(tasks)
    rows.append(
        [
            Btn(ctx.t("bot.judge.prev"), "judge.card", {"i": (i - 1) % n}),
            Btn(ctx.t("bot.judge.skip"), "judge.skip", where),
            Btn(ctx.t("bot.judge.next"), "judge.card", {"i": (i + 1) % n}),
        ]
    )
    if not task.recused and not over:
        rows.append([Btn(ctx.t("bot.judge.recuse"), "judge.recuse", where)])
    rows.append([Btn(ctx.t("bot.judge.summary"), "judge.summary")])
    markup = await inline(ctx, rows)
    text = "\n\n".join(parts)
    if fresh:
        await ctx.send(text, markup)
    else:
        await ctx.show(text, markup)


async def summary_button(ctx: Ctx, args: dict[str, JSON]) -> None:
    """See all my scores."""
    rnd, tasks = await load(ctx)
    await send_summary(ctx, rnd, tasks)


async def send_summary(ctx: Ctx, rnd: RoundView, tasks: list[JudgeTask]) -> None:
    """Send every score of the judge (the final confirmation), split to fit messages."""
    lines = [
        ctx.t(
            "bot.judge.summary_head",
            round=rnd.title,
            progress=ctx.t("bot.judge.progress", total=len(tasks), done=done_count(tasks)),
        )
    ]
    top = 5 * len(rnd.rules.criteria)
    for task in tasks:
        title = short(title_of(ctx, task.card), 30)
        if task.recused:
            lines.append(ctx.t("bot.judge.summary_recused", number=task.card.number, title=title))
        elif task.scores is None:
            lines.append(ctx.t("bot.judge.summary_missing", number=task.card.number, title=title))
        else:
            lines.append(
                ctx.t(
                    "bot.judge.summary_line",
                    number=task.card.number,
                    title=title,
                    scores=scores_text(ctx, rnd, task.scores),
                    sum=sum(task.scores.values()),
                    max=top,
                )
            )
    lines.append(summary_foot(ctx, rnd))
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + len(line) + 1 <= TEXT_MAX:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    for chunk in chunks[:-1]:
        await ctx.send(chunk)
    back = [[Btn(ctx.t("bot.judge.back_to_cards"), "judge.card", {"i": 0})]]
    await ctx.send(chunks[-1], await inline(ctx, back))


def summary_foot(ctx: Ctx, rnd: RoundView) -> str:
    """Return the summary's last line: until when scores can be changed, or that the review
    ended (and when) and the scores above count."""
    if review_over(ctx, rnd):
        over, untimed = "bot.judge.summary_foot_over", "bot.judge.summary_foot_over_untimed"
        return over_text(ctx, rnd, over, untimed)
    return ctx.t("bot.judge.summary_foot", deadline=when(ctx, rnd.rules.deadlines.review_ends))
