"""Officials in the hall: enrollment-code sheets, on-site sessions, paper tallies.

- Enrollment: per community, issue the codes still within its quota and send them as a PDF of
  QR cards (codes are stored only as hashes, so a sheet is printed when it is issued); the
  list shows how many were issued and redeemed, and leads to adding communities, one or many
  (``official_community``).
- On-site sessions: open one (for a review group or the hall), get the projector page link
  (``/onsite/<session>``, served by the web process), close it.
- Paper tallies: session → proposal number → ballots and points → a photo of the signed
  tally sheet; the SHA-256 of the downloaded photo goes into the entry. It counts once another
  official confirms it; a correction is a new entry naming the one it replaces.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.keyboards import page_count
from bot.keyboards import pager
from bot.official_base import back_row
from bot.official_base import require_official
from bot.official_base import round_or_say
from bot.official_base import send_file
from bot.render import past_review_end
from bot.router import Ctx
from bot.router import Incoming
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from i18n.format import format_datetime
from i18n.format import format_time
from participation.app.reviewday import SessionView
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.domain.rules import ENROLLMENT_ROLES
from participation.domain.rules import MAX_PAPER_BALLOTS
from participation.sheets import enrollment_sheet_pdf
from participation.views import RoundView

COMMUNITIES_PER_PAGE = 10
PAPERS_SHOWN = 30
MAX_DOWNLOAD = 20 * 1024 * 1024  # the largest file the Bot API lets a bot download (getFile)


def register(router: Router) -> None:
    """Register the hall screens."""
    router.action("admin.enrollment")(enrollment)
    router.action("admin.enroll_pick")(enroll_pick)
    router.action("admin.enroll_issue", consume=True)(enroll_issue)
    router.action("admin.sessions")(sessions)
    router.action("admin.session_new", consume=True)(session_new)
    router.action("admin.session_close")(session_close)
    router.action("admin.session_close_yes", consume=True)(session_close_yes)
    router.action("admin.papers")(papers)
    router.action("admin.paper_new")(paper_new)
    router.action("admin.paper_confirm", consume=True)(paper_confirm)
    router.step("admin.paper.number")(paper_number)
    router.step("admin.paper.counts")(paper_counts)
    router.step("admin.paper.photo")(paper_photo)


def group_name(ctx: Ctx, group: int | None) -> str:
    return ctx.t("bot.admin.group", group=group) if group else ctx.t("bot.admin.all_groups")


def session_name(ctx: Ctx, session: SessionView) -> str:
    """A session as people know it: its number in the round, when it started (KST) and its
    group, never its id."""
    started = format_datetime(session.opened_at, ctx.locale)
    group = group_name(ctx, session.group)
    return ctx.t("bot.admin.session_name", number=session.number, opened=started, group=group)


async def find_session(ctx: Ctx, round_id: str, session_id: str) -> SessionView | None:
    found = await ctx.call(ctx.svc.onsite_sessions, round_id)
    return next((s for s in found if s.session_id == session_id), None)


# --- enrollment sheets --------------------------------------------------------------------------
async def enrollment(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Registration codes: communities with codes issued / redeemed, paged."""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    found = await ctx.call(ctx.svc.communities, rnd.round_id)
    pages = page_count(len(found), COMMUNITIES_PER_PAGE)
    page = int_arg(args, "page") % pages
    shown = found[page * COMMUNITIES_PER_PAGE : (page + 1) * COMMUNITIES_PER_PAGE]
    issued, redeemed = sum(c.issued for c in found), sum(c.redeemed for c in found)
    lines = [
        ctx.t("bot.admin.enroll_head", communities=len(found), issued=issued, redeemed=redeemed)
    ]
    if not found:
        lines.append(ctx.t("bot.admin.enroll_none"))
    lines += [
        ctx.t(
            "bot.admin.enroll_line",
            name=c.name,
            region=ctx.t(f"participation.region.{c.region}"),
            issued=c.issued,
            redeemed=c.redeemed,
        )
        for c in shown
    ]
    r: dict[str, JSON] = {"r": rnd.round_id}
    buttons = [Btn(c.name, "admin.enroll_pick", {**r, "c": c.community}) for c in shown]
    adding = [
        Btn(ctx.t("bot.admin.community.add_button"), "admin.community.new", r),
        Btn(ctx.t("bot.admin.community.bulk_button"), "admin.community.bulk", r),
    ]
    rows = [
        *grid(buttons, 2),
        pager(page, pages, "admin.enrollment", r),
        adding,
        back_row(ctx, rnd),
    ]
    await ctx.show("\n".join(lines), await inline(ctx, rows))


