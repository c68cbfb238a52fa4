"""Reading an officials' community file: short region names, header lines (no bot needed)."""

from __future__ import annotations

from bot.official_community import header_words
from bot.official_community import parse
from bot.official_community import region_lookup


class TwoGwangju:
    """A catalog where two regions share a short name (광주시, 광주군) and one does not."""

    NAMES = {"gj_si": "광주시", "gj_gun": "광주군", "suwon": "수원시"}

    def text(self, locale: str, key: str) -> str:
        if key == "bot.admin.community.region_suffixes":
            return "시,군" if locale == "ko" else "-si,-gun"
        if key == "bot.admin.community.region_headers":
            return "지역" if locale == "ko" else "region"
        code = key.rsplit(".", 1)[1]
        return self.NAMES[code] if locale == "ko" else code.capitalize() + "-si"


def test_a_short_region_name_counts_only_where_it_names_one_region() -> None:
    catalog = TwoGwangju()
    lookup = region_lookup(catalog, ("gj_si", "gj_gun", "suwon"))  # type: ignore[arg-type]
    text = "A,광주\nB,광주군\nC,수원\nD,suwon\nE,Suwon\n"
    sheet = parse(text, lookup, header_words(catalog))  # type: ignore[arg-type]
    assert [r for _, r in sheet.checked] == [None, "gj_gun", "suwon", "suwon", "suwon"]
    assert [f.line for f in sheet.flaws] == [1]
    header = parse("name,Region\nA,수원\n", lookup, header_words(catalog))  # type: ignore[arg-type]
    assert header.lines == [2] and [r for _, r in header.checked] == ["suwon"]
