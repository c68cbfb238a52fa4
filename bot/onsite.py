"""The review day for residents: on-site check-in and scoring, online group choice and likes.

On site: scanning the projector's QR code opens ``/start s_...``; the service checks the code
(rotating every 30 s, accepted for 60 s; an older one gets a polite refusal) and marks the
person present; the bot then shows the proposals they may score: the other proposals of their
review group for community representatives, never their own. Online: a voter picks one review
group (once, with a confirmation) and gives likes up to the round's cap, never to their own.
A person counted in one channel is refused in the other by the service.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.keyboards import keyboard
from bot.render import card_text
from bot.render import past_review_end
from bot.render import review_over_text
from bot.render import short
from bot.render import title_of
from bot.router import Ctx
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from i18n.format import format_datetime
from participation.app.reviewday import OnlineBallot
from participation.app.reviewday import OnsiteBallot
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.service import ParticipationService
from participation.views import Redeemed
from participation.views import RoundView

LIST_TITLE_MAX = 28
CARD_MAX = 2500
REVIEW_OVER = ("results", "closed")  # phases after the review: on-site and online are over


def register(router: Router) -> None:
    """Register the on-site and online review screens."""
    router.redeemed("onsite")(checked_in)
    router.command("onsite")(lambda ctx, args: onsite_menu(ctx))
    router.action("onsite.list")(onsite_list)
    router.action("onsite.card")(onsite_card)
    router.action("onsite.score", consume_in_effect=True)(onsite_score)
    router.role("review_open")(review_open)
    router.menu("bot.menu.review", order=25, roles=("review_open",))(online_menu)
    router.command("review")(lambda ctx, args: online_menu(ctx))
    router.action("online.group")(ask_group)
    router.action("online.choose", consume=True)(choose_group)
    router.action("online.groups")(online_list)
    router.action("online.list")(online_list)
    router.action("online.like", consume_in_effect=True)(toggle_like)
    router.action("online.card")(online_card)


def review_open(svc: ParticipationService, user_id: int) -> bool:
    """Role predicate: the current round is in review (online voting is open)."""
    rnd = svc.current_round()
    return rnd is not None and rnd.phase == "review"


async def reviewing_round(ctx: Ctx) -> RoundView:
    """Return the current round.  Raises NoCurrentRound."""
    rnd = await ctx.call(ctx.svc.current_round)
    if rnd is None:
        raise e.NoCurrentRound()
    return rnd


def require_before_review_end(ctx: Ctx, rnd: RoundView) -> None:
    """Refuse to show a ballot once the review's deadline has passed, though the round may
    still be in review: the clock moves it to results only once every press received before
    the deadline is applied, and whatever this person presses now comes after it.  Raises
    DeadlinePassed (its text gives the deadline in KST)."""
    ends = rnd.rules.deadlines.review_ends
    if rnd.phase == "review" and past_review_end(ctx, ends):
        raise e.DeadlinePassed(deadline=ends)


async def refuse_after_review_end(ctx: Ctx, review_ends: int) -> None:
    """A press on a ballot or card after the review's deadline: take the message's buttons
    off (they could only answer this again) and say the deadline (a second tap of the same
    message, whose buttons the first took off: as a toast).  Raises DeadlinePassed."""
    err = e.DeadlinePassed(deadline=review_ends)
    if not await ctx.drop_buttons():
        await ctx.answer(ctx.refusal(err))
        return
    raise err


# --- on site ------------------------------------------------------------------------------------
async def checked_in(ctx: Ctx, redeemed: Redeemed) -> None:
    """After a valid scan: present (or already, for a scan again of the session they are in:
    nothing was written); then the proposals to score (if this person scores)."""
    already = redeemed.detail.get("already") is True
    key = "bot.onsite.already_checked_in" if already else "bot.onsite.checked_in"
    await ctx.reply(key, await ctx.menu_markup())
    try:
        ballot = await ctx.call(ctx.svc.onsite_ballot, ctx.user_id, redeemed.round_id)
    except (e.NotRepresentative, e.NotPresent):
        await ctx.reply("bot.onsite.present_only")
        return
    if ballot.closed:  # scanned before the official closed the session, applied after it
        await ctx.reply("bot.onsite.closed_on_arrival")
        return
    if past_review_end(ctx, ballot.review_ends):  # scanned before the deadline, applied after
        await ctx.send(review_over_text(ctx, ballot.review_ends))
        return
    await send_or_show(ctx, await onsite_view(ctx, ballot), fresh=True)


async def onsite_menu(ctx: Ctx) -> None:
    """/onsite: the on-site ballot again (after the review: that it is over; after the
    person's session closed: that it ended)."""
    rnd = await reviewing_round(ctx)
    if rnd.phase in REVIEW_OVER:
        await ctx.send(review_over_text(ctx, rnd.review_ended_at))
        return
    require_before_review_end(ctx, rnd)
    try:
        ballot = await ctx.call(ctx.svc.onsite_ballot, ctx.user_id, rnd.round_id)
    except e.NotPresent:
        # checked in to a session that was closed since: not 'scan the QR code first'
        if not await ctx.call(ctx.svc.checked_in_before, ctx.user_id, rnd.round_id):
            raise
        ballot = None
    if ballot is None or ballot.closed:  # closed since (received before the close)
        await ctx.send(await ended_text(ctx, rnd.round_id))
        return
    await send_or_show(ctx, await onsite_view(ctx, ballot), fresh=True)


async def pressed_ballot(ctx: Ctx, round_id: str) -> OnsiteBallot | None:
    """The ballot behind a press on the person's on-site ballot or card; None when they are
    no longer present, or their session was closed after the press was received (nothing
    more can be scored through it): told why, :func:`session_over`."""
    try:
        ballot = await ctx.call(ctx.svc.onsite_ballot, ctx.user_id, round_id)
    except e.NotPresent:
        ballot = None
    if ballot is None or ballot.closed:
        await session_over(ctx, round_id)
        return None
    if ballot.review_ends is not None and past_review_end(ctx, ballot.review_ends):
        await refuse_after_review_end(ctx, ballot.review_ends)
        return None
    return ballot


async def session_over(ctx: Ctx, round_id: str) -> None:
    """A press on an on-site ballot or card of a person no longer present: they checked in
    (the ballot was theirs), so their session was closed since, by an official or by the
    round leaving the review. Not 'scan the QR code first': say which and when
    (:func:`ended_text`), that the scores given count, and take the message's buttons off
    (they could only answer this again)."""
    text = await ended_text(ctx, round_id)
    if not await ctx.drop_buttons():  # a second tap: the first said it, and took them off
        await ctx.answer(text)
        return
    await ctx.send(text)


async def ended_text(ctx: Ctx, round_id: str) -> str:
    """Return why nothing more goes through the person's on-site session, and since when:
    an official closed it (its ``closed_at``), or the review ended (at its deadline, or when
    the round was moved on before it), whichever came first."""
    rnd = await ctx.call(ctx.svc.round, round_id)
    if rnd.phase != "review":
        return review_over_text(ctx, rnd.review_ended_at)
    ends = rnd.rules.deadlines.review_ends
    closed = await ctx.call(ctx.svc.session_closed_at, ctx.user_id, round_id)
    if closed is not None and closed < ends:
        return ctx.t("bot.onsite.session_over", time=format_datetime(closed, ctx.locale))
    if past_review_end(ctx, ends):  # closed in the clock's wait after the deadline, or not
        return review_over_text(ctx, ends)
    return ctx.t("bot.onsite.session_over_untimed")  # closed before the moment was kept


async def onsite_list(ctx: Ctx, args: dict[str, JSON]) -> None:
    """◀ List: back to the on-site ballot."""
    ballot = await pressed_ballot(ctx, str_arg(args, "r"))
    if ballot is not None:
        await send_or_show(ctx, await onsite_view(ctx, ballot), fresh=False)


View = tuple[str, InlineKeyboardMarkup | None]


async def onsite_view(ctx: Ctx, ballot: OnsiteBallot) -> View:
    """Return the text and keyboard of the on-site ballot."""
    text, rows = onsite_rows(ctx, ballot)
    return text, (await inline(ctx, rows) if rows else None)


def onsite_rows(ctx: Ctx, ballot: OnsiteBallot) -> tuple[str, list[list[Btn]]]:
    """Return the text and button rows of the on-site ballot (no rows: nothing to score); its
    action buttons are those of :func:`onsite_buttons`, in order."""
    if not ballot.cards:
        return ctx.t("bot.onsite.nothing"), []
    lines = [ctx.t("bot.onsite.head", scored=len(ballot.scores), total=len(ballot.cards))]
    buttons = []
    for card in ballot.cards:
        mine = ballot.scores.get(card.proposal_id)
        lines.append(
            ctx.t(
                "bot.onsite.line",
                number=card.number,
                title=short(title_of(ctx, card), LIST_TITLE_MAX),
                score=mine if mine is not None else "-",
            )
        )
        action, args = onsite_button(ballot, card.proposal_id)
        buttons.append(Btn(f"#{card.number}", action, args))
    return "\n".join(lines), grid(buttons, 4)


def onsite_button(ballot: OnsiteBallot, proposal_id: str) -> tuple[str, dict[str, JSON]]:
    """The action and args of the ballot's button that opens a proposal's card."""
    return "onsite.card", {"p": proposal_id, "r": ballot.round_id}


def onsite_buttons(ballot: OnsiteBallot) -> list[tuple[str, dict[str, JSON]]]:
    """The action buttons of :func:`onsite_rows` (what a score press issues tokens for); none
    for a ballot whose session was closed since (it is shown without them)."""
    if ballot.closed:
        return []
    return [onsite_button(ballot, card.proposal_id) for card in ballot.cards]


async def onsite_card(ctx: Ctx, args: dict[str, JSON]) -> None:
    """One proposal with its 1..scale buttons (the current score marked)."""
    round_id, proposal_id = str_arg(args, "r"), str_arg(args, "p")
    ballot = await pressed_ballot(ctx, round_id)
    if ballot is None:
        return
    card = next((c for c in ballot.cards if c.proposal_id == proposal_id), None)
    if card is None:  # hidden or withdrawn since the list, or another session's group
        await ctx.answer(ctx.t("bot.onsite.not_listed"), alert=True)
        await send_or_show(ctx, await onsite_view(ctx, ballot), fresh=False)
        return
    mine = ballot.scores.get(proposal_id)
    where: dict[str, JSON] = {"p": proposal_id, "r": round_id}
    scale = [
        Btn(f"[{v}]" if v == mine else str(v), "onsite.score", {**where, "v": v})
        for v in range(1, ballot.scale + 1)
    ]
    rows = [*grid(scale, 5), [Btn(ctx.t("bot.onsite.back"), "onsite.list", {"r": round_id})]]
    text = card_text(ctx, card, limit=CARD_MAX) + "\n\n" + ctx.t("bot.onsite.ask", max=ballot.scale)
    await ctx.show(text, await inline(ctx, rows))


async def onsite_score(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A score button: record (or change) the on-site score, then back to the list.

    One service call: the score, the pressed button used up and the redrawn ballot's tokens
    issued in the ledger's transaction, and the ballot as it is now.
    """
    proposal_id, value = str_arg(args, "p"), int_arg(args, "v")
    try:
        done = await ctx.press(
            ctx.svc.press_onsite_score,
            ctx.user_id,
            proposal_id,
            value,
            issue=lambda b: [] if past_review_end(ctx, b.review_ends) else onsite_buttons(b),
        )
    except e.NotPresent:
        await session_over(ctx, str_arg(args, "r"))
        return
    except (e.ProposalIsHidden, e.NotInReview, e.WrongGroup) as err:  # gone from the ballot
        ballot = await pressed_ballot(ctx, str_arg(args, "r"))
        if ballot is not None:
            await ctx.answer(ctx.refusal(err), alert=True)
            await send_or_show(ctx, await onsite_view(ctx, ballot), fresh=False)
        return
    except e.DeadlinePassed as err:  # its buttons could only answer that again
        if not await ctx.drop_buttons():  # a second tap: the first said it
            await ctx.answer(ctx.refusal(err))
            return
        raise
    await ctx.answer(ctx.t("bot.onsite.scored", score=value))
    text, rows = onsite_rows(ctx, done.ballot)
    if done.ballot.closed:  # received before the close, applied after: counted, and the last
        await ctx.show(text, None)
        await ctx.send(await ended_text(ctx, done.ballot.round_id))
        return
    if not done.tokens and rows:  # received before the review's deadline, applied after it
        await ctx.show(text, None)
        await ctx.send(review_over_text(ctx, done.ballot.review_ends))
        return
    await ctx.show(text, keyboard(rows, done.tokens) if rows else None)


async def send_or_show(ctx: Ctx, view: View, *, fresh: bool) -> None:
    """Send the view as a new message, or redraw the pressed one."""
    text, markup = view
    if fresh:
        await ctx.send(text, markup)
    else:
        await ctx.show(text, markup)


# --- online -------------------------------------------------------------------------------------
async def online_menu(ctx: Ctx) -> None:
    """Online review: choose a group first, else the group's proposals with likes."""
    rnd = await reviewing_round(ctx)
    if rnd.phase in REVIEW_OVER:  # a menu kept from the review: over, and a menu without it
        ended = rnd.review_ended_at
        if ended is None:  # a closed round no longer holds when its review ended
            await ctx.reply("bot.online.over_untimed", await ctx.menu_markup())
            return
        when = format_datetime(ended, ctx.locale)
        await ctx.reply("bot.online.over", await ctx.menu_markup(), ended=when)
        return
    if rnd.phase != "review":
        phase = ctx.t(f"participation.phase.{rnd.phase}")
        await ctx.reply("bot.online.not_open", phase=phase)
        return
    require_before_review_end(ctx, rnd)
    await online_view(ctx, rnd.round_id, fresh=True)


async def online_list(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Redraw the online ballot (after a like, or from a card)."""
    await online_view(ctx, str_arg(args, "r"), fresh=False)


async def online_view(ctx: Ctx, round_id: str, *, fresh: bool) -> None:
    ballot = await ctx.call(ctx.svc.online_ballot, ctx.user_id, round_id)
    if not fresh and ballot.review_ends is not None and past_review_end(ctx, ballot.review_ends):
        await refuse_after_review_end(ctx, ballot.review_ends)  # a redraw after the deadline
        return
    if ballot.groups and ballot.chosen is None:
        rnd = await ctx.call(ctx.svc.round, round_id)
        buttons = [
            Btn(
                ctx.t("bot.online.group_button", group=g, count=len(rnd.groups[g - 1])),
                "online.group",
                {"r": round_id, "g": g},
            )
            for g in range(1, ballot.groups + 1)
        ]
        text = ctx.t("bot.online.pick_group", cap=ballot.cap)
        await send_or_show(ctx, (text, await inline(ctx, grid(buttons, 3))), fresh=fresh)
        return
    text, rows = ballot_view(ctx, ballot)
    await send_or_show(ctx, (text, await inline(ctx, rows)), fresh=fresh)


def ballot_view(ctx: Ctx, ballot: OnlineBallot) -> tuple[str, list[list[Btn]]]:
    """Return the text and button rows of a ballot whose group is chosen (or has none); its
    action buttons are those of :func:`ballot_buttons`, in order."""
    used = len(ballot.liked & {c.proposal_id for c in ballot.cards})
    head = (
        ctx.t("bot.online.head_group", group=ballot.chosen, used=used, cap=ballot.cap)
        if ballot.chosen is not None
        else ctx.t("bot.online.head", used=used, cap=ballot.cap)
    )
    lines = [head]
    if not ballot.cards:
        lines.append(ctx.t("bot.online.nothing"))
    rows: list[list[Btn]] = []
    for card in ballot.cards:
        liked = card.proposal_id in ballot.liked
        title = short(title_of(ctx, card), LIST_TITLE_MAX)
        lines.append(ctx.t("bot.online.line", number=card.number, title=title))
        where: dict[str, JSON] = {"r": ballot.round_id, "p": card.proposal_id}
        key = "bot.online.unlike" if liked else "bot.online.like"
        rows.append(
            [
                Btn(ctx.t(key, number=card.number), "online.like", where),
                Btn(ctx.t("bot.online.open", number=card.number), "online.card", where),
            ]
        )
    return "\n".join(lines), rows


def ballot_buttons(ballot: OnlineBallot) -> list[tuple[str, dict[str, JSON]]]:
    """The action buttons of :func:`ballot_view` (what a like press issues tokens for)."""
    return [
        (action, {"r": ballot.round_id, "p": card.proposal_id})
        for card in ballot.cards
        for action in ("online.like", "online.card")
    ]


async def ask_group(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A group button: the choice is final, so confirm it."""
    round_id, group = str_arg(args, "r"), int_arg(args, "g")
    rnd = await ctx.call(ctx.svc.round, round_id)
    if rnd.phase == "review" and past_review_end(ctx, rnd.rules.deadlines.review_ends):
        await refuse_after_review_end(ctx, rnd.rules.deadlines.review_ends)
        return
    where: dict[str, JSON] = {"r": round_id, "g": group}
    rows = [
        [Btn(ctx.t("bot.online.choose_yes", group=group), "online.choose", where)],
        [Btn(ctx.t("bot.online.choose_no"), "online.groups", {"r": round_id})],
    ]
    await ctx.show(ctx.t("bot.online.confirm_group", group=group), await inline(ctx, rows))


async def choose_group(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Confirmed: choose the group (once), then its proposals."""
    round_id, group = str_arg(args, "r"), int_arg(args, "g")
    try:
        await ctx.call(
            ctx.svc.choose_group, ctx.user_id, round_id, group, request_id=ctx.request_id
        )
    except e.DeadlinePassed as err:  # its buttons could only answer that again
        if not await ctx.drop_buttons():  # a second tap: the first said it
            await ctx.answer(ctx.refusal(err))
            return
        raise
    await ctx.answer(ctx.t("bot.online.chosen", group=group))
    await online_view(ctx, round_id, fresh=False)


async def toggle_like(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Like, or take the like back; the list is redrawn with the new count.

    One service call: the toggle, the pressed button used up and the redrawn ballot's tokens
    issued in the ledger's transaction, and the ballot as it is now.
    """
    proposal_id = str_arg(args, "p")
    try:
        done = await ctx.press(
            ctx.svc.toggle_like,
            ctx.user_id,
            proposal_id,
            issue=lambda b: [] if past_review_end(ctx, b.review_ends) else ballot_buttons(b),
        )
    except e.DeadlinePassed as err:  # its buttons could only answer that again
        if not await ctx.drop_buttons():  # a second tap: the first said it
            await ctx.answer(ctx.refusal(err))
            return
        raise
    ballot = done.ballot
    liked = proposal_id in ballot.liked
    await ctx.answer(ctx.t("bot.online.liked" if liked else "bot.online.unliked"))
    if ballot.groups and ballot.chosen is None:  # cannot follow a like; drawn as ever
        await online_view(ctx, ballot.round_id, fresh=False)
        return
    text, rows = ballot_view(ctx, ballot)
    if not done.tokens and rows:  # received before the review's deadline, applied after it
        await ctx.show(text, None)
        await ctx.send(review_over_text(ctx, ballot.review_ends))
        return
    await ctx.show(text, keyboard(rows, done.tokens))


async def online_card(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Read one proposal of the ballot, with the way back."""
    round_id, proposal_id = str_arg(args, "r"), str_arg(args, "p")
    card = await ctx.call(ctx.svc.proposal, proposal_id, viewer=ctx.user_id)
    back = [[Btn(ctx.t("bot.onsite.back"), "online.list", {"r": round_id})]]
    await ctx.show(card_text(ctx, card, limit=CARD_MAX), await inline(ctx, back))
