"""Results for officials and the public: a ranked text table, CSV, XLSX and a PNG chart.

All take a :class:`~participation.tally.Results` and a :class:`~participation.sheets.Texts`
(``i18n.Catalog``) with a locale; texts come from the ``report`` catalog domain, category and
region names from ``participation.category.<code>`` / ``participation.region.<code>`` when the
catalog has them (else the code). Proposal titles are personal content kept beside the ledger:
pass them as ``titles`` when you have them (``shown_titles``: a proposal hidden after the
publication shows a placeholder with the reason); a recount from an export has none.

* Proposals are named as residents know them, "#3" (``Row.number``, the n of the id
  ``"<round>-<n>"``): the text table and the chart by that number alone; the CSV and XLSX
  keep the id column (second, as before, for whatever matches rows by id) and add the number
  beside it ("#3" as text in the CSV; a number shown as "#3" in the XLSX, so it sorts).
  The number is presentation only: the results payload, and so its digest, has no such field.
* CSV: UTF-8 with a byte-order mark (so spreadsheet programs read Korean right), one header
  row, components as the 2-decimal values of the tally.
* Formulas: titles are what residents typed, and officials open these files in spreadsheet
  programs, which run a cell starting with ``=`` (``=HYPERLINK(...)``, ``=WEBSERVICE(...)``)
  as a formula. In the CSV a text cell starting with ``= + - @``, a tab or a carriage
  return gets a leading apostrophe (OWASP's CSV injection advice); in the XLSX every text
  cell is stored as text (openpyxl stores a string starting with ``=`` as a formula).
* XLSX (openpyxl): a results sheet with numbers as numbers (components to 2 decimals, budgets
  with thousands separators) and a rules sheet with the formula and the round's rules.
* PNG (matplotlib, Agg, no pyplot state): one horizontal stacked bar per proposal, the weighted
  contributions of judges, on site and online adding up to the combined score, best at the
  top, unselected proposals pale; NanumGothic for the Korean text (see ``sheets.korean_font``).
"""

from __future__ import annotations

import csv
import io
import shlex
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO
from typing import Any

from participation.domain.rules import kst_text
from participation.sheets import Texts as Texts
from participation.sheets import korean_font
from participation.tally import JUDGE_SCORE_MAX
from participation.tally import Results
from participation.tally import Row
from participation.tally import shown
from participation.views import ProposalCard
from participation.views import withheld_as

COLUMNS: tuple[str, ...] = (
    "rank", "proposal", "number", "title", "category", "region", "community", "group", "budget",
    "endorsements", "judges", "judges_counted", "judges_recused", "onsite", "onsite_scores",
    "paper_ballots", "online", "online_likes", "online_voters", "combined", "decision", "channel",
)  # fmt: skip
DECIMAL_COLUMNS = frozenset({"judges", "onsite", "online", "combined"})
COMPONENT_COLORS = {"judges": "#1f5fa8", "onsite": "#e07b1a", "online": "#2a9d5c"}
CHART_MAX_ROWS = 40
RECOUNT_DIR = "ttabok-ledger"  # where the first recount command keeps the verified download


def recount_commands(base_url: str, round_id: str) -> tuple[str, str]:
    """Return the two commands anyone runs to recount ``round_id`` from the instance at
    ``base_url``, as the results page and the channel show them to copy: download and verify
    the whole ledger (kept in RECOUNT_DIR), then tally the round from that download alone."""
    url, rnd = shlex.quote(base_url.rstrip("/")), shlex.quote(round_id)
    return (
        f"python -m ledger verify --url {url} --out {RECOUNT_DIR}",
        f"python -m participation tally {RECOUNT_DIR} --round {rnd}",
    )


def openings_commands(base_url: str, round_id: str) -> tuple[str, str]:
    """Return the two commands that check the titles published with ``round_id``'s results,
    run after :func:`recount_commands` (its download in RECOUNT_DIR): fetch the round's
    openings, then recount with them (``participation.opening``)."""
    url = shlex.quote(f"{base_url.rstrip('/')}/results/{round_id}/openings.json")
    return (
        f"curl -fsS -o openings.json {url}",
        f"python -m participation tally {RECOUNT_DIR} --openings openings.json",
    )


