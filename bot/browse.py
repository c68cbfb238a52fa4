"""Browse proposals: a paged list (◀ 1/12 ▶) filtered by field and city/county, sorted by
endorsements or newest;
a proposal card with its status, budget and endorsement count; endorsing toggles in place;
share links.

The list's state (page, sort, filters) rides in the buttons' server-side args, so any worker
can turn the page; nothing is kept in memory.
"""

from __future__ import annotations

from urllib.parse import quote

from telegram import InlineKeyboardMarkup

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.keyboards import keyboard
from bot.keyboards import page_count
from bot.keyboards import pager
from bot.render import card_text
from bot.render import category_name
from bot.render import list_line
from bot.render import photo_card
from bot.render import region_name
from bot.render import send_captioned
from bot.router import Ctx
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from participation.domain.events import JSON
from participation.domain.regions import GYEONGGI
from participation.views import ProposalCard

SORTS = ("endorsements", "newest")
CARD_ACTIONS = ("browse.endorse", "browse.share")  # the buttons a card can have (card_rows)


def register(router: Router) -> None:
    """Register the browsing screens."""
    router.menu("bot.menu.browse", order=20)(browse)
    router.action("browse.list")(list_page)
    router.action("browse.categories")(choose_category)
    router.action("browse.regions")(choose_region)
    router.action("browse.card")(open_card)
    router.action("browse.endorse", consume_in_effect=True)(toggle_endorsement)
    router.action("browse.share")(share)


async def browse(ctx: Ctx) -> None:
    """The menu button: the first page, most endorsed first."""
    await show_list(ctx, {"sort": "endorsements", "page": 0}, fresh=True)


def list_state(args: dict[str, JSON]) -> dict[str, JSON]:
    """Return the list's state (sort, filters, page) carried by a button."""
    sort = str_arg(args, "sort", "endorsements")
    state: dict[str, JSON] = {
        "sort": sort if sort in SORTS else "endorsements",
        "page": int_arg(args, "page"),
    }
    for key in ("cat", "reg"):
        if str_arg(args, key):
            state[key] = str_arg(args, key)
    return state


