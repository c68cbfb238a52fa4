"""Officials: publish the results, and broadcast an announcement to subscribers.

Publishing asks for a confirmation, then calls the gateway's publication when it is wired
(``services.extra["publish_results"]``: an ``async fn(official_id, round_id)`` that seals the
final entries, posts the table, the chart and the block number to the public channel and
returns a summary for the official), else publishes through the service and sends the table,
the chart and the CSV/XLSX files to the official.

With "publish and announce", the gateway also queues the residents' announcement.
A broadcast is composed (text), addressed (all, or one city/county), previewed exactly as residents
will see it with the number of recipients, and confirmed; ``send_broadcast`` writes its
ledger entry and queues one outbox row per subscriber, which the runtime delivers within
Telegram's limits while it keeps a progress message up to date for the official.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.keyboards import page_count
from bot.keyboards import pager
from bot.official_base import back_row
from bot.official_base import require_official
from bot.official_base import round_or_say
from bot.official_base import send_file
from bot.official_base import send_png
from bot.render import TEXT_MAX
from bot.render import region_name
from bot.router import Ctx
from bot.router import Incoming
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from i18n.format import format_datetime
from participation.app.reviewday import BROADCAST_KEY
from participation.app.reviewday import BROADCAST_MAX
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.domain.regions import GYEONGGI
from participation.domain.rules import advance_waits
from participation.tally import Results
from participation.views import RoundView

REGIONS_PER_PAGE = 16
PublishHook = Callable[[int, str, bool], Awaitable[dict[str, Any]]]
FilesHook = Callable[[int, str], Awaitable[None]]


def register(router: Router) -> None:
    """Register the publication and broadcast screens."""
    router.action("admin.publish")(ask_publish)
    router.action("admin.publish_yes", consume=True)(publish)
    router.action("admin.broadcast")(compose)
    router.step("admin.bc.text")(broadcast_text)
    router.action("admin.bc.all", consume=True)(audience_all)  # a double tap previews once
    router.action("admin.bc.regions")(region_page)
    router.action("admin.bc.region", consume=True)(audience_region)
    router.action("admin.bc.send", consume=True)(send)
    router.action("admin.bc.cancel", consume=True)(cancel)


# --- results ------------------------------------------------------------------------------------
async def ask_publish(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Announce results: final; ask first, naming the paper tallies still unconfirmed (they
    are left out of the results). Once published, say so and offer the files again."""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    if await ctx.call(ctx.svc.results, rnd.round_id) is not None:
        await show_published(ctx, rnd)
        return
    r: dict[str, JSON] = {"r": rnd.round_id}
    ends = rnd.rules.deadlines.review_ends
    until = advance_waits(ends, int(ctx.services.clock().timestamp()))
    if rnd.phase == "review" and until is not None:  # past the deadline: the clock moves it
        text = ctx.t(
            "bot.admin.publish_waiting",
            round=rnd.title,
            review_ends=format_datetime(ends, ctx.locale),
            by=format_datetime(until, ctx.locale),
        )
        rows = [[Btn(ctx.t("bot.admin.refresh"), "admin.publish", r)], back_row(ctx, rnd)]
        await ctx.show(text, await inline(ctx, rows))
        return
    if rnd.phase != "results":  # the service refuses any other phase: say so before a press
        # Past the review's deadline and the clock's wait: the clock is late (down, or its
        # job failing); the round moves when it runs again, or by hand (the phase screen).
        overdue = rnd.deadline is not None and ctx.services.clock().timestamp() >= ends
        text = ctx.t(
            "bot.admin.publish_overdue" if overdue else "bot.admin.publish_not_yet",
            round=rnd.title,
            phase=ctx.t(f"participation.phase.{rnd.phase}"),
            review_ends=format_datetime(ends, ctx.locale),
        )
        rows = [[Btn(ctx.t("bot.admin.menu.phase"), "admin.phase", r)], back_row(ctx, rnd)]
        await ctx.show(text, await inline(ctx, rows))
        return
    rows = [
        [Btn(ctx.t("bot.admin.publish_yes"), "admin.publish_yes", r)],
        [Btn(ctx.t("bot.admin.publish_announce"), "admin.publish_yes", {**r, "announce": True})],
    ]
    phase = ctx.t(f"participation.phase.{rnd.phase}")
    text = ctx.t("bot.admin.publish_confirm", round=rnd.title, phase=phase)
    tallies = await ctx.call(ctx.svc.paper_tallies, rnd.round_id, ctx.user_id)
    pending = sum(not p.confirmed and not p.superseded for p in tallies)
    if pending:
        text += "\n\n" + ctx.t("bot.admin.publish_papers_pending", count=pending)
        rows.append([Btn(ctx.t("bot.admin.menu.paper"), "admin.papers", r)])
    rows.append(back_row(ctx, rnd))
    await ctx.show(text, await inline(ctx, rows))