def shown_titles(
    results: Results, cards: Mapping[str, ProposalCard], texts: Texts, locale: str
) -> dict[str, str]:
    """Return the titles to show with ``results``, by proposal, from its ``cards`` read now.

    As the openings (``participation.opening``) decide: a proposal hidden after the
    publication (moderation of its content) keeps its row, since its rank, scores and money
    are published, but shows ``report.title.hidden`` with the reason instead of its title;
    content erased at its author's request shows ``report.title.erased``; hidden wins over
    erased (``views.withheld_as``, the rule of the notices too); a card not given shows
    nothing.
    """
    out = {}
    for row in results.rows:
        card = cards.get(row.proposal)
        if card is None:
            continue
        # content erased (a person's request): its row stands, without it
        why = withheld_as(hidden=card.hidden, hide_reason=card.hide_reason, erased=not card.title)
        out[row.proposal] = str(card.title) if why is None else withheld_title(texts, locale, why)
    return out


def withheld_title(texts: Texts, locale: str, why: str) -> str:
    """Return what is shown instead of a withheld title: ``report.title.hidden`` with the
    reason for ``why`` = ``"hidden:<reason code>"``, else ``report.title.erased`` (``why`` as
    ``withheld_titles`` and ``NoticeTitle.withheld`` name it)."""
    reason = withheld_reason(texts, locale, why)
    if reason is not None:
        return texts.text(locale, "report.title.hidden", reason=reason)
    return texts.text(locale, "report.title.erased")


def withheld_reason(texts: Texts, locale: str, why: str) -> str | None:
    """Return the name of the reason of ``why`` = ``"hidden:<reason code>"``; None when the
    title was erased (any other ``why``)."""
    if not why.startswith("hidden:"):
        return None
    code = why.removeprefix("hidden:")
    return name_of(texts, locale, f"participation.reason.{code}", code)


# Notices about a proposal that have their own texts for a withheld title: "<key>.title_hidden"
# (params round, number, reason) and "<key>.title_erased" (round, number), and for a round
# without a title stored "<key>.title_hidden_no_round"/"_erased_no_round" (no round). The
# others (hidden_*, restored) go to the proposal's author alone, who may read a hidden title and
# whose notices an erasure deletes, so they get the general "participation.notice.title_hidden"
# /"_erased" (and "_no_round") if ever.
WITHHELD_NOTICES = frozenset(
    f"participation.notice.{name}" for name in ("in_review", "answered", "selected")
)
GENERAL_NOTICE = "participation.notice"


def withheld_notice(
    texts: Texts, locale: str, key: str, proposal_id: str, why: str, round_title: str = ""
) -> str:
    """Return the notice ``key`` about ``proposal_id`` for a reader from whom its title is
    withheld (``why`` as :class:`~participation.views.NoticeTitle` names it).

    Not the notice with a placeholder in the title's place: a text of its own that says what
    happened and why the title is not shown (hidden by moderation, with the reason; or erased
    at its author's request), naming the proposal by its round's title (``round_title``, as
    ``NoticeTitle.round`` has it: public, the name residents see on the round's screens and
    results) and its number in the round, "#3", as its card and the results' row do (read
    from the id: nothing of its content). A resident with proposals in two open rounds tells
    their "#3"s apart; without a round title, the number alone (``*_no_round``).
    """
    base = key if key in WITHHELD_NOTICES else GENERAL_NOTICE
    params = {"number": id_number(proposal_id)}
    suffix = "" if round_title else "_no_round"
    if round_title:
        params["round"] = round_title
    reason = withheld_reason(texts, locale, why)
    if reason is None:
        return texts.text(locale, f"{base}.title_erased{suffix}", **params)
    return texts.text(locale, f"{base}.title_hidden{suffix}", reason=reason, **params)


def id_number(proposal_id: str) -> str:
    """Return the n of a proposal id ``"<round>-<n>"`` as text (the id itself for an id of
    another shape), the rule of ``Row.number``."""
    _head, dash, tail = proposal_id.rpartition("-")
    return tail if dash and tail.isascii() and tail.isdigit() else proposal_id


def name_of(texts: Texts, locale: str, key: str, fallback: str) -> str:
    """Return the catalog text of ``key``, or ``fallback`` when the catalog lacks it."""
    text = texts.text(locale, key)
    return fallback if text == key else text