async def enroll_pick(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A community: which sheet (voters' or the representative's)?"""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    where: dict[str, JSON] = {"r": rnd.round_id, "c": str_arg(args, "c")}
    buttons = [
        Btn(ctx.t(f"bot.admin.enroll_sheet.{role}"), "admin.enroll_issue", {**where, "role": role})
        for role in ENROLLMENT_ROLES
    ]
    rows = [buttons, [Btn(ctx.t("bot.admin.back"), "admin.enrollment", {"r": rnd.round_id})]]
    await ctx.show(
        ctx.t("bot.admin.enroll_pick", voters=rnd.rules.voters_per_community),
        await inline(ctx, rows),
    )


async def enroll_issue(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Issue the codes left in the quota and send the PDF of QR cards."""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    community, role = str_arg(args, "c"), str_arg(args, "role")
    codes = await ctx.call(
        ctx.svc.issue_enrollment_codes, ctx.user_id, rnd.round_id, community, role=role
    )
    name = next(
        (
            c.name
            for c in await ctx.call(ctx.svc.communities, rnd.round_id)
            if c.community == community
        ),
        community,
    )
    pdf = await ctx.call(
        enrollment_sheet_pdf,
        codes,
        bot_username=ctx.services.bot_username,
        round_title=rnd.title,
        community_name=name,
        texts=ctx.services.catalog,
        locale=ctx.locale,
    )
    caption = ctx.t(
        "bot.admin.enroll_sent",
        community=name,
        count=len(codes),
        role=ctx.t(f"participation.role.{role}"),
    )
    await send_file(ctx, pdf, f"enrollment-{community}-{role}.pdf", caption)


# --- on-site sessions ---------------------------------------------------------------------------
def projector_url(ctx: Ctx, session_id: str) -> str:
    """Return the projector page of a session (the web process may sign it, see ``extra``)."""
    signer = ctx.services.extra.get("onsite_url")
    if callable(signer):
        url: Callable[[str], str] = signer
        return url(session_id)
    return f"{ctx.services.public_base_url.rstrip('/')}/onsite/{session_id}"


async def sessions(ctx: Ctx, args: dict[str, JSON]) -> None:
    """On-site sessions: the round's sessions with check-ins; open a new one (in the review),
    get a link, close."""
    rnd = await round_or_say(ctx, args)
    if rnd is None:
        return
    found = await ctx.call(ctx.svc.onsite_sessions, rnd.round_id)
    lines = [ctx.t("bot.admin.sessions_head", round=rnd.title)]
    if not found:
        lines.append(ctx.t("bot.admin.sessions_none"))
    r: dict[str, JSON] = {"r": rnd.round_id}
    rows: list[list[Btn]] = []
    ends = rnd.rules.deadlines.review_ends
    after_deadline = rnd.phase == "review" and past_review_end(ctx, ends)
    for s in found:
        lines.append(
            ctx.t(
                "bot.admin.session_line",
                session=session_name(ctx, s),
                checkins=f"{s.checkins:,}",
                state=session_state(ctx, s, ends, after_deadline=after_deadline),
            )
        )
        if s.open and not after_deadline:
            lines.append(projector_url(ctx, s.session_id))
            rows.append(
                [
                    Btn(
                        ctx.t(
                            "bot.admin.session_close",
                            number=s.number,
                            session=format_time(s.opened_at, ctx.locale),
                        ),
                        "admin.session_close",
                        {**r, "s": s.session_id},
                    )
                ]
            )
    if any(s.closed_at is not None for s in found):  # a check-in count may still grow
        lines.append(ctx.t("bot.admin.sessions_closed_note"))
    if after_deadline:
        # the round waits for presses received before the deadline: no session to open
        lines.append(
            ctx.t("bot.admin.sessions_after_deadline", deadline=format_datetime(ends, ctx.locale))
        )
    elif rnd.phase == "review":  # the service opens sessions in the review only
        rows.insert(0, [Btn(ctx.t("bot.admin.session_new"), "admin.session_new", r)])
    else:
        phase = ctx.t(f"participation.phase.{rnd.phase}")
        lines.append(ctx.t("bot.admin.sessions_review_only", phase=phase))
    rows.append(back_row(ctx, rnd))
    await ctx.show("\n".join(lines), await inline(ctx, rows))


def session_state(ctx: Ctx, s: SessionView, review_ends: int, *, after_deadline: bool) -> str:
    """Return a session's state: in progress; closed at the time an official (or the round's
    move before the review's deadline) closed it; or ended with the review at its deadline,
    when it was still open then: nothing received after the deadline goes through it, though
    the round (waiting for what was received before) or the clock closed it later."""
    if s.open and not after_deadline:
        return ctx.t("bot.admin.session_open")
    if s.open or (s.closed_at is not None and s.closed_at > review_ends):
        return ctx.t("bot.admin.session_review_ended", time=format_time(review_ends, ctx.locale))
    if s.closed_at is not None:
        return ctx.t("bot.admin.session_closed_at", time=format_time(s.closed_at, ctx.locale))
    return ctx.t("bot.admin.session_closed")


async def session_new(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Open a session (choosing the review group first when the round has groups)."""
    rnd = await round_or_say(ctx, args)
    if rnd is None:
        return
    if rnd.groups and "g" not in args:
        r: dict[str, JSON] = {"r": rnd.round_id}
        buttons = [Btn(ctx.t("bot.admin.all_groups"), "admin.session_new", {**r, "g": 0})]
        buttons += [
            Btn(group_name(ctx, g), "admin.session_new", {**r, "g": g})
            for g in range(1, len(rnd.groups) + 1)
        ]
        await ctx.show(
            ctx.t("bot.admin.session_group"),
            await inline(ctx, [*grid(buttons, 4), back_row(ctx, rnd)]),
        )
        return
    group = int_arg(args, "g") or None
    try:
        session_id = await ctx.call(
            ctx.svc.open_onsite_session, ctx.user_id, rnd.round_id, group=group
        )
    except e.DeadlinePassed as err:  # a screen drawn before the review's deadline
        await ctx.show(ctx.refusal(err), await inline(ctx, [back_row(ctx, rnd)]))
        return
    rows = [back_row(ctx, rnd)]
    opened = await find_session(ctx, rnd.round_id, session_id)
    text = ctx.t(
        "bot.admin.session_opened",
        session=session_name(ctx, opened) if opened is not None else group_name(ctx, group),
        url=projector_url(ctx, session_id),
    )
    await ctx.show(text, await inline(ctx, rows))


async def session_close(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Ask before closing: nobody can check in or score through it afterwards."""
    await require_official(ctx)
    rows = [
        [Btn(ctx.t("bot.admin.session_close_yes"), "admin.session_close_yes", args)],
        [Btn(ctx.t("bot.admin.cancel"), "admin.sessions", {"r": str_arg(args, "r")})],
    ]
    found = await find_session(ctx, str_arg(args, "r"), str_arg(args, "s"))
    name = session_name(ctx, found) if found is not None else ""
    await ctx.show(
        ctx.t("bot.admin.session_close_confirm", session=name),
        await inline(ctx, rows),
    )


async def session_close_yes(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Close the session; one another official closed meanwhile: the list as it is, and why."""
    try:
        await ctx.call(ctx.svc.close_onsite_session, ctx.user_id, str_arg(args, "s"))
    except e.Closed as err:
        await ctx.answer(ctx.refusal(err), alert=True)
    else:
        await ctx.answer(ctx.t("bot.admin.session_closed_toast"))
    await sessions(ctx, args)


# --- paper tallies ------------------------------------------------------------------------------
async def papers(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Paper tallies: every tally with its state; enter, confirm (someone else's), correct."""
    rnd = await round_or_say(ctx, args)
    if rnd is None:
        return
    found = await ctx.call(ctx.svc.paper_tallies, rnd.round_id, ctx.user_id)
    live = [p for p in found if not p.superseded]
    lines = [
        ctx.t(
            "bot.admin.papers_head",
            count=f"{len(live):,}",
            pending=f"{sum(not p.confirmed for p in live):,}",
        )
    ]
    if not live:
        lines.append(ctx.t("bot.admin.papers_none"))
    r: dict[str, JSON] = {"r": rnd.round_id}
    rows: list[list[Btn]] = [[Btn(ctx.t("bot.admin.paper_new"), "admin.paper_new", r)]]
    closed = await ctx.call(ctx.svc.results, rnd.round_id) is not None
    if closed:  # published: nothing can be entered, confirmed or corrected any more
        rows = []
    for p in live[-PAPERS_SHOWN:]:
        state = "confirmed" if p.confirmed else ("mine" if p.mine else "pending")
        if closed and not p.confirmed:
            state = "left_out"  # published without it
        lines.append(
            ctx.t(
                "bot.admin.paper_line",
                number=p.number,
                ballots=f"{p.ballots:,}",
                points=f"{p.points:,}",
                tally=p.tally_id,
                state=ctx.t(f"bot.admin.paper_state.{state}"),
                corrects=ctx.t("bot.admin.paper_corrects", tally=p.corrects) if p.corrects else "",
            )
        )
        row = []
        if closed:
            continue
        if not p.confirmed and not p.mine:
            row.append(
                Btn(
                    ctx.t("bot.admin.paper_confirm", number=p.number, tally=p.tally_id),
                    "admin.paper_confirm",
                    {**r, "t": p.tally_id},
                )
            )
        if not p.confirmed:
            row.append(
                Btn(
                    ctx.t("bot.admin.paper_correct", number=p.number, tally=p.tally_id),
                    "admin.paper_new",
                    {**r, "s": p.session_id, "p": p.proposal_id, "n": p.number, "c": p.tally_id},
                )
            )
        if row:
            rows.append(row)
    if closed:
        lines.append(ctx.t("bot.admin.papers_closed"))
    rows.append(back_row(ctx, rnd))
    await ctx.show("\n".join(lines), await inline(ctx, rows))


async def paper_new(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Enter (or correct) a tally: choose the session, then the proposal number is asked."""
    rnd = await round_or_say(ctx, args)
    if rnd is None:
        return
    r: dict[str, JSON] = {"r": rnd.round_id}
    if not str_arg(args, "s"):
        found = await ctx.call(ctx.svc.onsite_sessions, rnd.round_id)
        if not found:
            await ctx.reply("bot.admin.paper_no_session")
            return
        buttons = [
            Btn(
                session_name(ctx, s),
                "admin.paper_new",
                {**r, "s": s.session_id},
            )
            for s in found
        ]
        await ctx.show(
            ctx.t("bot.admin.paper_session"),
            await inline(ctx, [*grid(buttons, 2), back_row(ctx, rnd)]),
        )
        return
    data: dict[str, JSON] = {k: args[k] for k in ("r", "s", "p", "n", "c") if k in args}
    if str_arg(args, "p"):
        await ctx.save("admin.paper.counts", data)
        await ctx.reply(
            "bot.admin.paper_ask_counts", number=int_arg(args, "n"), scale=rnd.rules.onsite_scale
        )
        return
    await ctx.save("admin.paper.number", data)
    await ctx.reply("bot.admin.paper_ask_number")


async def paper_number(ctx: Ctx, incoming: Incoming) -> None:
    """The proposal's number."""
    await require_official(ctx)
    data = ctx.data
    text = (incoming.text or "").strip().lstrip("#")
    if not text.isdecimal():  # isdigit() takes superscripts, which int() refuses
        await ctx.reply("bot.admin.number_needed")
        return
    rnd: RoundView = await ctx.call(ctx.svc.round, str(data.get("r")))
    proposal_id = await ctx.call(ctx.svc.proposal_by_number, rnd.round_id, int(text))
    session = await find_session(ctx, rnd.round_id, str(data.get("s")))
    group = session.group if session is not None else None
    if group and proposal_id not in rnd.groups[group - 1]:  # the service's rule, told now
        await ctx.reply("bot.admin.paper_wrong_group", number=int(text), group=group)
        return
    data["p"] = proposal_id
    data["n"] = int(text)
    await ctx.save("admin.paper.counts", data)
    await ctx.reply("bot.admin.paper_ask_counts", number=int(text), scale=rnd.rules.onsite_scale)


async def paper_counts(ctx: Ctx, incoming: Incoming) -> None:
    """Ballots and points, e.g. ``12 47``."""
    await require_official(ctx)
    numbers = [int(n) for n in re.findall(r"\d+", (incoming.text or "").replace(",", ""))]
    if len(numbers) != 2:
        await ctx.reply("bot.admin.paper_counts_invalid")
        return
    data = ctx.data
    ballots, points = numbers
    rnd: RoundView = await ctx.call(ctx.svc.round, str(data.get("r")))
    scale = rnd.rules.onsite_scale
    if ballots > MAX_PAPER_BALLOTS:  # the service's cap, told before the photo
        await ctx.reply("bot.admin.paper_counts_too_many", max=f"{MAX_PAPER_BALLOTS:,}")
        return
    if not ballots <= points <= ballots * scale:  # the service's range, told before the photo
        await ctx.reply(
            "bot.admin.paper_counts_range",
            ballots=f"{ballots:,}",
            min=f"{ballots:,}",
            max=f"{ballots * scale:,}",
        )
        return
    data["ballots"], data["points"] = ballots, points
    await ctx.save("admin.paper.photo", data)
    await ctx.reply("bot.admin.paper_ask_photo")


def sheet_file(incoming: Incoming) -> str | None:
    """Return the file id of the tally sheet's picture: a photo, or a picture sent "as a
    file" (its own bytes, as the official keeps them; a photo is Telegram's recompressed
    copy); None for anything else."""
    sent = incoming.document
    if incoming.photo_file_id is None and sent is not None and sent.mime_type.startswith("image/"):
        return sent.file_id
    return incoming.photo_file_id


async def paper_photo(ctx: Ctx, incoming: Incoming) -> None:
    """The photo of the signed sheet: hash the downloaded bytes, enter the tally."""
    await require_official(ctx)
    file_id, sent = sheet_file(incoming), incoming.document
    if file_id is None:
        # An album led by a video or a file: its photos after it are dropped as its rest
        # (Ctx.rest_of_album), so this answer is for the whole album.
        if incoming.album:
            await ctx.reply("bot.admin.paper_album_no_photo")
        else:
            await ctx.reply("bot.admin.paper_photo_needed")
        return
    if sent is not None and (sent.file_size or 0) > MAX_DOWNLOAD:  # getFile would refuse it
        await ctx.reply("bot.admin.paper_file_too_big", mb=MAX_DOWNLOAD // (1024 * 1024))
        return
    file = await ctx.context.bot.get_file(file_id)
    sha = hashlib.sha256(bytes(await file.download_as_bytearray())).hexdigest()
    data = ctx.data
    rows = [[Btn(ctx.t("bot.admin.menu.paper"), "admin.papers", {"r": str_arg(data, "r")})]]
    try:
        tally_id = await ctx.call(
            ctx.svc.enter_paper_tally,
            ctx.user_id,
            str(data.get("s")),
            str(data.get("p")),
            ballots=int_arg(data, "ballots"),
            points=int_arg(data, "points"),
            sheet_sha256=sha,
            corrects=str_arg(data, "c") or None,
        )
    except e.PaperAlreadyConfirmed as err:  # another official corrected it meanwhile
        await ctx.clear()  # another photo cannot change that: back to the list
        await ctx.send(ctx.refusal(err), await inline(ctx, rows))
        return
    ctx.tell_album("bot.admin.paper_album")  # several sent at once: the first is the sheet
    await ctx.clear()
    text = ctx.t(
        "bot.admin.paper_entered",
        number=int_arg(data, "n"),
        ballots=f"{int_arg(data, 'ballots'):,}",
        points=f"{int_arg(data, 'points'):,}",
        tally=tally_id,
        sha=sha,
    )
    await ctx.send(text, await inline(ctx, rows))


async def paper_confirm(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A second official confirms a tally (the service refuses the one who entered it); one
    confirmed or corrected meanwhile: the list as it is, and why."""
    try:
        await ctx.call(ctx.svc.confirm_paper_tally, ctx.user_id, str_arg(args, "t"))
    except e.PaperAlreadyConfirmed as err:  # another official confirmed or corrected it
        await ctx.answer(ctx.refusal(err), alert=True)
    else:
        await ctx.answer(ctx.t("bot.admin.paper_confirmed"))
    await papers(ctx, args)