async def list_page(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Turn the page, change the sort or a filter."""
    await show_list(ctx, list_state(args), fresh=False)


async def show_list(ctx: Ctx, state: dict[str, JSON], *, fresh: bool) -> None:
    """Render one page of the current round's proposals."""
    rnd = await ctx.call(ctx.svc.current_round)
    if rnd is None:
        await ctx.reply("participation.error.no_current_round")
        return
    size = ctx.services.page_size
    page = int_arg(state, "page")
    cat, reg = str_arg(state, "cat") or None, str_arg(state, "reg") or None
    sort = str_arg(state, "sort", "endorsements")

    result = await ctx.call(
        ctx.svc.proposals,
        rnd.round_id,
        viewer=ctx.user_id,
        category=cat,
        region=reg,
        sort=sort,
        offset=page * size,
        limit=size,
    )
    pages = page_count(result.total, size)
    if page >= pages:  # the list shrank since the button was made
        page = pages - 1
        result = await ctx.call(
            ctx.svc.proposals,
            rnd.round_id,
            viewer=ctx.user_id,
            category=cat,
            region=reg,
            sort=sort,
            offset=page * size,
            limit=size,
        )
    filters = ctx.t(
        "bot.browse.filters",
        category=category_name(ctx, cat) if cat else ctx.t("bot.browse.all"),
        region=region_name(ctx, reg) if reg else ctx.t("bot.browse.all"),
        sort=ctx.t(f"bot.browse.sort.{sort}"),
    )
    lines = [ctx.t("bot.browse.head", round=rnd.title, total=result.total), filters, ""]
    if not result.items:
        lines.append(ctx.t("bot.browse.empty"))
    first = page * size + 1
    lines += [list_line(ctx, first + i, card) for i, card in enumerate(result.items)]
    base = {k: v for k, v in state.items() if k != "page"}
    numbers = [
        Btn(str(first + i), "browse.card", {"proposal": card.proposal_id})
        for i, card in enumerate(result.items)
    ]
    other = "newest" if sort == "endorsements" else "endorsements"
    rows = [
        numbers,
        pager(page, pages, "browse.list", base),
        [
            Btn(ctx.t("bot.browse.by_category"), "browse.categories", base),
            Btn(ctx.t("bot.browse.by_region"), "browse.regions", {**base, "rpage": 0}),
            Btn(ctx.t(f"bot.browse.sort_to.{other}"), "browse.list", {**base, "sort": other}),
        ],
    ]
    markup = await inline(ctx, rows)
    text = "\n".join(lines)
    if fresh:
        await ctx.send(text, markup)
    else:
        await ctx.show(text, markup)


async def choose_category(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Offer every field (and All) as a filter."""
    rnd = await ctx.call(ctx.svc.current_round)
    if rnd is None:
        return
    base = {k: v for k, v in list_state(args).items() if k not in ("cat", "page")}
    buttons = [Btn(ctx.t("bot.browse.all"), "browse.list", base)]
    buttons += [
        Btn(category_name(ctx, c), "browse.list", {**base, "cat": c}) for c in rnd.rules.categories
    ]
    await ctx.show(ctx.t("bot.browse.pick_category"), await inline(ctx, grid(buttons, 2)))


async def choose_region(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Offer the 31 cities/counties (paged, and All) as a filter."""
    per_page = 16
    regions = GYEONGGI.regions
    pages = page_count(len(regions), per_page)
    rpage = int_arg(args, "rpage") % pages
    base = {k: v for k, v in list_state(args).items() if k not in ("reg", "page")}
    shown = regions[rpage * per_page : (rpage + 1) * per_page]
    buttons = [Btn(region_name(ctx, r.code), "browse.list", {**base, "reg": r.code}) for r in shown]
    rows = [[Btn(ctx.t("bot.browse.all"), "browse.list", base)], *grid(buttons, 4)]
    nav = pager(rpage, pages, "browse.regions", base)
    rows.append([Btn(b.label, b.action, {**b.args, "rpage": b.args["page"]}) for b in nav])
    await ctx.show(ctx.t("bot.browse.pick_region"), await inline(ctx, rows))


def card_rows(ctx: Ctx, card: ProposalCard) -> list[list[Btn]]:
    """Endorsement toggle (not for one's own, hidden or erased ones) and share."""
    rows: list[list[Btn]] = []
    if not card.is_author and not card.hidden and card.title is not None:
        key = "bot.card.unendorse" if card.endorsed_by_viewer else "bot.card.endorse"
        label = ctx.t(key, count=card.endorsements)
        rows.append([Btn(label, "browse.endorse", {"proposal": card.proposal_id})])
    rows.append([Btn(ctx.t("bot.card.share"), "browse.share", {"proposal": card.proposal_id})])
    return rows


async def card_markup(ctx: Ctx, card: ProposalCard) -> InlineKeyboardMarkup:
    """Issue the card's buttons (:func:`card_rows`) and build its keyboard."""
    return await inline(ctx, card_rows(ctx, card))


async def show_card(ctx: Ctx, proposal_id: str, *, fresh: bool) -> None:
    """Send (or redraw in place) one proposal card."""
    card = await ctx.call(ctx.svc.proposal, proposal_id, viewer=ctx.user_id)
    await draw_card(ctx, card, await card_markup(ctx, card), fresh=fresh)


async def draw_card(
    ctx: Ctx, card: ProposalCard, markup: InlineKeyboardMarkup, *, fresh: bool
) -> None:
    """Send (or redraw in place) ``card`` with its keyboard.

    A card with a photo whose text is longer than a caption can hold is sent as the photo (a
    shortened caption saying so, and the buttons), then the whole text as a message of its own;
    a redraw in place (the endorsement toggle) edits the caption only, the whole text being there.
    """
    if card.photo_file_id is None:
        text = card_text(ctx, card)
        if fresh:
            await ctx.send(text, markup)
        else:
            await ctx.show(text, markup)
        return
    shown = photo_card(ctx, card)
    if fresh:
        await send_captioned(ctx, shown, markup, card.photo_file_id)
    elif not await ctx.show(shown.caption, markup, photo=card.photo_file_id) and shown.whole:
        await ctx.send(shown.whole)  # not redrawn but sent anew: the whole text was never there


async def open_card(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A number button of the list."""
    await show_card(ctx, str_arg(args, "proposal"), fresh=True)


async def toggle_endorsement(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Endorse or take it back, then redraw the card with the new count.

    One service call: the toggle, the pressed button used up and the redrawn card's tokens
    issued in the ledger's transaction, then the card read back.
    """
    proposal_id = str_arg(args, "proposal")
    wanted = [(action, {"proposal": proposal_id}) for action in CARD_ACTIONS]
    done = await ctx.press(ctx.svc.toggle_endorsement, ctx.user_id, proposal_id, issue=wanted)
    card = done.card
    await ctx.answer(
        ctx.t("bot.card.endorsed" if card.endorsed_by_viewer else "bot.card.unendorsed")
    )
    rows = card_rows(ctx, card)
    issued = dict(zip(CARD_ACTIONS, done.tokens, strict=True))
    tokens = [issued[b.action] for row in rows for b in row if b.url is None]
    await draw_card(ctx, card, keyboard(rows, tokens), fresh=False)


async def share(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Send the deep link that opens this card, with a Telegram share button."""
    proposal_id = str_arg(args, "proposal")
    card = await ctx.call(ctx.svc.proposal, proposal_id, viewer=ctx.user_id)
    link = ctx.services.deep_link(f"p_{proposal_id}")
    title = card.title or ""
    share_url = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(title, safe='')}"
    markup = await inline(ctx, [[Btn(ctx.t("bot.card.share_button"), url=share_url)]])
    await ctx.send(ctx.t("bot.card.share_text", title=title, link=link), markup)