def money(texts: Texts, locale: str, won: int) -> str:
    """Return ``1,500,000`` + Korean won unit / ``₩1,500,000`` via the ``report.amount`` message."""
    return texts.text(locale, "report.amount", amount=f"{won:,}")


def headers(texts: Texts, locale: str) -> list[str]:
    """Return the column headers of the results table."""
    return [texts.text(locale, f"report.col.{column}") for column in COLUMNS]


def number_text(row: Row) -> str:
    """Return how residents know the row's proposal: ``#3`` (its id when it has no number)."""
    return f"#{row.number}" if row.number is not None else row.proposal


def row_values(
    row: Row, texts: Texts, locale: str, titles: Mapping[str, str] | None = None
) -> list[Any]:
    """Return one table row: ints, 2-decimal ``Decimal`` components and texts."""
    value: dict[str, Any] = {
        "rank": row.rank,
        "proposal": row.proposal,
        "number": number_text(row),
        "title": (titles or {}).get(row.proposal, ""),
        "category": name_of(texts, locale, f"participation.category.{row.category}", row.category),
        "region": name_of(texts, locale, f"participation.region.{row.region}", row.region),
        "community": row.community or "",
        "group": row.group if row.group is not None else "",
        "budget": row.budget,
        "endorsements": row.endorsements,
        "judges_counted": row.judges_counted,
        "judges_recused": row.judges_recused,
        "onsite_scores": row.onsite_scores,
        "paper_ballots": row.paper_ballots,
        "online_likes": row.online_likes,
        "online_voters": row.online_voters,
        "decision": texts.text(locale, f"report.decision.{row.decision}"),
        "channel": texts.text(locale, f"report.channel.{row.channel}") if row.channel else "",
    }
    for column in DECIMAL_COLUMNS:
        value[column] = Decimal(shown(row.component(column)))
    return [value[column] for column in COLUMNS]


def write_csv(
    results: Results,
    out: Path | IO[str],
    texts: Texts,
    locale: str = "ko",
    titles: Mapping[str, str] | None = None,
) -> None:
    """Write the ranked table as CSV (UTF-8 with BOM when ``out`` is a path)."""
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8-sig", newline="") as handle:
            write_csv(results, handle, texts, locale, titles)
        return
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers(texts, locale))
    for row in results.rows:
        writer.writerow([inert(v) for v in row_values(row, texts, locale, titles)])


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """Return a CSV cell a spreadsheet program will not run: a text starting like a formula
    gets a leading apostrophe, which the program shows as text; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def append_text(sheet: Any, values: Sequence[Any]) -> None:
    """Append a row to an openpyxl ``sheet`` with every text cell stored as text, never as
    a formula (openpyxl makes a string starting with ``=`` a formula)."""
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def explanation(results: Results, texts: Texts, locale: str) -> list[str]:
    """Return the formula and the selection rule in words, with this round's numbers."""
    r = results.rules
    w = r.weights
    lines = [
        texts.text(
            locale,
            "report.cli.formula",
            judge_max=JUDGE_SCORE_MAX * len(r.criteria),
            onsite_scale=r.onsite_scale,
            voters=r.voters_per_community,
            wj=w.judges,
            wo=w.onsite,
            wn=w.online,
            wsum=w.judges + w.onsite + w.online,
        )
    ]
    cap = money(texts, locale, r.budget_cap)
    if r.selection == "channel_quotas":
        quotas = ", ".join(
            f"{texts.text(locale, f'report.channel.{c}')} {n}" for c, n in r.channel_quotas.items()
        )
        lines.append(texts.text(locale, "report.cli.selection.quotas", quotas=quotas, cap=cap))
    else:
        lines.append(texts.text(locale, "report.cli.selection.weighted", cap=cap))
    if r.select_count is not None:
        lines.append(texts.text(locale, "report.cli.selection.count", count=r.select_count))
    return lines


