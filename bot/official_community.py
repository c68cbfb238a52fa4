"""Officials add communities to a round: one by name and region, or many from a file.

One (➕ on the enrollment screen): the name (text) → the region among the round's (paged) →
both shown with Add / Cancel → ``add_community`` with the update's request id; the code is
the round's next ``c001``, ``c002``..., made by the service. Many (📄): a UTF-8 CSV/TXT file,
one ``name,region`` a line (the region by its name in either language, or its code); every
line is checked first and the problems are listed by line number, and only a file with none
is added, all in one ``add_communities`` call (one transaction: a failure halfway cannot
leave half a list). Either way the enrollment screen follows, with the new communities.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from dataclasses import field

from telegram import InlineKeyboardMarkup

from bot import official_hall
from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.keyboards import page_count
from bot.keyboards import pager
from bot.official_base import require_official
from bot.official_base import round_or_say
from bot.render import TEXT_MAX
from bot.render import region_name
from bot.render import short
from bot.router import Ctx
from bot.router import Document
from bot.router import Incoming
from bot.router import Router
from bot.router import int_arg
from bot.router import str_arg
from bot.start import REGION_COLUMNS
from bot.start import REGIONS_PER_PAGE
from i18n.catalog import LOCALES
from i18n.catalog import Catalog
from participation.domain import community as cm
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.views import RoundView

NAME_STEP, REGION_STEP, CONFIRM_STEP = (
    "admin.community.name",
    "admin.community.region",
    "admin.community.confirm",
)
BULK_STEP = "admin.community.bulk"
FILE_MAX_BYTES = 200 * 1024
FILE_SUFFIXES = (".csv", ".tsv", ".txt")
PROBLEMS_SHOWN = 20
QUOTED_MAX = 20  # characters of a line's text quoted back in a problem
FORMAT = "format"  # a line that is not two fields (the domain's codes are in cm)
PROBLEM_TEXT = {
    FORMAT: "bot.admin.community.problem.format",
    cm.NAME_EMPTY: "bot.admin.community.problem.name_empty",
    cm.NAME_TOO_LONG: "bot.admin.community.problem.name_too_long",
    cm.NAME_REPEATED: "bot.admin.community.problem.name_repeated",
    cm.NAME_TAKEN: "bot.admin.community.problem.name_taken",
    cm.REGION_UNKNOWN: "bot.admin.community.problem.region_unknown",
}


def register(router: Router) -> None:
    """Register the community screens."""
    router.action("admin.community.new")(begin)
    router.step(NAME_STEP)(name)
    router.action("admin.community.regions")(region_page)
    router.action("admin.community.region")(region)
    router.step(REGION_STEP)(press_a_button)
    router.step(CONFIRM_STEP)(press_a_button)
    router.action("admin.community.add", consume=True)(add)
    router.action("admin.community.cancel", consume=True)(cancel)
    router.action("admin.community.bulk")(bulk_begin)
    router.step(BULK_STEP)(bulk_file)


def cancel_row(ctx: Ctx, round_id: str) -> list[Btn]:
    return [Btn(ctx.t("bot.admin.cancel"), "admin.community.cancel", {"r": round_id})]


async def in_step(ctx: Ctx, args: dict[str, JSON], *steps: str) -> str:
    """Return the round of the flow the pressed button belongs to.  Raises ButtonExpired when
    the official is no longer at one of ``steps`` of it (a stale or repeated press)."""
    await require_official(ctx)
    round_id = str_arg(ctx.conversation.data, "r")
    if ctx.step not in steps or round_id != str_arg(args, "r"):
        raise e.ButtonExpired()
    return round_id


# --- one community ------------------------------------------------------------------------------
async def begin(ctx: Ctx, args: dict[str, JSON]) -> None:
    """➕ Add a community: ask its name."""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    await ctx.save(NAME_STEP, {"r": rnd.round_id})
    markup = await inline(ctx, [cancel_row(ctx, rnd.round_id)])
    await ctx.reply("bot.admin.community.ask_name", markup, max=cm.NAME_MAX)


async def name(ctx: Ctx, incoming: Incoming) -> None:
    """The name: 1..NAME_MAX characters, not one the round has; then the region."""
    await require_official(ctx)
    if incoming.text is None:
        await ctx.reply("bot.admin.community.need_text")
        return
    round_id = str_arg(ctx.conversation.data, "r")
    problems = await ctx.call(ctx.svc.community_problems, round_id, [(incoming.text, None)])
    cleaned = cm.clean_name(incoming.text)
    if problems and problems[0].code == cm.NAME_TAKEN:
        await ctx.reply("participation.error.community_name_taken", name=cleaned)
        return
    if problems:
        await ctx.reply("participation.error.community_name_invalid", max=cm.NAME_MAX)
        if len(cleaned) > cm.NAME_MAX:
            await ctx.refused_long()
        return
    await ctx.save(REGION_STEP, {"r": round_id, "name": cleaned})
    rnd = await ctx.call(ctx.svc.round, round_id)
    await ctx.send(
        ctx.t("bot.admin.community.ask_region", name=cleaned), await region_keyboard(ctx, rnd, 0)
    )


async def region_keyboard(ctx: Ctx, rnd: RoundView, page: int) -> InlineKeyboardMarkup:
    """Return one page of the round's cities/counties (as the residents' picker lays them out)."""
    codes = rnd.rules.regions
    pages = page_count(len(codes), REGIONS_PER_PAGE)
    page %= pages
    r: dict[str, JSON] = {"r": rnd.round_id}
    buttons = [
        Btn(region_name(ctx, code), "admin.community.region", {**r, "region": code})
        for code in codes[page * REGIONS_PER_PAGE : (page + 1) * REGIONS_PER_PAGE]
    ]
    rows = [*grid(buttons, REGION_COLUMNS), pager(page, pages, "admin.community.regions", r)]
    return await inline(ctx, [*rows, cancel_row(ctx, rnd.round_id)])


async def region_page(ctx: Ctx, args: dict[str, JSON]) -> None:
    """◀ ▶ through the round's cities/counties."""
    round_id = await in_step(ctx, args, REGION_STEP)
    rnd = await ctx.call(ctx.svc.round, round_id)
    text = ctx.t("bot.admin.community.ask_region", name=str_arg(ctx.conversation.data, "name"))
    await ctx.show(text, await region_keyboard(ctx, rnd, int_arg(args, "page")))