async def show_published(ctx: Ctx, rnd: RoundView) -> None:
    """The results are out: say so (no second publication), offer the files again."""
    again: dict[str, JSON] = {"r": rnd.round_id, "again": True}
    rows = [[Btn(ctx.t("bot.admin.publish_files_again"), "admin.publish_yes", again)]]
    if callable(ctx.services.extra.get("publish_results")):  # the gateway announces, once
        tell = {**again, "announce": True}
        rows.append([Btn(ctx.t("bot.admin.announce_results"), "admin.publish_yes", tell)])
    rows.append(back_row(ctx, rnd))
    await ctx.show(ctx.t("bot.admin.publish_already", round=rnd.title), await inline(ctx, rows))


async def publish(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Confirmed: publish (a ledger entry), then the table, the chart and the files.

    A confirmation pressed once the results are out (its other button, a second screen)
    publishes nothing again: it is told so; 'files again' sends the files."""
    await require_official(ctx)
    round_id = str_arg(args, "r")
    again = args.get("again") is True
    if not again and await ctx.call(ctx.svc.results, round_id) is not None:
        await ctx.answer(ctx.t("participation.error.results_published"))
        await show_published(ctx, await ctx.call(ctx.svc.round, round_id))
        return
    await ctx.answer(ctx.t("bot.admin.publishing"))
    await ctx.drop_buttons()
    announce = args.get("announce") is True
    hook = ctx.services.extra.get("publish_results")
    if callable(hook):
        publish_hook: PublishHook = hook
        summary = await publish_hook(ctx.user_id, round_id, announce)
        key = "bot.admin.published_files_again" if again else "bot.admin.published_channel"
        text = ctx.t(
            key,
            selected=summary.get("selected", "-"),
            block=summary.get("block", "-"),
            verify_url=summary.get("verify_url", ""),
            csv_url=summary.get("csv_url", ""),
            xlsx_url=summary.get("xlsx_url", ""),
        )
        if summary.get("broadcast") is not None:
            told = "bot.admin.announced_once" if again else "bot.admin.published_announced"
            text += "\n" + ctx.t(told)
        await ctx.send(text)
        files = ctx.services.extra.get("send_result_files")
        if callable(files):  # after the confirmation: the official reads that first
            send_files: FilesHook = files
            await send_files(ctx.user_id, round_id)
        return
    if again:
        payload = await ctx.call(ctx.svc.results, round_id)
    else:
        payload = await ctx.call(ctx.svc.publish_results, ctx.user_id, round_id)
    await send_results(ctx, round_id, Results.from_payload(payload), again=again)
    if announce:
        await ctx.reply("bot.admin.published_not_announced")


async def send_results(ctx: Ctx, round_id: str, results: Results, *, again: bool = False) -> None:
    """Send the ranked table (split to fit), the chart and the CSV/XLSX to the official."""
    page = await ctx.call(ctx.svc.proposals, round_id, include_hidden=True, limit=100_000)
    titles = {c.proposal_id: c.title or "" for c in page.items}
    from participation import report  # matplotlib and openpyxl: only when publishing

    texts, locale = ctx.services.catalog, ctx.locale
    table = report.text_table(results, texts, locale)
    key = "bot.admin.published_again" if again else "bot.admin.published"
    await ctx.send(ctx.t(key, count=len(results.selected)))
    chunk = ""
    for line in table.splitlines():
        if chunk and len(chunk) + len(line) + 1 > TEXT_MAX:
            await ctx.send(chunk)
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        await ctx.send(chunk)
    png = await ctx.call(report.chart_png, results, texts, locale)
    await send_png(ctx, png, ctx.t("bot.admin.results_chart"), "results.png")
    text_out = io.StringIO()
    await ctx.call(report.write_csv, results, text_out, texts, locale, titles)
    csv_bytes = text_out.getvalue().encode("utf-8-sig")
    await send_file(ctx, csv_bytes, f"results-{round_id}.csv", ctx.t("bot.admin.results_csv"))
    binary = io.BytesIO()
    await ctx.call(report.write_xlsx, results, binary, texts, locale, titles)
    xlsx = binary.getvalue()
    await send_file(ctx, xlsx, f"results-{round_id}.xlsx", ctx.t("bot.admin.results_xlsx"))


# --- broadcast ----------------------------------------------------------------------------------
async def compose(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Send a notice: ask for the text."""
    await require_official(ctx, admin=True)
    await ctx.save("admin.bc.text", {})
    await ctx.reply("bot.admin.bc_ask", max=f"{BROADCAST_MAX:,}")


async def broadcast_text(ctx: Ctx, incoming: Incoming) -> None:
    """The text; then the audience."""
    await require_official(ctx)
    text = (incoming.text or "").strip()
    if len(text) > BROADCAST_MAX:
        await ctx.reply("bot.admin.bc_too_long", length=f"{len(text):,}", max=f"{BROADCAST_MAX:,}")
        await ctx.refused_long()
        return
    if not text:
        await ctx.reply("bot.admin.bc_invalid", max=f"{BROADCAST_MAX:,}")
        return
    # Up to 3,500 characters may be the first part of a longer notice the app split.
    await ctx.save("admin.bc.audience", {"text": text}, marks=ctx.cut_mark(back="admin.bc.text"))
    rows = [
        [Btn(ctx.t("bot.admin.bc_all"), "admin.bc.all")],
        [Btn(ctx.t("bot.admin.bc_by_region"), "admin.bc.regions", {"page": 0})],
        [Btn(ctx.t("bot.admin.cancel"), "admin.bc.cancel")],
    ]
    await ctx.send(ctx.t("bot.admin.bc_audience"), await inline(ctx, rows))


async def region_page(ctx: Ctx, args: dict[str, JSON]) -> None:
    """One page of the 31 cities/counties."""
    await require_official(ctx)
    regions = GYEONGGI.regions
    pages = page_count(len(regions), REGIONS_PER_PAGE)
    page = int_arg(args, "page") % pages
    shown = regions[page * REGIONS_PER_PAGE : (page + 1) * REGIONS_PER_PAGE]
    buttons = [Btn(region_name(ctx, r.code), "admin.bc.region", {"region": r.code}) for r in shown]
    rows = [*grid(buttons, 4), pager(page, pages, "admin.bc.regions")]
    await ctx.show(ctx.t("bot.admin.bc_pick_region"), await inline(ctx, rows))


async def audience_all(ctx: Ctx, args: dict[str, JSON]) -> None:
    await preview(ctx, None)


async def audience_region(ctx: Ctx, args: dict[str, JSON]) -> None:
    await preview(ctx, str_arg(args, "region") or None)


async def preview(ctx: Ctx, region: str | None) -> None:
    """Show the message exactly as residents will get it, who gets it, and ask to confirm."""
    await require_official(ctx)
    text = str(ctx.conversation.data.get("text") or "")
    if ctx.step not in ("admin.bc.audience", "admin.bc.preview") or not text:
        raise e.ButtonExpired()
    count = await ctx.call(ctx.svc.broadcast_audience, region)
    await ctx.save("admin.bc.preview", {"text": text, "region": region})
    audience = region_name(ctx, region) if region else ctx.t("bot.admin.bc_everyone")
    await ctx.show(ctx.t("bot.admin.bc_preview_head", audience=audience, count=f"{count:,}"))
    await ctx.send(ctx.t(BROADCAST_KEY, text=text))
    rows = [
        [Btn(ctx.t("bot.admin.bc_send", count=f"{count:,}"), "admin.bc.send")],
        [Btn(ctx.t("bot.admin.cancel"), "admin.bc.cancel")],
    ]
    await ctx.send(ctx.t("bot.admin.bc_confirm"), await inline(ctx, rows))


async def send(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Send: the broadcast's ledger entry and its queue, in one transaction."""
    data = ctx.conversation.data
    text, region = str(data.get("text") or ""), data.get("region")
    if ctx.step != "admin.bc.preview" or not text:
        raise e.ButtonExpired()
    bid = await ctx.call(
        ctx.svc.send_broadcast,
        ctx.user_id,
        text,
        region=region if isinstance(region, str) else None,
        request_id=ctx.request_id,
    )
    progress = await ctx.call(ctx.svc.broadcast_progress, bid)
    await ctx.clear()
    await ctx.show(ctx.t("bot.admin.bc_queued", count=f"{progress['total']:,}"))


async def cancel(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Cancel: forget the draft."""
    await ctx.clear()
    await ctx.show(ctx.t("bot.admin.bc_cancelled"))