def write_xlsx(
    results: Results,
    out: Path | IO[bytes],
    texts: Texts,
    locale: str = "ko",
    titles: Mapping[str, str] | None = None,
) -> None:
    """Write the results sheet and the rules sheet as an XLSX workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = texts.text(locale, "report.sheet_name.results")
    sheet.append(headers(texts, locale))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    number_column = COLUMNS.index("number") + 1
    for row in results.rows:
        append_text(sheet, row_values(row, texts, locale, titles))
        if row.number is not None:  # a number that sorts as one, shown as "#3"
            cell = sheet.cell(row=sheet.max_row, column=number_column)
            cell.value, cell.data_type, cell.number_format = row.number, "n", '"#"0'
    for index, column in enumerate(COLUMNS, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        fmt = "0.00" if column in DECIMAL_COLUMNS else "#,##0" if column == "budget" else None
        if fmt:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = fmt
        sheet.column_dimensions[letter].width = {"title": 30, "number": 8}.get(column, 14)
    sheet.freeze_panes = "D2"  # rank, id and number stay in view
    rules = book.create_sheet(texts.text(locale, "report.sheet_name.rules"))
    for line in explanation(results, texts, locale):
        append_text(rules, [line])
    rules.append([])
    rules.append([texts.text(locale, f"report.rule.head.{h}") for h in ("label", "value", "key")])
    for cell in rules[rules.max_row]:
        cell.font = Font(bold=True)
    for label, value, key in rule_rows(results.rules.to_payload(), texts, locale):
        append_text(rules, [label, value, key])
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1000:
            rules.cell(row=rules.max_row, column=2).number_format = "#,##0"
    rules.column_dimensions["A"].width = 28
    rules.column_dimensions["B"].width = 60
    rules.column_dimensions["C"].width = 28
    book.save(out)


NAMED_LISTS = {"categories": "category", "regions": "region", "criteria": "criterion"}
NAMED_VALUES = frozenset({"selection", "eligibility"})


def rule_rows(payload: Mapping[str, Any], texts: Texts, locale: str) -> list[tuple[str, Any, str]]:
    """Return the round's rules as (label, value, key) rows for people: labels and values in
    ``locale`` (deadlines in KST, codes as names, yes/no), numbers kept as numbers, and the
    ledger's own key beside each so that the rules can be matched to the ledger entry."""
    out: list[tuple[str, Any, str]] = []

    def label(key: str) -> str:
        return name_of(texts, locale, f"report.rule.{key}", key)

    for key, value in payload.items():
        if key == "deadlines" and isinstance(value, Mapping):
            for name, epoch in value.items():
                when = texts.text(locale, "report.rule.kst", time=kst_text(int(epoch)))
                out.append((label(f"{key}.{name}"), when, f"{key}.{name}"))
        elif isinstance(value, Mapping):
            if not value:
                out.append((label(key), texts.text(locale, "report.rule.empty"), key))
            for name, number in value.items():
                out.append((label(f"{key}.{name}"), number, f"{key}.{name}"))
        elif key in NAMED_LISTS and isinstance(value, list):
            domain = NAMED_LISTS[key]
            names = [name_of(texts, locale, f"participation.{domain}.{c}", str(c)) for c in value]
            out.append((label(key), ", ".join(names), key))
        elif isinstance(value, bool):
            out.append((label(key), texts.text(locale, f"report.rule.{str(value).lower()}"), key))
        elif value is None:
            out.append((label(key), texts.text(locale, "report.rule.none"), key))
        elif key in NAMED_VALUES:
            out.append(
                (label(key), name_of(texts, locale, f"report.rule.{key}.{value}", str(value)), key)
            )
        else:
            out.append((label(key), value if isinstance(value, str | int) else str(value), key))
    return out


def render_chart(
    results: Results,
    out: Path | IO[bytes],
    texts: Texts,
    locale: str = "ko",
    titles: Mapping[str, str] | None = None,
    *,
    font: Path | None = None,
    max_rows: int = CHART_MAX_ROWS,
) -> None:
    """Draw the ranked stacked-bar chart as a PNG.

    Raises:
        FontMissing: no Korean font (install fonts-nanum: ``make system-deps``).
    """
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    # The font goes to every text explicitly: no global rcParams, so charts can be drawn
    # from several threads at once.
    korean = FontProperties(fname=str(font or korean_font()))
    rows = list(results.rows[:max_rows])
    figure = Figure(figsize=(10, 1.6 + 0.38 * max(len(rows), 1)), dpi=120)
    axes = figure.add_subplot()
    _draw_bars(axes, results, rows, texts, locale, titles or {}, korean)
    figure.savefig(out, format="png", bbox_inches="tight")