async def region(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A city/county: show the community as it will be added, with Add / Cancel."""
    round_id = await in_step(ctx, args, REGION_STEP)
    data = ctx.data
    data["region"] = str_arg(args, "region")
    await ctx.save(CONFIRM_STEP, data)
    rows = [
        [Btn(ctx.t("bot.admin.community.add_yes"), "admin.community.add", {"r": round_id})],
        cancel_row(ctx, round_id),
    ]
    text = ctx.t(
        "bot.admin.community.confirm",
        name=str_arg(data, "name"),
        region=region_name(ctx, str_arg(data, "region")),
    )
    await ctx.show(text, await inline(ctx, rows))


async def add(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Add (single-use button, the update's request id): the enrollment screen follows."""
    round_id = await in_step(ctx, args, CONFIRM_STEP)
    data = ctx.conversation.data
    added = str_arg(data, "name")
    await ctx.call(
        ctx.svc.add_community,
        ctx.user_id,
        round_id,
        name=added,
        region=str_arg(data, "region"),
        request_id=ctx.request_id,
    )
    await ctx.clear()
    await ctx.answer(ctx.t("bot.admin.community.added", name=added))
    await official_hall.enrollment(ctx, {"r": round_id, "page": -1})  # the newest: last page


async def cancel(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Cancel: forget the name (or the file step) and go back to the enrollment screen."""
    await require_official(ctx)
    if ctx.step.startswith("admin.community."):
        await ctx.clear()
        await ctx.answer(ctx.t("bot.admin.community.cancelled"))
    await official_hall.enrollment(ctx, {"r": str_arg(args, "r")})


async def press_a_button(ctx: Ctx, incoming: Incoming) -> None:
    """Text or a photo where a button is expected."""
    await ctx.reply("bot.admin.community.use_buttons")


# --- many at once -------------------------------------------------------------------------------
async def bulk_begin(ctx: Ctx, args: dict[str, JSON]) -> None:
    """📄 Add many at once: ask for the file."""
    rnd = await round_or_say(ctx, args, admin=True)
    if rnd is None:
        return
    await ctx.save(BULK_STEP, {"r": rnd.round_id})
    markup = await inline(ctx, [cancel_row(ctx, rnd.round_id)])
    await ctx.reply("bot.admin.community.bulk_ask", markup, max=cm.BULK_MAX, kb=kilobytes())


def kilobytes() -> int:
    return FILE_MAX_BYTES // 1024


def readable(doc: Document) -> bool:
    """Return whether the file says it is text (CSV or TXT by its name, or a text/* type)."""
    return doc.file_name.lower().endswith(FILE_SUFFIXES) or doc.mime_type.startswith("text/")


async def bulk_file(ctx: Ctx, incoming: Incoming) -> None:
    """The file: read it, check every line, then add all of it or report by line."""
    await require_official(ctx)
    doc = incoming.document
    if doc is None:
        await ctx.reply("bot.admin.community.bulk_need_file")
        return
    # Several sent at once: only this one reaches the step. Until it is read, the others
    # are told they were not read either; once it is, that only the first was.
    ctx.tell_album("bot.admin.community.bulk_album_unread")
    if not readable(doc):
        await ctx.reply("bot.admin.community.bulk_wrong_type")
        return
    text = await download_text(ctx, doc)
    if text is None:
        return
    ctx.tell_album("bot.admin.community.bulk_album")
    rnd = await ctx.call(ctx.svc.round, str_arg(ctx.conversation.data, "r"))
    catalog = ctx.services.catalog
    sheet = parse(text, region_lookup(catalog, rnd.rules.regions), header_words(catalog))
    if not sheet.lines:
        await ctx.reply("bot.admin.community.bulk_empty")
        return
    if len(sheet.lines) > cm.BULK_MAX:
        await ctx.reply(
            "bot.admin.community.bulk_too_many", max=cm.BULK_MAX, count=len(sheet.lines)
        )
        return
    found = await ctx.call(ctx.svc.community_problems, rnd.round_id, sheet.checked)
    if sheet.flaws or found:
        await report(ctx, sheet, found)
        return
    rows = [(n, r) for n, r in sheet.checked if r is not None]
    try:
        count = await ctx.call(
            ctx.svc.add_communities, ctx.user_id, rnd.round_id, rows, request_id=ctx.request_id
        )
    except e.CommunitiesInvalid as refused:  # another official added one of the names meanwhile
        if not refused.problems:
            raise
        await report(ctx, sheet, list(refused.problems))
        return
    await ctx.clear()
    await ctx.reply("bot.admin.community.bulk_added", count=count)
    await official_hall.enrollment(ctx, {"r": rnd.round_id, "page": -1})


async def download_text(ctx: Ctx, doc: Document) -> str | None:
    """Return the file's text (UTF-8, a BOM dropped), or None having said why not."""
    if doc.file_size is not None and doc.file_size > FILE_MAX_BYTES:
        await ctx.reply("bot.admin.community.bulk_too_big", kb=kilobytes())
        return None
    file = await ctx.context.bot.get_file(doc.file_id)
    data = bytes(await file.download_as_bytearray())
    if len(data) > FILE_MAX_BYTES:  # the declared size was missing or wrong
        await ctx.reply("bot.admin.community.bulk_too_big", kb=kilobytes())
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        await ctx.reply("bot.admin.community.bulk_not_utf8")
        return None


def squash(text: str) -> str:
    """Return ``text`` without white space, case folded (how a region is looked up)."""
    return "".join(text.split()).casefold()


def region_lookup(catalog: Catalog, codes: tuple[str, ...]) -> dict[str, str]:
    """Return {squashed name or code: code} for the round's regions, names in every language,
    also without their city/county ending (each locale's ``bot.admin.community.region_suffixes``)
    when that short name belongs to one region only and is no other region's name."""
    out: dict[str, str] = {}
    short: dict[str, set[str]] = {}
    for code in codes:
        out[squash(code)] = code
        for locale in LOCALES:
            name = catalog.text(locale, f"participation.region.{code}")
            out[squash(name)] = code
            for suffix in words(catalog.text(locale, "bot.admin.community.region_suffixes")):
                stem = squash(name[: -len(suffix)]) if name.endswith(suffix) else ""
                if stem:
                    short.setdefault(stem, set()).add(code)
    for stem, owners in short.items():
        if len(owners) == 1 and stem not in out:
            out[stem] = owners.pop()
    return out


def header_words(catalog: Catalog) -> frozenset[str]:
    """Return the squashed words a header line's region column may hold, in every language."""
    key = "bot.admin.community.region_headers"
    return frozenset(squash(w) for locale in LOCALES for w in words(catalog.text(locale, key)))


def words(listed: str) -> list[str]:
    """Return the non-blank items of a catalog list (``a,b,c``)."""
    return [w.strip() for w in listed.split(",") if w.strip()]


@dataclass(frozen=True, slots=True)
class Flaw:
    """A problem of one line of the file: its code, and what the text quotes back."""

    line: int
    code: str
    name: str = ""
    region: str = ""
    first: int = 0  # name_repeated: the line with the name first


@dataclass
class Sheet:
    """A parsed file: its non-blank lines (numbers), the rows the service checks (name,
    region code or None when the text named no region of the round) with the line each
    came from, and the problems found here."""

    lines: list[int] = field(default_factory=list)
    checked: list[tuple[str, str | None]] = field(default_factory=list)
    checked_lines: list[int] = field(default_factory=list)
    flaws: list[Flaw] = field(default_factory=list)

    def with_problems(self, found: list[cm.Problem]) -> list[Flaw]:
        """Return every flaw, this file's and the service's (rows mapped to lines), in order."""
        at = self.checked_lines
        every = list(self.flaws)
        for p in found:
            if p.code == cm.REGION_UNKNOWN:
                continue  # a region the text did not name: a flaw of the file already
            name = cm.clean_name(self.checked[p.row][0])
            first = 0 if p.first is None else at[p.first]
            every.append(Flaw(at[p.row], p.code, name=name, first=first))
        return sorted(every, key=lambda f: f.line)


def parse(text: str, regions: dict[str, str], headers: frozenset[str] = frozenset()) -> Sheet:
    """Split ``text`` into ``name,region`` lines (CSV quoting allowed; blank lines skipped).

    Fields are split at tabs instead when the first line has a tab and no comma (a sheet
    copied out of a spreadsheet). A first line whose region column is one of ``headers``
    (``name,region``, as spreadsheets export) is a header, not a community.
    """
    sheet = Sheet()
    first = next((x for x in text.splitlines() if x.strip()), "")
    tabs = "\t" in first and "," not in first
    reader = csv.reader(io.StringIO(text), delimiter="\t" if tabs else ",")
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        line = reader.line_num
        if not sheet.lines and len(fields) == 2 and squash(fields[1]) in headers:
            continue  # the header line
        sheet.lines.append(line)
        if len(sheet.lines) > cm.BULK_MAX:
            continue  # counted only: the file is refused as too long
        if len(fields) != 2 or not fields[1].strip():
            sheet.flaws.append(Flaw(line, FORMAT))
            continue
        code = regions.get(squash(fields[1]))
        if code is None:
            sheet.flaws.append(Flaw(line, cm.REGION_UNKNOWN, region=fields[1].strip()))
        sheet.checked.append((fields[0], code))
        sheet.checked_lines.append(line)
    return sheet


async def report(ctx: Ctx, sheet: Sheet, found: list[cm.Problem]) -> None:
    """Say that nothing was added and list the problems by line (the first PROBLEMS_SHOWN)."""
    every = sheet.with_problems(found)
    lines = [ctx.t("bot.admin.community.bulk_problems", count=len(every))]
    lines += [
        ctx.t(
            PROBLEM_TEXT[f.code],
            line=f.line,
            first=f.first,
            name=short(f.name, QUOTED_MAX),
            region=short(f.region, QUOTED_MAX),
            max=cm.NAME_MAX,
        )
        for f in every[:PROBLEMS_SHOWN]
    ]
    if len(every) > PROBLEMS_SHOWN:
        lines.append(ctx.t("bot.admin.community.problems_more", count=len(every) - PROBLEMS_SHOWN))
    await ctx.send(short("\n".join(lines), TEXT_MAX))