def _draw_bars(
    axes: Any,
    results: Results,
    rows: Sequence[Row],
    texts: Texts,
    locale: str,
    titles: Mapping[str, str],
    font: Any,
) -> None:
    small = font.copy()
    small.set_size(8)
    w = results.rules.weights
    total = w.judges + w.onsite + w.online
    weights = {"judges": w.judges, "onsite": w.onsite, "online": w.online}
    positions = list(range(len(rows)))[::-1]  # rank 1 at the top
    left = [0.0] * len(rows)
    for component, weight in weights.items():
        widths = [float(row.component(component) * weight / total) for row in rows]
        alphas = [1.0 if row.selected else 0.35 for row in rows]
        bars = axes.barh(
            positions,
            widths,
            left=left,
            color=COMPONENT_COLORS[component],
            label=texts.text(locale, f"report.chart.legend.{component}", weight=weight),
        )
        for bar, alpha in zip(bars, alphas, strict=True):
            bar.set_alpha(alpha)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    selected_word = texts.text(locale, "report.chart.selected")
    for y, row, end in zip(positions, rows, left, strict=True):
        note = f"{shown(row.combined)}" + (f"  {selected_word}" if row.selected else "")
        axes.text(end + 0.8, y, note, va="center", fontproperties=small)
    labels = [
        f"{row.rank}. {number_text(row)}"
        + (f" {titles[row.proposal]}" if row.proposal in titles else "")
        for row in rows
    ]
    # Titles are what residents typed: '$' is a dollar sign, not matplotlib's math (a
    # title like '$\\frac{a}{$' stopped the chart, and so the publication, with an error).
    axes.set_yticks(positions, labels=labels, fontproperties=small, parse_math=False)
    axes.set_xlim(0, 112)
    axes.set_xlabel(texts.text(locale, "report.chart.xlabel"), fontproperties=font)
    title = texts.text(locale, "report.chart.title", title=results.rules.title)
    if len(rows) < len(results.rows):
        top = texts.text(locale, "report.chart.top", shown=len(rows), total=len(results.rows))
        title = f"{title}\n{top}"
    axes.set_title(title, fontproperties=font, parse_math=False)
    axes.legend(loc="lower right", prop=small)
    caption = texts.text(
        locale,
        "report.chart.caption",
        count=len(results.selected),
        amount=money(texts, locale, results.selected_budget),
        cap=money(texts, locale, results.rules.budget_cap),
    )
    axes.annotate(
        caption,
        xy=(0, 0),
        xycoords="axes fraction",
        xytext=(0, -44),
        textcoords="offset points",
        fontproperties=small,
        va="top",
        parse_math=False,
    )


def chart_png(results: Results, texts: Texts, locale: str = "ko", **options: Any) -> bytes:
    """Return the chart of :func:`render_chart` as PNG bytes."""
    out = io.BytesIO()
    render_chart(results, out, texts, locale, **options)
    return out.getvalue()


TEXT_COLUMNS: tuple[str, ...] = (
    "rank", "number", "budget", "endorsements", "judges", "onsite", "online", "combined",
    "decision",
)  # fmt: skip


def _width(text: str) -> int:
    """Return the terminal width of ``text``: East Asian wide characters take two cells."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def text_table(results: Results, texts: Texts, locale: str = "ko") -> str:
    """Return the ranked table as aligned plain text for a terminal."""
    head = [texts.text(locale, f"report.col.{c}") for c in TEXT_COLUMNS]
    body: list[list[str]] = []
    for row in results.rows:
        values = dict(zip(COLUMNS, row_values(row, texts, locale), strict=True))
        values["budget"] = f"{row.budget:,}"
        if row.channel and row.channel != "combined":
            channel = texts.text(locale, f"report.channel.{row.channel}")
            values["decision"] = f"{values['decision']} ({channel})"
        body.append([str(values[c]) for c in TEXT_COLUMNS])
    widths = [max(_width(line[i]) for line in [head, *body]) for i in range(len(head))]
    left_aligned = {"decision"}

    def fmt(cells: list[str]) -> str:
        out = []
        for column, cell, width in zip(TEXT_COLUMNS, cells, widths, strict=True):
            pad = " " * (width - _width(cell))
            out.append(cell + pad if column in left_aligned else pad + cell)
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), rule, *(fmt(cells) for cells in body)])
